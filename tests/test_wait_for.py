"""wait_for: the one way tests and the local stack wait (no fixed sleeps)."""

from __future__ import annotations

import time

import pytest

from onto_functions.local.polling import wait_for


def test_returns_the_first_truthy_value() -> None:
    assert wait_for(lambda: {"id": 1}) == {"id": 1}


def test_polls_until_truthy() -> None:
    calls = []

    def third_time() -> str | None:
        calls.append(1)
        return "done" if len(calls) >= 3 else None

    assert wait_for(third_time, timeout=5, interval=0.001) == "done"
    assert len(calls) == 3


def test_times_out_with_message_and_last_value() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError) as err:
        wait_for(lambda: [], timeout=0.1, interval=0.01, message="no deliveries")
    elapsed = time.monotonic() - started
    assert "no deliveries" in str(err.value)
    assert "last value: []" in str(err.value)
    assert 0.1 <= elapsed < 2


def test_zero_timeout_still_checks_once() -> None:
    assert wait_for(lambda: 7, timeout=0) == 7
    calls = []
    with pytest.raises(AssertionError):
        wait_for(lambda: calls.append(1), timeout=0)
    assert calls == [1]


def test_checks_once_more_at_the_deadline() -> None:
    deadline = time.monotonic() + 0.05
    # Becomes true only after the deadline; a long interval means the only call after it is the last one.
    assert wait_for(lambda: time.monotonic() >= deadline, timeout=0.05, interval=10) is True


def test_predicate_errors_propagate() -> None:
    with pytest.raises(ZeroDivisionError):
        wait_for(lambda: 1 / 0)


@pytest.mark.parametrize("kwargs", [{"timeout": -1}, {"interval": 0}])
def test_rejects_bad_arguments(kwargs) -> None:
    with pytest.raises(ValueError):
        wait_for(lambda: True, **kwargs)
