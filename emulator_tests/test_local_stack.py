"""The local stack as a user drives it: `onto demo`, `onto emulate` in a subprocess, the `onto_stack` fixture,
and the host's production-like mechanisms (several instances, killed instances, retries).

The apps under test (emulator_tests/apps/counter.py, paced.py, orders.py) are
copied into a throwaway project folder first: deploy's bundler never ships
files from a tests folder, and the stack runs exactly the bundles deploy builds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from onto_functions import ledger
from onto_functions.local.backoff import Backoff
from onto_functions.local.emulator import FirestoreEmulator
from onto_functions.local.emulator_client import emulator_client
from onto_functions.local.faults import FaultPlan, Faults
from onto_functions.local.host import FunctionHost
from onto_functions.local.loopback import free_port
from onto_functions.local.queue import DurableQueue
from onto_functions.local.stack import LocalStack, StackConfig
from onto_functions.local.worker_pool import WorkerPool
from onto_functions.local.workers import worker_env
from onto_functions.spec import EventKind, TriggerSpec
from onto_functions.testing import wait_for

REPO = Path(__file__).resolve().parents[1]
ONTO = str(Path(sys.executable).with_name("onto"))
APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="session")
def app_root(tmp_path_factory) -> Path:
    """A project folder holding the test apps as the package `stackapps`."""
    root = tmp_path_factory.mktemp("project")
    package = root / "stackapps"
    package.mkdir()
    (package / "__init__.py").write_text('"""Test apps for the local stack."""\n')
    for name in ("counter.py", "paced.py", "orders.py"):
        shutil.copy(APPS / name, package / name)
    return root


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def processes_under(path: Path) -> str:
    """Processes whose command line names `path` (workers serve bundles from the state dir)."""
    return subprocess.run(["pgrep", "-af", str(path)], capture_output=True, text=True).stdout


def marks(db, trigger: str) -> list[dict]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return [s.to_dict() for s in db.collection(ledger.LEDGER).where(filter=FieldFilter("trigger", "==", trigger)).get()]


class Emulate:
    """`onto emulate ... --json` in a subprocess; its JSON event log collected by a reader thread."""

    def __init__(self, args: list[str], cwd: Path, log: Path) -> None:
        self.records: list[dict[str, Any]] = []
        self._stderr = open(log, "wb")
        self.log = log
        self.proc = subprocess.Popen([ONTO, "emulate", *args, "--json"], cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=self._stderr, stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                pass

    def of(self, event: str, trigger: str | None = None) -> list[dict[str, Any]]:
        return [r for r in list(self.records) if r.get("event") == event and trigger in (None, r.get("trigger"))]

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
        try:
            return wait_for(predicate, timeout=timeout, interval=interval, message=what)
        except AssertionError:
            raise AssertionError(f"{what}; exit code {self.proc.poll()}; stderr:\n{self.log.read_text()[-3000:]}")

    def ready(self, timeout: float = 90) -> dict[str, Any]:
        return self.wait(lambda: (self.of("ready") or [None])[0] or (self.proc.poll() is not None and {"exited": True}),
                         timeout, "onto emulate to report ready")

    def worker_pids(self) -> list[int]:
        return [r["pid"] for r in self.of("worker_started") if r.get("pid")]

    def terminate(self, timeout: float = 60, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout)
        finally:
            self._reader.join(5)
            self._stderr.close()
        return code

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)
        self._reader.join(5)
        self._stderr.close()


# --------------------------------------------------------------------------- onto demo


def test_onto_demo_shows_every_participant_the_change_and_cleans_up():
    began = time.monotonic()
    proc = subprocess.run([ONTO, "demo"], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for uid in ("alice", "bob", "carol"):
        assert f"users/{uid}/meetingSessions/standup: attending=['Alice Ng', 'Bob Ortiz', 'Carol Diaz'] (3)" in out
    assert "all three views showed it after" in out and "0 dead-lettered" in out
    project = out.split("(project ", 1)[1].split(")", 1)[0]
    state = out.split("state: ", 1)[1].split()[0]
    assert not Path(state).exists()
    leftovers = subprocess.run(["pgrep", "-f", f"{project}|{state}"], capture_output=True, text=True).stdout
    assert leftovers == "", f"processes left behind: {leftovers}"
    assert time.monotonic() - began < 120


# --------------------------------------------------------------------------- faults, invoke, shutdown


def test_500_events_under_faults_give_the_clean_views_once_each(app_root, tmp_path):
    project = f"demo-faults-{uuid.uuid4().hex[:8]}"
    stack = Emulate(["stackapps.counter", "--project", project, "--duplicate", "0.3", "--reorder", "0.2",
                     "--fail", "0.1", "--seed", "7"], app_root, tmp_path / "emulate.log")
    try:
        ready = stack.ready()
        assert ready.get("event") == "ready", ready
        db = emulator_client(project, ready["emulator"])
        # 250 updates over 10 documents (a late one must never regress a view) and 250 creates
        # counted into 10 tallies (a duplicate applied twice would show as a wrong count).
        written_state: dict[str, str] = {}
        totals: dict[str, int] = {}
        for i in range(250):
            doc = f"d{i % 10}"
            db.document(f"docs/{doc}").set({"state": f"s{i}"})
            written_state[doc] = f"s{i}"
            target = f"t{i % 10}"
            db.document(f"hits/h{i}").set({"target": target, "amount": i % 7 + 1})
            totals[target] = totals.get(target, 0) + i % 7 + 1

        def views_match() -> bool:
            latest = {s.id: s.to_dict().get("state") for s in db.collection("latest").get()}
            tallies = {s.id: s.to_dict() for s in db.collection("tallies").get()}
            return latest == written_state and all(
                tallies.get(t, {}).get("count") == 25 and tallies[t]["total"] == totals[t] for t in totals)

        stack.wait(views_match, 180, "every view to equal the clean run's")
        for tally in db.collection("tallies").get():
            ids = tally.to_dict()["eventIds"]
            assert len(ids) == len(set(ids)) == 25
        for trigger in ("latest-mirror", "tally-count-created"):
            received = {r["eventId"] for r in stack.of("received", trigger)}
            assert len(received) == 250, trigger
            recorded = stack.wait(lambda t=trigger: (m := marks(db, t)) and len(m) >= 250 and m, 60,
                                  f"250 ledger marks of {trigger}")
            assert sorted(m["eventId"] for m in recorded) == sorted(received)  # each event once
        assert list(db.collection(ledger.DEAD_LETTERS).get()) == []
        assert stack.of("dead_lettered") == []
        # the faults did happen, and were absorbed
        assert stack.of("duplicated") and [r for r in stack.of("retry") if r.get("injected")]
        assert [r for r in stack.of("received") if r.get("heldBackMs")]
        answers = stack.of("delivered") + [r for r in stack.of("retry") if r.get("injected")]
        effects = [(r["trigger"], r["eventId"]) for r in answers if r["outcome"] in ("applied", "superseded")]
        assert len(effects) == len(set(effects)) == 500  # every event committed exactly once
        assert sum(r["outcome"] == "duplicate" for r in answers) > 20  # redeliveries, skipped by the ledger

        # onto invoke: one synthetic event through the running stack
        invoked = subprocess.run(
            [ONTO, "invoke", "latest-mirror", "--path", "docs/invoked", "--after", '{"state": "by-invoke"}',
             "--project", project], cwd=app_root, capture_output=True, text=True, timeout=90)
        assert invoked.returncode == 0, invoked.stdout + invoked.stderr
        assert json.loads(invoked.stdout)["outcome"] in ("applied", "duplicate")
        assert db.document("latest/invoked").get().to_dict()["state"] == "by-invoke"
        db.close()
    except BaseException:
        stack.kill()
        raise
    workers = stack.worker_pids()
    assert workers
    assert stack.terminate() == 0
    assert stack.of("stopped")
    for pid in [ready["emulatorPid"], *workers]:
        assert not alive(pid), f"process {pid} outlived onto emulate"
    assert processes_under(Path(ready["stateDir"])) == ""  # gunicorn's forked workers included


# --------------------------------------------------------------------------- crash recovery


def test_sigkill_of_the_host_mid_stream_loses_no_acknowledged_event(app_root, tmp_path):
    project = f"demo-kill-{uuid.uuid4().hex[:8]}"
    port = free_port()
    args = ["stackapps.paced", "--project", project, "--port", str(port), "--concurrency", "1"]
    with FirestoreEmulator(project=project, functions_emulator=f"127.0.0.1:{port}") as emulator:
        first = Emulate([*args, "--emulator-host", emulator.host], app_root, tmp_path / "first.log")
        try:
            first.ready()
            db = emulator_client(project, emulator.host)
            stop_writing = threading.Event()

            def write() -> None:
                for i in range(60):
                    if stop_writing.is_set():
                        return
                    db.document(f"paced/p{i}").set({"n": i, "hold": 0.05})

            writer = threading.Thread(target=write)
            writer.start()
            first.wait(lambda: len(first.of("delivered")) >= 3, 60, "a few deliveries before the kill")
        except BaseException:
            first.kill()
            raise
        first.kill()  # SIGKILL, mid-stream: the writer is still writing
        stop_writing.set()
        writer.join(30)
        # the workers (gunicorn master and its forked worker) die with their host: parent-death signal
        state_dir = app_root / ".onto" / "emulate" / project
        wait_for(lambda: processes_under(state_dir) == "", timeout=15, message="the workers to die with the host")

        queue_file = state_dir / "queue.sqlite"
        with sqlite3.connect(queue_file) as conn:
            rows = conn.execute("SELECT event_id, state FROM events WHERE copy_of IS NULL").fetchall()
        acknowledged = {event_id for event_id, _ in rows}
        pending = [event_id for event_id, state in rows if state == "pending"]
        assert acknowledged and pending, "the kill should leave accepted but undelivered events"

        second = Emulate(args + ["--emulator-host", emulator.host], app_root, tmp_path / "second.log")
        try:
            second.ready()
            assert second.of("recovered")[0]["pending"] == len(pending)

            def all_applied() -> bool:
                return acknowledged <= {m["eventId"] for m in marks(db, "paced-apply")}

            def not_done() -> int:
                with sqlite3.connect(queue_file) as conn:
                    return conn.execute("SELECT COUNT(*) FROM events WHERE state != 'done'").fetchone()[0]

            second.wait(all_applied, 120, f"all {len(acknowledged)} acknowledged events in the ledger")
            # a mark commits before its worker answers and the host acks: the last ack may still be coming
            second.wait(lambda: not_done() == 0, 30, "every queued event done")
            db.close()
        finally:
            assert second.terminate(signum=signal.SIGINT) == 0  # Ctrl-C
        assert second.of("stopped")
        assert processes_under(state_dir) == ""


# --------------------------------------------------------------------------- the fixture


def test_failing_trigger_is_retried_then_dead_lettered_while_others_flow(onto_stack, app_root):
    stack = onto_stack("stackapps.counter", project_root=app_root, retry_delay=2.0)
    db = stack.client()
    for i in range(3):
        db.document(f"broken/b{i}").set({"n": i})
    for i in range(20):  # one tally each: contention on one hot document is the executor's topic, not this one
        db.document(f"hits/h{i}").set({"target": f"t{i}"})
    wait_for(lambda: len(db.collection("tallies").get()) == 20, timeout=60, message="the healthy trigger's tallies")
    flowing_done = time.time()
    dead = wait_for(lambda: (d := list(db.collection(ledger.DEAD_LETTERS).get())) and len(d) == 3 and d,
                    timeout=60, message="three dead letters")
    for letter in dead:
        data = letter.to_dict()
        assert data["trigger"] == "broken-explode" and data["failedDeliveries"] == 3
        assert "handler bug" in data["error"]
        assert data["deadLetteredAt"].timestamp() > flowing_done  # the others did not wait for it
    stack.wait_idle(timeout=30)
    stats = stack.snapshot()
    assert stats["broken-explode"]["dead_lettered"] == 3 and stats["broken-explode"]["retried"] == 6
    assert stats["tally-count-created"]["applied"] == 20 and stats["tally-count-created"]["retried"] == 0


def test_a_slow_handler_does_not_hold_back_another_trigger(onto_stack, app_root):
    stack = onto_stack("stackapps.paced", project_root=app_root, concurrency=2)
    db = stack.client()
    db.document("paced/warm").set({"n": 0, "hold": 0})  # both workers started: cold starts are not the topic
    db.document("quick/warm").set({"n": 0})
    wait_for(lambda: db.document("paced_views/warm").get().exists and db.document("quick_views/warm").get().exists,
             timeout=60, message="both workers warm")
    for i in range(4):  # 4 slow events, 2 at a time, held until the gate opens
        db.document(f"paced/s{i}").set({"n": i, "hold": 60})
    for i in range(5):
        db.document(f"quick/q{i}").set({"n": i})
    # behind the held ones, the quick views could not appear before the gate opens
    wait_for(lambda: len(db.collection("quick_views").get()) == 6, timeout=30, message="the quick views")
    slow_done = len(db.collection("paced_views").get()) - 1
    assert slow_done == 0, f"{slow_done} slow views done before the gate opened"
    db.document("gates/open").set({})
    wait_for(lambda: len(db.collection("paced_views").get()) == 5, timeout=60, message="the slow views, released")


# --------------------------------------------------------------------------- errors that teach


@pytest.mark.parametrize("env, args, expected", [
    ({"ONTO_FIRESTORE_EMULATOR_JAR": "/nonexistent/emulator.jar"}, [],
     ["ONTO_FIRESTORE_EMULATOR_JAR='/nonexistent/emulator.jar' is not a file", "gcloud components install"]),
    ({"PATH": "/nonexistent", "JAVA_HOME": ""}, [], ["java not found", "Install a JDK or set JAVA_HOME"]),
    ({}, ["--project", "my-prod"], ["must start with 'demo-'", "--project demo-my-prod"]),
])
def test_emulate_explains_what_is_missing_and_how_to_fix_it(app_root, tmp_path, env, args, expected):
    proc = subprocess.run([ONTO, "emulate", "stackapps.counter", "--state-dir", str(tmp_path), *args],
                          cwd=app_root, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = " ".join(proc.stderr.split())
    for text in expected:
        assert text in message


# --------------------------------------------------------------------------- production's delivery, scaled down


@pytest.fixture
def start_stack(firestore_emulator, event_receiver, project_id, tmp_path, app_root):
    """`start_stack(app, records, **StackConfig options)`: the stack in this process, on the session's
    emulator, with options the `onto_stack` fixture does not take (instances, restart); its JSON records
    are appended to `records`."""
    stacks: list[LocalStack] = []

    def start(app: str, records: list[dict[str, Any]], **options: Any) -> LocalStack:
        shared = firestore_emulator.started_here and firestore_emulator.functions_emulator == event_receiver.host
        config = StackConfig(app=app, project=project_id, state_dir=tmp_path / "stack", project_root=app_root,
                             emulator_host=firestore_emulator.host if shared else None, **options)
        stacks.append(LocalStack(config, receiver=event_receiver if shared else None, on_event=records.append))
        return stacks[-1].start()

    yield start
    for stack in stacks:
        stack.stop()


def pids(records: list[dict[str, Any]], event: str, trigger: str) -> set[int]:
    return {r["pid"] for r in list(records) if r.get("event") == event and r.get("trigger") == trigger}


def test_deliveries_are_spread_over_a_triggers_instances(start_stack):
    records: list[dict[str, Any]] = []
    stack = start_stack("stackapps.counter", records, instances=2, concurrency=2)
    db = stack.client()
    for i in range(12):
        db.document(f"docs/d{i}").set({"state": f"s{i}"})
    wait_for(lambda: len(db.collection("latest").get()) == 12, timeout=60, message="12 mirrored views")
    stack.wait_idle(timeout=30)
    served = [(r["instance"], r["pid"]) for r in records
              if r.get("event") == "delivered" and r["trigger"] == "latest-mirror"]
    assert len(served) == 12
    assert {instance for instance, _ in served} == {0, 1}
    assert len({pid for _, pid in served}) == 2  # two processes served the trigger
    assert stack.info()["instances"] == 2 and len(stack.workers.running()["latest-mirror"]) == 2


def test_a_killed_instance_is_replaced_and_every_event_still_lands(start_stack):
    records: list[dict[str, Any]] = []
    # Every answered delivery kills the instance that answered; 2 in flight, so one is often cut off mid-request.
    stack = start_stack("stackapps.counter", records, instances=2, concurrency=2,
                        faults=FaultPlan(restart=1.0, seed=3))
    db = stack.client()
    for i in range(6):
        db.document(f"docs/k{i}").set({"state": f"s{i}"})
    expected = {f"k{i}": f"s{i}" for i in range(6)}
    wait_for(lambda: {s.id: s.to_dict()["state"] for s in db.collection("latest").get()} == expected,
             timeout=120, message="all 6 views, through killed instances")
    stack.wait_idle(timeout=60)
    answered = [r["pid"] for r in records if r.get("event") in ("delivered", "retry") and r.get("status")]
    killed = pids(records, "restarted", "latest-mirror")
    assert len(answered) >= 6 and set(answered) == killed  # each answer killed the instance that gave it
    # ... so an instance answers only what was already in flight on it when it was killed: with 2
    # deliveries in flight per trigger, at most 2 answers per process (under load both may finish).
    assert max(Counter(answered).values()) <= 2
    assert killed <= pids(records, "worker_started", "latest-mirror")
    assert len(marks(db, "latest-mirror")) == 6  # each event's effect once
    assert not any(alive(pid) for pid in killed)
    # The fault kills after every answer (two answers of one instance kill it twice): one restart each.
    assert stack.snapshot()["latest-mirror"]["injected_restarts"] == len(answered), (answered, killed)


ANSWERS_LATER = '''
"""A stand-in function: answers 400 to its first two requests, then applies."""
import functions_framework

calls = []


@functions_framework.http
def answers_later(request):
    calls.append(1)
    if len(calls) <= 2:
        return '{"error": "not yet"}', 400, {"Content-Type": "application/json"}
    return '{"outcome": "applied"}', 200, {"Content-Type": "application/json"}
'''


def test_a_4xx_answer_is_retried_like_any_other_failure(tmp_path):
    """Eventarc retries every non-2xx answer; so does the host (here a real functions-framework process)."""
    folder = tmp_path / "answers-later"
    folder.mkdir()
    (folder / "main.py").write_text(ANSWERS_LATER)
    spec = TriggerSpec(name="answers-later", kind=EventKind.WRITTEN, document="docs/{doc_id}",
                       module="main", mediator="StandIn", handler="answers_later")
    bundle = SimpleNamespace(spec=spec, path=folder, entry_point=spec.entry_point)
    pool = WorkerPool([bundle], env=worker_env(emulator_host="127.0.0.1:9", project="demo-stand-in", concurrency=1),
                      log_dir=tmp_path / "logs", instances=1)
    records: list[dict[str, Any]] = []
    with DurableQueue(tmp_path / "queue.sqlite") as queue:
        host = FunctionHost([spec], queue, pool, faults=Faults(), backoff=Backoff(base=0.05, cap=0.2),
                            on_event=records.append).start()
        try:
            final = host.invoke("answers-later", "docs/d1", project="demo-stand-in", after={"n": 1}, wait=60)
        finally:
            host.stop()
            pool.close()
            host.join()
    assert (final["event"], final["outcome"], final["attempt"]) == ("delivered", "applied", 3)
    retries = [r for r in records if r.get("event") == "retry"]
    assert [(r["status"], r["outcome"]) for r in retries] == [(400, "refused"), (400, "refused")]
    counts = host.stats.snapshot()["answers-later"]
    assert (counts["refused"], counts["retried"], counts["applied"]) == (2, 2, 1)


ORDERS = 1000  # each created, then updated: 2,000 writes, 3,000 trigger events (1,000 receipts, 2,000 counts)


def write_orders(db) -> None:
    """1,000 orders created, then each one updated, in batches (the emulator sends one event per write)."""
    for update in (False, True):
        for start in range(0, ORDERS, 500):
            batch = db.batch()
            for i in range(start, start + 500):
                ref = db.document(f"orders/o{i}")
                if update:
                    batch.update(ref, {"status": "paid"})
                else:
                    batch.set(ref, {"amount": i % 50 + 1, "shard": i % 10, "status": "new"})
            batch.commit()


def every_event_answered(stack: Emulate, expected: dict[str, int]) -> bool:
    answered: dict[str, set[str]] = {trigger: set() for trigger in expected}
    for r in list(stack.records):
        if r.get("event") == "delivered" and r.get("trigger") in answered:
            answered[r["trigger"]].add(r["eventId"])
    return all(len(answered[t]) >= n for t, n in expected.items())


@pytest.mark.slow
@pytest.mark.timeout(900)  # a slow, shared machine: the waits inside carry their own deadlines
def test_chaos_2000_writes_through_killed_instances_give_exact_results(app_root, tmp_path):
    """Duplicates, reordering, failures after commit AND killed instances, 2 instances per trigger:
    a handler that creates a document per event and one that counts every event come out exact."""
    project = f"demo-chaos-{uuid.uuid4().hex[:8]}"
    began = time.monotonic()
    stack = Emulate(["stackapps.orders", "--project", project, "--instances", "2", "--duplicate", "0.2",
                     "--reorder", "0.2", "--fail", "0.1", "--restart", "0.01", "--seed", "11"],
                    app_root, tmp_path / "emulate.log")
    try:
        ready = stack.ready()
        assert ready.get("event") == "ready", ready
        db = emulator_client(project, ready["emulator"])
        write_orders(db)
        expected = {"receipt-issue": ORDERS, "order-tally-count": 2 * ORDERS}
        stack.wait(lambda: every_event_answered(stack, expected), 600, "every event acknowledged", interval=0.5)
        elapsed = time.monotonic() - began

        receipts = {s.id: s.to_dict() for s in db.collection("receipts").get()}
        assert receipts == {f"o{i}": {"order": f"o{i}", "amount": i % 50 + 1} for i in range(ORDERS)}
        counts = {s.id: s.to_dict() for s in db.collection("orderCounts").get()}
        assert sorted(counts) == [f"s{n}" for n in range(10)]
        for shard in counts.values():  # 100 orders per shard, 2 events each, each counted once
            assert shard["events"] == len(shard["eventIds"]) == len(set(shard["eventIds"])) == 200
        for trigger, n in expected.items():
            received = {r["eventId"] for r in stack.of("received", trigger)}
            recorded = [m["eventId"] for m in marks(db, trigger)]
            assert len(received) == n and sorted(recorded) == sorted(received), trigger  # each event once
        assert list(db.collection(ledger.DEAD_LETTERS).get()) == [] and stack.of("dead_lettered") == []
        answers = stack.of("delivered") + stack.of("retry")
        assert not [r for r in answers if r.get("outcome") in ("failed", "refused")]
        # the faults did happen, and were absorbed
        assert stack.of("duplicated") and stack.of("restarted") and [r for r in stack.of("retry") if r.get("injected")]
        assert [r for r in stack.of("received") if r.get("heldBackMs")]
        for trigger in expected:
            assert len({r["pid"] for r in stack.of("delivered", trigger)}) >= 3  # 2 instances, one replaced at least
        db.close()
    except BaseException:
        stack.kill()
        raise
    assert stack.terminate() == 0
    final = stack.of("stopped")[0]["triggers"]
    print(f"chaos run: {elapsed:.0f} s to the last acknowledgement; per trigger: {final}")  # shown with -s
    for trigger, n in expected.items():
        counts = final[trigger]
        # an answer lost with its killed instance may have committed: its redelivery answers duplicate
        assert n - counts["unanswered"] <= counts["applied"] <= n and counts["injected_restarts"] > 0
    # No timing assertion: speed lives in benchmarks/; the waits above carry generous deadlines.
