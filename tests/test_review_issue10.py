"""Adversarial review of issue 10, the parts that need no emulator (the rest: emulator_tests/test_review_issue10.py)."""

from __future__ import annotations

import math

import pytest

from onto_functions.request_wire import encode_result
from onto_functions.routes import Route


@pytest.mark.parametrize("value", [math.nan, math.inf, {"a": [-math.inf]}])
def test_a_result_json_cannot_hold_is_refused_not_answered_as_invalid_json(value):
    with pytest.raises(ValueError):
        encode_result(value)


@pytest.mark.parametrize("path", ["/rooms/a%2Fb", "/rooms/a%2fb", "/rooms/..", "/rooms/%2E", "/rooms/%2e%2e"])
def test_a_route_parameter_is_one_document_id_at_most(path):
    assert Route("/rooms/{room_id}").match(path) is None


def test_an_encoded_parameter_is_still_decoded():
    assert Route("/rooms/{room_id}").match("/rooms/caf%C3%A9%20x") == {"room_id": "café x"}
