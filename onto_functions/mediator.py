"""Mediators: onto's source → handler → sink, declared on a class.

    class MeetingSessionMediator(Mediator):
        source = source.domain_model(Ticket)
        sink = sink.firestore(MeetingSession)

        @source.triggers.on_write
        def refresh(self, change, store): ...

Each (handler, trigger) pair becomes one `TriggerSpec` when the class is
created, and the specs live on the class (`Mediator.trigger_specs()`), never
in a global registry. A misspelt trigger (`on_wirte`) is an AttributeError at
import time, with the right names in the message.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

from .models import DomainModel, ViewModel, snake_case
from .paths import PathTemplate
from .spec import TRIGGER_NAMES, EventKind, TriggerOptions, TriggerSpec

_OPTION_NAMES = set(TriggerOptions.__dataclass_fields__)


@dataclass(frozen=True)
class TriggerDecl:
    """What a trigger decorator recorded on a handler function."""

    source: "Source"
    kind: EventKind
    name: str | None
    options: Mapping[str, Any]


class Triggers:
    """The `on_create` / `on_update` / `on_delete` / `on_write` decorators of one source."""

    def __init__(self, source: "Source") -> None:
        self._source = source

    def _decorator(self, kind: EventKind) -> Callable[..., Any]:
        def trigger(fn: Callable | None = None, *, name: str | None = None, **options: Any) -> Any:
            unknown = set(options) - _OPTION_NAMES
            if unknown:
                raise TypeError(
                    f"{kind.trigger_name}: unknown option(s) {', '.join(sorted(unknown))}; "
                    f"known: {', '.join(sorted(_OPTION_NAMES))}"
                )

            def register(handler: Callable) -> Callable:
                decls = list(getattr(handler, "__onto_triggers__", ()))
                if any(d.kind is kind and d.source is self._source for d in decls):
                    raise TypeError(f"{handler.__qualname__} has {kind.trigger_name} twice")
                decls.append(TriggerDecl(self._source, kind, name, dict(options)))
                handler.__onto_triggers__ = decls  # type: ignore[attr-defined]
                return handler

            return register(fn) if fn is not None else register

        trigger.__name__ = kind.trigger_name
        return trigger

    on_create = property(lambda self: self._decorator(EventKind.CREATED), doc="Fire when a document is created.")
    on_update = property(lambda self: self._decorator(EventKind.UPDATED), doc="Fire when a document changes.")
    on_delete = property(lambda self: self._decorator(EventKind.DELETED), doc="Fire when a document is deleted.")
    on_write = property(lambda self: self._decorator(EventKind.WRITTEN), doc="Fire on create, update and delete.")

    def __getattr__(self, name: str) -> Any:
        known = list(TRIGGER_NAMES.values())
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise AttributeError(f"no trigger named {name!r}; triggers are {', '.join(known)}.{hint}")


class Source:
    """Where events come from: a document path pattern, optionally typed by a model."""

    def __init__(self, pattern: str, model: type[DomainModel] | None = None) -> None:
        self.pattern = PathTemplate(pattern)
        self.model = model
        self.triggers = Triggers(self)

    def describe(self) -> str:
        return f"{self.model.__module__}:{self.model.__qualname__}" if self.model else self.pattern.text

    def decode(self, path: str, data: Mapping[str, Any] | None) -> Any:
        """The model (or the raw dict for an untyped source) for one snapshot."""
        if data is None:
            return None
        return self.model.from_document(path, data) if self.model else dict(data)


class _SourceFactory:
    @staticmethod
    def domain_model(model: type[DomainModel]) -> Source:
        """Fire on documents of `model`'s collection: `<collection>/{<model>_id}`."""
        return Source(model.path_template().text, model)

    @staticmethod
    def document(pattern: str, model: type[DomainModel] | None = None) -> Source:
        """Fire on documents matching a raw pattern such as `users/{uid}/tickets/{tid}`."""
        return Source(pattern, model)


source = _SourceFactory()


