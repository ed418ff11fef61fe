"""An in-process HTTP endpoint that the Firestore emulator delivers function events to.

The emulator, started with `--functions_emulator=HOST:PORT`, POSTs each event to
`/functions/projects/{project}/triggers/{trigger_id}`. This receiver routes that
to a Python callable by trigger id, so tests and local runs need no
functions-framework process per trigger. Standard library only.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Callable

from .loopback import LoopbackServer

Handler = Callable[[dict[str, str], bytes], tuple[int, bytes]]
"""handle(headers, body) -> (status, response body). Header names are lower-cased."""

_ROUTE = re.compile(r"^/functions/projects/(?P<project>[^/]+)/triggers/(?P<trigger>[^/?]+)/?(?:\?.*)?$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got, kept so tests can assert on what arrived and when."""

    trigger_id: str
    project: str
    status: int
    received_at: float  # time.time() when the request was read
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


class Receiver:
    """Threaded HTTP server on 127.0.0.1 (free port) dispatching emulator deliveries by trigger id.

    Threaded so a slow handler does not block the test thread; note the emulator
    itself sends events one at a time, so a slow handler still delays the events behind it.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    # -- routing

    def register(self, trigger_id: str, handle: Handler) -> None:
        """Route deliveries for `trigger_id` to `handle` (replaces an earlier one)."""
        with self._lock:
            self._handlers[trigger_id] = handle

    def unregister(self, trigger_id: str) -> None:
        with self._lock:
            self._handlers.pop(trigger_id, None)

    def deliveries(self, trigger_id: str | None = None) -> list[Delivery]:
        """A snapshot of what arrived so far, oldest first (optionally for one trigger)."""
        with self._lock:
            return [d for d in self._deliveries if trigger_id is None or d.trigger_id == trigger_id]

    def _dispatch(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        received_at = time.time()
        match = _ROUTE.match(path)
        if not match:
            return 404, f"no route for {path}; expected /functions/projects/<p>/triggers/<id>\n".encode()
        trigger_id, project = match["trigger"], match["project"]
        with self._lock:
            handle = self._handlers.get(trigger_id)
            known = sorted(self._handlers)
        if handle is None:
            status, reply = 404, f"unknown trigger id {trigger_id!r}; registered: {known}\n".encode()
        else:
            try:
                status, reply = handle(headers, body)
            except Exception:  # a handler bug must become a 500, not a dropped connection
                log.exception("handler for trigger %s failed", trigger_id)
                status, reply = 500, traceback.format_exc().encode()
        with self._lock:
            self._deliveries.append(Delivery(trigger_id, project, status, received_at, headers, body))
        return status, reply

    # -- lifecycle

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the form `--functions_emulator` takes."""
        if self._server is None:
            raise RuntimeError("receiver not started")
        return self._server.address

    def start(self) -> Receiver:
        if self._server is not None:
            return self
        receiver = self

        class _RequestHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, reply = receiver._dispatch(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("receiver: " + format, *args)

        self._server = LoopbackServer(_RequestHandler, name="onto-receiver")
        return self

    def stop(self) -> None:
        """Stop serving and free the port. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
