"""Reading the user's own Firestore rules file: what to include verbatim, and what it grants where.

`onto rules` merges the user's rules (domain collections are theirs) with the
blocks it generates (views, onto's bookkeeping). Firestore OR-s every `allow`
that matches a request, so a generated "no client may write this view" means
nothing if a user rule grants it: the merge must know which paths each user
`allow` covers. This module finds out, without a full grammar: comments and
strings are blanked first (same length, so positions and line numbers still
point into the file as written), then `match <path> {` blocks are walked with
their braces, and `allow ...;` statements are read at each level.

Two forms are accepted: a whole rules file (`service cloud.firestore {
match /databases/{database}/documents { ... } }`) or only what goes inside
the documents match (match blocks and functions). A `rules_version` line is
dropped: the generated file declares version 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SERVICE = "cloud.firestore"
_MATCH_RE = re.compile(r"\bmatch\s+(/(?:[^\s{}]|\{[^{}]*\})*)\s*\{")
# An `allow` ends at its `;`, or without one (Firestore accepts `allow read, write: if true }`) where
# its block closes, the next `allow` starts or the level's text ends (a nested match, the block's end).
_ALLOW_WORD = r"(?<![\w.])allow\b"
_ALLOW_RE = re.compile(rf"{_ALLOW_WORD}\s*([^:;{{}}]*?)\s*(?::((?:(?!{_ALLOW_WORD})[^;}}])*))?"
                       rf"(?:;|(?=\}})|(?={_ALLOW_WORD})|\Z)")
_SERVICE_RE = re.compile(r"\bservice\s+([\w.]+)\s*\{")
_VERSION_RE = re.compile(r"\brules_version[ \t]*=[ \t]*(['\"])[^'\"\n]*\1[ \t]*;?")


class RulesSyntaxError(ValueError):
    """A user rules file onto cannot read; the message names the file and line."""


@dataclass(frozen=True)
class Grant:
    """One user `allow` that may grant something: where it applies and what it says."""

    path: tuple[str, ...]  # segments of its match path, nested matches joined ("users", "{uid}")
    statement: str  # the statement as written, on one line
    line: int

    @property
    def match_path(self) -> str:
        return "/" + "/".join(self.path)


@dataclass(frozen=True)
class UserRules:
    """The user's rules: the text to include, where it goes, and every `allow` that grants something."""

    text: str  # verbatim, minus any rules_version line
    whole_file: bool  # True: `text` is a service block's inside; False: it goes inside the documents match
    grants: tuple[Grant, ...]


def read_user_rules(text: str, source: str) -> UserRules:
    """Parse `text` (the file `source`); RulesSyntaxError when its braces or service do not add up."""
    text = _drop_version(text)
    blank = blank_comments_and_strings(text)
    service = _SERVICE_RE.search(blank)
    if service is None:
        documents = re.search(r"\bmatch\s+/databases/", blank)
        if documents is not None:
            raise RulesSyntaxError(f"{source} line {_line(blank, documents.start())}: match /databases/... outside "
                                   f"`service {SERVICE} {{ ... }}`: write a whole rules file, or only the blocks "
                                   "that go inside match /databases/{database}/documents")
        grants = _grants(blank, text, 0, len(blank), (), source)
        return UserRules(text, False, tuple(grants))
    if service.group(1) != SERVICE:
        raise RulesSyntaxError(f"{source} line {_line(blank, service.start())}: service {service.group(1)!r} "
                               f"is not Firestore's; onto merges only `service {SERVICE}` rules")
    close = closing_brace(blank, service.end() - 1, source)
    outside = (blank[:service.start()] + blank[close + 1:]).strip()
    if outside:
        raise RulesSyntaxError(f"{source}: text outside `service {SERVICE} {{ ... }}`: {outside[:60]!r}")
    inner = text[service.end():close]
    grants = _grants(blank, text, service.end(), close, (), source)
    return UserRules(inner, True, tuple(grants))


def blank_comments_and_strings(text: str) -> str:
    """`text` with comments and string literals replaced by spaces (newlines kept)."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif text[i] in "'\"":
            end = _string_end(text, i)
        else:
            i += 1
            continue
        for k in range(i, end):
            if out[k] != "\n":
                out[k] = " "
        i = end
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    quote, i = text[start], start + 1
    while i < len(text) and text[i] not in (quote, "\n"):
        i += 2 if text[i] == "\\" else 1
    return min(i + 1, len(text))


def closing_brace(blank: str, opening: int, source: str) -> int:
    """Index of the `}` closing the `{` at `opening` (in blanked text)."""
    depth = 0
    for i in range(opening, len(blank)):
        if blank[i] == "{":
            depth += 1
        elif blank[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise RulesSyntaxError(f"{source} line {_line(blank, opening)}: this '{{' is never closed")


def _grants(blank: str, text: str, start: int, end: int, prefix: tuple[str, ...], source: str) -> list[Grant]:
    """Every granting `allow` between `start` and `end`, nested matches included, with full paths."""
    found: list[Grant] = []
    pos = start
    while True:
        match = _MATCH_RE.search(blank, pos, end)
        level_end = match.start() if match else end
        found += _allows(blank, text, pos, level_end, prefix)
        if match is None:
            break
        close = closing_brace(blank, match.end() - 1, source)
        if close >= end:
            raise RulesSyntaxError(f"{source} line {_line(blank, match.start())}: this match block is never closed")
        path = prefix + tuple(s for s in match.group(1).split("/") if s)
        found += _grants(blank, text, match.end(), close, path, source)
        pos = close + 1
    stray = blank.find("}", pos, end)
    if stray >= 0:
        raise RulesSyntaxError(f"{source} line {_line(blank, stray)}: a '}}' closes nothing")
    return found


def _allows(blank: str, text: str, start: int, end: int, path: tuple[str, ...]) -> list[Grant]:
    grants = []
    for allow in _ALLOW_RE.finditer(blank, start, end):
        condition = text[allow.start(2):allow.end(2)] if allow.group(2) is not None else ""
        if grants_nothing(condition):
            continue
        statement = " ".join(text[allow.start():allow.end()].split())
        grants.append(Grant(path, statement, _line(blank, allow.start())))
    return grants


def grants_nothing(condition: str) -> bool:
    """True for a condition that is literally `false` (`if false`); any other may grant."""
    words = condition.split()
    return words in (["if", "false"], ["false"])


def _drop_version(text: str) -> str:
    blank = blank_comments_and_strings(text)
    found = re.search(r"\brules_version\b", blank)
    if found is None:
        return text
    version = _VERSION_RE.match(text, found.start())
    if version is None:
        return text
    return text[:version.start()] + text[version.end():]


def _line(blank: str, pos: int) -> int:
    return blank.count("\n", 0, pos) + 1
