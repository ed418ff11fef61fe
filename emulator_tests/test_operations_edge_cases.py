"""Operations (dead letters, backfill) under races and edge cases a reviewer chose to break them.

Real emulator, no mocks. Each test names the behaviour it expects.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from onto_functions import Mediator, ledger, sink, source
from onto_functions.encoding import encode_cloudevent
from onto_functions.entrypoint import TriggerFunction
from onto_functions.ops import backfill
from onto_functions.ops import dead_letters as letters
from onto_functions.ops.backfill import BackfillError, BackfillPlan, Checkpoint
from onto_functions.ops.offline import offline_executor
from onto_functions.ops.operator import Operator, OpsError
from onto_functions.ops.target import Target
from onto_functions.testing.builders import document_event

from emulator_tests.test_backfill import Points  # the delta total: any state applied twice or skipped shows
from emulator_tests.test_dead_letters import FIXED, Poisoned  # fails for a 'poison' order until FIXED

class Mirror(Mediator):
    class Meta:
        semantics = "latest_state"

    source = source.document("players/{player_id}")
    sink = sink.firestore()

    @source.triggers.on_write
    def copy(self, change, store):
        if change.after is not None:
            store.write(f"mirror/{change.params['player_id']}", {"points": change.after["points"]})


@pytest.fixture(autouse=True)
def unfixed():
    FIXED.clear()
    yield
    FIXED.clear()


def dead_letter(project_id: str, document: str):
    fn = TriggerFunction(Poisoned, "poisoned-total", project=project_id)
    event = document_event(project_id, document, after={"poison": True})
    request = encode_cloudevent(event, form="protobuf")
    answers = [fn.handle(*request).body["outcome"] for _ in range(Poisoned.trigger_spec("poisoned-total").options.max_deliveries)]
    assert answers[-1] == "dead_lettered", answers
    return fn, event


def seed(db, n: int, *, without_team_every: int = 0) -> None:
    batch = db.batch()
    for i in range(n):
        data = {"team": "red" if i % 2 else "blue", "points": 1}
        if without_team_every and i % without_team_every == 0:
            data.pop("team")
        batch.set(db.document(f"players/p{i:04d}"), data)
    batch.commit()


def totals(db) -> dict[str, int]:
    return {d.id: d.to_dict()["points"] for d in db.collection("teams").get()}


def points_plan(project_id: str, **kw) -> BackfillPlan:
    return BackfillPlan(Points.trigger_spec("points-add"), project_id, page_size=10, **kw)


def interrupt_after(n: int):
    def progress(report):
        if report.done >= n:
            raise KeyboardInterrupt
    return progress


# --------------------------------------------------------------------------- dead letters


def test_a_replay_racing_a_live_redelivery_applies_the_event_once(db, project_id):
    """A redelivery already in flight when the operator replays: one applies, the other is a duplicate."""
    pairs = [dead_letter(project_id, f"orders/bad{i}") for i in range(6)]
    FIXED.append(True)
    by_doc = {letter.document: letter for letter in letters.dead_letters(db)}
    outcomes: list[tuple[str, str]] = []

    for fn, event in pairs:
        letter = by_doc[event.document]
        barrier = threading.Barrier(2)
        seen: dict[str, str] = {}

        def replay() -> None:
            barrier.wait()
            seen["replay"] = letters.replay(db, offline_executor(Poisoned.trigger_spec("poisoned-total")), letter).status

        def live() -> None:
            barrier.wait()
            seen["live"] = fn.process(event).status

        threads = [threading.Thread(target=replay), threading.Thread(target=live)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        outcomes.append((seen["replay"], seen["live"]))
    assert db.document("totals/all").get().to_dict() == {"n": 6}, outcomes
    for replayed, live in outcomes:
        assert replayed in ("applied", "duplicate") and live in ("applied", "duplicate", "dead_lettered"), outcomes
        assert "applied" in (replayed, live), outcomes
    assert letters.dead_letters(db) == [] and letters.failing_events(db) == []


def test_a_refused_request_that_decodes_now_replays_once_then_is_a_duplicate(db, project_id):
    """A request an older decoder refused, kept whole: replayed, it applies once; listed nothing after."""
    fn = TriggerFunction(Poisoned, "poisoned-total", project=project_id)
    headers, body = encode_cloudevent(document_event(project_id, "orders/ok", after={"a": 1}), form="protobuf")
    fn.executor.failures.refuse(db, "k1", headers, body, "an older decoder could not read it")
    [letter] = letters.dead_letters(db)
    assert letter.refused
    executor = offline_executor(Poisoned.trigger_spec("poisoned-total"))
    assert letters.replay(db, executor, letter).status == "applied"
    assert letters.dead_letters(db) == []
    assert letters.replay(db, executor, letters.dead_letter(db, letter.id)).status == "duplicate"
    assert db.document("totals/all").get().to_dict() == {"n": 1}


def test_a_refused_request_for_another_project_is_not_replayed_into_this_one(db, project_id):
    fn = TriggerFunction(Poisoned, "poisoned-total", project=project_id)
    stranger = encode_cloudevent(document_event("demo-stranger", "orders/x", after={"a": 1}), form="protobuf")
    assert fn.handle(*stranger).body["outcome"] == "refused"
    [letter] = letters.dead_letters(db)
    with pytest.raises(letters.ReplayError, match="demo-stranger"):
        letters.replay(db, offline_executor(Poisoned.trigger_spec("poisoned-total")), letter)
    assert letters.dead_letters(db) == [letter]  # still there, untouched
    assert not db.document("totals/all").get().exists


def test_discard_then_replay_never_applies_the_event(db, project_id, tmp_path):
    fn, event = dead_letter(project_id, "orders/bad")
    [letter] = letters.dead_letters(db)
    letters.discard(db, letter, "by hand")
    FIXED.append(True)
    operator = Operator(Target(project_id, None), "emulator_tests.test_operations_edge_cases", tmp_path)
    with pytest.raises(OpsError, match="no dead letter"):
        operator.select([letter.id])
    assert operator.select(every=True) == []
    # a letter object kept from before the discard (a second shell's `replay ID` racing the discard)
    assert letters.replay(db, offline_executor(Poisoned.trigger_spec("poisoned-total")), letter).status == "duplicate"
    assert not db.document("totals/all").get().exists


def test_a_discard_mark_expires_with_the_ledger_like_every_mark(db, project_id):
    """Every ledger document carries expireAt (ledger.py); a discard's mark too, or it is kept forever."""
    _, event = dead_letter(project_id, "orders/bad")
    [letter] = letters.dead_letters(db)
    letters.discard(db, letter, "by hand")
    mark = db.document(ledger.mark_path("poisoned-total", ledger.event_key(event))).get().to_dict()
    assert mark["outcome"] == "discarded"
    assert ledger.EXPIRY_FIELD in mark, mark


