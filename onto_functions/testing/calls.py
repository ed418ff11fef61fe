"""Calling an app's HTTPS and callable functions from a test, as a signed-in user.

    def test_toggle(onto_stack):
        stack = onto_stack("examples.meeting_room.main", auth=True)   # the session's Auth emulator
        answer = stack.call("toggle-attendance", {"meetingId": "standup"}, user="carol")
        assert answer.result == {"meetingId": "standup", "attending": True}
        stack.request("deposit-post", "POST", "/accounts/a1/deposits", json={...},
                      user={"uid": "admin", "claims": {"admin": True}})

`user` is a uid, or `{"uid": ..., "claims": {...}}` for custom claims; None
calls anonymously. With an Auth emulator (the fixture's `auth=True`, or
`onto emulate --auth`) the ID token is the emulator's (the user is created
there on first use, signed in with a custom token); without one, the token
is written in the Auth emulator's format (see local/id_tokens.py) and the
workers run in firebase-admin's emulator mode, so tests without
firebase-tools still call signed in. Either way the request goes through
the stack's front at firebase-tools' URL shape, to the function's
instances in turn: `answer.instance` says which one answered.
"""

from __future__ import annotations

from typing import Any, Mapping, Union

from ..local.id_tokens import UNSTARTED_AUTH_EMULATOR, emulator_format_token, sign_in
from ..local.request_client import ClientAnswer, call, send
from ..local.stack import LocalStack, StackError

User = Union[str, Mapping[str, Any], None]


class ServedStack(LocalStack):
    """A `LocalStack` with a test client for its HTTPS and callable functions."""

    def url(self, function: str, path: str = "") -> str:
        """Where the stack serves `function` (and a route below it)."""
        spec = next((s for s in self.specs if s.name == function and s.kind.is_request), None)
        if spec is None:
            served = ", ".join(s.name for s in self.specs if s.kind.is_request) or "none"
            raise StackError(f"no HTTPS or callable function {function!r}; served: {served}")
        return self.requests.url(spec) + ("" if path in ("", "/") else "/" + path.lstrip("/"))

    def id_token(self, user: User) -> str | None:
        """A Firebase ID token for `user` (None for None): the Auth emulator's when the stack has one."""
        if user is None:
            return None
        uid, claims = (user, {}) if isinstance(user, str) else (str(user["uid"]), dict(user.get("claims") or {}))
        if self.requests.auth_host in ("", UNSTARTED_AUTH_EMULATOR):
            return emulator_format_token(self.project, uid, claims)
        return sign_in(self.requests.auth_host, self.project, uid, claims)

    def call(self, function: str, data: Any = None, *, user: User = None, key: str | None = None,
             token: str | None = None, timeout: float = 60.0) -> ClientAnswer:
        """`httpsCallable(function)(data)` as `user` (or with `token` as it is), with an idempotency key."""
        return call(self.url(function), data, id_token=token or self.id_token(user), key=key, timeout=timeout)

    def request(self, function: str, method: str = "POST", path: str = "/", *, json: Any = None,
                body: bytes | None = None, user: User = None, key: str | None = None, token: str | None = None,
                headers: Mapping[str, str] | None = None, timeout: float = 60.0) -> ClientAnswer:
        """One HTTPS request to a route of `function` as `user`; any status comes back as an answer."""
        return send(self.url(function, path), method, json_body=json, body=body,
                    id_token=token or self.id_token(user), key=key, headers=headers, timeout=timeout)
