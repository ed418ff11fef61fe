"""Which Firestore an operator's command works on: the running local stack, an emulator, or a real project.

`onto failures` and `onto backfill` write (ledger marks, views), so where
they point must never be a guess that reaches the cloud by accident:

- no project given: the one `onto emulate` running in this folder (its
  stack.json names its emulator, project and app);
- a `demo-` project: its running stack, else the emulator named by
  $FIRESTORE_EMULATOR_HOST; with neither, refused (a `demo-` id never
  reaches the cloud);
- any other project: Firestore itself, with Application Default
  Credentials (or $FIRESTORE_EMULATOR_HOST when it is set, as every Google
  client honours it).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

DEMO_PREFIX = "demo-"


class TargetRefused(RuntimeError):
    """No safe place to run the command; the message says what to give."""


@dataclass
class Target:
    """One project on one Firestore (an emulator at `emulator_host`, or the real service)."""

    project: str
    emulator_host: str | None
    app: str | None = None  # the app the running stack serves, when found through it
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def description(self) -> str:
        if self.emulator_host:
            return f"project {self.project} on the emulator at {self.emulator_host}"
        return f"project {self.project} (Application Default Credentials)"

    def client(self, database: str = "(default)") -> Any:
        """A Firestore client for the target's project (kept: one per database)."""
        with self._lock:
            if database not in self._clients:
                self._clients[database] = self._new_client(database)
            return self._clients[database]

    def client_for(self, project: str, database: str) -> Any:
        """What the executor asks for; an event of another project is refused, never redirected."""
        if project != self.project:
            raise TargetRefused(f"an event of project {project!r} reached a command working on {self.project!r}")
        return self.client(database)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def _new_client(self, database: str) -> Any:
        from google.cloud import firestore

        if self.emulator_host:
            from google.auth.credentials import AnonymousCredentials

            client = firestore.Client(project=self.project, database=database, credentials=AnonymousCredentials())
            client._emulator_host = self.emulator_host  # see local/emulator_client.py: no os.environ change
            return client
        import google.auth.exceptions

        try:
            return firestore.Client(project=self.project, database=database)
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise TargetRefused(f"no Application Default Credentials for project {self.project!r} "
                                f"(run `gcloud auth application-default login`): {exc}") from None


def needs_stack(project: str | None) -> bool:
    """Whether a command given `-p project` (or none) looks for a running `onto emulate` first."""
    return project is None or project.startswith(DEMO_PREFIX)


def find_target(project: str | None, stack: Mapping[str, Any] | None, *, no_stack: str = "no running stack",
                environ: Mapping[str, str] | None = None) -> Target:
    """Where a command given `-p project` (or none) works; TargetRefused if nowhere safe.

    `stack` is the running `onto emulate`'s stack.json (`local.stack.find_running_stack`; this layer
    does not import the local stack), or None with `no_stack` saying why."""
    env = os.environ if environ is None else environ
    if not needs_stack(project):
        return Target(str(project), env.get("FIRESTORE_EMULATOR_HOST") or None)
    if stack is not None:
        return Target(str(stack["project"]), str(stack["emulator"]), stack.get("app"))
    if project is None:
        raise TargetRefused(f"{no_stack}; or give -p PROJECT for a deployed project")
    if env.get("FIRESTORE_EMULATOR_HOST"):
        return Target(project, env["FIRESTORE_EMULATOR_HOST"])
    raise TargetRefused(f"{project!r} is a demo- project, which never reaches the cloud, and neither a running "
                        f"`onto emulate` for it nor $FIRESTORE_EMULATOR_HOST was found ({no_stack})")
