"""The `onto` deploy-side commands through typer's CliRunner: output, --json, exit codes, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onto_functions import ledger
from onto_functions_cli.deploy_commands import EXIT_BAD_INPUT, EXIT_REFUSED
from onto_functions_cli.main import app

from tests.test_bundle import write_project

runner = CliRunner()


def onto(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj")
    (root / "firebase.json").write_text(json.dumps({
        "hosting": {"public": "public"},
        "firestore": {"rules": "firestore.rules"},
        "emulators": {"firestore": {"port": 9090}},
        "functions": [
            {"source": "functions", "codebase": "default", "runtime": "nodejs20"},
            {"source": "build/onto/removed-trigger", "codebase": "removed-trigger", "runtime": "python312"},
        ],
    }))
    return root


def test_list_json_shows_every_trigger(project):
    result = onto("list", "--json", "-C", str(project))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["function"] for r in rows] == ["order-count", "stock-restock", "audit-record"]
    order = rows[0]
    assert order["eventType"] == "google.cloud.firestore.document.v1.created"
    assert order["document"] == "orders/{order_id}"
    assert order["sourceModel"] == "shop.models:Order"
    assert order["sink"] == "firestore:summaries/{sku}"
    assert order["mode"] == "exactly_once"
    assert rows[1]["options"]["memoryMb"] == 512


def test_list_table_and_explicit_app(project):
    result = onto("list", "shop.main:mediators", "-C", str(project))
    assert result.exit_code == 0, result.output
    assert "order-count" in result.stdout and "exactly_once" in result.stdout


def test_list_unknown_app_is_a_clear_error(project):
    result = onto("list", "shop.nope", "-C", str(project))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "cannot import 'shop.nope'" in result.stderr


def test_bundle_merges_firebase_json_keeping_user_settings(project):
    result = onto("bundle", "--json", "-C", str(project))
    assert result.exit_code == 0, result.output
    bundles = json.loads(result.stdout)["bundles"]
    assert sorted(b["codebase"] for b in bundles) == ["audit-record", "order-count", "stock-restock"]
    merged = json.loads((project / "firebase.json").read_text())
    assert merged["hosting"] == {"public": "public"}
    assert merged["firestore"] == {"rules": "firestore.rules"}
    assert merged["emulators"] == {"firestore": {"port": 9090}}
    codebases = {f["codebase"]: f for f in merged["functions"]}
    assert set(codebases) == {"default", "audit-record", "order-count", "stock-restock"}  # stale one gone
    assert codebases["order-count"]["source"] == "build/onto/order-count"
    assert codebases["order-count"]["runtime"] == "python312"
    assert "venv" in codebases["order-count"]["ignore"]


def test_deploy_dry_run_prints_plan_and_commands_and_changes_nothing(project):
    before = (project / "firebase.json").read_text()
    result = onto("deploy", "--dry-run", "-p", "my-shop-123", "--backend", "gcloud", "-C", str(project),
                  env={"ONTO_GCLOUD_BIN": sys.executable})
    assert result.exit_code == 0, result.output
    assert "create" in result.stdout and "order-count" in result.stdout
    assert "functions deploy order-count --gen2" in result.stdout
    assert "dry run: none was run" in result.stdout
    assert (project / "firebase.json").read_text() == before
    assert not (project / ".onto" / "state").exists()


def test_deploy_dry_run_json(project):
    result = onto("deploy", "--dry-run", "--json", "-p", "my-shop-123", "-C", str(project),
                  env={"ONTO_FIREBASE_BIN": sys.executable})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dryRun"] is True and data["backend"] == "firebase"
    assert data["summary"]["create"] == 3 and data["summary"]["ttl"] == len(ledger.COLLECTIONS)
    assert data["commands"][0][1:3] == ["deploy", "--only"]


@pytest.mark.parametrize("args, env, words", [
    ((), {}, "no project given"),
    (("-p", "demo-shop"), {}, "demo project"),
    (("-p", "my-shop-123", "--database-location", "europe-west1"), {}, "the database is in 'europe-west1'"),
    (("-p", "my-shop-123", "--backend", "gcloud"), {"ONTO_GCLOUD_BIN": "/nonexistent/gcloud"}, "not found on PATH"),
    (("-p", "my-shop-123"), {"ONTO_FIREBASE_BIN": "no-such-firebase-cli"}, "no-such-firebase-cli not found"),
])
def test_deploy_refusals(project, args, env, words):
    result = onto("deploy", "-C", str(project), *args, env=env)
    assert result.exit_code == EXIT_REFUSED, result.output
    assert words in result.stderr
    assert not (project / ".onto" / "state").exists()


def test_region_matching_the_database_is_accepted(project):
    result = onto("deploy", "--dry-run", "-C", str(project), "-p", "my-shop-123", "--database-location", "nam5",
                  "--backend", "gcloud", env={"ONTO_GCLOUD_BIN": sys.executable})
    assert result.exit_code == 0, result.output


def test_a_failed_deploy_step_exits_1_and_names_it(project, tmp_path):
    fake = tmp_path / "fake-gcloud"  # a stand-in CLI process: fails only stock-restock's deploy
    fake.write_text("#!/bin/sh\ncase \"$*\" in *'deploy stock-restock'*) echo 'ERROR: quota exceeded' >&2; exit 1;; esac\n")
    fake.chmod(0o755)
    result = onto("deploy", "-C", str(project), "-p", "my-shop-123", "--backend", "gcloud",
                  env={"ONTO_GCLOUD_BIN": str(fake)})
    assert result.exit_code == 1, result.output
    assert "FAILED create stock-restock" in result.stderr and "quota exceeded" in result.stderr
    state = json.loads((project / ".onto" / "state" / "my-shop-123.json").read_text())
    assert sorted(state["functions"]) == ["audit-record", "order-count"]


def test_init_makes_a_project_that_runs_as_is(tmp_path):
    target = tmp_path / "hello-app"
    result = onto("init", str(target))
    assert result.exit_code == 0, result.output
    for name in ("pyproject.toml", "requirements.txt", "hello_app/main.py", "tests/test_main.py", "firebase.json"):
        assert (target / name).is_file(), name
    firebase = json.loads((target / "firebase.json").read_text())
    assert [f["codebase"] for f in firebase["functions"]] == ["welcome-welcome"]
    assert firebase["emulators"]["firestore"]["port"] == 8080
    assert onto("init", str(target)).exit_code == EXIT_BAD_INPUT  # never overwrites silently
    listed = onto("list", "--json", "-C", str(target))
    assert [r["function"] for r in json.loads(listed.stdout)] == ["welcome-welcome"]
    # its own test passes on the emulator fixture
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=target, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_messages_print_user_text_literally_not_as_markup(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.onto]\n")  # no app: the message names [tool.onto] app
    result = onto("list", "-C", str(tmp_path))
    assert result.exit_code == EXIT_REFUSED
    assert "set [tool.onto] app in pyproject.toml" in result.stderr
    odd = tmp_path / "[b]odd"  # a folder name that reads as a markup tag
    odd.mkdir()
    (odd / "pyproject.toml").write_text("[tool.onto\n")
    result = onto("bundle", "-C", str(odd))
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"{odd / 'pyproject.toml'}: not valid TOML" in result.stderr


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its bytes (bytecode caches aside: importing the app writes them)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("args", [
    ("--dry-run", "-p", "my-shop-123", "--backend", "gcloud"),
    ("-p", "demo-shop"),  # refused: a demo project
    ("-p", "my-shop-123", "--database-location", "europe-west1"),  # refused: the region does not match
])
def test_a_dry_run_or_a_refused_deploy_leaves_the_tree_byte_identical(project, args):
    onto("bundle", "-C", str(project))
    stock = project / "shop" / "stock.py"  # a change since the last bundle, which a real deploy would write
    stock.write_text(stock.read_text().replace("memory_mb = 512", "memory_mb = 1024"))
    (project / "build" / "onto" / "order-count" / "main.py").unlink()
    before = tree_bytes(project)
    result = onto("deploy", "-C", str(project), *args, env={"ONTO_GCLOUD_BIN": sys.executable})
    assert result.exit_code in (0, EXIT_REFUSED), result.output
    assert tree_bytes(project) == before
