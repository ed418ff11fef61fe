"""onto-functions: reactive Firestore back ends as exactly-once Cloud Functions.

The public names, nothing else. What a deployed function imports starts
here, so keep this module free of CLI, bundling and emulator code.
"""

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
