"""A slow trigger beside a fast one: for "a slow handler holds back only its own trigger" and
for crash recovery (a backlog builds up behind a handler that takes its time).

Each `paced/{id}` document says how long its handler may be held (`hold`, seconds): the
handler waits until the test opens the gate (the document `gates/open` exists) or the
hold runs out, so a test decides when slow work ends instead of guessing a duration.
"""

from __future__ import annotations

import threading
import time

from onto_functions import Change, Mediator, Store, ViewModel, fields, sink, source


class PacedView(ViewModel):
    class Meta:
        path = "paced_views/{item_id}"

    n = fields.Int(allow_none=True)


class QuickView(ViewModel):
    class Meta:
        path = "quick_views/{item_id}"

    n = fields.Int(allow_none=True)


_poll = threading.Event()  # never set: its wait() is the poll interval


def hold_until_gate(client, seconds: float) -> None:
    """Poll `gates/open` until it exists or `seconds` pass (a deadline, not a fixed pause)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and client.get_all(["gates/open"])[0] is None:  # unrecorded reads
        _poll.wait(min(0.02, max(0.0, deadline - time.monotonic())))


class PacedMediator(Mediator):
    """Held until the gate opens (at most `hold` s), then copies `n`."""

    source = source.document("paced/{item_id}")
    sink = sink.firestore(PacedView)

    @source.triggers.on_write
    def apply(self, change: Change[dict], store: Store) -> None:
        data = change.after or {}
        hold_until_gate(store.client, float(data.get("hold", 0)))  # the slow work, under the test's control
        self.sink.emit(store, PacedView(n=data.get("n")), item_id=change.params["item_id"])


class QuickMediator(Mediator):
    """Copies `n` at once."""

    source = source.document("quick/{item_id}")
    sink = sink.firestore(QuickView)

    @source.triggers.on_write
    def apply(self, change: Change[dict], store: Store) -> None:
        data = change.after or {}
        self.sink.emit(store, QuickView(n=data.get("n")), item_id=change.params["item_id"])
