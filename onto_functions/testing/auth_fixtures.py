"""Auth fixtures: the real Firebase Auth emulator, and signed-in test users with their ID tokens.

    def test_toggle(auth_emulator, auth_user):
        alice = auth_user()                                  # a new user, signed in
        admin = auth_user(claims={"admin": True})           # custom claims, in the token
        fn = RequestFunction(AttendanceMediator, "toggle-attendance", project=auth_emulator.project)
        answer = fn.handle("POST", "/", {**alice.headers, "Content-Type": "application/json"}, body)

- `auth_emulator` (session): firebase-tools' Auth emulator, started once
  for the session's own `demo-test-auth-…` project, with
  FIREBASE_AUTH_EMULATOR_HOST set for the session so firebase-admin (and
  so every request function in this process or its children) verifies its
  tokens. Every token it issues is for that project: a function under test
  must serve `auth_emulator.project`, and its Firestore data lives in that
  project too (`auth_db`), shared by the session's tests: use ids of your own.
- `auth_user`: a factory of users signed up over the emulator's REST API
  (`accounts:signUp`), custom claims set with firebase-admin's
  `auth.set_custom_user_claims` and a fresh sign-in to carry them.
- `auth_db`: a Firestore client for `auth_emulator.project` on the session's emulator.

Enabled by the `onto_functions` plugin, or with
`pytest_plugins = ["onto_functions.testing.auth_fixtures"]`.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from ..local.auth_emulator import AuthEmulator
from ..local.emulator_api import EmulatorError
from ..local.emulator_client import emulator_client
from ..local.request_serving import AUTH_ENV
from .emulator_fixtures import EmulatorHandle

if TYPE_CHECKING:
    from google.cloud import firestore

__all__ = ["TestUser", "auth_db", "auth_emulator", "auth_user"]

pytest_plugins = ["onto_functions.testing.emulator_fixtures"]
EMULATOR_HOST_ENV = AUTH_ENV  # one name, the local stack's


@dataclass(frozen=True)
class TestUser:
    """A user of the Auth emulator, signed in: `id_token` is what a client sends as `Authorization: Bearer`."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    uid: str
    email: str
    password: str
    id_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.id_token}"}


@pytest.fixture(scope="session")
def auth_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEmulator]:
    """firebase-tools' Auth emulator for this session's own project; FIREBASE_AUTH_EMULATOR_HOST set meanwhile."""
    emulator = AuthEmulator(f"demo-test-auth-{uuid.uuid4().hex[:8]}", log_dir=tmp_path_factory.mktemp("auth"))
    try:
        emulator.start()
    except EmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)
    previous = os.environ.get(EMULATOR_HOST_ENV)
    os.environ[EMULATOR_HOST_ENV] = emulator.host
    try:
        yield emulator
    finally:
        if previous is None:
            os.environ.pop(EMULATOR_HOST_ENV, None)
        else:
            os.environ[EMULATOR_HOST_ENV] = previous
        emulator.stop()


@pytest.fixture
def auth_user(auth_emulator: AuthEmulator) -> Callable[..., TestUser]:
    """`auth_user(claims=None, email=None)`: a new signed-in user of the Auth emulator."""

    def make(claims: dict[str, Any] | None = None, email: str | None = None) -> TestUser:
        return signed_in_user(auth_emulator, claims=claims, email=email)

    return make


def signed_in_user(emulator: AuthEmulator, *, claims: dict[str, Any] | None = None,
                   email: str | None = None) -> TestUser:
    """Sign up a user on `emulator` (custom `claims` set with firebase-admin) and sign it in."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    signed = emulator.sign_up(email, password)
    if claims:
        from firebase_admin import auth

        from ..identity import admin_app

        auth.set_custom_user_claims(signed["localId"], claims, app=admin_app(emulator.project))
        signed = emulator.sign_in(email, password)
    return TestUser(uid=signed["localId"], email=email, password=password, id_token=signed["idToken"])


@pytest.fixture
def auth_db(firestore_emulator: EmulatorHandle, auth_emulator: AuthEmulator) -> Iterator["firestore.Client"]:
    """A Firestore client for the Auth emulator's project, on the session's Firestore emulator."""
    client = emulator_client(auth_emulator.project, firestore_emulator.host)
    yield client
    client.close()
