"""Backends turn plan steps into CLI commands (argv lists) and run them.

Two deploy backends: `firebase` (one `firebase deploy --only
functions:<codebase>,...` for every create/update, reading the merged
firebase.json) and `gcloud` (one `gcloud functions deploy ... --gen2` per
trigger, run in parallel with a bound). Both delete gone triggers one call
each and set TTL policies with gcloud (firebase-tools has no such command).

Why argv lists and a separate `commands()`: the exact commands are data,
so `--dry-run` prints them, tests feed them to the real gcloud parser, and
nothing is ever passed through a shell.

Message and schedule triggers: gcloud deploys a message trigger with
`--trigger-topic` (Eventarc's Pub/Sub trigger) and a schedule trigger as an
HTTP function that only authenticated callers may call, followed, in the
same command, by the Cloud Scheduler job that calls it (`then`): the step
succeeds only when both did. firebase-tools makes that job itself from the
manifest's `scheduleTrigger`.

Secrets and params: gcloud sets each function's environment whole
(`--set-env-vars` with its own project and its params' values,
`--set-secrets NAME=NAME:latest` or `--clear-secrets`), so a param or secret
removed from the app is removed from the function too; firebase-tools reads
the same from the manifest and the `.env` files (`function_settings`).

HTTPS and callable functions: `--trigger-http --allow-unauthenticated`.
Public at the platform, as firebase-tools deploys callables: who may call
is decided inside the function, from the caller's Firebase ID token, which
Cloud Run's IAM check cannot read.

Security rules (a RULES step) ride along the firebase deploy as
`firestore:rules`; gcloud has no command for them, so with that backend
the pipeline warns instead of planning the step.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..spec import EventKind, TriggerSpec
from .labels import labels_flag
from .manifest import endpoint_labels, scheduler_retries
from .plan import Action, Step
from .urls import base_url

DEFAULT_PARALLELISM = 4
_DEPLOYS = (Action.CREATE, Action.UPDATE, Action.RULES)  # what the deploy command (phase) carries out
COMMAND_TIMEOUT_SECONDS = 20 * 60


@dataclass(frozen=True)
class Command:
    """One CLI invocation and the plan steps it carries out."""

    argv: tuple[str, ...]
    steps: tuple[Step, ...]
    cwd: Path | None = None
    then: tuple[tuple[str, ...], ...] = ()  # run after argv succeeded, in order; the first failure fails the steps

    @property
    def program(self) -> str:
        return self.argv[0]


@dataclass(frozen=True)
class StepResult:
    step: Step
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class DeployTarget:
    """Where commands aim: the project and what the user said about it."""

    project: str
    runtime: str = "python312"
    project_root: Path = Path(".")
    database_location: str | None = None
    firebase_bin: str = "firebase"
    gcloud_bin: str = "gcloud"
    # Who Cloud Scheduler calls schedule triggers as (OIDC); None: the App Engine default account.
    scheduler_service_account: str | None = None
    # Values of the functions' params (`.env`, `.env.<project>`); each function gets those it declares.
    param_values: Mapping[str, str] = field(default_factory=dict)


Runner = Callable[[Command], "subprocess.CompletedProcess[str]"]


def run_command(command: Command) -> "subprocess.CompletedProcess[str]":
    """Run one command (no shell), capturing its output."""
    return subprocess.run(
        list(command.argv), cwd=command.cwd, capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT_SECONDS, env={**os.environ, "CI": os.environ.get("CI", "1")},
    )


# --------------------------------------------------------------------------- commands


def memory_flag(memory_mb: int) -> str:
    return f"{memory_mb // 1024}Gi" if memory_mb >= 1024 and memory_mb % 1024 == 0 else f"{memory_mb}Mi"


def gcloud_deploy_argv(step: Step, target: DeployTarget) -> tuple[str, ...]:
    """`gcloud functions deploy` for one create/update step (2nd gen, Firestore event trigger)."""
    assert step.bundle is not None
    spec, opts = step.bundle.spec, step.bundle.spec.options
    argv = [
        target.gcloud_bin, "functions", "deploy", spec.name,
        "--gen2",
        f"--project={target.project}",
        f"--region={opts.region}",
        f"--runtime={target.runtime}",
        f"--source={step.bundle.path}",
        f"--entry-point={step.bundle.entry_point}",
        *_trigger_flags(spec, target),
        f"--memory={memory_flag(opts.memory_mb)}",
        f"--timeout={opts.timeout_seconds}s",
        f"--min-instances={opts.min_instances}",
        *settings_flags(spec, target),  # GCLOUD_PROJECT (the function refuses other projects' events) and params
        labels_flag(endpoint_labels(spec, step.bundle.content_hash)),  # what `deployed` reads back
        "--quiet",
    ]
    if opts.max_instances is not None:
        argv.append(f"--max-instances={opts.max_instances}")
    if opts.concurrency is not None:
        argv.append(f"--concurrency={opts.concurrency}")
    return tuple(argv)


def _trigger_flags(spec: TriggerSpec, target: DeployTarget) -> list[str]:
    """How the function is triggered: a Firestore event filter, a Pub/Sub topic, or HTTP (a schedule, a client)."""
    opts = spec.options
    retry = "--retry" if opts.retry else "--no-retry"
    if spec.kind is EventKind.TICK:
        return ["--trigger-http", "--no-allow-unauthenticated"]
    if spec.kind.is_request:
        return ["--trigger-http", "--allow-unauthenticated"]
    if spec.kind is EventKind.MESSAGE:
        return [f"--trigger-topic={spec.topic}", retry]
    flags = [
        f"--trigger-event-filters=type={spec.event_type}",
        f"--trigger-event-filters=database={opts.database}",
        f"--trigger-event-filters=namespace={opts.namespace}",
        f"--trigger-event-filters-path-pattern=document={spec.document}",
        retry,
    ]
    return flags + ([f"--trigger-location={target.database_location}"] if target.database_location else [])


def settings_flags(spec: TriggerSpec, target: DeployTarget) -> list[str]:
    """The function's environment: its own project, its params' values, its secrets as Secret Manager references."""
    # The function refuses events of other projects, so it must know its own
    # (firebase-tools sets GCLOUD_PROJECT itself; gcloud does not).
    env = {"GCLOUD_PROJECT": target.project,
           **{name: target.param_values[name] for name in spec.options.params if name in target.param_values}}
    secrets = {name: f"{name}:latest" for name in spec.options.secrets}
    return [dict_flag("--set-env-vars", env), dict_flag("--set-secrets", secrets) if secrets else "--clear-secrets"]


def dict_flag(flag: str, values: Mapping[str, str]) -> str:
    """`--flag=K=V,K2=V2`; with gcloud's `^D^` delimiter syntax when a value holds a comma."""
    if not any("," in value for value in values.values()):
        return f"{flag}=" + ",".join(f"{key}={value}" for key, value in values.items())
    delimiter = next((d for d in "@|~#%;:+" if not any(d in value for value in values.values())), None)
    if delimiter is None:
        raise ValueError(f"{flag}: the values of {', '.join(values)} hold every delimiter gcloud could split on")
    return f"{flag}=^{delimiter}^" + delimiter.join(f"{key}={value}" for key, value in values.items())


