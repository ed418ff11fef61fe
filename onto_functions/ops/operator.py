"""An operator's session: one target Firestore, the app's triggers, and their executors, in this process.

`onto failures replay` and `onto backfill` run a trigger's handler here, in
the operator's process, not in a deployed function: the code that runs is
the app as imported here (so a bug fixed in the working copy is fixed for
the replay, before any deploy). Each trigger gets its own executor with
retries off (offline.py), on the target's client. The CLI only parses and
renders around these calls, so a test makes the same calls without a shell.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import outcome as status
from ..discovery import discover
from ..executor import Executor
from ..outcome import Outcome
from ..spec import TriggerSpec
from . import backfill
from .dead_letters import DeadLetter, ReplayError, dead_letter, dead_letters, replay
from .offline import offline_executor
from .target import Target

SETTLED = frozenset({status.APPLIED, status.DUPLICATE, status.SUPERSEDED, status.IGNORED})
CHECKPOINTS = Path(".onto") / "backfill"


class OpsError(ValueError):
    """A command that cannot run as asked: a trigger not in the app, an unknown letter, nothing selected."""


@dataclass(frozen=True)
class ReplayResult:
    """One letter replayed: the executor's outcome, or why it could not run."""

    letter: DeadLetter
    outcome: Outcome | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is not None and self.outcome.status in SETTLED

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.letter.id, "trigger": self.letter.trigger, "document": self.letter.document,
                "outcome": self.outcome.status if self.outcome else "error",
                "detail": self.error or (self.outcome.detail if self.outcome else "")}


@dataclass
class Operator:
    """The app `app` (imported from the project folder `root`) working on `target`."""

    target: Target
    app: str
    root: Path
    _specs: dict[str, TriggerSpec] | None = field(default=None, repr=False)
    _executors: dict[str, Executor] = field(default_factory=dict, repr=False)

    @property
    def client(self) -> Any:
        return self.target.client()

    def specs(self) -> dict[str, TriggerSpec]:
        """The app's triggers by name, imported in this process (the project folder first on sys.path)."""
        if self._specs is None:
            folder = str(self.root.resolve())
            if folder not in sys.path:
                sys.path.insert(0, folder)
            self._specs = {spec.name: spec for spec in discover(self.app)}
        return self._specs

    def spec(self, trigger: str) -> TriggerSpec:
        specs = self.specs()
        if trigger not in specs:
            raise OpsError(f"no trigger {trigger!r} in the app {self.app}; its triggers: {', '.join(sorted(specs))}")
        return specs[trigger]

    def executor(self, trigger: str) -> Executor:
        if trigger not in self._executors:
            self._executors[trigger] = offline_executor(self.spec(trigger), client_for=self.target.client_for)
        return self._executors[trigger]

    # ------------------------------------------------------------------ dead letters

    def select(self, ids: Iterable[str] = (), *, every: bool = False, trigger: str | None = None) -> list[DeadLetter]:
        """The letters named by id (replayed ones too), or with `every` all current ones (of `trigger`)."""
        ids = list(ids)
        if ids and every:
            raise OpsError("give letter ids or --all, not both")
        if not ids and not every:
            raise OpsError("give the ids of the letters to replay (see `onto failures list`) or --all")
        if every:
            return dead_letters(self.client, trigger)
        try:
            return [dead_letter(self.client, letter_id) for letter_id in ids]
        except ReplayError as exc:
            raise OpsError(str(exc)) from None

    def replay(self, letters: list[DeadLetter],
               on_result: Callable[[ReplayResult], None] = lambda result: None) -> list[ReplayResult]:
        """Replay each letter through its trigger's executor; every trigger must be in the app (checked first)."""
        missing = sorted({letter.trigger for letter in letters} - set(self.specs()))
        if missing:
            raise OpsError(f"the app {self.app} has no trigger {', '.join(map(repr, missing))} (a dead letter's "
                           f"trigger); pass the app that has it with --app, or narrow with --trigger")
        results = []
        for letter in letters:
            try:
                result = ReplayResult(letter, replay(self.client, self.executor(letter.trigger), letter))
            except ReplayError as exc:
                result = ReplayResult(letter, None, str(exc))
            on_result(result)
            results.append(result)
        return results

    # ------------------------------------------------------------------ backfill

    def backfill_plan(self, trigger: str, **options: Any) -> backfill.BackfillPlan:
        try:
            return backfill.BackfillPlan(self.spec(trigger), self.target.project, **options)
        except backfill.BackfillError as exc:
            raise OpsError(str(exc)) from None

    def checkpoint(self, trigger: str) -> backfill.Checkpoint:
        """Where a backfill of `trigger` on this project keeps its place: .onto/backfill/<project>/<trigger>.json."""
        return backfill.Checkpoint(self.root / CHECKPOINTS / self.target.project / f"{trigger}.json")

    def backfill(self, plan: backfill.BackfillPlan, *, restart: bool = False,
                 progress: Callable[[backfill.BackfillReport], None] = lambda report: None) -> backfill.BackfillReport:
        """Run (or resume) the backfill; `restart` forgets where an earlier run stopped."""
        checkpoint = self.checkpoint(plan.spec.name)
        if restart:
            checkpoint.clear()
        return backfill.run(self.client, self.executor(plan.spec.name), plan, checkpoint=checkpoint,
                            progress=progress)
