"""firebase-tools' own code reads what onto writes for secrets and params: the bundle's functions.yaml
(secretEnvironmentVariables, params) and firebase.json's `configDir`, from which it loads `.env` /
`.env.<project>` beside firebase.json. Its deploy-preparation functions run in Node, offline, on our files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from onto_functions.deploy.pipeline import bundle_project
from onto_functions.deploy.project import load_project

from emulator_tests.test_firebase_tools import TOOLS, firebase_cli  # noqa: F401 (a fixture)
from tests.test_function_settings import PROJECT, vault_project

# What firebase-tools' prepare step does for one codebase (deploy/functions/prepare.ts), stopped before the cloud:
# read the codebase's env files from its configDir, discover functions.yaml, resolve params non-interactively.
PREPARE = r"""
const path = require("path");
const lib = (p) => require("firebase-tools/lib/" + p);
const discovery = lib("deploy/functions/runtimes/discovery/index.js");
const build = lib("deploy/functions/build.js");
const env = lib("functions/env.js");
const projectConfig = lib("functions/projectConfig.js");
const [root, codebase, projectId] = process.argv.slice(1);
(async () => {
  const entry = require(path.join(root, "firebase.json")).functions.find((c) => c.codebase === codebase);
  const userEnvs = env.loadUserEnvs({functionsSource: path.join(root, entry.source), projectId, projectDir: root,
                                     configDir: path.join(root, projectConfig.resolveConfigDir(entry))});
  const want = await discovery.detectFromYaml(path.join(root, entry.source), projectId, "python312");
  const resolved = await build.resolveBackend({build: want, firebaseConfig: {projectId}, userEnvs,
                                               nonInteractive: true, isEmulator: true});
  const endpoint = Object.values(resolved.backend.endpoints)[0][codebase];
  const envs = Object.fromEntries(Object.entries(resolved.envs).map(([k, v]) => [k, v.toSDK()]));
  console.log(JSON.stringify({envs, secrets: endpoint.secretEnvironmentVariables}));
})().catch((e) => { console.log(JSON.stringify({error: e.message})); });
"""


def prepare(root: Path, codebase: str) -> dict:
    done = subprocess.run(["node", "-e", PREPARE, str(root), codebase, PROJECT], cwd=TOOLS,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_firebase_tools_reads_our_secret_references_and_param_values(tmp_path, firebase_cli):  # noqa: F811
    root = vault_project(tmp_path / "proj", backend="firebase")
    (root / ".env").write_text("GREETING=Hello\n")
    (root / f".env.{PROJECT}").write_text("GREETING=Bonjour\n")
    bundle_project(load_project(root))
    greet = prepare(root, "greeter-greet")
    assert greet["envs"]["GREETING"] == "Bonjour"  # .env.<project> over .env, read beside firebase.json
    assert greet["secrets"] == [{"key": "GREETER_TOKEN", "secret": "GREETER_TOKEN", "projectId": PROJECT}]
    charge = prepare(root, "charge-charge")
    assert charge["secrets"] == [{"key": "STRIPE_KEY", "secret": "STRIPE_KEY", "projectId": PROJECT}]


def test_firebase_tools_refuses_a_param_without_a_value_as_onto_does(tmp_path, firebase_cli):  # noqa: F811
    root = vault_project(tmp_path / "proj", backend="firebase")
    bundle_project(load_project(root))
    assert "have no value for the following environment variables: GREETING" in prepare(root, "greeter-greet")["error"]
