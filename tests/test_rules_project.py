"""`onto rules` on a project: the files it writes, firebase.json, --check, refusals, and `onto deploy`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onto_functions.deploy.pipeline import deploy_project
from onto_functions.deploy.plan import Action
from onto_functions.deploy.project import load_project
from onto_functions.deploy.rules import MARKER, RulesRefused
from onto_functions.deploy.rules_files import generate_rules, managed_rules, write_rules
from onto_functions.deploy.state import load_state
from onto_functions_cli.deploy_commands import EXIT_BAD_INPUT, EXIT_FAILED
from onto_functions_cli.main import app

from tests.test_bundle import write_project
from tests.test_plan import PROJECT, FakeCli

runner = CliRunner()
OWN_RULES = "match /orders/{order_id} {\n  allow read: if request.auth != null;\n}\n"


def onto(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj")
    (root / "firebase.json").write_text(json.dumps({"firestore": {"indexes": "firestore.indexes.json"},
                                                    "hosting": {"public": "public"}}))
    (root / "firestore.rules.in").write_text(OWN_RULES)
    return root


def test_onto_rules_writes_beside_firebase_json_and_wires_it_keeping_the_rest(project):
    result = onto("rules", "-C", str(project))
    assert result.exit_code == 0, result.output
    text = (project / "firestore.rules").read_text()
    assert MARKER in text and "match /orders/{order_id} {" in text and "match /summaries/{sku} {" in text
    config = json.loads((project / "firebase.json").read_text())
    assert config["firestore"] == {"indexes": "firestore.indexes.json", "rules": "firestore.rules"}
    assert config["hosting"] == {"public": "public"}
    assert "summaries/{sku} (Summary): read by no client" in result.output
    assert managed_rules(load_project(project)) == project / "firestore.rules"


def test_check_passes_when_current_and_fails_when_stale_writing_nothing(project):
    assert onto("rules", "--check", "-C", str(project)).exit_code == EXIT_FAILED  # missing
    assert onto("rules", "-C", str(project)).exit_code == 0
    assert onto("rules", "--check", "-C", str(project)).exit_code == 0
    written = (project / "firestore.rules").read_text()
    (project / "firestore.rules.in").write_text(OWN_RULES + "match /items/{id} {\n  allow read: if true;\n}\n")
    stale = onto("rules", "--check", "-C", str(project))
    assert stale.exit_code == EXIT_FAILED and "run `onto rules`" in stale.output
    assert (project / "firestore.rules").read_text() == written


def test_a_user_rule_reaching_a_view_is_refused_in_one_line_and_nothing_is_written(project):
    (project / "firestore.rules.in").write_text(OWN_RULES + "match /{document=**} {\n  allow read: if true;\n}\n")
    result = onto("rules", "-C", str(project))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "firestore.rules.in line 5: `allow read: if true;` in match /{document=**} can reach the view " \
           "summaries/{sku} (Summary)" in " ".join(result.output.split())
    assert not (project / "firestore.rules").exists()


def test_rules_onto_did_not_write_are_never_overwritten(project):
    (project / "firestore.rules").write_text("rules_version = '2';\nservice cloud.firestore {}\n")
    with pytest.raises(RulesRefused, match="holds rules onto did not write; move them to firestore.rules.in"):
        write_rules(load_project(project), generate_rules(load_project(project), "shop.main"))


def test_firebase_json_naming_other_rules_is_refused_unless_they_are_the_source(project):
    (project / "firebase.json").write_text(json.dumps({"firestore": {"rules": "security/main.rules"}}))
    (project / "security").mkdir()
    (project / "security/main.rules").write_text(OWN_RULES)
    config = load_project(project)
    with pytest.raises(RulesRefused, match="firebase.json deploys Firestore rules from 'security/main.rules'"):
        write_rules(config, generate_rules(config, "shop.main"))
    (project / "pyproject.toml").write_text('[tool.onto]\napp = "shop.main"\nrules_source = "security/main.rules"\n')
    config = load_project(project)
    assert write_rules(config, generate_rules(config, "shop.main")) == (True, True)
    assert json.loads((project / "firebase.json").read_text())["firestore"]["rules"] == "firestore.rules"


def test_each_project_gets_its_own_views_when_module_names_repeat(project, tmp_path):
    assert "match /summaries/{sku} {" in generate_rules(load_project(project), "shop.main").text
    other = write_project(tmp_path / "other")
    models = other / "shop/models.py"
    models.write_text(models.read_text().replace('"summaries/{sku}"', '"totals/{sku}"'))
    text = generate_rules(load_project(other), "shop.main").text
    assert "match /totals/{sku} {" in text and "summaries" not in text


def test_a_missing_rules_source_is_named(project):
    (project / "pyproject.toml").write_text('[tool.onto]\napp = "shop.main"\nrules_source = "nope.rules"\n')
    with pytest.raises(RulesRefused, match="rules_source = 'nope.rules': no such file"):
        generate_rules(load_project(project), "shop.main")


def test_firebase_deploy_carries_the_rules_once_and_records_them(project):
    config = load_project(project)
    first = deploy_project(config, project=PROJECT, runner=FakeCli(), firebase_bin=sys.executable)
    rules = [s for s in first.steps if s.name == "firestore:rules"]
    assert [s.action for s in rules] == [Action.RULES] and first.ok
    deploy = next(c for c in first.commands if c[1] == "deploy")
    assert deploy[3].endswith(",firestore:rules") and (project / "firestore.rules").is_file()
    assert load_state(config.state_path, PROJECT).rules_hash
    again = deploy_project(config, project=PROJECT, runner=FakeCli(), firebase_bin=sys.executable)
    assert [s.action for s in again.steps if s.name == "firestore:rules"] == [Action.UNCHANGED]
    (project / "firestore.rules.in").write_text(OWN_RULES.replace("!= null", "!= null && true"))
    changed = deploy_project(config, project=PROJECT, runner=FakeCli(), firebase_bin=sys.executable,
                             only=["firestore:rules"])
    assert changed.commands == [[sys.executable, "deploy", "--only", "firestore:rules", "--project", PROJECT,
                                 "--non-interactive", "--force"]]


def test_a_deploy_that_would_replace_the_users_rules_is_refused_before_anything_is_written(project):
    (project / "firestore.rules").write_text("rules_version = '2';\nservice cloud.firestore {}\n")
    with pytest.raises(RulesRefused, match="holds rules onto did not write"):
        deploy_project(load_project(project), project=PROJECT, runner=FakeCli(), firebase_bin=sys.executable)
    assert not (project / "build").exists()


def test_gcloud_deploy_warns_that_it_cannot_deploy_rules(project):
    config = load_project(project).with_(backend="gcloud")
    report = deploy_project(config, project=PROJECT, dry_run=True, runner=FakeCli(), gcloud_bin=sys.executable)
    assert not [s for s in report.steps if s.name == "firestore:rules"]
    assert any("security rules not deployed: the gcloud backend has no command for them" in w
               and "firebase deploy --only firestore:rules" in w for w in report.warnings)


def test_a_project_without_onto_rules_keeps_its_own(project):
    (project / "firestore.rules.in").unlink()
    report = deploy_project(load_project(project), project=PROJECT, dry_run=True, firebase_bin=sys.executable)
    assert not [s for s in report.steps if s.name == "firestore:rules"]
    assert "firestore:rules" not in " ".join(" ".join(c) for c in report.commands)


def test_the_repositorys_own_rules_file_is_current():
    """What `onto rules --check` says in CI: firestore.rules is what the meeting room and onto make now."""
    repo = Path(__file__).resolve().parent.parent
    generated = generate_rules(load_project(repo), "examples.meeting_room.main")
    assert generated.current, "firestore.rules is stale: run `onto rules` at the repository's root"
