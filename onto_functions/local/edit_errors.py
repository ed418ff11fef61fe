"""Where an edit broke the app: one line naming the project file and line, for the dev loop.

Why: `onto emulate` rebuilds the bundles after every save, and a save is
often half-way (a syntax error, an import of a module not written yet, an
option the platform refuses). The old workers keep running and the user
needs to know what to fix, in one line of the live view, not a traceback:
`shop/mediators.py:12: SyntaxError: invalid syntax`.

The line is found by what the exception says: a SyntaxError (maybe wrapped
by the bundler) carries its file and line; anything else raised while the
app was imported points, through its traceback, at the deepest frame that
is the project's own code (not onto's, not a library's). An error with no
such frame (a bundle that cannot be built, say) is shown by its message,
which names the trigger.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

_RUNTIME = Path(__file__).resolve().parents[1]  # onto_functions: never the user's line
_NOT_PROJECT = frozenset({".venv", "venv", "site-packages", "dist-packages", ".onto", "build", "node_modules"})


@dataclass(frozen=True)
class EditError:
    """What an edit broke: the file (relative to the project when inside it), line, and what went wrong."""

    kind: str
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else f"{self.file}: " if self.file else ""
        return f"{where}{self.kind}: {self.message}"


def locate(exc: BaseException, project_root: Path) -> EditError:
    """The project file and line `exc` points at, and a one-line message."""
    root = project_root.resolve()
    for cause in _chain(exc):
        if isinstance(cause, SyntaxError) and cause.filename:
            return EditError(type(cause).__name__, _one_line(cause.msg or str(cause)),
                             _shown(Path(cause.filename), root), cause.lineno)
    for cause in _chain(exc):
        frame = _deepest_project_frame(cause, root)
        if frame is not None:
            return EditError(type(cause).__name__, _one_line(str(cause)), _shown(Path(frame.filename), root),
                             frame.lineno)
    return EditError(type(exc).__name__, _one_line(str(exc)))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what caused it (`raise ... from`), then what it interrupted; each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _deepest_project_frame(exc: BaseException, root: Path) -> traceback.FrameSummary | None:
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if _is_project_file(Path(frame.filename), root):
            found = frame
    return found


def _is_project_file(path: Path, root: Path) -> bool:
    try:
        resolved = path.resolve()
        relative = resolved.relative_to(root)
    except (OSError, ValueError):
        return False
    if resolved == _RUNTIME or _RUNTIME in resolved.parents:
        return False
    return not any(part in _NOT_PROJECT for part in relative.parts)


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except (OSError, ValueError):
        return str(path)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " ".join(lines)[:500] if lines else "(no message)"
