"""A secret's value never reaches build/: planted in `.secret.local` and in the environment, it is in no
file after `onto bundle` or a deploy, and the manifest names the secret only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onto_functions.deploy.bundle_errors import BundleWarning

from onto_functions.deploy.pipeline import deploy_project
from onto_functions.deploy.project import load_project
from onto_functions_cli.main import app

from tests.test_function_settings import PROJECT, Gcloud, vault_project

LOCAL_VALUE = "tok_planted_in_secret_local_5b1c"
ENV_VALUE = "sk_planted_in_environment_93fd"
# include globs that would sweep everything in, the secret files too
SWEEPING = '[tool.onto]\napp = "vault.main"\nbackend = "gcloud"\ninclude = ["*", "vault/*", ".secret*", ".env*"]\n'


def planted(root: Path) -> Path:
    vault_project(root)
    (root / "pyproject.toml").write_text(SWEEPING)
    (root / ".secret.local").write_text(f"GREETER_TOKEN={LOCAL_VALUE}\n")
    (root / "vault" / ".secret.local").write_text(f"STRIPE_KEY={LOCAL_VALUE}\n")
    (root / ".env").write_text("GREETING=Hello\n")
    return root


def files_holding(folder: Path, *values: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and any(v.encode() in p.read_bytes() for v in values)]


def test_onto_bundle_writes_no_secret_value_and_names_secrets_only(tmp_path):
    root = planted(tmp_path / "proj")
    result = CliRunner().invoke(app, ["bundle", "-C", str(root)], env={"STRIPE_KEY": ENV_VALUE, "COLUMNS": "250"},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "left .secret.local out" in result.output and "left vault/.secret.local out" in result.output
    build = root / "build"
    assert len(list(build.rglob("functions.yaml"))) == 2
    assert files_holding(build, LOCAL_VALUE, ENV_VALUE) == []
    assert LOCAL_VALUE not in (root / "firebase.json").read_text()
    manifest = (build / "onto" / "greeter-greet" / "functions.yaml").read_text()
    assert 'secretEnvironmentVariables:\n      - key: "GREETER_TOKEN"\n        secret: "GREETER_TOKEN"' in manifest
    assert '- name: "GREETER_TOKEN"\n    type: "secret"' in manifest


def test_a_deploy_writes_no_secret_value_either(tmp_path, monkeypatch):
    root = planted(tmp_path / "proj")
    monkeypatch.setenv("STRIPE_KEY", ENV_VALUE)
    monkeypatch.setenv("GREETER_TOKEN", ENV_VALUE)
    gcloud = Gcloud({"GREETER_TOKEN": "ENABLED", "STRIPE_KEY": "ENABLED"})
    with pytest.warns(BundleWarning) as caught:
        report = deploy_project(load_project(root), project=PROJECT, runner=gcloud, gcloud_bin="gcloud", yes=True)
    assert any("left .secret.local out" in str(w.message) for w in caught)
    assert report.ok, report.results
    assert files_holding(root / "build", LOCAL_VALUE, ENV_VALUE) == []
    assert not any(LOCAL_VALUE in a or ENV_VALUE in a for argv in gcloud.ran for a in argv)  # nor a command
    state = json.loads((root / ".onto" / "state" / f"{PROJECT}.json").read_text())
    assert LOCAL_VALUE not in json.dumps(state)
