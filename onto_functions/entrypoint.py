"""The deployed function of one trigger: an HTTP request in, an answer out.

Why an `http` function and not functions-framework's `cloud_event` one: the
framework's CloudEvent path answers a malformed event with a generic error
and never sees the emulator's base64 bodies or legacy JSON. Decoding the
request here gives every wire form one path, a 4xx that names what is wrong
(never a retry loop), and a 2xx/5xx that means "done" / "redeliver".

This module and what it imports are the cold-start path of every deployed
function: no CLI, bundling or emulator code may be imported from here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import clients
from .discovery import load_mediator
from .decoding import decode_request
from .events import BadEvent, DocumentEvent
from .executor import Executor, Outcome, ContentionPolicy
from .mediator import Mediator

log = logging.getLogger("onto_functions")


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    def encoded(self) -> bytes:
        return json.dumps(self.body).encode()


class TriggerFunction:
    """Decodes, runs the executor and answers, for one trigger of one mediator."""

    def __init__(
        self,
        mediator: type[Mediator],
        trigger: str,
        *,
        client_for: Callable[[str, str], Any] = clients.client_for,
        contention: ContentionPolicy = ContentionPolicy(),
    ) -> None:
        self.spec = mediator.trigger_spec(trigger)
        self.executor = Executor(self.spec, mediator(), client_for=client_for, contention=contention)

    def handle(self, headers: Mapping[str, str], body: bytes) -> Response:
        try:
            event = decode_request(headers, body)
        except BadEvent as exc:
            log.warning("%s: refused a request: %s", self.spec.name, exc)
            return Response(exc.status, {"error": str(exc), "trigger": self.spec.name})
        return self.run(_with_project(event))

    def run(self, event: DocumentEvent) -> Response:
        try:
            outcome = self.executor.process(event)
        except Exception as exc:  # a fault of ours or of Firestore: let the platform redeliver
            log.exception("%s: event %s crashed the executor", self.spec.name, event.id)
            return Response(500, {"outcome": "failed", "trigger": self.spec.name, "eventId": event.id,
                                  "detail": f"{type(exc).__name__}: {exc}"})
        return Response(200 if outcome.acknowledged else 500, outcome.as_dict())

    def process(self, event: DocumentEvent) -> Outcome:
        """The executor's outcome for an already decoded event (for tests and the local host)."""
        return self.executor.process(_with_project(event))

    # functions-framework calls an http function with a flask.Request
    def __call__(self, request: Any) -> tuple[bytes, int, dict[str, str]]:
        response = self.handle(dict(request.headers), request.get_data())
        return response.encoded(), response.status, dict(response.headers)


def _with_project(event: DocumentEvent) -> DocumentEvent:
    if event.project:
        return event
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT") or ""
    from dataclasses import replace

    return replace(event, project=project)


def http_function(mediator: type[Mediator], trigger: str) -> Callable[[Any], Any]:
    """The function a generated main.py exposes under the entry point's name.

    functions-framework accepts only a real function as a target and records
    signature types by `__name__`, so this returns a closure with that name.
    """
    trigger_function = TriggerFunction(mediator, trigger)

    def handle(request: Any) -> tuple[bytes, int, dict[str, str]]:
        return trigger_function(request)

    handle.__name__ = handle.__qualname__ = trigger_function.spec.entry_point
    handle.trigger_function = trigger_function  # type: ignore[attr-defined]
    return handle


def function_for_spec(spec: Any) -> TriggerFunction:
    """The function of a TriggerSpec, importing its mediator (used by the local host)."""
    return TriggerFunction(load_mediator(spec), spec.name)
