"""Plain data that describes one deployable trigger.

A `TriggerSpec` is the seam between the code a user writes (mediators) and
everything that packages or runs it (bundles, deploy plans, the local host).
It holds no live objects: only strings, numbers and enums, so it can be
printed, hashed, compared with deployed state and written to a manifest.
"""

from __future__ import annotations

import enum
import keyword
import re
from dataclasses import dataclass, field, replace

EVENT_TYPE_PREFIX = "google.cloud.firestore.document.v1."
AUTH_CONTEXT_SUFFIX = ".withAuthContext"


class EventKind(str, enum.Enum):
    """Which document changes fire a trigger (onto's `on_*` vocabulary)."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    WRITTEN = "written"

    @property
    def event_type(self) -> str:
        """The Eventarc event type, as production and the emulator name it."""
        return EVENT_TYPE_PREFIX + self.value

    @property
    def trigger_name(self) -> str:
        """The decorator a user writes for this kind: `on_create` and so on."""
        return TRIGGER_NAMES[self]

    @classmethod
    def from_event_type(cls, event_type: str) -> "EventKind":
        """Accept `...document.v1.written` (optionally `.withAuthContext`)."""
        stem = event_type.removesuffix(AUTH_CONTEXT_SUFFIX)
        if not stem.startswith(EVENT_TYPE_PREFIX):
            raise ValueError(
                f"unsupported event type {event_type!r}: expected one starting with "
                f"{EVENT_TYPE_PREFIX!r}"
            )
        try:
            return cls(stem[len(EVENT_TYPE_PREFIX):])
        except ValueError:
            raise ValueError(
                f"unsupported event type {event_type!r}: expected one of "
                + ", ".join(EVENT_TYPE_PREFIX + k.value for k in cls)
            ) from None

    def fires_for(self, kind: "EventKind") -> bool:
        """True where an event of `kind` (created/updated/deleted) matches this trigger."""
        return self is EventKind.WRITTEN or self is kind


TRIGGER_NAMES = {
    EventKind.CREATED: "on_create",
    EventKind.UPDATED: "on_update",
    EventKind.DELETED: "on_delete",
    EventKind.WRITTEN: "on_write",
}


class Mode(str, enum.Enum):
    """Whether a trigger keeps a ledger.

    EXACTLY_ONCE is onto's "Query+Task" mode: the handler's writes and the
    event's ledger mark commit in one atomic commit, so a redelivered event
    changes nothing. AT_LEAST_ONCE commits the handler's writes the same way
    but keeps no ledger: only for handlers whose writes are idempotent by
    construction.
    """

    EXACTLY_ONCE = "exactly_once"
    AT_LEAST_ONCE = "at_least_once"


class Semantics(str, enum.Enum):
    """Which events of one document a trigger applies (in EXACTLY_ONCE mode).

    EVERY_EVENT applies each event's effect exactly once, in whatever order the
    events arrive: right for handlers that apply deltas (counters, audit logs,
    notifications) and for handlers that rebuild a view from what they read
    through the store (Query+Task). LATEST_STATE skips ("supersedes") an event
    older than one already applied for the same document: right for handlers
    that copy the event's own payload into a view, which a late event would
    otherwise regress, and cheaper under bursts of edits.
    """

    EVERY_EVENT = "every_event"
    LATEST_STATE = "latest_state"


@dataclass(frozen=True)
class TriggerOptions:
    """Deployment and delivery options of one trigger.

    Defaults favour correctness: retries on (the platform redelivers a failed
    event; the ledger makes redelivery harmless) and exactly-once mode.
    """

    region: str = "us-central1"
    memory_mb: int = 256
    timeout_seconds: int = 60
    max_instances: int | None = None
    min_instances: int = 0
    concurrency: int | None = None
    # The platform redelivers a failed event (Eventarc: for up to 24 h).
    retry: bool = True
    mode: Mode = Mode.EXACTLY_ONCE
    semantics: Semantics = Semantics.EVERY_EVENT
    # Deliveries of one event that may fail before it is dead-lettered.
    max_deliveries: int = 5
    # An event older than this is dead-lettered instead of applied. Under Eventarc's 24 h of
    # retries, so that an event whose deliveries never finish (timeouts, crashes: nothing is
    # counted) is dead-lettered by one of the last redeliveries instead of dropped unseen.
    max_event_age_seconds: int = 23 * 3600
    # How long ledger marks, watermarks and failure counts are kept (the TTL field's offset).
    ledger_ttl_days: int = 7
    # How long dead letters are kept; None: until someone replays or discards them.
    dead_letter_ttl_days: int | None = None
    database: str = "(default)"
    namespace: str = "(default)"
    # Deliver who made the change (`change.auth`): the `.withAuthContext` event types.
    auth_context: bool = False

    def __post_init__(self) -> None:
        if self.max_deliveries < 1:
            raise ValueError(f"max_deliveries must be at least 1, got {self.max_deliveries}")
        if not 1 <= self.timeout_seconds <= 540:
            raise ValueError(
                f"timeout_seconds must be between 1 and 540 for an event trigger, "
                f"got {self.timeout_seconds}"
            )
        if self.memory_mb < 128:
            raise ValueError(f"memory_mb must be at least 128, got {self.memory_mb}")
        if self.ledger_ttl_days < 1 or self.max_event_age_seconds >= self.ledger_ttl_days * 86400:
            raise ValueError(
                f"ledger_ttl_days ({self.ledger_ttl_days}) must outlast max_event_age_seconds "
                f"({self.max_event_age_seconds}): a mark that expires while redeliveries may still "
                "come lets one apply the event again"
            )
        if self.dead_letter_ttl_days is not None and self.dead_letter_ttl_days < self.ledger_ttl_days:
            raise ValueError(
                f"dead_letter_ttl_days ({self.dead_letter_ttl_days}) must be at least ledger_ttl_days "
                f"({self.ledger_ttl_days}): a dead letter must outlive the marks it stands beside"
            )
        # Enums may arrive as plain strings from a config file or a Meta class.
        object.__setattr__(self, "mode", _enum(Mode, self.mode, "mode"))
        object.__setattr__(self, "semantics", _enum(Semantics, self.semantics, "semantics"))

    def with_(self, **changes: object) -> "TriggerOptions":
        return replace(self, **changes)


def _enum(kind: type[enum.Enum], value: object, option: str) -> enum.Enum:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)  # type: ignore[attr-defined]
        raise ValueError(f"{option} must be one of {choices}, got {value!r}") from None


FUNCTION_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")


@dataclass(frozen=True)
class TriggerSpec:
    """One (mediator, handler, event kind): one deployed function."""

    name: str  # the function id: lowercase letters, digits, hyphens
    kind: EventKind
    document: str  # the path pattern, e.g. "tickets/{ticket_id}"
    module: str  # the module that defines the mediator
    mediator: str  # the mediator's qualified name in that module
    handler: str  # the handler method's name
    source_model: str | None = None  # "module:QualName", or None for a raw path
    sink: str | None = None  # a description of what the trigger writes
    options: TriggerOptions = field(default_factory=TriggerOptions)
    # The options the mediator set (Meta or decorator); a project default never overrides them.
    explicit_options: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not FUNCTION_NAME_RE.match(self.name):
            raise ValueError(
                f"function name {self.name!r} is not valid: use 2 to 63 lowercase "
                "letters, digits and hyphens, starting with a letter and not "
                "ending with a hyphen"
            )

    @property
    def event_type(self) -> str:
        suffix = AUTH_CONTEXT_SUFFIX if self.options.auth_context else ""
        return self.kind.event_type + suffix

    @property
    def entry_point(self) -> str:
        """The Python name a bundle's main.py exposes: the name with '-' → '_', never a keyword.

        The one place this name is made: the bundle, its manifest, the gcloud
        flags and the local workers all read it from here.
        """
        name = self.name.replace("-", "_")
        return f"{name}_fn" if keyword.iskeyword(name) or keyword.issoftkeyword(name) else name

    @property
    def mediator_ref(self) -> str:
        return f"{self.module}:{self.mediator}"

    @property
    def mode(self) -> Mode:
        return self.options.mode

    @property
    def semantics(self) -> Semantics:
        return self.options.semantics
