"""The whole deploy, one way: discover → bundle → read what is deployed → plan → refuse-or-execute → record.

Each stage is a call into its own module; this one only sequences them,
applies the refusals (deletes included: they need `yes` or a `confirm`
that says yes), and records in the local cache the steps that succeeded.
The CLI calls `project_triggers`, `bundle_project` and `deploy_project`;
tests call them too.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from ..spec import TriggerSpec
from .backends import Backend, DeployTarget, Runner, StepResult, make_backend, missing_programs, run_command
from .bundle import Bundle, BundleContents, collect_bundles, write_bundles
from .deployed import read_deployed
from .dotenv_files import DotenvError
from .firebase_json import DEFAULT_EMULATORS, update_firebase_json
from .fresh_discovery import discover_cached
from .function_settings import check_settings, param_values, with_param_values
from .plan import Action, Step, plan, select
from .project import ProjectConfig, region_matches_database
from .state import DeployedFunction, DeployedState, check_project_id, load_state, now_iso, save_state


class DeployRefused(RuntimeError):
    """A deploy we will not start; the message says why and what to do."""


@dataclass(frozen=True)
class BundleReport:
    bundles: list[Bundle]
    firebase_json: Path


@dataclass(frozen=True)
class DeployReport:
    project: str
    backend: str
    dry_run: bool
    steps: list[Step]
    commands: list[list[str]]
    results: list[StepResult] = field(default_factory=list)
    state_file: Path | None = None
    warnings: list[str] = field(default_factory=list)
    state_source: str = "cache"  # what the plan compared against: "gcloud", "firebase" or "cache"

    @property
    def failed(self) -> list[StepResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed


def resolve_app(app: str | None, config: ProjectConfig) -> str:
    """The app to bundle: the one given, else `[tool.onto] app`; DeployRefused when neither is."""
    app = app or config.app
    if not app:
        raise DeployRefused(
            "no app given: pass APP (module or module:attr) or set [tool.onto] app in pyproject.toml"
        )
    return app


def project_triggers(config: ProjectConfig, app: str | None = None) -> list[TriggerSpec]:
    """Every trigger of the app as it is on disk now (`onto list`)."""
    return discover_cached(resolve_app(app, config), config.root)


def bundle_project(config: ProjectConfig, app: str | None = None) -> BundleReport:
    """Build every bundle and bring firebase.json in step (one codebase per trigger)."""
    return write_project_bundles(config, collect_bundles(resolve_app(app, config), config))


def write_project_bundles(config: ProjectConfig, contents: list[BundleContents]) -> BundleReport:
    """Write bundles collected before, and merge their codebases into firebase.json."""
    write_bundles(config.build_path, contents)
    bundles = [c.bundle for c in contents]
    update_firebase_json(config.firebase_json, bundles, build_dir=config.build_path, runtime=config.runtime,
                         emulators=DEFAULT_EMULATORS)
    return BundleReport(bundles, config.firebase_json)


def check_refusals(config: ProjectConfig, project: str | None, bundles: list[Bundle]) -> str:
    """The project id to deploy to, or DeployRefused with clear words."""
    project = project or config.project or _firebaserc_default(config.root)
    if not project:
        raise DeployRefused(
            "no project given: pass --project PROJECT_ID, set [tool.onto] project, or run `firebase use`"
        )
    if project.startswith("demo-"):
        raise DeployRefused(
            f"{project!r} is a demo project (the 'demo-' prefix means emulator only); "
            "deploying it to the cloud is refused. Use `onto emulate`, or pass a real project id"
        )
    try:
        check_project_id(project)
    except ValueError as exc:
        raise DeployRefused(str(exc)) from None
    if config.database_location:
        wrong = [b for b in bundles if not region_matches_database(b.spec.options.region, config.database_location)]
        if wrong:
            listing = ", ".join(f"{b.spec.name} ({b.spec.options.region})" for b in wrong)
            raise DeployRefused(
                f"the database is in {config.database_location!r} but these triggers run elsewhere: {listing}. "
                f"Set region = \"{config.database_location if '-' in config.database_location else '<a region in it>'}\" "
                "in [tool.onto] (or the mediator's Meta), or fix database_location"
            )
    return project


def _firebaserc_default(root: Path) -> str | None:
    try:
        data = json.loads((root / ".firebaserc").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (data.get("projects") or {}).get("default")


def deploy_project(
    config: ProjectConfig,
    *,
    app: str | None = None,
    project: str | None = None,
    backend: str | None = None,
    dry_run: bool = False,
    parallelism: int = 4,
    runner: Runner = run_command,
    on_result: Callable[[StepResult], None] | None = None,
    firebase_bin: str | None = None,
    gcloud_bin: str | None = None,
    only: Sequence[str] = (),
    yes: bool = False,
    confirm: Callable[[list[Step]], bool] | None = None,
) -> DeployReport:
    """Bundle, plan against what the backend reports is deployed, and (unless dry_run) execute and record.

    `only` limits the plan to the named functions. Deletes run only with
    `yes`, or when `confirm(deletes)` says yes; otherwise DeployRefused and
    nothing changes. Nothing is written (bundles, firebase.json, state) for
    a dry run or a refused deploy. The cache is saved after every finished
    command, only for steps that succeeded; a failure leaves the rest
    recorded and is reported.
    """
    backend_name = backend or config.backend
    contents = collect_bundles(resolve_app(app, config), config)
    project_id = check_refusals(config, project, [c.bundle for c in contents])
    contents, values = with_project_params(config, project_id, contents)
    target = deploy_target(config, project_id, firebase_bin=firebase_bin, gcloud_bin=gcloud_bin, param_values=values)
    engine = make_backend(backend_name, target, parallelism=parallelism, runner=runner)
    deployed = read_deployed(backend_name, target, runner, load_state(config.state_path, project_id))
    steps = select(plan([c.bundle for c in contents], deployed.state), only)
    changing = [s for s in steps if s.action.changes]
    commands = [list(argv) for c in engine.commands(changing) for argv in (c.argv, *c.then)]
    warnings = [*([deployed.warning] if deployed.warning else []), *check_programs(engine, changing, dry_run=dry_run),
                *check_function_settings(changing, target, runner, dry_run=dry_run)]
    report = DeployReport(project_id, backend_name, dry_run, steps, commands,
                          warnings=warnings, state_source=deployed.source)
    if dry_run:
        return report
    check_deletes(changing, yes=yes, confirm=confirm)
    write_project_bundles(config, contents)  # what the backends read: bundle folders, firebase.json
    if deployed.source != "cache":
        save_state(config.state_path, deployed.state)  # the cache follows the truth
    if not changing:
        return report
    recorder = _Recorder(config.state_path, deployed.state, backend_name, on_result)
    results = engine.execute(changing, on_result=recorder.record)
    return replace(report, results=results, state_file=recorder.path)


def with_project_params(config: ProjectConfig, project: str,
                        contents: list[BundleContents]) -> tuple[list[BundleContents], dict[str, str]]:
    """The bundles with their params' values for `project` in their hash, and those values (`.env`,
    `.env.<project>` beside firebase.json); DeployRefused if a file is unreadable."""
    try:
        values = param_values(config.firebase_json.parent, project)
    except DotenvError as exc:
        raise DeployRefused(str(exc)) from None
    return with_param_values(contents, values, config), values


def check_function_settings(steps: list[Step], target: DeployTarget, runner: Runner, *, dry_run: bool) -> list[str]:
    """DeployRefused naming every missing secret and param of the functions `steps` deploy; warnings otherwise
    (for a dry run, what is missing is a warning too)."""
    specs = [s.bundle.spec for s in steps if s.bundle is not None and s.action in (Action.CREATE, Action.UPDATE)]
    missing, warnings = check_settings(specs, target.param_values, target, runner)
    if missing and not dry_run:
        raise DeployRefused(missing)
    return [*([missing] if missing else []), *warnings]


def check_deletes(steps: list[Step], *, yes: bool, confirm: Callable[[list[Step]], bool] | None) -> None:
    """DeployRefused unless every delete in `steps` is allowed (`yes`) or confirmed."""
    deletes = [s for s in steps if s.action is Action.DELETE]
    if not deletes or yes:
        return
    listing = ", ".join(f"{s.name} ({s.region})" for s in deletes)
    if confirm is None:
        raise DeployRefused(f"this deploy deletes {len(deletes)} function(s): {listing}; nothing was changed. "
                            "Pass --yes to allow it, or --only TRIGGER to deploy others alone")
    if not confirm(deletes):
        raise DeployRefused(f"the deletes of {listing} were not confirmed; nothing was changed")


def deploy_target(config: ProjectConfig, project: str, *, firebase_bin: str | None = None,
                  gcloud_bin: str | None = None, param_values: dict[str, str] | None = None) -> DeployTarget:
    """Where the commands aim; the CLIs default to $ONTO_FIREBASE_BIN / $ONTO_GCLOUD_BIN, then PATH."""
    return DeployTarget(
        project=project, runtime=config.runtime, project_root=config.root,
        database_location=config.database_location,
        firebase_bin=firebase_bin or os.environ.get("ONTO_FIREBASE_BIN", "firebase"),
        gcloud_bin=gcloud_bin or os.environ.get("ONTO_GCLOUD_BIN", "gcloud"),
        param_values=dict(param_values or {}),
    )


def check_programs(engine: Backend, steps: list[Step], *, dry_run: bool) -> list[str]:
    """DeployRefused when a CLI the steps need is missing; for a dry run, a warning instead."""
    missing = missing_programs(engine.programs(steps))
    if not missing:
        return []
    message = (f"{', '.join(missing)} not found on PATH: install it "
               "(firebase: npm install -g firebase-tools; gcloud: https://cloud.google.com/sdk)")
    if not dry_run:
        raise DeployRefused(message)
    return [message]


class _Recorder:
    """Applies each successful result to the state and saves it at once (so a crash loses nothing done)."""

    def __init__(self, state_dir: Path, state: DeployedState, backend: str,
                 on_result: Callable[[StepResult], None] | None) -> None:
        self.state_dir = state_dir
        self.state = state
        self.backend = backend
        self.on_result = on_result
        self.path: Path | None = None
        self._lock = threading.Lock()

    def record(self, result: StepResult) -> None:
        if result.ok:
            with self._lock:
                self.state = apply_result(self.state, result, self.backend)
                self.path = save_state(self.state_dir, self.state)
        if self.on_result:
            self.on_result(result)


def apply_result(state: DeployedState, result: StepResult, backend: str) -> DeployedState:
    """The state after one successful step (pure)."""
    step = result.step
    if step.action in (Action.CREATE, Action.UPDATE):
        assert step.bundle is not None
        return state.with_function(DeployedFunction(
            name=step.name, content_hash=step.bundle.content_hash, region=str(step.region),
            backend=backend, deployed_at=now_iso(),
        ))
    if step.action is Action.DELETE:  # exactly the copy in that region (a moved function keeps its new one)
        return state.without_function(step.name, str(step.region))
    if step.action is Action.TTL:
        return state.with_ttl(step.name)
    return state
