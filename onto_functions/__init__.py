"""onto-functions: reactive Firestore back ends as exactly-once Cloud Functions.

The public names, nothing else. What a deployed function imports starts
here, so keep this module free of CLI, bundling and emulator code.

The names load on first use (PEP 562): `onto list` and `onto bundle` read
specs from their cache without models, marshmallow or the Firestore client,
and `from onto_functions import Mediator` loads what it needs, as before.
"""

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "fields": "fields",
    "Caller": "client_request",
    "Change": "change",
    "DocRef": "values",
    "DocumentEvent": "events",
    "DomainModel": "models",
    "EventKind": "spec",
    "Mediator": "mediator",
    "Message": "messages",
    "MessageEvent": "stream_events",
    "Mode": "spec",
    "Request": "client_request",
    "RequestError": "request_errors",
    "SchemaError": "models",
    "Semantics": "spec",
    "Snapshot": "events",
    "Store": "store",
    "Tick": "messages",
    "TickEvent": "stream_events",
    "TriggerOptions": "spec",
    "TriggerSpec": "spec",
    "UnfitMessage": "messages",
    "ViewModel": "models",
    "discover": "discovery",
    "sink": "mediator",
    "source": "mediator",
}

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads each name
    from . import fields
    from .change import Change
    from .client_request import Caller, Request
    from .discovery import discover
    from .events import DocumentEvent, Snapshot
    from .mediator import Mediator, sink, source
    from .messages import Message, Tick, UnfitMessage
    from .models import DomainModel, SchemaError, ViewModel
    from .request_errors import RequestError
    from .spec import EventKind, Mode, Semantics, TriggerOptions, TriggerSpec
    from .store import Store
    from .stream_events import MessageEvent, TickEvent
    from .values import DocRef


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'onto_functions' has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{home}")
    value = module if name == home else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
    "Caller",
    "Change",
    "DocRef",
    "DocumentEvent",
    "DomainModel",
    "EventKind",
    "Mediator",
    "Message",
    "MessageEvent",
    "Mode",
    "Request",
    "RequestError",
    "SchemaError",
    "Semantics",
    "Snapshot",
    "Store",
    "Tick",
    "TickEvent",
    "TriggerOptions",
    "TriggerSpec",
    "UnfitMessage",
    "ViewModel",
    "discover",
    "fields",
    "sink",
    "source",
]
