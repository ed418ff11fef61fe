"""The function host's HTTP front on 127.0.0.1: what the emulator and `onto invoke` talk to.

    POST /functions/projects/{p}/triggers/{id}   an event from the emulator -> FunctionHost.accept
    POST /onto/invoke    {"trigger", "document", "before", "after", "wait"} -> the event's outcome
    GET  /onto/stats     per-trigger counters, the queue's states, the running workers
    GET  /               "ok" (a readiness probe)

Only routing and JSON live here; what each request does is the host's.
"""

from __future__ import annotations

import json

from .host import FunctionHost
from .loopback import LoopbackFront, LoopbackHandler, trigger_route


class _HostHandler(LoopbackHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/onto/stats"):
            self.reply(200, json.dumps(self.front.stats()).encode())
        elif self.path in ("/", ""):
            self.reply(200, b"ok\n", "text/plain")
        else:
            self.reply(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        body = self.read_body()
        route = trigger_route(self.path)
        if route is not None:
            self.reply(*self.front.host.accept(route[1], dict(self.headers.items()), body))
        elif self.path.startswith("/onto/invoke"):
            self.reply(*self.front.invoke(body))
        else:
            self.reply(404, f"no route for {self.path}\n".encode(), "text/plain")


class HostServer(LoopbackFront):
    """Serves a `FunctionHost` over HTTP on 127.0.0.1:`port` (0: a free port)."""

    handler = _HostHandler
    thread_name = "onto-host-http"

    def __init__(self, host: FunctionHost, project: str, port: int = 0) -> None:
        super().__init__(port)
        self.host = host
        self.project = project

    def stats(self) -> dict[str, object]:
        host = self.host
        return {"project": self.project, "triggers": host.stats.snapshot(), "queue": host.queue.counts(),
                "workers": host.workers.running()}

    def invoke(self, body: bytes) -> tuple[int, bytes]:
        """`onto invoke`'s request: one synthetic event, answered with its outcome."""
        try:
            req = json.loads(body or b"{}")
            result = self.host.invoke(req["trigger"], req["document"], project=self.project,
                                      before=req.get("before"), after=req.get("after"), wait=req.get("wait", 30.0))
        except KeyError as exc:
            return 404, json.dumps({"error": str(exc).strip("'\"")}).encode()
        except (ValueError, TypeError) as exc:
            return 400, json.dumps({"error": str(exc)}).encode()
        return 200, json.dumps(result, default=str).encode()