def scheduler_job_argv(step: Step, target: DeployTarget) -> tuple[str, ...]:
    """`gcloud scheduler jobs create|update http` for a schedule trigger's Cloud Scheduler job."""
    assert step.bundle is not None
    spec, opts = step.bundle.spec, step.bundle.spec.options
    verb = "create" if step.action is Action.CREATE else "update"
    uri = base_url(spec, target.project)
    account = target.scheduler_service_account or f"{target.project}@appspot.gserviceaccount.com"
    argv = [
        target.gcloud_bin, "scheduler", "jobs", verb, "http", scheduler_job_name(spec),
        f"--project={target.project}", f"--location={opts.region}", f"--schedule={spec.schedule}",
        f"--time-zone={spec.timezone or 'Etc/UTC'}", f"--uri={uri}", "--http-method=POST",
        f"--oidc-service-account-email={account}", f"--oidc-token-audience={uri}",
        f"--max-retry-attempts={scheduler_retries(spec)}",
        f"--attempt-deadline={max(15, opts.timeout_seconds)}s", "--quiet",
    ]
    return tuple(argv)


def scheduler_job_name(spec: TriggerSpec) -> str:
    return f"onto-{spec.name}"


def gcloud_delete_argv(step: Step, target: DeployTarget) -> tuple[str, ...]:
    return (target.gcloud_bin, "functions", "delete", step.name, "--gen2",
            f"--project={target.project}", f"--region={step.region}", "--quiet")


