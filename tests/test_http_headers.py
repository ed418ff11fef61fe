"""The lean answer reader keeps http.client's meaning: headers, bodies (length, chunked, to the close), keep-alive.

A real server on loopback answers raw bytes; each answer is read by `LeanResponse` and by the standard
`HTTPResponse`, and both must agree.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Iterator

import pytest

from onto_functions.http_headers import LeanResponse

ANSWERS = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Twice: a\r\nx-twice: b\r\n"
              b"Content-Length: 7\r\n\r\n{\"a\":1}",
    "chunked": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    "folded": b"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\nContent-Length: 2\r\n\r\nok",
    "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
    "interim": b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\nHTTP/1.1 204 No Content\r\nX-Final: 1\r\n\r\n",
    "http10": b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold",
}


@pytest.fixture
def answering() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536)
                name = request.split(b" ")[1].strip(b"/").decode()
                conn.sendall(ANSWERS[name])

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def read(port: int, name: str, lean: bool) -> tuple:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    if lean:
        connection.response_class = LeanResponse
    connection.request("GET", f"/{name}")
    answer = connection.getresponse()
    body = answer.read()
    result = (answer.status, answer.reason, answer.version, body, answer.will_close,
              answer.getheader("x-twice"), answer.getheader("X-LONG"), answer.getheader("content-type"),
              answer.getheader("missing", "default"), sorted(k.lower() for k, _ in answer.getheaders()))
    connection.close()
    return result


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_a_lean_answer_reads_as_the_standard_one(answering, name):
    lean, standard = read(answering, name, True), read(answering, name, False)
    assert lean[:5] == standard[:5] and lean[7:] == standard[7:]
    assert lean[5] == standard[5]  # repeated headers: both join them
    assert (lean[6] or "").split() == (standard[6] or "").split()  # a folded line: the same words
