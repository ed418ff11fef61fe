"""`[TriggerSpec] → [Bundle]`: one self-contained, deployable folder per trigger.

A bundle holds exactly what its function runs, so that its content hash
changes exactly when that changes:

    <build_dir>/<function name>/
      main.py            rendered from function_templates/main.py.tmpl
      requirements.txt   exact pins of the runtime's dependencies (+ the user's)
      functions.yaml     the static firebase-tools manifest (one gcfv2 endpoint)
      onto_functions/    the runtime, vendored (no deploy/, local/, testing/)
      <user modules>     only the files in the trigger's static import graph
      .onto-bundle.json  what we wrote and its hash (not part of the hash)

Why vendor `onto_functions` instead of pinning it in requirements.txt:
until onto-functions is on PyPI there is nothing to pin, and even then a
vendored copy makes the bundle run from its own folder
(`functions-framework --source <bundle>/main.py`) with exactly the runtime
code that was tested, and makes a runtime change show in every hash.

Never in a bundle: venvs, .git, caches, tests, `.env*`, and anything that
looks like a credential (see `secrets.py`). A credential among files the
user asked to include is left out with a `BundleWarning`; a credential in a
module the trigger imports is refused (`BundleError`): leaving it out would
ship a function that crashes, shipping it would leak it.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import hashlib
import importlib
import json
import re
import shutil
import sys
import warnings
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Iterable

import onto_functions

from ..discovery import discover
from ..spec import TriggerOptions, TriggerSpec
from . import templates
from .deps import Closure, closure, module_file
from .manifest import manifest_for, to_yaml
from .project import ProjectConfig, load_project
from .secrets import secret_reason

MARKER = ".onto-bundle.json"
HASH_VERSION = b"onto-bundle-v1\0"
DISTRIBUTION = "onto-functions"
# Runtime subpackages that a deployed function never imports.
RUNTIME_EXCLUDED = frozenset({"deploy", "local", "testing"})
# Folder names never copied into a bundle, wherever they appear.
EXCLUDED_DIRS = frozenset({
    "venv", ".venv", "env", ".git", ".hg", "__pycache__", ".pytest_cache", ".mypy_cache",
    ".ruff_cache", ".tox", ".nox", "node_modules", "tests", "test", "emulator_tests",
    ".onto", "build", "dist", ".idea", ".vscode",
})
EXCLUDED_FILES = ("test_*.py", "*_test.py", "conftest.py", "*.pyc", "*.pyo", ".env*", ".DS_Store")


class BundleError(ValueError):
    """A bundle cannot be built safely; the message says which trigger, which file, and what to do."""


class BundleWarning(UserWarning):
    """Something was left out of a bundle (a credential, a test file) on purpose."""


@dataclass(frozen=True)
class Bundle:
    """One trigger's deployable folder and the hash of everything in it."""

    spec: TriggerSpec
    path: Path
    entry_point: str
    content_hash: str

    @property
    def codebase(self) -> str:
        return codebase_name(self.spec.name)

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


CODEBASE_RE = re.compile(r"^[a-z0-9_-]{1,63}$")  # firebase-tools' validateCodebase


def codebase_name(function_name: str) -> str:
    """The firebase.json codebase of a trigger: its function name (already valid: ≤63, [a-z0-9-])."""
    if not CODEBASE_RE.match(function_name):
        raise BundleError(f"{function_name!r} is not a valid firebase codebase name ([a-z0-9_-], at most 63)")
    return function_name


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


# --------------------------------------------------------------------------- the whole build


def build_bundles(
    app: str,
    build_dir: Path,
    *,
    project_root: Path,
    config: ProjectConfig | None = None,
) -> list[Bundle]:
    """Discover `app`'s triggers and write one bundle per trigger under `build_dir`.

    Files are rewritten only when their bytes change, and bundles of triggers
    that no longer exist are removed (only folders carrying our marker).
    `config` defaults to `project_root`'s `[tool.onto]`.
    """
    root = project_root.resolve()
    config = config or load_project(root)
    build_dir = build_dir if build_dir.is_absolute() else root / build_dir
    specs = [apply_project_defaults(s, config) for s in discover_fresh(app, root)]
    shared = _SharedFiles(root, config)
    build_dir.mkdir(parents=True, exist_ok=True)
    bundles = []
    for spec in specs:
        files = bundle_files(spec, shared)
        path = build_dir / spec.name
        content_hash = hash_files(files)
        write_bundle(path, files, spec, content_hash)
        bundles.append(Bundle(spec=spec, path=path, entry_point=spec.entry_point, content_hash=content_hash))
    remove_stale_bundles(build_dir, {s.name for s in specs})
    return bundles


def apply_project_defaults(spec: TriggerSpec, config: ProjectConfig) -> TriggerSpec:
    """The project's region applies to triggers that kept the default one (an explicit Meta region wins)."""
    if config.region and spec.options.region == TriggerOptions().region:
        return replace(spec, options=spec.options.with_(region=config.region))
    return spec


