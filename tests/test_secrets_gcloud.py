"""Secrets with the REAL gcloud, offline: it accepts the generated `--set-secrets` / `--set-env-vars`
deploy commands, and the deploy-time check reads what it prints about each secret (from a local
stand-in of the Secret Manager API, `tests/secret_manager_api.py`)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from onto_functions.deploy.pipeline import DeployRefused, deploy_project
from onto_functions.deploy.project import load_project

from tests.secret_manager_api import SecretManagerApi
from tests.test_function_settings import PROJECT, vault_project
from tests.test_gcloud_args import GCLOUD, PARSED, gcloud_env, run_gcloud

pytestmark = pytest.mark.skipif(GCLOUD is None, reason="needs the gcloud CLI")  # every machine here has it


def test_real_gcloud_accepts_the_deploy_commands_with_secrets_and_params(tmp_path, monkeypatch):
    for name, value in gcloud_env(tmp_path / "plan-config").items():  # no account: every read fails politely
        monkeypatch.setenv(name, value)
    root = vault_project(tmp_path / "proj")
    (root / ".env").write_text('GREETING="Hello, world"\n')  # a comma: gcloud's ^@^ delimiter syntax
    report = deploy_project(load_project(root), project=PROJECT, dry_run=True, gcloud_bin=GCLOUD)
    deploys = [c for c in report.commands if c[1:3] == ["functions", "deploy"]]
    greet = next(c for c in deploys if c[3] == "greeter-greet")
    assert "--set-env-vars=^@^GCLOUD_PROJECT=my-shop-123@GREETING=Hello, world" in greet
    assert "--set-secrets=GREETER_TOKEN=GREETER_TOKEN:latest" in greet
    # gcloud could not say whether the secrets exist: said, not refused
    assert any(w.startswith("could not check that secret(s) GREETER_TOKEN, STRIPE_KEY exist (") and "active account"
               in w for w in report.warnings)
    env = gcloud_env(tmp_path / "gcloud-config")
    with ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(lambda argv: run_gcloud(argv, env), deploys))
    for argv, output in zip(deploys, outputs):
        assert PARSED in output, f"gcloud refused {argv}:\n{output[-2000:]}"
    bad = [a if not a.startswith("--set-secrets=") else "--set-secrets=GREETER_TOKEN" for a in greet]
    assert PARSED not in run_gcloud(bad, env)  # a malformed reference is refused: the check means something


def test_deploy_names_what_the_real_gcloud_reports_missing(tmp_path, monkeypatch):
    with SecretManagerApi({"GREETER_TOKEN": "DISABLED"}) as api:
        for name in [k for k in os.environ if k.startswith(("CLOUDSDK_", "GOOGLE_"))]:
            monkeypatch.delenv(name)
        for name, value in api.gcloud_env(tmp_path / "gcloud-config").items():
            monkeypatch.setenv(name, value)
        root = vault_project(tmp_path / "proj")
        with pytest.raises(DeployRefused) as caught:
            deploy_project(load_project(root), project=PROJECT, gcloud_bin=GCLOUD)
        asked = sorted(r for r in api.requests if "/secrets/" in r)
    assert str(caught.value) == (
        "missing before deploy: param GREETING (no value in .env or .env.my-shop-123) for greeter-greet; "
        "secret GREETER_TOKEN (its latest version is DISABLED) for greeter-greet; "
        "secret STRIPE_KEY (not in Secret Manager of my-shop-123, or it has no version) for charge-charge")
    assert asked == [f"GET /v1/projects/{PROJECT}/secrets/{n}/versions/latest?alt=json"
                     for n in ("GREETER_TOKEN", "STRIPE_KEY")]
    assert not (root / "build").exists()
