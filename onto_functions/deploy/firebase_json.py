"""firebase.json: one functions codebase per trigger, merged into the user's file.

Why one codebase per trigger: firebase-tools skips a function whose source
hash is unchanged, but hashes per codebase, so with one shared codebase an
edit to one mediator redeploys all of them. One codebase per bundle makes
`firebase deploy --only functions:<codebase>` and its skip per function.

The merge is pure (dict in, dict out): everything that is not an onto
codebase (hosting, emulators, rules, the user's own codebases) is kept as
it was; an onto codebase is one whose `source` lies under the build dir,
so codebases of triggers that are gone are removed.

`onto rules` wires its generated rules file in the same way
(`"firestore": {"rules": "firestore.rules"}`), keeping the indexes and
anything else under "firestore".
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from .bundle import Bundle
from .bundle_folder import MARKER

# Never uploaded from a bundle folder (a local venv lets the emulator run it).
CODEBASE_IGNORE = ("venv", ".git", "__pycache__", "firebase-debug.log", "firebase-debug.*.log", "*.local", MARKER)
DEFAULT_EMULATORS: dict[str, Any] = {
    "firestore": {"host": "127.0.0.1", "port": 8080},
    "functions": {"host": "127.0.0.1", "port": 5001},
    "ui": {"enabled": False},
    "singleProjectMode": True,
}


def codebase_entry(bundle: Bundle, project_root: Path, runtime: str) -> dict[str, Any]:
    """`{source, codebase, ignore, runtime}` for one bundle; source relative to the project.

    A trigger that declares params also gets `configDir: "."`: firebase-tools then reads their values
    from `.env` / `.env.<project>` beside firebase.json, where `onto deploy` reads them, not from the bundle.
    """
    entry = {
        "source": _relative(bundle.path, project_root),
        "codebase": bundle.codebase,
        "ignore": list(CODEBASE_IGNORE),
        "runtime": runtime,
    }
    if bundle.spec.options.params:
        entry["configDir"] = "."
    return entry


def merge_functions(
    existing: dict[str, Any],
    bundles: Iterable[Bundle],
    *,
    project_root: Path,
    build_dir: Path,
    runtime: str,
) -> dict[str, Any]:
    """`existing` with its onto codebases replaced by those of `bundles` (other keys untouched)."""
    merged = dict(existing)
    current = merged.get("functions", [])
    if isinstance(current, dict):  # the single-codebase form
        current = [current]
    if not isinstance(current, list):
        raise ValueError(f"firebase.json 'functions' must be an object or a list, got {type(current).__name__}")
    build_prefix = PurePosixPath(_relative(build_dir, project_root))
    ours = {b.codebase for b in bundles}
    kept = []
    for entry in current:
        source = PurePosixPath(str(entry.get("source", "")))
        if _is_under(source, build_prefix):
            continue  # ours: replaced below (or stale: dropped)
        if entry.get("codebase", "default") in ours:
            raise ValueError(
                f"firebase.json already has a codebase {entry.get('codebase')!r} with source "
                f"{entry.get('source')!r}; rename the trigger or that codebase"
            )
        kept.append(entry)
    new = [codebase_entry(b, project_root, runtime) for b in sorted(bundles, key=lambda b: b.codebase)]
    merged["functions"] = kept + new
    return merged


def update_firebase_json(
    path: Path,
    bundles: Iterable[Bundle],
    *,
    build_dir: Path,
    runtime: str,
    emulators: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge into `path` (created if missing, with `emulators` if given); write only on change."""
    existing = read_firebase_json(path)
    merged = merge_functions(existing, list(bundles), project_root=path.parent, build_dir=build_dir, runtime=runtime)
    if emulators is not None and "emulators" not in merged:
        merged["emulators"] = emulators
    write_firebase_json(path, existing, merged)
    return merged


def read_firebase_json(path: Path) -> dict[str, Any]:
    """firebase.json's content ({} when there is none); ValueError naming the file when it is not JSON."""
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix it first") from exc
    if not isinstance(existing, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(existing).__name__}")
    return existing


def write_firebase_json(path: Path, existing: dict[str, Any], merged: dict[str, Any]) -> bool:
    """Write `merged` atomically when it differs from `existing`; True when written."""
    if merged == existing:
        return False
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return True


def rules_file_of(config: dict[str, Any]) -> str | None:
    """The Firestore rules file firebase.json deploys (`firestore.rules`), if it names one."""
    firestore = config.get("firestore")
    if isinstance(firestore, list):  # several databases: onto manages the default one's
        firestore = next((f for f in firestore if f.get("database", "(default)") == "(default)"), {})
    rules = firestore.get("rules") if isinstance(firestore, dict) else None
    return rules if isinstance(rules, str) else None


def with_rules_file(config: dict[str, Any], rules: str) -> dict[str, Any]:
    """`config` deploying Firestore rules from `rules` (relative to firebase.json); other keys kept."""
    merged = dict(config)
    firestore = merged.get("firestore")
    if isinstance(firestore, list):
        merged["firestore"] = [{**f, "rules": rules} if f.get("database", "(default)") == "(default)" else f
                               for f in firestore]
        if not any(f.get("database", "(default)") == "(default)" for f in firestore):
            merged["firestore"] = [*firestore, {"database": "(default)", "rules": rules}]
        return merged
    merged["firestore"] = {**(firestore if isinstance(firestore, dict) else {}), "rules": rules}
    return merged


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def _is_under(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return path == folder or folder in path.parents
