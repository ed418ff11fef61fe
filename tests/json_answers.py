"""A JSON answer from a loopback stand-in server (http.server handlers in the tests)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


def answer(handler: BaseHTTPRequestHandler, status: int, body: object, *, close: bool = False) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()
    if close:
        handler.close_connection = True
