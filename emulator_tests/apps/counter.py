"""Handlers that are NOT idempotent on purpose: a double apply shows as a wrong count."""

from __future__ import annotations

from onto_functions import Change, DomainModel, Mediator, Store, ViewModel, fields, sink, source


class Hit(DomainModel):
    class Meta:
        collection = "hits"

    target = fields.Str(required=True)
    amount = fields.Int(load_default=1)


class Tally(ViewModel):
    class Meta:
        path = "tallies/{target}"

    count = fields.Int(required=True)
    total = fields.Int(required=True)
    event_ids = fields.List(fields.Str(), load_default=list)


class TallyMediator(Mediator):
    """Adds every hit to its target's tally: read, add one, write."""

    source = source.domain_model(Hit)
    sink = sink.firestore(Tally)

    @source.triggers.on_create
    @source.triggers.on_update
    def count(self, change: Change[Hit], store: Store) -> None:
        hit = change.after
        tally = store.get_view(Tally, target=hit.target) or Tally(target=hit.target, count=0, total=0)
        tally.count += 1
        tally.total += hit.amount
        tally.event_ids = [*tally.event_ids, change.event.id]
        self.sink.emit(store, tally, target=hit.target)


class Latest(ViewModel):
    class Meta:
        path = "latest/{doc_id}"

    state = fields.Str(allow_none=True)
    deleted = fields.Bool(load_default=False)


class LatestMediator(Mediator):
    """Copies a raw document's `state` into a view: an old event would regress it."""

    class Meta:
        semantics = "latest_state"

    source = source.document("docs/{doc_id}")
    sink = sink.firestore(Latest)

    @source.triggers.on_write
    def mirror(self, change: Change[dict], store: Store) -> None:
        doc_id = change.params["doc_id"]
        if change.after is None:
            self.sink.emit(store, Latest(state=None, deleted=True), doc_id=doc_id)
        else:
            self.sink.emit(store, Latest(state=change.after.get("state")), doc_id=doc_id)


class BrokenMediator(Mediator):
    """Always fails, the way a bug in a handler does."""

    class Meta:
        max_deliveries = 3

    source = source.document("broken/{doc_id}")
    sink = sink.firestore()

    @source.triggers.on_write
    def explode(self, change: Change[dict], store: Store) -> None:
        raise RuntimeError(f"handler bug while processing {change.document}")
