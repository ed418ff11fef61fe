"""`onto init`: a new project that runs as is.

What it writes is the smallest complete project: a mediator module, a
pyproject with `[tool.onto]`, requirements.txt, a test on the emulator
fixture, and (through a first `onto bundle`) firebase.json with one
codebase per trigger and the emulator ports. The files are templates in
`function_templates/new_project/`, readable as the files they become.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from . import templates
from .pipeline import bundle_project
from .project import load_project

# Each file of a new project and its template in function_templates/new_project/.
PROJECT_FILES = (
    ("pyproject.toml", "pyproject.toml.tmpl"),
    ("requirements.txt", "requirements.txt.tmpl"),
    (".gitignore", "gitignore.tmpl"),
    ("{package}/__init__.py", None),
    ("{package}/main.py", "main.py.tmpl"),
    ("tests/__init__.py", None),
    ("tests/test_main.py", "test_main.py.tmpl"),
)


class ScaffoldError(ValueError):
    """The folder is not empty, or its name makes no Python package."""


def package_name(directory: Path) -> str:
    """A Python package name from the folder's name: `my-app` → `my_app`."""
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", directory.resolve().name).strip("_").lower() or "app"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"app_{name}"
    return name


def scaffold(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the project files into `directory`; returns them. Refuses to overwrite unless `force`."""
    package = package_name(directory)
    values = {"package": package, "name": package.replace("_", "-")}
    files = {
        Path(target.format(package=package)): templates.render(f"new_project/{source}", **values) if source else ""
        for target, source in PROJECT_FILES
    }
    existing = [p for p in files if (directory / p).exists()]
    if existing and not force:
        raise ScaffoldError(
            f"{directory} already has {', '.join(map(str, existing))}; use --force to overwrite or choose an empty folder"
        )
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def init_project(directory: Path, *, force: bool = False) -> list[Path]:
    """`onto init`: the project files, then a first bundle and its firebase.json; returns what was written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = scaffold(directory, force=force)
    report = bundle_project(load_project(directory))
    return [*written, report.firebase_json]
