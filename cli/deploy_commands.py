"""`onto init`, `onto list`, `onto bundle`, `onto deploy`: parse, call the library, render.

Exit codes (stable, for scripts):
  0  done (or nothing to do)
  1  a deploy step failed (the others were recorded)
  2  bad input: unknown app, bad config, a bundle that cannot be built safely
  3  refused: no project, a demo- project, the backend's CLI missing, region ≠ database location
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer
from rich.console import Console

from onto_functions.deploy.backends import StepResult
from onto_functions.deploy.bundle import BundleError, discover_fresh
from onto_functions.deploy.deps import DependencyError
from onto_functions.deploy.pipeline import DeployRefused, bundle_project, deploy_project, resolve_app
from onto_functions.deploy.plan import summary
from onto_functions.deploy.project import ConfigError, ProjectConfig, find_project_root, load_project
from onto_functions.deploy.scaffold import ScaffoldError, scaffold
from onto_functions.deploy.state import StateError
from onto_functions.discovery import DiscoveryError

from . import render

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3
T = TypeVar("T")

AppArg = typer.Argument(None, help="module or module:attr (default: \\[tool.onto] app)", show_default=False)
ProjectDirOpt = typer.Option(None, "--project-dir", "-C", help="project root (default: nearest pyproject.toml)")
JsonOpt = typer.Option(False, "--json", help="print machine-readable JSON on stdout")


def _config(project_dir: Optional[Path], **overrides: Any) -> ProjectConfig:
    root = project_dir or find_project_root(Path.cwd())
    return load_project(root).with_(**overrides)


def _guard(err: Console, work: Callable[[], T]) -> T:
    """Run `work`, turning our errors into a clear message and a meaningful exit code."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = work()
        except DeployRefused as exc:
            err.print(f"[bold red]refused:[/] {exc}")
            raise typer.Exit(EXIT_REFUSED)
        except (BundleError, ConfigError, DiscoveryError, DependencyError, StateError, ScaffoldError, ValueError) as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(EXIT_BAD_INPUT)
        finally:
            for w in caught:
                err.print(f"[yellow]warning:[/] {w.message}")
    return result


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def register(app: typer.Typer) -> None:
    """Add the deploy-side commands to the `onto` app."""

    @app.command("init")
    def init_command(
        directory: Path = typer.Argument(Path("."), help="folder of the new project (created if missing)"),
        force: bool = typer.Option(False, "--force", help="overwrite files that exist"),
    ) -> None:
        """Create a project that runs as is: a mediator, pyproject \\[tool.onto], requirements, a test, firebase.json."""
        err = render.stderr_console()

        def work() -> list[Path]:
            directory.mkdir(parents=True, exist_ok=True)
            written = scaffold(directory, force=force)
            report = bundle_project(load_project(directory))
            return written + ([report.firebase_json] if report.firebase_json else [])

        written = _guard(err, work)
        for path in written:
            err.print(f"[green]wrote[/] {path}")
        err.print(f"next: cd {directory} && python -m pytest && onto list")

    @app.command("list")
    def list_command(
        app_ref: Optional[str] = AppArg, project_dir: Optional[Path] = ProjectDirOpt, as_json: bool = JsonOpt,
    ) -> None:
        """Every trigger: function name, event, document pattern, source model, sink, mode, options."""
        err = render.stderr_console()
        config = _guard(err, lambda: _config(project_dir))
        specs = _guard(err, lambda: discover_fresh(resolve_app(app_ref, config), config.root))
        if as_json:
            _print_json([render.spec_json(s) for s in specs])
        else:
            Console().print(render.triggers_table(specs))

    @app.command("bundle")
    def bundle_command(
        app_ref: Optional[str] = AppArg, project_dir: Optional[Path] = ProjectDirOpt,
        build_dir: Optional[Path] = typer.Option(None, "--build-dir", help="default: \\[tool.onto] build_dir"),
        as_json: bool = JsonOpt,
    ) -> None:
        """Write one self-contained folder per trigger and bring firebase.json in step."""
        err = render.stderr_console()
        config = _guard(err, lambda: _config(project_dir, build_dir=build_dir))
        with err.status("bundling…"):
            report = _guard(err, lambda: bundle_project(config, app_ref))
        if as_json:
            _print_json({"bundles": [render.bundle_json(b) for b in report.bundles],
                         "firebaseJson": str(report.firebase_json) if report.firebase_json else None})
        else:
            Console().print(render.bundles_table(report.bundles))
            if report.firebase_json:
                err.print(f"firebase.json in step: {report.firebase_json} (one codebase per trigger)")

    @app.command("deploy")
    def deploy_command(
        app_ref: Optional[str] = AppArg, project_dir: Optional[Path] = ProjectDirOpt,
        project: Optional[str] = typer.Option(None, "--project", "-p", help="GCP/Firebase project id"),
        backend: Optional[str] = typer.Option(None, "--backend", "-b", help="firebase or gcloud (default: \\[tool.onto] backend)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the plan and the exact commands; change nothing"),
        parallel: int = typer.Option(4, "--parallel", min=1, max=32, help="commands run at once"),
        database_location: Optional[str] = typer.Option(None, "--database-location", help="where the Firestore database is (e.g. nam5, europe-west1)"),
        as_json: bool = JsonOpt,
    ) -> None:
        """Bundle, plan against the recorded state (create/update/delete/unchanged), then deploy what changed."""
        err = render.stderr_console()
        config = _guard(err, lambda: _config(project_dir, database_location=database_location))

        def progress(result: StepResult) -> None:
            if not as_json:
                mark = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
                err.print(f"{mark} {result.step.action.value} {result.step.name}"
                          + (f"\n  {result.detail}" if not result.ok else ""))

        with err.status("deploying…" if not dry_run else "planning…"):
            report = _guard(err, lambda: deploy_project(
                config, app=app_ref, project=project, backend=backend, dry_run=dry_run,
                parallelism=parallel, on_result=progress))
        for message in report.warnings:
            err.print(f"[yellow]warning:[/] {message}")
        if as_json:
            _print_json({
                "project": report.project, "backend": report.backend, "dryRun": report.dry_run,
                "summary": summary(report.steps),
                "steps": [render.step_json(s) for s in report.steps],
                "commands": report.commands,
                "results": [{"name": r.step.name, "action": r.step.action.value, "ok": r.ok, "detail": r.detail}
                            for r in report.results],
            })
        else:
            out = Console()
            counts = summary(report.steps)
            title = f"plan for {report.project} ({report.backend}): " + ", ".join(
                f"{n} {a}" for a, n in counts.items() if n)
            out.print(render.plan_table(report.steps, title))
            if report.commands:
                out.print("[bold]commands[/]" + (" (dry run: none was run)" if report.dry_run else ""))
                import shlex

                for argv in report.commands:
                    out.print(shlex.join(argv), markup=False, highlight=False, soft_wrap=True)
            if report.failed:
                err.print(f"[bold red]{len(report.failed)} step(s) failed:[/] "
                          + ", ".join(f"{r.step.action.value} {r.step.name}" for r in report.failed)
                          + ("; the others were recorded in " + str(report.state_file) if report.state_file else ""))
        if report.failed:
            raise typer.Exit(EXIT_FAILED)
