"""One client request through a handler: a unit of work, one atomic commit, contention retried.

The trigger executor's loop (executor.py) settles deliveries of events:
marks, dead letters, failure counts, redeliveries. A client's request has
none of those: its caller is waiting for the answer, nothing redelivers it,
and a handler's error is an answer (a RequestError), not a failure to
count. What it shares with a trigger is what makes the effect atomic, and
that is reused, not copied: the handler runs against a `UnitOfWork`
(unit_of_work.py: reads recorded, writes buffered, one commit whose
preconditions prove nothing read has changed), a lost race re-runs it on
fresh data within `ContentionPolicy`'s bounds and jittered backoff, and a
document that lost a race takes turns inside the instance (hot_documents.py).

With an idempotency key (idempotency.py) the stored answer rides in the
same commit, created only if absent. The record is read before the
handler runs and again after every lost race or handler error: a request
whose key already has an answer returns it and applies nothing. Without a
key each request runs once; a commit whose fate is unknown is then
answered 503 rather than run again (it may have landed: only a key makes
a retry safe).
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from . import ledger
from .client_request import Request
from .contention import ContentionPolicy
from .executor import describe
from .hot_documents import HotDocuments
from .idempotency import Scope, StoredAnswer
from .request_errors import RequestError, internal_error
from .request_wire import encode_result
from .unit_of_work import CommitRejected, CommitUncertain, UnitOfWork, Write

APPLIED = "applied"  # the handler's writes (and the answer of its key) committed
REPLAYED = "replayed"  # the key's answer was stored already: returned, nothing applied
REFUSED = "refused"  # a RequestError: the caller's answer; nothing committed
FAILED = "failed"  # the handler (or its commit) failed unexpectedly: 500, nothing committed
CONTENDED = "contended"  # every commit attempt lost a race: 503, nothing committed


@dataclass(frozen=True)
class RunResult:
    outcome: str
    text: str | None = None  # the result's JSON text (applied, replayed)
    error: RequestError | None = None  # what the caller is told otherwise
    commit_attempts: int = 0
    detail: str = ""  # for the log only: never shown to the caller
    exc: BaseException | None = None  # an unexpected exception, for the log's traceback


class RequestRunner:
    """Runs one request function's handler (one per process, shared by its threads)."""

    def __init__(self, handler: Callable[[Request, UnitOfWork], Any], *, contention: ContentionPolicy,
                 clock: Callable[[], datetime] = ledger.utcnow, rng: random.Random | None = None) -> None:
        self.handler = handler
        self.contention = contention
        self.clock = clock
        self.rng = rng or random.Random()
        self.hot = HotDocuments()

    def run(self, client: Any, request: Request, scope: Scope | None) -> RunResult:
        return _Run(self, client, request, scope).run()


class _Run:
    def __init__(self, runner: RequestRunner, client: Any, request: Request, scope: Scope | None) -> None:
        self.runner = runner
        self.client = client
        self.request = request
        self.scope = scope
        self.token = uuid.uuid4().hex  # tells this request's own stored answer from a concurrent one's
        self.attempts = 0
        self.started = time.monotonic()
        self.stored: StoredAnswer | None = None
        self.queued: list = []
        self.pause = 0.0

    def run(self) -> RunResult:
        while True:
            settled = self._settled()
            if settled is not None:
                return settled
            self.attempts += 1
            done = self._attempt()
            if done is not None:
                return done
            time.sleep(self.pause)

    def _settled(self) -> RunResult | None:
        """The key's stored answer, if it has one (None without a key, or to run the handler)."""
        if self.scope is None:
            return None
        stored = self.stored = self.scope.read(self.client, self.runner.clock())
        if stored is None or stored.expired:
            return None
        try:
            text = self.scope.replay(stored)
        except RequestError as exc:
            return self._result(REFUSED, error=exc)
        return self._result(APPLIED if stored.token == self.token else REPLAYED, text=text)

    def _attempt(self) -> RunResult | None:
        held = self.queued
        with self.runner.hot.turn(held, self._remaining()):
            work = UnitOfWork(self.client)
            try:
                text = encode_result(self.runner.handler(self.request, work))
            except RequestError as exc:
                return self._settled() or self._result(REFUSED, error=exc)
            except Exception as exc:  # the handler's own bug: 500, its detail only in the log
                return self._settled() or self._failed(exc)
            keys = [(work.client.project, work.client.database, p) for p in work.writes]
            with self.runner.hot.turn([] if held else keys, self._remaining()):
                try:
                    work.commit(self._bookkeeping(text))
                except (CommitRejected, CommitUncertain) as exc:
                    return self._lost_race(exc, keys)
                except Exception as exc:  # Firestore refused the writes (too large, invalid)
                    return self._failed(exc)
        return self._result(APPLIED, text=text)

    def _bookkeeping(self, text: str) -> list[tuple[Write, Any]]:
        if self.scope is None:
            return []
        record = self.scope.record(text, self.token, self.runner.clock())
        if self.stored is not None:  # an expired answer TTL has not deleted yet: replace exactly that one
            return [(Write("set", self.scope.path, record), self.stored.update_time)]
        return [(Write("create", self.scope.path, record), True)]

    def _lost_race(self, exc: Exception, keys: list) -> RunResult | None:
        if self.scope is None and isinstance(exc, CommitUncertain):
            return self._result(CONTENDED, error=RequestError("UNAVAILABLE", "the outcome of this request is "
                                "unknown; send an idempotency key to retry it safely"), detail=str(exc))
        if keys and isinstance(exc, CommitRejected):
            self.runner.hot.mark(keys)
            self.queued = keys
        policy = self.runner.contention
        elapsed = time.monotonic() - self.started
        if self.attempts >= policy.max_commit_attempts or elapsed >= policy.deadline_seconds:
            detail = f"lost every commit race: {self.attempts} commit attempts in {elapsed:.1f} s; last: {exc}"
            return self._settled() or self._result(CONTENDED, error=RequestError(
                "UNAVAILABLE", "too many concurrent writes; retry later"), detail=detail)
        self.pause = policy.delay(self.attempts, self.runner.rng)
        return None

    def _remaining(self) -> float:
        return self.runner.contention.deadline_seconds - (time.monotonic() - self.started)

    def _failed(self, exc: Exception) -> RunResult:
        return self._result(FAILED, error=internal_error(), detail=describe(exc), exc=exc)

    def _result(self, outcome: str, **fields: Any) -> RunResult:
        return RunResult(outcome, commit_attempts=self.attempts, **fields)
