"""Who the runtime's Firestore calls are from: the `Authorization` header of each.

Three places a function runs, three answers:
- the emulator takes `Bearer owner`, which it treats as an admin, and must
  never see real credentials;
- on Google's runtime (Cloud Run, which Cloud Functions 2nd gen is) the
  metadata server hands out the service account's token over plain HTTP, one
  call an hour, with nothing imported;
- anywhere else (an operator's `onto failures replay` with their own
  Application Default Credentials) google-auth finds the credentials, as the
  client libraries would.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import timezone
from typing import Any, Protocol

METADATA_HOST_ENV = "GCE_METADATA_HOST"  # google-auth's name for the override, honoured the same way
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
REFRESH_MARGIN_SECONDS = 300.0
SCOPE = "https://www.googleapis.com/auth/datastore"


class TokenSource(Protocol):
    def authorization(self) -> str:
        """The value of the `Authorization` header for the next call."""

    def invalidate(self) -> None:
        """Firestore refused the last token (401): fetch a new one for the next call."""

    def extra_headers(self) -> dict[str, str]:
        """Headers the credentials add besides the token (a quota project)."""


class EmulatorToken:
    def authorization(self) -> str:
        return "Bearer owner"

    def invalidate(self) -> None:
        pass

    def extra_headers(self) -> dict[str, str]:
        return {}


class _Expiring:
    """A bearer token kept until shortly before it expires; `_fetch` gets a new one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token = ""
        self._good_until = 0.0

    def authorization(self) -> str:
        if time.monotonic() >= self._good_until:
            with self._lock:
                if time.monotonic() >= self._good_until:
                    token, lifetime = self._fetch()
                    self._token = token
                    self._good_until = time.monotonic() + max(0.0, lifetime - REFRESH_MARGIN_SECONDS)
        return f"Bearer {self._token}"

    def invalidate(self) -> None:
        with self._lock:
            self._good_until = 0.0

    def extra_headers(self) -> dict[str, str]:
        return {}

    def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError


class MetadataServerToken(_Expiring):
    def _fetch(self) -> tuple[str, float]:
        import urllib.request  # only here: it costs an import at cold start

        host = os.environ.get(METADATA_HOST_ENV) or "metadata.google.internal"
        request = urllib.request.Request(f"http://{host}{METADATA_TOKEN_PATH}", headers={"Metadata-Flavor": "Google"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            grant = json.loads(answer.read())
        return str(grant["access_token"]), float(grant.get("expires_in", 0))


class DefaultCredentialsToken(_Expiring):
    """Application Default Credentials through google-auth, imported only here."""

    def __init__(self, credentials: Any = None) -> None:
        super().__init__()
        self._credentials = credentials

    def _fetch(self) -> tuple[str, float]:
        import google.auth
        from google.auth.transport.requests import Request

        if self._credentials is None:
            self._credentials, _ = google.auth.default(scopes=[SCOPE])
        self._credentials.refresh(Request())
        expiry = getattr(self._credentials, "expiry", None)  # google-auth's is naive, in UTC
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)
        lifetime = (expiry.timestamp() - time.time()) if expiry is not None else 600.0
        return str(self._credentials.token), lifetime

    def extra_headers(self) -> dict[str, str]:
        """User credentials bill a quota project, as the client libraries send it."""
        quota_project = getattr(self._credentials, "quota_project_id", None)
        return {"x-goog-user-project": str(quota_project)} if quota_project else {}


def on_google_runtime() -> bool:
    """Cloud Run (and so Cloud Functions 2nd gen) sets K_SERVICE; its metadata server speaks for the
    function's service account, the identity `onto deploy` gives it."""
    return bool(os.environ.get("K_SERVICE"))


def token_source_for(emulator_host: str | None) -> TokenSource:
    if emulator_host:
        return EmulatorToken()
    return MetadataServerToken() if on_google_runtime() else DefaultCredentialsToken()
