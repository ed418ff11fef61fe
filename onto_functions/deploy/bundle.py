"""`[TriggerSpec] → [Bundle]`: one self-contained, deployable folder per trigger.

A bundle holds exactly what its function runs, so that its content hash
changes exactly when that changes:

    <build_dir>/<function name>/
      main.py            rendered from function_templates/main.py.tmpl
      requirements.txt   exact pins of the runtime's dependencies (+ the user's)
      functions.yaml     the static firebase-tools manifest (one gcfv2 endpoint), whose
                         labels carry the hash (the hash covers it without that label)
      onto_functions/    the runtime, vendored (no deploy/, local/, testing/)
      <user modules>     only the files in the trigger's static import graph
      .onto-bundle.json  what we wrote and its hash (not part of the hash)

This module composes a bundle's files and names it; each ingredient has its
own module: `fresh_discovery` (the triggers), `import_closure` (the user
code a trigger needs), `project_files` (which files may go in),
`runtime_files` (the vendored runtime), `requirement_pins`, `manifest`, and
`bundle_folder` (writing it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..spec import TriggerSpec
from . import parsed_imports, templates
from .bundle_errors import BundleError
from .bundle_folder import remove_stale_bundles, write_bundle
from .fresh_discovery import discover_cached
from .import_closure import Closure, closure, module_file
from .manifest import manifest_for, to_yaml
from .project import ProjectConfig, load_project
from .project_files import ProjectFiles
from .requirement_pins import external_requirements, runtime_requirements_for
from .runtime_files import runtime_files

HASH_VERSION = b"onto-bundle-v1\0"
CODEBASE_RE = re.compile(r"^[a-z0-9_-]{1,63}$")  # firebase-tools' validateCodebase

__all__ = ["Bundle", "BundleContents", "build_bundles", "collect_bundles", "write_bundles"]


@dataclass(frozen=True)
class Bundle:
    """One trigger's deployable folder and the hash of everything in it."""

    spec: TriggerSpec
    path: Path
    content_hash: str

    @property
    def entry_point(self) -> str:
        return self.spec.entry_point

    @property
    def codebase(self) -> str:
        return codebase_name(self.spec.name)

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


@dataclass(frozen=True)
class BundleContents:
    """A bundle and its files (by relative POSIX path), before or after they are written."""

    bundle: Bundle
    files: dict[str, bytes]


def codebase_name(function_name: str) -> str:
    """The firebase.json codebase of a trigger: its function name (already valid: ≤63, [a-z0-9-])."""
    if not CODEBASE_RE.match(function_name):
        raise BundleError(f"{function_name!r} is not a valid firebase codebase name ([a-z0-9_-], at most 63)")
    return function_name


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
    config = (config or load_project(root)).with_(root=root)
    contents = collect_bundles(app, config, build_dir)
    write_bundles(config.resolve(build_dir), contents)
    return [c.bundle for c in contents]


def collect_bundles(app: str, config: ProjectConfig, build_dir: Path | None = None) -> list[BundleContents]:
    """Every bundle of `app` with its files and hash, as `build_bundles` would write it; nothing is written."""
    root = config.root
    build_dir = config.resolve(build_dir or config.build_dir)
    specs = [apply_project_defaults(s, config) for s in discover_cached(app, root)]
    project = ProjectFiles(root, build_dir)
    included = project.included(config.include)
    closures: dict[str, Closure] = {}
    found = []
    for spec in specs:
        if spec.module not in closures:
            closures[spec.module] = _trigger_closure(spec, root)
        files = {**bundled_user_files(spec, closures[spec.module], project), **included,
                 **generated_files(spec, closures[spec.module], config)}
        content_hash = hash_files(files)
        files["functions.yaml"] = manifest_file(spec, config, content_hash)  # now with its onto-hash label
        found.append(BundleContents(Bundle(spec, build_dir / spec.name, content_hash), files))
    parsed_imports.save()
    return found


def write_bundles(build_dir: Path, contents: list[BundleContents]) -> None:
    """Write each bundle's folder under `build_dir` and remove the folders of triggers that are gone."""
    build_dir.mkdir(parents=True, exist_ok=True)
    for item in contents:
        write_bundle(item.bundle.path, item.files, item.bundle.spec.name, item.bundle.content_hash)
    remove_stale_bundles(build_dir, {c.bundle.spec.name for c in contents})


def apply_project_defaults(spec: TriggerSpec, config: ProjectConfig) -> TriggerSpec:
    """The project's region applies to triggers whose mediator set none (in Meta or the decorator)."""
    if config.region and "region" not in spec.explicit_options:
        return replace(spec, options=spec.options.with_(region=config.region))
    return spec


def _trigger_closure(spec: TriggerSpec, root: Path) -> Closure:
    if module_file(spec.module, root) is None:
        raise BundleError(
            f"trigger {spec.name!r} is defined in {spec.module}, which is not a module inside the project "
            f"root {root}; point --project-dir (or project_root) at the folder that holds it"
        )
    return closure(spec.module, root)


def bundled_user_files(spec: TriggerSpec, needed: Closure, project: ProjectFiles) -> dict[str, bytes]:
    """The vendored runtime and the project files the trigger imports, by bundle path."""
    files = dict(runtime_files())
    importer = f"trigger {spec.name!r} (in {spec.module})"
    for relative in needed.files:
        files[relative.as_posix()] = project.imported(relative, importer)
    return files


def generated_files(spec: TriggerSpec, needed: Closure, config: ProjectConfig) -> dict[str, bytes]:
    """main.py, requirements.txt and functions.yaml of the trigger's bundle, from function_templates/."""
    runtime = runtime_requirements_for(spec.kind.is_request)
    requirements = [*runtime, *external_requirements(needed.external, runtime), *config.requirements]
    return {
        "main.py": templates.render(
            "main.py.tmpl", trigger=spec.name, module=spec.module, mediator_root=spec.mediator.split(".")[0],
            mediator_expr=spec.mediator, mediator_ref=spec.mediator_ref, entry_point=spec.entry_point,
        ).encode(),
        "requirements.txt": templates.render(
            "requirements.txt.tmpl", trigger=spec.name, requirements="\n".join(dict.fromkeys(requirements)),
        ).encode(),
        "functions.yaml": manifest_file(spec, config),
    }


def manifest_file(spec: TriggerSpec, config: ProjectConfig, content_hash: str | None = None) -> bytes:
    """functions.yaml; the bundle's hash covers it as written without `content_hash` (its own label)."""
    manifest = manifest_for(spec, trigger_region=config.database_location, content_hash=content_hash)
    return templates.render("functions.yaml.tmpl", trigger=spec.name, manifest=to_yaml(manifest)).encode()


def hash_files(files: dict[str, bytes]) -> str:
    """sha256 over (path, content) of every file, in path order: the bundle's identity."""
    digest = hashlib.sha256(HASH_VERSION)
    for name in sorted(files):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()
