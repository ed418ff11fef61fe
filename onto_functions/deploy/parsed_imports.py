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
from pathlib import Path

from .user_cache import cache_dir, load, store

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
    if _dirty and _answers is not None:
        store(_path(), {"format": FORMAT, "answers": _answers})
        _dirty = False


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
    entry = load(path, FORMAT)
    return entry["answers"] if entry is not None and isinstance(entry.get("answers"), dict) else {}


def _path() -> Path:
    return cache_dir() / "imports.pickle"
