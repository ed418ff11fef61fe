"""The specs kept in the spec cache serve a run only while the app's source files are unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from onto_functions.deploy.fresh_discovery import discover_cached
from tests.notes_app import NOTES_APP

APP = NOTES_APP


def write_app(root, text=APP):
    (root / "cachedapp").mkdir(exist_ok=True)
    (root / "cachedapp" / "__init__.py").write_text("")
    (root / "cachedapp" / "main.py").write_text(textwrap.dedent(text))


def forget_app():
    for name in [n for n in sys.modules if n == "cachedapp" or n.startswith("cachedapp.")]:
        del sys.modules[name]


def test_an_unchanged_app_is_not_imported_again(tmp_path):
    write_app(tmp_path)
    first = discover_cached("cachedapp.main", tmp_path)
    forget_app()
    again = discover_cached("cachedapp.main", tmp_path)
    assert again == first and [s.name for s in again] == ["notes-index"]
    assert "cachedapp.main" not in sys.modules  # served from the cache


def test_an_edit_of_the_same_size_shows_at_once(tmp_path):
    write_app(tmp_path)
    assert [s.name for s in discover_cached("cachedapp.main", tmp_path)] == ["notes-index"]
    write_app(tmp_path, APP.replace("def index", "def inbox"))  # same size, same second: no mtime can tell
    assert [s.name for s in discover_cached("cachedapp.main", tmp_path)] == ["notes-inbox"]
    forget_app()


def test_an_edit_of_a_module_the_app_imports_is_a_change(tmp_path):
    write_app(tmp_path, APP + "\nfrom cachedapp.extra import *  # noqa\n")
    (tmp_path / "cachedapp" / "extra.py").write_text("")
    assert [s.name for s in discover_cached("cachedapp.main", tmp_path)] == ["notes-index"]
    (tmp_path / "cachedapp" / "extra.py").write_text(textwrap.dedent(APP.replace("Notes", "More").replace(
        "def index", "def other")))
    assert sorted(s.name for s in discover_cached("cachedapp.main", tmp_path)) == ["more-other", "notes-index"]
    forget_app()


def test_an_edited_mediator_shows_in_onto_list(tmp_path):
    """Two fresh `onto list` processes, as a user runs them, with an edit in between."""
    write_app(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.onto]\napp = "cachedapp.main"\n')

    def onto_list() -> list[str]:
        done = subprocess.run([sys.executable, "-m", "onto_functions_cli.main", "list", "--json", "-C", str(tmp_path)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return [t["function"] for t in json.loads(done.stdout)]

    assert onto_list() == ["notes-index"]
    write_app(tmp_path, APP.replace("def index", "def inbox"))
    assert onto_list() == ["notes-inbox"]
