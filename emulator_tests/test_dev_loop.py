"""`onto emulate`'s dev loop on the real emulator: an edit swaps the workers of the triggers it changed.

What is pinned (not how fast: benchmarks/dev_loop.py measures that):
- a swap loses no event and applies each once: events written before, during and after it all land,
  each once in the ledger;
- no event runs on a half-swapped worker: the handler writes the version its code says and the
  generation folder it was loaded from, which always agree; events that arrived while the trigger
  was held, and every event written after the swap completed, ran the new code;
- an edit that breaks the app (syntax, a bad option) keeps the old workers serving, is reported as
  one line naming file:line, and its fix swaps;
- an added trigger starts serving; a removed one keeps its events queued and gets them back when it
  returns;
- `onto emulate` watches by default.

The app is written into a throwaway project folder and edited there, as a user edits theirs.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from onto_functions import ledger
from onto_functions.local.emulator_client import emulator_client
from onto_functions.local.stack import LocalStack, StackConfig
from onto_functions.testing import wait_for

from .test_local_stack import Emulate, marks

TRIGGER = "seen-copy"

MEDIATOR = '''
"""Copies each document's n into a view, with the code version and the bundle folder that ran it."""
from pathlib import Path

from onto_functions import Change, Mediator, Store, ViewModel, fields, sink, source

from devapp.version import VERSION

GENERATION = Path(__file__).resolve().parents[2].name  # <folder>/<trigger>/devapp/main.py: "bundles", then "1", ...


class Seen(ViewModel):
    class Meta:
        path = "seen/{doc_id}"

    n = fields.Int(allow_none=True)
    version = fields.Int()
    generation = fields.Str()


class SeenMediator(Mediator):
    source = source.document("docs/{doc_id}")
    sink = sink.firestore(Seen)

    @source.triggers.on_write%(options)s
    def copy(self, change: Change[dict], store: Store) -> None:
        n = (change.after or {}).get("n")
        self.sink.emit(store, Seen(n=n, version=VERSION, generation=GENERATION), doc_id=change.params["doc_id"])
%(extra)s'''

SECOND_MEDIATOR = '''

class Echo(ViewModel):
    class Meta:
        path = "echoes/{doc_id}"

    n = fields.Int(allow_none=True)


class EchoMediator(Mediator):
    source = source.document("shouts/{doc_id}")
    sink = sink.firestore(Echo)

    @source.triggers.on_create
    def echo(self, change: Change[dict], store: Store) -> None:
        self.sink.emit(store, Echo(n=(change.after or {}).get("n")), doc_id=change.params["doc_id"])
