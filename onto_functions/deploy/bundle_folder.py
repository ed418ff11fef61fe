"""Writing a bundle: make a folder hold exactly a bundle's files, and remove folders of gone triggers.

Why a marker file (`.onto-bundle.json`, not part of the hash): it says which
files we wrote, so a rebuild removes only those we no longer need and never
touches anything else (a local venv beside the code, say), and it marks the
folders that are ours to delete when their trigger is gone. It also records
the modification time of each folder it wrote into: a file removed from or
added to a folder changes that folder's time, so an unchanged bundle is
confirmed by a few `stat`s of folders rather than one per file (100 bundles
hold 6,000 files).
"""

from __future__ import annotations

import json
import os
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
    if previous and previous.get("content_hash") == content_hash and _untouched(path, previous, files):
        return
    if previous is None:
        path.mkdir(parents=True, exist_ok=True)
        (path / MARKER).write_text("{}\n", encoding="utf-8")  # created first: the folder times below stay true
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
    marker = {"trigger": trigger, "content_hash": content_hash, "files": sorted(files),
              "folders": _folder_times(path, files)}
    (path / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")  # rewritten in place


def _folder_times(path: Path, files: dict[str, bytes]) -> dict[str, int] | None:
    """Each folder holding a bundle file (the bundle's own included), by its modification time in ns."""
    folders = {name.rpartition("/")[0] or "." for name in files} | {"."}  # names are posix paths
    root = os.fspath(path)
    try:
        return {folder: os.stat(f"{root}/{folder}").st_mtime_ns for folder in sorted(folders)}
    except OSError:
        return None


def _untouched(path: Path, previous: dict[str, Any], files: dict[str, bytes]) -> bool:
    """Every file the marker lists is still there: its folders' times say so, or (an older marker) each file."""
    recorded = previous.get("folders")
    if isinstance(recorded, dict) and previous.get("files") == sorted(files):
        return recorded == _folder_times(path, files)
    return all((path / n).is_file() for n in files)


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
