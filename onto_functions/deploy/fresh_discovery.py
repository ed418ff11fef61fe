"""Discover an app's triggers from the code as it is on disk now, in a process that may have imported it before.

Why: a long-lived process (tests, a watcher, the local stack) that bundled
before must see the user's current code, not what it imported then. Only
the modules of the app's static import closure are dropped from
`sys.modules` and imported again; everything else (onto_functions, third
parties) stays loaded.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ..spec import TriggerSpec
from .import_closure import closure, module_name
from .project_files import refuse_excluded
from .spec_cache import cached_discovery


def discover_cached(app: str, root: Path) -> list[TriggerSpec]:
    """`discover_fresh(app, root)` as plain data, from the spec cache while no source file of the app changed.

    For callers that only read the specs (bundling, listing): on a hit
    nothing of the app is imported, so do not expect its modules loaded.
    """
    return cached_discovery(app, root, lambda: _import_and_discover(app, root))


def discover_fresh(app: str, root: Path) -> list[TriggerSpec]:
    """`discover(app)` with `root` first on sys.path and the app's own modules re-imported."""
    return _import_and_discover(app, root)[0]


def _import_and_discover(app: str, root: Path) -> tuple[list[TriggerSpec], tuple[Path, ...]]:
    """`discover_fresh`'s specs, and the app's files they came from (relative to `root`)."""
    app_files = closure(app.partition(":")[0], root).files
    for relative in app_files:  # before importing anything: say which file, not a confusing ImportError
        refuse_excluded(relative, app)
    _forget_modules({module_name(f) for f in app_files}, {root / f for f in app_files})
    from ..discovery import discover  # mediators, models, marshmallow: only on a cache miss

    sys.path.insert(0, str(root))
    try:
        return discover(app), app_files
    finally:
        try:
            sys.path.remove(str(root))
        except ValueError:  # pragma: no cover - user code changed sys.path
            pass


def _forget_modules(names: set[str], files: set[Path]) -> None:
    """Drop the modules named `names` or loaded from `files`, so the next import reads the disk."""
    for name, loaded in list(sys.modules.items()):
        file = getattr(loaded, "__file__", None)
        if name in names or (file and Path(file) in files):
            del sys.modules[name]
    importlib.invalidate_caches()
