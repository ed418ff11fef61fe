"""JSON from outside, parsed within bounds, so that a hostile body is refused, never a crash.

`json.loads` alone trusts its input in ways an HTTP function cannot afford:

- nesting: it recurses once per level, so `[[[[...` 100,000 deep raises
  RecursionError, and a structure a few hundred deep still recurses in every
  `str()` or `json.dumps` of it later. The depth is measured first, without
  recursion, and bounded by MAX_DEPTH;
- numbers: it reads `NaN` and `Infinity`, which are not JSON, turns `1e400`
  into infinity, and hands an integer of any length to `int()` (quadratic on
  Python 3.10; 3.11 refuses 4,300 digits with its own error). All refused here;
- text: it decodes lone UTF-16 surrogates (`"\\ud800"`, or surrogate bytes
  given as bytes) into strings that are not valid UTF-8, which Firestore
  strings, ids and names must be. Refused here too.

Only the standard library: this is on a deployed function's cold-start path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 100
"""Nesting of a JSON body, at most. The deepest event Firestore can send (a field
holding 20 nested maps or arrays, in a structured or legacy envelope) nests 66."""

MAX_INTEGER_DIGITS = 4300  # Python 3.11's own limit for int(str), applied on 3.10 too

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')  # once escapes are gone, a string holds no quote
_ALL_BUT_BRACKETS_AND_QUOTES = bytes(c for c in range(256) if c not in b'[]{}"')
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class JSONRefused(ValueError):
    """A body that is not JSON, or JSON beyond the bounds above."""


def loads_object(body: bytes, what: str) -> dict[str, Any]:
    """The JSON object in `body`, or JSONRefused naming `what` was expected and why not."""
    if not body.strip():
        raise JSONRefused(f"empty body: expected a {what} JSON object")
    parsed = loads_value(body, what)
    if not isinstance(parsed, dict):
        raise JSONRefused(f"body is JSON {type(parsed).__name__}, expected a {what} object")
    return parsed


def loads_value(body: bytes, what: str) -> Any:
    """The JSON value in `body` (a client's request body, an event), or JSONRefused naming `what` and why not."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JSONRefused(f"body is not UTF-8 JSON ({what}): {exc}") from None
    if nests_deeper_than(body, MAX_DEPTH):
        raise JSONRefused(f"body's JSON nests deeper than {MAX_DEPTH} levels ({what}): no Firestore value can")
    try:
        parsed = json.loads(
            text, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float
        )
    except ValueError as exc:
        raise JSONRefused(f"body is not valid JSON ({what}): {exc}") from None
    if _SURROGATE_ESCAPE.search(text) and not _valid_unicode(parsed):
        raise JSONRefused(
            f"body's JSON has a lone UTF-16 surrogate escape ({what}): its text is not valid UTF-8"
        )
    return parsed


def nests_deeper_than(body: bytes, limit: int) -> bool:
    """Whether the JSON text's brackets nest more than `limit` deep (strings ignored).

    No recursion and no per-character Python loop: escapes are cut out, then
    everything but brackets and quotes (one C pass), then strings (which are
    mostly `""` by then); each pass of the loop removes the innermost bracket
    pairs, one level a pass. Unmatched opening brackets count as levels (a
    parser would descend into them too). About 10 us for a 3 KB event.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    marks = body.translate(None, _ALL_BUT_BRACKETS_AND_QUOTES).replace(b'""', b"")
    if b'"' in marks:  # strings holding brackets
        marks = _STRING.sub(b"", marks)
    brackets = marks.translate(_AS_PARENS, b'"')
    for level in range(limit + 1):
        inner = brackets.replace(b"()", b"")
        if inner == brackets:  # what is left never closes: ")))(((" at most
            return level + brackets.count(b"(") > limit
        brackets = inner
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (proto3 JSON writes the string \"{name}\")")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits is longer than {MAX_INTEGER_DIGITS}")
    return int(text)


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (math.inf, -math.inf):
        raise ValueError(f"the number {text[:40]} is out of the range of a double")
    return number


def _valid_unicode(parsed: Any) -> bool:
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
