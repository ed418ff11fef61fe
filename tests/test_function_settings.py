"""Secrets and params: declared names, the runtime API, the manifest, gcloud flags, dotenv files, the
deploy-time check (against a stand-in for gcloud's process) and the local stack's values. No emulator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from onto_functions import Mediator, TriggerOptions, source
from onto_functions.deploy.backends import Command, DeployTarget, dict_flag, settings_flags
from onto_functions.deploy.bundle import collect_bundles
from onto_functions.deploy.dotenv_files import DotenvError, parse_dotenv
from onto_functions.deploy.function_settings import check_settings, secret_check_argv
from onto_functions.deploy.manifest import manifest_for, to_yaml
from onto_functions.deploy.pipeline import DeployRefused, deploy_project
from onto_functions.deploy.plan import Action
from onto_functions.deploy.project import load_project
from onto_functions.local.local_settings import worker_settings
from onto_functions.secrets import MissingSetting, param, secret

from tests.functions_api import v2_function

PROJECT = "my-shop-123"
APP = Path(__file__).resolve().parents[1] / "emulator_tests" / "apps" / "vault.py"


def vault_project(root: Path, backend: str = "gcloud") -> Path:
    (root / "vault").mkdir(parents=True)
    (root / "vault" / "__init__.py").write_text("")
    shutil.copy(APP, root / "vault" / "main.py")
    (root / "pyproject.toml").write_text(f'[tool.onto]\napp = "vault.main"\nbackend = "{backend}"\n')
    return root


class Gcloud:
    """A stand-in for gcloud's process: knows some secrets, lists what it deployed, records what it ran."""

    def __init__(self, secrets: dict[str, str] | None = None, broken: str | None = None,
                 deployed: list[dict] | None = None) -> None:
        self.secrets = secrets or {}  # name -> state of its latest version
        self.broken = broken  # an error every secrets call answers (no account...)
        self.deployed = deployed if deployed is not None else []  # v2 function resources
        self.ran: list[tuple[str, ...]] = []

    def __call__(self, command: Command) -> "subprocess.CompletedProcess[str]":
        argv = command.argv
        self.ran.append(argv)
        if argv[1:3] == ("functions", "list"):
            return subprocess.CompletedProcess(argv, 0, json.dumps(self.deployed), "")
        if argv[1:3] == ("functions", "deploy"):
            labels = dict(kv.split("=", 1) for a in argv if a.startswith("--update-labels=")
                          for kv in a.split("=", 1)[1].split(","))
            self.deployed.append(v2_function(PROJECT, "us-central1", argv[3], labels))
        if argv[1:4] == ("secrets", "versions", "describe"):
            if self.broken:
                return subprocess.CompletedProcess(argv, 1, "", self.broken)
            name = next(a.split("=", 1)[1] for a in argv if a.startswith("--secret="))
            if name not in self.secrets:
                return subprocess.CompletedProcess(argv, 1, "", f"ERROR: (gcloud.secrets.versions.describe) "
                                                   f"NOT_FOUND: Secret [projects/1/secrets/{name}] not found or has no versions.")
            return subprocess.CompletedProcess(argv, 0, json.dumps({"name": f"projects/1/secrets/{name}/versions/3",
                                                                   "state": self.secrets[name]}), "")
        return subprocess.CompletedProcess(argv, 0, "", "")  # a deploy: the cloud is out of reach


# ------------------------------------------------------------------ declarations


def test_meta_and_decorator_declare_names_that_reach_the_spec():
    class Shop(Mediator):
        class Meta:
            secrets = ("STRIPE_KEY",)
            params = "GREETING"  # one name alone is a tuple of one

        source = source.document("orders/{order_id}")

        @source.triggers.on_create
        def charge(self, change, store):
            pass

        @source.triggers.on_delete(secrets=["STRIPE_KEY", "REFUND_KEY"])
        def refund(self, change, store):
            pass

    specs = {s.handler: s for s in Shop.trigger_specs()}
    assert specs["charge"].options.secrets == ("STRIPE_KEY",)
    assert specs["charge"].options.params == ("GREETING",)
    assert specs["refund"].options.secrets == ("STRIPE_KEY", "REFUND_KEY")  # the decorator's list, as a tuple
    assert {"secrets", "params"} <= specs["refund"].explicit_options