def discover_fresh(app: str, root: Path) -> list[TriggerSpec]:
    """`discover(app)` with `root` first on sys.path and the app's own modules re-imported.

    Why re-import: a long-lived process (tests, a watcher) that bundled
    before must see the code as it is on disk now, not as it was imported.
    Only modules of the app's static closure are dropped from sys.modules.
    """
    module = app.partition(":")[0]
    app_files = closure(module, root).files
    for relative in app_files:  # before importing anything: say which file, not a confusing ImportError
        why = excluded_reason(relative)
        if why:
            raise BundleError(
                f"{app} imports {relative.as_posix()}, but {why} and such files are never bundled; "
                "move the code the mediators need into the app's package"
            )
    stale_names = {_module_name(f) for f in app_files}
    files = {root / f for f in app_files}
    for name, loaded in list(sys.modules.items()):
        file = getattr(loaded, "__file__", None)
        if name in stale_names or (file and Path(file) in files):
            del sys.modules[name]
    importlib.invalidate_caches()
    sys.path.insert(0, str(root))
    try:
        return discover(app)
    finally:
        try:
            sys.path.remove(str(root))
        except ValueError:  # pragma: no cover - user code changed sys.path
            pass


def _module_name(relative: Path) -> str:
    parts = list(PurePosixPath(relative).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# --------------------------------------------------------------------------- one bundle's files


class _SharedFiles:
    """Reads each source file once per build, however many bundles use it."""

    def __init__(self, root: Path, config: ProjectConfig) -> None:
        self.root = root
        self.config = config
        self._bytes: dict[Path, bytes] = {}
        self._closures: dict[str, Closure] = {}
        self._secrets: dict[Path, str | None] = {}
        self.build_top = config.build_dir.parts[0] if not config.build_dir.is_absolute() else ""
        self.runtime = runtime_files()
        self.runtime_requirements = runtime_requirements()
        self.extra = self._included_files()

    def closure(self, module: str) -> Closure:
        found = self._closures.get(module)
        if found is None:
            found = self._closures[module] = closure(module, self.root)
        return found

    def secret(self, relative: Path) -> str | None:
        if relative not in self._secrets:
            self._secrets[relative] = secret_reason(self.root / relative)
        return self._secrets[relative]

    def read(self, relative: Path) -> bytes:
        data = self._bytes.get(relative)
        if data is None:
            data = self._bytes[relative] = (self.root / relative).read_bytes()
        return data

    def _included_files(self) -> dict[str, bytes]:
        """`[tool.onto] include` globs, minus excluded files and credentials (warned)."""
        found: dict[str, bytes] = {}
        for pattern in self.config.include:
            for path in sorted(self.root.glob(pattern)):
                if not path.is_file():
                    continue
                relative = path.relative_to(self.root)
                secret = secret_reason(path)
                if secret:
                    warnings.warn(BundleWarning(
                        f"left {relative.as_posix()} out of every bundle: it looks like a credential "
                        f"({secret}), although [tool.onto] include = {pattern!r} matches it"), stacklevel=3)
                    continue
                if excluded_reason(relative) or relative.parts[0] == self.build_top:
                    continue  # caches, venvs, tests, our own output: never bundled, nothing to say
                found[relative.as_posix()] = path.read_bytes()
        return found


def bundle_files(spec: TriggerSpec, shared: _SharedFiles) -> dict[str, bytes]:
    """Every file of one bundle, by relative POSIX path (the marker excepted)."""
    files: dict[str, bytes] = dict(shared.runtime)
    if module_file(spec.module, shared.root) is None:
        raise BundleError(
            f"trigger {spec.name!r} is defined in {spec.module}, which is not a module inside the project "
            f"root {shared.root}; point --project-dir (or project_root) at the folder that holds it"
        )
    needed = shared.closure(spec.module)
    for relative in needed.files:
        why = excluded_reason(relative)
        if why:
            raise BundleError(
                f"trigger {spec.name!r} imports {relative.as_posix()} (from {spec.module}), "
                f"but {why} and such files are never bundled; move the code it needs into the app's package"
            )
        secret = shared.secret(relative)
        if secret:
            raise BundleError(
                f"trigger {spec.name!r} imports {relative.as_posix()}, which looks like a credential "
                f"({secret}); refusing to bundle it. Read secrets at run time (Secret Manager, env vars)"
            )
        files[relative.as_posix()] = shared.read(relative)
    files.update(shared.extra)
    entry_point = spec.entry_point
    mediator_root = spec.mediator.split(".")[0]
    files["main.py"] = templates.render(
        "main.py.tmpl",
        trigger=spec.name,
        module=spec.module,
        mediator_root=mediator_root,
        mediator_expr=spec.mediator,
        mediator_ref=spec.mediator_ref,
        entry_point=entry_point,
    ).encode()
    requirements = [*shared.runtime_requirements, *external_requirements(needed.external), *shared.config.requirements]
    files["requirements.txt"] = templates.render(
        "requirements.txt.tmpl", trigger=spec.name, requirements="\n".join(dict.fromkeys(requirements))
    ).encode()
    manifest = manifest_for(spec, entry_point, trigger_region=shared.config.database_location)
    files["functions.yaml"] = templates.render(
        "functions.yaml.tmpl", trigger=spec.name, manifest=to_yaml(manifest)
    ).encode()
    return files




def hash_files(files: dict[str, bytes]) -> str:
    """sha256 over (path, content) of every file, in path order: the bundle's identity."""
    digest = hashlib.sha256(HASH_VERSION)
    for name in sorted(files):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


# --------------------------------------------------------------------------- the runtime


@functools.lru_cache(maxsize=1)
def runtime_files() -> dict[str, bytes]:
    """The vendored runtime: onto_functions/**.py minus deploy/, local/, testing/.

    Also checks that none of it imports those subpackages: a deployed
    function that did would fail at its first cold start.
    """
    package = Path(onto_functions.__file__).resolve().parent
    files: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if not path.is_file() or relative.parts[0] in RUNTIME_EXCLUDED or "__pycache__" in relative.parts:
            continue
        if path.suffix not in (".py", ".typed"):
            continue
        data = path.read_bytes()
        if path.suffix == ".py":
            _check_runtime_imports(relative, data)
        files[f"onto_functions/{relative.as_posix()}"] = data
    return files


def _check_runtime_imports(relative: Path, data: bytes) -> None:
    for node in ast.walk(ast.parse(data)):
        names: Iterable[str] = ()
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if not node.level else [f".{node.module or ''}"]
        for name in names:
            stem = name.removeprefix("onto_functions").lstrip(".").split(".")[0]
            is_ours = name.startswith("onto_functions") or name.startswith(".")
            if is_ours and stem in RUNTIME_EXCLUDED:
                raise BundleError(
                    f"onto_functions/{relative.as_posix()} imports {name!r}, which is not part of the "
                    "deployed runtime (deploy/, local/ and testing/ are never bundled)"
                )


@functools.lru_cache(maxsize=1)
def runtime_requirements() -> tuple[str, ...]:
    """`name==version` for each runtime dependency of onto-functions, as installed here."""
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise BundleError(
            f"{DISTRIBUTION} is not installed in this Python ({sys.executable}); "
            "install it (pip install -e .) so its runtime dependencies can be pinned"
        ) from None
    pins = []
    for requirement in declared:
        if "extra ==" in requirement.replace('"', "'").replace("'", ""):
            continue
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement)
        if not name:
            continue
        pins.append(_pin(name.group(0)))
    return tuple(pins)


