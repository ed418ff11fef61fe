"""Security rules in the local stack: the rules `onto rules` generates, loaded into the Firestore emulator.

Why: without rules the emulator lets every client read and write everything,
so a front end tried against `onto emulate` would work there and fail in
production (or the reverse: leak there unnoticed). The stack loads the same
rules `onto deploy` would deploy, generated afresh from the app and the
user's own rules, for the stack's project only (each project of an emulator
has its own rules). Onto's own clients connect as the emulator's admin
(`Authorization: Bearer owner`), which rules do not restrict, as production
service credentials are not restricted.

Only a project that uses onto's rules gets them (it has `firestore.rules.in`
or a rules file onto wrote): a project whose rules live elsewhere keeps the
emulator's open default rather than rules it never deploys.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..deploy.project import load_project
from ..deploy.rules_files import GeneratedRules, generate_rules, managed_rules, rules_source
from .emulator_api import EmulatorError, _request


def load_rules(host: str, project: str, text: str) -> None:
    """Replace the rules of `project` on the emulator at `host`; EmulatorError with its compiler's words."""
    body = {"rules": {"files": [{"name": "firestore.rules", "content": text}]}}
    try:
        _request("PUT", host, f"/emulator/v1/projects/{project}:securityRules", body)
    except EmulatorError as exc:
        raise EmulatorError(f"the Firestore emulator refused the security rules: {_compiler_message(exc)}") from None


def start_loading_project_rules(host: str, project: str, project_root: Path, app: str) -> "Future[Path | None]":
    """Load the app's generated rules when the project uses onto's rules; resolves to their file, or None.

    Generated here (importing the app stays on the caller's thread), loaded
    on a thread of its own: the emulator's first compile of rules takes
    seconds (3 s measured on a loaded 2-core machine, then about 0.3 s), which
    the stack overlaps with starting its host.
    """
    config = load_project(project_root)
    if managed_rules(config) is None and rules_source(config) is None:
        done: "Future[Path | None]" = Future()
        done.set_result(None)
        return done
    generated = generate_rules(config, app)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onto-rules")
    loading = pool.submit(_load_generated, host, project, generated)
    pool.shutdown(wait=False)
    return loading


def _load_generated(host: str, project: str, generated: GeneratedRules) -> Path:
    load_rules(host, project, generated.text)
    return generated.output


def _compiler_message(exc: EmulatorError) -> str:
    """The emulator's own one-line reason ("L3:5 Unexpected '}'"), out of its JSON answer."""
    text = str(exc)
    try:
        message = json.loads(text[text.index("{"):])["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return text
    return " ".join(str(message).split())
