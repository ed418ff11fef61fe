"""Recognise files that hold credentials, so that no bundle ever ships one.

Why by name *and* by content: a service-account key is usually called
`<project>-<hash>.json` (no hint in the name), while `.env` files rarely
have a recognisable shape. Either sign is enough to keep a file out.
The check is deliberately over-cautious: a false positive costs a warning,
a false negative costs a leaked key.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

# Names that are credentials whatever they hold (matched on the file name, lowercased).
SECRET_NAME_PATTERNS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    ".secret.local",  # firebase-tools' (and onto's) local secret values
    "*.secret.local",
    "*.pem",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.key",
    "*key*.json",
    "*credential*.json",
    "credentials",
    "*secret*.json",
    "service-account*.json",
    "serviceaccount*.json",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "application_default_credentials.json",
)

_PRIVATE_KEY_RE = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_CONTENT_SCAN_LIMIT = 1 << 20  # bytes; a key file is a few KiB


def secret_reason(path: Path) -> str | None:
    """Why `path` looks like a credential, or None. Reads at most 1 MiB of it."""
    name = path.name.lower()
    for pattern in SECRET_NAME_PATTERNS:
        if fnmatch.fnmatchcase(name, pattern):
            return f"its name matches {pattern!r}"
    return _content_reason(path)


def _content_reason(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(_CONTENT_SCAN_LIMIT)
    except OSError:
        return None
    if head.lstrip().startswith(b"{") and b"private_key" in head:
        try:
            data = json.loads(head)
        except (ValueError, UnicodeDecodeError):
            return "it is JSON-like and mentions private_key"
        if isinstance(data, dict) and (data.get("type") == "service_account" or "private_key" in data):
            return "it is a Google service-account key (JSON with type/private_key)"
    if _PRIVATE_KEY_RE.search(head):
        return "it contains a PEM private key"
    return None

