"""HTTPS and callable mediators against the real Auth emulator (firebase-tools) and Firestore emulator.

Each function is served through its production entry point, `http_function`
(what a bundle's main.py exposes), called with real flask requests; the
concurrency test runs separate functions-framework processes. Tokens come
from the Auth emulator's REST API, claims from firebase-admin; nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from typing import Any

import flask
import pytest
from google.cloud.firestore_v1.base_query import FieldFilter
from werkzeug.test import EnvironBuilder

from emulator_tests.apps.requests_app import (AdminMediator, AttendanceMediator, CheckedMediator, NotesMediator,
                                              PublicMediator)
from onto_functions import ledger
from onto_functions.entrypoint import http_function
from onto_functions.request_function import RequestFunction

pytestmark = pytest.mark.timeout(300)


class Served:
    """One request function as production serves it, called with real flask requests."""

    def __init__(self, mediator: type, name: str, project: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
        self.fn = http_function(mediator, name)
        self.project = project

    def send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> tuple[int, Any, bytes, dict[str, str]]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        request = flask.Request(EnvironBuilder(method=method, path=path, headers=hdrs, data=data).get_environ())
        payload, status, answer_headers = self.fn(request)
        return status, (json.loads(payload) if payload else None), payload, answer_headers

    def call(self, data: Any, user: Any = None, **headers: str) -> tuple[int, Any, bytes]:
        hdrs = {**(user.headers if user else {}), **headers}
        status, body, payload, _ = self.send("POST", "/", {"data": data}, hdrs)
        return status, body, payload


@pytest.fixture
def serve(auth_emulator, auth_db, monkeypatch):
    def make(mediator: type, name: str) -> Served:
        return Served(mediator, name, auth_emulator.project, monkeypatch)

    return make


def _meeting() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def test_a_signed_in_users_call_writes_a_domain_document(serve, auth_user, auth_db):
    alice, meeting = auth_user(), _meeting()
    status, body, _ = serve(AttendanceMediator, "toggle-attendance").call({"meeting_id": meeting, "attend": True},
                                                                           alice)
    assert status == 200, body
    assert body["result"]["meetingId"] == meeting and body["result"]["toggles"] == 1
    written = auth_db.document(f"attendance/{meeting}~{alice.uid}").get()
    assert written.exists and written.to_dict() == {"uid": alice.uid, "attending": True}


def test_an_unsigned_or_badly_signed_call_is_401_and_writes_nothing(serve, auth_emulator, auth_user, auth_db):
    toggle, meeting = serve(AttendanceMediator, "toggle-attendance"), _meeting()
    data = {"meeting_id": meeting, "attend": True}
    assert toggle.call(data)[0] == 401
    assert toggle.call(data)[1]["error"]["status"] == "UNAUTHENTICATED"
    assert toggle.call(data, Authorization="Bearer not-a-token")[0] == 401
    assert toggle.call(data, Authorization="Basic abc")[0] == 401
    expired = _emulator_token(auth_emulator.project, auth_user().uid, exp=int(time.time()) - 3600)
    status, body, _ = toggle.call(data, Authorization=f"Bearer {expired}")
    assert status == 401 and "expired" in body["error"]["message"]
    other_project = _emulator_token("demo-someone-else", "u1", exp=int(time.time()) + 3600)
    assert toggle.call(data, Authorization=f"Bearer {other_project}")[0] == 401
    assert not auth_db.document(f"meetings/{meeting}").get().exists


def _emulator_token(project: str, uid: str, *, exp: int) -> str:
    """An unsigned token shaped as the Auth emulator issues them (firebase-admin accepts only such in emulator mode)."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    claims = {"iss": f"https://securetoken.google.com/{project}", "aud": project, "sub": uid, "user_id": uid,
              "iat": exp - 3600, "exp": exp, "auth_time": exp - 3600, "firebase": {"sign_in_provider": "password"}}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_a_bad_body_is_400_naming_each_bad_field(serve, auth_user):
    toggle = serve(AttendanceMediator, "toggle-attendance")
    status, body, _ = toggle.call({"meeting_id": 5, "attend": "maybe", "extra": 1}, auth_user())
    assert status == 400
    error = body["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert set(error["details"]["fields"]) == {"meeting_id", "attend", "extra"}
    for name in ("meeting_id", "attend", "extra"):
        assert name in error["message"]
    status, body, _, _ = toggle.send("POST", "/", raw=b"{not json")
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert toggle.send("POST", "/", {"data": {}, "more": 1})[0] == 400
    assert toggle.send("POST", "/", {"data": {}}, {"Content-Type": "text/plain"})[0] == 400
    assert toggle.send("GET", "/")[0] == 400


def test_a_claim_rule_refuses_a_user_without_the_claim_and_serves_one_with_it(serve, auth_user, auth_db):
    close, meeting = serve(AdminMediator, "close-meeting"), _meeting()
    status, body, _ = close.call({"meeting_id": meeting}, auth_user())
    assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"
    assert close.call({"meeting_id": meeting}, auth_user(claims={"admin": "yes"}))[0] == 403  # must be true
    assert not auth_db.document(f"closed/{meeting}").get().exists
    admin = auth_user(claims={"admin": True})
    status, body, _ = close.call({"meeting_id": meeting}, admin)
    assert status == 200 and body == {"result": {"closed": meeting}}
    assert auth_db.document(f"closed/{meeting}").get().to_dict() == {"by": admin.uid}


def test_an_https_route_gives_its_parameters_and_refuses_other_methods(serve, auth_user, auth_db):
    notes, alice, meeting = serve(NotesMediator, "meeting-notes"), auth_user(), _meeting()
    path = f"/meetings/{meeting}/notes"
    status, body, _, _ = notes.send("POST", path, {"text": "agenda", "pages": 2}, alice.headers)
    assert status == 200 and body["meetingId"] == meeting and body["saved"] is True
    assert auth_db.document(f"notes/{meeting}").get().to_dict() == {"text": "agenda", "pages": 2, "by": alice.uid}
    status, body, _, _ = notes.send("GET", path, headers=alice.headers)
    assert status == 200 and body["text"] == "agenda"
    # the firebase-tools emulator's URL prefix is tolerated
    prefixed = f"/{notes.project}/us-central1/meeting-notes{path}"
    assert notes.send("GET", prefixed, headers=alice.headers)[0] == 200
    status, body, _, headers = notes.send("DELETE", path, headers=alice.headers)
    assert status == 405 and headers["Allow"] == "POST, GET, OPTIONS"
    assert notes.send("GET", f"/meetings/{_meeting()}/notes", headers=alice.headers)[0] == 404  # RequestError
    assert notes.send("POST", "/elsewhere", {"text": "x", "pages": 1}, alice.headers)[0] == 404
    status, _, _, _ = notes.send("POST", path, headers={**alice.headers, "Content-Type": "text/plain"}, raw=b"x")
    assert status == 415
    status, body, _, _ = notes.send("POST", path, {"text": 3}, alice.headers)
    assert status == 400 and set(body["error"]["details"]["fields"]) == {"text", "pages"}
    assert notes.send("POST", path, {"text": "a", "pages": 1})[0] == 401


def test_a_retry_with_the_same_key_returns_the_first_answer_and_applies_nothing(serve, auth_user, auth_db):
    toggle, alice, meeting = serve(AttendanceMediator, "toggle-attendance"), auth_user(), _meeting()
    key = uuid.uuid4().hex
    data = {"meeting_id": meeting, "attend": True, "idempotencyKey": key}
    first = toggle.call(data, alice)
    again = toggle.call(data, alice)
    assert first[0] == again[0] == 200 and first[2] == again[2]  # byte for byte, answerId included
    assert auth_db.document(f"meetings/{meeting}").get().to_dict() == {"toggles": 1}
    # another user's identical key is another request
    bob = auth_user()
    assert toggle.call(data, bob)[1]["result"]["toggles"] == 2
    # the same key with a different request is refused, as Stripe does
    status, body, _ = toggle.call({**data, "attend": False}, alice)
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION"
    assert auth_db.document(f"meetings/{meeting}").get().to_dict() == {"toggles": 2}
    records = [d.to_dict() for d in auth_db.collection(ledger.REQUESTS).where(filter=FieldFilter("key", "==", key)).get()]
    assert len(records) == 2
    for record in records:
        ttl = (record[ledger.EXPIRY_FIELD] - record["committedAt"]).total_seconds()
        assert ttl == 24 * 3600


def test_an_https_key_reused_for_another_body_is_422(serve, auth_user):
    notes, alice, meeting = serve(NotesMediator, "meeting-notes"), auth_user(), _meeting()
    path, key = f"/meetings/{meeting}/notes", {"Idempotency-Key": uuid.uuid4().hex}
    first = notes.send("POST", path, {"text": "a", "pages": 1}, {**alice.headers, **key})
    assert first[0] == 200 and notes.send("POST", path, {"text": "a", "pages": 1}, {**alice.headers, **key})[2] == first[2]
    status, body, _, _ = notes.send("POST", path, {"text": "b", "pages": 1}, {**alice.headers, **key})
    assert status == 422 and body["error"]["status"] == "FAILED_PRECONDITION"


def test_an_expired_answer_no_longer_holds(serve, auth_user, auth_db):
    toggle, alice, meeting = serve(AttendanceMediator, "toggle-attendance"), auth_user(), _meeting()
    data = {"meeting_id": meeting, "attend": True, "idempotencyKey": uuid.uuid4().hex}
    assert toggle.call(data, alice)[1]["result"]["toggles"] == 1
    record = auth_db.collection(ledger.REQUESTS).where(filter=FieldFilter("key", "==", data["idempotencyKey"])).get()[0]
    record.reference.update({ledger.EXPIRY_FIELD: record.to_dict()["committedAt"]})  # expired (TTL not swept yet)
    assert toggle.call(data, alice)[1]["result"]["toggles"] == 2


def test_an_unexpected_error_is_a_500_that_leaks_nothing(serve, caplog):
    echo = serve(PublicMediator, "public-echo")
    assert echo.send("POST", "/echo", {"a": 1})[1] == {"echo": {"a": 1}, "signedIn": False}
    with caplog.at_level(logging.ERROR, logger="onto_functions"):
        status, body, payload, _ = echo.send("POST", "/echo", {"fail": True})
    assert status == 500 and body == {"error": {"status": "INTERNAL", "message": "INTERNAL"}}
    assert b"secret" not in payload and b"ZeroDivision" not in payload
    logged = [r for r in caplog.records if r.name == "onto_functions.requests"]
    assert len(logged) == 1 and "ZeroDivisionError" in logged[0].getMessage()
    assert logged[0].entry["outcome"] == "failed" and logged[0].exc_info is not None


def test_app_check_is_required_when_asked(serve):
    checked = serve(CheckedMediator, "app-checked")
    status, body, _ = checked.call({})
    assert status == 401 and "App Check" in body["error"]["message"]
    assert checked.call({}, **{"X-Firebase-AppCheck": "junk"})[0] == 401


def test_the_jsonrpc_form_of_a_callable(serve, auth_user, auth_db):
    toggle, alice, meeting = serve(AttendanceMediator, "toggle-attendance"), auth_user(), _meeting()
    rpc = {"jsonrpc": "2.0", "method": "toggle-attendance", "params": {"meeting_id": meeting, "attend": True}, "id": 7}
    status, body, _, _ = toggle.send("POST", "/", rpc, alice.headers)
    assert status == 200 and body["jsonrpc"] == "2.0" and body["id"] == 7 and body["result"]["toggles"] == 1
    status, body, _, _ = toggle.send("POST", "/", {**rpc, "params": {"attend": 1.5}}, alice.headers)
    assert body["error"]["code"] == -32602 and body["id"] == 7
    assert set(body["error"]["data"]["details"]["fields"]) == {"meeting_id", "attend"}
    assert toggle.send("POST", "/", rpc)[1]["error"]["data"]["status"] == "UNAUTHENTICATED"
    assert toggle.send("POST", "/", {**rpc, "method": "nope"}, alice.headers)[1]["error"]["code"] == -32601


def test_a_browser_preflight_is_answered(serve):
    toggle = serve(AttendanceMediator, "toggle-attendance")
    status, _, payload, headers = toggle.send("OPTIONS", "/", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 204 and payload == b""
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    status, _, _, headers = toggle.send("POST", "/", {"data": {}}, {"Origin": "https://app.example.com"})
    assert status == 401 and headers["Access-Control-Allow-Origin"] == "*"


def test_a_function_without_a_project_answers_500(auth_emulator, monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GCLOUD_PROJECT", raising=False)
    fn = RequestFunction(PublicMediator, "public-echo")
    answer = fn.handle("POST", "/echo", {"Content-Type": "application/json"}, b"{}")
    assert answer.status == 500 and b"GOOGLE_CLOUD_PROJECT" not in answer.body
