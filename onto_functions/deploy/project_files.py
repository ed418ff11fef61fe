"""Which of a project's files may enter a bundle, read once per build.

Never in a bundle: venvs, .git, caches, tests, our own output, `.env*`, and
anything that looks like a credential (see `secrets.py`). A credential among
files the user asked to include (`[tool.onto] include`) is left out with a
`BundleWarning`; a file a trigger imports that may not be bundled is refused
(`BundleError`): leaving it out would ship a function that crashes, shipping
it could leak it.
"""

from __future__ import annotations

import fnmatch
import warnings
from pathlib import Path, PurePosixPath
from typing import Iterable

from .bundle_errors import BundleError, BundleWarning
from .import_closure import SKIPPED_DIRS
from .secrets import secret_reason

# Folder names never copied into a bundle, wherever they appear.
EXCLUDED_DIRS = SKIPPED_DIRS | frozenset({
    "env", ".hg", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox",
    "tests", "test", "emulator_tests", ".idea", ".vscode",
})
EXCLUDED_FILES = ("test_*.py", "*_test.py", "conftest.py", "*.pyc", "*.pyo", ".env*", ".DS_Store")


def excluded_reason(relative: PurePosixPath | Path) -> str | None:
    """Why a project file may never be bundled (a venv, cache, test, .env...), or None."""
    parts = PurePosixPath(relative).parts
    for part in parts[:-1]:
        if part in EXCLUDED_DIRS:
            return f"it is inside {part}/"
    for pattern in EXCLUDED_FILES:
        if fnmatch.fnmatchcase(parts[-1], pattern):
            return f"its name matches {pattern!r}"
    return None


def refuse_excluded(relative: Path, importer: str) -> None:
    """BundleError when `importer` (a trigger, an app) imports a file that is never bundled."""
    why = excluded_reason(relative)
    if why:
        raise BundleError(
            f"{importer} imports {relative.as_posix()}, but {why} and such files are never bundled; "
            "move the code it needs into the app's package"
        )


class ProjectFiles:
    """The files of one project as bundles take them; each read and checked once, however many bundles share it."""

    def __init__(self, root: Path, build_dir: Path) -> None:
        self.root = root
        build = build_dir if build_dir.is_absolute() else root / build_dir
        try:
            self._build_top: str | None = build.resolve().relative_to(root.resolve()).parts[0]
        except (ValueError, IndexError):
            self._build_top = None  # the build dir is outside the project: nothing to skip
        self._bytes: dict[Path, bytes] = {}
        self._secrets: dict[Path, str | None] = {}

    def imported(self, relative: Path, importer: str) -> bytes:
        """The bytes of a project file `importer` imports; BundleError if it may never be bundled."""
        refuse_excluded(relative, importer)
        if relative not in self._secrets:
            self._secrets[relative] = secret_reason(self.root / relative)
        secret = self._secrets[relative]
        if secret:
            raise BundleError(
                f"{importer} imports {relative.as_posix()}, which looks like a credential ({secret}); "
                "refusing to bundle it. Read secrets at run time (Secret Manager, env vars)"
            )
        data = self._bytes.get(relative)
        if data is None:
            data = self._bytes[relative] = (self.root / relative).read_bytes()
        return data

    def included(self, patterns: Iterable[str]) -> dict[str, bytes]:
        """The files `[tool.onto] include` globs match, minus excluded files and credentials (warned)."""
        found: dict[str, bytes] = {}
        for pattern in patterns:
            for path in sorted(self.root.glob(pattern)):
                if not path.is_file():
                    continue
                relative = path.relative_to(self.root)
                secret = secret_reason(path)
                if secret:
                    warnings.warn(BundleWarning(
                        f"left {relative.as_posix()} out of every bundle: it looks like a credential "
                        f"({secret}), although [tool.onto] include = {pattern!r} matches it"), stacklevel=4)
                    continue
                if excluded_reason(relative) or relative.parts[0] == self._build_top:
                    continue  # caches, venvs, tests, our own output: never bundled, nothing to say
                found[relative.as_posix()] = path.read_bytes()
        return found
