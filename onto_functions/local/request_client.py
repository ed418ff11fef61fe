"""A client of locally served HTTPS and callable functions, speaking what the Firebase client SDKs speak.

`call` is `httpsCallable(name)(data)`: a POST of `{"data": ...}` with the
caller's ID token as `Authorization: Bearer`, answered by `{"result": ...}`
or `{"error": {"status", "message", "details"}}`. `send` is a plain HTTPS
request to a route below the function's URL. Both take an idempotency key
(the `Idempotency-Key` header of an HTTPS request; a callable's is a field
of its data, `idempotencyKey` by default, as a client SDK can send no
header) so a test or the demo can retry a request as a client would.

Standard library only: the demo and the tests use it, and neither needs
more than one JSON request at a time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping

IDEMPOTENCY_HEADER = "Idempotency-Key"
CALLABLE_KEY_FIELD = "idempotencyKey"


@dataclass(frozen=True)
class ClientAnswer:
    """A function's answer: status, headers (names in lower case) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def result(self) -> Any:
        """A callable's `result`; raises AssertionError with the answer when it is an error."""
        payload = self.json()
        if self.status != 200 or not isinstance(payload, dict) or "result" not in payload:
            raise AssertionError(f"the call failed ({self.status}): {self.body[:2000].decode(errors='replace')}")
        return payload["result"]

    @property
    def instance(self) -> str | None:
        """Which instance of the local stack answered (`X-Onto-Instance`)."""
        return self.headers.get("x-onto-instance")


def send(url: str, method: str = "POST", *, json_body: Any = None, body: bytes | None = None,
         id_token: str | None = None, key: str | None = None, headers: Mapping[str, str] | None = None,
         timeout: float = 60.0) -> ClientAnswer:
    """One HTTP request; any status comes back as an answer (only no answer at all raises OSError)."""
    sent = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent.setdefault("Content-Type", "application/json")
    if id_token:
        sent["Authorization"] = f"Bearer {id_token}"
    if key:
        sent[IDEMPOTENCY_HEADER] = key
    request = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return ClientAnswer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return ClientAnswer(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def call(url: str, data: Any = None, *, id_token: str | None = None, key: str | None = None,
         key_field: str = CALLABLE_KEY_FIELD, timeout: float = 60.0) -> ClientAnswer:
    """A call in the callable protocol, as `httpsCallable` makes it; `key` goes in the data's `key_field`."""
    if key is not None:
        if not isinstance(data, dict):
            raise TypeError(f"a callable's idempotency key is a field of its data, which must be an object: {data!r}")
        data = {**data, key_field: key}
    return send(url, "POST", json_body={"data": data}, id_token=id_token, timeout=timeout)
