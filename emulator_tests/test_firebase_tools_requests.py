"""The real firebase-tools loads the bundles of an HTTPS function and a callable (their static
`httpsTrigger` / `callableTrigger` manifests) and serves them at its URLs, beside its own Auth
emulator: a signed-in call applies once, an unsigned one is refused, and the trigger the write fires
updates the view.

Same offline set-up as test_firebase_tools.py (firebase-tools in .onto/tools, Java 21+, the wrapper jar).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from emulator_tests.test_firebase_tools import (  # noqa: F401 - fixtures
    _run_in_own_group, bundled_project, emulators_exec_env, firebase_cli, wrapper_jar)

APP = Path(__file__).resolve().parent / "apps" / "deposits.py"
FUNCTIONS = ("balance-refresh", "deposit-add", "deposit-post")

# Runs inside `firebase emulators:exec`, which sets FIRESTORE_EMULATOR_HOST and FIREBASE_AUTH_EMULATOR_HOST.
CHECK = '''
import json, os, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from onto_functions.local.id_tokens import sign_in
from onto_functions.local.request_client import call, send
from onto_functions.testing import wait_for

project, functions = sys.argv[1], sys.argv[2]
base = f"http://{functions}/{project}/us-central1"
token = sign_in(os.environ["FIREBASE_AUTH_EMULATOR_HOST"], project, "erin")
called = call(f"{base}/deposit-add", {"amount": 4, "note": "callable"}, id_token=token, key="k1")
again = call(f"{base}/deposit-add", {"amount": 4, "note": "callable"}, id_token=token, key="k1")
posted = send(f"{base}/deposit-post/accounts/erin/deposits", json_body={"amount": 6, "note": "https"}, id_token=token)
unsigned = call(f"{base}/deposit-add", {"amount": 1, "note": "anonymous"})
db = firestore.Client(project=project, credentials=AnonymousCredentials())

def settled():
    snap = db.document("balances/erin").get()
    return snap.to_dict() if snap.exists and snap.to_dict()["total"] >= 10 else None

balance = wait_for(settled, timeout=90, interval=0.2, message="the deposits never reached the balance view")
print("RESULT " + json.dumps({
    "called": [called.status, called.json()], "again": [again.status, again.json()],
    "posted": [posted.status, posted.json()], "unsigned": [unsigned.status, unsigned.json()],
    "balance": balance, "deposits": len(db.collection("deposits").get()),
}))
'''


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_firebase_tools_serves_the_https_and_callable_bundles(tmp_path, firebase_cli, wrapper_jar):
    root = tmp_path / "proj"
    bundles, emulators = bundled_project(root, APP, CHECK, ("firestore", "functions", "auth"))
    functions_port = emulators["functions"]["port"]
    assert sorted(b.spec.name for b in bundles) == sorted(FUNCTIONS)
    project = "demo-onto-requests"
    env = emulators_exec_env(tmp_path, wrapper_jar)
    command = [str(firebase_cli), "emulators:exec", "--only", "firestore,functions,auth", "--project", project,
               f"{sys.executable} check.py {project} 127.0.0.1:{functions_port}"]
    returncode, output = _run_in_own_group(command, cwd=root, env=env, timeout=540)
    assert returncode == 0, f"firebase emulators:exec failed ({returncode}):\n{output[-6000:]}"
    assert "Failed to load function definition" not in output, output[-6000:]
    for name in FUNCTIONS:
        assert f"functions[us-central1-{name}]" in output, output[-6000:]
    line = next((l for l in output.splitlines() if l.startswith("RESULT ")), None)
    assert line, f"the check script printed no result:\n{output[-6000:]}"
    result = json.loads(line.removeprefix("RESULT "))
    assert result["called"][0] == 200 and result["called"][1]["result"]["owner"] == "erin", result
    assert result["again"] == result["called"], result  # the retry with the same key: the first answer
    assert result["posted"][0] == 200 and result["posted"][1]["owner"] == "erin", result
    assert result["unsigned"][0] == 401, result
    assert result["balance"] == {"total": 10, "deposits": 2} and result["deposits"] == 2, result