# --------------------------------------------------------------------------- backfill


def test_a_backfill_where_a_field_some_documents_lack_runs_over_the_others(db, project_id):
    seed(db, 30, without_team_every=3)  # p0000, p0003, ... have no team
    narrowed = points_plan(project_id, where=(("team", "red"),))
    expected = sum(1 for i in range(30) if i % 3 and i % 2)
    assert backfill.count(db, narrowed) == expected
    report = backfill.run(db, offline_executor(Points.trigger_spec("points-add")), narrowed,
                          checkpoint=Checkpoint(None))
    assert report.outcomes == {"applied": expected} and totals(db) == {"red": expected}


def test_a_resumed_backfill_with_a_limit_stops_at_the_limit(db, project_id, tmp_path):
    """`--limit 25`, interrupted after 10, then resumed: 25 documents in all, not 10 + 25."""
    seed(db, 60)
    executor = offline_executor(Points.trigger_spec("points-add"))
    checkpoint = Checkpoint(tmp_path / "cp.json")
    with pytest.raises(KeyboardInterrupt):
        backfill.run(db, executor, points_plan(project_id, limit=25), checkpoint=checkpoint,
                     progress=interrupt_after(10))
    report = backfill.run(db, executor, points_plan(project_id, limit=25), checkpoint=checkpoint)
    applied = len(db.collection(ledger.LEDGER).get())
    assert applied == 25, f"{applied} documents backfilled under --limit 25 (report {report.as_dict()})"


def test_a_resumed_backfill_with_other_where_conditions_does_not_skip_documents(db, project_id, tmp_path):
    """Interrupted under --where team=red, then run without --where: the checkpoint belongs to the red
    run, so resuming from its place would skip documents; the run is refused, and a restart covers all."""
    seed(db, 40)
    executor = offline_executor(Points.trigger_spec("points-add"))
    checkpoint = Checkpoint(tmp_path / "cp.json")
    with pytest.raises(KeyboardInterrupt):
        backfill.run(db, executor, points_plan(project_id, where=(("team", "red"),)), checkpoint=checkpoint,
                     progress=interrupt_after(10))
    with pytest.raises(BackfillError, match="--restart"):
        backfill.run(db, executor, points_plan(project_id), checkpoint=checkpoint)
    checkpoint.clear()  # what --restart does
    backfill.run(db, executor, points_plan(project_id), checkpoint=checkpoint)
    assert totals(db) == {"red": 20, "blue": 20}


