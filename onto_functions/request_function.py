"""The deployed function of an HTTPS or callable mediator: a client's request in, its answer out.

`entrypoint.http_function(mediator, name)` returns this for a request or
callable spec (and a TriggerFunction for every other kind), so a bundle's
main.py is the same for every kind. In order, for each request:

1. a CORS preflight is answered at once (cors.py);
2. the protocol reads the request (https_protocol.py: route, method,
   JSON body; callable_protocol.py: `{"data": ...}` or JSON-RPC 2.0);
3. identity (identity.py: the ID token, 401), access (access.py: the
   `allow` rule, 401/403), App Check when the source asks for it (401);
4. the idempotency key (header or the callable data's key field) and the
   schema (400 naming each bad field) make the handler's `Request`;
5. the handler runs in a unit of work and commits atomically, with the
   key's answer when there is a key (request_runner.py, idempotency.py);
6. the answer in the protocol's form, and one log line (request_logs.py).

A handler's RequestError is answered as it says; any other exception is a
500 INTERNAL that shows the caller nothing and logs everything.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from . import access, callable_protocol, clients, cors, https_protocol, identity, request_logs
from .client_request import Headers, Request
from .contention import ContentionPolicy
from .entrypoint import UNCONFIGURED, own_project
from .idempotency import HEADER, Scope, checked_key, request_hash
from .mediator import Mediator
from .request_call import Call
from .executor import describe
from .request_errors import RequestError, internal_error
from .request_runner import FAILED, REFUSED, RequestRunner, RunResult
from .request_wire import HttpAnswer, header
from .routes import Route, below_function
from .spec import EventKind, Mode


class RequestFunction:
    """Serves one HTTPS or callable spec; one per process, shared by its threads."""

    def __init__(self, mediator: type[Mediator], trigger: str, *, project: str | None = None,
                 client_for: Callable[[str, str], Any] = clients.client_for,
                 contention: ContentionPolicy = ContentionPolicy()) -> None:
        self.spec = mediator.trigger_spec(trigger)
        if not self.spec.kind.is_request:
            raise ValueError(f"{trigger} is a {self.spec.kind.trigger_name} trigger, not a request or callable")
        attr, self.source = mediator.handler_for(trigger)
        self.project = project or own_project()
        self.client_for = client_for
        self.runner = RequestRunner(getattr(mediator(), attr),
                                    contention=contention.within_timeout(self.spec.options.timeout_seconds))
        self.protocol: Any = https_protocol if self.spec.kind is EventKind.REQUEST else callable_protocol
        self.route = Route(self.spec.route or "/")
        self.methods = self.spec.methods if self.spec.kind is EventKind.REQUEST else ("POST",)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
        """Answer one request, and log it as one structured line."""
        started = time.monotonic()
        method = method.upper()
        if method == "OPTIONS" and self.source.cors_origins is not None:
            return cors.preflight(self.source.cors_origins, (*self.methods, "OPTIONS"), headers)
        path = below_function(path, function=self.spec.name, region=self.spec.options.region)
        try:
            call, result, uid = self._serve(method, path, headers, body)
        except Exception as exc:  # Firestore unreachable, a bug of ours: a 500 that shows nothing, logged
            call, uid = None, None
            result = RunResult(FAILED, error=internal_error(), detail=describe(exc), exc=exc)
        if result.text is not None:
            answer = self.protocol.success(call, result.text)
        else:
            answer = self.protocol.failure(call, result.error)
        request_logs.request(function=self.spec.name, outcome=result.outcome, status=answer.status, method=method,
                             path=path, protocol=call.protocol if call else "?", uid=uid,
                             commit_attempts=result.commit_attempts, detail=result.detail or _said(result),
                             latency_ms=(time.monotonic() - started) * 1000, exc=result.exc)
        return answer.with_headers(cors.headers_for(self.source.cors_origins, headers))

    def _serve(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes) -> tuple[Call | None, RunResult, str | None]:
        if not self.project:
            return None, RunResult(FAILED, error=internal_error(), detail=UNCONFIGURED), None
        try:
            call = self._read(method, path, headers, body)
        except RequestError as exc:
            return None, RunResult(REFUSED, error=exc), None
        if call.refusal is not None:
            return call, RunResult(REFUSED, error=call.refusal), None
        uid = None
        try:
            request, scope = self._admit(call, method, headers)
            uid = request.auth.uid if request.auth else None
        except RequestError as exc:
            return call, RunResult(REFUSED, error=exc), uid
        client = self.client_for(self.project, self.spec.options.database)
        return call, self.runner.run(client, request, scope), uid

    def _read(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Call:
        if self.spec.kind is EventKind.REQUEST:
            return https_protocol.read(self.route, self.methods, method, path, headers, body)
        return callable_protocol.read(method, headers, body, (self.spec.name, self.spec.handler))

    def _admit(self, call: Call, method: str, headers: Mapping[str, str]) -> tuple[Request, Scope | None]:
        """The handler's Request and the key's scope, once every check passed (RequestError otherwise)."""
        caller = identity.caller_of(headers, self.project)
        refusal = access.refusal(self.spec.access or "signed_in", caller)
        if refusal is not None:
            raise refusal
        app_check = identity.app_check_of(headers, self.project) if self.source.app_check else None
        key, data = self._key_and_data(call, headers)
        bodiless = call.protocol == "https" and data is None and method in https_protocol.BODILESS
        request = Request(data=None if bodiless else self.source.load(data), method=method, path=call.path,
                          headers=Headers(headers), params=call.params, auth=caller, app_check=app_check,
                          idempotency_key=key, protocol=call.protocol, json=data)
        if key is None or self.spec.mode is not Mode.EXACTLY_ONCE:
            return request, None
        return request, Scope(self.spec.name, caller.uid if caller else None, key,
                              request_hash(method if call.protocol == "https" else "CALL", call.path, data),
                              self.source.idempotency_ttl_hours)

    def _key_and_data(self, call: Call, headers: Mapping[str, str]) -> tuple[str | None, Any]:
        if call.protocol == "https":
            return checked_key(header(headers, HEADER), "the Idempotency-Key header"), call.data
        field = self.source.idempotency_key
        key, data = callable_protocol.idempotency_key_of(call.data, field)
        key = key if key is not None else header(headers, HEADER)
        return checked_key(key, f"the data's {field!r} field"), data

    # functions-framework calls an http function with a flask.Request
    def __call__(self, request: Any) -> tuple[bytes, int, dict[str, str]]:
        answer = self.handle(request.method, request.path, dict(request.headers), request.get_data())
        return answer.body, answer.status, dict(answer.headers)



def _said(result: RunResult) -> str:
    return f"{result.error.status}: {result.error.message}" if result.error is not None else ""
