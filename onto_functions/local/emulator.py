"""The Cloud Firestore emulator's process (the gcloud jar), started and stopped from Python.

Why not `gcloud emulators firestore start`: gcloud adds ~1 s, forks a wrapper
process that outlives a naive kill, and hides the java process. We run the jar
ourselves in its own process group so a stop leaves no orphan java behind.

Finding the jar and java is `installation`'s job, speaking the emulator's
HTTP API `emulator_api`'s, and making clients `emulator_client`'s: import
those names from there.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .children import spawner, stop_process_group
from .emulator_api import EmulatorError, answers_ok
from .installation import MAIN_CLASS, find_emulator_jar, find_java
from .loopback import free_port

__all__ = ["DEFAULT_PROJECT", "FirestoreEmulator"]

DEFAULT_PROJECT = "demo-onto"


class FirestoreEmulator:
    """One Cloud Firestore emulator java process, owned by this object.

    Startup (launch until GET / answers 200 "Ok"), measured with emulator 1.19.9
    on Java 17, 2 cores: median 1.95 s (1.8-2.5 s over 16 runs); ~2.2-2.6 s when
    two start at once. Most of it is JVM start and class loading (C1-only JIT
    saved only ~0.2 s, so the default JIT is kept). About 110 MiB RSS idle.
    A failed start keeps its log (path in the error); a clean stop() removes it
    unless `log_dir` was given.

    `port=0` picks a free loopback port. The emulator itself cannot do that (with
    --port=0 it binds a random port but reports 0), so we pick one and retry
    with a new port if another process grabbed it before java bound it.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        project: str = DEFAULT_PROJECT,
        functions_emulator: str | None = None,
        jar: Path | None = None,
        java: Path | None = None,
        startup_timeout: float = 30.0,
        jvm_args: tuple[str, ...] = ("-Duser.language=en",),
        log_dir: Path | None = None,
    ) -> None:
        self.port = port
        self._requested_port = port  # 0 = pick one at every start()
        self.project = project
        self.functions_emulator = functions_emulator
        self.jar = jar
        self.java = java
        self.startup_timeout = startup_timeout
        self.jvm_args = jvm_args
        self.log_dir = log_dir  # given: logs are kept there; None: a temp dir, removed by a clean stop()
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_dir: str | None = None

    # -- public state

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the form FIRESTORE_EMULATOR_HOST takes."""
        if not self.port:
            raise EmulatorError("emulator not started: no port yet")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle

    def start(self) -> FirestoreEmulator:
        """Launch java and block until the emulator answers HTTP; raise with the log tail if not."""
        if self.running:
            return self
        jar = self.jar or find_emulator_jar()
        java = self.java or find_java()
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log_dir = str(self.log_dir or tempfile.mkdtemp(prefix="onto-firestore-emulator-"))
        pick_port = self._requested_port == 0
        for attempt in range(3):
            if pick_port:
                self.port = free_port()
            self.log_path = Path(self._log_dir) / f"emulator-{self.port}.log"
            began = time.monotonic()
            self._spawn(java, jar)
            try:
                self._wait_ready(began)
            except EmulatorError:
                port_taken = "Address already in use" in self._log_tail()
                self._terminate()
                if pick_port and port_taken and attempt < 2:
                    continue
                raise
            self.startup_seconds = time.monotonic() - began
            atexit.register(self.stop)
            return self
        raise AssertionError("unreachable")

    def _spawn(self, java: Path, jar: Path) -> None:
        cmd = [
            str(java), *self.jvm_args, "-cp", str(jar), MAIN_CLASS, "start",
            "--host=127.0.0.1", f"--port={self.port}", f"--project_id={self.project}",
        ]
        if self.functions_emulator:
            cmd.append(f"--functions_emulator={self.functions_emulator}")
        assert self.log_path is not None and self._log_dir is not None
        with open(self.log_path, "wb") as log:
            # Own session (stop() kills the whole group) and a parent-death signal,
            # so not even a SIGKILLed parent leaves a java behind.
            # cwd = the temp dir, so any debug log the emulator writes lands there.
            self._proc = spawner.popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self._log_dir,
            )

    def _wait_ready(self, began: float) -> None:
        assert self._proc is not None
        deadline = began + self.startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise EmulatorError(self._failure(f"emulator exited with code {code} during startup"))
            if answers_ok(self.url):
                # Re-check: a foreign server on a stolen port could have answered for us.
                if self._proc.poll() is None:
                    return
                continue
            if time.monotonic() > deadline:
                raise EmulatorError(self._failure(f"emulator did not answer within {self.startup_timeout:.0f} s"))
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the whole process group (SIGTERM, 5 s grace, SIGKILL). Safe to call twice."""
        atexit.unregister(self.stop)
        if self._proc is None:
            return
        self._terminate()
        if self._log_dir and self.log_dir is None:  # our temp dir: a clean run's log is not worth keeping
            shutil.rmtree(self._log_dir, ignore_errors=True)
        self._log_dir = None

    def _terminate(self) -> None:
        if self._proc is not None:
            stop_process_group(self._proc, grace=5.0)

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- diagnostics

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _failure(self, what: str) -> str:
        return f"{what} (port {self.port}, log {self.log_path}). Log tail:\n{self._log_tail()}"
