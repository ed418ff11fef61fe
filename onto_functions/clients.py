"""Firestore clients, one per (project, database) for the life of the process.

The Functions SDK makes a new client for every event; ours keeps one, and
with it each thread's kept-alive connection, so every event after an
instance's first skips the connection set-up. Clients are keyed by the
event's project, which lets one test process serve many isolated emulator
projects through the same entry point.

The runtime's client is `FirestoreRest` (see firestore_rest.py for why not
the client library). Tests, scripts and the operations commands hold
google.cloud.firestore clients; `document_client` speaks to the same
database, with the same credentials, through a FirestoreRest.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .firestore_rest import FirestoreRest

_lock = threading.Lock()
_clients: dict[tuple[str, str], FirestoreRest] = {}
EMULATOR_ENV = "FIRESTORE_EMULATOR_HOST"


def client_for(project: str, database: str = "(default)") -> FirestoreRest:
    key = (project, database)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                # The emulator needs no credentials, and must never be sent real ones.
                client = FirestoreRest(project, database, emulator_host=os.environ.get(EMULATOR_ENV) or None)
                _clients[key] = client
    return client


def document_client(client: Any) -> FirestoreRest:
    """`client` itself, or the FirestoreRest that reaches a google.cloud.firestore Client's database."""
    if isinstance(client, FirestoreRest):
        return client
    ours = getattr(client, "_onto_rest", None)
    if ours is not None:
        return ours
    if not (hasattr(client, "project") and hasattr(client, "document")):
        raise TypeError(f"need a Firestore client, got {type(client).__name__}")
    emulator_host = getattr(client, "_emulator_host", None)
    tokens = None
    if not emulator_host:
        from .access_tokens import DefaultCredentialsToken

        tokens = DefaultCredentialsToken(getattr(client, "_credentials", None))
    ours = FirestoreRest(client.project, getattr(client, "_database", None) or "(default)",
                         emulator_host=emulator_host, tokens=tokens)
    client._onto_rest = ours
    return ours
