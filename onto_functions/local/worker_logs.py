"""Worker log lines, followed as they are written and shown readably (`onto --verbose emulate`).

The stack's workers log as deployed functions do: one Cloud Logging JSON
line per delivery (logs.py; the workers run with ONTO_LOG_FORMAT=json), into
their log files `<state>/logs/<trigger>.<instance>.log`, which keep the raw
lines. Raw JSON is hard to read while developing, so the foreground command
follows those files and prints each JSON line as one short line: time,
trigger, outcome, event, document, latency. Following the files (instead of
piping each worker through the host) leaves the workers' start and their
log files exactly as they are, and costs nothing when not asked for.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

LABELS = "logging.googleapis.com/labels"  # as logs.py writes it
WORKER_LOGS = "*.*.log"  # <trigger>.<instance>.log


def parse_line(line: str) -> dict[str, Any] | None:
    """A worker's structured log entry, or None for any other line (server start-up, a traceback)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and "severity" in entry else None


def readable(entry: dict[str, Any]) -> str:
    """One line: `12:00:01.234 trigger outcome event ID document 12.3 ms`, or the message of another entry."""
    when = _clock(entry.get("time"))
    labels = entry.get(LABELS) or {}
    if "outcome" not in labels:
        return f"{when} {entry.get('severity', '')} {entry.get('logger', '')}: {entry.get('message', '')}".strip()
    line = (f"{when} {labels.get('trigger', '?')} {labels['outcome']} event {labels.get('eventId', '?')} "
            f"{labels.get('document') or '?'} {entry.get('latencyMs', '?')} ms")
    if entry.get("severity") not in ("INFO", None):  # a failure's message ends with its error
        message = str(entry.get("message", ""))
        detail = message.split(": ", 2)[-1] if message.count(": ") >= 2 else ""
        line += f" ({detail.splitlines()[0]})" if detail else ""
    return line


def _clock(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone().strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        return "--:--:--.---"


class WorkerLogFollower:
    """Calls `on_entry` with each structured line appended to the worker logs of `log_dir`.

    Lines already in a file when following starts are skipped (an earlier
    run's); a file that appears later is read from its start. A background
    thread polls every `interval` seconds; `poll()` reads once, on the caller's thread.
    """

    def __init__(self, log_dir: Path, on_entry: Callable[[dict[str, Any]], None], *, interval: float = 0.2) -> None:
        self.log_dir = log_dir
        self.on_entry = on_entry
        self.interval = interval
        self._offsets = {path: path.stat().st_size for path in self._files()}
        self._partial: dict[Path, bytes] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _files(self) -> list[Path]:
        return sorted(self.log_dir.glob(WORKER_LOGS)) if self.log_dir.is_dir() else []

    def poll(self) -> int:
        """Read what was appended since the last poll; the number of entries passed on."""
        passed = 0
        for path in self._files():
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except OSError:
                continue
            self._offsets[path] = offset + len(chunk)
            *lines, rest = (self._partial.pop(path, b"") + chunk).split(b"\n")
            if rest:
                self._partial[path] = rest  # a line still being written
            for raw in lines:
                entry = parse_line(raw.decode("utf-8", errors="replace"))
                if entry is not None:
                    self.on_entry(entry)
                    passed += 1
        return passed

    def start(self) -> WorkerLogFollower:
        self._thread = threading.Thread(target=self._run, name="onto-worker-logs", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        """Stop following, after passing on what the files hold by now."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.poll()
