"""Child processes that cannot outlive the process that started them.

Every process the local stack starts (the emulator's java, functions-framework
workers) runs in its own session, so one killpg stops it and its children,
and on Linux with PR_SET_PDEATHSIG, so a parent killed with SIGKILL (which no
handler sees) still takes them with it. The death signal fires when the
*thread* that forked exits, so every process is spawned from one long-lived
spawner thread, never from a short-lived dispatcher thread.
"""

from __future__ import annotations

import os
import queue as queue_mod
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any




def _set_parent_death_signal() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: Ctrl-C and SIGTERM still clean up; SIGKILL may orphan
        pass


# util-linux's setpriv sets the parent death signal and execs the command, so Popen needs no
# preexec_fn and can use vfork (a preexec_fn forces fork(), which gRPC's fork handlers complain about).
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


class _Spawner:
    """One long-lived thread that runs every Popen (see the module doc: PR_SET_PDEATHSIG)."""

    def __init__(self) -> None:
        self._requests: queue_mod.Queue[tuple[Future[subprocess.Popen[bytes]], tuple[Any, ...], dict[str, Any]]]
        self._requests = queue_mod.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="onto-spawner", daemon=True)
                self._thread.start()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((future, args, kwargs))
        return future.result()

    def _run(self) -> None:
        while True:
            future, args, kwargs = self._requests.get()
            try:
                kwargs.setdefault("start_new_session", True)
                cmd = list(args[0])
                if _SETPRIV:  # exec'd in place: the death signal applies to the command itself
                    cmd = [_SETPRIV, "--pdeathsig", "KILL", "--", *cmd]
                elif sys.platform.startswith("linux"):
                    # fork() instead of vfork(): works, but gRPC (if loaded) logs a warning about it
                    kwargs.setdefault("preexec_fn", _set_parent_death_signal)
                future.set_result(subprocess.Popen(cmd, *args[1:], **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)


spawner = _Spawner()


def stop_process_group(proc: subprocess.Popen[Any], grace: float = 5.0, signum: int = signal.SIGTERM) -> None:
    """`signum` to the process group, SIGKILL after `grace` s. Safe on a process that already ended."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signum)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(grace)
    except ProcessLookupError:
        proc.wait(grace)
