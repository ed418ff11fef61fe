"""The zygote's warm-up: run the code every worker runs, before the forks, so the workers share it warm.

Forked pages stay shared only while nobody writes to them, and running
Python code writes: CPython 3.11 specialises the bytecode of a function in
place during its first runs, and the first use of a route, a regular
expression, a protobuf type or a marshmallow field fills caches. A worker
that does that itself copies every page it touches (measured: a cold
`create_app` plus 50 requests dirtied 5.4 MB of a worker, 3.6 MB after this
warm-up). So the zygote does it once: it builds functions-framework's app
for a stand-in function and pushes requests through it (flask, werkzeug, the
WSGI path of worker_server.py, onto's decoding of the emulator's CloudEvent),
and drives the executor over a Firestore client that never sends: every call
fails at once, after the executor built its reads and writes and the client
encoded them as JSON; no socket is opened, so no connection exists when the
zygote forks.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from ..ledger import utcnow
from ..spec import EventKind, TriggerSpec
from ..stream_decoding import decode_for_spec
from .synthetic_requests import synthetic_request

PROJECT = "demo-zygote-warm-up"
SPEC = TriggerSpec(name="zygote-warm-up", kind=EventKind.WRITTEN, document="docs/{doc_id}", module="main",
                   mediator="WarmUp", handler="warm_up")
MAIN = "from onto_functions.local.zygote_warmup import answer as zygote_warm_up\n"


def answer(request: Any) -> tuple[bytes, int, dict[str, str]]:
    """The stand-in function: decodes the request as a worker's entry point would."""
    event = decode_for_spec(SPEC, dict(request.headers), request.get_data(), project=PROJECT, clock=utcnow)
    return f'{{"eventId": "{event.id}"}}'.encode(), 200, {"Content-Type": "application/json"}


def warm_up(requests: int = 60) -> None:
    """Build the stand-in app and serve it `requests` synthetic deliveries; encode Firestore writes."""
    import functions_framework

    with tempfile.TemporaryDirectory(prefix="onto-zygote-") as folder:
        main = Path(folder) / "main.py"
        main.write_text(MAIN)
        app = functions_framework.create_app(SPEC.entry_point, str(main), "http")
        sys.modules.pop("main", None)  # the stand-in's module is no worker's own
    for i in range(requests):
        _, headers, body = synthetic_request(SPEC, PROJECT, f"docs/d{i}", before={"n": i} if i % 2 else None,
                                             after={"n": i + 1, "name": f"n{i}", "tags": ["a", "b"]})
        _serve_over_socket_pair(app, headers, body)
    _encode_writes(requests)


def _serve_over_socket_pair(app: Any, headers: dict[str, str], body: bytes) -> None:
    """One kept-alive exchange through worker_server's handler, on this thread (no server, no thread)."""
    import http.client
    import socket

    from .worker_server import WorkerServer, WsgiHandler

    ours, theirs = socket.socketpair()
    with ours, theirs:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        ours.sendall(f"POST /{SPEC.entry_point} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}"
                     f"Connection: close\r\n\r\n".encode("latin-1") + body)
        server = WorkerServer.__new__(WorkerServer)  # what the handler reads of its server: app and port
        server.app, server.server_port = app, 0
        WsgiHandler(theirs, ("127.0.0.1", 0), server)
        theirs.shutdown(socket.SHUT_WR)
        answer = http.client.HTTPResponse(ours)
        answer.begin()
        answer.read()
    if answer.status != 200:
        raise RuntimeError(f"the zygote's warm-up request was answered {answer.status}")


def _run_executor(client: Any, rounds: int) -> None:
    """A stand-in trigger's executor over the unconnected client: decode, change, handler, unit of work;
    its first call fails (PERMISSION_DENIED), which the entry point answers as a failure of Firestore."""
    import logging

    from .. import Change, Mediator, Store, ViewModel, fields
    from .. import mediator as declare
    from ..entrypoint import TriggerFunction

    class WarmView(ViewModel):
        class Meta:
            path = "warm/{doc_id}"

        n = fields.Int(allow_none=True)
        name = fields.Str(allow_none=True)

    class WarmUp(Mediator):
        source = declare.source.document("docs/{doc_id}")
        sink = declare.sink.firestore(WarmView)

        @source.triggers.on_write
        def warm_up(self, change: Change[dict], store: Store) -> None:
            after = change.after or {}
            self.sink.emit(store, WarmView(n=after.get("n"), name=after.get("name")), doc_id=change.params["doc_id"])

    spec = WarmUp.trigger_specs()[0]
    function = TriggerFunction(WarmUp, spec.name, project=PROJECT, client_for=lambda project, database: client)
    logging.disable(logging.CRITICAL)  # each delivery fails on purpose: nothing to report
    try:
        for i in range(rounds):
            _, headers, body = synthetic_request(spec, PROJECT, f"docs/d{i}", after={"n": i, "name": f"n{i}"})
            function.handle(headers, body)
    finally:
        logging.disable(logging.NOTSET)


def _unsent_client() -> Any:
    """A FirestoreRest that encodes each call and then refuses it, before any socket is opened."""
    from ..firestore_rest import FirestoreError, FirestoreRest

    class Unsent(FirestoreRest):
        def _exchange(self, path: str, payload: bytes) -> Any:
            self._tokens.authorization()
            raise FirestoreError("PERMISSION_DENIED", "the zygote's warm-up client never sends")

    return Unsent(PROJECT, emulator_host="127.0.0.1:1")


def _encode_writes(rounds: int) -> None:
    """The executor over a client that never sends: reads, creates, preconditioned sets, deletes, commits."""
    from ..firestore_writes import Write, write_json

    client = _unsent_client()
    _run_executor(client, rounds)
    stamp = utcnow()
    for i in range(rounds):
        writes = [write_json(Write("create", f"_onto_ledger/e{i}", {"trigger": "t", "at": stamp, "n": i}), client),
                  write_json(Write("set", f"views/v{i}", {"n": i, "tags": ["a"], "nested": {"x": 1.5}}), client, stamp),
                  write_json(Write("delete", f"views/d{i}"), client, None)]
        for call in (lambda: client.commit(writes), lambda: client.get_all([f"views/v{i}", f"views/w{i}"])):
            try:
                call()
            except Exception:
                pass
