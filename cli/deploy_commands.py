"""`onto init`, `onto list`, `onto bundle`, `onto deploy`: parse, call the library, render.

Each command is a small function over one library call (`scaffold.init_project`,
`pipeline.project_triggers`, `pipeline.bundle_project`, `pipeline.deploy_project`),
so a test makes the same call without a shell.

Exit codes (stable, for scripts):
  0  done (or nothing to do)
  1  a deploy step failed (the others were recorded)
  2  bad input: unknown app, bad config, a bundle that cannot be built safely
  3  refused: no project, a demo- project, the backend's CLI missing, region ≠ database location,
     deletes without --yes and no terminal to ask on (or a 'no' to the question)
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional, TypeVar

import typer
from rich.console import Console

from . import render

if TYPE_CHECKING:
    from rich.status import Status

    from onto_functions.deploy.backends import StepResult
    from onto_functions.deploy.plan import Step
    from onto_functions.deploy.project import ProjectConfig

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3
T = TypeVar("T")

AppArg = typer.Argument(None, help="module or module:attr (default: \\[tool.onto] app)", show_default=False)
ProjectDirOpt = typer.Option(None, "--project-dir", "-C", help="project root (default: nearest pyproject.toml)")
JsonOpt = typer.Option(False, "--json", help="print machine-readable JSON on stdout")

DEPLOY_HELP = "\n\n".join([
    "Bundle, compare with what is deployed, then create, update and delete only what differs.",
    "What is deployed is read from the cloud with the backend's own list command (gcloud functions list, "
    "firebase functions:list): every function onto deploys carries the labels onto-managed=true and "
    "onto-hash=<its bundle's hash>, so every clone (a teammate's, CI's) makes the same plan. When the list "
    "command cannot run (offline, no login) the plan uses the local cache .onto/state/PROJECT.json, with a warning.",
    "Functions labelled onto-managed that are gone from the app are deleted after a question; --yes skips it, "
    "and without a terminal to ask on, deletes are refused (exit 3) unless --yes is given.",
    "A trigger whose region changed is created in the new region first; the old copy is deleted only once "
    "the new one deployed (a failed create deletes nothing).",
    "Exit codes: 0 done, 1 a step failed (the others are recorded), 2 bad input, 3 refused.",
])


def register(app: typer.Typer) -> None:
    """Add the deploy-side commands to the `onto` app."""
    app.command("init")(init)
    app.command("list")(list_triggers)
    app.command("bundle")(bundle)
    app.command("deploy", help=DEPLOY_HELP)(deploy)


def init(
    directory: Path = typer.Argument(Path("."), help="folder of the new project (created if missing)"),
    force: bool = typer.Option(False, "--force", help="overwrite files that exist"),
) -> None:
    """Create a project that runs as is: a mediator, pyproject \\[tool.onto], requirements, a test, firebase.json."""
    from onto_functions.deploy.scaffold import init_project

    err = render.stderr_console()
    for path in _guard(err, lambda: init_project(directory, force=force)):
        render.say(err, "wrote", "green", str(path))
    render.say(err, "next:", "", f"cd {directory} && python -m pytest && onto list")


def list_triggers(
    app_ref: Optional[str] = AppArg, project_dir: Optional[Path] = ProjectDirOpt, as_json: bool = JsonOpt,
) -> None:
    """Every trigger: function name, event, document pattern, source model, sink, mode, options."""
    from onto_functions.deploy.pipeline import project_triggers

    err = render.stderr_console()
    specs = _guard(err, lambda: project_triggers(_config(project_dir), app_ref))
    if as_json:
        _print_json([render.spec_json(s) for s in specs])
    else:
        Console().print(render.triggers_table(specs))


def bundle(
    app_ref: Optional[str] = AppArg, project_dir: Optional[Path] = ProjectDirOpt,
    build_dir: Optional[Path] = typer.Option(None, "--build-dir", help="default: \\[tool.onto] build_dir"),
    as_json: bool = JsonOpt,
) -> None:
    """Write one self-contained folder per trigger and bring firebase.json in step."""
    from onto_functions.deploy.pipeline import bundle_project

    err = render.stderr_console()
    with err.status("bundling…"):
        report = _guard(err, lambda: bundle_project(_config(project_dir, build_dir=build_dir), app_ref))
    if as_json:
        _print_json(render.bundle_report_json(report))
    else:
        render.print_bundle_report(report, Console(), err)


def deploy(
    app_ref: Optional[str] = AppArg, project_dir: Optional[Path] = ProjectDirOpt,
    project: Optional[str] = typer.Option(None, "--project", "-p", help="GCP/Firebase project id"),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="firebase or gcloud (default: \\[tool.onto] backend)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan and the exact commands; change nothing"),
    only: List[str] = typer.Option([], "--only", metavar="TRIGGER",
                                   help="deploy (or delete) this function alone; repeat for more; TTL policies are left as they are"),
    yes: bool = typer.Option(False, "--yes", "-y", help="delete without asking (needed to delete when not run from a terminal)"),
    parallel: int = typer.Option(4, "--parallel", min=1, max=32, help="commands run at once"),
    database_location: Optional[str] = typer.Option(None, "--database-location", help="where the Firestore database is (e.g. nam5, europe-west1)"),
    as_json: bool = JsonOpt,
) -> None:
    """Bundle, compare with what is deployed, then create, update and delete only what differs (see DEPLOY_HELP)."""
    from onto_functions.deploy.pipeline import deploy_project

    err = render.stderr_console()

    def progress(result: StepResult) -> None:
        if not as_json:
            err.print(render.step_result_line(result))

    with err.status("deploying…" if not dry_run else "planning…") as status:
        report = _guard(err, lambda: deploy_project(
            _config(project_dir, database_location=database_location), app=app_ref, project=project,
            backend=backend, dry_run=dry_run, parallelism=parallel, on_result=progress, only=only, yes=yes,
            confirm=_ask_before_deleting(err, status) if sys.stdin.isatty() else None))
    for message in report.warnings:
        render.say(err, "warning:", "yellow", message)
    if as_json:
        _print_json(render.deploy_report_json(report))
    else:
        render.print_deploy_report(report, Console(), err)
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def _ask_before_deleting(err: Console, status: Status) -> Callable[[list[Step]], bool]:
    """A question on the terminal (the spinner paused) that lists what would be deleted."""

    def confirm(deletes: list[Step]) -> bool:
        status.stop()
        err.print(render.plan_table(deletes, f"{len(deletes)} function(s) to delete"))
        answer = typer.confirm(f"Delete {len(deletes)} function(s)?", default=False, err=True)
        status.start()
        return answer

    return confirm


def _config(project_dir: Optional[Path], **overrides: Any) -> ProjectConfig:
    from onto_functions.deploy.project import find_project_root, load_project

    root = project_dir or find_project_root(Path.cwd())
    return load_project(root).with_(**overrides)


def _guard(err: Console, work: Callable[[], T]) -> T:
    """Run `work`, turning our errors into one clear line and a meaningful exit code."""
    from onto_functions.deploy.pipeline import DeployRefused

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return work()
        except DeployRefused as exc:
            render.say(err, "refused:", "bold red", str(exc))
            raise typer.Exit(EXIT_REFUSED)
        except _bad_input() as exc:
            render.say(err, "error:", "bold red", str(exc))
            raise typer.Exit(EXIT_BAD_INPUT)
        finally:
            for w in caught:
                render.say(err, "warning:", "yellow", str(w.message))


def _bad_input() -> tuple[type[Exception], ...]:
    """The errors that are a user's mistake: one line and exit 2 (imported here: only a failing run needs them)."""
    from onto_functions.deploy.bundle_errors import BundleError
    from onto_functions.deploy.import_closure import DependencyError
    from onto_functions.deploy.project import ConfigError
    from onto_functions.deploy.scaffold import ScaffoldError
    from onto_functions.deploy.state import StateError
    from onto_functions.deploy.templates import TemplateError
    from onto_functions.discovery import DiscoveryError

    return (BundleError, ConfigError, DiscoveryError, DependencyError, StateError, ScaffoldError, TemplateError,
            ValueError)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
