"""CORS for browser clients of request functions, as firebase-functions' on_call does by default.

A browser calling a function from a web app's origin first sends an
OPTIONS preflight; without the right answer it never sends the call.
`cors="*"` (the default, on_call's) admits every origin; a list of origins
admits those; None sends no CORS header at all (server-to-server use).
The preflight is answered 204 before any other check: it carries no token.
"""

from __future__ import annotations

from typing import Any, Mapping

from .request_wire import HttpAnswer, header

ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Firebase-AppCheck, Firebase-Instance-ID-Token"
MAX_AGE_SECONDS = "3600"


def normalise_origins(cors: Any) -> tuple[str, ...] | None:
    """`cors=` as a source declares it: "*", one origin, a list of origins, or None/False for none."""
    if cors is None or cors is False:
        return None
    if cors is True:
        return ("*",)
    origins = (cors,) if isinstance(cors, str) else tuple(cors)
    bad = [o for o in origins if not isinstance(o, str) or not (o == "*" or "://" in o)]
    if not origins or bad:
        raise ValueError(f"cors={cors!r}: use '*', an origin such as 'https://app.example.com', "
                         "a list of them, or None")
    return origins


def headers_for(origins: tuple[str, ...] | None, request_headers: Mapping[str, str]) -> dict[str, str]:
    """The CORS headers of an answer to a request from the browser origin it names (none if not allowed)."""
    origin = header(request_headers, "origin")
    if origins is None or origin is None:
        return {}
    if "*" in origins:
        return {"Access-Control-Allow-Origin": "*"}
    if origin in origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def preflight(origins: tuple[str, ...] | None, methods: tuple[str, ...],
              request_headers: Mapping[str, str]) -> HttpAnswer:
    allowed = headers_for(origins, request_headers)
    if allowed:
        asked = header(request_headers, "access-control-request-headers")
        allowed.update({"Access-Control-Allow-Methods": ", ".join(methods),
                        "Access-Control-Allow-Headers": asked or ALLOWED_HEADERS,
                        "Access-Control-Max-Age": MAX_AGE_SECONDS})
    return HttpAnswer(204, b"", allowed)

