"""Test helpers for code that reacts to Firestore events; the pytest fixtures live in `.plugin`.

Events arrive asynchronously (the emulator delivers on its own thread, usually
within ~10 ms), so tests wait by polling with a deadline, never with fixed sleeps.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition not met",
) -> T:
    """Poll `predicate` until it returns something truthy, and return that value.

    Returning the value lets a test wait for and use a result in one step
    (`doc = wait_for(lambda: ref.get() if ref.get().exists else None)`).
    The predicate is always called once more at the deadline, so a slow
    predicate still gets a fair last try. Exceptions from it propagate.
    Raises AssertionError (a test failure, not an error) with `message` and the
    last value seen.
    """
    if timeout < 0 or interval <= 0:
        raise ValueError(f"need timeout >= 0 and interval > 0, got {timeout=}, {interval=}")
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{message} (waited {timeout:g} s; last value: {value!r})")
        time.sleep(min(interval, remaining))