@pytest.mark.parametrize("options, words", [
    ({"secrets": ("stripe_key",)}, "'stripe_key' is not an environment variable name"),
    ({"secrets": ("1KEY",)}, "'1KEY' is not an environment variable name"),
    ({"params": ("A-B",)}, "'A-B' is not an environment variable name"),
    ({"secrets": ("FIREBASE_TOKEN",)}, "'FIREBASE_TOKEN' is reserved"),
    ({"secrets": ("X_GOOGLE_THING",)}, "'X_GOOGLE_THING' is reserved"),
    ({"params": ("GOOGLE_APPLICATION_CREDENTIALS",)}, "is reserved"),
    ({"params": ("K_SERVICE",)}, "'K_SERVICE' is reserved"),
    ({"params": ("PORT",)}, "'PORT' is reserved"),
    ({"params": ("GCLOUD_PROJECT",)}, "'GCLOUD_PROJECT' is reserved"),
    ({"params": ("ONTO_LOG_FORMAT",)}, "is reserved"),
    ({"secrets": ("A", "B", "A")}, "secrets: A declared twice"),
    ({"secrets": ("A",), "params": ("A",)}, "A declared both as a secret and as a param"),
    ({"secrets": 3}, "secrets must be a sequence of names"),
])
def test_names_cloud_functions_would_refuse_are_refused_at_import(options, words):
    with pytest.raises(ValueError) as caught:
        TriggerOptions(**options)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_name_in_meta_fails_when_the_class_is_made():
    with pytest.raises(ValueError, match="'FIREBASE_CONFIG' is reserved"):
        class Bad(Mediator):  # noqa: F841
            class Meta:
                params = ("FIREBASE_CONFIG",)

            source = source.document("a/{b}")

            @source.triggers.on_write
            def w(self, change, store):
                pass


# ------------------------------------------------------------------ the runtime API


def test_secret_and_param_read_the_environment_at_call_time(monkeypatch):
    monkeypatch.setenv("STRIPE_KEY", "sk_test_1")
    monkeypatch.setenv("GREETING", "Hello")
    assert secret("STRIPE_KEY") == "sk_test_1" and param("GREETING") == "Hello"
    monkeypatch.setenv("STRIPE_KEY", "sk_test_2")  # nothing cached: a new instance's value is read
    assert secret("STRIPE_KEY") == "sk_test_2"


def test_an_absent_secret_is_one_line_naming_it_and_the_function(monkeypatch):
    monkeypatch.delenv("STRIPE_KEY", raising=False)
    monkeypatch.setenv("K_SERVICE", "shop-charge")
    with pytest.raises(MissingSetting) as caught:
        secret("STRIPE_KEY")
    text = str(caught.value)
    assert "secret 'STRIPE_KEY' is not set for function 'shop-charge'" in text and "\n" not in text
    assert ".secret.local" in text
    with pytest.raises(MissingSetting, match="param 'GREETING' is not set for function 'shop-charge'.*.env"):
        monkeypatch.delenv("GREETING", raising=False)
        param("GREETING")


# ------------------------------------------------------------------ manifest and gcloud flags