def ttl_argv(step: Step, target: DeployTarget) -> tuple[str, ...]:
    """`gcloud firestore fields ttls update expireAt --collection-group=G --enable-ttl`."""
    database, group, field_path = step.ttl_target
    return (target.gcloud_bin, "firestore", "fields", "ttls", "update", field_path,
            f"--collection-group={group}", "--enable-ttl", f"--database={database}",
            f"--project={target.project}", "--async", "--quiet")


def firebase_deploy_argv(steps: Sequence[Step], target: DeployTarget) -> tuple[str, ...]:
    """One `firebase deploy --only functions:<codebase>,...[,firestore:rules]` for every deploy step."""
    parts = [f"functions:{s.bundle.codebase}" for s in steps if s.bundle is not None]
    only = ",".join(parts + (["firestore:rules"] if any(s.action is Action.RULES for s in steps) else []))
    return (target.firebase_bin, "deploy", "--only", only, "--project", target.project,
            "--non-interactive", "--force")


def firebase_delete_argv(step: Step, target: DeployTarget) -> tuple[str, ...]:
    return (target.firebase_bin, "functions:delete", step.name, "--region", str(step.region),
            "--project", target.project, "--force", "--non-interactive")


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    """Builds the commands of a plan and runs them: deploys, then deletes, then TTL policies."""

    name: str
    target: DeployTarget
    parallelism: int = DEFAULT_PARALLELISM
    runner: Runner = field(default=run_command)

    def commands(self, steps: Sequence[Step]) -> list[Command]:
        """Every command the plan needs, in execution order (pure: nothing runs)."""
        deploys = [s for s in steps if s.action in _DEPLOYS]
        deletes = [s for s in steps if s.action is Action.DELETE]
        ttls = [s for s in steps if s.action is Action.TTL]
        commands = self._deploy_commands(deploys)
        commands += [Command(self._delete_argv(s), (s,), self.target.project_root) for s in deletes]
        commands += [Command(ttl_argv(s, self.target), (s,), self.target.project_root) for s in ttls]
        return commands

    def programs(self, steps: Sequence[Step]) -> list[str]:
        """The executables the plan needs (for the "CLI missing" refusal)."""
        return sorted({c.program for c in self.commands(steps)})

    def _deploy_commands(self, deploys: list[Step]) -> list[Command]:
        if not deploys:
            return []
        if self.name == "firebase":
            return [Command(firebase_deploy_argv(deploys, self.target), tuple(deploys), self.target.project_root)]
        return [Command(gcloud_deploy_argv(s, self.target), (s,), self.target.project_root, self._then(s))
                for s in deploys if s.bundle is not None]  # rules: firebase-tools only (rules_deploy.py)

    def _then(self, step: Step) -> tuple[tuple[str, ...], ...]:
        """What a gcloud deploy step runs after the deploy: a schedule trigger's Cloud Scheduler job."""
        if step.bundle is not None and step.bundle.spec.kind is EventKind.TICK:
            return (scheduler_job_argv(step, self.target),)
        return ()

    def _delete_argv(self, step: Step) -> tuple[str, ...]:
        return firebase_delete_argv(step, self.target) if self.name == "firebase" else gcloud_delete_argv(step, self.target)

    def execute(self, steps: Sequence[Step], on_result: Callable[[StepResult], None] | None = None) -> list[StepResult]:
        """Run every command (deploys in parallel, at most `parallelism` at once); one result per step.

        A failed command fails only its own steps; the others still run and
        still count. Deletes run after deploys, and the old copy of a moved
        function is deleted only when the new copy's deploy succeeded, so a
        trigger is never left with no copy running.
        """
        commands = self.commands(steps)
        phases = [
            [c for c in commands if c.steps[0].action in _DEPLOYS],
            [c for c in commands if c.steps[0].action is Action.DELETE],
            [c for c in commands if c.steps[0].action is Action.TTL],
        ]
        results: list[StepResult] = []
        with ThreadPoolExecutor(max_workers=max(1, self.parallelism)) as pool:
            for phase in phases:
                runnable, held = hold_moved_deletes(phase, results)
                for batch in [held, *pool.map(self._run, runnable)]:
                    for result in batch:
                        results.append(result)
                        if on_result:
                            on_result(result)
        return results

    def _run(self, command: Command) -> list[StepResult]:
        for argv in (command.argv, *command.then):
            results = self._run_one(Command(argv, command.steps, command.cwd))
            if not all(r.ok for r in results):
                return results
        return results

    def _run_one(self, command: Command) -> list[StepResult]:
        try:
            completed = self.runner(command)
        except (OSError, subprocess.SubprocessError) as exc:
            return [StepResult(s, False, f"{command.program} could not run: {exc}") for s in command.steps]
        output = (completed.stdout or "") + (completed.stderr or "")
        if completed.returncode == 0:
            return [StepResult(s, True, "") for s in command.steps]
        if command.steps[0].action is Action.DELETE and already_gone(output):
            return [StepResult(s, True, "already gone") for s in command.steps]
        failed = firebase_failed_functions(output) if self.name == "firebase" and len(command.steps) > 1 else set()
        detail = _tail(output) or f"exit code {completed.returncode}"
        if failed:  # firebase named the functions that failed: the others succeeded
            return [StepResult(s, s.name not in failed, detail if s.name in failed else "") for s in command.steps]
        return [StepResult(s, False, detail) for s in command.steps]


