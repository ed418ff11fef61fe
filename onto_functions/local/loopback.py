"""Our presence on 127.0.0.1: a free port, and the HTTP fronts the emulator delivers to.

The receiver (tests) and the function host (`onto emulate`) both answer the
emulator's deliveries, `POST /functions/projects/{project}/triggers/{id}`;
the route, the request handling and the server they share live here, once.

Standard library only: the emulator's deliveries are small and the work
behind them runs elsewhere (a queue, a worker), so a threading server is
enough, and nothing heavy is imported to answer it.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

log = logging.getLogger("onto_functions.local")

_Front = TypeVar("_Front", bound="LoopbackFront")
_TRIGGER_ROUTE = re.compile(r"^/functions/projects/(?P<project>[^/]+)/triggers/(?P<trigger>[^/?]+)/?(?:\?.*)?$")


def free_port() -> int:
    """A loopback port nobody listens on right now (a later bind may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trigger_route(path: str) -> tuple[str, str] | None:
    """(project, trigger id) of an emulator delivery's path, or None for any other path."""
    match = _TRIGGER_ROUTE.match(path)
    return (match["project"], match["trigger"]) if match else None


class LoopbackHandler(BaseHTTPRequestHandler):
    """A request handler that reads whole bodies, answers with a length, and logs at debug level.

    `self.front` is the `LoopbackFront` that serves it.
    """

    protocol_version = "HTTP/1.1"

    @property
    def front(self) -> Any:
        return self.server.front  # type: ignore[attr-defined]

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("loopback: " + format, *args)


class LoopbackFront:
    """Serves `handler` on 127.0.0.1:`port` (0: a free port) from a daemon thread, between start() and stop()."""

    handler: type[LoopbackHandler] = LoopbackHandler
    thread_name = "onto-http"

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, the form `--functions_emulator` takes."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self: _Front) -> _Front:
        if self._server is None:
            server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
            server.daemon_threads = True
            server.front = self  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name=self.thread_name, daemon=True)
            self._thread.start()
            self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and free the port. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join(5)

    def __enter__(self: _Front) -> _Front:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
