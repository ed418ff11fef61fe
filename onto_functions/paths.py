"""Document path templates such as `users/{user_id}/meetingSessions/{meeting_id}`.

One small type serves triggers (match an event's document path, extract its
params) and view models (fill a template to get the document to write).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAM_RE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class PathError(ValueError):
    """A path or template that is not a Firestore document path."""


@dataclass(frozen=True)
class PathTemplate:
    text: str

    def __post_init__(self) -> None:
        segments = self.segments
        if not self.text or any(s == "" for s in segments):
            raise PathError(f"document path template {self.text!r} has an empty segment")
        if len(segments) % 2:
            raise PathError(
                f"document path template {self.text!r} has {len(segments)} segments: "
                "a document path alternates collection/document and has an even number"
            )
        names = [n for n in (self._param(s) for s in segments) if n]
        if len(names) != len(set(names)):
            raise PathError(f"document path template {self.text!r} repeats a parameter")
        for s in segments:
            if "{" in s and not self._param(s):
                raise PathError(
                    f"segment {s!r} of {self.text!r}: a parameter must be a whole "
                    "segment such as {user_id}"
                )

    @staticmethod
    def _param(segment: str) -> str | None:
        m = _PARAM_RE.match(segment)
        return m.group(1) if m else None

    @property
    def segments(self) -> list[str]:
        return self.text.strip("/").split("/") if self.text else []

    @property
    def params(self) -> list[str]:
        return [n for n in (self._param(s) for s in self.segments) if n]

    @property
    def collection_group(self) -> str:
        """The id of the collection that holds the documents (last but one segment)."""
        return self.segments[-2]

    def match(self, path: str) -> dict[str, str] | None:
        """The params of `path` if it fits this template, else None."""
        parts = path.strip("/").split("/")
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for seg, part in zip(self.segments, parts):
            name = self._param(seg)
            if name:
                params[name] = part
            elif seg != part:
                return None
        return params

    def format(self, **params: str) -> str:
        """Fill the template; every parameter must be given, and none may hold a '/'."""
        missing = [n for n in self.params if n not in params]
        if missing:
            raise PathError(
                f"path {self.text!r} needs {', '.join(missing)}; got "
                f"{', '.join(sorted(params)) or 'nothing'}"
            )
        out = []
        for seg in self.segments:
            name = self._param(seg)
            if name:
                value = str(params[name])
                if not value or "/" in value:
                    raise PathError(
                        f"path {self.text!r}: {name}={value!r} must be a non-empty id "
                        "without '/'"
                    )
                out.append(value)
            else:
                out.append(seg)
        return "/".join(out)

    def __str__(self) -> str:
        return self.text
