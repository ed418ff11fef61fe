"""onto-functions: reactive Firestore back ends as exactly-once Cloud Functions.

The public names, nothing else. What a deployed function imports starts
here, so keep this module free of CLI, bundling and emulator code.
"""

from . import fields
from .change import Change
from .discovery import discover
from .events import DocumentEvent, Snapshot
from .mediator import Mediator, sink, source
from .models import DomainModel, SchemaError, ViewModel
from .spec import EventKind, Mode, Semantics, TriggerOptions, TriggerSpec
from .store import Store
from .values import DocRef

__all__ = [
    "Change",
    "DocRef",
    "DocumentEvent",
    "DomainModel",
    "EventKind",
    "Mediator",
    "Mode",
    "SchemaError",
    "Semantics",
    "Snapshot",
    "Store",
    "TriggerOptions",
    "TriggerSpec",
    "ViewModel",
    "discover",
    "fields",
    "sink",
    "source",
]
