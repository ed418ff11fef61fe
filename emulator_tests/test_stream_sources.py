"""Pub/Sub and schedule sources through the local stack: the real Pub/Sub emulator pushing to
the durable host, the bundles' workers, the exactly-once executor."""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from onto_functions import Mediator, ledger
from onto_functions import source as _source
from onto_functions.testing import wait_for

APPS = Path(__file__).resolve().parent / "apps"
TRIGGER = "payment-credit"


@pytest.fixture(scope="module")
def stream_root(tmp_path_factory) -> Path:
    """A project folder holding the test apps as the package `streamapps`."""
    root = tmp_path_factory.mktemp("streams")
    shutil.copytree(APPS, root / "streamapps", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _marks(db, trigger: str) -> list:
    return [d for d in db.collection(ledger.LEDGER).get() if d.to_dict().get("trigger") == trigger]


def test_1000_messages_under_faults_update_the_views_exactly_once(onto_stack, db, stream_root):
    stack = onto_stack("streamapps.streams", project_root=stream_root, duplicate=0.3, fail=0.1, seed=11)
    rng = random.Random(5)
    payments = [{"account": f"a{rng.randrange(8)}", "cents": rng.randrange(1, 500)} for _ in range(1000)]
    ids = stack.publisher().publish("payments", [{"data": p, "attributes": {"source": "test"}} for p in payments])
    assert len(set(ids)) == 1000
    expected: dict[str, list[int]] = {}
    for p in payments:
        expected.setdefault(p["account"], []).append(p["cents"])

    def views() -> dict:
        return {d.id: d.to_dict() for d in db.collection("balances").get()}

    wait_for(lambda: sum(v["count"] for v in views().values()) >= 1000 and stack.wait_idle(1), timeout=600,
             message="1,000 messages applied")
    assert {k: (v["count"], v["cents"]) for k, v in views().items()} == {
        k: (len(c), sum(c)) for k, c in expected.items()}
    marks = _marks(db, TRIGGER)
    assert len(marks) == 1000
    assert {m.to_dict()["eventId"] for m in marks} == set(ids)
    assert db.collection(ledger.DEAD_LETTERS).get() == []
    counts = stack.snapshot()[TRIGGER]
    assert counts.get("injected_duplicates", 0) > 0 and counts.get("injected_failures", 0) > 0, counts


def test_a_schedule_fires_on_time_each_scheduled_time_once(onto_stack, db, stream_root):
    stack = onto_stack("streamapps.streams", project_root=stream_root, duplicate=0.5, seed=3, tick_seconds=1.0)
    started = datetime.now(timezone.utc)
    wait_for(lambda: len(db.collection("beats").get()) >= 3, timeout=60, message="three ticks")
    beats = sorted(d.to_dict()["at"] for d in db.collection("beats").get())
    assert all(b >= started.replace(microsecond=0) for b in beats)
    assert all(b.microsecond == 0 for b in beats)  # on the period's boundaries
    stack.wait_idle(10)
    total = db.document("heartbeat/total").get().to_dict()["count"]
    assert total == len(db.collection("beats").get())  # a duplicated tick counted once
    applied_at = {m.to_dict()["eventId"]: m.to_dict()["committedAt"] for m in _marks(db, "heartbeat-beat")}
    for beat in beats:  # each applied within seconds of its scheduled time
        key = beat.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert key in applied_at and (applied_at[key] - beat).total_seconds() < 10


def test_invoke_sends_a_tick_and_a_message_through_the_stack(onto_stack, db, stream_root):
    stack = onto_stack("streamapps.streams", project_root=stream_root)
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    record = stack.invoke("heartbeat-beat", at=at)
    assert record["outcome"] == "applied", record
    assert stack.invoke("heartbeat-beat", at=at)["outcome"] == "duplicate"
    assert db.document("beats/20300102T030405.000000").get().exists
    record = stack.invoke(TRIGGER, data={"account": "inv", "cents": 7})
    assert record["outcome"] == "applied", record
    assert db.document("balances/inv").get().to_dict()["cents"] == 7
    record = stack.invoke(TRIGGER, data={"account": "inv"})  # does not fit the schema: dead-lettered at once
    assert record["outcome"] == "dead_lettered" and "cents" in record.get("detail", ""), record


def test_onto_emulate_and_invoke_from_the_command_line(stream_root, tmp_path):
    import subprocess
    import uuid

    from emulator_tests.test_local_stack import ONTO, Emulate

    project = f"demo-cli-{uuid.uuid4().hex[:8]}"
    stack = Emulate(["streamapps.streams", "--project", project, "--fresh"], stream_root, tmp_path / "emulate.log")
    try:
        ready = stack.ready()
        assert ready.get("pubsub") and ready["triggers"]["heartbeat-beat"]["source"].startswith("schedule:")

        def invoke(*args: str) -> tuple[int, dict]:
            done = subprocess.run([ONTO, "invoke", *args, "--project", project], cwd=stream_root,
                                  capture_output=True, text=True, timeout=120)
            return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}

        code, record = invoke("heartbeat-beat", "--at", "2031-05-06T07:08:09Z")
        assert code == 0 and record["outcome"] == "applied", record
        code, record = invoke("heartbeat-beat", "--at", "2031-05-06T07:08:09Z")
        assert code == 0 and record["outcome"] == "duplicate", record
        code, record = invoke("payment-credit", "--data", '{"account": "cli", "cents": 5}', "--attribute", "source=cli")
        assert code == 0 and record["outcome"] == "applied", record
        code, record = invoke("payment-credit")  # no --data: a clear refusal, exit 2-ish, nothing sent
        assert code != 0 and "--data" in record["stderr"], record
    finally:
        assert stack.terminate() == 0


