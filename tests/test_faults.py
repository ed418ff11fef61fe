"""Fault injection: off by default, rates as asked, the same decisions for the same seed and events."""

from __future__ import annotations

import pytest

from onto_functions.local.faults import FaultPlan, Faults

KEYS = [f"trigger/event-{i}" for i in range(4000)]


def test_off_by_default():
    faults = Faults()
    assert not faults.plan.active
    assert not any(faults.duplicate(k) or faults.fail(k, 1) or faults.hold_back(k) or faults.restart(k, 1)
                   for k in KEYS[:200])


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_rates_are_close_to_the_probabilities(rate):
    faults = Faults(FaultPlan(duplicate=rate, reorder=rate, fail=rate, restart=rate, seed=1))
    n = len(KEYS)
    for hits in (sum(faults.duplicate(k) for k in KEYS), sum(faults.hold_back(k) > 0 for k in KEYS),
                 sum(faults.fail(k, 1) for k in KEYS), sum(faults.restart(k, 1) for k in KEYS)):
        assert abs(hits / n - rate) < 0.03


def test_same_seed_same_decisions_whatever_the_call_order():
    a = Faults(FaultPlan(duplicate=0.3, reorder=0.2, fail=0.1, restart=0.1, seed=7))
    b = Faults(FaultPlan(duplicate=0.3, reorder=0.2, fail=0.1, restart=0.1, seed=7))
    forward = [(a.duplicate(k), a.hold_back(k), a.fail(k, 2), a.restart(k, 2)) for k in KEYS[:500]]
    backward = [(b.duplicate(k), b.hold_back(k), b.fail(k, 2), b.restart(k, 2)) for k in reversed(KEYS[:500])][::-1]
    assert forward == backward


def test_another_seed_gives_other_decisions():
    a = Faults(FaultPlan(duplicate=0.5, seed=1))
    b = Faults(FaultPlan(duplicate=0.5, seed=2))
    assert [a.duplicate(k) for k in KEYS[:200]] != [b.duplicate(k) for k in KEYS[:200]]


def test_failures_and_restarts_are_drawn_anew_for_each_attempt():
    faults = Faults(FaultPlan(fail=0.5, restart=0.5, seed=3))
    assert any(faults.fail(k, 1) != faults.fail(k, 2) for k in KEYS[:50])
    assert any(faults.restart(k, 1) != faults.restart(k, 2) for k in KEYS[:50])


def test_restart_and_fail_are_independent_draws():
    faults = Faults(FaultPlan(fail=0.5, restart=0.5, seed=5))
    assert [faults.fail(k, 1) for k in KEYS[:200]] != [faults.restart(k, 1) for k in KEYS[:200]]


def test_hold_back_stays_within_its_bounds():
    faults = Faults(FaultPlan(reorder=1.0, seed=4, hold_back=(0.1, 0.2)))
    delays = [faults.hold_back(k) for k in KEYS[:300]]
    assert all(0.1 <= d <= 0.2 for d in delays)


def test_a_missing_seed_is_drawn_and_reported():
    plan = FaultPlan(fail=0.1, restart=0.05)
    assert isinstance(plan.seed, int)
    assert f"seed {plan.seed}" in plan.describe() and "restart 0.05" in plan.describe()


@pytest.mark.parametrize("kwargs", [{"duplicate": -0.1}, {"reorder": 1.5}, {"fail": "x"}, {"restart": 2},
                                    {"hold_back": (0.5, 0.1)}])
def test_bad_values_are_refused_with_the_option_name(kwargs):
    with pytest.raises(ValueError):
        FaultPlan(**kwargs)
