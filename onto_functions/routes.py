"""Which route of an HTTPS function a request's path names, and its path parameters.

A 2nd-gen function is served at its own URL and sees the path below it
(`/meetings/m1`). firebase-tools' functions emulator serves it at
`/<project>/<region>/<function>/meetings/m1` and passes that prefix on, so
the prefix is taken off when its region and function name are this
function's own. Route templates are checked when the source is declared
(request_sources.normalise_route); matching here is exact per segment.

A parameter is one segment, decoded: one that decodes to something holding
"/" (`a%2Fb`, or `a%252Fb` once the server decoded it already) or to "." or
".." is no match. Handlers put parameters into document paths
(`rooms/{room_id}`); such a value would name another document, deeper or
higher than the route offers, or one Firestore refuses.
"""

from __future__ import annotations

from urllib.parse import unquote


class Route:
    """A route template such as "/meetings/{meeting_id}", matched segment by segment."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.segments = [s for s in template.split("/") if s]

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` is this route, else None (a trailing slash is allowed)."""
        parts = [unquote(p) for p in path.split("?", 1)[0].split("/") if p]
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for segment, part in zip(self.segments, parts):
            if segment.startswith("{"):
                if "/" in part or part in (".", ".."):
                    return None
                params[segment[1:-1]] = part
            elif segment != part:
                return None
        return params


def below_function(path: str, *, function: str, region: str) -> str:
    """The path below the function: without the emulator's `/<project>/<region>/<function>` prefix."""
    parts = path.split("/")
    # "", project, region, function, rest...
    if len(parts) >= 4 and parts[2] == region and parts[3] == function:
        return "/" + "/".join(parts[4:])
    return path or "/"
