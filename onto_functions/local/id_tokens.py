"""Firebase ID tokens for local callers: from the real Auth emulator, or in its format without one.

`sign_in` asks firebase-tools' Auth emulator (REST, as the client SDKs do):
it signs a user in with a custom token, creating the user on first use,
custom claims included, and returns the ID token the emulator issues.

`emulator_format_token` writes such a token itself: the Auth emulator's ID
tokens are unsigned JWTs (`alg: none`) with the project as audience and
`https://securetoken.google.com/<project>` as issuer, and firebase-admin
accepts them only while FIREBASE_AUTH_EMULATOR_HOST is set, never against a
real project. `onto demo` uses it so `make demo` needs no firebase-tools
(npm, Java 21): the function checks the token exactly as it checks the
emulator's; only who issued it differs.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from typing import Any, Mapping

CUSTOM_TOKEN_AUDIENCE = "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"
EMULATOR_SERVICE_ACCOUNT = "firebase-auth-emulator@example.com"
# Where `emulator_format_token`'s users pretend the Auth emulator is: its default port. The address only
# puts firebase-admin in emulator mode; verifying a token never calls it, so nothing needs to listen.
UNSTARTED_AUTH_EMULATOR = "127.0.0.1:9099"
# The Auth emulator accepts any API key; the client SDKs always send one.
_API_KEY = "fake-api-key"


def _unsigned_jwt(payload: Mapping[str, Any]) -> str:
    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def emulator_format_token(project: str, uid: str, claims: Mapping[str, Any] | None = None, *,
                          lifetime_seconds: int = 3600) -> str:
    """An ID token for `uid` in the Auth emulator's own (unsigned) format; valid only in emulator mode."""
    now = int(time.time())
    return _unsigned_jwt({
        **(claims or {}), "iss": f"https://securetoken.google.com/{project}", "aud": project,
        "auth_time": now, "user_id": uid, "sub": uid, "iat": now, "exp": now + lifetime_seconds,
        "firebase": {"identities": {}, "sign_in_provider": "custom"},
    })


def sign_in(auth_host: str, project: str, uid: str, claims: Mapping[str, Any] | None = None, *,
            timeout: float = 30.0) -> str:
    """The Auth emulator's ID token for `uid` (created on first use) carrying `claims` as custom claims."""
    now = int(time.time())
    custom = _unsigned_jwt({"iss": EMULATOR_SERVICE_ACCOUNT, "sub": EMULATOR_SERVICE_ACCOUNT,
                            "aud": CUSTOM_TOKEN_AUDIENCE, "iat": now, "exp": now + 3600, "uid": uid,
                            "claims": dict(claims or {})})
    url = (f"http://{auth_host}/identitytoolkit.googleapis.com/v1/accounts:signInWithCustomToken"
           f"?key={_API_KEY}")
    request = urllib.request.Request(url, data=json.dumps({"token": custom, "returnSecureToken": True}).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "X-Goog-User-Project": project})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return str(json.loads(resp.read())["idToken"])
