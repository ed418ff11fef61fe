"""The folder where `onto` keeps what it can recompute: discovered specs, parsed imports.

Never in the project: a dry run must leave the project's tree byte for byte
as it was, and a cache is no one's source. `$ONTO_CACHE_DIR` wins, else
`$XDG_CACHE_HOME/onto`, else `~/.cache/onto`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    explicit = os.environ.get("ONTO_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "onto"


def load(path: Path, format: int) -> dict[str, Any] | None:
    """The entry kept at `path` when it is one of this `format`; None for missing, truncated or another version's."""
    try:
        with path.open("rb") as f:
            entry = pickle.load(f)
    except Exception:
        return None
    return entry if isinstance(entry, dict) and entry.get("format") == format else None


def store(path: Path, entry: dict[str, Any]) -> None:
    """Replace the entry at `path` whole (a reader never sees half of it); a folder we cannot write: uncached."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("wb") as f:
            pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except OSError:
        pass
