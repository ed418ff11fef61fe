"""HTTPS and callable functions on the deploy side: the manifest, the gcloud commands (checked by the
real gcloud offline, as tests/test_gcloud_args.py does), `onto list`, and the timeout each kind allows."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onto_functions import Mediator, source
from onto_functions.deploy.manifest import manifest_for
from onto_functions.deploy.pipeline import deploy_project
from onto_functions.deploy.project import load_project
from onto_functions.deploy.state import DeployedFunction, DeployedState, save_state
from onto_functions_cli.main import app

from tests.test_gcloud_args import GCLOUD, PARSED, gcloud_env, run_gcloud

PROJECT = "my-shop-123"
APP = Path(__file__).resolve().parents[1] / "emulator_tests" / "apps" / "deposits.py"


def deposits_project(root: Path, backend: str = "gcloud") -> Path:
    (root / "bank").mkdir(parents=True)
    (root / "bank" / "__init__.py").write_text("")
    shutil.copy(APP, root / "bank" / "main.py")
    (root / "pyproject.toml").write_text(f'[tool.onto]\napp = "bank.main"\nbackend = "{backend}"\n')
    return root


@pytest.fixture(scope="module")
def deposits():
    import sys

    sys.path.insert(0, str(APP.parent))
    try:
        import deposits
    finally:
        sys.path.remove(str(APP.parent))
    return deposits


def test_manifests_say_https_and_callable_as_the_functions_sdk_does(deposits):
    call = manifest_for(deposits.DepositCallMediator.trigger_specs()[0])
    endpoint = call["endpoints"]["deposit-add"]
    assert endpoint["callableTrigger"] == {} and endpoint["labels"]["deployment-callable"] == "true"
    assert not {"eventTrigger", "httpsTrigger", "scheduleTrigger"} & set(endpoint)
    https = manifest_for(deposits.DepositHttpsMediator.trigger_specs()[0])
    endpoint = https["endpoints"]["deposit-post"]
    assert endpoint["httpsTrigger"] == {}  # no invoker: firebase-tools makes it public on create
    assert "deployment-callable" not in endpoint["labels"] and endpoint["timeoutSeconds"] == 900
    assert call["requiredAPIs"] == https["requiredAPIs"] == []


def test_an_http_function_may_run_an_hour_and_an_event_trigger_nine_minutes():
    class Slow(Mediator):
        source = source.callable()

        class Meta:
            timeout_seconds = 3600

        @source.triggers.on_call(name="slow-call")
        def call(self, request, store):
            return None

    assert Slow.trigger_specs()[0].options.timeout_seconds == 3600
    with pytest.raises(ValueError, match=r"'too-slow'.*timeout_seconds=600.*540 s"):
        class TooSlow(Mediator):
            source = source.document("things/{id}")

            @source.triggers.on_write(name="too-slow", timeout_seconds=600)
            def write(self, change, store):
                pass
    with pytest.raises(ValueError, match="between 1 and 3600"):
        class Endless(Mediator):
            source = source.callable()

            @source.triggers.on_call(name="endless", timeout_seconds=3601)
            def call(self, request, store):
                return None


def test_onto_list_shows_route_methods_access_and_url(tmp_path):
    root = deposits_project(tmp_path / "proj")
    result = CliRunner().invoke(app, ["list", "--json", "-C", str(root), "-p", PROJECT], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {r["function"]: r for r in json.loads(result.stdout)}
    post = rows["deposit-post"]
    assert post["route"] == "/accounts/{account_id}/deposits" and post["methods"] == ["POST"]
    assert post["access"] == "signed_in"
    assert post["url"] == f"https://us-central1-{PROJECT}.cloudfunctions.net/deposit-post/accounts/{{account_id}}/deposits"
    assert rows["deposit-add"]["url"] == f"https://us-central1-{PROJECT}.cloudfunctions.net/deposit-add"
    assert rows["deposit-add"]["source"] == "callable" and rows["balance-refresh"]["url"] is None
    table = CliRunner().invoke(app, ["list", "-C", str(root)], env={"COLUMNS": "250"}, catch_exceptions=False)
    assert "https:POST /accounts/{account_id}/deposits" in table.stdout
    assert "https://us-central1-PROJECT.cloudfunctions.net/deposit-add" in table.stdout
    assert "access=signed_in" in table.stdout


@pytest.fixture
def commands(tmp_path: Path) -> list[list[str]]:
    """gcloud commands for a first deploy of every function and an update of every one."""
    first = deploy_project(load_project(deposits_project(tmp_path / "a")), project=PROJECT, dry_run=True,
                           gcloud_bin=GCLOUD or "gcloud").commands
    config = load_project(deposits_project(tmp_path / "b"))
    save_state(config.state_path, DeployedState(PROJECT, {name: DeployedFunction(
        name, "0" * 64, "us-central1", "gcloud", "2026-01-01T00:00:00+00:00")
        for name in ("deposit-add", "deposit-post", "balance-refresh")}))
    update = deploy_project(config, project=PROJECT, dry_run=True, gcloud_bin=GCLOUD or "gcloud").commands
    return first + update


def test_gcloud_deploys_https_and_callable_as_public_http_functions(commands):
    deploys = [c for c in commands if c[1:3] == ["functions", "deploy"]]
    assert sorted(c[3] for c in deploys) == sorted(["deposit-add", "deposit-post", "balance-refresh"] * 2)
    for argv in deploys:
        if argv[3] == "balance-refresh":
            continue
        assert "--trigger-http" in argv and "--allow-unauthenticated" in argv
        assert not any(a.startswith(("--retry", "--no-retry", "--trigger-event-filters")) for a in argv)
    post = next(c for c in deploys if c[3] == "deposit-post")
    assert "--timeout=900s" in post
    add = next(c for c in deploys if c[3] == "deposit-add")
    assert any(a.startswith("--update-labels=") and "deployment-callable=true" in a for a in add)


@pytest.mark.skipif(GCLOUD is None, reason="needs the gcloud CLI")
def test_real_gcloud_accepts_every_http_and_callable_command(commands, tmp_path):
    env = gcloud_env(tmp_path / "gcloud-config")
    wanted = [c for c in commands if c[1:3] == ["functions", "deploy"]]
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda argv: run_gcloud(argv, env), wanted))
    for argv, output in zip(wanted, outputs):
        assert PARSED in output, f"gcloud refused {argv}:\n{output[-2000:]}"
    add = next(c for c in wanted if c[3] == "deposit-add")
    assert PARSED not in run_gcloud([*add, "--allow-unauthenticated=maybe"], env)
