"""What is deployed, per project: a cache in `.onto/state/<project>.json`.

The truth is the cloud: every function onto deploys carries labels saying
so and naming its bundle's hash (`labels`), and `onto deploy` reads them
back through the backend's list command (`deployed`). This file is a cache
of that truth plus what the deploys since then did: the plan falls back to
it, with a warning, when the backend cannot be asked (offline, no login),
and it remembers the TTL policies and the security rules deployed, which
the list commands do not report.

A function is keyed by region and name: in a region move, both copies
exist until the new one is live. The file is only ever written for steps
that succeeded, atomically (a temp file, then a rename), so a crash
mid-deploy never leaves it half written.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STATE_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # version 1 keyed functions by name alone
LIVE_STATUS = "ACTIVE"
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,61}[a-z0-9]$")


class StateError(ValueError):
    """A state file we cannot read, or a project id that is not one."""


@dataclass(frozen=True)
class DeployedFunction:
    """One deployed function: its bundle's hash ("" when unknown) and whether it is live."""

    name: str
    content_hash: str  # full (from a deploy) or as its label holds it (from the cloud)
    region: str
    backend: str
    deployed_at: str  # ISO 8601, UTC
    status: str = LIVE_STATUS  # the cloud's state: ACTIVE, or FAILED, DEPLOYING, DELETING...

    @property
    def key(self) -> str:
        return function_key(self.name, self.region)

    @property
    def live(self) -> bool:
        return self.status == LIVE_STATUS


def function_key(name: str, region: str) -> str:
    """How a state keys one function: "<region>/<name>" (one name may run in two regions for a while)."""
    return f"{region}/{name}"


@dataclass(frozen=True)
class DeployedState:
    """Everything we deployed to one project (functions, TTL policies)."""

    project: str
    functions: dict[str, DeployedFunction] = field(default_factory=dict)  # by function_key
    ttl_policies: tuple[str, ...] = ()  # "<database>/<collection group>/<field>"
    rules_hash: str = ""  # the hash of the security rules last deployed from here (rules_deploy.py)

    @classmethod
    def of(cls, project: str, functions: list[DeployedFunction], ttl_policies: tuple[str, ...] = ()) -> "DeployedState":
        return cls(project, {fn.key: fn for fn in functions}, ttl_policies)

    def copies(self, name: str) -> list[DeployedFunction]:
        """Every deployed copy of one function name, by region."""
        return sorted((fn for fn in self.functions.values() if fn.name == name), key=lambda fn: fn.region)

    def with_function(self, fn: DeployedFunction) -> "DeployedState":
        return replace(self, functions={**self.functions, fn.key: fn})

    def without_function(self, name: str, region: str) -> "DeployedState":
        gone = function_key(name, region)
        return replace(self, functions={k: v for k, v in self.functions.items() if k != gone})

    def with_ttl(self, key: str) -> "DeployedState":
        return replace(self, ttl_policies=tuple(sorted({*self.ttl_policies, key})))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "project": self.project,
            "functions": {key: asdict(fn) for key, fn in sorted(self.functions.items())},
            "ttl_policies": list(self.ttl_policies),
            **({"rules_hash": self.rules_hash} if self.rules_hash else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DeployedState":
        if data.get("version") not in _READABLE_VERSIONS:
            raise StateError(f"state version {data.get('version')!r} is not one of {_READABLE_VERSIONS}")
        functions = [DeployedFunction(**f) for f in data.get("functions", {}).values()]
        state = cls.of(data["project"], functions, tuple(data.get("ttl_policies", ())))
        return replace(state, rules_hash=str(data.get("rules_hash", "")))


def check_project_id(project: str) -> str:
    """A GCP project id (6-30 chars usually; we accept Firebase's looser 6-63)."""
    if not _PROJECT_RE.match(project):
        raise StateError(
            f"{project!r} is not a project id: use lowercase letters, digits and hyphens, "
            "starting with a letter (e.g. my-app-1234)"
        )
    return project


def state_file(state_dir: Path, project: str) -> Path:
    return state_dir / f"{check_project_id(project)}.json"


def load_state(state_dir: Path, project: str) -> DeployedState:
    """The recorded state of `project`; an empty one if nothing was deployed from here yet."""
    path = state_file(state_dir, project)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return DeployedState(project=project)
    try:
        return DeployedState.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{path} is not a valid onto state file ({exc}); fix or delete it") from exc


def save_state(state_dir: Path, state: DeployedState) -> Path:
    """Write `state` atomically; returns the file."""
    path = state_file(state_dir, state.project)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state.to_json(), handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
