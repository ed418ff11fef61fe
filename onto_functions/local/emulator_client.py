"""A Firestore client for one project on the emulator, made without touching the environment.

Setting FIRESTORE_EMULATOR_HOST would redirect every other client of the
process too (the executor's, a test's own), and asking for default
credentials fails on a machine that has none, so clients of the local stack
and the test fixtures are made here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # google-cloud-firestore is heavy; import it only when a client is made.
    from google.cloud import firestore


def emulator_client(project: str, host: str) -> "firestore.Client":
    """A Firestore client for `project` on the emulator at `host`; never needs real credentials.

    google-cloud-firestore (2.34) reads FIRESTORE_EMULATOR_HOST once, in
    Client.__init__, into `client._emulator_host`; the channel, target and auth
    metadata are derived from that attribute lazily, on first use. Setting the
    attribute right after construction gives an emulator client without touching
    os.environ (which would redirect every other client in the process). If a
    future version stops honouring the attribute we fall back to setting the env
    var only for the duration of the constructor call.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    client = firestore.Client(project=project, credentials=AnonymousCredentials())
    client._emulator_host = host  # type: ignore[attr-defined]
    if client._target == host:  # type: ignore[attr-defined]
        return client
    return _client_via_env(project, host)


def _client_via_env(project: str, host: str) -> "firestore.Client":
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        return firestore.Client(project=project, credentials=AnonymousCredentials())
    finally:
        if saved is None:
            del os.environ["FIRESTORE_EMULATOR_HOST"]
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = saved
