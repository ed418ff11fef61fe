"""The generated gcloud commands are accepted by the real gcloud CLI (offline).

gcloud parses and validates a command's arguments before it asks for an
account; with a throwaway config dir and no account it then stops with
"You do not currently have an active account selected". Reaching that
message means the arguments parsed; a bad flag fails earlier with
"unrecognized arguments" or "Bad syntax" (checked below, so the test can fail).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from onto_functions import ledger
from onto_functions.deploy.pipeline import deploy_project
from onto_functions.deploy.project import load_project
from onto_functions.deploy.state import DeployedFunction, DeployedState, save_state

from tests.test_bundle import write_project

PARSED = "You do not currently have an active account selected"
PROJECT = "my-shop-123"
GCLOUD = shutil.which("gcloud")

pytestmark = pytest.mark.skipif(GCLOUD is None, reason="needs the gcloud CLI")  # every machine here has it


def gcloud_env(config_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))}
    env.update({
        "CLOUDSDK_CONFIG": str(config_dir),  # a throwaway config: no account, no credentials
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
    })
    return env


def run_gcloud(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


@pytest.fixture
def commands(tmp_path: Path) -> list[list[str]]:
    root = write_project(tmp_path / "proj", pyproject=(
        '[tool.onto]\napp = "shop.main"\nbackend = "gcloud"\nregion = "us-central1"\n'
        'database_location = "nam5"\n'))
    stock = root / "shop" / "stock.py"
    stock.write_text(stock.read_text().replace(
        "memory_mb = 512", "memory_mb = 1024\n        max_instances = 10\n        concurrency = 1\n"
        "        timeout_seconds = 300\n        retry = False"))
    config = load_project(root)
    save_state(config.state_path, DeployedState(PROJECT, {"old-trigger": DeployedFunction(
        "old-trigger", "0" * 64, "europe-west1", "gcloud", "2026-01-01T00:00:00+00:00")}))
    report = deploy_project(config, project=PROJECT, dry_run=True, gcloud_bin=GCLOUD)
    return report.commands


def test_generated_commands_cover_every_step(commands):
    kinds = sorted({tuple(c[1:3]) for c in commands})
    assert kinds == [("firestore", "fields"), ("functions", "delete"), ("functions", "deploy")]
    stock = next(c for c in commands if c[1:4] == ["functions", "deploy", "stock-restock"])
    for flag in ("--gen2", "--no-retry", "--memory=1Gi", "--max-instances=10", "--concurrency=1",
                 "--timeout=300s", "--trigger-location=nam5",
                 "--trigger-event-filters=type=google.cloud.firestore.document.v1.written",
                 "--trigger-event-filters=database=(default)",
                 "--trigger-event-filters-path-pattern=document=items/{item_id}"):
        assert flag in stock, flag
    order = next(c for c in commands if c[1:4] == ["functions", "deploy", "order-count"])
    assert "--retry" in order


def test_every_deployed_function_is_told_its_own_project(commands):
    """The function refuses events of other projects, so it must know its own (firebase-tools sets it itself)."""
    deploys = [c for c in commands if c[1:3] == ["functions", "deploy"]]
    assert deploys and all(f"--set-env-vars=GCLOUD_PROJECT={PROJECT}" in c for c in deploys)


def test_real_gcloud_accepts_every_generated_command(commands, tmp_path):
    env = gcloud_env(tmp_path / "gcloud-config")
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda argv: run_gcloud(argv, env), commands))
    for argv, output in zip(commands, outputs):
        assert PARSED in output, f"gcloud refused {argv}:\n{output[-2000:]}"


def test_real_gcloud_rejects_a_bad_flag_so_the_check_means_something(commands, tmp_path):
    env = gcloud_env(tmp_path / "gcloud-config")
    deploy = next(c for c in commands if c[1:3] == ["functions", "deploy"])
    bad = [*deploy, "--trigger-event-filters-path-pattern=documentmeetings"]
    unknown = [*deploy, "--retries=3"]
    with ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(lambda argv: run_gcloud(argv, env), [bad, unknown]))
    assert all(PARSED not in out for out in outputs), outputs
    assert "unrecognized arguments" in outputs[1]


def test_ttl_command_targets_the_ledger_expiry_field(commands):
    ttl = [c for c in commands if c[1:3] == ["firestore", "fields"]]
    assert {c[5] for c in ttl} == {ledger.EXPIRY_FIELD}
    assert sorted(a.split("=", 1)[1] for c in ttl for a in c if a.startswith("--collection-group=")) == sorted(
        ledger.COLLECTIONS)
    assert all("--enable-ttl" in c and f"--project={PROJECT}" in c for c in ttl)
