"""Backfill over existing documents: each document's state applied once, reruns and races included."""

from __future__ import annotations

import pytest

from onto_functions import Mediator, ledger, sink, source
from onto_functions.entrypoint import TriggerFunction
from onto_functions.ops import backfill
from onto_functions.ops.backfill import BackfillError, BackfillPlan, Checkpoint
from onto_functions.ops.offline import offline_executor
from onto_functions.testing.builders import document_event


class Points(Mediator):
    """Adds each player's points to its team's total: a delta, so any double apply shows."""

    source = source.document("players/{player_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def add(self, change, store):
        team = change.after["team"]
        seen = store.read(f"teams/{team}")
        store.write(f"teams/{team}", {"points": (seen.data["points"] if seen else 0) + change.after["points"]})


class Gone(Mediator):
    source = source.document("players/{player_id}")
    sink = sink.firestore()

    @source.triggers.on_delete
    def drop(self, change, store):
        pass


def seed(db, n: int) -> None:
    for start in range(0, n, 400):
        batch = db.batch()
        for i in range(start, min(n, start + 400)):
            batch.set(db.document(f"players/p{i:04d}"), {"team": "red" if i % 2 else "blue", "points": 1})
        batch.commit()


def totals(db) -> dict[str, int]:
    return {d.id: d.to_dict()["points"] for d in db.collection("teams").get()}


def plan(project_id, **kw) -> BackfillPlan:
    return BackfillPlan(Points.trigger_spec("points-add"), project_id, page_size=50, **kw)


def test_a_backfill_applies_each_document_once_and_a_rerun_applies_nothing(db, project_id, tmp_path):
    seed(db, 300)
    executor = offline_executor(Points.trigger_spec("points-add"))
    assert backfill.count(db, plan(project_id)) == 300
    first = backfill.run(db, executor, plan(project_id), checkpoint=Checkpoint(tmp_path / "cp.json"))
    assert first.outcomes == {"applied": 300}
    assert totals(db) == {"red": 150, "blue": 150}
    again = backfill.run(db, executor, plan(project_id), checkpoint=Checkpoint(tmp_path / "cp.json"))
    assert again.outcomes == {"duplicate": 300}
    assert totals(db) == {"red": 150, "blue": 150}


def test_an_interrupted_backfill_resumes_where_it_stopped(db, project_id, tmp_path):
    seed(db, 300)
    executor = offline_executor(Points.trigger_spec("points-add"))
    checkpoint = Checkpoint(tmp_path / "cp.json")

    def interrupt_after_two_pages(report):
        if report.done >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill.run(db, executor, plan(project_id), checkpoint=checkpoint, progress=interrupt_after_two_pages)
    assert checkpoint.load()["after"] == "players/p0099"
    rest = backfill.run(db, executor, plan(project_id), checkpoint=checkpoint)
    assert rest.outcomes == {"applied": 300} and rest.after is not None
    assert totals(db) == {"red": 150, "blue": 150}
    assert not (tmp_path / "cp.json").exists()


def test_a_live_event_for_a_state_the_backfill_applied_is_a_duplicate(db, project_id, tmp_path):
    seed(db, 10)
    backfill.run(db, offline_executor(Points.trigger_spec("points-add")), plan(project_id),
                 checkpoint=Checkpoint(None))
    snap = db.document("players/p0003").get()
    live = document_event(project_id, "players/p0003", after=snap.to_dict(), update_time=snap.update_time)
    assert TriggerFunction(Points, "points-add", project=project_id).process(live).status == "duplicate"
    assert sum(totals(db).values()) == 10


def test_where_and_limit_narrow_the_backfill(db, project_id):
    seed(db, 40)
    narrowed = plan(project_id, where=(("team", "red"),), limit=7)
    assert backfill.count(db, narrowed) == 7
    report = backfill.run(db, offline_executor(Points.trigger_spec("points-add")), narrowed,
                          checkpoint=Checkpoint(None))
    assert report.outcomes == {"applied": 7} and totals(db) == {"red": 7}
    assert len(db.collection(ledger.LEDGER).get()) == 7


def test_a_delete_trigger_cannot_be_backfilled(project_id):
    with pytest.raises(BackfillError, match="deletes"):
        BackfillPlan(Gone.trigger_spec("gone-drop"), project_id)
