"""What a fresh `onto list` / `onto bundle` process loads, and what the kept parse answers may not hide.

The speed of these commands comes from not loading what the run does not
need (models, marshmallow, the operations library, the Firestore client,
pydantic) and from parse answers kept between runs. These tests pin both
mechanisms; the times themselves are in `benchmarks.bundle_speed`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.notes_app import NOTES_APP

HEAVY = ("marshmallow", "onto_functions.models", "onto_functions.mediator", "onto_functions.ops",
         "google.cloud.firestore", "pydantic", "grpc")

RUN_AND_DUMP_MODULES = textwrap.dedent("""
    import atexit, json, sys
    out = sys.argv.pop(1)
    atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
    from onto_functions_cli.main import main
    sys.argv[0] = "onto"
    main()
""")


def write_app(root: Path, main: str = NOTES_APP) -> None:
    (root / "startapp").mkdir(parents=True, exist_ok=True)
    (root / "startapp" / "__init__.py").write_text("")
    (root / "startapp" / "main.py").write_text(textwrap.dedent(main))
    (root / "pyproject.toml").write_text('[tool.onto]\napp = "startapp.main"\nbuild_dir = "build/onto"\n')


def onto(root: Path, *args: str, cache: Path, modules_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONTO_CACHE_DIR": str(cache)}
    argv = ([sys.executable, "-c", RUN_AND_DUMP_MODULES, str(modules_file)] if modules_file
            else [sys.executable, "-m", "onto_functions_cli.main"])
    done = subprocess.run([*argv, *args, "-C", str(root)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done


def loaded_heavy(modules_file: Path) -> list[str]:
    loaded = json.loads(modules_file.read_text())
    return [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_an_unchanged_app_is_listed_and_bundled_without_models_ops_firestore_or_pydantic(tmp_path):
    cache, tmp_path = tmp_path / "cache", tmp_path / "project"  # a new folder in the project is a change
    write_app(tmp_path)
    onto(tmp_path, "bundle", "--json", cache=cache)  # discovers, parses, fills the caches
    for command in ("list", "bundle"):
        modules = cache.parent / f"{command}.json"
        onto(tmp_path, command, "--json", cache=cache, modules_file=modules)
        assert loaded_heavy(modules) == [], command


def test_a_changed_app_is_discovered_again_in_the_same_command(tmp_path):
    """The other side: a miss does load the app (and so its models) and lists the edit."""
    cache, tmp_path = tmp_path / "cache", tmp_path / "project"
    write_app(tmp_path)
    onto(tmp_path, "list", "--json", cache=cache)
    write_app(tmp_path, NOTES_APP.replace("def index", "def inbox"))
    modules = tmp_path / "modules.json"
    done = onto(tmp_path, "list", "--json", cache=cache, modules_file=modules)
    assert [t["function"] for t in json.loads(done.stdout)] == ["notes-inbox"]
    assert "onto_functions.models" in json.loads(modules.read_text())


def test_kept_parse_answers_follow_the_file_contents(tmp_path):
    """A module newly imported by an edited file is bundled, though the file was parsed (and kept) before."""
    cache, tmp_path = tmp_path / "cache", tmp_path / "project"
    write_app(tmp_path)
    (tmp_path / "startapp" / "helper.py").write_text("VALUE = 1\n")
    onto(tmp_path, "bundle", "--json", cache=cache)
    assert (cache / "imports.pickle").is_file()
    bundle = tmp_path / "build" / "onto" / "notes-index"
    assert not (bundle / "startapp" / "helper.py").exists()
    write_app(tmp_path, NOTES_APP + "\nfrom startapp import helper  # noqa: E402,F401\n")
    onto(tmp_path, "bundle", "--json", cache=cache)
    assert (bundle / "startapp" / "helper.py").read_text() == "VALUE = 1\n"


def test_an_unreadable_parse_cache_is_a_miss_not_an_error(tmp_path):
    cache, tmp_path = tmp_path / "cache", tmp_path / "project"
    write_app(tmp_path)
    cache.mkdir()
    (cache / "imports.pickle").write_bytes(b"not a pickle")
    done = onto(tmp_path, "bundle", "--json", cache=cache)
    assert [b["function"] for b in json.loads(done.stdout)["bundles"]] == ["notes-index"]
