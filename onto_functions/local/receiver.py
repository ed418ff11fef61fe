"""An in-process HTTP endpoint that the Firestore emulator delivers function events to.

The emulator, started with `--functions_emulator=HOST:PORT`, POSTs each event to
`/functions/projects/{project}/triggers/{trigger_id}`. This receiver routes that
to a Python callable by trigger id, so tests and local runs need no
functions-framework process per trigger. Standard library only.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

from .loopback import LoopbackFront, LoopbackHandler, trigger_route

Handler = Callable[[dict[str, str], bytes], tuple[int, bytes]]
"""handle(headers, body) -> (status, response body). Header names are lower-cased."""

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


class _DeliveryHandler(LoopbackHandler):
    def do_POST(self) -> None:
        body = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, reply = self.front._dispatch(self.path, headers, body)
        self.reply(status, reply, "text/plain; charset=utf-8")


class Receiver(LoopbackFront):
    """Threaded HTTP server on 127.0.0.1 (free port) dispatching emulator deliveries by trigger id.

    Threaded so a slow handler does not block the test thread; note the emulator
    itself sends events one at a time, so a slow handler still delays the events behind it.
    """

    handler = _DeliveryHandler
    thread_name = "onto-receiver"

    def __init__(self) -> None:
        super().__init__()
        self._handlers: dict[str, Handler] = {}
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the form `--functions_emulator` takes."""
        return self.address

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
        route = trigger_route(path)
        if route is None:
            return 404, f"no route for {path}; expected /functions/projects/<p>/triggers/<id>\n".encode()
        project, trigger_id = route
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
