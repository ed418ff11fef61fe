"""`onto init`: a new project that runs as is.

What it writes is the smallest complete project: a mediator module, a
pyproject with `[tool.onto]`, requirements.txt, a test on the emulator
fixture, and (through a first `onto bundle`) firebase.json with one
codebase per trigger and the emulator ports.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

MAIN_PY = '''"""{package}: one mediator, from `greetings/{{greeting_id}}` to `welcomes/{{greeting_id}}`."""

from onto_functions import Change, DomainModel, Mediator, Store, ViewModel, fields, sink, source


class Greeting(DomainModel):
    class Meta:
        collection = "greetings"

    name = fields.Str(required=True)


class Welcome(ViewModel):
    class Meta:
        path = "welcomes/{{greeting_id}}"

    message = fields.Str(required=True)


class WelcomeMediator(Mediator):
    """Writes a welcome for every greeting, exactly once per event."""

    source = source.domain_model(Greeting)
    sink = sink.firestore(Welcome)

    @source.triggers.on_create
    def welcome(self, change: Change[Greeting], store: Store) -> None:
        greeting_id = change.params["greeting_id"]
        self.sink.emit(store, Welcome(message=f"Welcome, {{change.after.name}}!"), greeting_id=greeting_id)


mediators = [WelcomeMediator]
'''

TEST_PY = '''"""Runs on the Firestore emulator (fixtures from the onto_functions pytest plugin)."""

from onto_functions.entrypoint import TriggerFunction
from onto_functions.testing.builders import document_event

from {package}.main import WelcomeMediator


def test_a_greeting_gets_one_welcome(db, project_id):
    welcome = TriggerFunction(WelcomeMediator, "welcome-welcome")
    event = document_event(project_id, "greetings/g1", after={{"name": "Ada"}})
    assert welcome.process(event).status == "applied"
    assert welcome.process(event).status == "duplicate"
    assert db.document("welcomes/g1").get().to_dict()["message"] == "Welcome, Ada!"
'''

PYPROJECT = '''[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["onto-functions"]

[tool.onto]
app = "{package}.main"
build_dir = "build/onto"
region = "us-central1"
backend = "firebase"

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

REQUIREMENTS = "onto-functions\n"
GITIGNORE = "venv/\n.venv/\n__pycache__/\nbuild/\n.onto/\n.env*\n*-key.json\nfirebase-debug.log\n"


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
    files = {
        Path("pyproject.toml"): PYPROJECT.format(name=package.replace("_", "-"), package=package),
        Path("requirements.txt"): REQUIREMENTS,
        Path(".gitignore"): GITIGNORE,
        Path(package) / "__init__.py": "",
        Path(package) / "main.py": MAIN_PY.format(package=package),
        Path("tests") / "__init__.py": "",
        Path("tests") / "test_main.py": TEST_PY.format(package=package),
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
