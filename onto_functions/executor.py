"""The Query+Task executor: each event's effect commits exactly once, on any instance.

One delivery of an event runs this loop (see `_Delivery.run`):

1. Settle what the ledger already knows, in one round trip: a mark means the
   event was applied (by any instance, fresh or warm): a duplicate, nothing
   written. A dead letter means it was given up on. An event older than
   `max_event_age_seconds` is dead-lettered. Under *latest state* semantics a
   watermark at or past this event's version means a newer event of the same
   document was applied: the event is superseded, so a late event never
   regresses a view.
2. Run the handler against a UnitOfWork (reads recorded, writes buffered),
   then commit its writes and the ledger mark (and, for latest state, the
   advanced watermark) in one atomic commit whose preconditions prove that
   nothing it read has changed and that the mark does not exist yet.
3. The commit alone says what contention is. A rejected or uncertain commit
   is never named before the ledger is read again: a mark found then makes
   the delivery a duplicate (or, carrying this delivery's token, applied).
   Otherwise the attempt is re-run on fresh data after jittered backoff,
   bounded by attempts and a deadline; running out answers "contended"
   (non-2xx: redeliver) without counting a handler failure.
4. An exception from the handler is the handler's: no re-run in this
   delivery. The failed delivery is counted, non-2xx asks for a redelivery,
   and at `max_deliveries` (or at once when the platform will not redeliver,
   or when the event's own data does not fit the model) the event is
   dead-lettered and acknowledged. Nothing is silently lost.

A Pub/Sub message or a schedule's tick (stream_events.py) runs the same
loop; the document steps (path match, kind check, watermark) are the
document source's own, so for them the loop is steps 1-4 with the ledger
mark alone.

Step 1's round trip is skipped when the answer can be guessed, which is the
common case: under *every event* semantics the mark's create precondition
proves "not applied yet" by itself; under *latest state* the process guesses
the watermark (watermarks.py). A wrong guess commits nothing and costs one
more attempt, with the read.
"""

from __future__ import annotations

import random
import time
import traceback
import uuid
from datetime import datetime
from typing import Any, Callable

from . import ledger
from . import outcome as status
from .change import UnfitSnapshot
from .contention import ContentionPolicy
from .failures import FailureBook
from .hot_documents import HotDocuments
from .ledger import AnyEvent, LedgerState
from .mediator import Mediator
from .messages import UnfitMessage
from .outcome import Outcome
from .spec import Mode, Semantics, TriggerSpec
from .unit_of_work import CommitRejected, CommitUncertain, UnitOfWork, Write
from .watermarks import NO_GUESS, WatermarkCache, applied_order