def test_the_entry_point_applies_a_message_once_and_refuses_what_is_not_its_own(db, project_id):
    import sys
    from datetime import timedelta

    from onto_functions.entrypoint import TriggerFunction
    from onto_functions.stream_encoding import encode_message, encode_tick
    from onto_functions.stream_events import MessageEvent, TickEvent

    sys.path.insert(0, str(APPS))
    try:
        import streams
    finally:
        sys.path.remove(str(APPS))
    credit = TriggerFunction(streams.PaymentMediator, TRIGGER, project=project_id)
    event = MessageEvent(id="m-1", time=datetime.now(timezone.utc), project=project_id, database="(default)",
                         topic="payments", data=b'{"account": "e", "cents": 9}')
    headers, body = encode_message(event, form="binary")
    assert credit.handle(headers, body).body["outcome"] == "applied"
    redelivered = {**headers, "ce-id": "another-delivery-id"}
    assert credit.handle(redelivered, body).body["outcome"] == "duplicate"
    assert db.document("balances/e").get().to_dict()["count"] == 1
    foreign = encode_message(MessageEvent(**{**event.__dict__, "project": "demo-other", "id": "m-2"}), "binary")
    assert credit.handle(*foreign).body["outcome"] == "refused"
    assert credit.handle({"content-type": "application/json"}, b'{"message": 1}').body["outcome"] == "refused"
    unfit = MessageEvent(**{**event.__dict__, "id": "m-3", "data": b'{"account": "e"}'})
    answer = credit.handle(*encode_message(unfit, "push"))
    assert answer.status == 200 and answer.body["outcome"] == "dead_lettered", answer.body
    letters = {d.id: d.to_dict() for d in db.collection(ledger.DEAD_LETTERS).get()}
    assert len(letters) == 3 and any("cents" in d["error"] for d in letters.values())

    beat = TriggerFunction(streams.HeartbeatMediator, "heartbeat-beat", project=project_id)
    tick = TickEvent(time=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5),
                     project=project_id, database="(default)")
    assert beat.handle(*encode_tick(tick)).body["outcome"] == "applied"
    assert beat.handle(*encode_tick(tick)).body["outcome"] == "duplicate"
    assert beat.handle({"X-CloudScheduler-ScheduleTime": "noon"}, b"").body["outcome"] == "refused"
    assert db.document("heartbeat/total").get().to_dict()["count"] == 1


FIXED: list[bool] = []


def _until_fixed() -> None:
    if not FIXED:
        raise ValueError("not yet")


class FlakyMessages(Mediator):
    """Fails until FIXED, to dead-letter a message and replay it."""

    class Meta:
        max_deliveries = 1

    source = _source.pubsub("flaky")

    @source.triggers.on_message
    def take(self, message, store):
        _until_fixed()
        store.write(f"taken/{message.message_id}", {"value": message.value})


class FlakyTicks(Mediator):
    Meta = FlakyMessages.Meta
    source = _source.schedule("0 * * * *")

    @source.triggers.on_schedule
    def take(self, tick, store):
        _until_fixed()
        store.write("ticked/last", {"at": tick.scheduled_time})


def test_dead_lettered_messages_and_ticks_replay_once_after_the_fix(db, project_id):
    from onto_functions.entrypoint import TriggerFunction
    from onto_functions.ops import dead_letters as letters
    from onto_functions.ops.offline import offline_executor
    from onto_functions.stream_encoding import encode_message, encode_tick
    from onto_functions.stream_events import MessageEvent, TickEvent

    FIXED.clear()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    message = MessageEvent(id="f-1", time=now, project=project_id, database="(default)", topic="flaky", data=b"[1]")
    tick = TickEvent(time=now, project=project_id, database="(default)")
    for mediator, name, request in ((FlakyMessages, "flaky-messages-take", encode_message(message, "binary")),
                                    (FlakyTicks, "flaky-ticks-take", encode_tick(tick))):
        answer = TriggerFunction(mediator, name, project=project_id).handle(*request)
        assert answer.body["outcome"] == "dead_lettered", answer.body
    found = {letter.trigger: letter for letter in letters.dead_letters(db)}
    assert found["flaky-messages-take"].document == "topics/flaky"
    FIXED.append(True)
    try:
        for name, mediator in (("flaky-messages-take", FlakyMessages), ("flaky-ticks-take", FlakyTicks)):
            executor = offline_executor(mediator.trigger_spec(name))
            assert letters.replay(db, executor, found[name]).status == "applied"
            again = letters.dead_letter(db, found[name].id)
            assert letters.replay(db, executor, again).status == "duplicate"
    finally:
        FIXED.clear()
    assert db.document("taken/f-1").get().to_dict() == {"value": [1]}
    assert db.document("ticked/last").get().to_dict()["at"] == now
