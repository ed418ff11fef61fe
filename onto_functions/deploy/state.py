"""What is deployed, per project: `.onto/state/<project>.json`.

Why keep our own record instead of asking the cloud each time: the plan
must be computable offline (`--dry-run` in CI, tests), and the record says
exactly which bundle hash each function runs, which no cloud API reports.
The file is only ever written for steps that succeeded, atomically (write
a temp file, then rename), so a crash mid-deploy never leaves it half written.
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

STATE_VERSION = 1
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,61}[a-z0-9]$")


class StateError(ValueError):
    """A state file we cannot read, or a project id that is not one."""


@dataclass(frozen=True)
class DeployedFunction:
    """One function as we last deployed it."""

    name: str
    content_hash: str
    region: str
    backend: str
    deployed_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class DeployedState:
    """Everything we deployed to one project (functions, TTL policies)."""

    project: str
    functions: dict[str, DeployedFunction] = field(default_factory=dict)
    ttl_policies: tuple[str, ...] = ()  # "<database>/<collection group>/<field>"

    def with_function(self, fn: DeployedFunction) -> "DeployedState":
        return replace(self, functions={**self.functions, fn.name: fn})

    def without_function(self, name: str) -> "DeployedState":
        return replace(self, functions={k: v for k, v in self.functions.items() if k != name})

    def with_ttl(self, key: str) -> "DeployedState":
        return replace(self, ttl_policies=tuple(sorted({*self.ttl_policies, key})))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "project": self.project,
            "functions": {name: asdict(fn) for name, fn in sorted(self.functions.items())},
            "ttl_policies": list(self.ttl_policies),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DeployedState":
        if data.get("version") != STATE_VERSION:
            raise StateError(f"state version {data.get('version')!r} is not {STATE_VERSION}")
        return cls(
            project=data["project"],
            functions={n: DeployedFunction(**f) for n, f in data.get("functions", {}).items()},
            ttl_policies=tuple(data.get("ttl_policies", ())),
        )


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
