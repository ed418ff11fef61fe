"""Which of a project's files may enter a bundle, read once per build.

Never in a bundle: venvs (any folder with a pyvenv.cfg), .git, caches,
tests, build metadata (*.egg-info), coverage output, our own output (bundle
folders, firebase.json, whose changes would otherwise change every hash),
`.env*`, and anything that looks like a credential (see `credential_files.py`). A credential among
files the user asked to include (`[tool.onto] include`) is left out with a
`BundleWarning`; a file a trigger imports that may not be bundled is refused
(`BundleError`): leaving it out would ship a function that crashes, shipping
it could leak it.
"""

from __future__ import annotations

import fnmatch
import os
import warnings
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from .bundle_errors import BundleError, BundleWarning
from .bundle_folder import MARKER
from .import_closure import SKIPPED_DIRS
from .credential_files import secret_reason

# Folder names never copied into a bundle, wherever they appear.
EXCLUDED_DIRS = SKIPPED_DIRS | frozenset({
    "env", ".hg", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox",
    "tests", "test", "emulator_tests", ".idea", ".vscode", "htmlcov",
})
EXCLUDED_DIR_PATTERNS = ("*.egg-info", "*.dist-info")
# Files in a folder that make it never bundled: a virtualenv, a conda env, a bundle written before.
EXCLUDED_DIR_SIGNS = ("pyvenv.cfg", "conda-meta", MARKER)
EXCLUDED_FILES = (
    "test_*.py", "*_test.py", "conftest.py", "*.pyc", "*.pyo", ".env*", ".DS_Store",
    ".coverage", ".coverage.*", "coverage.xml", "firebase.json", ".firebaserc", "firebase-debug*.log",
)


def excluded_reason(relative: PurePosixPath | Path) -> str | None:
    """Why a project file may never be bundled (a venv, cache, test, .env...), or None."""
    parts = PurePosixPath(relative).parts
    for part in parts[:-1]:
        if excluded_dir_name(part):
            return f"it is inside {part}/"
    for pattern in EXCLUDED_FILES:
        if fnmatch.fnmatchcase(parts[-1], pattern):
            return f"its name matches {pattern!r}"
    return None


def excluded_dir_name(name: str) -> bool:
    """True for a folder name never bundled wherever it is (venv, tests, build, *.egg-info...)."""
    return name in EXCLUDED_DIRS or any(fnmatch.fnmatchcase(name, p) for p in EXCLUDED_DIR_PATTERNS)


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
        globs = [(pattern, tuple(PurePosixPath(pattern).parts)) for pattern in patterns]
        found: dict[str, bytes] = {}
        if not globs:
            return found
        for relative in self._candidates():
            pattern = next((p for p, parts in globs if glob_matches(parts, relative.parts)), None)
            if pattern is None:
                continue
            secret = secret_reason(self.root / relative)
            if secret:
                warnings.warn(BundleWarning(
                    f"left {relative.as_posix()} out of every bundle: it looks like a credential "
                    f"({secret}), although [tool.onto] include = {pattern!r} matches it"), stacklevel=4)
            elif not excluded_reason(relative):  # caches, tests...: never bundled, nothing to say
                found[relative.as_posix()] = (self.root / relative).read_bytes()
        return found

    def _candidates(self) -> Iterator[PurePosixPath]:
        """Every project file outside the folders never bundled (those are not even entered), in path order."""
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not self._never_entered(here / d))
            relative = PurePosixPath(here.relative_to(self.root).as_posix())
            for name in sorted(files):
                yield relative / name

    def _never_entered(self, folder: Path) -> bool:
        """A folder never bundled: by name, as our build dir, or by what it holds (a venv, a bundle)."""
        if excluded_dir_name(folder.name) or (folder.parent == self.root and folder.name == self._build_top):
            return True
        return any((folder / sign).exists() for sign in EXCLUDED_DIR_SIGNS)


def glob_matches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """pathlib's glob rules for one relative path: `*` within a name, `**` for any number of folders."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(glob_matches(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and glob_matches(rest, parts[1:])
