"""Waiting for something that happens on another thread or process: poll with a deadline.

Events arrive asynchronously (the emulator delivers on its own thread, the
host on its dispatcher's, a worker in its own process), so whoever waits for
their effect (`onto demo`, tests, benchmarks) polls with a deadline, never
with a fixed sleep. It lives here, below the testing helpers, because the
local stack waits too; `onto_functions.testing` re-exports it.
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

    Returning the value lets a caller wait for and use a result in one step
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
