"""The fixtures load every documented way: the pytest11 entry point, `-p onto_functions`, `pytest_plugins`.

Each case runs pytest in a fresh process on a tiny project (what `onto init`
writes, plus a conftest.py and a test file that uses every fixture), so the
child starts its own emulator and sees only what the case enables. The case
with autoloading off and nothing enabled must not find the fixtures: that
proves the other autoload-off cases get them the way they say, not from the
entry point.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from onto_functions.deploy.scaffold import package_name, scaffold

FIXTURE_TESTS = '''
def test_db_writes_and_reads_on_the_emulator(db, project_id, firestore_emulator, event_receiver):
    assert firestore_emulator.started_here
    assert firestore_emulator.functions_emulator == event_receiver.host
    assert project_id.startswith("demo-test-")
    db.document("notes/n1").set({"project": project_id})
    assert db.document("notes/n1").get().to_dict() == {"project": project_id}


def test_onto_stack_resolves(onto_stack):
    assert callable(onto_stack)
'''

STACK_TEST = '''
from onto_functions.testing import wait_for


def test_the_stack_runs_the_app(onto_stack, db):
    onto_stack("{package}.main")
    db.document("greetings/g1").set({{"name": "Ada"}})
    welcome = wait_for(lambda: db.document("welcomes/g1").get().to_dict(), timeout=60, message="the welcome")
    assert welcome == {{"message": "Welcome, Ada!"}}
'''

PLUGIN = "onto_functions.testing.plugin"
STACK = "onto_functions.testing.stack"
CHILD_ENV_DROPS = ("FIRESTORE_EMULATOR_HOST", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS",
                   "PYTEST_PLUGINS", "PYTHONPATH")


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """`onto init`'s project plus tests that use each fixture; the app is `<package>.main`."""
    root = tmp_path / "tiny-app"
    scaffold(root)
    (root / "tests" / "test_fixtures.py").write_text(FIXTURE_TESTS)
    (root / "tests" / "test_stack_runs.py").write_text(STACK_TEST.format(package=package_name(root)))
    return root


def run_pytest(root: Path, *args: str, autoload: bool, conftest_plugins: list[str] | None) -> tuple[int, str]:
    """pytest in a fresh process on `root`; returns its exit code and output."""
    if conftest_plugins is not None:
        (root / "conftest.py").write_text(f"pytest_plugins = {conftest_plugins!r}\n")
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROPS}
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=240)
    return done.returncode, done.stdout + done.stderr


def passed(output: str) -> int:
    found = re.search(r"(\d+) passed", output)
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize("autoload, args, conftest_plugins", [
    pytest.param(True, [], None, id="entry-point"),
    pytest.param(False, ["-p", "onto_functions"], None, id="autoload-off,-p-onto_functions"),
    pytest.param(False, [], [PLUGIN], id="autoload-off,pytest_plugins-plugin"),
    pytest.param(True, [], [STACK], id="autoload-on,pytest_plugins-stack"),
])
def test_every_fixture_works(tiny_project: Path, autoload, args, conftest_plugins) -> None:
    code, output = run_pytest(tiny_project, *args, "tests/test_fixtures.py",
                              autoload=autoload, conftest_plugins=conftest_plugins)
    assert code == 0 and passed(output) == 2, output[-4000:]


def test_pytest_plugins_stack_alone_runs_a_whole_stack(tiny_project: Path) -> None:
    """The form stack.py's docstring recommends, autoloading off: every fixture, and a stack that runs the app."""
    code, output = run_pytest(tiny_project, "tests/test_fixtures.py", "tests/test_stack_runs.py",
                              autoload=False, conftest_plugins=[STACK])
    assert code == 0 and passed(output) == 3, output[-4000:]


def test_autoload_off_and_nothing_enabled_finds_no_fixture(tiny_project: Path) -> None:
    code, output = run_pytest(tiny_project, "tests/test_fixtures.py", autoload=False, conftest_plugins=None)
    assert code != 0 and passed(output) == 0, output[-4000:]
    assert "fixture 'db' not found" in output and "fixture 'onto_stack' not found" in output, output[-4000:]
