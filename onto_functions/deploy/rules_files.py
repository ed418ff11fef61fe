"""`onto rules` on a project: which files, the app's views, writing, checking and wiring firebase.json.

The user keeps their own rules in `firestore.rules.in` beside firebase.json
(or the file `[tool.onto] rules_source` names); onto writes the merged
result to `firestore.rules` beside firebase.json and makes firebase.json
deploy it. A file onto wrote starts with its marker; one that does not is
the user's and is never overwritten. Writing the file is also how a project
opts in: once `firestore.rules` is onto's, `onto deploy` keeps it current
and deploys it, and the local stack loads it into the emulator.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .firebase_json import read_firebase_json, rules_file_of, with_rules_file, write_firebase_json
from .fresh_discovery import discover_fresh
from .project import ProjectConfig
from .rules import MARKER, RulesRefused, ViewRule, check_user_rules, render_rules, view_rules
from .rules_text import UserRules, read_user_rules

if TYPE_CHECKING:  # the deploy pipeline loads this module: models and mediators only when views are read
    from ..models import ViewModel

RULES_FILE = "firestore.rules"
DEFAULT_SOURCE = "firestore.rules.in"


@dataclass(frozen=True)
class GeneratedRules:
    """The rules file onto would write now, and what it came from."""

    text: str
    output: Path
    source: Path | None  # the user's own rules, if any
    views: tuple[ViewRule, ...]

    @property
    def current(self) -> bool:
        """True when `output` already holds exactly this text."""
        return _read(self.output) == self.text


def app_views(app: str, root: Path) -> list[type["ViewModel"]]:
    """The view models the app's mediators write through `sink.firestore(View)`.

    The app is imported with `root` first on sys.path; a process that
    imported it before sees the modules it loaded then (the local stack has
    just bundled them from disk), unless they came from another project.
    """
    from ..discovery import import_ref, mediators_of
    from ..mediator import FirestoreSink

    loaded = getattr(sys.modules.get(app.partition(":")[0]), "__file__", None)
    if loaded and root.resolve() not in Path(loaded).resolve().parents:
        discover_fresh(app, root)  # a module of the same name from elsewhere: import this project's
    sys.path.insert(0, str(root))
    try:
        mediators = mediators_of(import_ref(app))
    finally:
        sys.path.remove(str(root))
    views = [m.sink.view for m in mediators if isinstance(m.sink, FirestoreSink) and m.sink.view is not None]
    return list(dict.fromkeys(views))


def generate_rules(config: ProjectConfig, app: str, *, output: Path | None = None) -> GeneratedRules:
    """The rules of `app` merged with the user's own; RulesRefused when they cannot be merged safely."""
    target = config.resolve(output) if output else config.root / RULES_FILE
    source = rules_source(config)
    views = view_rules(app_views(app, config.root))
    user: UserRules | None = None
    if source is not None:
        user = read_user_rules(source.read_text(encoding="utf-8"), _shown(source, config.root))
        check_user_rules(user, views, _shown(source, config.root))
    shown = _shown(source, config.root) if source else DEFAULT_SOURCE
    text = render_rules(user, views, source=shown, app=app)
    return GeneratedRules(text, target, source, tuple(views))


def rules_source(config: ProjectConfig) -> Path | None:
    """The user's own rules file: `[tool.onto] rules_source` (which must exist), else firestore.rules.in if any."""
    if config.rules_source is not None:
        path = config.resolve(config.rules_source)
        if not path.is_file():
            raise RulesRefused(f"[tool.onto] rules_source = {str(config.rules_source)!r}: no such file {path}")
        return path
    default = config.root / DEFAULT_SOURCE
    return default if default.is_file() else None


def check_writable(config: ProjectConfig, generated: GeneratedRules) -> None:
    """RulesRefused when writing `generated` would replace the user's own rules (see write_rules)."""
    refuse_foreign_output(generated.output)
    _wired(config, generated)


def write_rules(config: ProjectConfig, generated: GeneratedRules) -> tuple[bool, bool]:
    """Write the rules file and wire it in firebase.json; (rules file changed, firebase.json changed)."""
    refuse_foreign_output(generated.output)
    wiring = _wired(config, generated)
    changed = not generated.current
    if changed:
        generated.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = generated.output.with_name(generated.output.name + ".tmp")
        tmp.write_text(generated.text, encoding="utf-8")
        tmp.replace(generated.output)
    existing, wired = wiring
    return changed, write_firebase_json(config.firebase_json, existing, wired)


def refuse_foreign_output(output: Path) -> None:
    """RulesRefused when `output` exists and onto did not write it: it holds the user's own rules."""
    text = _read(output)
    if text is not None and MARKER not in text:
        raise RulesRefused(f"{output} holds rules onto did not write; move them to {DEFAULT_SOURCE} beside it "
                           "(onto merges them into the file it writes) or pass --output elsewhere")


def _wired(config: ProjectConfig, generated: GeneratedRules) -> tuple[dict, dict]:
    """firebase.json as it is, and as it must be to deploy `generated.output`; refuses to drop user rules."""
    existing = read_firebase_json(config.firebase_json)
    relative = _shown(generated.output, config.root)
    named = rules_file_of(existing)
    if named is not None and named != relative:
        theirs = config.root / named
        if theirs != generated.source and MARKER not in (_read(theirs) or MARKER):
            raise RulesRefused(f"firebase.json deploys Firestore rules from {named!r}, which onto would replace: "
                               f"move them to {DEFAULT_SOURCE} or set [tool.onto] rules_source = {named!r}")
    return existing, with_rules_file(existing, relative)


def managed_rules(config: ProjectConfig) -> Path | None:
    """The rules file onto keeps for this project (firebase.json's, or firestore.rules) if onto wrote it."""
    named = rules_file_of(read_firebase_json(config.firebase_json)) if config.firebase_json.is_file() else None
    path = config.root / (named or RULES_FILE)
    text = _read(path)
    return path if text is not None and MARKER in text else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
