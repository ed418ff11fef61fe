"""The dev loop's pure parts, without an emulator: which triggers an edit changed (by bundle hash), where an
edit broke the app (file:line), what counts as an edit for the watcher, and the line the live view prints.

The swap itself, on the real emulator and workers, is emulator_tests/test_dev_loop.py.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from onto_functions.deploy.bundle import Bundle, BundleContents
from onto_functions.deploy.import_closure import DependencyError, closure
from onto_functions.local.edit_errors import locate
from onto_functions.local.reload import describe, plan_reload
from onto_functions.local.watcher import SourceWatcher, source_state
from onto_functions.spec import TriggerSpec
from onto_functions.testing import wait_for


def bundle(name: str, content_hash: str) -> Bundle:
    spec = TriggerSpec.__new__(TriggerSpec)  # only the name matters here
    object.__setattr__(spec, "name", name)
    return Bundle(spec, Path("/nowhere") / name, content_hash)


def test_only_triggers_whose_bundle_hash_changed_are_swapped_and_new_or_gone_ones_are_named():
    running = {"a": bundle("a", "h1"), "b": bundle("b", "h2"), "gone": bundle("gone", "h3")}
    fresh = [BundleContents(bundle("a", "h1"), {}), BundleContents(bundle("b", "h2-edited"), {}),
             BundleContents(bundle("new", "h4"), {})]
    plan = plan_reload(running, fresh)
    assert [c.bundle.spec.name for c in plan.changed] == ["b"]
    assert [c.bundle.spec.name for c in plan.added] == ["new"]
    assert plan.removed == ["gone"]
    assert plan_reload(running, [BundleContents(b, {}) for b in running.values()]).empty


@pytest.fixture
def project(tmp_path: Path):
    """A project folder on sys.path whose package `editedapp` the test writes; forgotten afterwards."""
    (tmp_path / "editedapp").mkdir()
    (tmp_path / "editedapp" / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("editedapp")]:
        del sys.modules[name]


def error_of(action) -> BaseException:
    with pytest.raises(BaseException) as caught:
        action()
    return caught.value


def test_a_syntax_error_is_named_by_file_and_line_also_when_the_bundler_wraps_it(project):
    (project / "editedapp" / "main.py").write_text("import editedapp.helper\n")
    (project / "editedapp" / "helper.py").write_text("X = 1\n\ndef broken(:\n    pass\n")
    wrapped = error_of(lambda: closure("editedapp.main", project))
    assert isinstance(wrapped, DependencyError)
    where = locate(wrapped, project)
    assert (where.file, where.line, where.kind) == ("editedapp/helper.py", 3, "SyntaxError")
    assert str(where).startswith("editedapp/helper.py:3: SyntaxError: ")
    assert "\n" not in str(where)


def test_an_error_raised_while_importing_is_named_by_the_deepest_line_of_the_project(project):
    (project / "editedapp" / "main.py").write_text(textwrap.dedent('''
        from editedapp import options

        LIMIT = options.limit()
    '''))
    (project / "editedapp" / "options.py").write_text(textwrap.dedent('''
        import json


        def limit():
            return json.loads("{not json")
    '''))
    where = locate(error_of(lambda: importlib.import_module("editedapp.main")), project)
    # json's own frames are not the project's: the line is the user's call into it
    assert (where.file, where.line, where.kind) == ("editedapp/options.py", 6, "JSONDecodeError")


def test_an_error_outside_the_project_keeps_its_message_without_a_place():
    where = locate(error_of(lambda: int("x")), Path("/nonexistent-project"))
    assert (where.file, where.line) == (None, None)
    assert str(where) == "ValueError: invalid literal for int() with base 10: 'x'"


def test_the_watcher_state_changes_with_a_module_but_not_with_an_editors_swap_file(tmp_path):
    module = tmp_path / "main.py"
    module.write_text("A = 1\n")
    before = source_state([module])
    (tmp_path / ".main.py.swp").write_text("editor state")
    (tmp_path / "notes.txt").write_text("not code")
    assert source_state([module]) == before
    (tmp_path / "shadow.py").write_text("")  # a new module in a watched folder may change an import
    assert source_state([module]) != before
    after_new = source_state([module])
    module.write_text("A = 22\n")
    assert source_state([module]) != after_new
    module.unlink()
    assert source_state([module])[module] is None


def test_the_watcher_calls_back_after_an_edit_and_watches_what_the_callback_makes_it_watch(tmp_path):
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text("A = 1\n")
    second.write_text("B = 1\n")
    watched = [first]
    calls: list[int] = []
    lock = threading.Lock()

    def on_change() -> None:
        with lock:
            calls.append(1)
            watched.append(second)  # after a reload, the closure may name new files

    watcher = SourceWatcher(lambda: list(watched), on_change, interval=0.02, settle=0.01).start()
    try:
        first.write_text("A = 2\n")
        wait_for(lambda: len(calls) == 1, timeout=10, message="a callback after the first edit")
        second.write_text("B = 22\n")
        wait_for(lambda: len(calls) == 2, timeout=10, message="a callback after an edit of a newly watched file")
    finally:
        watcher.stop()


def test_the_live_view_line_says_what_was_reloaded_and_what_failed():
    line = describe({"event": "reloaded", "triggers": ["a-copy"], "added": ["b-new"], "removed": {"c-old": 3},
                     "ms": 412.4})
    assert line == ("reloaded 2 trigger(s): a-copy, b-new (new) (412 ms); "
                    "removed c-old (3 queued event(s) kept; delivered if it comes back)")
    failed = describe({"event": "reload_failed", "error": "app/main.py:3: SyntaxError: invalid syntax"})
    assert failed == "reload failed: app/main.py:3: SyntaxError: invalid syntax (the old code keeps running)"
    assert describe({"event": "delivered"}) is None
