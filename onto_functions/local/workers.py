"""Worker processes: each trigger's bundle served by functions-framework, as deployed.

A worker is `functions-framework --source <bundle>/main.py --target <entry>
--signature-type http` in its own process group, with the emulator's address
in FIRESTORE_EMULATOR_HOST: the file deploy ships, run by the server Cloud
Run runs. The host POSTs the emulator's request to it unchanged.

Memory decides the policy. One worker (gunicorn master + one gthread worker,
Firestore client loaded) holds about 60-80 MB; 50 triggers started eagerly
would take 3-4 GB. So a worker starts lazily, on its trigger's first event
(about 1-2 s on 2 cores, paid once), and one that has been idle for
`idle_seconds` is stopped (its next event starts it again). With an app of
a few triggers nothing is ever stopped in practice; with 50, only the busy
ones cost memory.

No orphans: every worker runs in its own session (one killpg stops gunicorn
and its child), and on Linux with PR_SET_PDEATHSIG, so a host killed with
SIGKILL takes its workers with it. The death signal fires when the *thread*
that forked exits, so every process is spawned from one long-lived spawner
thread, never from a short-lived dispatcher thread.

Bundles: `onto_functions.deploy.bundle.build_bundles` when it exists; until
then a FALLBACK writes the same main.py (from function_templates/) per
trigger into the build dir and imports the app from the project root.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue as queue_mod
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..spec import TriggerSpec

log = logging.getLogger("onto_functions.local")


class WorkerError(RuntimeError):
    """A worker did not start or did not answer; the message points at its log."""


# --------------------------------------------------------------------------- spawning


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- bundles


@dataclass(frozen=True)
class WorkerBundle:
    """What a worker serves: mirrors deploy's Bundle (spec, path, entry_point)."""

    spec: TriggerSpec
    path: Path  # the bundle folder, holding main.py
    entry_point: str
    generated_by: str  # "deploy.bundle" or "fallback"
    pythonpath: tuple[Path, ...] = ()  # what the worker imports from, first to last

    @property
    def vendored(self) -> bool:
        """True for deploy's bundles: the runtime and the app's modules are copies inside the folder."""
        return self.generated_by == "deploy.bundle"


def build_worker_bundles(
    app: str, specs: Sequence[TriggerSpec], build_dir: Path, *, project_root: Path
) -> list[WorkerBundle]:
    """The bundles deploy would ship, built into `build_dir`; the fallback until deploy's builder exists."""
    try:
        from ..deploy.bundle import build_bundles  # type: ignore[import-not-found]
    except ImportError:
        build_bundles = None
    if build_bundles is not None:
        built = build_bundles(app, build_dir, project_root=project_root)
        # The bundle folder alone on PYTHONPATH: its vendored onto_functions and app modules, exactly
        # what deploy uploads; third-party packages come from this environment (requirements.txt).
        return [WorkerBundle(b.spec, Path(b.path), b.entry_point, "deploy.bundle", (Path(b.path),))
                for b in built]
    return _fallback_bundles(specs, build_dir, project_root)


def _fallback_bundles(specs: Sequence[TriggerSpec], build_dir: Path, project_root: Path) -> list[WorkerBundle]:
    """FALLBACK (until onto_functions/deploy/bundle.py lands): deploy's main.py, with the app
    imported from the project root (PYTHONPATH) instead of sources vendored into the folder."""
    bundles = []
    for spec in specs:
        entry_point = spec.name.replace("-", "_")
        folder = build_dir / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "main.py").write_text(_main_py(spec, entry_point), encoding="utf-8")
        bundles.append(WorkerBundle(spec, folder, entry_point, "fallback", (folder, project_root.resolve())))
    return bundles


def _main_py(spec: TriggerSpec, entry_point: str) -> str:
    values = {
        "trigger": spec.name, "mediator_ref": spec.mediator_ref, "module": spec.module,
        "mediator_root": spec.mediator.split(".")[0], "mediator_expr": spec.mediator,
        "entry_point": entry_point,
    }
    try:
        from ..deploy.templates import render

        return render("main.py.tmpl", **values)
    except Exception:  # templates being edited elsewhere: the same file, inline
        return (
            f"# Generated by `onto emulate` for {spec.name!r} (fallback bundle).\n"
            "import functions_framework\n\n"
            "from onto_functions.entrypoint import http_function\n"
            f"from {values['module']} import {values['mediator_root']}\n\n"
            f"{entry_point} = functions_framework.http(\n"
            f"    http_function({values['mediator_expr']}, {spec.name!r}, entry_point={entry_point!r})\n"
            ")\n"
        )


