"""What a worker's answer means: the executor's outcome, or what came instead of it."""

from __future__ import annotations

import json


def describe_answer(status: int, body: bytes) -> tuple[str, str]:
    """(outcome, detail) from a worker's answer: the executor's JSON, or what came instead."""
    try:
        data = json.loads(body)
    except ValueError:
        return ("failed" if status >= 300 else "unknown"), body[:500].decode(errors="replace")
    if not isinstance(data, dict):
        return "unknown", str(data)[:500]
    return str(data.get("outcome") or ("failed" if status >= 300 else "unknown")), str(
        data.get("detail") or data.get("error") or "")
