"""`onto failures` and `onto backfill`: operating an app's dead letters and backfills from the shell.

Each command finds where it works (`onto_functions.ops.target`: the running
`onto emulate`, an emulator, or a real project), builds an
`onto_functions.ops.operator.Operator` when it runs handlers, makes one
library call and renders the result, so a test makes the same calls
without a shell. Exit codes as every `onto` command: 0 done, 1 a step failed
(an event failed again, a backfill was interrupted or dead-lettered
documents), 2 bad input, 3 refused (no target, a demo- project with no
emulator, no credentials).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, NoReturn, Optional, TypeVar

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:  # the operations library loads when an ops command runs, not for every `onto` command
    from onto_functions.ops import backfill as backfills
    from onto_functions.ops.operator import Operator
    from onto_functions.ops.target import Target

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3
T = TypeVar("T")

FAILURES_HELP = (
    "Dead letters and failing events: list, show, replay, discard.\n\n"
    "An event whose handler kept failing (max_deliveries) is kept as a dead letter with its whole request. "
    "After the bug is fixed, `replay` runs it again through the trigger's own executor, in this process "
    "with the app as it is on disk here: applied once, or a duplicate if it was applied meanwhile. "
    "`discard` gives it up for good (a late redelivery is then a duplicate too).\n\n"
    "Where: the running `onto emulate` in this folder; `-p demo-…` its stack or $FIRESTORE_EMULATOR_HOST; "
    "`-p PROJECT` a deployed project, with Application Default Credentials.\n\n"
    "[bold]Examples[/bold]\n\n"
    "  onto failures list\n\n"
    "  onto failures list --trigger ticket-refresh-meeting --json\n\n"
    "  onto failures show 'ticket-refresh-meeting~tickets%2Ft1%40…'\n\n"
    "  onto failures replay --all -p my-project\n\n"
    "  onto failures discard ID --reason 'bad data, fixed by hand'"
)
BACKFILL_HELP = (
    "Run TRIGGER over the documents that already exist, as if each were written now.\n\n"
    "A view fills only as its sources change; a backfill gives every existing source document its event, "
    "through the trigger's own executor, in this process, with the app as it is on disk here. The ledger "
    "keys events by document state, so a rerun and live events racing the backfill apply each state once; "
    "all pages are read at one snapshot time, so a live change during the backfill is applied by its own "
    "event. A progress bar shows documents, rate and ETA.\n\n"
    "Resumable: after each page the place is saved in .onto/backfill/PROJECT/TRIGGER.json; after Ctrl-C the "
    "same command resumes there (within an hour: Firestore reads a past snapshot up to an hour back); "
    "--restart starts over (what was applied is then a duplicate).\n\n"
    "--where FIELD=VALUE narrows to documents whose Firestore field equals VALUE: JSON when it parses "
    "(3, true, null, \"3\"), else the text as it is.\n\n"
    "[bold]Examples[/bold]\n\n"
    "  onto backfill ticket-refresh-meeting --dry-run\n\n"
    "  onto backfill ticket-refresh-meeting --where attendance=true --limit 100\n\n"
    "  onto backfill player-add-points -p my-project --concurrency 16 --rate 200"
)

ProjectOpt = typer.Option(None, "--project", "-p", help="Project id (default: the running `onto emulate`'s).")
AppOpt = typer.Option(None, "--app", help="The app whose triggers run: 'package.module[:attr]' "
                                          "(default: \\[tool.onto] app, else the running stack's app).")
TriggerOpt = typer.Option(None, "--trigger", "-t", help="Only this trigger's (function name).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")

failures = typer.Typer(help=FAILURES_HELP, no_args_is_help=True, rich_markup_mode="rich")


def register(app: typer.Typer) -> None:
    app.add_typer(failures, name="failures")
    app.command("backfill", help=BACKFILL_HELP)(backfill)


# --------------------------------------------------------------------------- failures


@failures.command("list")
def list_failures(trigger: Optional[str] = TriggerOpt, project: Optional[str] = ProjectOpt,
                  as_json: bool = JsonOpt) -> None:
    """Dead letters and events still failing, per trigger, with error and attempts.

      onto failures list --trigger ticket-refresh-meeting --json
    """
    from onto_functions.ops import dead_letters as letters
    from . import ops_render

    target = _guard(lambda: _target(project))
    found = _guard(lambda: (letters.dead_letters(target.client(), trigger),
                            letters.failing_events(target.client(), trigger)))
    if as_json:
        _print_json({"project": target.project, "deadLetters": [d.as_dict() for d in found[0]],
                     "failingEvents": [f.as_dict() for f in found[1]]})
    else:
        Console().print(ops_render.failures_table(*found, target.description))


@failures.command("show")
def show_failure(letter_id: str = typer.Argument(..., metavar="ID", help="A dead letter's id (`onto failures list`)."),
                 project: Optional[str] = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """One dead letter in full: trigger, event, document, attempts, the whole error.

      onto failures show 'orders-total~orders%2Fbad%40…'
    """
    from onto_functions.ops import dead_letters as letters
    from . import ops_render

    target = _guard(lambda: _target(project))
    letter = _guard(lambda: letters.dead_letter(target.client(), letter_id))
    if as_json:
        _print_json(letter.as_dict())
    else:
        Console().print(ops_render.letter_lines(letter))


@failures.command("replay")
def replay_failures(
    letter_ids: Optional[List[str]] = typer.Argument(None, metavar="[ID]...", help="Letters to replay."),
    every: bool = typer.Option(False, "--all", help="Replay every dead letter (of --trigger, if given)."),
    trigger: Optional[str] = TriggerOpt, app_ref: Optional[str] = AppOpt, project: Optional[str] = ProjectOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run dead letters again through their trigger's executor, here, with the app as it is on disk now.

    Prints each outcome: applied (once), duplicate (applied meanwhile, or by an
    earlier replay), dead_lettered (it failed again: a new letter keeps it).
    Exits 1 if any failed again.

      onto failures replay --all

      onto failures replay ID1 ID2 --app myapp.main -p my-project
    """
    from . import ops_render

    operator = _guard(lambda: _operator(project, app_ref))
    chosen = _guard(lambda: operator.select(letter_ids or (), every=every, trigger=trigger))
    err = Console(stderr=True)
    show = (lambda result: None) if as_json else (lambda result: err.print(ops_render.replay_line(result)))
    results = _guard(lambda: operator.replay(chosen, show))
    if as_json:
        _print_json([r.as_dict() for r in results])
    elif not results:
        err.print(Text(f"no dead letters to replay in {operator.target.description}"))
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_FAILED)


