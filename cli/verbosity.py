"""`onto --verbose`: what the global flag turns on, in one place.

Given before any command (`onto --verbose emulate`), it turns on debug
logging of onto's own loggers (on stderr), and makes `onto emulate` print
each worker's delivery log line readably as it is written
(`onto_functions.local.worker_logs`). Without it, logs stay quiet and the
raw JSON lines stay in the worker log files.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

LOGGER = "onto_functions"
_state = {"verbose": False}


def set_verbose(verbose: bool) -> None:
    """Record the flag and, when set, send onto's logs at DEBUG to stderr (once per process)."""
    _state["verbose"] = verbose
    if not verbose:
        return
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    if not any(getattr(h, "onto_verbose", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.onto_verbose = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def is_verbose() -> bool:
    return _state["verbose"]


@contextlib.contextmanager
def worker_log_lines(log_dir: Path) -> Iterator[None]:
    """With --verbose, print each worker's delivery line readably on stderr while the block runs."""
    if not is_verbose():
        yield
        return
    from onto_functions.local.worker_logs import WorkerLogFollower, readable

    lock = threading.Lock()

    def show(entry: dict[str, Any]) -> None:
        with lock:  # literal text: a document path is never read as markup
            sys.stderr.write(readable(entry) + "\n")
            sys.stderr.flush()

    follower = WorkerLogFollower(log_dir, show).start()
    try:
        yield
    finally:
        follower.stop()
