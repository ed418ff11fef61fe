"""A handler with a bug for one 'poison' order, fixed by an environment variable of the process that runs it.

The stack's workers never see the fix (they started without it), so the
order is dead-lettered there; `onto failures replay` runs the handler in the
CLI's own process, where the test sets OPS_TEST_FIXED=1.
"""

from __future__ import annotations

import os

from onto_functions import Change, Mediator, Store, sink, source


class PoisonMediator(Mediator):
    """Counts orders in totals/all (a delta: a double apply shows)."""

    class Meta:
        max_deliveries = 2

    source = source.document("orders/{order_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def total(self, change: Change[dict], store: Store) -> None:
        if change.after.get("poison") and os.environ.get("OPS_TEST_FIXED") != "1":
            raise ValueError(f"cannot total {change.document}: poison")
        seen = store.read("totals/all")
        store.write("totals/all", {"n": (seen.data["n"] if seen else 0) + 1})