def _pin(distribution: str) -> str:
    try:
        return f"{distribution}=={metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        raise BundleError(f"{distribution} is needed but not installed here; pip install it") from None


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def external_requirements(names: Iterable[str]) -> list[str]:
    """Pins for the third-party modules user code imports (the runtime's own are already pinned)."""
    runtime = {_normalise(r.split("==")[0]) for r in runtime_requirements()}
    pins = []
    for name in sorted(names):
        dists = _packages_distributions().get(name)
        if not dists:
            warnings.warn(BundleWarning(
                f"user code imports {name!r}, which is not installed here; add it to "
                "[tool.onto] requirements so the deployed function can import it"), stacklevel=4)
            continue
        if runtime & {_normalise(d) for d in dists}:
            continue  # provided by the runtime's pins (e.g. the `google` namespace)
        pins += [_pin(d) for d in sorted(set(dists))]
    return pins


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


# --------------------------------------------------------------------------- writing


def write_bundle(path: Path, files: dict[str, bytes], spec: TriggerSpec, content_hash: str) -> None:
    """Make `path` hold exactly `files` (+ marker); untouched files keep their mtime.

    Files we wrote before and no longer need are removed; anything else in
    the folder (a local venv, say) is left alone.
    """
    previous = _read_marker(path)
    if path.exists() and previous is None and any(path.iterdir()):
        raise BundleError(f"{path} exists and was not written by onto bundle; choose another build_dir")
    if previous and previous.get("content_hash") == content_hash and all((path / n).is_file() for n in files):
        return
    for name, data in files.items():
        target = path / name
        try:
            if target.read_bytes() == data:
                continue
        except OSError:
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for name in set(previous.get("files", ()) if previous else ()) - set(files):
        stale = path / name
        stale.unlink(missing_ok=True)
        _remove_empty_parents(stale.parent, path)
    marker = {"trigger": spec.name, "content_hash": content_hash, "files": sorted(files)}
    (path / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def remove_stale_bundles(build_dir: Path, keep: set[str]) -> list[str]:
    """Delete bundle folders (ours: they carry the marker) of triggers that are gone."""
    removed = []
    for child in sorted(build_dir.iterdir()):
        if child.is_dir() and child.name not in keep and (child / MARKER).is_file():
            shutil.rmtree(child)
            removed.append(child.name)
    return removed


def read_bundles(build_dir: Path) -> dict[str, str]:
    """{function name: content hash} of the bundles on disk (what `onto bundle` last wrote)."""
    found = {}
    if build_dir.is_dir():
        for child in sorted(build_dir.iterdir()):
            marker = _read_marker(child)
            if marker:
                found[marker["trigger"]] = marker["content_hash"]
    return found
