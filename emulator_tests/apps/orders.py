"""Orders for the chaos test: one handler creates a document per event, one counts every event.

Neither is idempotent by itself, so production's delivery shows in the
result: a receipt created twice fails its create, and an event counted twice
(or skipped, or lost to a killed instance) leaves a wrong count. Only the
executor's exactly-once makes the result exact.
"""

from __future__ import annotations

from onto_functions import Change, Mediator, Store, sink, source

SHARDS = 10  # counters the events are spread over: a little contention, not one hot document


class ReceiptMediator(Mediator):
    """One receipt per order, created when the order is."""

    source = source.document("orders/{order_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def issue(self, change: Change[dict], store: Store) -> None:
        order_id = change.params["order_id"]
        store.create_document(f"receipts/{order_id}", {"order": order_id, "amount": change.after["amount"]})


class OrderTallyMediator(Mediator):
    """+1 into the order's shard counter for every event of the order (a delta: every event counts)."""

    class Meta:
        semantics = "every_event"

    source = source.document("orders/{order_id}")
    sink = sink.firestore()

    @source.triggers.on_write
    def count(self, change: Change[dict], store: Store) -> None:
        shard = (change.after or change.before)["shard"]
        path = f"orderCounts/s{shard}"
        seen = store.read(path)
        counted = seen.data if seen else {"events": 0, "eventIds": []}
        store.write(path, {"events": counted["events"] + 1, "eventIds": [*counted["eventIds"], change.event.id]})
