"""Client-facing sources: `source.https(route, ...)` and `source.callable(...)`.

    class AttendanceMediator(Mediator):
        source = source.callable(schema=ToggleSchema, allow="signed_in")

        @source.triggers.on_call
        def toggle_attendance(self, request, store): ...

The front end calls these directly (the seed's REST and JSON-RPC
connectors), where every other source is fired by the platform. Each
(handler, source) is still one deployed function with one TriggerSpec, so
bundling, deploy and the local stack treat them as they treat triggers.

Declared here, and checked when the class is created: the route and its
methods, the marshmallow schema of the body, who may call (`allow`),
whether an App Check token is required (`app_check`), how long the answer
of an exactly-once request is kept (`idempotency_ttl_hours`), and which
browser origins may call (`cors`). Options that only make sense for
delivered events are refused: a client's request has no document versions
to supersede and no writer to report.

Serving them is request_function.py's: `load` here turns the request's JSON
into what the handler's `request.data` holds.
"""

from __future__ import annotations

import re
from typing import Any

from .cors import normalise_origins
from .request_errors import RequestError
from .spec import EventKind, Semantics, TriggerOptions
from .triggers import Triggers

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A route is "/" or slash-separated literal segments and {name} parameters.
_ROUTE_SEGMENT_RE = re.compile(r"^(?:[A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\})$")
_CLAIM_RE = re.compile(r"^claim:[A-Za-z_][A-Za-z0-9_.-]*(?:=.+)?$")


def normalise_access(allow: str) -> str:
    """Who may call, as text a spec can carry: "anyone", "signed_in" or "claim:<name>[=<value>]"."""
    if allow in ("anyone", "signed_in") or (isinstance(allow, str) and _CLAIM_RE.match(allow)):
        return allow
    raise ValueError(
        f"allow={allow!r} is not a rule: use 'anyone', 'signed_in' or 'claim:<name>' "
        "(the ID token carries the custom claim <name> = true) or 'claim:<name>=<value>'"
    )


def normalise_route(route: str) -> str:
    """A route below the function's URL: "/", or "/meetings/{meeting_id}/attendance"."""
    if not isinstance(route, str) or not route.startswith("/"):
        raise ValueError(f"route {route!r} must start with '/'")
    segments = [s for s in route.split("/")[1:] if s != ""] if route != "/" else []
    bad = [s for s in segments if not _ROUTE_SEGMENT_RE.match(s)]
    if bad:
        raise ValueError(
            f"route {route!r}: segment {bad[0]!r} is neither a literal (letters, digits, ._~-) "
            "nor a {parameter}"
        )
    names = [s[1:-1] for s in segments if s.startswith("{")]
    if len(names) != len(set(names)):
        raise ValueError(f"route {route!r} names a parameter twice")
    return "/" + "/".join(segments)


def normalise_methods(methods: Any) -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = (methods,)
    upper = tuple(dict.fromkeys(str(m).upper() for m in methods))
    unknown = [m for m in upper if m not in HTTP_METHODS]
    if not upper or unknown:
        raise ValueError(f"methods {list(methods)!r}: use one or more of {', '.join(HTTP_METHODS)}")
    return upper


def schema_instance(schema: Any) -> Any:
    if isinstance(schema, type):
        schema = schema()
    if schema is not None and not callable(getattr(schema, "load", None)):
        raise TypeError(f"schema must be a marshmallow Schema (class or instance), got {schema!r}")
    return schema


def schema_ref(schema: Any) -> str | None:
    cls = type(schema) if schema is not None else None
    return f"{cls.__module__}:{cls.__qualname__}" if cls else None


def normalise_ttl_hours(hours: Any) -> float:
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 24 * 30:
        raise ValueError(f"idempotency_ttl_hours={hours!r}: use a number of hours above 0, at most 720 (30 days)")
    return float(hours)


