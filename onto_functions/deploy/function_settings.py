"""Secrets and parameters at deploy time: their values, their place in the plan, and what is missing.

Why here, before any command runs: a deploy whose function names a secret
that Secret Manager lacks, or a parameter with no value, fails late (Cloud
Build has run, the old revision keeps serving) and one function at a time.
The plan stage names every missing one at once, with the functions that need
it, and nothing starts.

- Parameter values come from dotenv files beside firebase.json: `.env` for
  every project, `.env.<project>` for one (firebase-tools' convention, read by
  firebase-tools too through each codebase's `configDir`). They are not
  secret, but they are the deploy's, not the bundle's: a bundle stays the
  same for every project, and its deploy hash (the `onto-hash` label) folds in
  the values of the parameters it declares, so a changed value redeploys
  exactly the functions that read it.
- Secrets are checked by name only (`gcloud secrets versions describe latest
  --secret NAME`): their values never reach this process. When gcloud cannot
  answer (not installed, no account, offline) the check is a warning; the
  deploy itself fails on a missing secret anyway (firebase-tools checks the
  manifest's secret params itself).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Mapping

from ..spec import TriggerSpec
from .backends import Command, DeployTarget, Runner
from .bundle import BundleContents, manifest_file
from .dotenv_files import read_dotenvs
from .project import ProjectConfig

SECRET_CHECK_PARALLELISM = 4


class SecretCheckUnavailable(RuntimeError):
    """gcloud could not say whether a secret exists (not installed, no account, no permission, offline)."""


def param_files(project: str) -> tuple[str, ...]:
    """The dotenv files a deploy to `project` reads, in order (a later one wins): firebase-tools' own."""
    return (".env", f".env.{project}")


def param_values(root: Path, project: str) -> dict[str, str]:
    """Every value in the project's `.env` and `.env.<project>` beside firebase.json (DotenvError if unreadable)."""
    return read_dotenvs(root, *param_files(project))


def with_param_values(contents: list[BundleContents], values: Mapping[str, str],
                      config: ProjectConfig) -> list[BundleContents]:
    """The bundles with the values of their declared params folded into their hash (and manifest label)."""
    folded = []
    for item in contents:
        spec = item.bundle.spec
        if not spec.options.params:
            folded.append(item)
            continue
        declared = json.dumps({name: values.get(name) for name in spec.options.params}, sort_keys=True)
        digest = hashlib.sha256(f"{item.bundle.content_hash}\0{declared}".encode()).hexdigest()
        files = {**item.files, "functions.yaml": manifest_file(spec, config, digest)}
        folded.append(BundleContents(replace(item.bundle, content_hash=digest), files))
    return folded


def secret_check_argv(name: str, target: DeployTarget) -> tuple[str, ...]:
    """Reads the metadata (never the value) of the secret's latest version."""
    return (target.gcloud_bin, "secrets", "versions", "describe", "latest", f"--secret={name}",
            f"--project={target.project}", "--format=json", "--quiet")


def secret_problem(name: str, target: DeployTarget, runner: Runner) -> str | None:
    """Why `--set-secrets NAME=NAME:latest` would fail, or None; SecretCheckUnavailable when unknown."""
    try:
        done = runner(Command(secret_check_argv(name, target), (), target.project_root))
    except (OSError, subprocess.SubprocessError) as exc:
        raise SecretCheckUnavailable(f"{target.gcloud_bin} could not run: {exc}") from None
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        if "NOT_FOUND" in output or "not found" in output.lower():
            return f"not in Secret Manager of {target.project}, or it has no version"
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        raise SecretCheckUnavailable(next((line for line in lines if line.startswith("ERROR")), lines[-1] if lines
                                          else f"exit code {done.returncode}"))
    try:
        state = json.loads(done.stdout).get("state")
    except (ValueError, AttributeError):
        raise SecretCheckUnavailable(f"gcloud printed no version of secret {name}") from None
    return None if state == "ENABLED" else f"its latest version is {state}"


def check_settings(specs: Iterable[TriggerSpec], values: Mapping[str, str], target: DeployTarget,
                   runner: Runner) -> tuple[str | None, list[str]]:
    """(one line naming every missing secret and param with the functions that need them, or None; warnings)."""
    needs: dict[tuple[str, str], list[str]] = {}
    for spec in specs:
        for kind, names in (("secret", spec.options.secrets), ("param", spec.options.params)):
            for name in names:
                needs.setdefault((kind, name), []).append(spec.name)
    problems: dict[tuple[str, str], str] = {
        ("param", name): f"no value in {' or '.join(param_files(target.project))}"
        for kind, name in needs if kind == "param" and name not in values}
    secrets = sorted(name for kind, name in needs if kind == "secret")
    unchecked: dict[str, list[str]] = {}  # why gcloud could not answer -> the secrets it did not answer for
    with ThreadPoolExecutor(max_workers=SECRET_CHECK_PARALLELISM) as pool:
        answers = list(pool.map(lambda name: _answer(name, target, runner), secrets))
    for name, (problem, unavailable) in zip(secrets, answers):
        if problem:
            problems[("secret", name)] = problem
        if unavailable:
            unchecked.setdefault(unavailable, []).append(name)
    warnings = [f"could not check that secret(s) {', '.join(names)} exist ({why}); "
                "a missing one fails the deploy of the functions that need it" for why, names in unchecked.items()]
    if not problems:
        return None, warnings
    listing = "; ".join(f"{kind} {name} ({why}) for {', '.join(needs[(kind, name)])}"
                        for (kind, name), why in sorted(problems.items()))
    return f"missing before deploy: {listing}", warnings


def _answer(name: str, target: DeployTarget, runner: Runner) -> tuple[str | None, str | None]:
    try:
        return secret_problem(name, target, runner), None
    except SecretCheckUnavailable as exc:
        return None, str(exc)
