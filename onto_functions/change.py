"""What a handler receives: the event, with its snapshots decoded into the source's model on demand.

Why on demand: a model changes over time. When a required field is added,
the `before` of every later update of an older document no longer fits, yet
most handlers never read `before`. Decoding a side only when the handler
asks for it lets those events through; a handler that does read a side that
does not fit gets `UnfitSnapshot`, which the executor dead-letters at once
(the event's data will never change, so a redelivery cannot help).
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Mapping, TypeVar

from .events import DocumentEvent, Snapshot
from .models import SchemaError
from .spec import EventKind

T = TypeVar("T")

Decode = Callable[[str, Mapping[str, Any]], Any]
_UNSET: Any = object()


class UnfitSnapshot(SchemaError):
    """The event's `before` or `after` does not fit the source model."""

    def __init__(self, side: str, error: SchemaError) -> None:
        self.path, self.model, self.errors = error.path, error.model, error.errors
        ValueError.__init__(self, f"the event's {side}: {error}")


class AuthContext:
    """Who made the change, as Firestore reports it to a trigger declared with `auth_context=True`.

    `type` is one of "unauthenticated", "api_key", "system", "service_account",
    "unknown" or "firebase_auth" (a signed-in end user); `id` is that
    principal's id (the user's uid for firebase_auth), possibly empty.
    """

    __slots__ = ("type", "id")

    def __init__(self, type: str, id: str) -> None:
        self.type = type
        self.id = id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuthContext) and (self.type, self.id) == (other.type, other.id)

    def __repr__(self) -> str:
        return f"AuthContext(type={self.type!r}, id={self.id!r})"


class Change(Generic[T]):
    __slots__ = ("event", "_decode", "_before", "_after")

    def __init__(self, event: DocumentEvent, decode: Decode | None = None) -> None:
        self.event = event
        self._decode = decode
        self._before: Any = _UNSET
        self._after: Any = _UNSET

    @property
    def before(self) -> T | None:
        if self._before is _UNSET:
            self._before = self._side("before", self.event.before)
        return self._before

    @property
    def after(self) -> T | None:
        if self._after is _UNSET:
            self._after = self._side("after", self.event.after)
        return self._after

    def _side(self, label: str, snapshot: Snapshot | None) -> Any:
        if snapshot is None:
            return None
        if self._decode is None:
            return dict(snapshot.data)
        try:
            return self._decode(self.event.document, snapshot.data)
        except SchemaError as exc:
            raise UnfitSnapshot(label, exc) from exc

    @property
    def kind(self) -> EventKind:
        return self.event.kind

    @property
    def params(self) -> Mapping[str, str]:
        return self.event.params

    @property
    def document(self) -> str:
        return self.event.document

    @property
    def auth(self) -> AuthContext | None:
        """The writer's identity, for events of a `.withAuthContext` type; None otherwise."""
        auth = self.event.auth
        return None if auth is None else AuthContext(auth.get("authtype", "unknown"), auth.get("authid", ""))

    @property
    def current(self) -> T | None:
        """The newest state the event knows: `after`, or `before` for a delete."""
        return self.after if self.event.after is not None else self.before

    def __getattr__(self, name: str) -> Any:
        # Fail with the names that exist rather than a bare AttributeError.
        raise AttributeError(
            f"Change has no attribute {name!r}; use event, before, after, current, kind, params, document, auth"
        )
