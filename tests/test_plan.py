"""plan(bundles, deployed state) → steps; recording only what succeeded."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from onto_functions import ledger
from onto_functions.deploy.backends import Command, StepResult, firebase_failed_functions
from onto_functions.deploy.bundle import Bundle, build_bundles
from onto_functions.deploy.pipeline import apply_result, deploy_project
from onto_functions.deploy.plan import Action, plan, summary, ttl_key
from onto_functions.deploy.project import load_project
from onto_functions.deploy.state import DeployedState, load_state, save_state

from tests.test_bundle import write_project

PROJECT = "my-shop-123"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj")
    stock = root / "shop" / "stock.py"  # pricing.py is then shared by two of the three triggers
    stock.write_text(stock.read_text().replace("from shop.models", "from shop import pricing\nfrom shop.models"))
    return root


def bundles_of(root: Path) -> list[Bundle]:
    return build_bundles("shop.main", root / "build" / "onto", project_root=root)


def deployed(state: DeployedState, bundles: list[Bundle]) -> DeployedState:
    """The state after every step of the plan succeeded."""
    for step in plan(bundles, state):
        if step.action.changes:
            state = apply_result(state, StepResult(step, True), "gcloud")
    return state


def changed(steps) -> dict[str, str]:
    return {s.name: s.action.value for s in steps if s.action.changes and s.action is not Action.TTL}


def test_first_plan_creates_every_trigger_and_the_ttl_policies(project):
    steps = plan(bundles_of(project), DeployedState(PROJECT))
    assert changed(steps) == {"audit-record": "create", "order-count": "create", "stock-restock": "create"}
    assert {s.name for s in steps if s.action is Action.TTL} == {
        ttl_key("(default)", group) for group in ledger.COLLECTIONS
    }
    assert [s.action for s in steps][:3] == [Action.CREATE] * 3  # creates first, TTL after


def test_after_a_deploy_nothing_changes(project):
    state = deployed(DeployedState(PROJECT), bundles_of(project))
    steps = plan(bundles_of(project), state)
    assert summary(steps) == {"create": 0, "update": 0, "delete": 0, "ttl": 0, "rules": 0, "unchanged": 3}


def test_one_mediator_changes_only_its_trigger_updates(project):
    state = deployed(DeployedState(PROJECT), bundles_of(project))
    orders = project / "shop" / "orders.py"
    orders.write_text(orders.read_text() + "\n# tweak\n")
    assert changed(plan(bundles_of(project), state)) == {"order-count": "update"}


def test_a_shared_module_updates_exactly_the_triggers_that_import_it(project):
    state = deployed(DeployedState(PROJECT), bundles_of(project))
    (project / "shop" / "pricing.py").write_text("ONE = 1  # cheaper\n")
    assert changed(plan(bundles_of(project), state)) == {"order-count": "update", "stock-restock": "update"}


def test_a_removed_mediator_is_deleted(project):
    state = deployed(DeployedState(PROJECT), bundles_of(project))
    main = project / "shop" / "main.py"
    main.write_text(main.read_text().replace("from shop.audit import AuditMediator\n", "").replace(", AuditMediator]", "]"))
    (project / "shop" / "audit.py").unlink()
    steps = plan(bundles_of(project), state)
    assert changed(steps) == {"audit-record": "delete"}
    delete = next(s for s in steps if s.action is Action.DELETE)
    assert delete.region == "us-central1" and "gone" in delete.reason


def test_a_region_move_creates_the_new_one_then_deletes_the_old(project):
    bundles = bundles_of(project)
    state = deployed(DeployedState(PROJECT), bundles)
    old = state.copies("order-count")[0]
    state = state.without_function("order-count", old.region).with_function(replace(old, region="europe-west1"))
    steps = [s for s in plan(bundles, state) if s.name == "order-count"]
    assert [(s.action, s.region) for s in steps] == [(Action.CREATE, "us-central1"), (Action.DELETE, "europe-west1")]
    for step in steps:  # the old region's delete must not drop the new record
        state = apply_result(state, StepResult(step, True), "gcloud")
    assert [c.region for c in state.copies("order-count")] == ["us-central1"]


def test_plan_is_deterministic(project):
    bundles = bundles_of(project)
    assert plan(bundles, DeployedState(PROJECT)) == plan(list(reversed(bundles)), DeployedState(PROJECT))


def test_state_round_trips_through_its_file(tmp_path, project):
    state = deployed(DeployedState(PROJECT), bundles_of(project))
    path = save_state(tmp_path / "state", state)
    assert path.name == f"{PROJECT}.json"
    assert load_state(tmp_path / "state", PROJECT) == state
    assert load_state(tmp_path / "state", "other-project") == DeployedState("other-project")


class FakeCli:
    """Stands in for gcloud's *process* (never for Firestore): fails the commands that mention `fail`."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.seen: list[tuple[str, ...]] = []

    def __call__(self, command: Command) -> subprocess.CompletedProcess:
        self.seen.append(command.argv)
        if self.fail and self.fail in command.argv:
            return subprocess.CompletedProcess(command.argv, 1, "", "ERROR: (gcloud.functions.deploy) quota exceeded\n")
        return subprocess.CompletedProcess(command.argv, 0, "done", "")


