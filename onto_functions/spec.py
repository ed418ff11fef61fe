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

from .secrets import check_setting_names

EVENT_TYPE_PREFIX = "google.cloud.firestore.document.v1."
AUTH_CONTEXT_SUFFIX = ".withAuthContext"
PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
# Cloud Scheduler calls an HTTP function: no Eventarc type exists, so onto names it.
SCHEDULE_EVENT_TYPE = "onto.schedule.v1.tick"
# A client's request reaches an HTTPS or callable function directly: no Eventarc type either.
REQUEST_EVENT_TYPE = "onto.https.v1.request"
CALL_EVENT_TYPE = "onto.callable.v1.call"


class EventKind(str, enum.Enum):
    """What fires a trigger (onto's `on_*` vocabulary): a document change, a message, a scheduled time, a client's request."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    WRITTEN = "written"
    MESSAGE = "message"  # a Pub/Sub message published on a topic
    TICK = "tick"  # a scheduled time came
    REQUEST = "request"  # an HTTPS request from a client (a route, methods, a JSON body)
    CALL = "call"  # a call in the Firebase callable protocol (`httpsCallable` in the client SDKs)

    @property
    def event_type(self) -> str:
        """The Eventarc event type, as production and the emulator name it."""
        if self is EventKind.MESSAGE:
            return PUBSUB_EVENT_TYPE
        if self is EventKind.TICK:
            return SCHEDULE_EVENT_TYPE
        if self is EventKind.REQUEST:
            return REQUEST_EVENT_TYPE
        if self is EventKind.CALL:
            return CALL_EVENT_TYPE
        return EVENT_TYPE_PREFIX + self.value

    @property
    def is_document(self) -> bool:
        """True for the Firestore document kinds (created, updated, deleted, written)."""
        return self in DOCUMENT_KINDS

    @property
    def is_request(self) -> bool:
        """True for the client-facing kinds (an HTTPS request, a callable call): served, not delivered."""
        return self in (EventKind.REQUEST, EventKind.CALL)

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
        kind = next((k for k in DOCUMENT_KINDS if k.value == stem[len(EVENT_TYPE_PREFIX):]), None)
        if kind is None:
            raise ValueError(
                f"unsupported event type {event_type!r}: expected one of "
                + ", ".join(EVENT_TYPE_PREFIX + k.value for k in DOCUMENT_KINDS)
            )
        return kind

    def fires_for(self, kind: "EventKind") -> bool:
        """True where an event of `kind` (created/updated/deleted) matches this trigger."""
        return self is EventKind.WRITTEN or self is kind


DOCUMENT_KINDS = (EventKind.CREATED, EventKind.UPDATED, EventKind.DELETED, EventKind.WRITTEN)

TRIGGER_NAMES = {
    EventKind.CREATED: "on_create",
    EventKind.UPDATED: "on_update",
    EventKind.DELETED: "on_delete",
    EventKind.WRITTEN: "on_write",
    EventKind.MESSAGE: "on_message",
    EventKind.TICK: "on_schedule",
    EventKind.REQUEST: "on_request",
    EventKind.CALL: "on_call",
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
    # Environment variable names the handler reads with `secret()` (Secret Manager) and `param()` (plain values).
    secrets: tuple[str, ...] = ()
    params: tuple[str, ...] = ()

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
        object.__setattr__(self, "secrets", check_setting_names(self.secrets, "secrets"))
        object.__setattr__(self, "params", check_setting_names(self.params, "params"))
        both = sorted(set(self.secrets) & set(self.params))
        if both:
            raise ValueError(f"{', '.join(both)} declared both as a secret and as a param")

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
    document: str  # the path pattern, e.g. "tickets/{ticket_id}"; "" for a message or schedule trigger
    module: str  # the module that defines the mediator
    mediator: str  # the mediator's qualified name in that module
    handler: str  # the handler method's name
    source_model: str | None = None  # "module:QualName", or None for a raw path
    sink: str | None = None  # a description of what the trigger writes
    options: TriggerOptions = field(default_factory=TriggerOptions)
    # The options the mediator set (Meta or decorator); a project default never overrides them.
    explicit_options: frozenset[str] = frozenset()
    topic: str | None = None  # a message trigger's Pub/Sub topic id
    schedule: str | None = None  # a schedule trigger's "every 5 minutes" or unix-cron text
    timezone: str | None = None  # the schedule's IANA time zone (None: UTC)
    route: str | None = None  # a request trigger's path template below the function's URL, e.g. "/meetings/{meeting_id}"
    methods: tuple[str, ...] = ()  # a request trigger's HTTP methods, upper case
    access: str | None = None  # who may call a request or callable trigger: "anyone", "signed_in", "claim:<name>[=<value>]"

    def __post_init__(self) -> None:
        if not FUNCTION_NAME_RE.match(self.name):
            raise ValueError(
                f"function name {self.name!r} is not valid: use 2 to 63 lowercase "
                "letters, digits and hyphens, starting with a letter and not "
                "ending with a hyphen"
            )

    @property
    def source_text(self) -> str:
        """What fires it, in one line: the document pattern, `topic:<id>` or `schedule:<text>`."""
        if self.kind is EventKind.MESSAGE:
            return f"topic:{self.topic}"
        if self.kind is EventKind.TICK:
            return f"schedule:{self.schedule}" + (f" ({self.timezone})" if self.timezone else "")
        if self.kind is EventKind.REQUEST:
            return f"https:{'|'.join(self.methods)} {self.route}"
        if self.kind is EventKind.CALL:
            return "callable"
        return self.document

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
