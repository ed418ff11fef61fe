"""firebase.json: one functions codebase per trigger, merged into the user's file.

Why one codebase per trigger: firebase-tools skips a function whose source
hash is unchanged, but hashes per codebase, so with one shared codebase an
edit to one mediator redeploys all of them. One codebase per bundle makes
`firebase deploy --only functions:<codebase>` and its skip per function.

The merge is pure (dict in, dict out): everything that is not an onto
codebase (hosting, emulators, rules, the user's own codebases) is kept as
it was; an onto codebase is one whose `source` lies under the build dir,
so codebases of triggers that are gone are removed.
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
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        existing = {}
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix it before bundling") from exc
    merged = merge_functions(existing, list(bundles), project_root=path.parent, build_dir=build_dir, runtime=runtime)
    if emulators is not None and "emulators" not in merged:
        merged["emulators"] = emulators
    if merged != existing:
        text = json.dumps(merged, indent=2) + "\n"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return merged


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def _is_under(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return path == folder or folder in path.parents
