"""Adversarial checks of exactly-once in production's conditions, on the real emulator.

Written by a reviewer who tried to break the executor; the ones that broke it
then are fixed and stay here as regressions.

Each `TriggerFunction` is one instance. A few tests inject a *delay* (a clock
that waits) or a *lost answer* (a real commit whose reply is replaced by
DeadlineExceeded) into an otherwise real client: Firestore itself is never
mocked, every write lands in the emulator.
"""

from __future__ import annotations

import pytest

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from onto_functions import Mediator, ledger, sink, source
from onto_functions.clients import document_client
from onto_functions.contention import ContentionPolicy
from onto_functions.encoding import encode_cloudevent
from onto_functions.entrypoint import TriggerFunction
from onto_functions.firestore_rest import FirestoreError, FirestoreRest
from onto_functions.ops import dead_letters as letters
from onto_functions.ops.offline import offline_executor
from onto_functions.testing.builders import document_event, next_time

QUICK = ContentionPolicy(max_commit_attempts=6, base_delay=0.001, max_delay=0.01)


def instance(mediator, trigger, project_id, **kw) -> TriggerFunction:
    return TriggerFunction(mediator, trigger, project=project_id, **kw)


def marks(db, trigger: str) -> list[dict]:
    query = db.collection(ledger.LEDGER).where(filter=FieldFilter("trigger", "==", trigger))
    return [s.to_dict() for s in query.get()]


def dead(db) -> list[dict]:
    return [d.to_dict() for d in db.collection(ledger.DEAD_LETTERS).get()]


# ---------------------------------------------------------------- 1. a dead-lettered event redelivered

FLAKY_RUNS: list[str] = []
FLAKY_FAIL: list[bool] = []


