"""The forked worker's HTTP server reads requests by hand (no email parser): what it must still get right.

A real server on loopback, serving a WSGI app that echoes what it was given.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Iterator

import pytest

from onto_functions.local.loopback import free_port
from onto_functions.http_headers import MAX_HEADERS
from onto_functions.local.worker_server import WorkerServer


def echo(environ, start_response):
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "PATH_INFO",
                                                                            "QUERY_STRING", "REQUEST_METHOD")}
    seen["body"] = environ["wsgi.input"].read().decode()
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Answer", "yes")])
    return [json.dumps(seen).encode()]


@pytest.fixture
def server() -> Iterator[WorkerServer]:
    running = WorkerServer(free_port(), echo)
    threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield running
    running.shutdown()
    running.server_close()


def test_headers_body_and_path_reach_the_app_and_one_connection_serves_many_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    for n in range(3):
        connection.request("POST", f"/fn%2Fx?n={n}", body=f"body {n}",
                           headers={"Content-Type": "application/protobuf", "ce-ID": f"e{n}", "X-Twice": "a"})
        answer = connection.getresponse()
        seen = json.loads(answer.read())
        assert (answer.status, answer.getheader("x-answer")) == (201, "yes")
        assert seen["body"] == f"body {n}" and seen["QUERY_STRING"] == f"n={n}" and seen["PATH_INFO"] == "/fn/x"
        assert (seen["CONTENT_TYPE"], seen["HTTP_CE_ID"], seen["REQUEST_METHOD"]) == ("application/protobuf",
                                                                                     f"e{n}", "POST")
    assert connection.sock is not None  # kept alive throughout
    connection.close()


def exchange(server: WorkerServer, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_malformed_request_is_answered_400_and_the_connection_closed(server):
    assert exchange(server, b"POST /x\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert exchange(server, b"POST /x HTTP/1.1\r\nno colon here\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_too_many_headers_are_refused(server):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    assert exchange(server, b"POST /x HTTP/1.1\r\n" + many + b"\r\n").startswith(b"HTTP/1.1 431")


def test_http_1_0_and_connection_close_end_the_connection_after_the_answer(server):
    for raw in (b"POST /x HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
                b"POST /x HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"):
        answer = exchange(server, raw)  # returns only because the server closed the connection
        assert answer.startswith(b"HTTP/1.1 201") and answer.endswith(b'"body": "hi"}')
