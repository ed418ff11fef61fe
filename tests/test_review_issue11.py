"""Review of issue 11's dev loop, without an emulator: what the watcher counts as an edit."""

from __future__ import annotations

import os
from pathlib import Path

from onto_functions.local.watcher import source_state


def test_an_in_place_edit_that_keeps_size_and_mtime_is_still_an_edit(tmp_path: Path):
    """Tools that restore timestamps (rsync -t, tar, `touch -r`, an editor preserving them) can leave a file's
    size, mtime and inode as they were: the watcher must still see the new content, or the dev loop keeps
    serving the old code with no word (the spec and parse caches hash contents; the watcher must not lag)."""
    module = tmp_path / "version.py"
    module.write_text("VERSION = 1\n")
    before = os.stat(module)
    state = source_state([module])
    with module.open("r+") as f:  # in place: same inode
        f.write("VERSION = 2\n")
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(module)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert source_state([module]) != state
