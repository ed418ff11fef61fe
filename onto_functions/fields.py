"""Field types for models: marshmallow's, plus the two Firestore needs natively.

marshmallow's own `DateTime` dumps to an ISO string; Firestore stores real
timestamps and a front end wants to sort on them, so `Timestamp` keeps the
datetime. `Ref` holds a reference to another model's document.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from marshmallow.fields import *  # noqa: F401,F403  (the public field vocabulary)
from marshmallow.fields import Field

from .values import DocRef


class Timestamp(Field):
    """A tz-aware datetime stored as a Firestore timestamp (naive input is taken as UTC)."""

    default_error_messages = {"invalid": "Not a valid timestamp."}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return self._coerce(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return self._coerce(value)

    def _coerce(self, value: Any) -> _dt.datetime:
        if isinstance(value, str):
            try:
                value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise self.make_error("invalid") from None
        if not isinstance(value, _dt.datetime):
            raise self.make_error("invalid")
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


class Ref(Field):
    """A reference to a document of `model` (stored as a Firestore reference).

    In Python the value is a `DocRef`; a model instance or a path string is
    accepted when assigning. A path outside the model's collection is refused,
    so a reference cannot silently point at the wrong kind of document.
    """

    default_error_messages = {
        "invalid": "Not a document reference.",
        "wrong_collection": "Reference {path!r} is not a document of {expected!r}.",
    }

    def __init__(self, model: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model

    def _to_ref(self, value: Any) -> DocRef:
        if isinstance(value, DocRef):
            ref = value
        elif isinstance(value, str) and value.count("/") % 2 == 1:
            ref = DocRef(value.strip("/"))
        elif hasattr(value, "ref") and isinstance(getattr(value, "ref"), DocRef):
            ref = value.ref
        else:
            raise self.make_error("invalid")
        collection = getattr(getattr(self.model, "Meta", None), "collection", None)
        if collection and ref.path.rsplit("/", 1)[0] != collection:
            raise self.make_error("wrong_collection", path=ref.path, expected=collection)
        return ref

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else self._to_ref(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return self._to_ref(value)
