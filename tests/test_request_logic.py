"""The pure logic of request functions: routes, error mapping, protocol encoding, access rules, keys.

No emulator: what these check involves no Firestore and no token.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from marshmallow import Schema, fields

from onto_functions import callable_protocol, cors, https_protocol, jsonrpc
from onto_functions.access import refusal
from onto_functions.client_request import Caller, Headers
from onto_functions.idempotency import Scope, StoredAnswer, checked_key, request_hash
from onto_functions.ledger import REQUESTS, request_path
from onto_functions.request_call import Call
from onto_functions.request_errors import RequestError, status_name
from onto_functions.request_sources import load_with
from onto_functions.request_wire import encode_result
from onto_functions.routes import Route, below_function

REPO = Path(__file__).resolve().parents[1]
JSON = {"Content-Type": "application/json"}


def test_routes_match_segment_by_segment():
    route = Route("/meetings/{meeting_id}/notes")
    assert route.match("/meetings/m1/notes") == {"meeting_id": "m1"}
    assert route.match("/meetings/m1/notes/") == {"meeting_id": "m1"}
    assert route.match("/meetings/a%20b/notes?x=1") == {"meeting_id": "a b"}
    assert route.match("/meetings/m1") is None and route.match("/meetings/m1/notes/x") is None
    assert route.match("/rooms/m1/notes") is None
    assert Route("/").match("/") == {} and Route("/").match("/x") is None


def test_the_emulator_prefix_is_taken_off_only_for_this_function():
    assert below_function("/demo-p/us-central1/notes/meetings/m1", function="notes", region="us-central1") == \
        "/meetings/m1"
    assert below_function("/demo-p/us-central1/notes", function="notes", region="us-central1") == "/"
    assert below_function("/meetings/m1", function="notes", region="us-central1") == "/meetings/m1"
    assert below_function("/demo-p/europe-west1/notes/x", function="notes", region="us-central1") == \
        "/demo-p/europe-west1/notes/x"


@pytest.mark.parametrize("status, name, https, callable_", [
    ("NOT_FOUND", "NOT_FOUND", 404, 404), ("not-found", "NOT_FOUND", 404, 404),
    ("FAILED_PRECONDITION", "FAILED_PRECONDITION", 400, 400), (422, "FAILED_PRECONDITION", 422, 400),
    (401, "UNAUTHENTICATED", 401, 401), (403, "PERMISSION_DENIED", 403, 403), (409, "ALREADY_EXISTS", 409, 409),
    (418, "INVALID_ARGUMENT", 418, 400), (502, "INTERNAL", 502, 500), ("RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED",
                                                                       429, 429),
])
def test_error_statuses_map_both_ways(status, name, https, callable_):
    error = RequestError(status, "m")
    assert (error.status, error.http_status, error.callable_http_status) == (name, https, callable_)


def test_a_bad_status_is_refused():
    for bad in ("NOPE", "OK", 200, True, None):
        with pytest.raises((ValueError, TypeError)):
            status_name(bad)


def test_the_callable_protocol_reads_and_answers_as_on_call():
    assert callable_protocol.read("POST", JSON, b'{"data": {"a": 1}}', ("f",)).data == {"a": 1}
    assert callable_protocol.read("POST", {"content-type": "application/json; charset=utf-8"},
                                  b'{"data": null}', ("f",)).data is None
    for method, headers, body in [("GET", JSON, b'{"data": 1}'), ("POST", {}, b'{"data": 1}'),
                                  ("POST", JSON, b"[1]"), ("POST", JSON, b'{"data": 1, "x": 2}'),
                                  ("POST", JSON, b"{"), ("POST", JSON, b'{"x": 1}')]:
        with pytest.raises(RequestError) as caught:
            callable_protocol.read(method, headers, body, ("f",))
        assert caught.value.status == "INVALID_ARGUMENT"
    call = Call("callable", "/", None)
    assert callable_protocol.success(call, '{"b":[1,2]}').body == b'{"result":{"b":[1,2]}}'
    failed = callable_protocol.failure(call, RequestError("NOT_FOUND", "gone", {"id": "x"}))
    assert failed.status == 404
    assert json.loads(failed.body) == {"error": {"status": "NOT_FOUND", "message": "gone", "details": {"id": "x"}}}
    assert json.loads(callable_protocol.failure(None, RequestError(422, "k")).body)["error"] == {
        "status": "FAILED_PRECONDITION", "message": "k"}


def test_the_key_field_is_taken_out_of_a_calls_data():
    assert callable_protocol.idempotency_key_of({"a": 1, "idempotencyKey": "k"}, "idempotencyKey") == ("k", {"a": 1})
    assert callable_protocol.idempotency_key_of([1], "idempotencyKey") == (None, [1])


def test_jsonrpc_requests_and_answers():
    call = callable_protocol.read("POST", JSON, json.dumps(
        {"jsonrpc": "2.0", "method": "f", "params": {"a": 1}, "id": "x1"}).encode(), ("f", "handler"))
    assert (call.protocol, call.data, call.rpc_id, call.notification) == ("jsonrpc", {"a": 1}, "x1", False)
    answer = callable_protocol.success(call, '{"ok":true}')
    assert answer.status == 200 and json.loads(answer.body) == {"jsonrpc": "2.0", "id": "x1", "result": {"ok": True}}
    error = json.loads(callable_protocol.failure(call, RequestError("PERMISSION_DENIED", "no")).body)
    assert error == {"jsonrpc": "2.0", "id": "x1",
                     "error": {"code": -32003, "message": "no", "data": {"status": "PERMISSION_DENIED"}}}
    for body, code in [({"jsonrpc": "1.0", "method": "f", "id": 1}, -32600),
                       ({"jsonrpc": "2.0", "method": "g", "id": 1}, -32601),
                       ({"jsonrpc": "2.0", "method": "f", "id": [1]}, -32600),
                       ([{"jsonrpc": "2.0", "method": "f", "id": 1}], -32600)]:
        refused = jsonrpc.read(body, ("f",))
        assert json.loads(jsonrpc.failure(refused, refused.refusal).body)["error"]["code"] == code
    notification = jsonrpc.read({"jsonrpc": "2.0", "method": "f", "params": []}, ("f",))
    assert notification.notification and jsonrpc.success(notification, "1").status == 204


def test_https_reads_route_method_and_body():
    route, methods = Route("/m/{id}"), ("POST", "GET")
    call = https_protocol.read(route, methods, "POST", "/m/7", JSON, b'{"a": 1}')
    assert (call.params, call.data) == ({"id": "7"}, {"a": 1})
    assert https_protocol.read(route, methods, "GET", "/m/7", {}, b"").data is None
    cases = [("POST", "/x", JSON, b"{}", 404), ("PUT", "/m/7", JSON, b"{}", 405), ("POST", "/m/7", {}, b"{}", 415),
             ("POST", "/m/7", JSON, b"{", 400)]
    for method, path, headers, body, status in cases:
        with pytest.raises(RequestError) as caught:
            https_protocol.read(route, methods, method, path, headers, body)
        assert caught.value.http_status == status
        answer = https_protocol.failure(None, caught.value)
        assert answer.status == status and json.loads(answer.body)["error"]["message"]
    not_allowed = https_protocol.failure(None, https_protocol.MethodNotAllowed("PUT", methods))
    assert not_allowed.headers["Allow"] == "POST, GET, OPTIONS"


def test_access_rules():
    alice = Caller("alice", {"admin": True, "role": "editor", "level": 3})
    assert refusal("anyone", None) is None and refusal("signed_in", alice) is None
    assert refusal("signed_in", None).status == "UNAUTHENTICATED"
    assert refusal("claim:admin", alice) is None and refusal("claim:role=editor", alice) is None
    assert refusal("claim:level=3", alice) is None
    assert refusal("claim:role=admin", alice).status == "PERMISSION_DENIED"
    assert refusal("claim:role", alice).status == "PERMISSION_DENIED"  # a bare claim must be true
    assert refusal("claim:admin", None).status == "UNAUTHENTICATED"


def test_cors():
    assert cors.normalise_origins("*") == ("*",) and cors.normalise_origins(None) is None
    with pytest.raises(ValueError):
        cors.normalise_origins(["app.example.com"])
    origins = cors.normalise_origins(["https://a.example"])
    assert cors.headers_for(origins, {"Origin": "https://a.example"}) == {
        "Access-Control-Allow-Origin": "https://a.example", "Vary": "Origin"}
    assert cors.headers_for(origins, {"Origin": "https://b.example"}) == {}
    assert cors.preflight(None, ("POST",), {"Origin": "https://a.example"}).headers == {}


def test_idempotency_keys_hashes_and_scopes():
    assert checked_key(None, "k") is None and checked_key("abc", "k") == "abc"
    for bad in ("", "  ", 5, "x" * 256):
        with pytest.raises(RequestError):
            checked_key(bad, "k")
    assert request_hash("POST", "/a", {"x": 1, "y": 2}) == request_hash("POST", "/a", {"y": 2, "x": 1})
    assert request_hash("POST", "/a", {"x": 1}) != request_hash("POST", "/b", {"x": 1})
    assert request_path("f", "a~b", "c") != request_path("f", "a", "b~c")
    assert request_path("f", "u", "k").startswith(f"{REQUESTS}/f~")
    scope = Scope("f", "u", "k", request_hash("CALL", "/", {"a": 1}), 24)
    same = StoredAnswer('{"r":1}', scope.request_hash, "t", None, False)
    assert scope.replay(same) == '{"r":1}'
    with pytest.raises(RequestError) as caught:
        scope.replay(StoredAnswer('{"r":1}', "other", "t", None, False))
    assert caught.value.http_status == 422


class Note(Schema):
    text = fields.Str(required=True)
    pages = fields.Int(required=True)


def test_schema_errors_name_each_field():
    assert load_with(None, {"any": 1}) == {"any": 1}
    assert load_with(Note(), {"text": "a", "pages": 2}) == {"text": "a", "pages": 2}
    with pytest.raises(RequestError) as caught:
        load_with(Note(), {"text": 1, "bogus": True})
    assert set(caught.value.details["fields"]) == {"text", "pages", "bogus"}
    assert all(name in caught.value.message for name in ("text", "pages", "bogus"))
    with pytest.raises(RequestError):
        load_with(Note(), [1])


def test_results_are_encoded_once_as_compact_json():
    from datetime import datetime, timezone

    assert encode_result({"a": [1, "é"], "t": datetime(2026, 1, 2, tzinfo=timezone.utc)}) == \
        '{"a":[1,"é"],"t":"2026-01-02T00:00:00+00:00"}'
    with pytest.raises(TypeError):
        encode_result(object())


def test_headers_are_read_only_and_case_blind():
    headers = Headers({"Content-Type": "a", "X-One": "1"})
    assert headers["content-type"] == "a" and "x-one" in headers and list(headers) == ["Content-Type", "X-One"]
    with pytest.raises(TypeError):
        headers["x"] = "y"  # type: ignore[index]


def test_the_trigger_path_never_loads_firebase_admin():
    """A trigger function's cold start (its main.py's imports and http_function) leaves firebase-admin alone."""
    script = ("import sys, os; os.environ['GOOGLE_CLOUD_PROJECT'] = 'demo-x'\n"
              "from onto_functions.entrypoint import http_function\n"
              "from examples.meeting_room.main import TicketMediator\n"
              "http_function(TicketMediator, TicketMediator.trigger_specs()[0].name)\n"
              "print(sorted(m for m in sys.modules if m.startswith('firebase_admin') or 'request_function' in m))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
