"""How the host's worker processes start and are talked to: forked from the zygote, kept-alive connections.

Stand-in bundles (a main.py with a plain functions-framework function, and
for the runtime tests a vendored copy of onto_functions) make each mechanism
visible in the answer itself; no emulator is needed.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from onto_functions.deploy.runtime_files import runtime_files
from onto_functions.local.worker_launch import ZygoteLauncher
from onto_functions.local.worker_pool import WorkerPool
from onto_functions.local.workers import WorkerError, worker_env
from onto_functions.spec import EventKind, TriggerSpec
from onto_functions.testing import wait_for

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="workers fork from a zygote on Linux only")

WHICH_RUNTIME = '''
"""Answers which onto_functions runs, and who forked this process."""
import json, os, sys
import functions_framework
import onto_functions
import onto_functions.outcome


@functions_framework.http
def ENTRY(request):
    return json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "marker": getattr(onto_functions, "MARKER", None),
                       "path": list(onto_functions.__path__), "outcome": onto_functions.outcome.__file__,
                       "cwd": os.getcwd(), "project": os.environ.get("GOOGLE_CLOUD_PROJECT")})
'''

ECHO = '''
"""Echoes the request body, with the connection it came on, once another request is in flight too
(or a deadline passed): answers overlap, so a mixed-up connection would show."""
import json, threading
import functions_framework

inside = 0
changed = threading.Condition()


@functions_framework.http
def ENTRY(request):
    global inside
    with changed:
        inside += 1
        changed.notify_all()
        changed.wait_for(lambda: inside >= 2, timeout=0.2)
    try:
        return json.dumps({"body": request.get_data(as_text=True), "port": request.environ.get("REMOTE_PORT")})
    finally:
        with changed:
            inside -= 1
'''


def stand_in(folder: Path, name: str, source: str, *, runtime: dict[str, bytes] | None = None,
             module: str = "main") -> SimpleNamespace:
    spec = TriggerSpec(name=name, kind=EventKind.WRITTEN, document="docs/{doc_id}", module=module,
                       mediator="StandIn", handler=name.replace("-", "_"))
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(source.replace("ENTRY", spec.entry_point))
    for relative, data in (runtime or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return SimpleNamespace(spec=spec, path=folder, entry_point=spec.entry_point)


@pytest.fixture
def pool_of(tmp_path):
    pools: list[WorkerPool] = []

    def make(*bundles: SimpleNamespace, instances: int = 1) -> WorkerPool:
        env = worker_env(emulator_host="127.0.0.1:9", project="demo-stand-in", concurrency=4)
        env.pop("ONTO_WORKER_LAUNCH", None)
        pools.append(WorkerPool(list(bundles), env=env, log_dir=tmp_path / "logs", instances=instances))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


def ask(pool: WorkerPool, trigger: str, body: bytes = b"{}") -> tuple[dict, object]:
    worker = pool.acquire(trigger)
    try:
        status, answer = worker.post({"Content-Type": "application/json"}, body, timeout=30)
    finally:
        pool.release(worker)
    assert status == 200, answer
    return json.loads(answer), worker


def test_a_forked_worker_runs_its_bundle_with_the_bundles_own_runtime(tmp_path, pool_of):
    same = stand_in(tmp_path / "same", "same-runtime", WHICH_RUNTIME, runtime=runtime_files())
    edited_files = dict(runtime_files())
    edited_files["onto_functions/__init__.py"] += b'\nMARKER = "edited in the bundle"\n'
    edited = stand_in(tmp_path / "edited", "edited-runtime", WHICH_RUNTIME, runtime=edited_files)
    pool = pool_of(same, edited)
    assert isinstance(pool.launcher, ZygoteLauncher)

    answer, worker = ask(pool, "same-runtime")
    assert answer["ppid"] == pool.launcher.pid != os.getpid()  # forked by the zygote, not spawned by us
    assert answer["pid"] == worker.pid and answer["project"] == "demo-stand-in"
    assert answer["cwd"] == str(same.path) and answer["marker"] is None
    assert answer["path"] == [str(same.path / "onto_functions")]  # later imports come from the bundle's copy

    answer, _ = ask(pool, "edited-runtime")
    assert answer["ppid"] == pool.launcher.pid
    assert answer["marker"] == "edited in the bundle"  # the edited copy is what runs, not the preloaded one
    assert answer["outcome"] == str(edited.path / "onto_functions" / "outcome.py")


def test_an_edited_bundle_is_what_the_next_fork_runs(tmp_path, pool_of):
    bundle = stand_in(tmp_path / "b", "edits", WHICH_RUNTIME.replace('"cwd"', '"version": 1, "cwd"'))
    pool = pool_of(bundle)
    first, worker = ask(pool, "edits")
    assert first["version"] == 1
    source = WHICH_RUNTIME.replace('"cwd"', '"version": 2, "cwd"').replace("ENTRY", bundle.entry_point)
    (bundle.path / "main.py").write_text(source)
    pool.kill(worker)
    second, _ = ask(pool, "edits")
    assert second["version"] == 2 and second["pid"] != first["pid"] and second["ppid"] == first["ppid"]


def test_kept_alive_connections_never_mix_concurrent_answers(tmp_path, pool_of):
    pool = pool_of(stand_in(tmp_path / "echo", "echo", ECHO))
    answers: list[tuple[str, dict]] = []
    lock = threading.Lock()

    def send(thread: int) -> None:
        for i in range(25):
            body = json.dumps({"thread": thread, "i": i})
            answer, _ = ask(pool, "echo", body.encode())
            with lock:
                answers.append((body, answer))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 100
    assert all(answer["body"] == sent for sent, answer in answers)  # each answer is its own request's
    assert len({answer["port"] for _, answer in answers}) <= 4  # 100 requests over at most 4 connections


def test_killing_the_zygote_takes_its_workers_and_the_next_delivery_starts_both_again(tmp_path, pool_of):
    pool = pool_of(stand_in(tmp_path / "z", "which", WHICH_RUNTIME))
    first, worker = ask(pool, "which")
    zygote = pool.launcher.pid
    os.kill(zygote, signal.SIGKILL)
    wait_for(lambda: not worker.alive, timeout=10, message="the forked worker to die with its zygote")
    second, _ = ask(pool, "which")
    assert second["ppid"] == pool.launcher.pid != zygote and second["pid"] != first["pid"]


def test_a_bundle_that_fails_to_import_is_reported_with_its_log(tmp_path, pool_of):
    pool = pool_of(stand_in(tmp_path / "bad", "broken", "import no_such_module_here\n"),
                   stand_in(tmp_path / "ok", "which", WHICH_RUNTIME))
    with pytest.raises(WorkerError, match="no_such_module_here"):
        pool.acquire("broken")
    answer, _ = ask(pool, "which")
    assert answer["ppid"] == pool.launcher.pid  # the zygote lives on


USES_APP = '''
"""Answers which process imported the app module it uses."""
import json, os
import standapp


def ENTRY(request):
    return json.dumps({"pid": os.getpid(), "imported_by": standapp.IMPORTED_BY, "version": standapp.VERSION})
'''

APP_MODULE = '''
"""The app's module, as a bundle carries it."""
import os
import threading
import time