def vault_specs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("vault_manifest_test", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {s.name: s for m in module.mediators for s in m.trigger_specs()}


def test_the_manifest_references_secrets_by_name_as_the_functions_sdk_does():
    specs = vault_specs()
    greet = manifest_for(specs["greeter-greet"])
    endpoint = greet["endpoints"]["greeter-greet"]
    assert endpoint["secretEnvironmentVariables"] == [{"key": "GREETER_TOKEN", "secret": "GREETER_TOKEN"}]
    assert greet["params"] == [{"name": "GREETER_TOKEN", "type": "secret"}, {"name": "GREETING", "type": "string"}]
    charge = manifest_for(specs["charge-charge"])
    assert charge["params"] == [{"name": "STRIPE_KEY", "type": "secret"}]
    text = to_yaml(greet)
    assert "    secretEnvironmentVariables:\n      - key: \"GREETER_TOKEN\"\n        secret: \"GREETER_TOKEN\"" in text
    assert "params:\n  - name: \"GREETER_TOKEN\"\n    type: \"secret\"" in text


def test_a_function_without_secrets_keeps_its_manifest_as_it_was():
    class Plain(Mediator):
        source = source.document("a/{b}")

        @source.triggers.on_write
        def w(self, change, store):
            pass

    manifest = manifest_for(Plain.trigger_specs()[0])
    assert "params" not in manifest and "secretEnvironmentVariables" not in manifest["endpoints"]["plain-w"]


def test_gcloud_flags_set_params_and_secret_references_and_clear_stale_ones():
    specs = vault_specs()
    target = DeployTarget(PROJECT, param_values={"GREETING": "Hello, you", "OTHER": "not declared"})
    flags = settings_flags(specs["greeter-greet"], target)
    assert flags == ["--set-env-vars=^@^GCLOUD_PROJECT=my-shop-123@GREETING=Hello, you",
                     "--set-secrets=GREETER_TOKEN=GREETER_TOKEN:latest"]
    plain = settings_flags(specs["charge-charge"], DeployTarget(PROJECT))
    assert plain == ["--set-env-vars=GCLOUD_PROJECT=my-shop-123", "--set-secrets=STRIPE_KEY=STRIPE_KEY:latest"]


def test_dict_flag_picks_a_delimiter_no_value_holds():
    assert dict_flag("--x", {"A": "1,2@3"}) == "--x=^|^A=1,2@3"
    with pytest.raises(ValueError, match="every delimiter"):
        dict_flag("--x", {"A": ",@|~#%;:+"})


# ------------------------------------------------------------------ dotenv files


def test_dotenv_syntax_of_firebase_tools():
    text = ('# a comment\n\nexport A=1\nB = two words  # trailing comment\nC="line\\nbreak \\"q\\""\n'
            "D='literal \\n'\nE=\nF=x=y\n")
    assert parse_dotenv(text, ".env") == {"A": "1", "B": "two words", "C": 'line\nbreak "q"',
                                          "D": "literal \\n", "E": "", "F": "x=y"}


def test_an_unreadable_dotenv_line_names_file_and_line_never_its_text():
    with pytest.raises(DotenvError) as caught:
        parse_dotenv("A=1\nsk_live_value_on_its_own\n", "/p/.secret.local")
    assert str(caught.value).startswith("/p/.secret.local, line 2:")
    assert "sk_live" not in str(caught.value)


# ------------------------------------------------------------------ the deploy-time check


def test_check_names_every_missing_secret_and_param_with_the_functions_that_need_them():
    specs = list(vault_specs().values())
    gcloud = Gcloud({"GREETER_TOKEN": "DISABLED"})
    missing, warnings = check_settings(specs, {}, DeployTarget(PROJECT), gcloud)
    assert missing == ("missing before deploy: "
                       "param GREETING (no value in .env or .env.my-shop-123) for greeter-greet; "
                       "secret GREETER_TOKEN (its latest version is DISABLED) for greeter-greet; "
                       "secret STRIPE_KEY (not in Secret Manager of my-shop-123, or it has no version) "
                       "for charge-charge")
    assert warnings == []
    assert sorted(a for argv in gcloud.ran for a in argv if a.startswith("--secret=")) == [
        "--secret=GREETER_TOKEN", "--secret=STRIPE_KEY"]
    assert secret_check_argv("X", DeployTarget(PROJECT))[1:5] == ("secrets", "versions", "describe", "latest")


def test_a_check_gcloud_cannot_answer_is_a_warning_not_a_refusal():
    specs = list(vault_specs().values())
    gcloud = Gcloud(broken="ERROR: (gcloud.secrets.versions.describe) You do not currently have an active account")
    missing, warnings = check_settings(specs, {"GREETING": "hi"}, DeployTarget(PROJECT), gcloud)
    assert missing is None
    assert warnings == ["could not check that secret(s) GREETER_TOKEN, STRIPE_KEY exist (ERROR: (gcloud.secrets."
                        "versions.describe) You do not currently have an active account); a missing one fails the "
                        "deploy of the functions that need it"]


def test_deploy_refuses_before_any_command_runs_naming_what_is_missing(tmp_path):
    root = vault_project(tmp_path / "proj")
    gcloud = Gcloud({"GREETER_TOKEN": "ENABLED"})
    with pytest.raises(DeployRefused) as caught:
        deploy_project(load_project(root), project=PROJECT, runner=gcloud, gcloud_bin="gcloud")
    assert str(caught.value) == ("missing before deploy: param GREETING (no value in .env or .env.my-shop-123) "
                                 "for greeter-greet; secret STRIPE_KEY (not in Secret Manager of my-shop-123, "
                                 "or it has no version) for charge-charge")
    assert all(argv[1:3] != ("functions", "deploy") for argv in gcloud.ran)
    assert not (root / "build").exists()  # nothing written either
    report = deploy_project(load_project(root), project=PROJECT, runner=gcloud, gcloud_bin="gcloud", dry_run=True)
    assert any(w.startswith("missing before deploy: ") for w in report.warnings)  # a dry run says it too


def test_deploy_passes_values_and_a_changed_value_redeploys_only_its_readers(tmp_path):
    root = vault_project(tmp_path / "proj")
    (root / ".env").write_text("GREETING=Hello\n")
    (root / f".env.{PROJECT}").write_text("GREETING=Bonjour\n")  # the project's own file wins
    gcloud = Gcloud({"GREETER_TOKEN": "ENABLED", "STRIPE_KEY": "ENABLED"})
    report = deploy_project(load_project(root), project=PROJECT, runner=gcloud, gcloud_bin="gcloud", yes=True)
    assert report.ok, report.results
    greet = next(a for a in gcloud.ran if a[1:4] == ("functions", "deploy", "greeter-greet"))
    assert "--set-env-vars=GCLOUD_PROJECT=my-shop-123,GREETING=Bonjour" in greet
    assert "--set-secrets=GREETER_TOKEN=GREETER_TOKEN:latest" in greet
    again = deploy_project(load_project(root), project=PROJECT, runner=gcloud, gcloud_bin="gcloud", dry_run=True)
    assert {s.name: s.action for s in again.steps if s.action is not Action.TTL} == {
        "greeter-greet": Action.UNCHANGED, "charge-charge": Action.UNCHANGED}
    (root / f".env.{PROJECT}").write_text("GREETING=Salut\n")
    changed = deploy_project(load_project(root), project=PROJECT, runner=gcloud, gcloud_bin="gcloud", dry_run=True)
    assert {s.name: s.action for s in changed.steps if s.action is not Action.TTL} == {
        "greeter-greet": Action.UPDATE, "charge-charge": Action.UNCHANGED}


def test_firebase_reads_param_values_beside_firebase_json(tmp_path):
    root = vault_project(tmp_path / "proj", backend="firebase")
    from onto_functions.deploy.pipeline import bundle_project

    bundle_project(load_project(root))
    codebases = {c["codebase"]: c for c in json.loads((root / "firebase.json").read_text())["functions"]}
    assert codebases["greeter-greet"]["configDir"] == "."  # firebase-tools reads .env, .env.<project> there
    assert "configDir" not in codebases["charge-charge"]  # secrets alone need no dotenv file


def test_onto_list_shows_each_functions_secrets_and_params_by_name(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from onto_functions_cli.main import app

    root = vault_project(tmp_path / "proj")
    (root / ".secret.local").write_text("GREETER_TOKEN=tok_never_listed\n")
    rows = {r["function"]: r["options"] for r in json.loads(
        CliRunner().invoke(app, ["list", "--json", "-C", str(root)], catch_exceptions=False).stdout)}
    assert (rows["greeter-greet"]["secrets"], rows["greeter-greet"]["params"]) == (["GREETER_TOKEN"], ["GREETING"])
    assert (rows["charge-charge"]["secrets"], rows["charge-charge"]["params"]) == (["STRIPE_KEY"], [])
    table = CliRunner().invoke(app, ["list", "-C", str(root)], env={"COLUMNS": "250"}, catch_exceptions=False).stdout
    assert "secrets=GREETER_TOKEN params=GREETING" in table and "tok_never_listed" not in table


# ------------------------------------------------------------------ local values


def test_local_workers_get_exactly_their_declared_values(tmp_path):
    specs = list(vault_specs().values())
    (tmp_path / ".secret.local").write_text("GREETER_TOKEN=tok-local\nUNUSED=x\n")
    (tmp_path / ".env").write_text("GREETING=Hello\n")
    (tmp_path / ".env.local").write_text("GREETING=Hi locally\n")
    settings = worker_settings(specs, tmp_path, "demo-x", environ={"STRIPE_KEY": "sk_from_ci"})
    assert settings == {"greeter-greet": {"GREETER_TOKEN": "tok-local", "GREETING": "Hi locally"},
                        "charge-charge": {"STRIPE_KEY": "sk_from_ci"}}


def test_a_missing_local_secret_is_one_line_naming_it_and_where_it_was_looked_for(tmp_path):
    specs = list(vault_specs().values())
    (tmp_path / ".env").write_text("GREETING=Hello\n")
    with pytest.raises(ValueError) as caught:
        worker_settings(specs, tmp_path, "demo-x", environ={})
    text = str(caught.value)
    assert text.startswith("missing for the local stack: secret GREETER_TOKEN for greeter-greet; "
                           "secret STRIPE_KEY for charge-charge (secrets go in ")
    assert str(tmp_path / ".secret.local") in text and "\n" not in text


def test_bundles_do_not_change_with_local_values(tmp_path):
    root = vault_project(tmp_path / "proj")
    before = {c.bundle.spec.name: c.bundle.content_hash for c in collect_bundles("vault.main", load_project(root))}
    (root / ".secret.local").write_text("GREETER_TOKEN=tok\n")
    (root / ".env.local").write_text("GREETING=hey\n")
    after = {c.bundle.spec.name: c.bundle.content_hash for c in collect_bundles("vault.main", load_project(root))}
    assert before == after


def test_a_new_project_ignores_the_local_value_files(tmp_path):
    from onto_functions.deploy.scaffold import scaffold

    scaffold(tmp_path / "my-app")
    ignored = (tmp_path / "my-app" / ".gitignore").read_text().splitlines()
    assert {".secret.local", ".env*"} <= set(ignored)  # .env.local, .env.<project> and .env too
