"""The emulator fixtures: one Firestore emulator per session, a fresh project per test.

Fixtures: `event_receiver` (session; the HTTP endpoint the emulator delivers
trigger events to), `firestore_emulator` (session; an `EmulatorHandle`),
`project_id` (a fresh `demo-test-…` id per test) and `db` (a client on the
session's emulator for that project).

Projects are isolated inside one emulator, so a new project id per test gives a
clean database without a reset (a reset fires a delete event per document).

Enabled by the `onto_functions` plugin (`.plugin`), or on its own with
`pytest_plugins = ["onto_functions.testing.emulator_fixtures"]` in the
rootdir's conftest.py. It imports nothing else from `onto_functions.testing`.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import pytest

from ..local.emulator import FirestoreEmulator
from ..local.emulator_client import emulator_client
from ..local.installation import EmulatorNotFound
from ..local.receiver import Receiver

if TYPE_CHECKING:
    from google.cloud import firestore


@dataclass(frozen=True)
class EmulatorHandle:
    """The emulator a session uses, whether this session started it or found it running."""

    host: str
    started_here: bool
    functions_emulator: str | None  # where it delivers events; unknown (None) for an external one
    process: FirestoreEmulator | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@pytest.fixture(scope="session")
def event_receiver() -> Iterator[Receiver]:
    """The session's receiver for emulator deliveries; register handlers on it by trigger id."""
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def firestore_emulator(event_receiver: Receiver) -> Iterator[EmulatorHandle]:
    """Use $FIRESTORE_EMULATOR_HOST if set (left running), else start one that delivers to `event_receiver`."""
    external = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if external:
        yield EmulatorHandle(host=external, started_here=False, functions_emulator=None)
        return
    emulator = FirestoreEmulator(functions_emulator=event_receiver.host)
    try:
        emulator.start()
    except EmulatorNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    # Code under test (the executor, a user's own handlers) makes its clients
    # the way it would in production: from the environment.
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        yield EmulatorHandle(
            host=emulator.host, started_here=True,
            functions_emulator=event_receiver.host, process=emulator,
        )
    finally:
        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        emulator.stop()


@pytest.fixture
def project_id() -> str:
    """A fresh `demo-test-<12 hex>` project: an empty, isolated database (`demo-` = never a real project)."""
    return f"demo-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def db(firestore_emulator: EmulatorHandle, project_id: str) -> Iterator["firestore.Client"]:
    """A Firestore client on the session emulator, for this test's own project."""
    client = emulator_client(project_id, firestore_emulator.host)
    yield client
    client.close()
