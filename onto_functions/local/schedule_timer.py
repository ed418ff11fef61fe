"""Fires schedule triggers on the local stack, as Cloud Scheduler does in production.

Each schedule trigger gets its next fire time from its own schedule and time
zone (schedules.py); when it comes, the timer hands the host Cloud
Scheduler's call for that time, which the host stores and delivers like any
event: so a tick runs through the queue, the worker and the ledger, and a
tick fired twice (a restarted stack) is a duplicate.

`period_seconds` is for tests and demos only, and exists only here: every
schedule then fires on multiples of that period instead of its own schedule.
Production schedules are Cloud Scheduler's, from the deployed manifest.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping, Sequence

from ..schedules import parse_schedule
from ..spec import EventKind, TriggerSpec
from ..stream_encoding import encode_tick
from ..stream_events import TickEvent

log = logging.getLogger("onto_functions.local")

Accept = Callable[[str, Mapping[str, str], bytes], tuple[int, bytes]]


class ScheduleTimer:
    """A thread that fires every schedule trigger of `specs` through `accept` (the host's front)."""

    def __init__(self, specs: Sequence[TriggerSpec], accept: Accept, *, project: str,
                 period_seconds: float | None = None) -> None:
        self.specs = [s for s in specs if s.kind is EventKind.TICK]
        self.accept = accept
        self.project = project
        self.period = timedelta(seconds=period_seconds) if period_seconds else None
        self.fired: dict[str, int] = {s.name: 0 for s in self.specs}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ScheduleTimer:
        if self.specs and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="onto-schedules", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def next_after(self, spec: TriggerSpec, moment: datetime) -> datetime:
        if self.period is not None:
            epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
            return epoch + ((moment - epoch) // self.period + 1) * self.period
        return parse_schedule(spec.schedule or "", spec.timezone).next_after(moment)

    def _run(self) -> None:
        now = datetime.now(timezone.utc)
        due = {s.name: self.next_after(s, now) for s in self.specs}
        by_name = {s.name: s for s in self.specs}
        while not self._stop.is_set():
            name = min(due, key=lambda n: due[n])
            wait = (due[name] - datetime.now(timezone.utc)).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, 1.0))
                continue
            self._fire(by_name[name], due[name])
            # A tick missed while the host was busy is not made up, as Cloud Scheduler does not.
            due[name] = self.next_after(by_name[name], max(due[name], datetime.now(timezone.utc)))

    def _fire(self, spec: TriggerSpec, scheduled: datetime) -> None:
        tick = TickEvent(time=scheduled, project=self.project, database=spec.options.database, job=f"onto-{spec.name}")
        headers, body = encode_tick(tick)
        status, answer = self.accept(spec.name, headers, body)
        self.fired[spec.name] += 1
        if status != 200:
            log.warning("%s: the host refused the tick of %s: %s", spec.name, tick.id, answer[:200])
