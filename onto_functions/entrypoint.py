"""The deployed function of one trigger: an HTTP request in, an answer Eventarc understands out.

Why an `http` function and not functions-framework's `cloud_event` one: the
framework's CloudEvent path answers a malformed event with a generic error
and never sees the emulator's base64 bodies or legacy JSON. Decoding here
gives every wire form one path and puts every answer under our control.

The answers follow what the platform does with them. Eventarc retries EVERY
non-2xx answer (a 400 too) for up to 24 hours, so:
- a request that can never succeed (undecodable, or an event of another
  project or database than this function's) is recorded as a dead letter
  with its reason and answered 2xx ("refused"): no day of retries;
- an event applied, found a duplicate, superseded or dead-lettered: 2xx;
- a handler failure or lost commit races: 5xx, so the platform redelivers;
- a fault of Firestore itself (unavailable while reading the ledger or
  recording a refusal): 5xx, because it may succeed later.

This module and what it imports are the cold-start path of every deployed
function: no CLI, bundling or emulator code may be imported from here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import clients, logs
from . import outcome as status
from .contention import ContentionPolicy
from .discovery import load_mediator
from .events import BadEvent
from .executor import Executor
from .failures import KEPT_HEADER_PREFIXES
from .ledger import AnyEvent, utcnow
from .mediator import Mediator
from .outcome import Outcome
from .stream_decoding import decode_for_spec

log = logging.getLogger("onto_functions")


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    def encoded(self) -> bytes:
        return json.dumps(self.body).encode()


class TriggerFunction:
    """Decodes, checks the event is this function's own, runs the executor and answers."""

    def __init__(
        self,
        mediator: type[Mediator],
        trigger: str,
        *,
        project: str | None = None,
        client_for: Callable[[str, str], Any] = clients.client_for,
        contention: ContentionPolicy = ContentionPolicy(),
    ) -> None:
        self.spec = mediator.trigger_spec(trigger)
        self.project = project or own_project()
        self.client_for = client_for
        self.executor = Executor(self.spec, mediator(), client_for=client_for, contention=contention)

    def handle(self, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request, and log it as one structured line (see logs.py)."""
        started = time.monotonic()
        response, document = self._answer(headers, body)
        logs.delivery(response.body, document=document, latency_ms=(time.monotonic() - started) * 1000)
        return response

    def _answer(self, headers: Mapping[str, str], body: bytes) -> tuple[Response, str]:
        if not self.project:
            return self._unconfigured(), ""
        try:
            event = self.decode(headers, body)
        except BadEvent as exc:
            return self._refuse(headers, body, str(exc)), ""
        foreign = self.foreign(event)
        if foreign:
            return self._refuse(headers, body, foreign), event.subject
        return self.run(event), event.subject

    def decode(self, headers: Mapping[str, str], body: bytes) -> AnyEvent:
        """The event of one request, read as this trigger's source sends it (BadEvent if it cannot be)."""
        return decode_for_spec(self.spec, headers, body, project=self.project, clock=utcnow)

    def foreign(self, event: AnyEvent) -> str | None:
        """Why an event is not this function's to serve (another project or database), or None."""
        database = self.spec.options.database
        if event.project != self.project or event.database != database:
            return (f"event {event.id} is for project {event.project!r}, database {event.database!r}; "
                    f"this function serves project {self.project!r}, database {database!r}")
        return None

    def run(self, event: AnyEvent) -> Response:
        try:
            outcome = self.executor.process(event)
        except Exception as exc:  # a fault of Firestore or of ours: let the platform redeliver
            log.warning("%s: event %s could not be processed", self.spec.name, event.id, exc_info=True)
            return Response(500, {"outcome": status.FAILED, "trigger": self.spec.name, "eventId": event.id,
                                  "detail": f"{type(exc).__name__}: {exc}"})
        return Response(200 if outcome.acknowledged else 500, outcome.as_dict())

    def process(self, event: AnyEvent) -> Outcome:
        """The executor's outcome for an already decoded event (tests, the local host, replays).

        A trusted caller's path: it checks the event's project only when this
        function knows its own."""
        foreign = self.foreign(event) if self.project else None
        if foreign:
            raise ValueError(foreign)
        started = time.monotonic()
        outcome = self.executor.process(event)
        logs.delivery(outcome.as_dict(), document=event.subject, latency_ms=(time.monotonic() - started) * 1000)
        return outcome

    def _refuse(self, headers: Mapping[str, str], body: bytes, reason: str) -> Response:
        key = _request_key(headers, body)
        client = self.client_for(self.project, self.spec.options.database)
        self.executor.failures.refuse(client, key, headers, body, reason)  # raises (→ 500) if Firestore is down
        return Response(200, {"outcome": status.REFUSED, "trigger": self.spec.name,
                              "deadLetter": f"request-{key}", "error": reason})

    def _unconfigured(self) -> Response:
        return Response(500, {"outcome": status.FAILED, "trigger": self.spec.name, "error": UNCONFIGURED})

    # functions-framework calls an http function with a flask.Request
    def __call__(self, request: Any) -> tuple[bytes, int, dict[str, str]]:
        response = self.handle(dict(request.headers), request.get_data())
        return response.encoded(), response.status, dict(response.headers)


UNCONFIGURED = ("this function does not know its own project: set GOOGLE_CLOUD_PROJECT (firebase-tools "
                "sets GCLOUD_PROJECT; `onto deploy --backend gcloud` sets it too)")


def own_project() -> str:
    """The project this process serves, as the platform (or the local stack) tells it."""
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT") or ""


def _request_key(headers: Mapping[str, str], body: bytes) -> str:
    """The same request retried gets the same key, so its dead letter is written once."""
    digest = hashlib.sha256()
    for name, value in sorted((k.lower(), v) for k, v in headers.items()
                              if k.lower().startswith(KEPT_HEADER_PREFIXES)):
        digest.update(f"{name}:{value}\n".encode("utf-8", "replace"))
    digest.update(body)
    return digest.hexdigest()[:32]


def http_function(mediator: type[Mediator], trigger: str) -> Callable[[Any], Any]:
    """The function a generated main.py exposes under the entry point's name, for every kind.

    A request or callable spec is served by a RequestFunction (imported
    only then: the trigger path never loads the request runner, identity
    or firebase-admin; only the small source declarations, about 4 ms),
    every other spec by a TriggerFunction.
    functions-framework accepts only a real function as a target and records
    signature types by `__name__`, so this returns a closure with that name.
    """
    logs.configure()
    served: Any
    if mediator.trigger_spec(trigger).kind.is_request:
        from .request_function import RequestFunction

        served = RequestFunction(mediator, trigger)
    else:
        served = TriggerFunction(mediator, trigger)

    def handle(request: Any) -> tuple[bytes, int, dict[str, str]]:
        return served(request)

    handle.__name__ = handle.__qualname__ = served.spec.entry_point
    handle.trigger_function = served  # type: ignore[attr-defined]
    return handle


def function_for_spec(spec: Any, *, project: str | None = None) -> TriggerFunction:
    """The function of a TriggerSpec, importing its mediator (used by the local host and replays)."""
    return TriggerFunction(load_mediator(spec), spec.name, project=project)
