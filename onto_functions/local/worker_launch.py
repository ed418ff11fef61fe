"""How a worker process comes to be: forked from the zygote (the default on Linux), or spawned fresh.

    ZygoteLauncher   one zygote per worker pool (zygote.py) forks every worker: shared
                     imports, millisecond starts, a few MB of its own per worker
    SpawnLauncher    `functions-framework --source <bundle>/main.py --target ENTRY`, a
                     process of its own from scratch (gunicorn master + worker); where
                     fork is not to be had, or with ONTO_WORKER_LAUNCH=spawn

Both hand back a process object the worker treats alike: `pid`, `poll()`,
`wait(timeout)` (what `children.stop_process_group` needs; every worker leads
its own process group). A forked worker is the zygote's child, not ours, so
it is watched through a pidfd: readable once the process ended. Its exit
code is the zygote's to reap and reads as -1 here; the worker's log says why.

No orphans either way: a spawned worker carries the spawner's parent-death
signal; the zygote carries it too, and sets one on each child it forks.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Mapping, Protocol, Sequence

from .children import spawner, stop_process_group

if TYPE_CHECKING:
    from ..deploy.bundle import Bundle

LAUNCH_ENV = "ONTO_WORKER_LAUNCH"  # "fork" (default where possible) or "spawn"


class LaunchError(RuntimeError):
    """The zygote could not start or fork; the message points at its log."""


class WorkerProcess(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...


class Launcher(Protocol):
    def launch(self, bundle: Bundle, env: Mapping[str, str], port: int, log_path: Path) -> WorkerProcess: ...

    def close(self) -> None: ...


def default_launcher(env: Mapping[str, str], log_dir: Path, bundles: Sequence[Bundle] = ()) -> Launcher:
    """The zygote where fork and pidfds exist (Linux) unless ONTO_WORKER_LAUNCH=spawn; else spawning.
    The zygote starts with the first worker (not with the stack, whose start it would slow down) and
    preloads the app modules of `bundles`."""
    wanted = (env.get(LAUNCH_ENV) or os.environ.get(LAUNCH_ENV) or "fork").lower()
    if wanted == "fork" and hasattr(os, "fork") and hasattr(os, "pidfd_open") and sys.platform.startswith("linux"):
        return ZygoteLauncher(env, log_dir, preload=[(str(b.path), b.spec.module) for b in bundles])
    return SpawnLauncher()


def _functions_framework() -> list[str]:
    exe = Path(sys.executable).with_name("functions-framework")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("functions-framework")
    if found:
        return [found]
    return [sys.executable, "-m", "functions_framework"]


class SpawnLauncher:
    """A fresh functions-framework process per worker (its default server: gunicorn)."""

    def launch(self, bundle: Bundle, env: Mapping[str, str], port: int, log_path: Path) -> WorkerProcess:
        cmd = [*_functions_framework(), "--source", str(bundle.path / "main.py"), "--target", bundle.entry_point,
               "--signature-type", "http", "--host", "127.0.0.1", "--port", str(port)]
        with open(log_path, "ab") as log_file:
            log_file.write(f"--- {' '.join(cmd)}\n".encode())
            log_file.flush()
            return spawner.popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                 env=dict(env), cwd=str(bundle.path))

    def close(self) -> None:
        pass


class ForkedProcess:
    """A process that is not our child (the zygote's), watched through a pidfd."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd = os.pidfd_open(pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.wait(0) if self.returncode is None else self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            if not select.select([self._fd], [], [], timeout)[0]:
                if timeout == 0:
                    return None
                raise subprocess.TimeoutExpired(f"worker pid {self.pid}", timeout or 0)
            self.returncode = -1  # ended; the zygote reaped it, and its log says why
        return self.returncode

    def __del__(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


class ZygoteLauncher:
    """Forks workers from one zygote process, started on first use (and again if it died)."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, *, preload: Sequence[tuple[str, str]] = (),
                 startup_timeout: float = 60.0) -> None:
        self.env = {k: v for k, v in env.items() if k != LAUNCH_ENV}
        self.log_path = log_dir / "zygote.log"
        self.preload = [list(hint) for hint in preload]  # (bundle folder, app module): see zygote_app.py
        self.startup_timeout = startup_timeout
        self.closed = False
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def launch(self, bundle: Bundle, env: Mapping[str, str], port: int, log_path: Path) -> WorkerProcess:
        request = {"bundle": str(bundle.path), "target": bundle.entry_point, "port": port,
                   "env": dict(env), "log": str(log_path)}
        with self._lock:
            if self.closed:
                raise LaunchError("the worker pool is shut down")
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            answer = self._ask(request)
        if "pid" not in answer:
            raise LaunchError(f"the zygote could not fork a worker for {bundle.spec.name!r}: {answer.get('error')} "
                              f"(log {self.log_path})")
        return ForkedProcess(int(answer["pid"]))

    def _start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The log folder on the command line: the stack's processes are findable by their state folder.
        cmd = [sys.executable, "-m", "onto_functions.local.zygote", str(self.log_path.parent)]
        with open(self.log_path, "ab") as log_file:
            self.proc = spawner.popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                      env=self.env, cwd=str(self.log_path.parent))
        self._ask({"preload": self.preload}, self.startup_timeout)

    def _ask(self, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Send one request and read the zygote's one-line answer."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            line = _read_line(self.proc.stdout, timeout)
        except OSError as exc:
            line = b""
            error = str(exc)
        else:
            error = "no answer"
        if not line:
            stop_process_group(self.proc, grace=1.0)
            raise LaunchError(f"the zygote ended or hung ({error}; log {self.log_path}):\n{_tail(self.log_path)}")
        return json.loads(line)

    def close(self) -> None:
        """End the zygote (its idle wait ends with its stdin); the workers it forked are stopped by their owners."""
        with self._lock:
            proc, self.proc = self.proc, None
            self.closed = True
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            stop_process_group(proc, grace=2.0)
        if proc.stdout is not None:
            proc.stdout.close()


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    if not select.select([stream], [], [], timeout)[0]:
        return b""
    return stream.readline()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
