"""Plain HTTPS requests to a route: the seed's REST connector as a function.

The route decides first (404 when the path is no route of this function,
405 with `Allow` when the method is not one of its methods), then the body:
a request with a body must say `Content-Type: application/json` (415
otherwise) and hold JSON (400 otherwise); a GET or DELETE may have none
(its data is then None, and the schema is not applied). The answer is the handler's result as the JSON
body of a 200; an error is `{"error": {"status", "message"[, "details"]}}`
with the error's HTTP code, the shape callables use, so one client parses both.
"""

from __future__ import annotations

from typing import Mapping

from .request_call import Call
from .request_errors import RequestError
from .request_wire import HttpAnswer, error_body, is_json, parse_json
from .routes import Route


BODILESS = ("GET", "DELETE")  # a request without a body is not held to the schema for these methods


class MethodNotAllowed(RequestError):
    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(405, f"{method} is not served here; use {', '.join(allowed)}")
        self.allowed = allowed


def read(route: Route, methods: tuple[str, ...], method: str, path: str, headers: Mapping[str, str],
         body: bytes) -> Call:
    """The call a request makes; RequestError (404, 405, 415, 400) when it cannot be one."""
    params = route.match(path)
    if params is None:
        raise RequestError("NOT_FOUND", f"no route {path!r} here; this function serves {route.template!r}")
    if method not in methods:
        raise MethodNotAllowed(method, methods)
    if not body.strip():
        return Call("https", path, None, params=params)
    if not is_json(headers):
        raise RequestError(415, "the body must be JSON, sent with Content-Type: application/json")
    return Call("https", path, parse_json(body), params=params)


def success(call: Call, result_text: str) -> HttpAnswer:
    return HttpAnswer(200, result_text.encode("utf-8"))


def failure(call: Call | None, error: RequestError) -> HttpAnswer:
    answer = HttpAnswer(error.http_status, error_body(error))
    if isinstance(error, MethodNotAllowed):
        answer = answer.with_headers({"Allow": ", ".join((*error.allowed, "OPTIONS"))})
    return answer
