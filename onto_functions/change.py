"""What a handler receives: the event, with its snapshots decoded into the source's model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Mapping, TypeVar

from .events import DocumentEvent
from .spec import EventKind

T = TypeVar("T")


@dataclass(frozen=True)
class Change(Generic[T]):
    event: DocumentEvent
    before: T | None
    after: T | None

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
    def current(self) -> T | None:
        """The newest state the event knows: `after`, or `before` for a delete."""
        return self.after if self.after is not None else self.before

    def __getattr__(self, name: str) -> Any:
        # Fail with the names that exist rather than a bare AttributeError.
        raise AttributeError(
            f"Change has no attribute {name!r}; use event, before, after, current, kind, params, document"
        )
