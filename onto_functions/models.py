"""Domain models and view models: typed Firestore documents.

A model is plain data with a marshmallow schema built from its declared
fields. It knows where it lives (a collection, or a path template for a
view) and how to turn itself into document data and back. Reading and
writing go through a `Store` (see store.py), in a handler and in a test
alike: one persistence API, and models stay free of Firestore I/O.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Mapping, TypeVar

from marshmallow import INCLUDE, Schema, ValidationError, missing
from marshmallow.fields import Field

from .paths import PathTemplate
from .values import DocRef

M = TypeVar("M", bound="Model")


class SchemaError(ValueError):
    """Document data that does not fit its model: names the document and each bad field."""

    def __init__(self, path: str, model: str, errors: Mapping[str, Any]) -> None:
        self.path = path
        self.model = model
        self.errors = dict(errors)
        details = "; ".join(f"field {k!r}: {_flatten(v)}" for k, v in sorted(self.errors.items()))
        super().__init__(f"document {path!r} does not fit {model}: {details}")


def _flatten(messages: Any) -> str:
    if isinstance(messages, Mapping):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in messages.items())
    if isinstance(messages, (list, tuple)):
        return " ".join(_flatten(m) for m in messages)
    return str(messages)


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class Model:
    """Base of DomainModel and ViewModel: declared fields, schema, (de)serialisation.

    Fields are declared as class attributes holding marshmallow fields. Keys in
    Firestore are camelCase by default (`Meta.case = "snake"` keeps the names
    as written; a field's own `data_key` always wins). Keys a document has that
    the model does not declare are kept and written back, so a model never
    drops data another writer put there.
    """

    _fields: ClassVar[dict[str, Field]] = {}
    _schema: ClassVar[Schema]

    class Meta:
        case = "camel"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            declared.update(getattr(base, "_fields", {}))
        for name, value in list(vars(cls).items()):
            if isinstance(value, Field):
                declared[name] = value
                delattr(cls, name)  # instances hold values, not field objects
        case = getattr(cls.Meta, "case", "camel")
        for name, f in declared.items():
            if f.data_key is None and case == "camel":
                f.data_key = camel_case(name)
        cls._fields = declared
        cls._schema = Schema.from_dict(dict(declared), name=f"{cls.__name__}Schema")(unknown=INCLUDE)

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self._fields)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no field {', '.join(sorted(map(repr, unknown)))}; "
                f"its fields are {', '.join(sorted(self._fields)) or 'none'}"
            )
        for name, f in self._fields.items():
            if name in values:
                value = values[name]
            else:
                default = f.load_default
                value = default() if callable(default) else default
                if value is missing:
                    value = None
            setattr(self, name, value)
        self._extra: dict[str, Any] = {}

    # -- data ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Field values by attribute name (what a test or a log wants to see)."""
        return {name: getattr(self, name) for name in self._fields}

    def to_document(self) -> dict[str, Any]:
        """Document data by Firestore key, validated against the schema."""
        values = self.to_dict()
        try:
            data = self._schema.dump(values)
        except (ValidationError, TypeError, ValueError) as exc:
            raise SchemaError(self._describe_path(), type(self).__name__, _messages(exc)) from exc
        errors = self._schema.validate(data)
        if errors:
            raise SchemaError(self._describe_path(), type(self).__name__, _attr_names(self, errors))
        out = dict(self._extra)
        out.update(data)
        return out

    @classmethod
    def _from_data(cls: type[M], data: Mapping[str, Any], path: str) -> M:
        try:
            loaded = cls._schema.load(dict(data))
        except ValidationError as exc:
            raise SchemaError(path, cls.__name__, exc.normalized_messages()) from exc
        obj = cls.__new__(cls)
        Model.__init__(obj, **{k: v for k, v in loaded.items() if k in cls._fields})
        obj._extra = {k: v for k, v in data.items() if k not in _data_keys(cls)}
        return obj

    def _describe_path(self) -> str:
        return "<unsaved>"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({body})"


def _messages(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, ValidationError):
        return exc.normalized_messages()
    return {"_": [str(exc)]}


def _data_keys(cls: type[Model]) -> set[str]:
    return {f.data_key or name for name, f in cls._fields.items()}


def _attr_names(obj: Model, errors: Mapping[str, Any]) -> dict[str, Any]:
    """Map schema errors (by data key) back to the attribute names a user wrote."""
    by_key = {(f.data_key or name): name for name, f in obj._fields.items()}
    return {by_key.get(k, k): v for k, v in errors.items()}


class DomainModel(Model):
    """A document in a collection (`Meta.collection`), identified by `doc_id`.

    Its trigger pattern is `<collection>/{<snake name>_id}`, e.g. Ticket in
    "tickets" fires on `tickets/{ticket_id}`.
    """

    class Meta:
        collection: str = ""
        case = "camel"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collection = getattr(cls.Meta, "collection", "")
        if collection and collection.count("/") % 2:
            raise ValueError(
                f"{cls.__name__}.Meta.collection {collection!r} is a document path; "
                "name a collection (an odd number of segments)"
            )

    def __init__(self, doc_id: str | None = None, **values: Any) -> None:
        super().__init__(**values)
        self.doc_id = doc_id

    @classmethod
    def collection(cls) -> str:
        collection = getattr(cls.Meta, "collection", "")
        if not collection:
            raise TypeError(f"{cls.__name__} has no Meta.collection")
        return collection

    @classmethod
    def id_param(cls) -> str:
        return f"{snake_case(cls.__name__)}_id"

    @classmethod
    def path_template(cls) -> PathTemplate:
        return PathTemplate(f"{cls.collection()}/{{{cls.id_param()}}}")

    @classmethod
    def path_for(cls, doc_id: str | DocRef) -> str:
        if isinstance(doc_id, DocRef):
            return doc_id.path
        return f"{cls.collection()}/{doc_id}"

    @property
    def path(self) -> str:
        if not self.doc_id:
            raise ValueError(f"this {type(self).__name__} has no doc_id yet")
        return self.path_for(self.doc_id)

    @property
    def ref(self) -> DocRef:
        return DocRef(self.path)

    def _describe_path(self) -> str:
        return self.path if self.doc_id else f"{self.collection()}/<new>"

    @classmethod
    def from_document(cls: type[M], path: str, data: Mapping[str, Any]) -> M:
        obj = cls._from_data(data, path)
        obj.doc_id = path.rsplit("/", 1)[-1]  # type: ignore[attr-defined]
        return obj

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and getattr(other, "doc_id", None) == self.doc_id

    def __repr__(self) -> str:
        return super().__repr__().replace("(", f"(doc_id={self.doc_id!r}, ", 1)


class ViewModel(Model):
    """A document computed by a mediator at `Meta.path`, a template such as
    `users/{user_id}/meetingSessions/{meeting_id}`.

    Template params that are not fields are given to the constructor and kept
    in `path_params`; a param that is also a field takes the field's value.

    `Meta.readable_by` names the path parameter holding the uid of the one
    signed-in user who may read the view (`onto rules` turns it into
    `request.auth.uid == user_id`); without it no client may read it. No
    client ever writes a view.
    """

    class Meta:
        path: str = ""
        case = "camel"
        readable_by: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        path = getattr(cls.Meta, "path", "")
        if path:
            PathTemplate(path).require_template(f"{cls.__name__}.Meta.path")  # an error at import time
        reader = cls.reader_param()
        if reader is not None and (not path or reader not in PathTemplate(path).params):
            raise ValueError(
                f"{cls.__name__}.Meta.readable_by = {reader!r} is not a parameter of its path "
                f"{path!r}: name the parameter that holds the reader's uid"
            )

    @classmethod
    def reader_param(cls) -> str | None:
        """The path parameter naming the user who may read this view (Meta.readable_by), or None."""
        return getattr(cls.Meta, "readable_by", None)

    def __init__(self, **values: Any) -> None:
        params = self.path_template().params if getattr(self.Meta, "path", "") else []
        self.path_params = {p: str(values.pop(p)) for p in params if p in values and p not in self._fields}
        super().__init__(**values)

    @classmethod
    def path_template(cls) -> PathTemplate:
        path = getattr(cls.Meta, "path", "")
        if not path:
            raise TypeError(f"{cls.__name__} has no Meta.path")
        return PathTemplate(path)

    def path_with(self, **params: str) -> str:
        merged = dict(self.path_params)
        for p in self.path_template().params:
            if p in self._fields and getattr(self, p) is not None:
                merged[p] = getattr(self, p)
        merged.update({k: str(v) for k, v in params.items()})
        return self.path_template().format(**merged)

    @property
    def path(self) -> str:
        return self.path_with()

    def _describe_path(self) -> str:
        try:
            return self.path
        except ValueError:
            return self.path_template().text

    @classmethod
    def from_document(cls: type[M], path: str, data: Mapping[str, Any]) -> M:
        obj = cls._from_data(data, path)
        params = cls.path_template().match(path) or {}  # type: ignore[attr-defined]
        obj.path_params = {k: v for k, v in params.items() if k not in cls._fields}  # type: ignore[attr-defined]
        return obj
