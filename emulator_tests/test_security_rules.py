"""The generated security rules, enforced by the real Firestore emulator on real client requests.

A client request is the REST call a Firebase client SDK makes, signed in
with an ID token. The emulator accepts unsigned tokens (`alg: none`) and
checks rules against their claims; onto's own clients (the functions' writes,
`db`) connect as the emulator's admin (`Bearer owner`), which rules do not
restrict, as service credentials are not restricted in production.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from examples.meeting_room import scenario
from examples.meeting_room.views import MeetingSession
from onto_functions.deploy.project import load_project
from onto_functions.deploy.rules import render_rules, view_rules
from onto_functions.deploy.rules_files import generate_rules
from onto_functions.deploy.rules_text import read_user_rules
from onto_functions.local.emulator_api import EmulatorError
from onto_functions.local.emulator_rules import load_rules
from onto_functions.testing import wait_for

from emulator_tests.test_meeting_room import deploy_locally

REPO = Path(__file__).resolve().parent.parent
APP = "examples.meeting_room.main"
ALICE_VIEW = f"users/alice/meetingSessions/{scenario.MEETING_ID}"
BOB_VIEW = f"users/bob/meetingSessions/{scenario.MEETING_ID}"


def id_token(uid: str, project: str) -> str:
    """An unsigned Firebase ID token for `uid`, as the emulator accepts it."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": uid, "user_id": uid, "aud": project, "iss": f"https://securetoken.google.com/{project}",
              "iat": 1, "exp": 4102444800, "auth_time": 1, "firebase": {"sign_in_provider": "custom"}}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class Client:
    """A client app signed in as `uid` (or not signed in), speaking Firestore's REST API."""

    def __init__(self, host: str, project: str, uid: str | None) -> None:
        self.base = f"http://{host}/v1/projects/{project}/databases/(default)/documents"
        self.token = id_token(uid, project) if uid else None

    def status(self, method: str, path: str, fields: dict | None = None) -> int:
        body = json.dumps({"fields": {k: {"stringValue": v} for k, v in fields.items()}}).encode() \
            if fields is not None else None
        quoted = "/".join(urllib.parse.quote(segment, safe="") for segment in path.split("/"))
        request = urllib.request.Request(f"{self.base}/{quoted}", data=body, method=method, headers={
            "Content-Type": "application/json", **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    def get(self, path: str) -> int:
        return self.status("GET", path)

    def write(self, path: str) -> int:
        return self.status("PATCH", path, {"attending": "me"})


@pytest.fixture
def meeting_rules(firestore_emulator, project_id) -> str:
    """The meeting room's generated rules (its views + firestore.rules.in), loaded for this test's project."""
    text = generate_rules(load_project(REPO), APP).text
    load_rules(firestore_emulator.host, project_id, text)
    return text


def test_alice_reads_her_view_only_and_no_client_writes_views_or_onto(
        meeting_rules, db, firestore_emulator, event_receiver, project_id):
    deploy_locally(firestore_emulator, event_receiver, project_id)
    scenario.run(db, lambda check, what: wait_for(check, timeout=30, message=what))  # the functions write as admin
    alice = Client(firestore_emulator.host, project_id, "alice")
    anonymous = Client(firestore_emulator.host, project_id, None)

    assert alice.get(ALICE_VIEW) == 200
    assert alice.get(BOB_VIEW) == 403
    assert anonymous.get(ALICE_VIEW) == 403
    for path in (ALICE_VIEW, BOB_VIEW, "users/alice/meetingSessions/another"):
        assert alice.write(path) == 403, path
    assert alice.status("DELETE", ALICE_VIEW) == 403
    ledger_mark = next(iter(db.collection("_onto_ledger").limit(1).get())).reference.path
    assert alice.get(ledger_mark) == 403
    for path in (ledger_mark, "_onto_dead_letters/x", "_onto_failures/x/notes/y", "_onto_watermarks/x"):
        assert alice.write(path) == 403, path
    # the user's own rules are in force too: Alice reads her profile, not Bob's
    assert alice.get("users/alice") == 200 and alice.get("users/bob") == 403
    # and admin access is untouched (the same requests as the emulator's admin: so the 403s above are the rules')
    admin = Client(firestore_emulator.host, project_id, None)
    admin.token = "owner"
    assert admin.get(ledger_mark) == 200 and admin.get(BOB_VIEW) == 200
    db.document("_onto_ledger/admin-check").set({"ok": True})
    assert db.document("_onto_ledger/admin-check").get().to_dict() == {"ok": True}


def test_the_emulator_compiles_the_generated_rules_and_refuses_broken_ones(firestore_emulator, project_id):
    text = generate_rules(load_project(REPO), APP).text
    load_rules(firestore_emulator.host, project_id, text)  # accepted as generated
    whole = read_user_rules("rules_version = '2';\nservice cloud.firestore {\n  function open() { return true; }\n"
                            "  match /databases/{database}/documents {\n    match /notes/{id} {\n"
                            "      allow read: if open();\n    }\n  }\n}\n", "whole.rules")
    load_rules(firestore_emulator.host, project_id, render_rules(whole, view_rules([MeetingSession]),
                                                                 source="whole.rules", app=APP))
    broken = text.replace("allow read: if signedIn();", "allow read: if signedIn(;")
    with pytest.raises(EmulatorError, match=r"refused the security rules: .*L\d+:\d+"):
        load_rules(firestore_emulator.host, project_id, broken)


@pytest.mark.slow
def test_the_local_stack_loads_the_rules_so_client_reads_behave_as_in_production(onto_stack):
    stack = onto_stack(APP, project_root=REPO)
    assert stack.rules_file == REPO / "firestore.rules" and stack.info()["rules"] == str(REPO / "firestore.rules")
    db = stack.client()
    scenario.run(db, lambda check, what: wait_for(check, timeout=60, message=what))
    bob = Client(stack.emulator_host, stack.project, "bob")
    assert bob.get(BOB_VIEW) == 200 and bob.get(ALICE_VIEW) == 403 and bob.write(BOB_VIEW) == 403