IMPORTED_BY = os.getpid()
VERSION = {version}
if {starts_thread}:
    threading.Thread(target=time.sleep, args=(120,), daemon=True).start()
'''


def app_bundle(folder: Path, name: str, *, version: int = 1, starts_thread: bool = False) -> SimpleNamespace:
    bundle = stand_in(folder, name, USES_APP, module="standapp")
    (folder / "standapp.py").write_text(APP_MODULE.format(version=version, starts_thread=starts_thread))
    return bundle


def test_the_apps_modules_are_imported_once_in_the_zygote_unless_a_bundle_carries_another_copy(tmp_path, pool_of):
    pool = pool_of(app_bundle(tmp_path / "a", "first"), app_bundle(tmp_path / "b", "second"),
                   app_bundle(tmp_path / "c", "edited", version=2))
    first, _ = ask(pool, "first")
    second, _ = ask(pool, "second")
    assert first["imported_by"] == second["imported_by"] == pool.launcher.pid  # shared, from the zygote
    assert first["version"] == second["version"] == 1
    edited, _ = ask(pool, "edited")
    assert (edited["imported_by"], edited["version"]) == (edited["pid"], 2)  # its own copy, imported afresh


def test_an_app_module_that_starts_a_thread_at_import_is_never_imported_in_the_zygote(tmp_path, pool_of):
    pool = pool_of(app_bundle(tmp_path / "t", "threaded", starts_thread=True))
    answer, _ = ask(pool, "threaded")
    assert answer["imported_by"] == answer["pid"] != pool.launcher.pid
    assert len(os.listdir(f"/proc/{pool.launcher.pid}/task")) == 1  # the zygote still forks single-threaded


def test_app_modules_go_with_a_runtime_the_worker_does_not_use(tmp_path, pool_of):
    edited_files = dict(runtime_files())
    edited_files["onto_functions/__init__.py"] += b'\nMARKER = "edited in the bundle"\n'
    plain = app_bundle(tmp_path / "plain", "plain")
    edited = app_bundle(tmp_path / "edited", "edited-runtime")
    for relative, data in edited_files.items():
        (edited.path / relative).parent.mkdir(parents=True, exist_ok=True)
        (edited.path / relative).write_bytes(data)
    pool = pool_of(plain, edited)
    shared, _ = ask(pool, "plain")
    own, _ = ask(pool, "edited-runtime")
    assert shared["imported_by"] == pool.launcher.pid
    assert own["imported_by"] == own["pid"]  # its app module re-imported on its own runtime
