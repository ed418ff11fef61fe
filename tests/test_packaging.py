"""The distribution installs only names of its own, and `onto` works from a wheel installed in a fresh venv.

The repository's folders `cli/` and `function_templates/` would be top-level
packages named `cli` and `function_templates` if installed as they are,
where any other distribution's `cli` collides with ours; pyproject.toml
installs them as `onto_functions_cli` and as package data of onto_functions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.test_bundle import write_project

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "onto_functions", "cli", "function_templates")
OUR_TOP_LEVEL = {"onto_functions", "onto_functions_cli"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline from a copy of the sources (the build writes build/ and *.egg-info beside them)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out),
         str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return next(out.glob("onto_functions-*.whl"))


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_installs_no_cli_or_function_templates_at_top_level(wheel):
    top = {name.split("/")[0] for name in wheel_names(wheel)}
    assert {t for t in top if not t.endswith(".dist-info")} == OUR_TOP_LEVEL
    entry_points = next(n for n in wheel_names(wheel) if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert "onto = onto_functions_cli.main:app" in archive.read(entry_points).decode()


def test_the_wheel_holds_every_module_and_template_of_the_repository(wheel):
    expected = {f"onto_functions/{p.relative_to(REPO / 'onto_functions').as_posix()}"
                for p in (REPO / "onto_functions").rglob("*.py") if "__pycache__" not in p.parts}
    expected |= {f"onto_functions_cli/{p.name}" for p in (REPO / "cli").glob("*.py")}
    expected |= {f"onto_functions/deploy/function_templates/{p.relative_to(REPO / 'function_templates').as_posix()}"
                 for p in (REPO / "function_templates").rglob("*.tmpl")}
    missing = sorted(expected - wheel_names(wheel))
    assert not missing, f"not in the wheel (list their packages in pyproject.toml [tool.setuptools] packages): {missing}"


def fresh_venv_with(wheel: Path, folder: Path) -> Path:
    """A new venv with the wheel installed; its dependencies come from this test's environment, after its own."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "onto-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_onto_from_a_wheel_in_a_fresh_venv_bundles_with_the_installed_templates(wheel, tmp_path):
    python = fresh_venv_with(wheel, tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    project = write_project(tmp_path / "proj")
    done = subprocess.run([str(python.parent / "onto"), "bundle", "--json", "-C", str(project)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    bundles = json.loads(done.stdout)["bundles"]
    assert sorted(b["function"] for b in bundles) == ["audit-record", "order-count", "stock-restock"]
    assert all((Path(b["path"]) / "main.py").is_file() for b in bundles)
    where = subprocess.run(
        [str(python), "-c", "import onto_functions, onto_functions_cli; from onto_functions.deploy import templates; "
                            "print(templates.templates_dir()); print(onto_functions_cli.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    installed = (tmp_path / "venv").resolve()
    assert all(Path(p).resolve().is_relative_to(installed) for p in where), where
