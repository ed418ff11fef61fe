"""`onto failures` and `onto backfill` against the local stack: the commands' library calls, and the shell.

A poison document is dead-lettered by the stack's workers; the fix lives in
the replaying process (an environment variable the workers never saw), as
a fix in the operator's working copy does. A backfill of existing documents
races live writes that the stack delivers, and every view comes out as with
no race: each document state applied once.

The apps (emulator_tests/apps/poison.py, scores.py) are copied into a
throwaway project folder first: the stack runs the bundles deploy builds,
and deploy never ships files from a tests folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from onto_functions import ledger
from onto_functions.ops.operator import Operator
from onto_functions.ops.target import Target
from onto_functions.testing import wait_for

ONTO = str(Path(sys.executable).with_name("onto"))
APPS = Path(__file__).resolve().parent / "apps"
TEAMS = 10


@pytest.fixture(scope="module")
def ops_root(tmp_path_factory) -> Path:
    """A project folder holding the apps as the package `opsapps`, its [tool.onto] app the poison one."""
    root = tmp_path_factory.mktemp("opsproject")
    package = root / "opsapps"
    package.mkdir()
    (package / "__init__.py").write_text('"""Apps for the ops commands."""\n')
    for name in ("poison.py", "scores.py"):
        shutil.copy(APPS / name, package / name)
    (root / "pyproject.toml").write_text('[project]\nname = "opsapps"\nversion = "0"\n\n'
                                         '[tool.onto]\napp = "opsapps.poison"\n')
    return root


def onto(root: Path, emulator: str, *args: str, fixed: bool = False) -> subprocess.CompletedProcess[str]:
    """A real `onto` process in the project folder, pointed at the stack's emulator."""
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": emulator}
    env.pop("OPS_TEST_FIXED", None)
    if fixed:
        env["OPS_TEST_FIXED"] = "1"
    return subprocess.run([ONTO, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------- failures


def dead_letter_through_the_stack(onto_stack, ops_root: Path):
    stack = onto_stack("opsapps.poison", project_root=ops_root, retry_delay=0.05)
    db = stack.client()
    db.document("orders/good").set({"amount": 1})
    db.document("orders/bad").set({"amount": 2, "poison": True})
    wait_for(lambda: db.collection(ledger.DEAD_LETTERS).get(), timeout=60, message="the poison order's dead letter")
    wait_for(lambda: (db.document("totals/all").get().to_dict() or {}).get("n") == 1, timeout=30)
    return stack, db


def test_a_dead_letter_replayed_after_the_fix_applies_once_then_is_a_duplicate(onto_stack, ops_root, monkeypatch):
    stack, db = dead_letter_through_the_stack(onto_stack, ops_root)
    operator = Operator(Target(stack.project, stack.emulator_host), "opsapps.poison", ops_root)
    [letter] = operator.select(every=True)
    assert (letter.trigger, letter.document, letter.failed_deliveries) == ("poison-total", "orders/bad", 2)

    unfixed = operator.replay([letter])  # the bug is still there: dead-lettered again, not lost
    assert [r.outcome.status for r in unfixed] == ["dead_lettered"] and not unfixed[0].ok
    monkeypatch.setenv("OPS_TEST_FIXED", "1")
    [applied] = operator.replay(operator.select(every=True))
    assert applied.ok and applied.outcome.status == "applied"
    assert db.document("totals/all").get().to_dict() == {"n": 2}
    [again] = operator.replay(operator.select([letter.id]))
    assert again.outcome.status == "duplicate" and db.document("totals/all").get().to_dict() == {"n": 2}
    assert operator.select(every=True) == []


def test_onto_failures_in_a_shell_lists_replays_and_lists_nothing_after(onto_stack, ops_root):
    stack, db = dead_letter_through_the_stack(onto_stack, ops_root)
    project, emulator = stack.project, stack.emulator_host

    listed = onto(ops_root, emulator, "failures", "list", "--json", "-p", project)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)["deadLetters"]
    assert (entry["trigger"], entry["document"], entry["failedDeliveries"]) == ("poison-total", "orders/bad", 2)
    assert "poison" in entry["error"]

    shown = onto(ops_root, emulator, "failures", "show", entry["id"], "-p", project)
    assert shown.returncode == 0 and "cannot total orders/bad" in shown.stdout, shown.stderr

    replayed = onto(ops_root, emulator, "failures", "replay", "--all", "-p", project, fixed=True)
    assert replayed.returncode == 0, replayed.stderr
    assert "applied" in replayed.stderr and entry["id"] in replayed.stderr
    assert db.document("totals/all").get().to_dict() == {"n": 2}

    again = onto(ops_root, emulator, "failures", "replay", entry["id"], "-p", project, "--json", fixed=True)
    assert again.returncode == 0, again.stderr
    assert [r["outcome"] for r in json.loads(again.stdout)] == ["duplicate"]
    after = onto(ops_root, emulator, "failures", "list", "--json", "-p", project)
    assert json.loads(after.stdout) == {"project": project, "deadLetters": [], "failingEvents": []}
    assert db.document("totals/all").get().to_dict() == {"n": 2}


def test_a_letter_whose_trigger_is_not_in_the_app_is_a_clear_error(onto_stack, ops_root):
    stack, _ = dead_letter_through_the_stack(onto_stack, ops_root)
    refused = onto(ops_root, stack.emulator_host, "failures", "replay", "--all", "-p", stack.project,
                   "--app", "opsapps.scores")
    assert refused.returncode == 2
    assert "has no trigger 'poison-total'" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- backfill


def seed_players(db, n: int) -> None:
    for start in range(0, n, 400):
        batch = db.batch()
        for i in range(start, min(n, start + 400)):
            batch.set(db.document(f"players/p{i:04d}"), {"team": f"t{i % TEAMS}", "points": i % 7})
        batch.commit()


def live_writes(db, n: int, started: threading.Event, every: int) -> threading.Thread:
    """Once the backfill's first page is done, change every `every`-th player twice, spread over the range."""

    def write() -> None:
        started.wait(120)
        for round_ in (1, 2):
            for i in range(0, n, every):
                db.document(f"players/p{i:04d}").update({"points": i % 7 + round_ * 10})

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def views_settled(db, n: int) -> dict[str, dict]:
    """The views once every live event landed: each mirror equal to its player (the latest state)."""
    players = {s.id: s.to_dict() for s in db.collection("players").get()}

    def mirrors_match() -> bool:
        mirror = {s.id: s.to_dict()["points"] for s in db.collection("mirror").get()}
        return mirror == {pid: p["points"] for pid, p in players.items()}

    wait_for(mirrors_match, timeout=120, interval=0.5, message="every mirror at its player's latest state")
    return players


def assert_each_state_applied_once(db, players: dict[str, dict]) -> None:
    expected: Counter = Counter()
    for player in players.values():
        expected[player["team"]] += player["points"]
    wait_for(lambda: {s.id: s.to_dict()["points"] for s in db.collection("teams").get()} == dict(expected),
             timeout=60, interval=0.5, message="team totals = the sum of current points (no state twice or lost)")
    logs = {s.id: s.to_dict()["states"] for s in db.collection("applied").get()}
    assert set(logs) == set(players)
    doubled = {pid: states for pid, states in logs.items() if len(states) != len(set(states))}
    assert not doubled, f"states applied twice: {list(doubled.items())[:3]}"
    marks = Counter(m.to_dict()["document"] for m in db.collection(ledger.LEDGER)
                    .where(filter=FieldFilter("trigger", "==", "scores-add")).get())
    assert marks == Counter({f"players/{pid}": len(states) for pid, states in logs.items()})


def backfill_racing_live_writes(onto_stack, ops_root, db, n: int, interrupt_after: int | None = None):
    seed_players(db, n)  # before the stack registers its triggers: existing documents, no events
    stack = onto_stack("opsapps.scores", project_root=ops_root)
    operator = Operator(Target(stack.project, stack.emulator_host), "opsapps.scores", ops_root)
    started = threading.Event()
    writer = live_writes(db, n, started, every=17)

    interrupting = [False]

    def progress(report) -> None:
        started.set()
        if interrupting[0] and report.done >= interrupt_after:
            raise KeyboardInterrupt  # what Ctrl-C raises in the command's main thread

    reports = []
    for trigger in ("scores-add", "mirror-copy"):
        plan = operator.backfill_plan(trigger, page_size=100)
        if interrupt_after is not None:
            interrupting[0] = True
            with pytest.raises(KeyboardInterrupt):
                operator.backfill(plan, progress=progress)
            interrupting[0] = False
            assert operator.checkpoint(trigger).load()["documents"] >= interrupt_after
        reports.append(operator.backfill(plan, progress=progress))
    writer.join(120)
    assert not writer.is_alive()
    return operator, reports


def test_a_backfill_racing_live_writes_applies_each_document_state_once(onto_stack, ops_root, db):
    n = 2000
    _, reports = backfill_racing_live_writes(onto_stack, ops_root, db, n)
    for report in reports:
        assert report.done == n and set(report.outcomes) <= {"applied", "duplicate", "superseded"}
    assert_each_state_applied_once(db, views_settled(db, n))


def test_an_interrupted_backfill_resumes_at_its_snapshot_with_the_same_result(onto_stack, ops_root, db):
    n = 600
    operator, reports = backfill_racing_live_writes(onto_stack, ops_root, db, n, interrupt_after=200)
    for report in reports:
        assert report.done >= n and set(report.outcomes) <= {"applied", "duplicate", "superseded"}
    assert not operator.checkpoint("scores-add").path.exists()
    assert_each_state_applied_once(db, views_settled(db, n))


def test_onto_backfill_in_a_shell_dry_run_writes_nothing_then_runs(db, project_id, firestore_emulator, ops_root):
    seed_players(db, 40)
    args = ("backfill", "mirror-copy", "--app", "opsapps.scores", "-p", project_id, "--where", "team=t3")
    dry = onto(ops_root, firestore_emulator.host, *args, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["documents"] == 4 and not db.collection("mirror").get()

    done = onto(ops_root, firestore_emulator.host, *args, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcomes"] == {"applied": 4}
    assert sorted(s.id for s in db.collection("mirror").get()) == ["p0003", "p0013", "p0023", "p0033"]

    wrong = onto(ops_root, firestore_emulator.host, "backfill", "nope", "--app", "opsapps.scores", "-p", project_id)
    assert wrong.returncode == 2 and "no trigger 'nope'" in wrong.stderr
