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

import re
from typing import Any, Callable, ClassVar, Mapping, Union

from .change import Change
from .events import DocumentEvent
from .models import DomainModel, ViewModel, snake_case
from .names import RESERVED_PREFIX
from .paths import PathTemplate
from .spec import DOCUMENT_KINDS, EventKind, TriggerOptions, TriggerSpec
from .request_sources import CallableSource, HttpsSource
from .stream_sources import MessageSource, ScheduleSource
from .triggers import OPTION_NAMES as _OPTION_NAMES
from .triggers import TriggerDecl, Triggers

__all__ = ["FirestoreSink", "Mediator", "Source", "TriggerDecl", "Triggers", "sink", "source"]


class Source:
    """Where events come from: a document path pattern, optionally typed by a model."""

    def __init__(self, pattern: str, model: type[DomainModel] | None = None) -> None:
        self.pattern = PathTemplate(pattern)
        self.model = model
        self.triggers = Triggers(self, DOCUMENT_KINDS)

    def describe(self) -> str:
        return f"{self.model.__module__}:{self.model.__qualname__}" if self.model else self.pattern.text

    def spec_fields(self) -> dict[str, Any]:
        """What a TriggerSpec records of this source."""
        return {"document": self.pattern.text, "source_model": self.describe() if self.model else None}

    def check(self, options: TriggerOptions, where: str) -> None:
        """Refuse options this source cannot honour (every option suits a document source)."""

    def bind(self, event: Any, kind: EventKind) -> tuple[Any, str]:
        """(the event with its path parameters, "") when it is this trigger's, else (None, why not)."""
        if not isinstance(event, DocumentEvent):
            return None, f"a {type(event).__name__} on a document trigger"
        if event.document.startswith(RESERVED_PREFIX):  # a top-level wildcard matches bookkeeping too
            return None, f"{event.document!r} is onto's own bookkeeping"
        params = self.pattern.match(event.document)
        if params is None:
            return None, f"{event.document!r} does not match {self.pattern.text!r}"
        if not kind.fires_for(event.kind):
            return None, f"{event.kind.value} event on a {kind.trigger_name} trigger"
        return event.bind(params), ""

    def argument(self, event: DocumentEvent) -> Change:
        """What the handler receives for one event."""
        return Change(event, self.decode if self.model is not None else None)

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

    @staticmethod
    def pubsub(topic: str, schema: Any = None) -> MessageSource:
        """Fire on each message published on a Pub/Sub topic; `schema` (marshmallow) loads its JSON data."""
        return MessageSource(topic, schema)

    @staticmethod
    def schedule(schedule: str, *, timezone: str | None = None) -> ScheduleSource:
        """Fire on a schedule: "every 5 minutes" or unix-cron, in an IANA time zone (UTC by default)."""
        return ScheduleSource(schedule, timezone)

    @staticmethod
    def https(route: str = "/", *, methods: Any = ("POST",), schema: Any = None, allow: str = "signed_in",
              app_check: bool = False, idempotency_ttl_hours: float = 24, cors: Any = "*") -> HttpsSource:
        """Serve HTTPS requests to `route` ("/meetings/{meeting_id}"), the JSON body loaded by `schema`;
        `allow`: "anyone", "signed_in" (a verified Firebase ID token) or "claim:<name>[=<value>]";
        `app_check`: require an App Check token; an `Idempotency-Key` header makes a request exactly-once,
        its answer kept `idempotency_ttl_hours`; `cors`: the browser origins admitted ("*", a list, None)."""
        return HttpsSource(route, methods=methods, schema=schema, allow=allow, app_check=app_check,
                           idempotency_ttl_hours=idempotency_ttl_hours, cors=cors)

    @staticmethod
    def callable(*, schema: Any = None, allow: str = "signed_in", app_check: bool = False,
                 idempotency_key: str = "idempotencyKey", idempotency_ttl_hours: float = 24,
                 cors: Any = "*") -> CallableSource:
        """Serve calls from the client SDKs' `httpsCallable(name)`; `schema` loads the call's data;
        the data's `idempotency_key` field makes a call exactly-once (see `https` for the rest)."""
        return CallableSource(schema=schema, allow=allow, app_check=app_check, idempotency_key=idempotency_key,
                              idempotency_ttl_hours=idempotency_ttl_hours, cors=cors)


source = _SourceFactory()
AnySource = Union[Source, MessageSource, ScheduleSource, HttpsSource, CallableSource]


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

    source: ClassVar[AnySource | None] = None
    sink: ClassVar[Any] = None
    _trigger_specs: ClassVar[tuple[TriggerSpec, ...]] = ()
    _handlers: ClassVar[dict[str, tuple[str, AnySource]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        base_options = _meta_options(cls)
        specs: list[TriggerSpec] = []
        handlers: dict[str, tuple[str, AnySource]] = {}
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
                decl.source.check(options, f"{cls.__qualname__}.{attr}")
                specs.append(
                    TriggerSpec(
                        name=name,
                        kind=decl.kind,
                        module=cls.__module__,
                        mediator=cls.__qualname__,
                        handler=attr,
                        sink=cls.sink.describe() if hasattr(cls.sink, "describe") else None,
                        options=options,
                        explicit_options=frozenset({**base_options, **decl.options}),
                        **decl.source.spec_fields(),
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
    def handler_for(cls, name: str) -> tuple[str, AnySource]:
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
