"""Who may call a request or callable function: the rule of `allow=` (spec.access), applied.

- "anyone": every caller, anonymous or signed in (`request.auth` may be None);
- "signed_in": a caller with a verified Firebase ID token, else 401;
- "claim:<name>": a signed-in caller whose token carries the custom claim
  <name> = true, else 403 ("claim:<name>=<value>": the claim equals
  <value>, compared as text, so "claim:role=admin" or "claim:level=3").

401 says "who are you?" (no token, or one that does not verify: see
identity.py), 403 says "you may not": the caller is known.
"""

from __future__ import annotations

from .client_request import Caller
from .request_errors import RequestError


def refusal(rule: str, caller: Caller | None) -> RequestError | None:
    """Why `caller` may not call under `rule`, or None when it may."""
    if rule == "anyone":
        return None
    if caller is None:
        return RequestError("UNAUTHENTICATED", "this function needs a signed-in caller: send "
                                               "'Authorization: Bearer <Firebase ID token>'")
    if rule == "signed_in":
        return None
    if not rule.startswith("claim:"):
        raise ValueError(f"unknown access rule {rule!r}")
    name, has_value, value = rule[len("claim:"):].partition("=")
    claim = caller.token.get(name)
    allowed = _same(claim, value) if has_value else claim is True
    if allowed:
        return None
    wanted = f"the claim {name}={value}" if has_value else f"the claim {name}"
    return RequestError("PERMISSION_DENIED", f"this function needs {wanted}; the caller's token lacks it")


def _same(claim: object, value: str) -> bool:
    if isinstance(claim, bool):
        return value.lower() == str(claim).lower()
    return claim is not None and str(claim) == value
