"""The REST client's transport under what the emulator never does: a server that closes a kept-alive
connection, an answer lost after the request arrived, the metadata server's tokens.

A small HTTP server on loopback plays the far end; it answers at the HTTP
level only (what Firestore stores is tested on the real emulator, in
emulator_tests/test_firestore_rest.py).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest

from onto_functions import access_tokens
from onto_functions.access_tokens import EmulatorToken, MetadataServerToken, token_source_for
from onto_functions.firestore_rest import FirestoreError, FirestoreRest, _closed_by_peer
from onto_functions.local.polling import wait_for
from tests.json_answers import answer

Behaviour = Callable[[BaseHTTPRequestHandler, int], None]


class FarEnd:
    def __init__(self, behaviour: Behaviour) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.connections = 0
        far = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                far.connections += 1

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                far.requests.append((self.path, dict(self.headers)))
                behaviour(self, len(far.requests))

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def far_end() -> Iterator[Callable[[Behaviour], FarEnd]]:
    ends: list[FarEnd] = []

    def start(behaviour: Behaviour) -> FarEnd:
        ends.append(FarEnd(behaviour))
        return ends[-1]

    yield start
    for end in ends:
        end.server.shutdown()
        end.server.server_close()


def test_a_kept_alive_connection_the_server_closed_is_replaced_before_a_commit_is_sent(far_end):
    """The server closes after each answer; the next commit goes out on a new connection, once."""
    far = far_end(lambda h, n: answer(h, 200, {"writeResults": [{}], "commitTime": "2024-01-01T00:00:00Z"},
                                      close=True))
    client = FirestoreRest("demo-x", emulator_host=far.host)
    client.commit([{"delete": client.name("a/b")}])
    idle = client._local.connection
    wait_for(lambda: idle.sock is None or _closed_by_peer(idle), timeout=5, interval=0.01,
             message="the server's close to reach the idle socket")
    client.commit([{"delete": client.name("a/b")}])
    assert (len(far.requests), far.connections) == (2, 2)


def test_a_commit_whose_answer_is_lost_is_reported_as_maybe_landed_and_never_sent_twice(far_end):
    def drop(handler: BaseHTTPRequestHandler, n: int) -> None:
        handler.close_connection = True  # the request arrived; no answer

    far = far_end(drop)
    client = FirestoreRest("demo-x", emulator_host=far.host)
    with pytest.raises(FirestoreError) as lost:
        client.commit([{"delete": client.name("a/b")}])
    assert (lost.value.status, lost.value.sent) == ("UNAVAILABLE", True)
    assert len(far.requests) == 1


def test_a_read_whose_answer_is_lost_is_tried_again(far_end):
    def flaky(handler: BaseHTTPRequestHandler, n: int) -> None:
        if n == 1:
            handler.close_connection = True
        else:
            answer(handler, 200, [{"missing": "projects/demo-x/databases/(default)/documents/a/b"}])

    far = far_end(flaky)
    client = FirestoreRest("demo-x", emulator_host=far.host)
    assert client.get_all(["a/b"]) == [None]
    assert len(far.requests) == 2


@pytest.mark.parametrize("status, body, expected", [
    (409, {"error": {"code": 409, "status": "ABORTED", "message": "contention"}}, "ABORTED"),
    (400, [{"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": "index"}}], "FAILED_PRECONDITION"),
    (503, "<html>unavailable</html>", "UNAVAILABLE"),
    (504, None, "DEADLINE_EXCEEDED"),
])
def test_an_error_answer_becomes_firestores_status(far_end, status, body, expected):
    far = far_end(lambda h, n: answer(h, status, body))
    client = FirestoreRest("demo-x", emulator_host=far.host)
    with pytest.raises(FirestoreError) as refused:
        client.commit([])
    assert refused.value.status == expected


def test_the_metadata_servers_token_is_asked_for_with_its_header_and_kept_until_near_expiry(far_end, monkeypatch):
    def token(handler: BaseHTTPRequestHandler, n: int) -> None:
        if handler.headers.get("Metadata-Flavor") != "Google":
            answer(handler, 403, {"error": "missing Metadata-Flavor"})
        else:
            answer(handler, 200, {"access_token": f"t{n}", "expires_in": 3599, "token_type": "Bearer"})

    far = far_end(token)
    monkeypatch.setenv(access_tokens.METADATA_HOST_ENV, far.host)
    tokens = MetadataServerToken()
    assert [tokens.authorization(), tokens.authorization()] == ["Bearer t1", "Bearer t1"]
    tokens._good_until = 0.0  # its lifetime minus the margin has passed
    assert tokens.authorization() == "Bearer t2"
    assert far.requests[0][0] == access_tokens.METADATA_TOKEN_PATH


def test_where_the_tokens_come_from(monkeypatch):
    monkeypatch.setenv("K_SERVICE", "my-function")
    assert isinstance(token_source_for("127.0.0.1:8080"), EmulatorToken)  # the emulator never sees real ones
    assert isinstance(token_source_for(None), MetadataServerToken)
    monkeypatch.delenv("K_SERVICE")
    assert isinstance(token_source_for(None), access_tokens.DefaultCredentialsToken)


def test_user_credentials_send_their_quota_project_and_expire_by_utc(far_end, monkeypatch):
    """google-auth's expiry is naive UTC; a token good for an hour is kept about an hour, wherever the machine is."""
    import datetime as dt

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()

    class UserCredentials:
        quota_project_id = "billing-project"
        token, expiry = "", None

        def refresh(self, request) -> None:
            self.token = "user-token"
            self.expiry = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)

    far = far_end(lambda h, n: answer(h, 200, [{"missing": "projects/p/databases/(default)/documents/a/b"}]))
    client = FirestoreRest("p", emulator_host=far.host, tokens=access_tokens.DefaultCredentialsToken(UserCredentials()))
    assert client.get_all(["a/b"]) == [None]
    headers = {k.lower(): v for k, v in far.requests[0][1].items()}
    assert (headers["authorization"], headers["x-goog-user-project"]) == ("Bearer user-token", "billing-project")
    kept = client._tokens._good_until - time.monotonic()
    monkeypatch.undo()
    time.tzset()
    assert 3600 - access_tokens.REFRESH_MARGIN_SECONDS - 60 < kept <= 3600 - access_tokens.REFRESH_MARGIN_SECONDS
