"""The discovered triggers of an app, kept between runs until one of its source files changes.

Why: discovering an app's triggers imports it, and with it onto's models,
marshmallow and every mediator module: most of what `onto bundle` and
`onto list` cost as a fresh process when nothing changed. The specs depend
only on the app's own source files (its static import closure), the onto
runtime that turns mediators into specs, and the Python that ran it, so
they are kept in the user's cache folder (`$ONTO_CACHE_DIR`, else
`$XDG_CACHE_HOME/onto` or `~/.cache/onto`: never in the project, whose tree
a dry run must leave byte for byte as it was), keyed by exactly that:

- the content hash of every file of the closure (read and hashed each run:
  small files, a few milliseconds, and no trust in mtimes that a quick
  edit of the same size can leave unchanged);
- the listing of every folder that holds one of those files, so that a new
  module that now shadows an import (or a deleted one) is a change too;
- the runtime's files and the Python version.

Anything unreadable or different is a miss: the app is discovered again and
the entry rewritten. Not covered, on purpose: an app whose triggers depend
on the environment (variables, files it reads at import); there, remove
the cache folder.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Callable

from ..spec import TriggerSpec
from .import_closure import SKIPPED_DIRS
from .user_cache import cache_dir, load, store

FORMAT = 1


def cached_discovery(app: str, root: Path, discover: Callable[[], tuple[list[TriggerSpec], tuple[Path, ...]]],
                     ) -> list[TriggerSpec]:
    """The specs recorded for `app` when its sources are as they were; else `discover()`, recorded.

    `discover` returns the specs and the closure's files (relative to `root`).
    """
    key = hashlib.sha256(f"{root.resolve()}\0{app}".encode()).hexdigest()[:24]
    path = cache_dir() / "specs" / f"{key}.pickle"
    entry = load(path, FORMAT)
    if entry is not None and entry.get("inputs") == fingerprint(root, entry.get("files", ())):
        return list(entry["specs"])
    specs, files = discover()
    inputs = fingerprint(root, files)
    if inputs is not None:
        store(path, {"format": FORMAT, "files": tuple(files), "inputs": inputs, "specs": specs})
    return specs


def fingerprint(root: Path, files: tuple[Path, ...] | list[Path]) -> tuple[Any, ...] | None:
    """What the specs depend on, as comparable data; None when a file cannot be read."""
    try:
        contents = tuple((str(f), hashlib.sha256((root / f).read_bytes()).hexdigest()) for f in files)
        folders = sorted({(root / f).parent for f in files} | {root})
        listings = tuple((str(d), _modules_in(d)) for d in folders)
    except OSError:
        return None
    return (FORMAT, sys.version, _runtime_stamp(), contents, listings)


def _modules_in(folder: Path) -> tuple[str, ...]:
    """The names in `folder` that an import could resolve to: modules and packages (not build output)."""
    with os.scandir(folder) as entries:
        return tuple(sorted(e.name for e in entries if e.name.endswith(".py")
                            or (e.is_dir() and e.name not in SKIPPED_DIRS and not e.name.startswith("."))))


def _runtime_stamp() -> tuple[tuple[str, int, int], ...]:
    """The onto runtime that makes specs from mediators: its files' sizes and mtimes."""
    package = Path(__file__).resolve().parents[1]
    stamp = []
    for path in sorted(package.glob("*.py")):
        stat = path.stat()
        stamp.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(stamp)
