"""What an instance's answer means: the executor's outcome, or what came instead of it.

The deployed function answers JSON carrying `outcome` (see
`onto_functions.outcome`). Anything else (functions-framework's own error
page, a crash before our code ran) is named by its status class: failed for
5xx, refused for 4xx, unknown for a 2xx without an outcome.
"""

from __future__ import annotations

import json

from ..outcome import FAILED, REFUSED

UNKNOWN = "unknown"


def describe_answer(status: int, body: bytes) -> tuple[str, str]:
    """(outcome, detail) from an instance's answer."""
    fallback = FAILED if status >= 500 else REFUSED if status >= 300 else UNKNOWN
    try:
        data = json.loads(body)
    except ValueError:
        return fallback, body[:500].decode(errors="replace")
    if not isinstance(data, dict):
        return fallback, str(data)[:500]
    return str(data.get("outcome") or fallback), str(data.get("detail") or data.get("error") or "")