class Flaky(Mediator):
    """Fails while FLAKY_FAIL holds True; writes a counter otherwise."""

    class Meta:
        max_deliveries = 1

    source = source.document("flakies/{id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def bump(self, change, store):
        FLAKY_RUNS.append(change.event.id)
        if FLAKY_FAIL:
            raise RuntimeError("flaky")
        store.write(f"bumped/{change.params['id']}", {"n": 1})


def test_a_redelivered_dead_lettered_event_is_settled_without_rerunning_the_handler(db, project_id):
    """Eventarc delivers at least once: a copy of an event may arrive after it was dead-lettered.
    The commit's assertion that no dead letter exists fails, and the ledger read that follows
    (never skipped twice in a row) settles it without running the handler again."""
    FLAKY_RUNS.clear(), FLAKY_FAIL.clear()
    FLAKY_FAIL.append(True)
    event = document_event(project_id, "flakies/f1", after={"x": 1})
    assert instance(Flaky, "flaky-bump", project_id).process(event).status == "dead_lettered"
    FLAKY_FAIL.clear()  # the transient cause is gone; a duplicate delivery arrives on a fresh instance
    FLAKY_RUNS.clear()
    again = instance(Flaky, "flaky-bump", project_id, contention=QUICK).process(event)
    assert again.status == "dead_lettered"
    assert not db.document("bumped/f1").get().exists
    assert (again.commit_attempts, len(FLAKY_RUNS)) == (1, 1), (again, FLAKY_RUNS)


# ---------------------------------------------------------------- 2. at_least_once and a create

class LooseReceipts(Mediator):
    class Meta:
        mode = "at_least_once"

    source = source.document("looseorders/{order_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def issue(self, change, store):
        store.create_document(f"looseReceipts/{change.params['order_id']}", {"n": 1})


def test_at_least_once_a_create_that_exists_is_the_handlers_failure_not_endless_contention(db, project_id):
    """No ledger in this mode: a rejected create of a document that exists is the handler's
    failure (counted, then dead-lettered), never endless contention."""
    event = document_event(project_id, "looseorders/o1", after={"n": 1})
    assert instance(LooseReceipts, "loose-receipts-issue", project_id).process(event).status == "applied"
    again = instance(LooseReceipts, "loose-receipts-issue", project_id, contention=QUICK).process(event)
    assert again.status in ("failed", "dead_lettered"), again
    assert again.failed_deliveries == 1 and again.commit_attempts == 1, again


# ---------------------------------------------------------------- 3. dead letter after a concurrent apply

class Sometimes(Mediator):
    """Fails on the instance whose name is in FAILING_INSTANCES."""

    class Meta:
        max_deliveries = 1

    source = source.document("sometimes/{id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def run(self, change, store):
        if threading.current_thread().name.startswith("failing"):
            raise RuntimeError("this instance's dependency is down")
        store.write(f"ran/{change.params['id']}", {"ok": True})


def test_an_event_applied_by_another_instance_is_not_also_dead_lettered(db, project_id):
    """B's handler fails and B reads the ledger (no mark); A applies the event; B, paused, then
    goes to dead-letter it. The dead letter's commit asserts the mark's absence, so B answers
    duplicate instead."""
    event = document_event(project_id, "sometimes/s1", after={"x": 1})
    a, b = instance(Sometimes, "sometimes-run", project_id), instance(Sometimes, "sometimes-run", project_id)
    b_read, a_done = threading.Event(), threading.Event()
    real_clock = b.executor.failures.clock

    def paused_clock():  # first called by FailureBook.count, after B's ledger read
        if not b_read.is_set():
            b_read.set()
            assert a_done.wait(30)
        return real_clock()

    b.executor.failures.clock = paused_clock
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.setdefault("b", b.process(event)), name="failing-b")
    t.start()
    assert b_read.wait(30)
    assert a.process(event).status == "applied"
    a_done.set()
    t.join(30)
    assert db.document("ran/s1").get().exists
    assert (result["b"].status, dead(db)) == ("duplicate", []), (result["b"], dead(db))


# ---------------------------------------------------------------- 4. replay after max_event_age

POISON_FIXED: list[bool] = []


class Poison(Mediator):
    class Meta:
        max_deliveries = 1

    source = source.document("poison/{id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def total(self, change, store):
        if not POISON_FIXED:
            raise ValueError("bug")
        store.write(f"totals/{change.params['id']}", {"ok": True})


def test_a_replay_days_later_applies_the_fixed_event(db, project_id):
    """Dead letters are kept until handled, and fixing a bug takes days: a replay runs the event
    as of now, past any age limit the original delivery had."""
    POISON_FIXED.clear()
    event = document_event(project_id, "poison/p1", after={"x": 1})
    assert instance(Poison, "poison-total", project_id).process(event).status == "dead_lettered"
    [letter] = letters.dead_letters(db)
    POISON_FIXED.append(True)
    try:
        replayer = offline_executor(Poison.trigger_spec("poison-total"))
        two_days_later = lambda: ledger.utcnow() + timedelta(days=2)  # noqa: E731
        replayer.clock = replayer.failures.clock = two_days_later
        outcome = letters.replay(db, replayer, letter)
    finally:
        POISON_FIXED.clear()
    assert outcome.status == "applied", outcome
    assert db.document("totals/p1").get().exists


# ---------------------------------------------------------------- 5. a commit whose answer was lost

class LostAnswers(FirestoreRest):
    """A real client whose next `n` commits land and then report DEADLINE_EXCEEDED."""

    def __init__(self, client: Any, n: int = 1) -> None:
        real = document_client(client)
        super().__init__(real.project, real.database, emulator_host=real.emulator_host)
        self.left = n

    def commit(self, writes: list, transaction: str | None = None) -> list:
        result = super().commit(writes, transaction)
        if self.left > 0:
            self.left -= 1
            raise FirestoreError("DEADLINE_EXCEEDED", "answer lost")
        return result


class Counting(Mediator):
    source = source.document("countme/{id}")
    sink = sink.firestore()

    @source.triggers.on_update
    def count(self, change, store):
        seen = store.read("counts/all")
        store.write("counts/all", {"n": (seen.data["n"] if seen else 0) + 1})


def test_a_commit_whose_answer_was_lost_is_applied_once(db, project_id):
    lossy = LostAnswers(db, n=1)
    fn = instance(Counting, "counting-count", project_id, client_for=lambda p, d: lossy)
    event = document_event(project_id, "countme/c1", before={"v": 0}, after={"v": 1})
    first = fn.process(event)
    assert first.status == "applied", first
    assert instance(Counting, "counting-count", project_id).process(event).status == "duplicate"
    assert db.document("counts/all").get().to_dict() == {"n": 1}


def test_a_failure_count_whose_answer_was_lost_counts_once(db, project_id):
    class Broken(Mediator):
        class Meta:
            max_deliveries = 3

        source = source.document("broken/{id}")
        sink = sink.firestore()

        @source.triggers.on_create
        def go(self, change, store):
            raise RuntimeError("always")

    lossy = LostAnswers(db, n=1)
    fn = instance(Broken, "broken-go", project_id, client_for=lambda p, d: lossy)
    event = document_event(project_id, "broken/b1", after={"x": 1})
    assert fn.process(event).failed_deliveries == 1
    assert fn.process(event).failed_deliveries == 2


# ---------------------------------------------------------------- 6. retry=False under contention and concurrency

def test_a_contended_event_with_retries_off_is_dead_lettered_not_dropped(db, project_id):
    interference: list[int] = []

    class OneShotContested(Mediator):
        class Meta:
            retry = False

        source = source.document("oneshotc/{id}")
        sink = sink.firestore()

        @source.triggers.on_create
        def bump(self, change, store):
            seen = store.read("views/osc")
            db.document("views/osc").set({"n": len(interference)})
            interference.append(1)
            store.write("views/osc", {"n": (seen.data["n"] if seen else 0) + 1})

    fn = instance(OneShotContested, "one-shot-contested-bump", project_id, contention=QUICK)
    headers, body = encode_cloudevent(document_event(project_id, "oneshotc/c1", after={"x": 1}), form="protobuf")
    answer = fn.handle(headers, body)
    assert (answer.status, answer.body["outcome"]) == (200, "dead_lettered"), answer.body
    assert len(dead(db)) == 1


def test_concurrent_failing_deliveries_with_retries_off_never_answer_an_exception(db, project_id):
    class NoRetry(Mediator):
        class Meta:
            retry = False

        source = source.document("noretry/{id}")
        sink = sink.firestore()

        @source.triggers.on_create
        def go(self, change, store):
            raise RuntimeError("down")

    event = document_event(project_id, "noretry/n1", after={"x": 1})
    headers, body = encode_cloudevent(event, form="protobuf")
    n = 14
    barrier = threading.Barrier(n)

    def deliver(_):
        fn = instance(NoRetry, "no-retry-go", project_id)
        barrier.wait(30)
        return fn.handle(headers, body)

    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(deliver, range(n)))
    statuses = sorted((a.status, a.body["outcome"]) for a in answers)
    assert {s for s, _ in statuses} == {200}, statuses  # retry=False: a 500 is never redelivered


# ---------------------------------------------------------------- 7. semantics

class LatestCopy(Mediator):
    class Meta:
        semantics = "latest_state"

    source = source.document("things/{id}")
    sink = sink.firestore()

    @source.triggers.on_write
    def copy(self, change, store):
        path = f"copies/{change.params['id']}"
        if change.after is None:
            store.remove(path)
        else:
            store.write(path, dict(change.after))


def _delete_recreate(project_id):
    t1 = next_time()
    create = document_event(project_id, "things/x", after={"v": 1}, update_time=t1)
    # ce-time truncated to whole seconds, as the emulator sends it
    delete = document_event(project_id, "things/x", before={"v": 1}, before_update_time=t1,
                            time=t1.replace(microsecond=0))
    t3 = next_time()
    recreate = document_event(project_id, "things/x", after={"v": 2}, update_time=t3)
    return create, delete, recreate


def test_latest_state_delete_and_recreate_in_order_on_fresh_instances(db, project_id):
    create, delete, recreate = _delete_recreate(project_id)
    got = [instance(LatestCopy, "latest-copy-copy", project_id).process(e).status for e in (create, delete, recreate)]
    assert got == ["applied"] * 3
    assert db.document("copies/x").get().to_dict() == {"v": 2}


def test_latest_state_delete_and_recreate_reordered_on_a_warm_instance(db, project_id):
    create, delete, recreate = _delete_recreate(project_id)
    fn = instance(LatestCopy, "latest-copy-copy", project_id)
    got = [fn.process(e).status for e in (recreate, delete, create, recreate)]
    assert got == ["applied", "superseded", "superseded", "duplicate"]
    assert db.document("copies/x").get().to_dict() == {"v": 2}


def test_latest_state_watermark_cache_of_a_long_lived_instance_is_only_a_hint(db, project_id):
    events = [document_event(project_id, "things/w", before={"v": i}, after={"v": i + 1}) for i in range(4)]
    warm, other = (instance(LatestCopy, "latest-copy-copy", project_id) for _ in range(2))
    assert warm.process(events[0]).status == "applied"  # warm caches v1
    assert other.process(events[2]).status == "applied"  # another instance applies v3
    assert warm.process(events[1]).status == "superseded"  # newer than the cache, older than v3
    assert warm.process(events[2]).status == "duplicate"
    assert warm.process(events[3]).status == "applied"
    assert db.document("copies/w").get().to_dict() == {"v": 4}


def test_an_event_with_no_update_time_applies_once_across_instances(db, project_id):
    event = document_event(project_id, "countme/nut", before={"v": 0}, after={"v": 1})
    event = replace(event, after=replace(event.after, update_time=None), before=replace(event.before, update_time=None))
    assert instance(Counting, "counting-count", project_id).process(event).status == "applied"
    assert instance(Counting, "counting-count", project_id).process(event).status == "duplicate"
    assert db.document("counts/all").get().to_dict() == {"n": 1}


# ---------------------------------------------------------------- 8. handlers that read only, or write nothing

class Reader(Mediator):
    source = source.document("readers/{id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def look(self, change, store):
        store.read("config/main")  # reads, writes nothing


class Silent(Mediator):
    source = source.document("silents/{id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def nothing(self, change, store):
        pass


def test_read_only_and_write_nothing_handlers_apply_once_on_racing_fresh_instances(db, project_id):
    db.document("config/main").set({"a": 1})
    for mediator, trigger, doc in ((Reader, "reader-look", "readers/r1"), (Silent, "silent-nothing", "silents/s1")):
        event = document_event(project_id, doc, after={"x": 1})
        barrier = threading.Barrier(3)

        def deliver(_):
            fn = instance(mediator, trigger, project_id)
            barrier.wait(30)
            return fn.process(event).status

        with ThreadPoolExecutor(3) as pool:
            assert sorted(pool.map(deliver, range(3))) == ["applied", "duplicate", "duplicate"], trigger
        assert len(marks(db, trigger)) == 1


# ---------------------------------------------------------------- 9. hot documents

def test_a_hot_view_on_two_instances_counts_every_event_exactly(db, project_id):
    events = [document_event(project_id, f"countme/h{i}", before={"v": 0}, after={"v": 1}) for i in range(24)]
    fns = [instance(Counting, "counting-count", project_id) for _ in range(2)]
    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(lambda ie: fns[ie[0] % 2].process(ie[1]), enumerate(events)))
    assert {o.status for o in outcomes} == {"applied"}, [o.as_dict() for o in outcomes if o.status != "applied"]
    assert db.document("counts/all").get().to_dict() == {"n": 24}


# ---------------------------------------------------------------- 10. discard and replay races

def test_a_discard_racing_a_redelivery_leaves_the_event_either_applied_or_discarded(db, project_id):
    FLAKY_RUNS.clear(), FLAKY_FAIL.clear()
    FLAKY_FAIL.append(True)
    event = document_event(project_id, "flakies/d1", after={"x": 1})
    assert instance(Flaky, "flaky-bump", project_id).process(event).status == "dead_lettered"
    FLAKY_FAIL.clear()
    [letter] = letters.dead_letters(db)
    barrier = threading.Barrier(2)

    def discard(_):
        barrier.wait(30)
        letters.discard(db, letter, "by hand")
        return "discarded"

    def redeliver(_):
        fn = instance(Flaky, "flaky-bump", project_id, contention=QUICK)
        barrier.wait(30)
        return fn.process(event).status

    with ThreadPoolExecutor(2) as pool:
        d, r = pool.submit(discard, 0), pool.submit(redeliver, 0)
        d.result(), r.result()
    [mark] = marks(db, "flaky-bump")
    assert dead(db) == []
    applied = db.document("bumped/d1").get().exists
    assert applied == (mark["outcome"] == "applied"), (mark, applied)


def test_a_replay_racing_a_redelivery_applies_once(db, project_id):
    FLAKY_RUNS.clear(), FLAKY_FAIL.clear()
    FLAKY_FAIL.append(True)
    event = document_event(project_id, "flakies/r1", after={"x": 1})
    assert instance(Flaky, "flaky-bump", project_id).process(event).status == "dead_lettered"
    FLAKY_FAIL.clear()
    [letter] = letters.dead_letters(db)
    barrier = threading.Barrier(2)

    def replay(_):
        ex = offline_executor(Flaky.trigger_spec("flaky-bump"))
        barrier.wait(30)
        return letters.replay(db, ex, letter).status

    def redeliver(_):
        fn = instance(Flaky, "flaky-bump", project_id, contention=QUICK)
        barrier.wait(30)
        return fn.process(event).status

    with ThreadPoolExecutor(2) as pool:
        got = sorted(f.result() for f in (pool.submit(replay, 0), pool.submit(redeliver, 0)))
    assert got in (["applied", "duplicate"], ["applied", "dead_lettered"]), got
    assert len([m for m in marks(db, "flaky-bump") if m["outcome"] == "applied"]) == 1
    assert dead(db) == []


# ---------------------------------------------------------------- 11. deliveries that never return

class InstanceDied(BaseException):
    """What a delivery looks like from outside when the platform kills it mid-handler
    (function timeout, out of memory): no answer, nothing after the handler runs."""


class Hangs(Mediator):
    class Meta:
        max_deliveries = 3

    source = source.document("hangs/{id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def go(self, change, store):
        raise InstanceDied()


def test_an_event_whose_deliveries_always_die_is_dead_lettered_not_lost(db, project_id):
    """A handler that always exceeds the timeout (or OOMs) is killed before the failure is
    counted. Eventarc keeps redelivering for 24 h; the age limit (23 h by default) makes one
    of the last redeliveries dead-letter the event instead of running it again."""
    event = document_event(project_id, "hangs/h1", after={"x": 1})
    for _ in range(4):  # more than max_deliveries, each on a fresh instance
        with pytest.raises(InstanceDied):
            instance(Hangs, "hangs-go", project_id).process(event)
    late = instance(Hangs, "hangs-go", project_id)
    late.executor.clock = lambda: event.time + timedelta(hours=23, minutes=30)
    outcome = late.process(event)
    assert outcome.status == "dead_lettered" and "no delivery of it ever finished" in outcome.detail
    assert len(dead(db)) == 1


# ---------------------------------------------------------------- 12. options that break the ledger

def test_options_whose_ledger_forgets_before_redeliveries_stop_are_refused():
    """A mark that expires (TTL) before the event stops being delivered lets a redelivery
    apply it again: ledger_ttl_days=0, or max_event_age_seconds past the ledger's TTL."""
    import pytest

    from onto_functions.spec import TriggerOptions

    with pytest.raises(ValueError):
        TriggerOptions(ledger_ttl_days=0)
    with pytest.raises(ValueError):
        TriggerOptions(ledger_ttl_days=1, max_event_age_seconds=3 * 24 * 3600)


# ---------------------------------------------------------------- 13. latest_state: a slow failing delivery beside an applying one

SLOW_FAIL_GATE = threading.Event()


class LatestSometimes(Mediator):
    class Meta:
        semantics = "latest_state"
        max_deliveries = 1

    source = source.document("lsome/{id}")
    sink = sink.firestore()

    @source.triggers.on_update
    def run(self, change, store):
        if threading.current_thread().name.startswith("failing"):
            assert SLOW_FAIL_GATE.wait(30)  # a slow dependency, which then fails
            raise RuntimeError("dependency timed out")
        store.write(f"lran/{change.params['id']}", {"v": change.after["v"]})


def test_latest_state_an_event_applied_while_another_delivery_failed_slowly_is_not_dead_lettered(db, project_id):
    """Latest state reads the ledger before the handler (an update has no guess); a failure
    that comes after a concurrent apply re-reads it before counting, and is a duplicate."""
    SLOW_FAIL_GATE.clear()
    event = document_event(project_id, "lsome/s1", before={"v": 0}, after={"v": 1})
    a, b = (instance(LatestSometimes, "latest-sometimes-run", project_id) for _ in range(2))
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.setdefault("b", b.process(event)), name="failing-b")
    t.start()
    assert a.process(event).status == "applied"
    SLOW_FAIL_GATE.set()
    t.join(30)
    assert (result["b"].status, dead(db)) == ("duplicate", []), (result["b"], dead(db))