'''


def save(path: Path, text: str) -> None:
    """As an editor saves: a new file renamed over the old one."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def mediator(options: str = "", extra: str = "") -> str:
    return MEDIATOR % {"options": options, "extra": extra}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "devapp").mkdir(parents=True)
    (root / "devapp" / "__init__.py").write_text("")
    (root / "devapp" / "version.py").write_text("VERSION = 1\n")
    (root / "devapp" / "main.py").write_text(mediator())
    return root


@pytest.fixture
def watched_stack(firestore_emulator, event_receiver, project_id, tmp_path, project):
    """`watched_stack(records)`: the app of `project` on the local stack, watching its files (as
    `onto emulate` does); every record of its event log is appended to `records`."""
    stacks: list[LocalStack] = []

    def start(records: list[dict[str, Any]], **options: Any) -> LocalStack:
        shared = firestore_emulator.started_here and firestore_emulator.functions_emulator == event_receiver.host
        config = StackConfig(app="devapp.main", project=project_id, state_dir=tmp_path / "stack",
                             project_root=project, emulator_host=firestore_emulator.host if shared else None,
                             watch=True, **options)
        stacks.append(LocalStack(config, receiver=event_receiver if shared else None, on_event=records.append))
        return stacks[-1].start()

    yield start
    for stack in stacks:
        stack.stop()


def of(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in list(records) if r.get("event") == event]


def views(db) -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() for s in db.collection("seen").get()}


def seen(db, doc: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(lambda: (s := db.document(f"seen/{doc}").get()).exists and s.to_dict(), timeout=timeout,
                    message=f"the view of docs/{doc}")


def next_record(records: list[dict[str, Any]], event: str, after: int, timeout: float = 60) -> dict[str, Any]:
    """The first `event` record beyond the `after` ones already seen."""
    return wait_for(lambda: len(of(records, event)) > after and of(records, event)[after], timeout=timeout,
                    message=f"a {event} record")


class Writer:
    """Writes docs/<prefix><i> ({"n": i}) one after another on a thread, until stopped."""

    def __init__(self, db, prefix: str) -> None:
        self.db, self.prefix, self.written = db, prefix, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.db.document(f"docs/{self.prefix}{self.written}").set({"n": self.written})
            self.written += 1
            self._stop.wait(0.01)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_an_edit_swaps_the_trigger_losing_no_event_and_never_mixing_old_and_new_code(watched_stack, project):
    records: list[dict[str, Any]] = []
    stack = watched_stack(records, instances=2, concurrency=4)
    db = stack.client()
    for i in range(10):
        db.document(f"docs/before{i}").set({"n": i})
    wait_for(lambda: len(views(db)) == 10, timeout=60, message="10 views before the edit")
    assert {v["version"] for v in views(db).values()} == {1}

    with Writer(db, "during") as during:  # events keep coming while the trigger is swapped
        # the new version takes a second to import, as a module that does work at import would: the
        # new worker starts that much slower, so events surely arrive while the trigger is held
        save(project / "devapp" / "version.py", "import time\n\ntime.sleep(1)\nVERSION = 2\n")
        reloaded = next_record(records, "reloaded", 0)
        written_at_swap = during.written
        wait_for(lambda: during.written >= written_at_swap + 10, timeout=30, message="10 writes after the swap")
    assert reloaded["triggers"] == [TRIGGER] and reloaded["generation"] == 1
    for i in range(10):
        db.document(f"docs/after{i}").set({"n": i})

    expected = 10 + during.written + 10
    found = wait_for(lambda: len(v := views(db)) == expected and v, timeout=90, message=f"{expected} views")
    # the code a worker ran is always its own generation's: version 1 in the first bundles, 2 in generation 1
    assert {(v["version"], v["generation"]) for v in found.values()} <= {(1, "bundles"), (2, "1")}
    assert all(found[f"after{i}"]["version"] == 2 for i in range(10))
    # events the host received while the trigger was held waited in the queue and ran the new code
    held = reloaded["held"]
    waited = [r["document"].split("/")[1] for r in of(records, "received")
              if held["from"] + 0.05 <= r["time"] <= held["until"] and r["trigger"] == TRIGGER]
    assert waited, "no event arrived while the trigger was held (the writer is too slow?)"
    assert all(found[doc]["version"] == 2 for doc in waited)
    # each event once in the ledger, none lost, none applied twice
    received = {r["eventId"] for r in of(records, "received")}
    recorded = wait_for(lambda: (m := marks(db, TRIGGER)) and len(m) >= expected and m, timeout=60,
                        message="a ledger mark per event")
    assert sorted(m["eventId"] for m in recorded) == sorted(received)
    assert len(received) == expected
    # the old generation's workers drained and stopped; the new one serves
    wait_for(lambda: not stack.workers.draining(), timeout=30, message="the old workers to drain")
    assert stack.workers.generation(TRIGGER) == 1
    assert list(db.collection(ledger.DEAD_LETTERS).get()) == []


def test_a_broken_edit_keeps_the_old_workers_and_says_where_then_its_fix_swaps(watched_stack, project):
    records: list[dict[str, Any]] = []
    stack = watched_stack(records)
    db = stack.client()
    db.document("docs/first").set({"n": 1})
    assert seen(db, "first")["version"] == 1

    save(project / "devapp" / "version.py", "VERSION = = 2\n")
    failed = next_record(records, "reload_failed", 0)
    assert (failed["file"], failed["line"]) == ("devapp/version.py", 1)
    assert failed["error"].startswith("devapp/version.py:1: SyntaxError")
    db.document("docs/while-broken").set({"n": 2})
    assert seen(db, "while-broken")["version"] == 1  # the old workers still serve
    assert stack.workers.generation(TRIGGER) == 0 and not of(records, "reloaded")

    save(project / "devapp" / "version.py", "VERSION = 3\n")
    assert next_record(records, "reloaded", 0)["triggers"] == [TRIGGER]
    db.document("docs/fixed").set({"n": 3})
    assert seen(db, "fixed")["version"] == 3

    # a spec error (an option the platform refuses) is an edit that breaks the app too
    save(project / "devapp" / "main.py", mediator(options="(memory_mb=64)"))
    failed = next_record(records, "reload_failed", 1)
    assert failed["file"] == "devapp/main.py" and failed["line"] and "memory_mb" in failed["error"]
    db.document("docs/bad-option").set({"n": 4})
    assert seen(db, "bad-option")["version"] == 3
    save(project / "devapp" / "main.py", mediator(options="(memory_mb=512)"))
    assert next_record(records, "reloaded", 1)["triggers"] == [TRIGGER]
    assert stack.workers.bundles[TRIGGER].spec.options.memory_mb == 512


def test_an_added_trigger_serves_and_a_removed_one_keeps_its_events_until_it_returns(watched_stack, project):
    records: list[dict[str, Any]] = []
    stack = watched_stack(records)
    db = stack.client()

    save(project / "devapp" / "main.py", mediator(extra=SECOND_MEDIATOR))
    added = next_record(records, "reloaded", 0)
    # main.py is in both bundles: the first trigger is swapped too (its bundle hash changed with the file)
    assert added["added"] == ["echo-echo"] and added["triggers"] == [TRIGGER]
    assert {s.name for s in stack.specs} == {TRIGGER, "echo-echo"}
    db.document("shouts/s1").set({"n": 1})
    wait_for(lambda: db.document("echoes/s1").get().exists, timeout=60, message="the new trigger's view")

    save(project / "devapp" / "main.py", mediator())
    removed = next_record(records, "reloaded", 1)
    assert removed["removed"] == {"echo-echo": 0}
    db.document("shouts/s2").set({"n": 2})  # the emulator still sends it: the host keeps it queued
    wait_for(lambda: stack.queue.pending_count("echo-echo") == 1, timeout=30, message="the event kept queued")
    assert not db.document("echoes/s2").get().exists
    assert stack.wait_idle(timeout=30)  # kept events of a removed trigger are not work to wait for

    save(project / "devapp" / "main.py", mediator(extra=SECOND_MEDIATOR))
    assert next_record(records, "reloaded", 2)["added"] == ["echo-echo"]
    wait_for(lambda: db.document("echoes/s2").get().exists, timeout=60, message="the kept event, delivered")


def test_onto_emulate_watches_by_default_and_prints_each_reload(project, tmp_path):
    project_id = f"demo-watch-{uuid.uuid4().hex[:8]}"
    stack = Emulate(["devapp.main", "--project", project_id], project, tmp_path / "emulate.log")
    try:
        ready = stack.ready()
        assert ready.get("event") == "ready", stack.log.read_text()[-3000:]
        assert ready["watch"] is True
        db = emulator_client(project_id, ready["emulator"])
        save(project / "devapp" / "version.py", "VERSION = 2\n")
        reloaded = stack.wait(lambda: (stack.of("reloaded") or [None])[0], 60, "a reloaded record")
        assert reloaded["triggers"] == [TRIGGER]
        db.document("docs/cli").set({"n": 1})
        assert seen(db, "cli")["version"] == 2
        db.close()
    except BaseException:
        stack.kill()
        raise
    assert stack.terminate() == 0
