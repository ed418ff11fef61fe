"""One structured log line per client request, as logs.py writes one per event delivery.

The same Cloud Logging form (severity, message, `logging.googleapis.com/labels`)
so the Logs Explorer filters requests as it filters deliveries:
`labels.trigger="toggle-attendance" labels.outcome="failed"`. An unexpected
exception's traceback goes here, server side, and nowhere near the caller.
"""

from __future__ import annotations

import logging
from typing import Any

from .logs import LABELS, LOGGER

_SEVERITY = {"applied": "INFO", "replayed": "INFO", "refused": "WARNING", "contended": "WARNING",
             "failed": "ERROR"}
_LEVEL = {"INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


def request(*, function: str, outcome: str, status: int, method: str, path: str, protocol: str,
            uid: str | None, commit_attempts: int, latency_ms: float, detail: str = "",
            exc: BaseException | None = None) -> None:
    """Log one request's outcome and answer."""
    severity = _SEVERITY.get(outcome, "INFO")
    labels = {"trigger": function, "outcome": outcome, "protocol": protocol}
    entry: dict[str, Any] = {
        "severity": severity, LABELS: labels, **labels, "status": status, "method": method, "path": path,
        "uid": uid, "commitAttempts": commit_attempts, "latencyMs": round(latency_ms, 1),
    }
    message = f"{function}: {outcome} {method} {path} → {status}" + (f": {detail}" if detail else "")
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    logging.getLogger(f"{LOGGER}.requests").log(_LEVEL[severity], message, extra={"entry": entry},
                                                 exc_info=exc_info)
