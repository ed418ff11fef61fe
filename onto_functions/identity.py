"""Who is calling: a Firebase ID token (`Authorization: Bearer`) and an App Check token, verified.

Verification is firebase-admin's (`auth.verify_id_token`, `app_check.verify_token`),
imported here lazily: only a request function's first request pays for it,
never a trigger's cold start. One firebase-admin app per project per process,
named for onto so it never clashes with an app the user initialises, and
made without credentials: verifying needs only Google's public keys, and
with FIREBASE_AUTH_EMULATOR_HOST set firebase-admin accepts the Auth
emulator's unsigned tokens without asking for any.

firebase-admin skips every time check of an emulator token, so the expiry
(`exp`, with a minute of clock skew as production allows) is checked here
too: a test of an expired token then fails locally as it would deployed.

A token that does not verify is the caller's problem (401, its reason
logged, not shown); a failure to fetch Google's keys is ours (500).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Mapping

from .client_request import Caller
from .request_errors import RequestError
from .request_wire import header

log = logging.getLogger("onto_functions.requests")

CLOCK_SKEW_SECONDS = 60
_lock = threading.Lock()
_apps: dict[str, Any] = {}


def admin_app(project: str) -> Any:
    """This process's firebase-admin app for `project` (made on first use, no credentials needed)."""
    app = _apps.get(project)
    if app is None:
        with _lock:
            app = _apps.get(project)
            if app is None:
                import firebase_admin

                app = firebase_admin.initialize_app(_no_credential(), {"projectId": project},
                                                    name=f"onto-functions:{project}")
                _apps[project] = app
    return app


def _no_credential() -> Any:
    """A credential that never looks for Application Default Credentials (token checks need none)."""
    from firebase_admin import credentials
    from google.auth.credentials import AnonymousCredentials

    class NoCredential(credentials.Base):
        def get_credential(self) -> Any:
            return AnonymousCredentials()

    return NoCredential()


def caller_of(headers: Mapping[str, str], project: str) -> Caller | None:
    """The verified caller of a request, None without an Authorization header; RequestError(401) otherwise."""
    authorization = header(headers, "authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RequestError("UNAUTHENTICATED", "the Authorization header must be 'Bearer <Firebase ID token>'")
    claims = verify_id_token(token.strip(), project)
    return Caller(uid=str(claims["uid"]), token=claims)


def verify_id_token(token: str, project: str) -> dict[str, Any]:
    """The claims of a valid Firebase ID token of `project`; RequestError(401) for any other token."""
    from firebase_admin import auth

    try:
        claims = auth.verify_id_token(token, app=admin_app(project), clock_skew_seconds=CLOCK_SKEW_SECONDS)
    except auth.CertificateFetchError:
        log.exception("could not fetch Google's public keys to verify an ID token")
        raise RequestError("INTERNAL", "INTERNAL") from None
    except (ValueError, auth.InvalidIdTokenError) as exc:
        log.info("an ID token was refused: %s", exc)
        expired = isinstance(exc, auth.ExpiredIdTokenError)
        raise RequestError("UNAUTHENTICATED", "the ID token has expired" if expired
                           else "the ID token is not valid") from None
    if float(claims.get("exp", 0)) + CLOCK_SKEW_SECONDS < time.time():
        raise RequestError("UNAUTHENTICATED", "the ID token has expired")
    return dict(claims)


def app_check_of(headers: Mapping[str, str], project: str) -> dict[str, Any]:
    """The claims of the request's valid App Check token (`X-Firebase-AppCheck`); RequestError(401) otherwise."""
    token = header(headers, "x-firebase-appcheck")
    if not token:
        raise RequestError("UNAUTHENTICATED", "this function needs an App Check token (X-Firebase-AppCheck)")
    from firebase_admin import app_check

    try:
        return dict(app_check.verify_token(token, app=admin_app(project)))
    except ValueError as exc:
        log.info("an App Check token was refused: %s", exc)
        raise RequestError("UNAUTHENTICATED", "the App Check token is not valid") from None
    except Exception:  # fetching the keys failed (PyJWKClientError and the like): ours, not the caller's
        log.exception("could not verify an App Check token")
        raise RequestError("INTERNAL", "INTERNAL") from None
