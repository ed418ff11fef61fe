"""Review of the runtime's REST client (commit 9407172): its transport under answers the emulator never
gives. As in test_firestore_transport.py, a loopback HTTP server plays the far end at the HTTP level
only; what Firestore stores is tested on the emulator (emulator_tests/test_review_rest.py).
"""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler

import pytest

from onto_functions import access_tokens
from onto_functions.access_tokens import MetadataServerToken
from onto_functions.firestore_rest import FirestoreError, FirestoreRest
from onto_functions.store import Store
from onto_functions.unit_of_work import UNCERTAIN
from tests.json_answers import answer
from tests.test_firestore_transport import far_end  # noqa: F401  (the fixture)

DOC = "projects/demo-x/databases/(default)/documents/rooms/r1"
FOUND = {"name": DOC, "fields": {"n": {"integerValue": "1"}}, "createTime": "2024-01-01T00:00:00Z",
         "updateTime": "2024-01-01T00:00:00Z"}
STREAM_ERROR = {"error": {"code": 503, "status": "UNAVAILABLE", "message": "stream broken"}}


def test_a_query_whose_stream_breaks_after_a_first_document_is_an_error_not_a_short_answer(far_end):
    """runQuery and batchGet stream: once the first result is out, the HTTP status is 200 and an error
    comes as the array's last element. Skipping it hands a handler part of the answer as the whole."""
    far = far_end(lambda h, n: answer(h, 200, [{"document": FOUND, "readTime": "2024-01-01T00:00:00Z"},
                                               STREAM_ERROR]))
    client = FirestoreRest("demo-x", emulator_host=far.host)
    with pytest.raises(FirestoreError):
        client.query("rooms", (("n", 1),))


def test_a_batch_get_whose_stream_breaks_does_not_report_the_rest_as_absent(far_end):
    """Read as absent, a ledger mark would say "not applied" and a view "not there yet"."""
    far = far_end(lambda h, n: answer(h, 200, [{"found": FOUND, "readTime": "2024-01-01T00:00:00Z"},
                                               STREAM_ERROR]))
    client = FirestoreRest("demo-x", emulator_host=far.host)
    with pytest.raises(FirestoreError):
        client.get_all(["rooms/r1", "rooms/r2"])


def test_a_commit_answered_200_with_a_body_that_is_not_json_is_of_unknown_outcome(far_end):
    """A proxy's page or a cut body after a 200: the commit may have landed, so it must be a status the
    unit of work calls uncertain; a bare JSONDecodeError is taken for the handler's own error."""
    def page(handler: BaseHTTPRequestHandler, n: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "6")
        handler.end_headers()
        handler.wfile.write(b"<html>")

    far = far_end(page)
    client = FirestoreRest("demo-x", emulator_host=far.host)
    with pytest.raises(FirestoreError) as lost:
        client.commit([{"delete": client.name("a/b")}])
    assert lost.value.status in UNCERTAIN


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_token_that_cannot_be_had_is_a_firestore_error_that_was_not_sent(far_end, monkeypatch):
    """The metadata server unreachable: the call never left, so it is UNAVAILABLE with sent=False (a
    read tried again, a commit known not to have landed). Instead urllib's URLError escapes, which the
    executor counts as a failure of the handler (five of them dead-letter the event)."""
    monkeypatch.setenv(access_tokens.METADATA_HOST_ENV, f"127.0.0.1:{_unused_port()}")
    far = far_end(lambda h, n: answer(h, 200, []))
    client = FirestoreRest("demo-x", emulator_host=far.host, tokens=MetadataServerToken())
    with pytest.raises(FirestoreError) as unsent:
        client.commit([{"delete": client.name("a/b")}])
    assert (unsent.value.status, unsent.value.sent) == ("UNAVAILABLE", False)
    assert far.requests == []


def test_a_token_firestore_refuses_is_not_sent_again_for_the_rest_of_its_hour(far_end, monkeypatch):
    """A 401 says the cached token is no good (revoked, or the instance's clock jumped); the token is
    kept until its expiry as the metadata server stated it, so every call for up to 55 minutes fails."""
    tokens_far = far_end(lambda h, n: answer(h, 200, {"access_token": f"t{n}", "expires_in": 3599}))
    monkeypatch.setenv(access_tokens.METADATA_HOST_ENV, tokens_far.host)

    def firestore(handler: BaseHTTPRequestHandler, n: int) -> None:
        if handler.headers.get("Authorization") == "Bearer t1":
            answer(handler, 401, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "expired"}})
        else:
            answer(handler, 200, [{"missing": DOC}])

    far = far_end(firestore)
    client = FirestoreRest("demo-x", emulator_host=far.host, tokens=MetadataServerToken())
    try:
        client.get_all(["rooms/r1"])
    except FirestoreError as exc:
        assert exc.status == "UNAUTHENTICATED"
    assert client.get_all(["rooms/r1"]) == [None]


def test_a_plain_write_answered_unavailable_is_tried_again_as_the_library_did(far_end):
    """Store.write outside a unit of work (dead letters of refused requests, scripts, tests) used the
    library's write retry, which retried ServiceUnavailable; RETRIED_STATUSES says the same, but
    commit_with_retry retries a 503 answer only when the request was never sent."""
    def flaky(handler: BaseHTTPRequestHandler, n: int) -> None:
        if n == 1:
            answer(handler, 503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "try again"}})
        else:
            answer(handler, 200, {"writeResults": [{"updateTime": "2024-01-01T00:00:00Z"}],
                                  "commitTime": "2024-01-01T00:00:00Z"})

    far = far_end(flaky)
    Store(FirestoreRest("demo-x", emulator_host=far.host)).write("rooms/r1", {"n": 1})
    assert len(far.requests) == 2