def test_a_failed_step_leaves_the_others_recorded_and_says_why(project):
    config = load_project(project).with_(backend="gcloud")
    cli = FakeCli(fail="stock-restock")
    report = deploy_project(config, project=PROJECT, runner=cli, gcloud_bin=sys.executable)
    assert [(r.step.name, r.detail) for r in report.failed] == [
        ("stock-restock", "ERROR: (gcloud.functions.deploy) quota exceeded")]
    recorded = load_state(config.state_path, PROJECT)
    assert sorted(fn.name for fn in recorded.functions.values()) == ["audit-record", "order-count"]
    assert len(recorded.ttl_policies) == len(ledger.COLLECTIONS)
    # the next deploy retries exactly what failed
    again = deploy_project(config, project=PROJECT, runner=FakeCli(), gcloud_bin=sys.executable)
    assert changed(again.steps) == {"stock-restock": "create"}
    assert again.ok and sorted(fn.name for fn in load_state(config.state_path, PROJECT).functions.values()) == [
        "audit-record", "order-count", "stock-restock"]


def test_dry_run_returns_commands_and_changes_nothing(project):
    config = load_project(project).with_(backend="gcloud")
    cli = FakeCli()
    report = deploy_project(config, project=PROJECT, dry_run=True, runner=cli, gcloud_bin=sys.executable)
    assert [argv[1:3] for argv in cli.seen] == [("functions", "list")]  # only the read-only list ran
    assert report.results == [] and report.state_source == "cache"  # "done" is not the list's JSON
    assert not config.state_path.exists() and not (project / "firebase.json").exists()
    deploys = [c for c in report.commands if c[1:3] == ["functions", "deploy"]]
    assert sorted(c[3] for c in deploys) == ["audit-record", "order-count", "stock-restock"]
    ttl = [c for c in report.commands if c[1:3] == ["firestore", "fields"]]
    assert {c[5] for c in ttl} == {ledger.EXPIRY_FIELD}
    assert {a for c in ttl for a in c if a.startswith("--collection-group=")} == {
        f"--collection-group={g}" for g in ledger.COLLECTIONS}


def test_firebase_backend_deploys_all_codebases_in_one_command(project):
    config = load_project(project)
    report = deploy_project(config, project=PROJECT, dry_run=True, firebase_bin=sys.executable)
    firebase = [c for c in report.commands if c[0] == sys.executable]
    assert firebase == [[sys.executable, "deploy", "--only",
                         "functions:audit-record,functions:order-count,functions:stock-restock",
                         "--project", PROJECT, "--non-interactive", "--force"]]


def test_firebase_failure_output_names_the_failed_functions():
    output = ("i  functions: updating ...\n\nFunctions deploy had errors with the following functions:\n"
              "\tstock-restock(us-central1)\n\tother(europe-west1)\n")
    assert firebase_failed_functions(output) == {"stock-restock", "other"}
    assert firebase_failed_functions("Error: something else") == set()
