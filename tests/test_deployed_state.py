"""The plan from a fresh clone: what the REAL gcloud lists (labels onto-managed, onto-hash) is the truth.

gcloud runs for real, offline, against a local stand-in of the Cloud
Functions REST API (`tests/functions_api.py`), so its own JSON is what the
plan parses. Deploy and delete commands cannot reach a real cloud offline:
those are answered by a stand-in for gcloud's *process*, and
`test_gcloud_args` shows the real gcloud accepts each of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onto_functions.deploy.backends import Command, run_command
from onto_functions.deploy.bundle import collect_bundles
from onto_functions.deploy.deployed import ListOutputError, parse_list
from onto_functions.deploy.labels import HASH_LABEL, MANAGED_LABEL, hash_label
from onto_functions.deploy.pipeline import DeployRefused, deploy_project
from onto_functions.deploy.plan import Action
from onto_functions.deploy.project import ProjectConfig, load_project
from onto_functions.deploy.state import load_state
from onto_functions_cli.deploy_commands import EXIT_REFUSED
from onto_functions_cli.main import app

from tests.functions_api import FunctionsApi, v2_function
from tests.test_bundle import write_project

PROJECT = "my-shop-123"
GCLOUD = shutil.which("gcloud")
pytestmark = pytest.mark.skipif(GCLOUD is None, reason="needs the gcloud CLI")  # every machine here has it


@pytest.fixture
def config(tmp_path: Path) -> ProjectConfig:
    """A fresh clone: the app, and no .onto/state at all."""
    root = write_project(tmp_path / "clone", pyproject='[tool.onto]\napp = "shop.main"\nbackend = "gcloud"\n')
    return load_project(root)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with FunctionsApi() as server:
        for name, value in server.gcloud_env(tmp_path / "gcloud-config").items():
            monkeypatch.setenv(name, value)
        yield server


def labelled(config: ProjectConfig, **regions: str) -> list[dict]:
    """The app's functions as deployed by onto: current hash labels, in us-central1 unless `regions` says."""
    return [v2_function(PROJECT, regions.get(c.bundle.spec.name.replace("-", "_"), "us-central1"), c.bundle.spec.name,
                        {"deployment-tool": "cli-gcloud", MANAGED_LABEL: "true",
                         HASH_LABEL: hash_label(c.bundle.content_hash)})
            for c in collect_bundles("shop.main", config)]


def removed_and_foreign() -> list[dict]:
    return [
        v2_function(PROJECT, "europe-west1", "old-trigger",
                    {"deployment-tool": "cli-gcloud", MANAGED_LABEL: "true", HASH_LABEL: "0" * 32}),
        v2_function(PROJECT, "us-central1", "hand-made", {"deployment-tool": "cli-gcloud"}),  # not onto's
    ]


