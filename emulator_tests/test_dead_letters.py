"""Dead letters read back: listed, replayed through the trigger's own executor, discarded."""

from __future__ import annotations

import pytest

from onto_functions import Mediator, ledger, sink, source
from onto_functions.encoding import encode_cloudevent
from onto_functions.entrypoint import TriggerFunction
from onto_functions.executor import Executor
from onto_functions.ops import dead_letters as letters
from onto_functions.ops.dead_letters import ReplayError
from onto_functions.ops.offline import offline_executor
from onto_functions.testing.builders import document_event

FIXED: list[bool] = []


class Poisoned(Mediator):
    """Fails for a 'poison' document until the bug is fixed (FIXED)."""

    class Meta:
        max_deliveries = 2

    source = source.document("orders/{order_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def total(self, change, store):
        if change.after.get("poison") and not FIXED:
            raise ValueError(f"cannot total {change.document}")
        seen = store.read("totals/all")
        store.write("totals/all", {"n": (seen.data["n"] if seen else 0) + 1})


@pytest.fixture(autouse=True)
def unfixed():
    FIXED.clear()
    yield
    FIXED.clear()


def offline(project_id: str) -> Executor:
    """What `onto failures replay` runs: the trigger's executor, imported from its module, retries off."""
    return offline_executor(Poisoned.trigger_spec("poisoned-total"))


def poison(db, project_id):
    fn = TriggerFunction(Poisoned, "poisoned-total", project=project_id)
    event = document_event(project_id, "orders/bad", after={"poison": True})
    request = encode_cloudevent(event, form="protobuf")
    answers = [fn.handle(*request) for _ in range(2)]
    assert [a.body["outcome"] for a in answers] == ["failed", "dead_lettered"]
    return event


def test_a_replay_after_the_fix_applies_once_and_a_second_replay_is_a_duplicate(db, project_id):
    poison(db, project_id)
    [letter] = letters.dead_letters(db)
    assert (letter.trigger, letter.document, letter.failed_deliveries) == ("poisoned-total", "orders/bad", 2)
    assert "cannot total orders/bad" in letter.error

    FIXED.append(True)
    assert letters.replay(db, offline(project_id), letter).status == "applied"
    assert letters.dead_letters(db) == []
    assert db.document("totals/all").get().to_dict() == {"n": 1}
    again = letters.dead_letter(db, letter.id)  # kept as replayed
    assert letters.replay(db, offline(project_id), again).status == "duplicate"
    assert db.document("totals/all").get().to_dict() == {"n": 1}


def test_a_replay_that_fails_again_is_dead_lettered_again_not_lost(db, project_id):
    poison(db, project_id)
    [letter] = letters.dead_letters(db)
    outcome = letters.replay(db, offline(project_id), letter)
    assert outcome.status == "dead_lettered"
    [again] = letters.dead_letters(db)
    assert again.id == letter.id and "cannot total" in again.error


def test_a_discarded_event_stays_discarded_when_redelivered(db, project_id):
    event = poison(db, project_id)
    [letter] = letters.dead_letters(db)
    letters.discard(db, letter, "bad data, entered by hand")
    assert letters.dead_letters(db) == []
    FIXED.append(True)
    redelivered = TriggerFunction(Poisoned, "poisoned-total", project=project_id).process(event)
    assert redelivered.status == "duplicate"
    assert not db.document("totals/all").get().exists


def test_failing_events_are_listed_until_settled(db, project_id):
    fn = TriggerFunction(Poisoned, "poisoned-total", project=project_id)
    event = document_event(project_id, "orders/flaky", after={"poison": True})
    assert fn.process(event).status == "failed"
    [failing] = letters.failing_events(db)
    assert (failing.document, failing.deliveries) == ("orders/flaky", 1)
    FIXED.append(True)
    assert fn.process(event).status == "applied"
    assert letters.failing_events(db) == []


def test_a_refused_request_that_still_does_not_decode_is_not_replayed(db, project_id):
    fn = TriggerFunction(Poisoned, "poisoned-total", project=project_id)
    headers, body = encode_cloudevent(document_event(project_id, "orders/x", after={"a": 1}), form="protobuf")
    assert fn.handle(headers, body[:10]).body["outcome"] == "refused"
    [letter] = letters.dead_letters(db)
    assert letter.refused
    with pytest.raises(ReplayError, match="still does not decode"):
        letters.replay(db, offline(project_id), letter)