class Executor:
    """Runs one trigger's handler for decoded events (one per function process, shared by its threads)."""

    def __init__(
        self,
        spec: TriggerSpec,
        mediator: Mediator,
        *,
        client_for: Callable[[str, str], Any],
        contention: ContentionPolicy = ContentionPolicy(),
        clock: Callable[[], datetime] = ledger.utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        attr, self.source = type(mediator).handler_for(spec.name)
        self.handler = getattr(mediator, attr)
        self.client_for = client_for
        self.contention = contention.within_timeout(spec.options.timeout_seconds)
        self.clock = clock
        self.rng = rng or random.Random()
        self.failures = FailureBook(spec, clock)
        self.watermarks = WatermarkCache()
        self.hot = HotDocuments()
        self.keeps_ledger = spec.mode is Mode.EXACTLY_ONCE
        self.latest_state = self.keeps_ledger and spec.semantics is Semantics.LATEST_STATE

    def process(self, event: AnyEvent) -> Outcome:
        """One delivery of a document event, a message or a tick (the source says which it takes)."""
        bound, ignored = self.source.bind(event, self.spec.kind)
        if bound is None:
            return self.outcome(status.IGNORED, event, detail=ignored)
        return _Delivery(self, self.client_for(bound.project, bound.database), bound).run()

    def outcome(self, name: str, event: AnyEvent, **fields: Any) -> Outcome:
        return Outcome(status=name, trigger=self.spec.name, event_id=event.id, **fields)

    def mark(self, event: AnyEvent, name: str, token: str) -> dict[str, Any]:
        now = self.clock()
        return {
            "trigger": self.spec.name, "eventId": event.id, "document": event.subject,
            "eventType": event.event_type, "version": event.version, "outcome": name,
            "committedAt": now, "attemptToken": token,
            ledger.EXPIRY_FIELD: ledger.expiry(now, self.spec.options.ledger_ttl_days),
        }

    def watermark(self, event: Any) -> dict[str, Any]:
        version, rank = event.order_key
        return {
            "trigger": self.spec.name, "document": event.document, "version": version, "rank": rank,
            "eventId": event.id,
            ledger.EXPIRY_FIELD: ledger.expiry(self.clock(), self.spec.options.ledger_ttl_days),
        }


class _Delivery:
    """One delivery of one event: the attempts, what the ledger said, what to answer."""

    def __init__(self, executor: Executor, client: Any, event: AnyEvent) -> None:
        self.executor = executor
        self.client = client
        self.event = event
        self.token = uuid.uuid4().hex  # tells this delivery's own mark from a concurrent one's
        self.commit_attempts = 0
        self.started = time.monotonic()
        self.state: LedgerState | None = None
        self.guess: Any = self._first_guess()
        self.unproven_create: UnitOfWork | None = None
        self.queued: list = []  # hot documents whose turn the next attempt takes
        self.skipped_read = False  # the last retry went without reading the ledger
        self.pause = 0.0  # backoff before the next attempt

    # -- the loop ------------------------------------------------------------
    def run(self) -> Outcome:
        while True:
            settled = self._settle()
            if settled is not None:
                return settled
            self.commit_attempts += 1
            done = self._attempt()
            if done is not None:
                return done
            time.sleep(self.pause)

    def _attempt(self) -> Outcome | None:
        """Run the handler and commit once; None to go again. A retry of a hot document
        holds its turn throughout (hot_documents.py); a first attempt only while committing."""
        held = self.queued
        with self.executor.hot.turn(held, self._remaining()):
            work = UnitOfWork(self.client)
            try:
                self.executor.handler(self.executor.source.argument(self.event), work)
            except (UnfitSnapshot, UnfitMessage) as exc:
                return self._handler_failed(exc, permanent=True)
            except Exception as exc:  # the handler's own error: never contention
                return self._handler_failed(exc)
            keys = [(self.event.project, self.event.database, path) for path in work.writes]
            with self.executor.hot.turn([] if held else keys, self._remaining()):
                try:
                    written = work.commit(self._bookkeeping())
                except (CommitRejected, CommitUncertain) as exc:
                    return self._lost_race(work, exc, keys, queued=bool(held))
                except Exception as exc:  # Firestore refused the handler's writes (too large, invalid)
                    return self._handler_failed(exc)
        return self._applied(written)

    def _remaining(self) -> float:
        return self.executor.contention.deadline_seconds - (time.monotonic() - self.started)

    def _settle(self) -> Outcome | None:
        """An outcome decided without running the handler, or None to run it."""
        if not self.executor.keeps_ledger:
            return self._too_old() or (self._create_conflict() if self.unproven_create is not None else None)
        if self.guess is not NO_GUESS:
            return None
        state = self.state = ledger.read_state(self.client, self.executor.spec.name, self.event)
        if state.mark is not None:
            ours = state.mark.data.get("attemptToken") == self.token  # our uncertain commit landed
            return self._done(status.APPLIED if ours else status.DUPLICATE)
        if state.dead_letter is not None:
            return self._done(status.DEAD_LETTERED, detail=str(state.dead_letter.data.get("error", "")))
        too_old = self._too_old()
        if too_old is not None or self._superseded(state):
            return too_old or self._supersede()
        if self.unproven_create is not None:
            return self._create_conflict()
        return None

    # -- guesses and bookkeeping ----------------------------------------------
    def _first_guess(self) -> Any:
        """What the commit may assume instead of reading the ledger first (NO_GUESS: read)."""
        if not self.executor.keeps_ledger or self._age() > self.executor.spec.options.max_event_age_seconds:
            return NO_GUESS
        return self.executor.watermarks.guess(self.event) if self.executor.latest_state else None

    def _bookkeeping(self) -> list[tuple[Write, Any]]:
        if not self.executor.keeps_ledger:
            return []
        name, event, key = self.executor.spec.name, self.event, ledger.event_key(self.event)
        mark = self.executor.mark(event, status.APPLIED, self.token)
        guarded: list[tuple[Write, Any]] = [
            (Write("create", ledger.mark_path(name, key), mark), True),
            (Write("delete", ledger.dead_letter_path(name, key)), None),  # asserts: not dead-lettered
        ]
        if self.executor.latest_state:
            guarded.append((Write("set", ledger.watermark_path(name, event.document), self.executor.watermark(event)),
                            self._watermark_guard()))
        return guarded

    def _watermark_guard(self) -> Any:
        if self.guess is not NO_GUESS:
            return self.guess
        seen = self.state.watermark if self.state is not None else None
        return seen.update_time if seen is not None else None

    def _superseded(self, state: LedgerState) -> bool:
        seen = state.watermark
        return self.executor.latest_state and seen is not None and applied_order(seen.data) >= self.event.order_key

    def _supersede(self) -> Outcome:
        mark = self.executor.mark(self.event, status.SUPERSEDED, self.token)
        path = ledger.mark_path(self.executor.spec.name, ledger.event_key(self.event))
        try:  # marked too, so a redelivery of this event is a cheap duplicate
            UnitOfWork(self.client).commit([(Write("create", path, mark), True)])
        except (CommitRejected, CommitUncertain):
            pass  # a concurrent delivery marked it: settled either way
        return self._done(status.SUPERSEDED)

    # -- after the commit ---------------------------------------------------------
    def _applied(self, written: dict[str, datetime]) -> Outcome:
        if self.executor.latest_state:
            path = ledger.watermark_path(self.executor.spec.name, self.event.document)
            if path in written:
                self.executor.watermarks.remember(self.event, written[path])
        return self._done(status.APPLIED)

    def _lost_race(self, work: UnitOfWork, exc: Exception, keys: list, *, queued: bool) -> Outcome | None:
        """Prepare the next attempt (read the ledger first; queue on what was contended; back
        off unless a guess was wrong or the queue will space attempts), or answer "contended"
        when the bounds are spent."""
        guessed = self.guess is not NO_GUESS
        rejected = isinstance(exc, CommitRejected)
        # Under every-event semantics a failed precondition on the handler's writes says the
        # mark was still absent, and the next commit's create of it proves that again: no read.
        # A create that found its document (the mark's?) or an unknown fate must be read.
        again = (rejected and not exc.found_existing and self.executor.keeps_ledger and not self.executor.latest_state
                 and not self.skipped_read)  # never twice in a row: a rejection may hide a dead letter
        self.skipped_read = again
        self.guess = None if again else NO_GUESS
        self.executor.watermarks.forget(self.event.subject)
        self.unproven_create = work if rejected and exc.found_existing and work.writes else None
        if rejected and keys:
            self.executor.hot.mark(keys)
            self.queued = keys
        elapsed = time.monotonic() - self.started
        policy = self.executor.contention
        if self.commit_attempts >= policy.max_commit_attempts or elapsed >= policy.deadline_seconds:
            return self._contended(f"lost every commit race: {self.commit_attempts} commit attempts in {elapsed:.1f} s; last: {exc}")
        # Lost while holding the turn: another instance writes here too; spread out.
        backoff = queued or not ((guessed and not again) or self.queued)
        self.pause = policy.delay(self.commit_attempts, self.executor.rng) if backoff else 0.0
        return None

    def _contended(self, detail: str) -> Outcome:
        """Redeliver later without counting a handler failure; with retries off no
        redelivery will come, so the event is dead-lettered instead of dropped."""
        if self.executor.keeps_ledger:
            settled = self._settle_now()
            if settled is not None:
                return settled
        if not self.executor.spec.options.retry:
            return self._dead_letter(detail, 0)
        return self._done(status.CONTENDED, detail=detail)

    def _create_conflict(self) -> Outcome | None:
        """After a rejected create, with no mark in the ledger: the handler's create, or contention?"""
        work, self.unproven_create = self.unproven_create, None
        existing = work.created_paths_that_exist() if work is not None else []
        if existing:
            error = RuntimeError(f"the handler creates {', '.join(existing)}, which already exists")
            return self._handler_failed(error)
        return None

    # -- failures ------------------------------------------------------------------
    def _settle_now(self) -> Outcome | None:
        """Read the ledger now: the event may be a redelivery of one already applied."""
        self.guess = NO_GUESS
        return self._settle()

    def _handler_failed(self, exc: Exception, *, permanent: bool = False) -> Outcome:
        if self.executor.keeps_ledger:
            settled = self._settle_now()  # another instance may have applied it meanwhile
            if settled is not None:
                return settled
        error = describe(exc)
        seen = self.state.failure if self.state is not None else None
        before = int(seen.data.get("deliveries", 0)) if seen else 0
        if permanent:
            return self._dead_letter(f"the event does not fit the source model: {error}", before + 1)
        options = self.executor.spec.options
        if not options.retry:  # nothing will redeliver: no count to keep
            return self._dead_letter(error, before + 1)
        failed = self.executor.failures.count(self.client, self.event, error, seen)
        if failed >= options.max_deliveries:
            return self._dead_letter(error, failed)
        return self._done(status.FAILED, failed_deliveries=failed, detail=error)

    def _too_old(self) -> Outcome | None:
        age, limit = self._age(), self.executor.spec.options.max_event_age_seconds
        if age <= limit:
            return None
        seen = self.state.failure if self.state is not None else None
        failed = int(seen.data.get("deliveries", 0)) if seen else 0
        hint = "" if failed else "; no delivery of it ever finished (each timed out or crashed?)"
        return self._dead_letter(f"event is {age:.0f} s old, past max_event_age_seconds={limit}{hint}", failed)

    def _dead_letter(self, reason: str, failed: int) -> Outcome:
        if not self.executor.failures.dead_letter(self.client, self.event, reason, failed_deliveries=failed,
                                           unless_applied=self.executor.keeps_ledger):
            return self._settle_now() or self._done(status.DUPLICATE)  # applied meanwhile: not dead
        return self._done(status.DEAD_LETTERED, failed_deliveries=failed, detail=reason)

    def _age(self) -> float:
        return (self.executor.clock() - self.event.time).total_seconds()

    def _done(self, name: str, **fields: Any) -> Outcome:
        return self.executor.outcome(name, self.event, commit_attempts=self.commit_attempts, **fields)


def describe(exc: BaseException) -> str:
    """The error and where it was raised, without the whole traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