@failures.command("discard")
def discard_failure(letter_id: str = typer.Argument(..., metavar="ID", help="A dead letter's id."),
                    reason: str = typer.Option("discarded by hand", "--reason", help="Kept in the ledger mark."),
                    project: Optional[str] = ProjectOpt) -> None:
    """Give a dead letter up for good: marked "discarded" in the ledger, so a late redelivery is a duplicate.

      onto failures discard ID --reason 'test data'
    """
    from onto_functions import ledger
    from onto_functions.ops import dead_letters as letters

    target = _guard(lambda: _target(project))
    letter = _guard(lambda: letters.dead_letter(target.client(), letter_id))
    if not letter.path.startswith(f"{ledger.DEAD_LETTERS}/"):
        _exit(EXIT_BAD_INPUT, f"{letter_id} was replayed already; nothing to discard")
    _guard(lambda: letters.discard(target.client(), letter, reason))
    Console(stderr=True).print(Text(f"discarded {letter.id} ({letter.trigger}, {letter.document})"))


# --------------------------------------------------------------------------- backfill


def backfill(
    trigger: str = typer.Argument(..., metavar="TRIGGER", help="The trigger (function name) to run over existing documents."),
    where: Optional[List[str]] = typer.Option(None, "--where", metavar="FIELD=VALUE",
                                              help="Only documents whose field equals VALUE (repeatable)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most this many documents."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256, help="Events in flight."),
    rate: Optional[float] = typer.Option(None, "--rate", min=0.01, help="At most this many documents per second."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print how many documents it would run over; write nothing."),
    restart: bool = typer.Option(False, "--restart", help="Ignore where an interrupted run stopped; start over."),
    app_ref: Optional[str] = AppOpt, project: Optional[str] = ProjectOpt, as_json: bool = JsonOpt,
) -> None:
    from onto_functions.ops import backfill as backfills

    from . import ops_render

    operator = _guard(lambda: _operator(project, app_ref))
    plan = _guard(lambda: operator.backfill_plan(trigger, where=backfills.parse_where(where or []), limit=limit,
                                                 concurrency=concurrency, rate=rate))
    err = Console(stderr=True)
    saved = {} if restart else operator.checkpoint(trigger).load()
    total = _guard(lambda: backfills.count(operator.client, plan))
    if dry_run:
        _dry_run(operator, plan, total, saved, as_json)
        return
    if saved:
        err.print(Text(f"resuming after {saved.get('after')} ({saved.get('documents', 0)} documents done, "
                       f"snapshot {saved.get('readTime')}); --restart to start over"))
    report = _run_backfill(operator, plan, restart, total, quiet=as_json)
    if as_json:
        _print_json({"trigger": trigger, "project": operator.target.project, **report.as_dict()})
    else:
        err.print(Text(f"{trigger}: {ops_render.outcomes_text(report.outcomes)} in {report.seconds:.1f} s"))
    failed = sum(n for name, n in report.outcomes.items() if name not in ("applied", "duplicate", "superseded",
                                                                             "ignored"))
    if failed:
        _exit(EXIT_FAILED, f"{failed} document(s) did not apply: see `onto failures list --trigger {trigger}`")


def _dry_run(operator: Operator, plan: backfills.BackfillPlan, total: int, saved: dict[str, Any],
             as_json: bool) -> None:
    if as_json:
        _print_json({"trigger": plan.spec.name, "project": operator.target.project, "documents": total,
                     "document": plan.spec.document, "checkpoint": saved or None})
        return
    err = Console(stderr=True)
    err.print(Text(f"{total} document(s) of {plan.spec.document} would run through {plan.spec.name} "
                   f"in {operator.target.description} (dry run: nothing written)"))
    if saved:
        err.print(Text(f"an interrupted run would resume after {saved.get('after')}"))


def _run_backfill(operator: Operator, plan: backfills.BackfillPlan, restart: bool, total: int,
                  quiet: bool) -> backfills.BackfillReport:
    """Run it under a progress bar; Ctrl-C leaves the checkpoint and says how to resume."""
    from . import ops_render

    err = Console(stderr=True)
    progress = ops_render.backfill_progress(err)
    task = progress.add_task(plan.spec.name, total=total)
    try:
        with progress if not quiet else contextlib.nullcontext():
            return _guard(lambda: operator.backfill(
                plan, restart=restart, progress=lambda report: progress.update(task, completed=report.done)))
    except KeyboardInterrupt:
        where = operator.checkpoint(plan.spec.name).path
        _exit(EXIT_FAILED, f"interrupted; run the same command again to resume (checkpoint {where})")


# --------------------------------------------------------------------------- helpers


def project_root() -> Path:
    from onto_functions.deploy.project import find_project_root

    return find_project_root(Path.cwd())


def _target(project: Optional[str]) -> Target:
    """Where the command works: see onto_functions.ops.target."""
    from onto_functions.local.stack import StackError, find_running_stack
    from onto_functions.ops.target import find_target, needs_stack

    stack, why = None, ""
    if needs_stack(project):
        try:
            stack = find_running_stack(project, project_root())
        except StackError as exc:
            why = str(exc)
    return find_target(project, stack, no_stack=why)


def _operator(project: Optional[str], app_ref: Optional[str]) -> Operator:
    from onto_functions.deploy.project import load_project
    from onto_functions.ops.operator import Operator, OpsError

    target = _target(project)
    root = project_root()
    app = app_ref or load_project(root).app or target.app
    if not app:
        raise OpsError("which app? pass --app package.module, or set [tool.onto] app in pyproject.toml")
    return Operator(target, app, root)


def _guard(work: Callable[[], T]) -> T:
    """Run `work`; our errors become one line on stderr and an exit code."""
    from google.api_core.exceptions import GoogleAPIError

    from onto_functions.discovery import DiscoveryError
    from onto_functions.firestore_rest import FirestoreError
    from onto_functions.ops import backfill as backfills
    from onto_functions.ops import dead_letters as letters
    from onto_functions.ops.operator import OpsError
    from onto_functions.ops.target import TargetRefused

    try:
        return work()
    except TargetRefused as exc:
        _exit(EXIT_REFUSED, str(exc), "refused:")
    except (OpsError, DiscoveryError, letters.ReplayError, backfills.BackfillError, ValueError) as exc:
        _exit(EXIT_BAD_INPUT, str(exc))
    except GoogleAPIError as exc:
        _exit(EXIT_FAILED, f"Firestore: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    except FirestoreError as exc:
        _exit(EXIT_FAILED, f"Firestore: {exc.status}: {exc.message.splitlines()[0] if exc.message else ''}")


def _exit(code: int, message: str, label: str = "error:") -> NoReturn:
    Console(stderr=True).print(Text.assemble((label, "bold red"), " ", message), soft_wrap=True)
    raise typer.Exit(code)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))
