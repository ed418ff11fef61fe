"""Review of issue 9: the CLI's refusals and literal printing, and deploy planning edge cases.

No Firestore here. gcloud runs for real against tests/functions_api.py (as in test_deployed_state.py).
A failing test here is a finding of the review.
"""

from __future__ import annotations

import io
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from onto_functions.deploy.backends import Command
from onto_functions.deploy.labels import HASH_LABEL, MANAGED_LABEL
from onto_functions.deploy.pipeline import DeployRefused, deploy_project
from onto_functions.deploy.plan import Action
from onto_functions.ops.dead_letters import DeadLetter, FailingEvent
from onto_functions.ops.operator import ReplayResult
from onto_functions.outcome import Outcome
from onto_functions_cli import ops_render
from onto_functions_cli.main import app

from tests.test_deployed_state import GCLOUD, PROJECT, GcloudProcess, api, config, labelled  # noqa: F401 (fixtures)
from tests.functions_api import v2_function

MARKUP = "orders/[bold]x[/bold]"


def rendered(renderable) -> str:
    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(renderable)
    return out.getvalue()


# --------------------------------------------------------------------------- onto failures: refusals


@pytest.mark.parametrize("args", [["failures", "list", "-p", "demo-nothing"],
                                  ["failures", "list", "-p", "demo-nothing", "--json"],
                                  ["failures", "replay", "--all", "-p", "demo-nothing"],
                                  ["failures", "list"]])
def test_failures_against_a_demo_project_with_nothing_running_is_one_line_exit_3(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)  # no pyproject, no stack here
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("refused:"), result.stderr
    assert result.stdout == ""


def test_failures_in_a_project_folder_with_a_stale_stack_file_is_one_line_exit_3(tmp_path, monkeypatch):
    """A stack.json left by an `onto emulate` that died: no traceback, still a refusal."""
    (tmp_path / "pyproject.toml").write_text('[tool.onto]\napp = "x.main"\nproject = "demo-x"\n')
    stack = tmp_path / ".onto" / "stack.json"
    stack.parent.mkdir(parents=True)
    stack.write_text('{"project": "demo-x", "emulator": "127.0.0.1:1", "pid": 999999999}')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    result = CliRunner().invoke(app, ["failures", "list", "-p", "demo-x"])
    assert result.exit_code == 3, result.output
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr


# --------------------------------------------------------------------------- literal printing


def letter(document: str = MARKUP, error: str = "ValueError: [bold]no[/bold] [red]x") -> DeadLetter:
    return DeadLetter(path=f"_onto_dead_letters/t~{document}", trigger="t", event_id="[i]e1", document=document,
                      error=error, failed_deliveries=2, dead_lettered_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                      refused=False, request={})


def test_user_text_in_failures_output_prints_literally():
    table = rendered(ops_render.failures_table(
        [letter()], [FailingEvent("t", "e2", "orders/[red]y", 1, "KeyError: '[bold]k'", None)], "project demo-x"))
    assert "orders/[bold]x[/bold]" in table and "[bold]no[/bold] [red]x" in table
    assert "orders/[red]y" in table and "'[bold]k'" in table
    shown = rendered(ops_render.letter_lines(letter()))
    assert "orders/[bold]x[/bold]" in shown and "[bold]no[/bold]" in shown and "[i]e1" in shown
    failed = ReplayResult(letter(), Outcome(status="dead_lettered", trigger="t", event_id="e1",
                                            detail="ValueError: [bold]again[/bold]"))
    line = rendered(ops_render.replay_line(failed))
    assert "orders/[bold]x[/bold]" in line and "[bold]again[/bold]" in line


def test_a_where_condition_with_markup_is_echoed_literally_in_its_error(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.onto]\napp = "review9app"\n')
    (tmp_path / "review9app.py").write_text(
        "from onto_functions import Mediator, sink, source\n"
        "class M(Mediator):\n"
        "    source = source.document('players/{p}')\n"
        "    sink = sink.firestore()\n"
        "    @source.triggers.on_create\n"
        "    def add(self, change, store):\n"
        "        pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # never reached: the input is refused first
    result = CliRunner().invoke(app, ["backfill", "m-add", "-p", "demo-x", "--where", "[bold]oops[/bold]"])
    assert result.exit_code == 2, result.output
    assert "[bold]oops[/bold]" in result.stderr, result.stderr


# --------------------------------------------------------------------------- deploy planning


class ListFails(GcloudProcess):
    """`functions list` fails (no login, offline); deploy/delete commands are answered as GcloudProcess does."""

    def __call__(self, command: Command) -> "subprocess.CompletedProcess[str]":
        if command.argv[1:3] == ("functions", "list"):
            return subprocess.CompletedProcess(command.argv, 1, "", "ERROR: (gcloud.functions.list) network down\n")
        return super().__call__(command)


def test_a_fresh_clone_whose_list_fails_plans_creates_only_and_says_it_cannot_see_deletes(config):  # noqa: F811
    report = deploy_project(config, project=PROJECT, dry_run=True, gcloud_bin=GCLOUD, runner=ListFails())
    assert report.state_source == "cache"
    assert "network down" in report.warnings[0] and "deletes" in report.warnings[0]
    assert {s.action for s in report.steps} <= {Action.CREATE, Action.TTL}


def test_only_with_an_unknown_trigger_is_a_one_line_exit_2_and_runs_nothing(config, api):  # noqa: F811
    api.functions = labelled(config)
    result = CliRunner().invoke(app, ["deploy", "-C", str(config.root), "-p", PROJECT, "--backend", "gcloud",
                                      "--only", "nope", "--yes"], env={"ONTO_GCLOUD_BIN": GCLOUD})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--only nope" in lines[0], result.stderr
    assert not (config.root / "build").exists() and not config.state_path.exists()


def test_deletes_without_yes_in_a_non_interactive_run_change_nothing(config, api):  # noqa: F811
    api.functions = [*labelled(config), v2_function(PROJECT, "europe-west1", "old-trigger",
                                                     {MANAGED_LABEL: "true", HASH_LABEL: "0" * 32})]
    gcloud = GcloudProcess()
    with pytest.raises(DeployRefused, match="--yes"):
        deploy_project(config, project=PROJECT, gcloud_bin=GCLOUD, runner=gcloud)
    assert gcloud.ran == [] and not (config.root / "build").exists() and not config.state_path.exists()


@pytest.mark.xfail(strict=True, reason="known limitation (README, onto deploy): one onto app per project; "
                   "the labels do not yet say which app a function belongs to")
def test_a_deploy_does_not_delete_functions_another_onto_app_deployed_to_the_same_project(config, api):  # noqa: F811
    """Two onto projects (two repos, or two folders of a monorepo) deploying to one Firebase project: every
    function of both carries onto-managed=true, and nothing says which app it belongs to, so each app's plan
    reads the other's functions as "trigger is gone from the app"."""
    other_app = v2_function(PROJECT, "us-central1", "billing-invoice",
                            {"deployment-tool": "cli-gcloud", MANAGED_LABEL: "true", HASH_LABEL: "1" * 32})
    api.functions = [*labelled(config), other_app]
    report = deploy_project(config, project=PROJECT, dry_run=True, gcloud_bin=GCLOUD)
    deletes = [s.name for s in report.steps if s.action is Action.DELETE]
    assert deletes == [], f"plans to delete another app's functions: {deletes}"
