"""One structured log line per delivery, in the form Cloud Logging indexes.

Cloud Run (and so Cloud Functions 2nd gen) turns each JSON line a process
writes to stdout into a structured entry: `severity` sets the level,
`message` the summary, and `logging.googleapis.com/labels` become labels that
the Logs Explorer filters on (`labels.trigger="ticket-refresh-meeting"`,
`labels.outcome="dead_lettered"`). Plain text lines would all be one
severity and only searchable as text.

Configured at import by the entry point when the process is a deployed
function (the platform sets K_SERVICE) or when ONTO_LOG_FORMAT=json asks for
it (the local stack's workers); left alone otherwise, so tests and scripts
keep their own logging.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from . import outcome as status

LOGGER = "onto_functions"
LABELS = "logging.googleapis.com/labels"

_SEVERITY = {
    status.APPLIED: "INFO", status.DUPLICATE: "INFO", status.SUPERSEDED: "INFO", status.IGNORED: "INFO",
    status.FAILED: "WARNING", status.CONTENDED: "WARNING",
    status.DEAD_LETTERED: "ERROR", status.REFUSED: "ERROR",
}
_LEVEL = {"INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


class CloudLoggingFormatter(logging.Formatter):
    """A record as one JSON line: severity, message, labels, and the record's `entry` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"severity": _severity(record), "message": record.getMessage(),
                                 "logger": record.name}
        entry.update(getattr(record, "entry", {}))
        if record.exc_info:
            entry["message"] += "\n" + self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _severity(record: logging.LogRecord) -> str:
    entry = getattr(record, "entry", {})
    return entry.get("severity") or ("CRITICAL" if record.levelno >= logging.CRITICAL else record.levelname)


def configure(environ: dict[str, str] | None = None) -> bool:
    """Send onto's logs to stdout as Cloud Logging JSON when deployed or asked; True if it did."""
    env = os.environ if environ is None else environ
    wanted = env.get("ONTO_LOG_FORMAT", "json" if env.get("K_SERVICE") else "")
    if wanted != "json":
        return False
    logger = logging.getLogger(LOGGER)
    if any(isinstance(h.formatter, CloudLoggingFormatter) for h in logger.handlers):
        return True
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return True


def delivery(outcome_dict: dict[str, Any], *, document: str, latency_ms: float) -> None:
    """Log one delivery's outcome (the executor's `Outcome.as_dict()`) as one line."""
    name = str(outcome_dict.get("outcome", ""))
    severity = _SEVERITY.get(name, "INFO")
    labels = {"trigger": str(outcome_dict.get("trigger", "")), "eventId": str(outcome_dict.get("eventId", "")),
              "document": document, "outcome": name}
    entry = {
        "severity": severity, LABELS: labels, **labels,
        "commitAttempts": outcome_dict.get("commitAttempts", 0),
        "failedDeliveries": outcome_dict.get("failedDeliveries", 0),
        "latencyMs": round(latency_ms, 1),
    }
    detail = outcome_dict.get("detail") or outcome_dict.get("error") or ""
    message = f"{labels['trigger']}: {name} event {labels['eventId']} on {document or '?'}" + (
        f": {detail}" if detail else "")
    logging.getLogger(f"{LOGGER}.deliveries").log(_LEVEL[severity], message, extra={"entry": entry})
