"""Tables, lines and a progress bar for `onto failures` and `onto backfill` (rendering only, no logic).

Errors, document paths and ids are the user's data: always shown literally
(rich Text), never parsed as markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from onto_functions.ops.dead_letters import DeadLetter, FailingEvent
from onto_functions.ops.operator import ReplayResult


def failures_table(letters: list[DeadLetter], failing: list[FailingEvent], where: str) -> Table:
    """Dead letters, then events still failing: trigger, document, attempts, error (its first line)."""
    table = Table(title=f"{len(letters)} dead letter(s), {len(failing)} failing event(s) in {where}")
    table.add_column("state", no_wrap=True)
    table.add_column("id", overflow="fold")
    table.add_column("trigger", no_wrap=True)
    table.add_column("document", overflow="fold")
    table.add_column("attempts", justify="right")
    table.add_column("error", overflow="fold")
    for letter in letters:
        state = Text("refused" if letter.refused else "dead letter", style="red")
        table.add_row(state, *_texts(letter.id, letter.trigger, letter.document, str(letter.failed_deliveries),
                                     _first_line(letter.error)))
    for event in failing:
        table.add_row(Text("failing", style="yellow"), *_texts("-", event.trigger, event.document,
                                                               str(event.deliveries), _first_line(event.last_error)))
    return table


def letter_lines(letter: DeadLetter) -> Text:
    """Every field of one letter, the error in full (a traceback reads as it was written)."""
    fields = letter.as_dict()
    error = fields.pop("error")
    lines = [Text.assemble((f"{key:<16}", "bold"), str(value)) for key, value in fields.items()]
    lines.append(Text.assemble(("error", "bold"), "\n", error))
    return Text("\n").join(lines)


def replay_line(result: ReplayResult) -> Text:
    outcome = result.outcome.status if result.outcome else "error"
    detail = result.error or (result.outcome.detail if result.outcome else "")
    line = Text.assemble((f"{outcome:<14}", "green" if result.ok else "red"), f"{result.letter.id}  "
                         f"{result.letter.document}")
    return line.append(f"  {_first_line(detail)}") if detail and not result.ok else line


class RateColumn(ProgressColumn):
    """Documents per second, as rich measures it over the last seconds."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} docs/s" if task.speed else "- docs/s", style="cyan")


def backfill_progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False)


def outcomes_text(outcomes: dict[str, Any]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items())) or "no documents"


def _texts(*cells: str) -> list[Text]:
    return [Text(cell) for cell in cells]


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines and lines[0].startswith("Traceback") else (lines[0] if lines else "")
