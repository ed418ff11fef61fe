"""Firestore clients, one per (project, database) for the life of the process.

The Functions SDK makes a new client for every event; a client holds a gRPC
channel, so reusing it saves a connection set-up on each event after the
first. Clients are keyed by the event's project, which lets one test process
serve many isolated emulator projects through the same entry point.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


def client_for(project: str, database: str = "(default)") -> Any:
    key = (project, database)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _new_client(project, database)
                _clients[key] = client
    return client


def _new_client(project: str, database: str) -> Any:
    from google.cloud import firestore

    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        # The emulator needs no credentials; asking for default ones would fail
        # on a machine that has none (and must never pick up real ones).
        from google.auth.credentials import AnonymousCredentials

        return firestore.Client(project=project, database=database, credentials=AnonymousCredentials())
    return firestore.Client(project=project, database=database)