def test_a_backfill_resumed_after_its_snapshot_is_too_old_says_to_restart(db, project_id, tmp_path):
    """Firestore reads a past snapshot only within an hour: an older checkpoint must be refused with a
    one-line BackfillError naming --restart (not a raw Firestore error, not a silent read of today's data)."""
    seed(db, 20)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    old = datetime.now(timezone.utc) - timedelta(hours=2)
    checkpoint.save(backfill.BackfillReport(after="players/p0009", read_time=old))
    with pytest.raises(BackfillError, match="--restart"):
        backfill.run(db, offline_executor(Points.trigger_spec("points-add")), points_plan(project_id),
                     checkpoint=checkpoint)


def test_a_backfill_reads_its_snapshot_not_todays_documents(db, project_id, tmp_path):
    """The snapshot promise: a document created after the run's read time is not backfilled (its own
    live event applies it). If the emulator ignored read_time, this could not be tested here."""
    seed(db, 20)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    executor = offline_executor(Points.trigger_spec("points-add"))
    late = [False]

    def write_after_first_page(report):
        if not late[0]:
            late[0] = True
            db.document("players/p9999").set({"team": "late", "points": 5})

    backfill.run(db, executor, points_plan(project_id), checkpoint=checkpoint, progress=write_after_first_page)
    assert "late" not in totals(db)


def test_a_latest_state_backfill_racing_live_updates_ends_at_each_documents_latest_state(db, project_id):
    seed(db, 40)
    fn = TriggerFunction(Mirror, "mirror-copy", project=project_id)
    spec = Mirror.trigger_spec("mirror-copy")

    def live_update(i: int, points: int) -> None:
        ref = db.document(f"players/p{i:04d}")
        before = ref.get()
        ref.update({"points": points})
        after = ref.get()
        event = document_event(project_id, ref.path, before=before.to_dict(), after=after.to_dict(),
                               update_time=after.update_time, before_update_time=before.update_time)
        assert fn.process(event).status in ("applied", "superseded")

    def progress(report):  # between pages: change documents behind and ahead of the backfill
        for i in range(0, 40, 3):
            live_update(i, report.done * 100 + i)

    report = backfill.run(db, offline_executor(spec), BackfillPlan(spec, project_id, page_size=10),
                          checkpoint=Checkpoint(None), progress=progress)
    assert set(report.outcomes) <= {"applied", "superseded"}
    players = {s.id: s.to_dict()["points"] for s in db.collection("players").get()}
    mirror = {s.id: s.to_dict()["points"] for s in db.collection("mirror").get()}
    assert mirror == players


def test_an_unknown_letter_id_with_markup_is_printed_literally_by_the_cli(db, project_id, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from onto_functions_cli.main import app

    monkeypatch.chdir(tmp_path)  # FIRESTORE_EMULATOR_HOST is the session emulator's (the db fixture set it)
    result = CliRunner().invoke(app, ["failures", "show", "[bold]t~x[/bold]", "-p", project_id])
    assert result.exit_code == 2, result.output
    assert "[bold]t~x[/bold]" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_backfill_resumed_at_a_snapshot_older_than_its_documents_does_not_silently_do_nothing(db, project_id,
                                                                                                 tmp_path):
    """What the emulator does with the too-old read time: it reads the past, so documents written since
    are skipped without a word (the real service refuses reads older than an hour)."""
    seed(db, 20)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    checkpoint.save(backfill.BackfillReport(read_time=datetime.now(timezone.utc) - timedelta(hours=2)))
    try:
        report = backfill.run(db, offline_executor(Points.trigger_spec("points-add")), points_plan(project_id),
                              checkpoint=checkpoint)
    except BackfillError:
        return
    assert report.done == 20, f"resumed run reported {report.as_dict()} and raised nothing"


def test_an_unknown_letter_id_with_markup_but_no_slash_is_printed_literally(db, project_id, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from onto_functions_cli.main import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["failures", "show", "[bold]t~x", "-p", project_id])
    assert result.exit_code == 2, result.output
    assert "'[bold]t~x'" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
