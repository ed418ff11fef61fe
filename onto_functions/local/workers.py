"""A worker process: one trigger's bundle served by functions-framework, as deployed.

A worker is `functions-framework --source <bundle>/main.py --target <entry>
--signature-type http` in its own process group, with the emulator's address
in FIRESTORE_EMULATOR_HOST: the file deploy ships (`onto_functions.deploy.
bundle`), run by the server Cloud Run runs. The host POSTs the emulator's
request to it unchanged.

No orphans: every worker is spawned through `children.spawner` (its own
session, and a parent-death signal), so a host killed with SIGKILL takes its
workers with it. When workers start and stop is `worker_pool`'s business.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from .children import spawner, stop_process_group
from .loopback import free_port

if TYPE_CHECKING:
    from ..deploy.bundle import Bundle

log = logging.getLogger("onto_functions.local")


class WorkerError(RuntimeError):
    """A worker did not start or did not answer; the message points at its log."""


def _functions_framework() -> list[str]:
    exe = Path(sys.executable).with_name("functions-framework")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("functions-framework")
    if found:
        return [found]
    return [sys.executable, "-m", "functions_framework"]


class Worker:
    """One functions-framework process serving one bundle: instance number `instance` of its trigger."""

    def __init__(self, bundle: Bundle, env: Mapping[str, str], log_dir: Path, *, instance: int = 0,
                 startup_timeout: float = 60.0) -> None:
        self.bundle = bundle
        self.instance = instance
        # The bundle folder first on PYTHONPATH: its vendored onto_functions and app modules, exactly
        # what deploy uploads; third-party packages come from this environment (requirements.txt).
        paths = [str(bundle.path), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        self.env = {**env, "PYTHONPATH": os.pathsep.join(paths)}
        self.env["K_SERVICE"] = bundle.spec.name
        self.log_path = log_dir / f"{bundle.spec.name}.{instance}.log"
        self.startup_timeout = startup_timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.startup_seconds: float | None = None
        self.last_used = time.monotonic()
        self.busy = 0

    @property
    def name(self) -> str:
        return self.bundle.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            cmd = [*_functions_framework(), "--source", str(self.bundle.path / "main.py"),
                   "--target", self.bundle.entry_point, "--signature-type", "http",
                   "--host", "127.0.0.1", "--port", str(self.port)]
            began = time.monotonic()
            with open(self.log_path, "ab") as log_file:
                log_file.write(f"--- {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
                log_file.flush()
                self.proc = spawner.popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file,
                                          stderr=subprocess.STDOUT, env=self.env, cwd=str(self.bundle.path))
            try:
                self._wait_ready(began)
            except WorkerError:
                stop_process_group(self.proc)
                if "Address already in use" in self._log_tail() and attempt < 2:
                    continue
                raise
            self.started_at = time.monotonic()
            self.startup_seconds = self.started_at - began
            log.info("worker %s on port %d (pid %d) started in %.2f s", self.name, self.port,
                     self.proc.pid, self.startup_seconds)
            return

    def _wait_ready(self, began: float) -> None:
        assert self.proc is not None
        while True:
            code = self.proc.poll()
            if code is not None:
                raise WorkerError(f"worker for {self.name!r} exited with code {code} while starting "
                                  f"(log {self.log_path}):\n{self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() - began > self.startup_timeout:
                raise WorkerError(f"worker for {self.name!r} did not listen within {self.startup_timeout:.0f} s "
                                  f"(log {self.log_path}):\n{self._log_tail()}")
            time.sleep(0.05)

    def post(self, headers: Mapping[str, str], body: bytes, timeout: float) -> tuple[int, bytes]:
        """Send one event; (status, body). Raises OSError when no answer came (refused, timed out, cut off)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
            conn.request("POST", f"/{self.bundle.entry_point}", body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except http.client.HTTPException as exc:  # e.g. IncompleteRead: the process died mid-answer
            raise ConnectionAbortedError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()

    def stop(self) -> None:
        # SIGINT is gunicorn's quick shutdown (SIGTERM waits up to 30 s for requests in flight): by now
        # the host gave them their grace, and what is still running stays queued for the next start.
        if self.proc is not None:
            stop_process_group(self.proc, signum=signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a platform replacing an instance would."""
        if self.proc is not None:
            stop_process_group(self.proc, signum=signal.SIGKILL)

    def _log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def worker_env(*, emulator_host: str, project: str, concurrency: int) -> dict[str, str]:
    """The environment of a worker: the emulator, the project, functions-framework's server settings."""
    env = dict(os.environ)
    for key in ("GOOGLE_APPLICATION_CREDENTIALS",):  # never reach a real project from a local worker
        env.pop(key, None)
    env.update({
        "FIRESTORE_EMULATOR_HOST": emulator_host,
        "GCLOUD_PROJECT": project,
        "GOOGLE_CLOUD_PROJECT": project,
        "FUNCTIONS_EMULATOR": "true",
        "THREADS": str(max(1, concurrency)),
        "WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    return env
