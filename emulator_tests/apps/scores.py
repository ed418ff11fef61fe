"""Views a backfill racing live writes must get right: a delta total, a per-document state log, a mirror.

`ScoresMediator` runs under every-event semantics and adds each event's
change of `points` to its team's total (after - before): a state applied
twice, or a state skipped, leaves a wrong total. It also logs, per player,
every state it applied (update times), so the test counts applications per
document state. `MirrorMediator` copies the latest state (latest-state
semantics: an old state never overwrites a newer one).
"""

from __future__ import annotations

from onto_functions import Change, Mediator, Store, sink, source


class ScoresMediator(Mediator):
    class Meta:
        semantics = "every_event"

    source = source.document("players/{player_id}")
    sink = sink.firestore()

    @source.triggers.on_write
    def add(self, change: Change[dict], store: Store) -> None:
        after, before = change.after or {}, change.before or {}
        team = after.get("team") or before.get("team")
        seen = store.read(f"teams/{team}")
        delta = after.get("points", 0) - before.get("points", 0)
        store.write(f"teams/{team}", {"points": (seen.data["points"] if seen else 0) + delta})
        state = change.event.after.update_time.isoformat() if change.event.after else "deleted"
        log = store.read(f"applied/{change.params['player_id']}")
        states = [*(log.data["states"] if log else []), state]
        store.write(f"applied/{change.params['player_id']}", {"states": states})


class MirrorMediator(Mediator):
    class Meta:
        semantics = "latest_state"

    source = source.document("players/{player_id}")
    sink = sink.firestore()

    @source.triggers.on_write
    def copy(self, change: Change[dict], store: Store) -> None:
        if change.after is not None:
            store.write(f"mirror/{change.params['player_id']}", {"points": change.after["points"]})
