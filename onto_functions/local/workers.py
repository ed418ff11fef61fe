"""A worker process: one trigger's bundle served by functions-framework, as deployed.

A worker serves the file deploy ships (`onto_functions.deploy.bundle`):
`functions_framework.create_app(ENTRY, <bundle>/main.py)` in a process of its
own, with the emulator's address in FIRESTORE_EMULATOR_HOST. It is forked
from the zygote where it can be (worker_launch.py: shared imports, starts in
milliseconds) or spawned as `functions-framework --source ... --target ...`.
The host POSTs the emulator's request to it unchanged.

The host keeps its connections to a worker open (HTTP/1.1 keep-alive): one
per delivery in flight, taken from and given back to a small stack, so a
delivery costs no connect. A connection carries one exchange at a time and
is given back only after its answer was read in full, so answers cannot mix.

No orphans: every worker leads its own process group and carries a
parent-death signal, so a host killed with SIGKILL takes its workers with
it. When workers start and stop is `worker_pool`'s business.
"""

from __future__ import annotations

import http.client
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..http_headers import LeanResponse
from .children import stop_process_group
from .loopback import free_port
from .worker_launch import LaunchError, Launcher, SpawnLauncher, WorkerProcess

if TYPE_CHECKING:
    from ..deploy.bundle import Bundle

log = logging.getLogger("onto_functions.local")

# A kept-alive connection the worker's server closed meanwhile fails like this before any answer:
# the request was never read, so it is sent again on a fresh connection.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class WorkerError(RuntimeError):
    """A worker did not start or did not answer; the message points at its log."""


class Worker:
    """One process serving one bundle: instance number `instance` of its trigger."""

    def __init__(self, bundle: Bundle, env: Mapping[str, str], log_dir: Path, *, instance: int = 0,
                 startup_timeout: float = 60.0, launcher: Launcher | None = None) -> None:
        self.bundle = bundle
        self.instance = instance
        # The bundle folder first on PYTHONPATH: its vendored onto_functions and app modules, exactly
        # what deploy uploads; third-party packages come from this environment (requirements.txt).
        paths = [str(bundle.path), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        self.env = {**env, "PYTHONPATH": os.pathsep.join(paths)}
        self.env["K_SERVICE"] = bundle.spec.name
        self.log_path = log_dir / f"{bundle.spec.name}.{instance}.log"
        self.startup_timeout = startup_timeout
        self.launcher: Launcher = launcher or SpawnLauncher()
        self.port = 0
        self.proc: WorkerProcess | None = None
        self.started_at = 0.0
        self.startup_seconds: float | None = None
        self.last_used = time.monotonic()
        self.busy = 0
        self._idle: list[http.client.HTTPConnection] = []  # kept-alive connections, none in use
        self._idle_lock = threading.Lock()

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
            began = time.monotonic()
            with open(self.log_path, "ab") as log_file:
                log_file.write(f"--- {time.strftime('%H:%M:%S')} instance {self.instance}, port {self.port}\n".encode())
            try:
                self.proc = self.launcher.launch(self.bundle, self.env, self.port, self.log_path)
                self._wait_ready(began)
            except LaunchError as exc:
                raise WorkerError(str(exc)) from exc
            except WorkerError:
                if self.proc is not None:
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
            time.sleep(0.01)

    def post(self, headers: Mapping[str, str], body: bytes, timeout: float) -> tuple[int, bytes]:
        """Send one event; (status, body). Raises OSError when no answer came (refused, timed out, cut off)."""
        sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
        conn, reused = self._connection(timeout)
        try:
            return self._exchange(conn, sent, body)
        except _STALE:
            if not reused or not self.alive:
                raise
            conn = _connection_to(self.port, timeout)
            return self._exchange(conn, sent, body)

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._idle_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return _connection_to(self.port, timeout), False
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True

    def _exchange(self, conn: http.client.HTTPConnection, headers: Mapping[str, str],
                  body: bytes) -> tuple[int, bytes]:
        """One request and its whole answer on `conn`; the connection is kept only if both ended cleanly."""
        try:
            conn.request("POST", f"/{self.bundle.entry_point}", body=body, headers=dict(headers))
            resp = conn.getresponse()
            answer = resp.status, resp.read()
        except http.client.HTTPException as exc:  # e.g. IncompleteRead: the process died mid-answer
            conn.close()
            if isinstance(exc, _STALE):
                raise
            raise ConnectionAbortedError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            with self._idle_lock:
                self._idle.append(conn)
        return answer

    def _drop_connections(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def stop(self) -> None:
        # SIGINT: a forked worker ends at once, gunicorn takes it as its quick shutdown (SIGTERM waits up
        # to 30 s for requests in flight): by now the host gave them their grace, and what is still
        # running stays queued for the next start.
        self._drop_connections()
        if self.proc is not None:
            stop_process_group(self.proc, signum=signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a platform replacing an instance would."""
        self._drop_connections()
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
        "ONTO_LOG_FORMAT": "json",  # one Cloud Logging line per delivery, as deployed (worker_logs.py reads them)
    })
    return env


def _connection_to(port: int, timeout: float) -> http.client.HTTPConnection:
    """A connection to a worker on this machine, whose answers' headers are read without the email parser."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.response_class = LeanResponse
    return connection
