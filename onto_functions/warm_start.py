"""Cold start: prepare what the first event needs while the server is still starting.

Why: from process start to the first event's commit, a deployed function
imports functions-framework, flask and gunicorn, imports main.py, starts
the server, and only then (on the first event) imports the Firestore client
and the protobuf event types and builds a client. Started from a thread as
soon as main.py is imported, that last part runs while the server starts
instead of after it: when the first event arrives the client is there.

Why it waits for the thread before a fork: functions-framework serves with
gunicorn, which imports main.py in its master process and then forks the
worker that serves requests. A thread does not survive a fork, and one
stopped half-way through an import or holding the clients' lock would leave
the worker stuck. So a fork waits (`os.register_at_fork`) until the thread
is done; the worker then inherits the finished imports and the client. The
client opens its gRPC channel on first use, in the worker, never before
the fork.
"""

from __future__ import annotations

import logging
import os
import threading

from . import clients, events

log = logging.getLogger("onto_functions")

# A fork waits at most this long for the preparation (a stuck network would otherwise hold it).
FORK_WAIT_SECONDS = 30.0

_lock = threading.Lock()
_threads: list[threading.Thread] = []
_fork_hook_registered = False


def start(project: str, database: str) -> None:
    """Import the event types and build the client of (project, database) in the background."""
    global _fork_hook_registered
    if not project:  # the first event will answer that the function does not know its project
        return
    thread = threading.Thread(target=_prepare, args=(project, database), name="onto-warm-start", daemon=True)
    with _lock:
        if not _fork_hook_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(before=wait)
            _fork_hook_registered = True
        _threads.append(thread)
    thread.start()


def wait(timeout: float = FORK_WAIT_SECONDS) -> None:
    """Until every preparation started so far is done (or `timeout` has passed)."""
    with _lock:
        pending, _threads[:] = list(_threads), []
    for thread in pending:
        thread.join(timeout)


def _prepare(project: str, database: str) -> None:
    try:
        events.preload()
        clients.client_for(project, database)
    except Exception:  # the first event builds it again and reports what is wrong
        log.debug("warm start of the Firestore client failed", exc_info=True)
