"""Message and schedule triggers on the deploy side: `onto list`, the manifest, the gcloud commands
(checked by the real gcloud offline, as tests/test_gcloud_args.py does)."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onto_functions.deploy.manifest import manifest_for
from onto_functions.deploy.pipeline import deploy_project
from onto_functions.deploy.project import load_project
from onto_functions.deploy.state import DeployedFunction, DeployedState, save_state
from onto_functions_cli.main import app

from tests.test_gcloud_args import GCLOUD, PARSED, gcloud_env, run_gcloud

PROJECT = "my-shop-123"
APP = Path(__file__).resolve().parents[1] / "emulator_tests" / "apps" / "streams.py"


def stream_project(root: Path, backend: str = "gcloud") -> Path:
    (root / "streamshop").mkdir(parents=True)
    (root / "streamshop" / "__init__.py").write_text("")
    shutil.copy(APP, root / "streamshop" / "main.py")
    (root / "pyproject.toml").write_text(f'[tool.onto]\napp = "streamshop.main"\nbackend = "{backend}"\n')
    return root


def test_onto_list_shows_the_topic_and_the_schedule(tmp_path):
    root = stream_project(tmp_path / "proj")
    result = CliRunner().invoke(app, ["list", "--json", "-C", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {r["function"]: r for r in json.loads(result.stdout)}
    assert rows["payment-credit"]["eventType"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert rows["payment-credit"]["source"] == "topic:payments"
    assert rows["payment-credit"]["sourceModel"] == "streamshop.main:Payment"
    assert rows["heartbeat-beat"]["schedule"] == "every 5 minutes"
    assert rows["heartbeat-beat"]["timeZone"] == "Europe/Paris"
    table = CliRunner().invoke(app, ["list", "-C", str(root)], env={"COLUMNS": "250"}, catch_exceptions=False)
    assert "topic:payments" in table.stdout and "schedule:every 5 minutes" in table.stdout


def test_manifests_say_topic_and_schedule_as_the_functions_sdk_does(tmp_path):
    import sys

    sys.path.insert(0, str(APP.parent))
    try:
        import streams
    finally:
        sys.path.remove(str(APP.parent))
    message = manifest_for(streams.PaymentMediator.trigger_specs()[0])["endpoints"]["payment-credit"]
    assert message["eventTrigger"] == {"eventType": "google.cloud.pubsub.topic.v1.messagePublished",
                                       "eventFilters": {"topic": "payments"}, "retry": True}
    tick = manifest_for(streams.HeartbeatMediator.trigger_specs()[0])
    assert "eventTrigger" not in tick["endpoints"]["heartbeat-beat"]
    assert tick["endpoints"]["heartbeat-beat"]["scheduleTrigger"] == {
        "schedule": "every 5 minutes", "timeZone": "Europe/Paris", "retryConfig": {"retryCount": 4}}
    assert tick["requiredAPIs"][0]["api"] == "cloudscheduler.googleapis.com"


@pytest.fixture
def commands(tmp_path: Path) -> list[list[str]]:
    """gcloud commands for a first deploy of both triggers and an update of both."""
    first = deploy_project(load_project(stream_project(tmp_path / "a")), project=PROJECT, dry_run=True,
                           gcloud_bin=GCLOUD or "gcloud").commands
    config = load_project(stream_project(tmp_path / "b"))
    save_state(config.state_path, DeployedState(PROJECT, {name: DeployedFunction(
        name, "0" * 64, "us-central1", "gcloud", "2026-01-01T00:00:00+00:00")
        for name in ("payment-credit", "heartbeat-beat")}))
    update = deploy_project(config, project=PROJECT, dry_run=True, gcloud_bin=GCLOUD or "gcloud").commands
    return first + update


def test_gcloud_commands_trigger_on_the_topic_and_schedule_the_job(commands):
    deploys = {c[3]: c for c in commands if c[1:3] == ["functions", "deploy"]}
    assert "--trigger-topic=payments" in deploys["payment-credit"] and "--retry" in deploys["payment-credit"]
    beat = deploys["heartbeat-beat"]
    assert "--trigger-http" in beat and "--no-allow-unauthenticated" in beat
    assert not any(a.startswith(("--retry", "--trigger-event-filters")) for a in beat)
    jobs = [c for c in commands if c[1:3] == ["scheduler", "jobs"]]
    assert sorted(c[3] for c in jobs) == ["create", "update"]
    for job in jobs:
        assert job[5] == "onto-heartbeat-beat"
        for flag in ("--schedule=every 5 minutes", "--time-zone=Europe/Paris", "--max-retry-attempts=4",
                     f"--uri=https://us-central1-{PROJECT}.cloudfunctions.net/heartbeat-beat"):
            assert flag in job, flag


@pytest.mark.skipif(GCLOUD is None, reason="needs the gcloud CLI")
def test_real_gcloud_accepts_the_stream_commands(commands, tmp_path):
    env = gcloud_env(tmp_path / "gcloud-config")
    wanted = [c for c in commands if c[1:3] in (["functions", "deploy"], ["scheduler", "jobs"])]
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda argv: run_gcloud(argv, env), wanted))
    for argv, output in zip(wanted, outputs):
        assert PARSED in output, f"gcloud refused {argv}:\n{output[-2000:]}"
    bad = next(c for c in wanted if c[1:3] == ["scheduler", "jobs"]) + ["--max-retry-attempt=3"]
    assert PARSED not in run_gcloud(bad, env)