class GcloudProcess:
    """Runs `functions list` with the real gcloud; answers deploy/delete for it (the cloud is out of reach)."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.ran: list[tuple[str, ...]] = []

    def __call__(self, command: Command) -> "subprocess.CompletedProcess[str]":
        if command.argv[1:3] == ("functions", "list"):
            return run_command(command)
        self.ran.append(command.argv)
        if self.fail and self.fail in command.argv and "deploy" in command.argv:
            return subprocess.CompletedProcess(command.argv, 1, "", "ERROR: (gcloud.functions.deploy) Build failed\n")
        return subprocess.CompletedProcess(command.argv, 0, "", "")


def changes(steps) -> set[tuple[str, str, str]]:
    return {(s.action.value, s.name, str(s.region)) for s in steps if s.action not in (Action.UNCHANGED, Action.TTL)}


def test_a_fresh_clone_plans_from_what_gcloud_lists_and_deletes_exactly_the_removed_function(config, api):
    api.functions = [*labelled(config), *removed_and_foreign()]
    report = deploy_project(config, project=PROJECT, dry_run=True, gcloud_bin=GCLOUD)
    assert report.state_source == "gcloud" and report.warnings == []
    assert changes(report.steps) == {("delete", "old-trigger", "europe-west1")}
    assert {s.name for s in report.steps if s.action is Action.UNCHANGED} == {
        "audit-record", "order-count", "stock-restock"}
    assert api.requests == [f"GET /v2/projects/{PROJECT}/locations/-/functions?alt=json&pageSize=100"]
    assert not config.state_path.exists()  # a dry run writes no cache


def test_a_changed_or_failed_function_is_deployed_again(config, api):
    functions = labelled(config)
    functions[0]["labels"][HASH_LABEL] = "f" * 32  # another bundle runs there
    functions[1]["state"] = "FAILED"  # a failed deploy left it labelled but not live
    api.functions = functions
    steps = deploy_project(config, project=PROJECT, dry_run=True, gcloud_bin=GCLOUD).steps
    names = [f["name"].rsplit("/", 1)[1] for f in functions]
    assert changes(steps) == {("update", names[0], "us-central1"), ("update", names[1], "us-central1")}
    assert "not live (failed)" in next(s.reason for s in steps if s.name == names[1])


def test_deletes_need_yes_and_then_the_cache_follows_the_truth(config, api):
    api.functions = [*labelled(config), *removed_and_foreign()]
    gcloud = GcloudProcess()
    with pytest.raises(DeployRefused, match="deletes 1 function.*old-trigger \\(europe-west1\\).*--yes"):
        deploy_project(config, project=PROJECT, gcloud_bin=GCLOUD, runner=gcloud)
    with pytest.raises(DeployRefused, match="not confirmed"):
        deploy_project(config, project=PROJECT, gcloud_bin=GCLOUD, runner=gcloud, confirm=lambda deletes: False)
    assert gcloud.ran == [] and not config.state_path.exists()  # refused: nothing ran, nothing written
    report = deploy_project(config, project=PROJECT, gcloud_bin=GCLOUD, runner=gcloud, yes=True)
    assert report.ok
    deletes = [argv for argv in gcloud.ran if argv[1:3] == ("functions", "delete")]
    assert deletes == [(GCLOUD, "functions", "delete", "old-trigger", "--gen2", f"--project={PROJECT}",
                        "--region=europe-west1", "--quiet")]
    cached = load_state(config.state_path, PROJECT)
    assert sorted(fn.key for fn in cached.functions.values()) == [
        "us-central1/audit-record", "us-central1/order-count", "us-central1/stock-restock"]


def test_a_region_move_whose_create_fails_deletes_nothing(config, api):
    api.functions = labelled(config, order_count="europe-west1")  # the app now says us-central1
    gcloud = GcloudProcess(fail="order-count")
    report = deploy_project(config, project=PROJECT, gcloud_bin=GCLOUD, runner=gcloud, yes=True)
    assert changes(report.steps) == {("create", "order-count", "us-central1"), ("delete", "order-count", "europe-west1")}
    assert not [argv for argv in gcloud.ran if "delete" in argv]  # the old copy keeps running
    held = next(r for r in report.results if r.step.action is Action.DELETE)
    assert not held.ok and "keeps running" in held.detail
    cached = load_state(config.state_path, PROJECT)
    assert [fn.region for fn in cached.copies("order-count")] == ["europe-west1"]
    # the next deploy (the new copy still missing) tries again, and deletes only after it succeeds
    gcloud = GcloudProcess()
    report = deploy_project(config, project=PROJECT, gcloud_bin=GCLOUD, runner=gcloud, yes=True)
    assert report.ok and [argv[1:4] for argv in gcloud.ran if argv[1] == "functions"] == [
        ("functions", "deploy", "order-count"), ("functions", "delete", "order-count")]
    assert [fn.region for fn in load_state(config.state_path, PROJECT).copies("order-count")] == ["us-central1"]


def test_only_touches_the_named_trigger(config, api):
    api.functions = [*removed_and_foreign()]  # nothing of the app is deployed yet
    gcloud = GcloudProcess()
    report = deploy_project(config, project=PROJECT, gcloud_bin=GCLOUD, runner=gcloud, only=["stock-restock"])
    assert changes(report.steps) == {("create", "stock-restock", "us-central1")}
    assert [argv[1:4] for argv in gcloud.ran] == [("functions", "deploy", "stock-restock")]  # no TTL, no delete
    with pytest.raises(ValueError, match="--only nope: no such trigger"):
        deploy_project(config, project=PROJECT, gcloud_bin=GCLOUD, runner=gcloud, only=["nope"])


def test_the_cli_refuses_deletes_without_a_terminal_or_yes(config, api):
    api.functions = [*labelled(config), *removed_and_foreign()]
    result = CliRunner().invoke(app, ["deploy", "-C", str(config.root), "-p", PROJECT, "--backend", "gcloud"],
                                env={"ONTO_GCLOUD_BIN": GCLOUD})
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "deletes 1 function(s): old-trigger (europe-west1)" in result.stderr and "--yes" in result.stderr
    dry = CliRunner().invoke(app, ["deploy", "--dry-run", "--json", "-C", str(config.root), "-p", PROJECT,
                                   "--backend", "gcloud"], env={"ONTO_GCLOUD_BIN": GCLOUD})
    data = json.loads(dry.stdout)
    assert data["stateSource"] == "gcloud" and data["summary"]["delete"] == 1


def test_without_the_cloud_the_plan_falls_back_to_the_cache_and_says_so(config, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-account"))  # the real gcloud, with no login
    monkeypatch.setenv("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
    report = deploy_project(config, project=PROJECT, dry_run=True, gcloud_bin=GCLOUD)
    assert report.state_source == "cache"
    assert "could not read what is deployed" in report.warnings[0]
    assert "You do not currently have an active account selected" in report.warnings[0]


def test_list_output_that_is_not_the_known_json_is_an_error():
    for backend, text in [("gcloud", "done"), ("gcloud", "{}"), ("firebase", "[]"),
                          ("gcloud", json.dumps([{"name": "bad", "labels": {MANAGED_LABEL: "true"}}]))]:
        with pytest.raises(ListOutputError):
            parse_list(backend, text)
    assert parse_list("gcloud", "[]") == []


def test_every_bundle_carries_its_labels_and_the_hash_label_does_not_feed_the_hash(config):
    first = {c.bundle.spec.name: c for c in collect_bundles("shop.main", config)}
    again = {c.bundle.spec.name: c for c in collect_bundles("shop.main", config)}
    for name, contents in first.items():
        manifest = contents.files["functions.yaml"].decode()
        assert f'"{MANAGED_LABEL}": "true"' in manifest
        assert f'"{HASH_LABEL}": "{hash_label(contents.bundle.content_hash)}"' in manifest
        assert len(hash_label(contents.bundle.content_hash)) <= 63
        assert again[name].bundle.content_hash == contents.bundle.content_hash
