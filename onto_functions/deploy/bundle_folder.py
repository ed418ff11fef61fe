"""Writing a bundle: make a folder hold exactly a bundle's files, and remove folders of gone triggers.

Why a marker file (`.onto-bundle.json`, not part of the hash): it says which
files we wrote, so a rebuild removes only those we no longer need and never
touches anything else (a local venv beside the code, say), and it marks the
folders that are ours to delete when their trigger is gone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .bundle_errors import BundleError

MARKER = ".onto-bundle.json"


def write_bundle(path: Path, files: dict[str, bytes], trigger: str, content_hash: str) -> None:
    """Make `path` hold exactly `files` (+ marker); untouched files keep their mtime."""
    previous = read_marker(path)
    if path.exists() and previous is None and any(path.iterdir()):
        raise BundleError(f"{path} exists and was not written by onto bundle; choose another build_dir")
    if previous and previous.get("content_hash") == content_hash and all((path / n).is_file() for n in files):
        return
    for name, data in files.items():
        target = path / name
        try:
            if target.read_bytes() == data:
                continue
        except OSError:
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for name in set(previous.get("files", ()) if previous else ()) - set(files):
        stale = path / name
        stale.unlink(missing_ok=True)
        _remove_empty_parents(stale.parent, path)
    marker = {"trigger": trigger, "content_hash": content_hash, "files": sorted(files)}
    (path / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def read_marker(path: Path) -> dict[str, Any] | None:
    """What `onto bundle` recorded in the folder `path`, or None when it is not one of ours."""
    try:
        return json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def remove_stale_bundles(build_dir: Path, keep: set[str]) -> list[str]:
    """Delete bundle folders (ours: they carry the marker) of triggers that are gone."""
    removed = []
    for child in sorted(build_dir.iterdir()):
        if child.is_dir() and child.name not in keep and (child / MARKER).is_file():
            shutil.rmtree(child)
            removed.append(child.name)
    return removed
