"""Writing a bundle: make a folder hold exactly a bundle's files, and remove folders of gone triggers.

Why a marker file (`.onto-bundle.json`, not part of the hash): it says which
files we wrote, so a rebuild removes only those we no longer need and never
touches anything else (a local venv beside the code, say), and it marks the
folders that are ours to delete when their trigger is gone. It also records
the change time (ctime) of each folder it wrote into, and when it did so: a
file removed from, added to or renamed into a folder changes that folder's
ctime, which no tool can set back (`touch`, `rsync -a` and `tar x` restore
mtimes, and so change the ctime), so an unchanged bundle is confirmed by a
few `stat`s of folders rather than one per file (100 bundles hold 6,000
files). A change in the same clock tick as the recording would not show, so
times recorded within a tick of the recording prove nothing: a tick is taken
as 2 s where every time is a whole second (FAT, HFS+), else 50 ms; such a
bundle is checked file by file, and the marker is recorded again. A file edited in place inside a
bundle changes no folder: `build/` is onto's output, edit the sources.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .bundle_errors import BundleError

MARKER = ".onto-bundle.json"
COARSE_NS = 2_000_000_000  # FAT's time resolution: the coarsest a bundle folder may sit on
FINE_NS = 50_000_000  # a file system with sub-second times still stamps them from a clock tick (ms)


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
              "folders": _folder_times(path, files), "recorded_ns": time.time_ns()}
    (path / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")  # rewritten in place


def _folder_times(path: Path, files: dict[str, bytes]) -> dict[str, int] | None:
    """Each folder holding a bundle file (the bundle's own included), by its change time in ns."""
    folders = {name.rpartition("/")[0] or "." for name in files} | {"."}  # names are posix paths
    root = os.fspath(path)
    try:
        return {folder: os.stat(f"{root}/{folder}").st_ctime_ns for folder in sorted(folders)}
    except OSError:
        return None


def _untouched(path: Path, previous: dict[str, Any], files: dict[str, bytes]) -> bool:
    """The marker proves the folder still holds its files: the same names, every folder's change time as
    recorded, and recorded long enough after those times that a later change would show."""
    recorded, when = previous.get("folders"), previous.get("recorded_ns")
    if not (isinstance(recorded, dict) and recorded and isinstance(when, int) and previous.get("files") == sorted(files)):
        return False  # an older marker, or another file list: check and write file by file
    tick = COARSE_NS if all(t % 1_000_000_000 == 0 for t in recorded.values()) else FINE_NS
    return recorded == _folder_times(path, files) and max(recorded.values()) < when - tick


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
