"""The Query+Task executor on the real emulator: duplicates, stale events, contention, failures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from emulator_tests.apps.counter import BrokenMediator, LatestMediator, TallyMediator
from onto_functions import Mediator, ledger, sink, source
from onto_functions.entrypoint import TriggerFunction
from onto_functions.encoding import encode_cloudevent
from onto_functions.testing.builders import document_event

CREATED = "tally-count-created"


def tally(db, target: str) -> dict:
    snap = db.document(f"tallies/{target}").get()
    return snap.to_dict() if snap.exists else {}


def marks_for(db, event_id: str) -> list[dict]:
    query = db.collection(ledger.LEDGER).where(filter=FieldFilter("eventId", "==", event_id))
    return [s.to_dict() for s in query.get()]


@pytest.fixture
def counter(project_id) -> TriggerFunction:
    return TriggerFunction(TallyMediator, CREATED, project=project_id)


def test_same_event_five_times_in_sequence_applies_once(db, project_id, counter):
    event = document_event(project_id, "hits/h1", after={"target": "t", "amount": 3})
    outcomes = [counter.process(event).status for _ in range(5)]
    assert outcomes == ["applied"] + ["duplicate"] * 4
    assert tally(db, "t")["count"] == 1
    assert tally(db, "t")["total"] == 3
    assert len(marks_for(db, event.id)) == 1


def test_same_event_five_times_concurrently_applies_once(db, project_id, counter):
    event = document_event(project_id, "hits/h1", after={"target": "t"})
    with ThreadPoolExecutor(5) as pool:
        outcomes = sorted(o.status for o in pool.map(lambda _: counter.process(event), range(5)))
    assert outcomes == ["applied"] + ["duplicate"] * 4
    assert tally(db, "t")["count"] == 1
    assert tally(db, "t")["eventIds"] == [event.id]
    assert len(marks_for(db, event.id)) == 1


def test_duplicate_over_http_answers_2xx_and_writes_nothing(db, project_id, counter):
    event = document_event(project_id, "hits/h1", after={"target": "t"})
    headers, body = encode_cloudevent(event, form="base64")
    first = counter.handle(headers, body)
    update_time = db.document("tallies/t").get().update_time
    second = counter.handle(headers, body)
    assert (first.status, first.body["outcome"]) == (200, "applied")
    assert (second.status, second.body["outcome"]) == (200, "duplicate")
    assert db.document("tallies/t").get().update_time == update_time


def test_older_event_after_newer_one_keeps_newer_state(db, project_id):
    mirror = TriggerFunction(LatestMediator, "latest-mirror")
    old = document_event(project_id, "docs/d1", before={"state": "a"}, after={"state": "b"})
    new = document_event(project_id, "docs/d1", before={"state": "b"}, after={"state": "c"})
    assert mirror.process(new).status == "applied"
    assert mirror.process(old).status == "superseded"
    assert db.document("latest/d1").get().to_dict()["state"] == "c"
    # the superseded event is marked too, so its redelivery is a cheap duplicate
    assert mirror.process(old).status == "duplicate"


def test_late_update_after_delete_does_not_resurrect(db, project_id):
    mirror = TriggerFunction(LatestMediator, "latest-mirror")
    update = document_event(project_id, "docs/d1", before={"state": "a"}, after={"state": "b"})
    delete = document_event(project_id, "docs/d1", before={"state": "b"},
                            before_update_time=update.after.update_time)
    assert mirror.process(delete).status == "applied"
    assert mirror.process(update).status == "superseded"
    assert db.document("latest/d1").get().to_dict()["deleted"] is True


def test_twenty_events_on_one_hot_view_all_land_once(db, project_id, counter):
    events = [document_event(project_id, f"hits/h{i}", after={"target": "hot", "amount": i}) for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(counter.process, events))
    assert [o.status for o in outcomes] == ["applied"] * 20
    # One instance queues writers of a contended view (hot_documents.py): a loser of the
    # first round waits its turn and then commits, so no event needs a third attempt.
    assert max(o.commit_attempts for o in outcomes) <= 2
    view = tally(db, "hot")
    assert view["count"] == 20
    assert view["total"] == sum(range(20))
    assert sorted(view["eventIds"]) == sorted(e.id for e in events)


def test_failing_handler_is_retried_then_dead_lettered(db, project_id):
    broken = TriggerFunction(BrokenMediator, "broken-explode", project=project_id)
    limit = broken.spec.options.max_deliveries
    event = document_event(project_id, "broken/b1", after={"x": 1})
    headers, body = encode_cloudevent(event, form="protobuf")
    answers = [broken.handle(headers, body) for _ in range(limit)]
    assert [a.status for a in answers[:-1]] == [500] * (limit - 1)
    assert all("handler bug while processing broken/b1" in a.body["detail"] for a in answers[:-1])
    assert (answers[-1].status, answers[-1].body["outcome"]) == (200, "dead_lettered")
    dead = db.document(ledger.dead_letter_path("broken-explode", ledger.event_key(event))).get().to_dict()
    assert "RuntimeError: handler bug while processing broken/b1" in dead["error"]
    assert dead["failedDeliveries"] == limit
    assert dead["document"] == "broken/b1" and dead["request"]["truncated"] is False
    assert ledger.EXPIRY_FIELD not in dead  # kept until someone handles it
    assert marks_for(db, event.id) == []
    # a redelivery after that is acknowledged, not re-run forever
    assert broken.handle(headers, body).body["outcome"] == "dead_lettered"


def test_event_that_does_not_fit_the_model_is_dead_lettered_at_once(db, project_id, counter):
    event = document_event(project_id, "hits/h9", after={"target": 42, "amount": "many"})
    outcome = counter.process(event)
    assert outcome.status == "dead_lettered"
    assert "hits/h9" in outcome.detail and "'target'" in outcome.detail and "'amount'" in outcome.detail
    assert tally(db, "42") == {}


def test_bookkeeping_stays_under_the_reserved_prefix(db, project_id, counter):
    counter.process(document_event(project_id, "hits/h1", after={"target": "t"}))
    names = {c.id for c in db.collections()}
    assert names == {"tallies", ledger.LEDGER}  # every-event semantics keeps no watermark
    mark = db.collection(ledger.LEDGER).get()[0].to_dict()
    assert mark[ledger.EXPIRY_FIELD] > mark["committedAt"]


def test_requests_that_can_never_succeed_are_recorded_and_acknowledged(db, project_id):
    """Eventarc retries every non-2xx answer for a day: a 4xx would cost a day of retries."""
    counter = TriggerFunction(TallyMediator, CREATED, project=project_id)
    event = document_event(project_id, "hits/h1", after={"target": "t"})
    headers, body = encode_cloudevent(event, form="protobuf")
    truncated = counter.handle(headers, body[: len(body) // 2])
    no_id = counter.handle({k: v for k, v in headers.items() if k.lower() != "ce-id"}, body)
    wrong_type = counter.handle({**{k: v for k, v in headers.items() if k.lower() != "ce-datacontenttype"},
                                 "Content-Type": "text/plain"}, body)
    for answer, words in ((truncated, "protobuf"), (no_id, "ce-id"), (wrong_type, "text/plain")):
        assert (answer.status, answer.body["outcome"]) == (200, "refused")
        assert words in answer.body["error"]
        dead = db.document(f"{ledger.DEAD_LETTERS}/{CREATED}~{answer.body['deadLetter']}").get().to_dict()
        assert words in dead["error"] and dead["refused"] is True
    again = counter.handle(headers, body[: len(body) // 2])
    assert again.body["deadLetter"] == truncated.body["deadLetter"]  # one record per distinct request
    assert len(db.collection(ledger.DEAD_LETTERS).get()) == 3
    assert tally(db, "t") == {}


def test_late_create_on_a_fresh_instance_is_superseded_not_applied(db, project_id):
    """A new instance guesses that a create's document has no watermark; the commit proves it wrong."""
    create = document_event(project_id, "docs/d1", after={"state": "created"})
    update = document_event(project_id, "docs/d1", before={"state": "created"}, after={"state": "updated"})
    assert TriggerFunction(LatestMediator, "latest-mirror").process(update).status == "applied"
    fresh_instance = TriggerFunction(LatestMediator, "latest-mirror")
    outcome = fresh_instance.process(create)
    assert outcome.status == "superseded"
    assert outcome.commit_attempts == 1  # the guess; the read after it settles without a re-run
    assert db.document("latest/d1").get().to_dict()["state"] == "updated"


def test_dead_lettered_event_redelivered_to_a_fresh_instance_is_not_applied(db, project_id):
    event = document_event(project_id, "hits/h1", after={"target": "t"})
    db.document(ledger.dead_letter_path(CREATED, ledger.event_key(event))).set({"error": "earlier failure"})
    outcome = TriggerFunction(TallyMediator, CREATED).process(event)
    assert outcome.status == "dead_lettered"
    assert tally(db, "t") == {}


def test_handler_creating_an_existing_document_fails_at_once_not_after_the_deadline(db, project_id):
    class Creator(Mediator):
        source = source.document("orders/{order_id}")
        sink = sink.firestore()

        @source.triggers.on_create
        def receipt(self, change, store):
            store.create_document(f"receipts/{change.params['order_id']}", {"ok": True})

    db.document("receipts/o1").set({"ok": "made elsewhere"})
    outcome = TriggerFunction(Creator, "creator-receipt").process(
        document_event(project_id, "orders/o1", after={"n": 1}))
    assert outcome.status == "failed"
    assert "receipts/o1" in outcome.detail and "already exists" in outcome.detail
    assert outcome.commit_attempts == 1
