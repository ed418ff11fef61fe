"""Fault injection for the local function host: off by default, seeded, repeatable per event.

Four faults, each with its own probability:

- duplicate: after an event was delivered successfully, deliver it again
  (as production's at-least-once delivery may).
- reorder: hold an event back for a while, so later events overtake it.
- fail: the worker committed and answered 2xx, and the host reports a
  failure anyway, so the event is redelivered and the ledger must absorb it.
- restart: after a delivery, the instance that answered it is killed
  (SIGKILL), as production replaces instances at any time: what it had in
  memory is gone, deliveries in flight on it are cut off (and retried), and
  the next delivery there cold-starts a new process.

Decisions are a pure function of (seed, fault, event id, attempt), not of a
shared random stream: with many dispatcher threads, a stream would hand out
its numbers in a different order on every run. So the same seed and the same
events give the same faults whatever the thread timing. Without a seed, a
random one is drawn (and reported, so a run can be repeated).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass


_FAULTS = ("duplicate", "reorder", "fail", "restart")


@dataclass(frozen=True)
class FaultPlan:
    """Probabilities in [0, 1]; `hold_back` is the (min, max) delay of a reordered event, in seconds."""

    duplicate: float = 0.0
    reorder: float = 0.0
    fail: float = 0.0
    restart: float = 0.0
    seed: int | None = None
    hold_back: tuple[float, float] = (0.05, 0.5)

    def __post_init__(self) -> None:
        for name in _FAULTS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name} is a probability between 0 and 1, got {value!r}")
        low, high = self.hold_back
        if not 0 <= low <= high:
            raise ValueError(f"hold_back must be (min, max) with 0 <= min <= max, got {self.hold_back!r}")
        if self.seed is None:
            object.__setattr__(self, "seed", random.SystemRandom().randrange(2**31))

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in _FAULTS)

    def describe(self) -> str:
        if not self.active:
            return "no faults"
        return ", ".join(f"{name} {getattr(self, name):g}" for name in _FAULTS) + f" (seed {self.seed})"


class Faults:
    """Answers "inject this fault now?" for one event delivery."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan()

    def _draw(self, fault: str, event_key: str, attempt: int = 0) -> float:
        """A number in [0, 1) fixed by (seed, fault, event, attempt)."""
        digest = hashlib.sha256(f"{self.plan.seed}\0{fault}\0{event_key}\0{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def duplicate(self, event_key: str) -> bool:
        """Deliver this (successfully delivered) event once more?"""
        return self.plan.duplicate > 0 and self._draw("duplicate", event_key) < self.plan.duplicate

    def hold_back(self, event_key: str) -> float:
        """Seconds to hold a newly accepted event back (0: deliver as soon as a slot is free)."""
        if self.plan.reorder <= 0 or self._draw("reorder", event_key) >= self.plan.reorder:
            return 0.0
        low, high = self.plan.hold_back
        return low + (high - low) * self._draw("reorder-delay", event_key)

    def fail(self, event_key: str, attempt: int) -> bool:
        """Report this committed delivery as failed? Drawn anew for every attempt."""
        return self.plan.fail > 0 and self._draw("fail", event_key, attempt) < self.plan.fail

    def restart(self, event_key: str, attempt: int) -> bool:
        """Kill the instance that just answered this delivery? Drawn anew for every attempt."""
        return self.plan.restart > 0 and self._draw("restart", event_key, attempt) < self.plan.restart
