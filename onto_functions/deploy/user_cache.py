"""The folder where `onto` keeps what it can recompute: discovered specs, parsed imports.

Never in the project: a dry run must leave the project's tree byte for byte
as it was, and a cache is no one's source. `$ONTO_CACHE_DIR` wins, else
`$XDG_CACHE_HOME/onto`, else `~/.cache/onto`.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    explicit = os.environ.get("ONTO_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "onto"
