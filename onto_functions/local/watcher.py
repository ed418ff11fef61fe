"""Notice an edit of the app's source: poll the files it is built from, and say when they changed.

Why polling: the files are few (the app's import closure, as the bundler
computes it, and pyproject.toml), so stat-ing each every 50 ms costs next
to nothing, needs no dependency and works the same on every file system
(bind mounts, network folders, editors that save by renaming a new file
over the old one) where inotify-style watchers miss events or need one.

What counts as a change: a watched file's mtime, ctime, size or inode (a
missing file too; ctime because a tool that restores a file's mtime, such
as rsync -t or `touch -r`, cannot restore it), and the module names in the folder of each watched file (a new
module may shadow an import, a deleted one may break it). Other files of
those folders (an editor's swap file) do not count.

After a change the watcher waits until two polls `settle` apart see the
same state (an editor may write a file in several steps), then calls
`on_change` on its own thread; edits made while that runs are seen by the
next poll, since the state compared against is the one before the call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Collection, Hashable

log = logging.getLogger("onto_functions.local")

State = dict[Path, Hashable]


def source_state(files: Collection[Path]) -> State:
    """What the watcher compares: each file's identity, and the module names of each folder holding one."""
    state: State = {}
    for path in files:
        state[path] = _file_identity(path)
    for folder in {path.parent for path in files}:
        state[folder] = _module_names(folder)
    return state


def _file_identity(path: Path) -> Hashable:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)


def _module_names(folder: Path) -> Hashable:
    try:
        with os.scandir(folder) as entries:
            return tuple(sorted(e.name for e in entries if e.name.endswith(".py") or (
                e.is_dir() and not e.name.startswith((".", "__")))))
    except OSError:
        return None


class SourceWatcher:
    """A thread that calls `on_change()` after the files `files()` names (re-read after each call) change."""

    def __init__(self, files: Callable[[], Collection[Path]], on_change: Callable[[], None], *,
                 interval: float = 0.05, settle: float = 0.02) -> None:
        self.files = files
        self.on_change = on_change
        self.interval = interval
        self.settle = settle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SourceWatcher:
        """Take the state edits are compared with (now, before returning), then poll on a thread."""
        if self._thread is None:
            self._stop.clear()
            watched = list(self.files())
            self._thread = threading.Thread(target=self._run, args=(watched, source_state(watched)),
                                            name="onto-watcher", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(30)
        self._thread = None

    def _run(self, watched: list[Path], seen: State) -> None:
        while not self._stop.wait(self.interval):
            now = source_state(watched)
            if now == seen:
                continue
            now = self._settled(watched, now)
            if self._stop.is_set():
                return
            try:
                self.on_change()
            except Exception:  # a bug in a reload must not end the dev loop
                log.exception("reloading after an edit failed")
            watched = list(self.files())
            # paths known before the call keep the state it started from: an edit made during the
            # call is a change at the next poll; paths new to the watch start from what they are now
            seen = {path: now.get(path, value) for path, value in source_state(watched).items()}

    def _settled(self, watched: list[Path], state: State) -> State:
        """The state once two polls `settle` apart agree (at most about a second of waiting)."""
        for _ in range(30):
            if self._stop.wait(self.settle):
                break
            again = source_state(watched)
            if again == state:
                break
            state = again
        return state