def load_with(schema: Any, data: Any) -> Any:
    """The request's JSON loaded by the source's schema (the JSON itself without one);
    RequestError(400) naming each bad field with marshmallow's messages."""
    if schema is None:
        return data
    from marshmallow import ValidationError

    if not isinstance(data, dict) and not getattr(schema, "many", False):
        raise RequestError("INVALID_ARGUMENT", f"the request's data must be a JSON object for "
                                               f"{type(schema).__name__}, got {type(data).__name__}")
    try:
        return schema.load(data)
    except ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        named = "; ".join(f"{name}: {' '.join(map(str, _as_list(msgs)))}" for name, msgs in fields.items())
        raise RequestError("INVALID_ARGUMENT", f"the request's data does not fit {type(schema).__name__}: {named}",
                           {"fields": fields}) from None


def _as_list(messages: Any) -> list[Any]:
    return messages if isinstance(messages, list) else [messages]


def refuse_event_options(options: TriggerOptions, where: str) -> None:
    if options.semantics is Semantics.LATEST_STATE:
        raise TypeError(f"{where}: semantics='latest_state' needs document versions; a client's request has none")
    if options.auth_context:
        raise TypeError(f"{where}: auth_context=True is for document triggers; a request carries its "
                        "caller's identity in `request.auth` already")


class HttpsSource:
    """Requests to one route of an HTTPS function, their JSON body loaded by a marshmallow schema."""

    def __init__(self, route: str = "/", *, methods: Any = ("POST",), schema: Any = None,
                 allow: str = "signed_in", app_check: bool = False, idempotency_ttl_hours: float = 24,
                 cors: Any = "*") -> None:
        self.route = normalise_route(route)
        self.methods = normalise_methods(methods)
        self.schema = schema_instance(schema)
        self.access = normalise_access(allow)
        self.app_check = bool(app_check)
        self.idempotency_ttl_hours = normalise_ttl_hours(idempotency_ttl_hours)
        self.cors_origins = normalise_origins(cors)
        self.model = None
        self.triggers = Triggers(self, (EventKind.REQUEST,))

    def describe(self) -> str:
        return f"https:{'|'.join(self.methods)} {self.route}"

    def spec_fields(self) -> dict[str, Any]:
        return {"document": "", "route": self.route, "methods": self.methods, "access": self.access,
                "source_model": schema_ref(self.schema)}

    def check(self, options: TriggerOptions, where: str) -> None:
        refuse_event_options(options, where)

    def load(self, data: Any) -> Any:
        """What the handler's `request.data` holds for the request's JSON (RequestError(400) if unfit)."""
        return load_with(self.schema, data)


class CallableSource:
    """Calls in the Firebase callable protocol: `{"data": ...}` in, `{"result": ...}` or `{"error": ...}` out."""

    def __init__(self, *, schema: Any = None, allow: str = "signed_in", app_check: bool = False,
                 idempotency_key: str = "idempotencyKey", idempotency_ttl_hours: float = 24,
                 cors: Any = "*") -> None:
        self.schema = schema_instance(schema)
        self.access = normalise_access(allow)
        self.app_check = bool(app_check)
        if not isinstance(idempotency_key, str) or not idempotency_key:
            raise ValueError(f"idempotency_key={idempotency_key!r}: name the field of the call's data that "
                             "holds the key, e.g. 'idempotencyKey'")
        self.idempotency_key = idempotency_key
        self.idempotency_ttl_hours = normalise_ttl_hours(idempotency_ttl_hours)
        self.cors_origins = normalise_origins(cors)
        self.model = None
        self.triggers = Triggers(self, (EventKind.CALL,))

    def describe(self) -> str:
        return "callable"

    def spec_fields(self) -> dict[str, Any]:
        return {"document": "", "access": self.access, "source_model": schema_ref(self.schema)}

    def check(self, options: TriggerOptions, where: str) -> None:
        refuse_event_options(options, where)

    def load(self, data: Any) -> Any:
        """What the handler's `request.data` holds for the request's JSON (RequestError(400) if unfit)."""
        return load_with(self.schema, data)
