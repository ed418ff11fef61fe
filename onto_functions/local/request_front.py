"""The local stack's front for HTTPS and callable functions, at firebase-tools' URL shape.

    http://127.0.0.1:PORT/<project>/<region>/<function>[/sub/path][?query]

is where firebase-tools' emulator serves an HTTPS or callable function, and
where the client SDKs send a call once `connectFunctionsEmulator(functions,
"127.0.0.1", PORT)` is set; so a front end written against firebase-tools
reaches `onto emulate` unchanged. The function sees the sub-path (or "/"),
as it does in production behind its own URL.

Why a front of our own instead of calling a worker directly: the request
goes to the same functions-framework workers that serve triggers (the
bundle deploy ships), taking turns over the function's instances as
production spreads requests over instances, so a client's retry usually
meets another instance than the first attempt: what the idempotency of a
request has to survive. Each answer says which instance gave it
(`X-Onto-Instance`, local only), so a test can show two were used.

Nothing is queued or retried here: a client's request is answered by the
function, or by this front when no instance could take it (503), and it is
the client that retries.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..spec import TriggerSpec
from .loopback import LoopbackFront, LoopbackHandler
from .stats import Stats
from .worker_pool import WorkerPool
from .workers import Worker, WorkerError

log = logging.getLogger("onto_functions.local")

INSTANCE_HEADER = "X-Onto-Instance"
# Hop-by-hop headers (RFC 9110 7.6.1) and the ones this front sets itself.
_NOT_FORWARDED = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te",
                            "upgrade", "proxy-connection", "trailer"})
_FUNCTION_PATH = re.compile(r"^/(?P<project>[^/?]+)/(?P<region>[^/?]+)/(?P<function>[^/?]+)(?P<rest>/[^?]*)?"
                            r"(?:\?(?P<query>.*))?$")
# Seconds a request may take beyond the function's own timeout before the front gives up on it.
_TIMEOUT_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Answer:
    """What goes back to the client: status, headers, body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class Target:
    """A request's function and what that function's worker is asked for (its sub-path and query)."""

    spec: TriggerSpec
    path: str


def local_function_url(address: str, project: str, spec: TriggerSpec) -> str:
    """Where the front serves `spec`: `http://ADDRESS/<project>/<region>/<function>` (without a route)."""
    return f"http://{address}/{project}/{spec.options.region}/{spec.name}"


def error_answer(status: int, code: str, message: str) -> Answer:
    """An answer from the front itself, in the callable protocol's error shape (JSON that any client reads)."""
    body = json.dumps({"error": {"status": code, "message": message}}).encode()
    return Answer(status, (("Content-Type", "application/json"),), body)


class RequestRouter:
    """Maps a path of firebase-tools' URL shape to one of the app's HTTPS or callable functions."""

    def __init__(self, specs: Sequence[TriggerSpec], project: str) -> None:
        self.project = project
        self.specs = {s.name: s for s in specs if s.kind.is_request}

    def route(self, path: str) -> Target | Answer:
        """The function and sub-path `path` names, or a 404 saying what is served instead."""
        match = _FUNCTION_PATH.match(path)
        spec = self.specs.get(match["function"]) if match else None
        if match is None or spec is None or match["project"] != self.project:
            return error_answer(404, "NOT_FOUND", f"no function at {path.split('?')[0]}; served: "
                                + (", ".join(f"/{self.project}/{s.options.region}/{s.name}"
                                             for s in self.specs.values()) or "none"))
        if match["region"] != spec.options.region:
            return error_answer(404, "NOT_FOUND", f"function {spec.name!r} runs in {spec.options.region}, "
                                                  f"not {match['region']}")
        sub_path = match["rest"] or "/"
        return Target(spec, sub_path + (f"?{match['query']}" if match["query"] is not None else ""))


def forward(worker: Worker, method: str, path: str, headers: Mapping[str, str], body: bytes,
            timeout: float) -> Answer:
    """One request to a worker, its answer as it came. Raises OSError when none came."""
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=timeout)
    try:
        sent = {k: v for k, v in headers.items() if k.lower() not in _NOT_FORWARDED}
        conn.request(method, path, body=body if body or method not in ("GET", "HEAD") else None, headers=sent)
        resp = conn.getresponse()
        kept = tuple((k, v) for k, v in resp.getheaders() if k.lower() not in _NOT_FORWARDED)
        return Answer(resp.status, kept, resp.read())
    except http.client.HTTPException as exc:  # the process died mid-answer
        raise ConnectionAbortedError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


class _RequestHandler(LoopbackHandler):
    def _serve(self) -> None:
        try:
            body = self.read_request_body()
        except ValueError as exc:
            answer = error_answer(400, "INVALID_ARGUMENT", str(exc))
        else:
            answer = self.front.answer(self.command, self.path, dict(self.headers.items()), body)
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def read_request_body(self) -> bytes:
        """The whole body, sent with a Content-Length or chunked (as browsers' fetch may)."""
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.read_body()
        chunks = []
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise ValueError(f"bad chunk size {size_line[:40]!r}") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve


class RequestFront(LoopbackFront):
    """Serves the app's HTTPS and callable functions on 127.0.0.1:`port`, through their workers."""

    handler = _RequestHandler
    thread_name = "onto-request-front"

    def __init__(self, specs: Sequence[TriggerSpec], workers: WorkerPool, project: str, *, port: int = 0,
                 stats: Stats | None = None) -> None:
        super().__init__(port)
        self.router = RequestRouter(specs, project)
        self.workers = workers
        self.stats = stats or Stats(self.router.specs)

    def url(self, spec: TriggerSpec) -> str:
        return local_function_url(self.address, self.router.project, spec)

    def answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Route the request, send it to one of the function's instances, count it."""
        target = self.router.route(path)
        if isinstance(target, Answer):
            return target
        name = target.spec.name
        self.stats.outcome(name, "requests")  # a counter of its own: "received" counts events
        began = time.monotonic()
        answer = self._through_a_worker(target, method, headers, body)
        self.stats.latency(name, time.monotonic() - began)
        return answer

    def _through_a_worker(self, target: Target, method: str, headers: Mapping[str, str], body: bytes) -> Answer:
        name = target.spec.name
        try:
            worker = self.workers.acquire(name)
        except WorkerError as exc:
            self.stats.count(name, "unanswered")
            return error_answer(503, "UNAVAILABLE", f"function {name!r} could not start: {exc}")
        try:
            self.stats.count(name, "delivered")
            timeout = target.spec.options.timeout_seconds + _TIMEOUT_MARGIN_SECONDS
            answer = forward(worker, method, target.path, headers, body, timeout)
        except OSError as exc:
            self.stats.count(name, "unanswered")
            log.warning("%s.%d gave no answer: %s", name, worker.instance, exc)
            return error_answer(503, "UNAVAILABLE", f"function {name!r} (instance {worker.instance}) "
                                                    f"gave no answer: {exc}")
        finally:
            self.workers.release(worker)
        self.stats.outcome(name, f"http_{answer.status // 100}xx")
        return Answer(answer.status, (*answer.headers, (INSTANCE_HEADER, str(worker.instance))), answer.body)
