"""Document path patterns as Eventarc defines them for Firestore triggers.

The first cases are the Functions SDK's own path-pattern cases (its
tests/test_path_pattern.py), restated for document paths; the rest are
Firestore's rules (even segments, at most one multi-segment wildcard).
"""

from __future__ import annotations

import pytest

from onto_functions import Mediator, sink, source
from onto_functions.executor import Executor
from onto_functions.paths import PathError, PathTemplate
from onto_functions.testing.builders import document_event

SDK_CASES = [
    ("/messages/{a}/{b}/{c}", "messages/match_a/match_b/match_c", {"a": "match_a", "b": "match_b", "c": "match_c"}),
    ("messages/{a}/{b}/{c}", "messages/match_a/match_b/match_c", {"a": "match_a", "b": "match_b", "c": "match_c"}),
    ("{a}/something/else/{b}/end/{c}", "match_a/something/else/match_b/end/match_c",
     {"a": "match_a", "b": "match_b", "c": "match_c"}),
    ("something/**/else/{a}/hello/{b}/world", "something/is/a/thing/else/nothing/hello/user/world",
     {"a": "nothing", "b": "user"}),
    ("something/{path=**}/else/{a}/hello/{b}/world", "something/is/a/thing/else/nothing/hello/user/world",
     {"path": "is/a/thing", "a": "nothing", "b": "user"}),
    ("{a}/something/{b}/**/end", "match_a/something/match_b/thing/else/nothing/hello/user/end",
     {"a": "match_a", "b": "match_b"}),
    ("{a}/something/{b}/{path=**}/end", "match_a/something/match_b/thing/else/nothing/hello/user/end",
     {"a": "match_a", "b": "match_b", "path": "thing/else/nothing/hello/user"}),
    ("{a}/something/**/{b}/end", "match_a/something/thing/else/nothing/hello/user/match_b/end",
     {"a": "match_a", "b": "match_b"}),
    ("{a}/something/{path=**}/{b}/end", "match_a/something/thing/else/nothing/hello/user/match_b/end",
     {"a": "match_a", "b": "match_b", "path": "thing/else/nothing/hello/user"}),
    ("users/{a}", "users/match_a", {"a": "match_a"}),
    ("users/{a=*}", "users/match_a", {"a": "match_a"}),
]


@pytest.mark.parametrize("pattern,path,params", SDK_CASES)
def test_the_functions_sdk_cases(pattern, path, params):
    assert PathTemplate(pattern).match(path) == params


@pytest.mark.parametrize("pattern,path,params", [
    ("users/{uid}/{rest=**}", "users/u1/orders/o1", {"uid": "u1", "rest": "orders/o1"}),
    ("users/{uid}/{rest=**}", "users/u1/orders/o1/items/i1", {"uid": "u1", "rest": "orders/o1/items/i1"}),
    ("users/{user=**}", "users/u1", {"user": "u1"}),
    ("users/{user=**}", "users/u1/address/home", {"user": "u1/address/home"}),
    ("logs/*", "logs/l1", {}),
    ("rooms/*/messages/{mid}", "rooms/r1/messages/m9", {"mid": "m9"}),
    ("users/marie", "users/marie", {}),
])
def test_firestore_patterns_match_and_bind(pattern, path, params):
    assert PathTemplate(pattern).match(path) == params


@pytest.mark.parametrize("pattern,path", [
    ("users/{uid}", "users/u1/orders/o1"),  # a single-segment wildcard does not reach subcollections
    ("users/marie", "users/bob"),
    ("rooms/*/messages/{mid}", "rooms/r1/notes/n1"),
    ("users/{uid}/{rest=**}/end", "users/u1"),
])
def test_what_does_not_match(pattern, path):
    assert PathTemplate(pattern).match(path) is None


@pytest.mark.parametrize("pattern,words", [
    ("users/{uid}/addresses", "even number"),  # a collection, not a document
    ("users/{a=**}/x/{b=**}", "at most one"),
    ("users/u-{uid}", "whole segment"),
    ("users/{uid}/x/{uid}", "repeats"),
    ("users//x", "empty segment"),
    ("users/__id__", "not a valid Firestore id"),
    ("users/{a=***}", "whole segment"),
])
def test_patterns_the_platform_refuses_are_refused_with_the_rule(pattern, words):
    with pytest.raises(PathError, match=words):
        PathTemplate(pattern)


def test_wildcards_are_matched_never_filled():
    assert PathTemplate("users/{uid}/s/{sid}").format(uid="u", sid="s") == "users/u/s/s"
    for pattern in ("users/{rest=**}", "users/*"):
        with pytest.raises(PathError, match="cannot use"):
            PathTemplate(pattern).format(rest="a")
    assert PathTemplate("users/{uid}").has_wildcards and not PathTemplate("users/marie").has_wildcards


def test_onto_bookkeeping_is_no_source_or_view():
    with pytest.raises(PathError, match="reserved"):
        PathTemplate("_onto_ledger/{id}")


def test_a_top_level_wildcard_trigger_ignores_onto_bookkeeping():
    class Everything(Mediator):
        source = source.document("{collection}/{doc_id}")
        sink = sink.firestore()

        @source.triggers.on_write
        def run(self, change, store):
            raise AssertionError("never reached")

    executor = Executor(Everything.trigger_spec("everything-run"), Everything(), client_for=lambda p, d: None)
    outcome = executor.process(document_event("demo-p", "_onto_ledger/x~y", after={"a": 1}))
    assert outcome.status == "ignored" and "bookkeeping" in outcome.detail
