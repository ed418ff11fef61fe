"""The generated rules as firebase-tools takes them: from firebase.json, into its emulator, and into a deploy.

If `onto rules` wired firebase.json wrongly, firebase-tools' emulator would
start with open rules and Alice would read Bob's view; and `firebase deploy
--only ...,firestore:rules` must get as far as authentication offline.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from onto_functions.deploy.backends import DeployTarget, firebase_deploy_argv
from onto_functions.deploy.plan import Action, Step
from onto_functions.deploy.project import ProjectConfig
from onto_functions.deploy.rules_files import generate_rules, write_rules

from emulator_tests.test_firebase_tools import (  # noqa: F401  (fixtures)
    _firebase, _free_port, emulators_exec_result, firebase_cli, wrapper_jar,
)

REPO = Path(__file__).resolve().parent.parent
APP = "examples.meeting_room.main"

CHECK = r'''
import base64, json, sys, urllib.error, urllib.request
host, project = sys.argv[1], sys.argv[2]
base = f"http://{host}/v1/projects/{project}/databases/(default)/documents"

def token(uid):
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return part({"alg": "none"}) + "." + part({"sub": uid, "user_id": uid, "aud": project, "iat": 1,
        "exp": 4102444800, "iss": "https://securetoken.google.com/" + project}) + "."

def status(method, path, bearer, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/{path}", data=data, method=method,
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + bearer})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code

view = {"fields": {"numAttending": {"integerValue": "1"}}}
seeded = [status("PATCH", f"users/{u}/meetingSessions/standup", "owner", view) for u in ("alice", "bob")]
alice = token("alice")
print("RESULT " + json.dumps({"seeded": seeded, "own": status("GET", "users/alice/meetingSessions/standup", alice),
    "other": status("GET", "users/bob/meetingSessions/standup", alice),
    "write": status("PATCH", "users/alice/meetingSessions/standup", alice, view),
    "ledger": status("PATCH", "_onto_ledger/x", alice, view)}))
'''


@pytest.fixture
def project(tmp_path: Path) -> ProjectConfig:
    """A project holding the meeting room's rules, written and wired by `onto rules`."""
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copy(REPO / "firestore.rules.in", root / "firestore.rules.in")
    (root / "firebase.json").write_text(json.dumps({"functions": [{"source": "build/one", "codebase": "one"}]}))
    (root / "build" / "one").mkdir(parents=True)
    config = ProjectConfig(root=root)
    assert write_rules(config, generate_rules(config, APP)) == (True, True)
    return config


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_firebase_tools_emulator_enforces_the_rules_firebase_json_names(project, tmp_path, firebase_cli, wrapper_jar):
    root = project.root
    config = json.loads((root / "firebase.json").read_text())
    del config["functions"]
    port = _free_port()
    config["emulators"] = {"firestore": {"host": "127.0.0.1", "port": port}, "ui": {"enabled": False},
                           "hub": {"host": "127.0.0.1", "port": _free_port()},
                           "logging": {"host": "127.0.0.1", "port": _free_port()}, "singleProjectMode": True}
    (root / "firebase.json").write_text(json.dumps(config))
    (root / "check.py").write_text(CHECK)
    project_id = "demo-onto-rules"
    result = emulators_exec_result(firebase_cli, wrapper_jar, root, "firestore", project_id,
                                   f"{sys.executable} check.py 127.0.0.1:{port} {project_id}",
                                   home=tmp_path / "home", timeout=300)
    assert result == {"seeded": [200, 200], "own": 200, "other": 403, "write": 403, "ledger": 403}


@pytest.mark.timeout(600)  # the first firebase test installs firebase-tools (npm)
def test_real_firebase_accepts_the_rules_deploy_offline(project, tmp_path, firebase_cli):
    bundle = type("B", (), {"codebase": "one"})()
    steps = [Step(Action.CREATE, "one", "new", bundle, "us-central1"), Step(Action.RULES, "firestore:rules", "new")]
    argv = firebase_deploy_argv(steps, DeployTarget(project="my-shop-123", firebase_bin=str(firebase_cli)))
    assert argv[3] == "functions:one,firestore:rules"
    env = {"HOME": str(tmp_path / "home"), "CI": "1", "FIREBASE_CLI_DISABLE_UPDATE_CHECK": "true"}
    done = _firebase(firebase_cli, list(argv[1:]), env, project.root)
    assert "Failed to authenticate" in done.stdout + done.stderr, done.stdout + done.stderr
