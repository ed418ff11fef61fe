"""Which of a project's own modules a trigger needs: the static import graph.

Why static (`ast`) and not "import it and look at sys.modules": importing
user code runs it, and sys.modules also holds everything imported by *other*
triggers discovered in the same process, so one trigger would drag in the
code of all. Reading the source gives each trigger its own closure, which
is what makes a bundle's hash change only when *its* code changes.

Limits, on purpose: imports done with `importlib.import_module(<string>)`
or `__import__` are invisible; add such modules with `[tool.onto] include`.
Every `import` statement counts, wherever it is (inside functions, `try`,
`if TYPE_CHECKING`): over-including costs a redeploy, under-including
costs a crash in production.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .parsed_imports import Imports, parsed_imports

# Folders never searched for project modules (the runtime is vendored apart).
SKIPPED_TOP_LEVEL = frozenset({"onto_functions"})
SKIPPED_DIRS = frozenset({"venv", ".venv", ".git", "node_modules", "__pycache__", "build", "dist", ".onto"})


class DependencyError(ValueError):
    """A module of the closure cannot be read or parsed."""


@dataclass(frozen=True)
class Closure:
    """The project files one module needs, and the third-party modules it imports."""

    files: tuple[Path, ...]  # relative to the project root, sorted
    # Dotted names imported from outside the project and the standard library, with their parents:
    # `from google.cloud import storage` gives google, google.cloud and google.cloud.storage
    # (an imported name may be an attribute rather than a module: whoever maps names to
    # distributions takes the longest one it knows).
    external: frozenset[str]


def module_file(module: str, project_root: Path) -> Path | None:
    """The file that defines `module` inside `project_root`, or None if it is not the project's."""
    parts = module.split(".")
    if parts[0] in SKIPPED_TOP_LEVEL or any(p in SKIPPED_DIRS for p in parts):
        return None
    base = project_root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(relative: Path) -> str:
    """The module a project file defines: `shop/models.py` → `shop.models`, `shop/__init__.py` → `shop`."""
    parts = list(PurePosixPath(relative).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package_dir(module: str, project_root: Path) -> bool:
    return project_root.joinpath(*module.split(".")).is_dir()


def _imports_cached(path: Path, name: str, needed_by: str) -> Imports:
    """The imports of one file, parsed once per content (many triggers share modules, and runs repeat)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DependencyError(f"cannot read {path} (needed by {needed_by}): {exc}") from exc
    try:
        return parsed_imports(data, name, path.name == "__init__.py", str(path))
    except (SyntaxError, ValueError) as exc:
        raise DependencyError(f"cannot parse {path} (needed by {needed_by}): {exc}") from exc


def closure(module: str, project_root: Path) -> Closure:
    """Every project file that importing `module` may execute (itself, parent packages, imports)."""
    root = project_root.resolve()
    seen: set[str] = set()
    files: set[Path] = set()
    external: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        parts = name.split(".")
        for i in range(1, len(parts)):
            pending.append(".".join(parts[:i]))
        path = module_file(name, root)
        if path is None:
            if _is_third_party(name, root):
                external.add(name)
            continue
        files.add(path.relative_to(root))
        for target, names in _imports_cached(path, name, module):
            pending.append(target)
            # `from pkg import sub` imports the submodule pkg.sub when there is one (ours or a third party's)
            for item in names:
                sub = f"{target}.{item}"
                if module_file(sub, root) is not None or _is_third_party(target, root):
                    pending.append(sub)
    return Closure(files=tuple(sorted(files)), external=frozenset(external))


def _is_third_party(module: str, root: Path) -> bool:
    """True when `module` is neither the project's, nor the runtime's, nor the standard library's."""
    top = module.partition(".")[0]
    return (
        top not in SKIPPED_TOP_LEVEL
        and top not in sys.stdlib_module_names
        and top != "__future__"
        and module_file(top, root) is None
        and not _is_package_dir(top, root)
    )
