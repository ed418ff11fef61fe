"""The real firebase-tools loads the generated manifests of a message and a schedule trigger, and
its Pub/Sub emulator's messages reach the bundled message trigger, each applied once.

Same offline set-up as test_firebase_tools.py, plus the gcloud SDK's Pub/Sub emulator given to
firebase-tools through PUBSUB_EMULATOR_BINARY_PATH (a copy of its launcher that we own, since
firebase-tools chmods the file, beside a link to the SDK's jar folder).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from onto_functions.local.pubsub_emulator import find_pubsub_emulator_jar

from emulator_tests.test_firebase_tools import (  # noqa: F401 - fixtures
    _run_in_own_group, bundled_project, emulators_exec_env, firebase_cli, wrapper_jar)

APP = Path(__file__).resolve().parent / "apps" / "streams.py"

# Runs inside `firebase emulators:exec`, which sets FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST.
CHECK = '''
import json, os, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from onto_functions import ledger
from onto_functions.local.pubsub_emulator import PubSubClient
from onto_functions.testing import wait_for

project = sys.argv[1]
ids = PubSubClient(os.environ["PUBSUB_EMULATOR_HOST"], project).publish(
    "payments", [{"data": {"account": "fb", "cents": c}} for c in (1, 20, 300)])
db = firestore.Client(project=project, credentials=AnonymousCredentials())

def settled():
    snap = db.document("balances/fb").get()
    return snap.to_dict() if snap.exists and snap.to_dict()["count"] >= 3 else None

balance = wait_for(settled, timeout=90, interval=0.2, message="the bundled message trigger never applied 3 messages")
marks = sorted(m.to_dict()["eventId"] for m in db.collection(ledger.LEDGER).get())
print("RESULT " + json.dumps({"balance": balance, "marks": marks, "ids": sorted(ids)}))
'''


def _pubsub_launcher(root: Path) -> Path:
    """bin/cloud-pubsub-emulator (our copy) beside lib/ (a link to the SDK's jar folder)."""
    lib = find_pubsub_emulator_jar().parent
    home = root / "pubsub-emulator"
    (home / "bin").mkdir(parents=True)
    (home / "lib").symlink_to(lib, target_is_directory=True)
    launcher = home / "bin" / "cloud-pubsub-emulator"
    shutil.copy(lib.parent / "bin" / "cloud-pubsub-emulator", launcher)
    return launcher


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_firebase_tools_loads_stream_manifests_and_delivers_messages_once(tmp_path, firebase_cli, wrapper_jar):
    root = tmp_path / "proj"
    bundles, _ = bundled_project(root, APP, CHECK, ("firestore", "functions", "pubsub"))
    assert sorted(b.spec.name for b in bundles) == ["heartbeat-beat", "payment-credit"]
    project = "demo-onto-streams"
    env = emulators_exec_env(tmp_path, wrapper_jar, PUBSUB_EMULATOR_BINARY_PATH=str(_pubsub_launcher(tmp_path)))
    command = [str(firebase_cli), "emulators:exec", "--only", "firestore,functions,pubsub", "--project", project,
               f"{sys.executable} check.py {project}"]
    returncode, output = _run_in_own_group(command, cwd=root, env=env, timeout=540)
    assert returncode == 0, f"firebase emulators:exec failed ({returncode}):\n{output[-6000:]}"
    assert "Failed to load function definition" not in output, output[-6000:]
    for name in ("payment-credit", "heartbeat-beat"):  # both manifests loaded as functions
        assert f"functions[us-central1-{name}]" in output, output[-6000:]
    line = next((l for l in output.splitlines() if l.startswith("RESULT ")), None)
    assert line, f"the check script printed no result:\n{output[-6000:]}"
    result = json.loads(line.removeprefix("RESULT "))
    assert result["balance"]["count"] == 3 and result["balance"]["cents"] == 321, result
    assert result["marks"] == result["ids"], result  # one ledger mark per message, keyed by its message id
