"""The JSON a request function reads and writes, whatever its protocol (HTTPS, callable, JSON-RPC).

Why results are encoded once, to text: an exactly-once request stores its
answer (idempotency.py) and every retry with the same key must get the same
bytes. So a handler's result becomes JSON text right after the handler
returns (before anything commits: a result JSON cannot hold commits
nothing), and each protocol wraps that text without decoding it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Mapping

from .bounded_json import JSONRefused, loads_value
from .request_errors import RequestError

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class HttpAnswer:
    """What a request function answers: a status, body bytes and headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": JSON_TYPE})

    def with_headers(self, extra: Mapping[str, str]) -> "HttpAnswer":
        return HttpAnswer(self.status, self.body, {**self.headers, **extra})


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, its name matched without regard to case (`name` in lower case)."""
    return next((v for k, v in headers.items() if k.lower() == name), None)


def is_json(headers: Mapping[str, str]) -> bool:
    """True when the Content-Type is application/json (a charset or other parameters allowed)."""
    content_type = header(headers, "content-type") or ""
    return content_type.split(";", 1)[0].strip().lower() == JSON_TYPE


MAX_BODY_BYTES = 10 * 1024 * 1024
"""A request body, at most (Firestore's own limit for one commit). Parsed, JSON takes ten times its size
in memory or more (28 MB of numbers: 320 MB), and it is parsed before the caller is known: without a
bound, an anonymous client's 32 MB body (Cloud Run's limit) could make a 256 MiB instance run out of
memory, failing every request it was serving."""


def parse_json(body: bytes, what: str = "a request") -> Any:
    """The JSON value of `body`; RequestError(400) naming what is wrong.

    Parsed within bounds (bounded_json.py): a body nested 100,000 deep, NaN,
    Infinity, 1e400 or a lone surrogate is the client's mistake (400), not a
    RecursionError's 500 nor a value Firestore or a JSON answer cannot hold;
    a body over MAX_BODY_BYTES is not parsed at all (413).
    """
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(413, f"{what}'s body is {len(body)} bytes, more than the {MAX_BODY_BYTES} "
                                "a function reads")
    try:
        return loads_value(body, what)
    except JSONRefused as exc:
        raise RequestError("INVALID_ARGUMENT", str(exc)) from None


def encode_result(value: Any) -> str:
    """A handler's result as JSON text (dates as ISO 8601); TypeError/ValueError for what JSON cannot hold.

    NaN and the infinities are refused (json.dumps writes them as `NaN`, which no client's JSON parser reads).
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable, allow_nan=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"the handler returned a {type(value).__name__}, which JSON cannot hold")


def json_bytes(value: Any) -> bytes:
    """Onto's own JSON (errors, envelopes): whatever a detail holds that JSON cannot is given as text."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def error_body(error: RequestError) -> bytes:
    """`{"error": {"status", "message"[, "details"]}}`: the callable protocol's shape, used by HTTPS too."""
    return json_bytes({"error": error.wire()})
