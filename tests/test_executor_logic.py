"""The executor's pure parts: the watermark guess, retry bounds."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from onto_functions import Mediator, sink, source
from onto_functions.contention import ContentionPolicy
from onto_functions.executor import Executor
from onto_functions.watermarks import NO_GUESS, WatermarkCache
from onto_functions.testing.builders import document_event

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_a_create_with_no_history_guesses_absent_an_update_reads():
    cache = WatermarkCache()
    assert cache.guess(document_event("demo-p", "docs/a", after={"x": 1})) is None
    assert cache.guess(document_event("demo-p", "docs/a", before={"x": 1}, after={"x": 2})) is NO_GUESS


def test_a_remembered_watermark_is_guessed_only_for_newer_events():
    cache = WatermarkCache()
    applied = document_event("demo-p", "docs/a", before={"x": 1}, after={"x": 2}, update_time=T0)
    cache.remember(applied, T0 + timedelta(milliseconds=5))
    newer = document_event("demo-p", "docs/a", before={"x": 2}, after={"x": 3}, update_time=T0 + timedelta(seconds=1))
    older = document_event("demo-p", "docs/a", before={"x": 0}, after={"x": 1}, update_time=T0 - timedelta(seconds=1))
    assert cache.guess(newer) == T0 + timedelta(milliseconds=5)
    assert cache.guess(older) is NO_GUESS  # let the read decide: superseded
    assert cache.guess(applied) is NO_GUESS  # a redelivery: the read finds the mark
    cache.forget("docs/a")
    assert cache.guess(newer) is NO_GUESS


def test_the_cache_is_bounded_oldest_first():
    cache = WatermarkCache(size=2)
    for name in ("a", "b", "c"):
        cache.remember(document_event("demo-p", f"docs/{name}", before={}, after={"x": 1}), T0)
    update = lambda name: document_event("demo-p", f"docs/{name}", before={"x": 1}, after={"x": 2})  # noqa: E731
    assert cache.guess(update("a")) is NO_GUESS
    assert cache.guess(update("c")) == T0


def test_backoff_is_jittered_and_capped():
    policy = ContentionPolicy(base_delay=0.02, max_delay=1.0)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(1, 20)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) == len(delays)


class Quick(Mediator):
    class Meta:
        timeout_seconds = 20

    source = source.document("q/{id}")
    sink = sink.firestore()

    @source.triggers.on_write
    def run(self, change, store):
        pass


def test_contention_gives_up_before_the_function_times_out():
    executor = Executor(Quick.trigger_spec("quick-run"), Quick(), client_for=lambda p, d: None)
    assert executor.contention.deadline_seconds == 15.0
