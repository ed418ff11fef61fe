"""The import statements of a Python file, parsed once per content and kept between runs.

Why: `onto bundle` walks the static import closure of every trigger and
checks the vendored runtime's imports, which means parsing a few hundred
files. Parsing is most of what a no-change `onto bundle` costs as a fresh
process, and the answer depends only on the file's bytes and the module
name it is parsed as. So answers are keyed by exactly that (a content
hash, never an mtime) and kept in the user's cache folder beside the spec
cache; anything unreadable there is a miss.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
from pathlib import Path

from .user_cache import cache_dir

Imports = list[tuple[str, tuple[str, ...]]]
FORMAT = 1
_MAX_ENTRIES = 20_000

_answers: dict[tuple[str, bool, bytes], Imports] | None = None
_dirty = False


def parsed_imports(data: bytes, module: str, is_package: bool, filename: str) -> Imports:
    """(absolute module, names imported from it) for every import in `data` (SyntaxError/ValueError if unparsable)."""
    global _dirty
    answers = _loaded()
    key = (module, is_package, hashlib.sha256(data).digest())
    found = answers.get(key)
    if found is None:
        found = imports_of(ast.parse(data, filename=filename), module, is_package)
        if len(answers) >= _MAX_ENTRIES:
            answers.clear()
        answers[key] = found
        _dirty = True
    return found


def save() -> None:
    """Write new answers to the cache folder (a read-only or missing one is fine: the next run parses again)."""
    global _dirty
    if not _dirty or _answers is None:
        return
    path = _path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("wb") as f:
            pickle.dump({"format": FORMAT, "answers": _answers}, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
        _dirty = False
    except OSError:
        pass


def imports_of(tree: ast.AST, module: str, is_package: bool) -> Imports:
    """(absolute module, names imported from it) for every import statement."""
    found: Imports = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, ()))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".") if package else []
                if node.level - 1 > len(anchor):
                    continue  # a relative import beyond the top: Python fails it too
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                found.append((base, tuple(a.name for a in node.names if a.name != "*")))
    return found


def _loaded() -> dict[tuple[str, bool, bytes], Imports]:
    global _answers
    if _answers is None:
        _answers = _read(_path())
    return _answers


def _read(path: Path) -> dict[tuple[str, bool, bytes], Imports]:
    try:
        with path.open("rb") as f:
            entry = pickle.load(f)
    except Exception:  # missing, truncated, or another version's: start empty
        return {}
    if isinstance(entry, dict) and entry.get("format") == FORMAT and isinstance(entry.get("answers"), dict):
        return entry["answers"]
    return {}


def _path() -> Path:
    return cache_dir() / "imports.pickle"
