"""The durable queue: what is put survives a reopen (and a crash), leases, retries, per-trigger capacity."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from onto_functions.local.queue import DEAD, DONE, PENDING, DurableQueue


@pytest.fixture
def queue(tmp_path):
    with DurableQueue(tmp_path / "q.sqlite") as q:
        yield q


def put(q: DurableQueue, trigger: str = "t", n: int = 1, **kw):
    return [q.put(trigger, f"{trigger}-e{i}", {"ce-id": f"e{i}"}, b"body%d" % i, document=f"docs/{i}", **kw)
            for i in range(n)]


def test_put_then_take_returns_the_event_with_headers_and_body(queue):
    [item] = put(queue)
    [taken] = queue.take(lambda trigger: 10)
    assert (taken.seq, taken.trigger, taken.event_id, taken.document) == (item.seq, "t", "t-e0", "docs/0")
    assert taken.headers == {"ce-id": "e0"} and taken.body == b"body0"
    assert queue.take(lambda trigger: 10) == []  # leased: not handed out twice


def test_capacity_is_per_trigger(queue):
    put(queue, "a", 5)
    put(queue, "b", 5)
    taken = queue.take(lambda trigger: 2 if trigger == "a" else 1)
    assert sorted(i.trigger for i in taken) == ["a", "a", "b"]


def test_delayed_event_is_not_due_until_its_time(queue):
    [item] = put(queue, delay=30.0)
    assert queue.take(lambda t: 10) == []
    assert queue.next_due() == pytest.approx(item.not_before)
    assert [i.seq for i in queue.take(lambda t: 10, now=item.not_before + 0.001)] == [item.seq]


def test_ack_retry_bury_states_and_attempts(queue):
    a, b, c = put(queue, n=3)
    queue.take(lambda t: 10)
    queue.ack(a, "applied")
    queue.retry(b, 0.0, "boom")
    queue.bury(c, "gave up")
    rows = {r["seq"]: r for r in queue.rows()}
    assert (rows[a.seq]["state"], rows[a.seq]["outcome"], rows[a.seq]["attempts"]) == (DONE, "applied", 1)
    assert (rows[b.seq]["state"], rows[b.seq]["attempts"], rows[b.seq]["last_error"]) == (PENDING, 1, "boom")
    assert (rows[c.seq]["state"], rows[c.seq]["last_error"]) == (DEAD, "gave up")
    assert queue.counts() == {PENDING: 1, DONE: 1, DEAD: 1}
    [again] = queue.take(lambda t: 10)
    assert again.seq == b.seq and again.attempts == 1


def test_release_returns_an_untried_lease(queue):
    [item] = put(queue)
    queue.take(lambda t: 10)
    queue.release(item)
    assert [i.seq for i in queue.take(lambda t: 10)] == [item.seq]
    assert item.attempts == 0


def test_pending_and_leased_events_survive_a_reopen(tmp_path):
    path = tmp_path / "q.sqlite"
    with DurableQueue(path) as q:
        a, b, c = put(q, n=3)
        q.take(lambda t: 10)  # all three leased; a and c still in flight when the process ends
        q.ack(b, "applied")
    with DurableQueue(path) as q:
        assert q.recovered == 2
        assert sorted(i.seq for i in q.take(lambda t: 10)) == [a.seq, c.seq]


def test_a_put_survives_sigkill_of_the_process(tmp_path):
    """Durable means: once put() returned, a SIGKILL cannot take the event back."""
    path = tmp_path / "q.sqlite"
    script = textwrap.dedent(f"""
        import os, signal, sys
        from onto_functions.local.queue import DurableQueue
        q = DurableQueue({str(path)!r})
        for i in range(50):
            q.put("t", f"e{{i}}", {{}}, b"x")
        print("stored", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9 and "stored" in proc.stdout
    with DurableQueue(path) as q:
        assert q.recovered == 50
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_copies_keep_their_origin(queue):
    [item] = put(queue)
    copy = queue.put("t", item.event_id, item.headers, item.body, copy_of=item.seq)
    assert copy.is_copy and copy.copy_of == item.seq and not item.is_copy
    assert {r["seq"]: r["copy_of"] for r in queue.rows()} == {item.seq: None, copy.seq: item.seq}


def test_forget_finished_keeps_pending(queue):
    a, b = put(queue, n=2)
    queue.take(lambda t: 10)
    queue.ack(a, "applied")
    assert queue.forget_finished(older_than=a.received_at + 3600) == 1
    assert [r["seq"] for r in queue.rows()] == [b.seq]


def test_synchronous_must_be_a_known_level(tmp_path):
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        DurableQueue(tmp_path / "q.sqlite", synchronous="OFF")


def test_one_delivery_per_document_at_a_time(queue):
    a1 = queue.put("t", "e1", {}, b"", document="docs/a")
    a2 = queue.put("t", "e2", {}, b"", document="docs/a")
    b1 = queue.put("t", "e3", {}, b"", document="docs/b")
    assert sorted(i.seq for i in queue.take(lambda t: 10)) == [a1.seq, b1.seq]
    assert queue.take(lambda t: 10) == []  # a2 waits for a1
    queue.ack(a1, "applied")
    assert [i.seq for i in queue.take(lambda t: 10)] == [a2.seq]


def test_documents_may_overlap_when_asked(queue):
    queue.put("t", "e1", {}, b"", document="docs/a")
    queue.put("t", "e2", {}, b"", document="docs/a")
    assert len(queue.take(lambda t: 10, one_per_document=False)) == 2
