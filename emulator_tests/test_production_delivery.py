"""Exactly-once in production's conditions, on the real emulator.

Production runs several instances per trigger, cold-starts and replaces
them, and redelivers to whichever instance is free: a redelivery usually
meets an instance that never saw the first delivery. Each `TriggerFunction`
below is one such instance (its own executor, its own caches).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

from google.api_core.exceptions import NotFound
from google.cloud.firestore_v1.base_query import FieldFilter

from onto_functions import DomainModel, Mediator, fields, ledger, sink, source
from onto_functions.contention import ContentionPolicy
from onto_functions.encoding import encode_cloudevent
from onto_functions.entrypoint import TriggerFunction
from onto_functions.testing.builders import document_event


class Receipts(Mediator):
    """Creates one receipt per order: a create fails if the receipt exists."""

    source = source.document("orders/{order_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def issue(self, change, store):
        store.create_document(f"receipts/{change.params['order_id']}", {"order": change.params["order_id"]})


class Edits(Mediator):
    """Counts every edit of a document: a delta, wrong if any event is skipped or doubled."""

    source = source.document("pages/{page_id}")
    sink = sink.firestore()

    @source.triggers.on_update
    def count(self, change, store):
        path = f"editCounts/{change.params['page_id']}"
        seen = store.read(path)
        store.write(path, {"edits": (seen.data["edits"] if seen else 0) + 1})


class LatestEdits(Edits):
    class Meta:
        semantics = "latest_state"

    @Edits.source.triggers.on_update(name="latest-edits-count")
    def count_latest(self, change, store):
        Edits.count(self, change, store)


def instance(mediator, trigger, project_id, **kw) -> TriggerFunction:
    """A fresh instance: nothing cached, as after a cold start."""
    return TriggerFunction(mediator, trigger, project=project_id, **kw)


def marks(db, trigger: str) -> list[dict]:
    query = db.collection(ledger.LEDGER).where(filter=FieldFilter("trigger", "==", trigger))
    return [s.to_dict() for s in query.get()]


def failures_and_dead_letters(db) -> list[str]:
    return [d.id for name in (ledger.FAILURES, ledger.DEAD_LETTERS) for d in db.collection(name).get()]


def test_a_redelivery_to_a_fresh_instance_is_a_duplicate_not_a_failure(db, project_id):
    event = document_event(project_id, "orders/o1", after={"n": 1})
    assert instance(Receipts, "receipts-issue", project_id).process(event).status == "applied"
    again = instance(Receipts, "receipts-issue", project_id).process(event)
    assert again.status == "duplicate"
    assert failures_and_dead_letters(db) == []


def test_concurrent_redeliveries_to_fresh_instances_apply_once(db, project_id):
    events = [document_event(project_id, f"orders/o{i}", after={"n": i}) for i in range(20)]
    first = instance(Receipts, "receipts-issue", project_id)
    assert {first.process(e).status for e in events} == {"applied"}
    barrier = threading.Barrier(2)

    def redeliver(event):
        fresh = instance(Receipts, "receipts-issue", project_id)
        barrier.wait(timeout=30)
        return fresh.process(event).status

    for event in events:  # two fresh instances at once, 20 times over
        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(redeliver, [event, event])) == ["duplicate", "duplicate"]
    assert len(marks(db, "receipts-issue")) == 20
    assert len(db.collection("receipts").get()) == 20
    assert failures_and_dead_letters(db) == []


def test_first_deliveries_racing_on_fresh_instances_apply_once(db, project_id):
    event = document_event(project_id, "orders/race", after={"n": 1})
    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: instance(Receipts, "receipts-issue", project_id).process(event).status,
                                   range(4)))
    assert outcomes == ["applied", "duplicate", "duplicate", "duplicate"]
    assert failures_and_dead_letters(db) == []


def test_a_handler_error_is_the_handlers_run_once_per_delivery(db, project_id):
    runs = []

    class Lookup(Mediator):
        source = source.document("lookups/{id}")
        sink = sink.firestore()

        @source.triggers.on_create
        def resolve(self, change, store):
            runs.append(change.event.id)
            raise NotFound("the document this handler needs is missing")

    fn = instance(Lookup, "lookup-resolve", project_id)
    event = document_event(project_id, "lookups/l1", after={"x": 1})
    first = fn.process(event)
    assert (first.status, first.failed_deliveries, first.commit_attempts) == ("failed", 1, 1)
    assert fn.process(event).failed_deliveries == 2
    assert len(runs) == 2  # once per delivery, never re-run as contention


def test_every_event_counts_each_of_five_quick_updates_in_any_order(db, project_id):
    updates = [document_event(project_id, "pages/p1", before={"v": i}, after={"v": i + 1}) for i in range(5)]
    fns = [instance(Edits, "edits-count", project_id) for _ in range(2)]
    for i, event in enumerate(reversed(updates)):  # newest first, alternating instances
        assert fns[i % 2].process(event).status == "applied"
    assert db.document("editCounts/p1").get().to_dict() == {"edits": 5}


def test_latest_state_supersedes_older_events_and_says_so(db, project_id):
    updates = [document_event(project_id, "pages/p2", before={"v": i}, after={"v": i + 1}) for i in range(5)]
    fn = instance(LatestEdits, "latest-edits-count", project_id)
    outcomes = [fn.process(e).status for e in reversed(updates)]
    assert outcomes == ["applied"] + ["superseded"] * 4
    assert db.document("editCounts/p2").get().to_dict() == {"edits": 1}
    assert sorted(m["outcome"] for m in marks(db, "latest-edits-count")) == ["applied"] + ["superseded"] * 4


def test_running_out_of_commit_races_redelivers_without_counting_a_failure(db, project_id):
    interference: list[int] = []

    class Contested(Mediator):
        source = source.document("contested/{id}")
        sink = sink.firestore()

        @source.triggers.on_create
        def bump(self, change, store):
            seen = store.read("views/contested")
            db.document("views/contested").set({"other": change.event.id, "n": len(interference)})
            interference.append(1)  # another writer changes the view every time
            store.write("views/contested", {"n": (seen.data["n"] if seen else 0) + 1})

    fn = instance(Contested, "contested-bump", project_id, contention=ContentionPolicy(max_commit_attempts=3, base_delay=0.001))
    headers, body = encode_cloudevent(document_event(project_id, "contested/c1", after={"x": 1}), form="protobuf")
    answer = fn.handle(headers, body)
    assert (answer.status, answer.body["outcome"], answer.body["commitAttempts"]) == (500, "contended", 3)
    assert failures_and_dead_letters(db) == []


def test_with_retries_off_a_failed_event_is_dead_lettered_at_once(db, project_id):
    class OneShot(Mediator):
        class Meta:
            retry = False

        source = source.document("oneshot/{id}")
        sink = sink.firestore()

        @source.triggers.on_create
        def fire(self, change, store):
            raise RuntimeError("no second chance")

    outcome = instance(OneShot, "one-shot-fire", project_id).process(
        document_event(project_id, "oneshot/x", after={"x": 1}))
    assert outcome.status == "dead_lettered" and outcome.acknowledged
    dead = db.collection(ledger.DEAD_LETTERS).get()
    assert len(dead) == 1 and "no second chance" in dead[0].to_dict()["error"]


def test_a_late_redelivery_of_an_applied_event_is_a_duplicate_not_a_dead_letter(db, project_id):
    event = document_event(project_id, "orders/late", after={"n": 1})
    assert instance(Receipts, "receipts-issue", project_id).process(event).status == "applied"
    fresh = instance(Receipts, "receipts-issue", project_id)
    fresh.executor.clock = lambda: event.time + timedelta(days=2)  # past max_event_age_seconds
    assert fresh.process(event).status == "duplicate"
    assert failures_and_dead_letters(db) == []


def test_concurrent_failed_deliveries_are_each_counted_once(db, project_id):
    class Flaky(Mediator):
        class Meta:
            max_deliveries = 100

        source = source.document("flaky/{id}")
        sink = sink.firestore()

        @source.triggers.on_create
        def fail(self, change, store):
            raise RuntimeError("down")

    event = document_event(project_id, "flaky/f1", after={"x": 1})
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: instance(Flaky, "flaky-fail", project_id).process(event).failed_deliveries,
                               range(8)))
    assert sorted(counts) == list(range(1, 9))
    assert db.document(ledger.failure_path("flaky-fail", ledger.event_key(event))).get().to_dict()["deliveries"] == 8


class Ticket(DomainModel):
    class Meta:
        collection = "tickets"

    user = fields.Str(required=True)
    seat = fields.Str(required=True)  # added after older tickets were written


class Seats(Mediator):
    source = source.domain_model(Ticket)
    sink = sink.firestore()

    @source.triggers.on_update
    def assign(self, change, store):
        store.write(f"seats/{change.after.seat}", {"user": change.after.user})

    @source.triggers.on_update(name="seats-moved")
    def moved(self, change, store):
        store.write(f"moves/{change.after.user}", {"from": change.before.seat, "to": change.after.seat})


def test_an_old_before_does_not_stop_a_handler_that_reads_only_after(db, project_id):
    event = document_event(project_id, "tickets/t1", before={"user": "ann"}, after={"user": "ann", "seat": "A1"})
    assert instance(Seats, "seats-assign", project_id).process(event).status == "applied"
    assert db.document("seats/A1").get().to_dict() == {"user": "ann"}
    moved = instance(Seats, "seats-moved", project_id).process(event)
    assert moved.status == "dead_lettered"  # at once: the event's data will never fit
    assert "before" in moved.detail and "'seat'" in moved.detail


def test_events_of_another_project_or_database_are_refused_never_served(db, project_id):
    fn = instance(Receipts, "receipts-issue", project_id)
    for foreign in (document_event("demo-someone-else", "orders/o1", after={"n": 1}),
                    replace(document_event(project_id, "orders/o1", after={"n": 1}), database="other-db")):
        headers, body = encode_cloudevent(foreign, form="protobuf")
        answer = fn.handle(headers, body)
        assert (answer.status, answer.body["outcome"]) == (200, "refused")
        assert "this function serves project" in answer.body["error"]
    assert db.collection("receipts").get() == []
    assert len(db.collection(ledger.DEAD_LETTERS).get()) == 2


def test_the_ledger_keys_a_state_not_a_delivery_id(db, project_id):
    """A backfill or a replay builds its own event for a state a live event already applied."""
    live = document_event(project_id, "orders/o7", after={"n": 1})
    assert instance(Receipts, "receipts-issue", project_id).process(live).status == "applied"
    synthetic = replace(live, id="backfill-orders-o7")
    assert instance(Receipts, "receipts-issue", project_id).process(synthetic).status == "duplicate"
    assert ledger.event_key(live) == ledger.event_key(synthetic)
    next_state = document_event(project_id, "orders/o8", after={"n": 1}, event_id=live.id)
    assert ledger.event_key(next_state) != ledger.event_key(live)
