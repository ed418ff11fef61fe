"""What is deployed, read from the cloud through the backend's own list command.

Why ask the cloud: the plan must be the same from every clone. A local
record is missing on a CI runner or a teammate's machine (so everything
would be "create" and nothing removed from the app would ever be deleted),
and stale after someone else deployed. Every function onto deploys carries
`onto-managed=true` and its bundle's hash in labels (`labels`); both CLIs
list labels back:

- gcloud: `gcloud functions list --v2 --regions=- --format=json --filter=...`
  prints Cloud Functions v2 resources (`name` is
  `projects/P/locations/REGION/functions/NAME`, `labels`, `state`,
  `updateTime`);
- firebase: `firebase functions:list --json` prints `{"status": "success",
  "result": [endpoint...]}`, each endpoint with `id`, `region`, `labels`,
  `state` (firebase-tools 15.34's `endpointFromFunction`).

When the list command cannot run or answers something else (no login,
offline), the plan falls back to the local cache with a warning that says so.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from typing import Any

from .backends import Command, DeployTarget, Runner
from .labels import HASH_LABEL, MANAGED_LABEL
from .state import LIVE_STATUS, DeployedFunction, DeployedState

DEPLOYMENT_TOOLS = {"cli-gcloud": "gcloud", "cli-firebase": "firebase"}  # the label both CLIs set


class ListOutputError(ValueError):
    """A list command's output that is not the JSON we know."""


@dataclass(frozen=True)
class Deployed:
    """The state to plan against and where it came from ("gcloud", "firebase" or "cache")."""

    state: DeployedState
    source: str
    warning: str | None = None


def list_argv(backend: str, target: DeployTarget) -> tuple[str, ...]:
    """The read-only command that lists the project's onto-managed functions, in every region."""
    if backend == "firebase":
        return (target.firebase_bin, "functions:list", "--json", "--project", target.project, "--non-interactive")
    return (target.gcloud_bin, "functions", "list", "--v2", "--regions=-", f"--project={target.project}",
            f"--filter=labels.{MANAGED_LABEL}=true", "--format=json", "--quiet")


def read_deployed(backend: str, target: DeployTarget, runner: Runner, cache: DeployedState) -> Deployed:
    """The deployed functions as the cloud reports them (TTL policies from the cache), else the cache."""
    command = Command(list_argv(backend, target), (), target.project_root)
    try:
        completed = runner(command)
        if completed.returncode != 0:
            raise ListOutputError(_error_line(completed) or f"exit code {completed.returncode}")
        functions = parse_list(backend, completed.stdout or "")
    except (OSError, subprocess.SubprocessError, ListOutputError) as exc:
        warning = (f"could not read what is deployed with `{' '.join(command.argv[:3])}` ({exc}); "
                   f"planned against the local cache of {cache.project}, which lacks deploys made from "
                   "other clones (deletes of functions it does not know are not planned)")
        return Deployed(cache, "cache", warning)
    return Deployed(replace(DeployedState.of(cache.project, functions), ttl_policies=cache.ttl_policies,
                            rules_hash=cache.rules_hash), backend)


def parse_list(backend: str, text: str) -> list[DeployedFunction]:
    """The onto-managed functions in a list command's JSON output; ListOutputError if it is not that."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ListOutputError(f"its output is not JSON: {text.strip()[:80]!r}") from None
    if backend == "firebase":
        if not (isinstance(data, dict) and isinstance(data.get("result"), list)):
            raise ListOutputError("its output has no result list")
        entries = [_from_firebase(e) for e in data["result"]]
    else:
        if not isinstance(data, list):
            raise ListOutputError("its output is not a list")
        entries = [_from_gcloud(e) for e in data]
    return [fn for fn in entries if fn is not None]


def _from_gcloud(entry: Any) -> DeployedFunction | None:
    """One Cloud Functions v2 resource, if onto manages it."""
    labels = _labels(entry)
    if labels.get(MANAGED_LABEL) != "true":
        return None
    parts = str(entry.get("name", "")).split("/")
    if len(parts) != 6 or parts[2] != "locations" or parts[4] != "functions":
        raise ListOutputError(f"a function named {entry.get('name')!r} is not projects/P/locations/R/functions/N")
    return _function(parts[5], parts[3], labels, entry.get("state"), entry.get("updateTime"), "gcloud")


def _from_firebase(entry: Any) -> DeployedFunction | None:
    """One firebase-tools endpoint, if onto manages it."""
    labels = _labels(entry)
    if labels.get(MANAGED_LABEL) != "true":
        return None
    if not (entry.get("id") and entry.get("region")):
        raise ListOutputError(f"an endpoint without id or region: {json.dumps(entry)[:80]}")
    return _function(entry["id"], entry["region"], labels, entry.get("state"), None, "firebase")


def _labels(entry: Any) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise ListOutputError(f"an entry is not an object: {entry!r:.80}")
    labels = entry.get("labels") or {}
    return labels if isinstance(labels, dict) else {}


def _function(name: str, region: str, labels: dict[str, str], status: Any, updated: Any,
              lister: str) -> DeployedFunction:
    return DeployedFunction(
        name=name, content_hash=labels.get(HASH_LABEL, ""), region=region,
        backend=DEPLOYMENT_TOOLS.get(labels.get("deployment-tool", ""), lister),
        deployed_at=str(updated or ""), status=str(status or LIVE_STATUS),
    )


def _error_line(completed: "subprocess.CompletedProcess[str]") -> str:
    """The CLI's error line (gcloud `ERROR: (...) ...`, firebase `Error: ...`), else its last line."""
    lines = [line.strip() for line in ((completed.stderr or "") + (completed.stdout or "")).splitlines()]
    lines = [line for line in lines if line]
    return next((line for line in lines if line.lower().startswith("error")), lines[-1] if lines else "")
