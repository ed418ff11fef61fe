"""Document path patterns: `users/{uid}/tickets/{tid}`, `users/{uid}/{rest=**}`, `logs/*`.

One type serves two jobs. A trigger's source pattern is matched against an
event's document path and binds its captures to `change.params`, with the
wildcards Eventarc defines for Firestore triggers:

    {name} or {name=*}   one segment, captured        *    one segment
    {name=**}            zero or more segments, captured (joined with '/')
    **                   zero or more segments

at most one multi-segment wildcard per pattern, as Firestore allows. A view's
path is a *template*: every segment a literal or a `{name}`, and `format()`
fills it to get the document to write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from .names import RESERVED_PREFIX

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CAPTURE_RE = re.compile(rf"^\{{({_NAME})(?:=(\*\*?))?\}}$")


class PathError(ValueError):
    """A path, pattern or template that Firestore would not accept as a document path."""


@dataclass(frozen=True)
class Segment:
    """One segment of a pattern: a literal, or a wildcard that may capture."""

    text: str
    name: str | None = None  # the capture's name, if any
    multi: bool = False  # matches zero or more segments
    wildcard: bool = False

    @classmethod
    def parse(cls, text: str, pattern: str) -> "Segment":
        if text in ("*", "**"):
            return cls(text, None, multi=text == "**", wildcard=True)
        capture = _CAPTURE_RE.match(text)
        if capture:
            return cls(text, capture.group(1), multi=capture.group(2) == "**", wildcard=True)
        if any(c in text for c in "{}*"):
            raise PathError(
                f"segment {text!r} of {pattern!r}: a wildcard must be a whole segment: "
                "{name}, {name=*}, {name=**}, * or **"
            )
        if text in (".", "..") or (text.startswith("__") and text.endswith("__")):
            raise PathError(f"segment {text!r} of {pattern!r} is not a valid Firestore id")
        return cls(text)


@dataclass(frozen=True)
class PathTemplate:
    text: str

    def __post_init__(self) -> None:
        segments = self.segments
        if not self.text or any(s.text == "" for s in segments):
            raise PathError(f"document path pattern {self.text!r} has an empty segment")
        multi = [s for s in segments if s.multi]
        if len(multi) > 1:
            raise PathError(f"document path pattern {self.text!r} has {len(multi)} multi-segment "
                            "wildcards; Firestore allows at most one")
        if not multi and len(segments) % 2:
            raise PathError(
                f"document path pattern {self.text!r} has {len(segments)} segments: a document path "
                "alternates collection/document and has an even number"
            )
        if segments[0].text.startswith(RESERVED_PREFIX):
            raise PathError(f"document path pattern {self.text!r}: top-level collections starting with "
                            f"{RESERVED_PREFIX!r} are reserved for onto's bookkeeping")
        names = self.params
        if len(names) != len(set(names)):
            raise PathError(f"document path pattern {self.text!r} repeats a parameter")

    @cached_property
    def segments(self) -> list[Segment]:
        parts = self.text.strip("/").split("/") if self.text else []
        return [Segment.parse(p, self.text) for p in parts]

    @property
    def params(self) -> list[str]:
        return [s.name for s in self.segments if s.name]

    @property
    def has_wildcards(self) -> bool:
        """False for the path of one fixed document (Eventarc's EXACT match, not a path pattern)."""
        return any(s.wildcard for s in self.segments)

    def match(self, path: str) -> dict[str, str] | None:
        """The captures of `path` if it fits this pattern, else None."""
        parts = path.strip("/").split("/")
        segments = self.segments
        multi = next((i for i, s in enumerate(segments) if s.multi), None)
        if multi is None:
            return _match_fixed(segments, parts)
        head, tail = segments[:multi], segments[multi + 1:]
        if len(parts) < len(head) + len(tail):
            return None
        start, end = _match_fixed(head, parts[:len(head)]), _match_fixed(tail, parts[len(parts) - len(tail):])
        if start is None or end is None:
            return None
        name = segments[multi].name
        middle = {name: "/".join(parts[len(head):len(parts) - len(tail)])} if name else {}
        return {**start, **middle, **end}

    def require_template(self, what: str) -> "PathTemplate":
        """Refuse wildcards other than `{name}` where a path must be filled, not matched."""
        bad = [s.text for s in self.segments if s.wildcard and (s.multi or s.name is None)]
        if bad:
            raise PathError(f"{what} {self.text!r} cannot use {', '.join(bad)}: "
                            "a path that is written to needs one {name} per varying segment")
        return self

    def format(self, **params: str) -> str:
        """Fill the template; every parameter must be given, and none may hold a '/'."""
        self.require_template("path template")
        missing = [n for n in self.params if n not in params]
        if missing:
            raise PathError(
                f"path {self.text!r} needs {', '.join(missing)}; got "
                f"{', '.join(sorted(params)) or 'nothing'}"
            )
        out = []
        for seg in self.segments:
            if seg.name:
                value = str(params[seg.name])
                if not value or "/" in value:
                    raise PathError(f"path {self.text!r}: {seg.name}={value!r} must be a non-empty id without '/'")
                out.append(value)
            else:
                out.append(seg.text)
        return "/".join(out)

    def __str__(self) -> str:
        return self.text


def _match_fixed(segments: list[Segment], parts: list[str]) -> dict[str, str] | None:
    if len(parts) != len(segments):
        return None
    params: dict[str, str] = {}
    for seg, part in zip(segments, parts):
        if seg.wildcard:
            if seg.name:
                params[seg.name] = part
        elif seg.text != part:
            return None
    return params
