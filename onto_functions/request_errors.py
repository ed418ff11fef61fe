"""The error a request handler raises to answer its caller: `RequestError(status, message, details)`.

    raise RequestError("NOT_FOUND", f"no meeting {meeting_id}")
    raise RequestError(409, "already attending", {"meeting": meeting_id})

Why one error type for both protocols: the same handler can serve an HTTPS
route and a callable (and its JSON-RPC form), so an error names a status
that each protocol can carry. The status is a callable status name (the
canonical gRPC code names that firebase-functions and the client SDKs use)
or an HTTP code; each side is derived from the other with firebase-functions'
own table, so a callable's HTTP code is exactly what the client SDKs expect.
An HTTPS answer keeps an HTTP code the handler chose (a 422 stays a 422).
"""

from __future__ import annotations

from typing import Any

# Canonical name → HTTP status, as firebase-functions' `_error_code_map` (from google/rpc/code.proto).
CALLABLE_HTTP_STATUS = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
}
# HTTP status → canonical name, for a handler (or onto) that speaks HTTP codes.
_NAME_OF_HTTP = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    405: "UNIMPLEMENTED", 409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 415: "INVALID_ARGUMENT",
    422: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


def status_name(status: str | int) -> str:
    """The canonical name of `status`: "NOT_FOUND", "not-found" (firebase's spelling) or 404 alike."""
    if isinstance(status, bool) or not isinstance(status, (str, int)):
        raise TypeError(f"a request error's status is a name such as 'NOT_FOUND' or an HTTP code, got {status!r}")
    if isinstance(status, int):
        if not 400 <= status <= 599:
            raise ValueError(f"a request error's HTTP status must be 4xx or 5xx, got {status}")
        return _NAME_OF_HTTP.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL")
    name = status.strip().upper().replace("-", "_")
    if name not in CALLABLE_HTTP_STATUS or name == "OK":
        known = ", ".join(n for n in CALLABLE_HTTP_STATUS if n != "OK")
        raise ValueError(f"unknown request error status {status!r}; use one of {known} or an HTTP code")
    return name


class RequestError(Exception):
    """Answer the caller with an error status, a message and optional JSON-able details; nothing commits."""

    def __init__(self, status: str | int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status_name(status)
        self.message = message
        self.details = details
        self._http_status = status if isinstance(status, int) else None

    @property
    def http_status(self) -> int:
        """The HTTP status of an HTTPS answer: the code the handler gave, else the name's."""
        return self._http_status or CALLABLE_HTTP_STATUS[self.status]

    @property
    def callable_http_status(self) -> int:
        """The HTTP status of a callable answer: always the name's (what the client SDKs expect)."""
        return CALLABLE_HTTP_STATUS[self.status]

    def wire(self) -> dict[str, Any]:
        """`{"status", "message"[, "details"]}`: the callable protocol's error object."""
        error: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return error

    def __repr__(self) -> str:
        return f"RequestError({self.status}, {self.message!r})"


def internal_error() -> RequestError:
    """What the caller of a handler that failed unexpectedly sees: nothing of the failure itself."""
    return RequestError("INTERNAL", "INTERNAL")
