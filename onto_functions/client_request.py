"""What an HTTPS or callable handler receives: a `Request`, beside the `Store`.

    @source.triggers.on_call
    def toggle_attendance(self, request: Request, store: Store) -> dict:
        request.data        # the body (callable: its `data`) loaded by the source's schema; raw JSON without one
        request.params      # the route's path parameters ({} for a callable)
        request.auth        # the verified caller (uid, token claims), None for an anonymous one
        request.method, request.headers, request.path, request.idempotency_key, request.app_check

Plain data, built after every check passed (route, method, body, identity,
access, App Check, schema): a handler never sees a request it may not serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping


@dataclass(frozen=True)
class Caller:
    """A caller whose Firebase ID token was verified: `uid` and the token's decoded claims."""

    uid: str
    token: Mapping[str, Any] = field(default_factory=dict)

    @property
    def claims(self) -> Mapping[str, Any]:
        """The token's claims, custom claims among them (`request.auth.claims.get("admin")`)."""
        return self.token

    @property
    def email(self) -> str | None:
        return self.token.get("email")


class Headers(Mapping[str, str]):
    """A request's headers, read only, looked up without regard to case."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = {k.lower(): (k, v) for k, v in headers.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __repr__(self) -> str:
        return f"Headers({len(self)} headers)"


@dataclass(frozen=True)
class Request:
    """One client request, validated: what the handler may rely on."""

    data: Any
    method: str
    path: str
    headers: Headers
    params: Mapping[str, str] = field(default_factory=dict)
    auth: Caller | None = None
    app_check: Mapping[str, Any] | None = None  # the verified App Check token's claims
    idempotency_key: str | None = None
    protocol: str = "https"  # "https", "callable" or "jsonrpc"
    json: Any = None  # the body (callable: its data) as sent, before the schema loaded it