class FirestoreSink:
    """Writes view documents. Inside a handler, writes join the event's unit of work and commit with its ledger mark."""

    def __init__(self, view: type[ViewModel] | None = None) -> None:
        self.view = view

    def describe(self) -> str:
        return f"firestore:{self.view.path_template().text}" if self.view else "firestore"

    def emit(self, store: Any, view: ViewModel, **params: Any) -> str:
        """Write `view` (its whole document) at its path; returns that path."""
        if self.view is not None and not isinstance(view, self.view):
            raise TypeError(f"this sink writes {self.view.__name__}, got {type(view).__name__}")
        path = view.path_with(**params)
        store.write(path, view.to_document())
        return path

    def remove(self, store: Any, **params: Any) -> str:
        """Delete the view document at the template filled with `params`."""
        if self.view is None:
            raise TypeError("remove() needs a sink declared with a view model")
        path = self.view.path_template().format(**{k: str(v) for k, v in params.items()})
        store.remove(path)
        return path


class _SinkFactory:
    @staticmethod
    def firestore(view: type[ViewModel] | None = None) -> FirestoreSink:
        return FirestoreSink(view)


sink = _SinkFactory()


def kebab_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", snake_case(name).lower()).strip("-")


class Mediator:
    """Connects a source to a sink through trigger handlers.

    Options for every trigger of the class go in `class Meta` (any field of
    `TriggerOptions`); a decorator's keyword arguments override them for one
    trigger. Instances are stateless: one is made per process and reused.
    """

    source: ClassVar[Source | None] = None
    sink: ClassVar[Any] = None
    _trigger_specs: ClassVar[tuple[TriggerSpec, ...]] = ()
    _handlers: ClassVar[dict[str, tuple[str, Source]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        base_options = _meta_options(cls)
        specs: list[TriggerSpec] = []
        handlers: dict[str, tuple[str, Source]] = {}
        for attr, fn in vars(cls).items():
            decls = getattr(fn, "__onto_triggers__", None)
            if not decls:
                continue
            order = list(EventKind)
            for decl in sorted(decls, key=lambda d: order.index(d.kind)):
                name = decl.name or _default_name(cls, attr, decl.kind, len(decls))
                if name in handlers:
                    raise TypeError(f"{cls.__qualname__}: two triggers are named {name!r}")
                options = TriggerOptions(**{**base_options, **decl.options})
                specs.append(
                    TriggerSpec(
                        name=name,
                        kind=decl.kind,
                        document=decl.source.pattern.text,
                        module=cls.__module__,
                        mediator=cls.__qualname__,
                        handler=attr,
                        source_model=decl.source.describe() if decl.source.model else None,
                        sink=cls.sink.describe() if hasattr(cls.sink, "describe") else None,
                        options=options,
                        explicit_options=frozenset({**base_options, **decl.options}),
                    )
                )
                handlers[name] = (attr, decl.source)
        cls._trigger_specs = tuple(specs)
        cls._handlers = handlers

    @classmethod
    def trigger_specs(cls) -> tuple[TriggerSpec, ...]:
        return cls._trigger_specs

    @classmethod
    def trigger_spec(cls, name: str) -> TriggerSpec:
        for spec in cls._trigger_specs:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in cls._trigger_specs) or "none"
        raise KeyError(f"{cls.__qualname__} has no trigger named {name!r}; it has {known}")

    @classmethod
    def handler_for(cls, name: str) -> tuple[str, Source]:
        return cls._handlers[name]


def _meta_options(cls: type) -> dict[str, Any]:
    meta = getattr(cls, "Meta", None)
    if meta is None:
        return {}
    options = {k: v for k, v in vars(meta).items() if not k.startswith("_")}
    unknown = set(options) - _OPTION_NAMES
    if unknown:
        raise TypeError(
            f"{cls.__qualname__}.Meta: unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_OPTION_NAMES))}"
        )
    return options


def _default_name(cls: type, attr: str, kind: EventKind, n_triggers: int) -> str:
    stem = kebab_case(cls.__name__.removesuffix("Mediator") or cls.__name__)
    name = f"{stem}-{kebab_case(attr)}"
    if n_triggers > 1:
        name += f"-{kind.value}"
    return name[:63].rstrip("-")