# --------------------------------------------------------------------------- workers


def _functions_framework() -> list[str]:
    exe = Path(sys.executable).with_name("functions-framework")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("functions-framework")
    if found:
        return [found]
    return [sys.executable, "-m", "functions_framework"]


class Worker:
    """One functions-framework process serving one bundle."""

    def __init__(self, bundle: WorkerBundle, env: Mapping[str, str], log_dir: Path,
                 startup_timeout: float = 60.0) -> None:
        self.bundle = bundle
        paths = [str(p) for p in bundle.pythonpath]
        self.env = {**env, "PYTHONPATH": os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))}
        self.env["K_SERVICE"] = bundle.spec.name
        self.log_path = log_dir / f"{bundle.spec.name}.log"
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
        """Send one event; (status, body). Raises OSError when the worker cannot be reached."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
            conn.request("POST", f"/{self.bundle.entry_point}", body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        # SIGINT is gunicorn's quick shutdown (SIGTERM waits up to 30 s for requests in flight): by now
        # the host gave them their grace, and what is still running stays queued for the next start.
        if self.proc is not None:
            stop_process_group(self.proc, signum=signal.SIGINT)

    def _log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class WorkerPool:
    """Starts each trigger's worker on first use, stops idle ones, stops all at the end."""

    def __init__(
        self,
        bundles: Sequence[WorkerBundle],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        idle_seconds: float = 300.0,
        on_start: Callable[[Worker], None] | None = None,
    ) -> None:
        self.bundles = {b.spec.name: b for b in bundles}
        self.env = dict(env)
        self.log_dir = log_dir
        self.idle_seconds = idle_seconds
        self.on_start = on_start
        self._workers: dict[str, Worker] = {}
        self._locks = {name: threading.Lock() for name in self.bundles}
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, trigger: str) -> Worker:
        """The trigger's running worker (started now if needed), marked busy until `release`."""
        lock = self._locks.get(trigger)
        if lock is None:
            raise WorkerError(f"no bundle for trigger {trigger!r}; bundles: {sorted(self.bundles)}")
        with lock:
            if self._closed:
                raise WorkerError("the worker pool is shut down")
            worker = self._workers.get(trigger)
            if worker is None or not worker.alive:
                if worker is not None:
                    log.warning("worker %s died (exit %s); starting it again (log %s)", trigger,
                                worker.proc.poll() if worker.proc else None, worker.log_path)
                worker = Worker(self.bundles[trigger], self.env, self.log_dir)
                worker.start()
                with self._lock:
                    self._workers[trigger] = worker
                if self.on_start:
                    self.on_start(worker)
            with self._lock:
                worker.busy += 1
                worker.last_used = time.monotonic()
            return worker

    def release(self, worker: Worker) -> None:
        with self._lock:
            worker.busy -= 1
            worker.last_used = time.monotonic()

    def reap_idle(self) -> list[str]:
        """Stop workers idle for longer than `idle_seconds`; returns their triggers."""
        now = time.monotonic()
        stopped = []
        for name, lock in self._locks.items():
            worker = self._workers.get(name)
            if worker is None or worker.busy or now - worker.last_used < self.idle_seconds:
                continue
            if not lock.acquire(blocking=False):
                continue
            try:
                with self._lock:
                    if worker.busy or self._workers.get(name) is not worker:
                        continue
                    del self._workers[name]
                worker.stop()
                stopped.append(name)
            finally:
                lock.release()
        return stopped

    def running(self) -> dict[str, int]:
        """trigger -> pid of each live worker."""
        with self._lock:
            return {n: w.proc.pid for n, w in self._workers.items() if w.alive and w.proc}

    def close(self) -> None:
        """Stop every worker (in parallel: each may take a moment to exit)."""
        self._closed = True
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        threads = [threading.Thread(target=w.stop) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)


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


def describe_answer(status: int, body: bytes) -> tuple[str, str]:
    """(outcome, detail) from a worker's answer: the executor's JSON, or what came instead."""
    try:
        data = json.loads(body)
    except ValueError:
        return ("failed" if status >= 300 else "unknown"), body[:500].decode(errors="replace")
    if not isinstance(data, dict):
        return "unknown", str(data)[:500]
    return str(data.get("outcome") or ("failed" if status >= 300 else "unknown")), str(
        data.get("detail") or data.get("error") or "")
