"""What one delivery of an event came to, and whether the platform should redeliver it.

Eventarc retries every non-2xx answer (with retries on, for up to 24 h) and
never retries a 2xx, so each outcome is decided with that in mind: an
outcome is *acknowledged* (2xx) when redelivering could not change it, and
not acknowledged (non-2xx) when a later delivery may still apply the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

APPLIED = "applied"  # the handler's writes and the ledger mark committed
DUPLICATE = "duplicate"  # the ledger already holds this event: nothing written
SUPERSEDED = "superseded"  # latest-state semantics: a newer event of the document was applied
IGNORED = "ignored"  # the event does not concern this trigger (another path or kind)
DEAD_LETTERED = "dead_lettered"  # given up on, recorded with its reason
REFUSED = "refused"  # a request that can never be an event of this function, recorded
FAILED = "failed"  # the handler failed; counted; redeliver
CONTENDED = "contended"  # lost every commit race within the bounds; redeliver, not counted

NOT_ACKNOWLEDGED = frozenset({FAILED, CONTENDED})
ALL = (APPLIED, DUPLICATE, SUPERSEDED, IGNORED, DEAD_LETTERED, REFUSED, FAILED, CONTENDED)


@dataclass(frozen=True)
class Outcome:
    """One delivery's result.

    `commit_attempts` counts this delivery's runs of the handler (more than
    one under contention); `failed_deliveries` counts, across every delivery
    of the event, those whose handler failed (what `max_deliveries` bounds).
    """

    status: str
    trigger: str
    event_id: str
    commit_attempts: int = 0
    failed_deliveries: int = 0
    detail: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.status not in NOT_ACKNOWLEDGED

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.status,
            "trigger": self.trigger,
            "eventId": self.event_id,
            "commitAttempts": self.commit_attempts,
            "failedDeliveries": self.failed_deliveries,
            "detail": self.detail,
        }
