"""A slow trigger beside a fast one: for "a slow handler holds back only its own trigger" and
for crash recovery (a backlog builds up behind a handler that takes its time).

Each `paced/{id}` document says how long its handler sleeps (`sleep`, seconds).
"""

from __future__ import annotations

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


class PacedMediator(Mediator):
    """Sleeps as long as the document asks, then copies `n`."""

    source = source.document("paced/{item_id}")
    sink = sink.firestore(PacedView)

    @source.triggers.on_write
    def apply(self, change: Change[dict], tx: Store) -> None:
        data = change.after or {}
        # The handler's own slow work (a slow API, a heavy query), not a test waiting:
        # tests wait with wait_for's deadline.
        time.sleep(float(data.get("sleep", 0)))
        self.sink.emit(tx, PacedView(n=data.get("n")), item_id=change.params["item_id"])


class QuickMediator(Mediator):
    """Copies `n` at once."""

    source = source.document("quick/{item_id}")
    sink = sink.firestore(QuickView)

    @source.triggers.on_write
    def apply(self, change: Change[dict], tx: Store) -> None:
        data = change.after or {}
        self.sink.emit(tx, QuickView(n=data.get("n")), item_id=change.params["item_id"])
