"""`onto rules`: write (or, with --check, verify) the Firestore security rules generated from the app.

A thin wrapper over `onto_functions.deploy.rules_files`: parse, generate,
write or compare, say what happened.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

from . import render
from .deploy_commands import EXIT_FAILED, AppArg, ProjectDirOpt, _config, _guard

if TYPE_CHECKING:  # loaded by the command itself: other commands start without the models
    from onto_functions.deploy.rules_files import GeneratedRules

RULES_HELP = "\n\n".join([
    "Write firestore.rules beside firebase.json: Firestore security rules generated from the app's views, "
    "merged with your own rules, and make firebase.json deploy it.",
    "[bold]Views[/bold] (the ViewModels your mediators' sinks write) are written by onto's functions only, never "
    "by a client. A view is read by the signed-in user its path names when it says so: "
    "class Meta: path = \"users/{user_id}/sessions/{id}\"; readable_by = \"user_id\" gives "
    "`allow read: if request.auth.uid == user_id`. A view without readable_by is read by no client.",
    "[bold]onto's bookkeeping[/bold] (_onto_ledger, _onto_dead_letters and every _onto_* collection) is read "
    "and written by no client.",
    "[bold]Your own collections[/bold] are yours: write their match blocks in firestore.rules.in beside "
    "firebase.json (or the file \\[tool.onto] rules_source names), either as a whole rules file or just the "
    "blocks that go inside match /databases/{database}/documents. They are included as written. Firestore "
    "grants a request when any allow matches, so a rule of yours that can reach a view or an _onto_* path "
    "(a literal match on them, or a wildcard such as /{document=**}) is refused, naming its line: match your "
    "collections by name instead.",
    "After the first run, `onto deploy` keeps the file current and deploys it (firebase backend: "
    "firestore:rules; the gcloud backend cannot deploy rules and says so), and `onto emulate` loads the same "
    "rules into the Firestore emulator, so client reads behave as in production.",
    "--check writes nothing and exits 1 when the file is missing or stale (for CI).",
    "[bold]Examples[/bold]\n\n  onto rules\n\n  onto rules --check\n\n  onto rules myapp.main --output deploy/firestore.rules",
])


def register(app: typer.Typer) -> None:
    app.command("rules", help=RULES_HELP)(rules)


def rules(
    app_ref: Optional[str] = AppArg, project_dir: Optional[Path] = ProjectDirOpt,
    check: bool = typer.Option(False, "--check", help="write nothing; exit 1 when the rules file is missing or stale"),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="where to write, relative to the project (default: firestore.rules beside firebase.json)"),
) -> None:
    """Generate Firestore security rules from the app's views and your own rules (see RULES_HELP)."""
    from onto_functions.deploy.pipeline import resolve_app
    from onto_functions.deploy.rules_files import generate_rules, write_rules

    err = render.stderr_console()
    config = _guard(err, lambda: _config(project_dir))
    generated = _guard(err, lambda: generate_rules(config, resolve_app(app_ref, config), output=output))
    if check:
        _check(err, generated)
        return
    changed, wired = _guard(err, lambda: write_rules(config, generated))
    render.say(err, "wrote" if changed else "unchanged", "green" if changed else "dim", str(generated.output))
    if wired:
        render.say(err, "wired", "green", f"{config.firebase_json} deploys it (firestore.rules)")
    _summary(err, generated)


def _check(err: Console, generated: "GeneratedRules") -> None:
    if generated.current:
        render.say(err, "current", "green", str(generated.output))
        return
    state = "is missing" if not generated.output.exists() else "is not what `onto rules` writes now"
    render.say(err, "stale:", "bold red", f"{generated.output} {state}; run `onto rules`")
    raise typer.Exit(EXIT_FAILED)


def _summary(err: Console, generated: "GeneratedRules") -> None:
    for view in generated.views:
        who = f"the user named by {{{view.reader}}}" if view.reader else "no client"
        render.say(err, "view", "", f"{view.template} ({', '.join(view.views)}): read by {who}; written by no client")
    source = str(generated.source) if generated.source else "none (firestore.rules.in): clients reach only the views"
    render.say(err, "your rules", "", source)