def hold_moved_deletes(phase: list[Command], done: list[StepResult]) -> tuple[list[Command], list[StepResult]]:
    """The commands of `phase` to run, and failed results for deletes held back.

    A delete is held when a deploy of the same function failed in this run:
    that is a region move whose new copy is not live, so the old copy keeps
    running (and stays in the state) until a later deploy succeeds.
    """
    not_live = {r.step.name for r in done if not r.ok and r.step.action in (Action.CREATE, Action.UPDATE)}
    held = [c for c in phase if c.steps[0].action is Action.DELETE and c.steps[0].name in not_live]
    results = [StepResult(s, False, f"not deleted: the deploy of {s.name} in its new region failed, "
                                    f"so the copy in {s.region} keeps running") for c in held for s in c.steps]
    return [c for c in phase if c not in held], results


def already_gone(output: str) -> bool:
    """A delete that failed because the function no longer exists (firebase-tools may have deleted it itself)."""
    return "NOT_FOUND" in output or "do not match any existing functions" in output


def firebase_failed_functions(output: str) -> set[str]:
    """Function names in firebase-tools' "Functions deploy had errors with the following functions:" list."""
    match = re.search(r"had errors with the following functions:\s*\n((?:\s+\S+.*\n?)+)", output)
    if not match:
        return set()
    return {re.split(r"[(\s]", line.strip())[0] for line in match.group(1).splitlines() if line.strip()}


def _tail(output: str, lines: int = 6) -> str:
    kept = [line for line in output.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def make_backend(name: str, target: DeployTarget, *, parallelism: int = DEFAULT_PARALLELISM,
                 runner: Runner = run_command) -> Backend:
    if name not in ("firebase", "gcloud"):
        raise ValueError(f"unknown backend {name!r}: use firebase or gcloud")
    return Backend(name, target, parallelism, runner)


def missing_programs(programs: Sequence[str]) -> list[str]:
    """The programs that are not on PATH (and are not paths to an executable file)."""
    return [p for p in programs if not (shutil.which(p) or (os.path.isfile(p) and os.access(p, os.X_OK)))]


__all__ = [
    "Backend", "Command", "DeployTarget", "StepResult", "make_backend", "missing_programs",
    "gcloud_deploy_argv", "gcloud_delete_argv", "ttl_argv", "firebase_deploy_argv", "firebase_delete_argv",
    "scheduler_job_argv",
]
