"""An emulator process owned by one object: spawned in its own group, waited on until it answers, stopped.

The Pub/Sub and Auth emulators are started the same way (a command, a log
file, a readiness probe polled with a deadline, a process group ended with
SIGTERM then SIGKILL), so that way is written once, here. The spawning goes
through `children.spawner`, so a parent killed with SIGKILL takes the
emulator with it.
"""

from __future__ import annotations

import atexit
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from .children import spawner, stop_process_group
from .emulator_api import EmulatorError


class OwnedProcess:
    """A base for one emulator process: subclasses set `port`, `log_path`, `startup_timeout` and call `_launch`."""

    port: int
    log_path: Path | None = None
    startup_timeout: float = 60.0
    startup_seconds: float | None = None
    stop_grace: float = 5.0
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """HOST:PORT, the form the *_EMULATOR_HOST variables take."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _launch(self, command: list[str], *, cwd: Path, answers: Callable[[], bool], what: str) -> None:
        """Run `command` (output to `log_path`) and return once `answers()`; EmulatorError if it never does."""
        assert self.log_path is not None
        began = time.monotonic()
        with open(self.log_path, "wb") as log:
            self._proc = spawner.popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       cwd=cwd)
        atexit.register(self.stop)
        while not answers():
            if self._proc.poll() is not None or time.monotonic() - began > self.startup_timeout:
                self.stop()
                raise EmulatorError(f"{what} did not start on port {self.port} "
                                    f"(log {self.log_path}):\n{self._log_tail()}")
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - began

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL). Safe to call twice."""
        atexit.unregister(self.stop)
        if self._proc is not None:
            stop_process_group(self._proc, grace=self.stop_grace)
            self._proc = None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:]) if self.log_path else ""
        except OSError:
            return ""

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
