"""The house's structural rules, checked: no import cycle, a runtime floor, one-way layers, short functions.

- Every module of `onto_functions/` and `cli/` imports alone in a fresh
  interpreter (an import cycle shows up as an ImportError for some entry point).
- The runtime (`onto_functions` but `deploy/`, `local/`, `testing/`), what a
  deployed function imports, loads none of those subpackages nor typer, rich,
  click or pytest. `tests/test_bundle.py` checks the same for a built bundle's
  main.py; this checks every runtime module of the package itself.
- Layers depend one way, read from the source with `ast` (absolute and
  relative imports, at any depth of the file): runtime ← deploy, runtime ←
  local ← testing.
- No function or method over 50 lines outside the tests.

Pure: no emulator. The import checks run one interpreter per module, a few at a time.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("onto_functions", "cli")
NOT_RUNTIME = ("onto_functions.deploy", "onto_functions.local", "onto_functions.ops", "onto_functions.testing")
CLI = ("cli", "onto_functions_cli")
RUNTIME_MUST_NOT_LOAD = (*NOT_RUNTIME, *CLI, "typer", "rich", "click", "pytest")
# The Firestore client library is most of a cold start; the runtime speaks REST (firestore_rest.py).
RUNTIME_MUST_NOT_LOAD_AT_IMPORT = ("grpc", "google.cloud.firestore", "google.cloud.firestore_v1", "google.api_core")
MAX_FUNCTION_LINES = 50
CODE_OUTSIDE_TESTS = ("onto_functions", "cli", "function_templates", "examples", "benchmarks")

# Each layer and the layers it must not import.
FORBIDDEN_IMPORTS = {
    "onto_functions.local": ("onto_functions.testing", *CLI),
    "onto_functions.deploy": ("onto_functions.local", "onto_functions.testing", *CLI),
    "onto_functions.ops": ("onto_functions.deploy", "onto_functions.local", "onto_functions.testing", *CLI),
    "runtime": (*NOT_RUNTIME, *CLI),
}


def within(name: str, prefix: str) -> bool:
    """`name` is the module `prefix` or inside it (a.b is within a, a.bc is not)."""
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (REPO / root).rglob("*.py"))


def is_runtime(module: str) -> bool:
    return within(module, "onto_functions") and not any(within(module, p) for p in NOT_RUNTIME)


def layer_of(module: str) -> str | None:
    if is_runtime(module):
        return "runtime"
    return next((layer for layer in FORBIDDEN_IMPORTS if within(module, layer)), None)


# --------------------------------------------------------------------------- fresh interpreters

IMPORT_ALONE = "import importlib, json, sys; importlib.import_module(sys.argv[1]); print(json.dumps(sorted(sys.modules)))"


@dataclass(frozen=True)
class ImportResult:
    module: str
    error: str | None  # the last line of the traceback, or None when it loaded
    loaded: frozenset[str]  # sys.modules afterwards


def import_alone(module: str) -> ImportResult:
    done = subprocess.run([sys.executable, "-c", IMPORT_ALONE, module], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return ImportResult(module, last, frozenset())
    return ImportResult(module, None, frozenset(json.loads(done.stdout)))


@pytest.fixture(scope="module")
def imported_alone() -> dict[str, ImportResult]:
    """Every module of the packages, each imported alone in its own interpreter."""
    modules = sorted({module_name(p) for p in source_files(*PACKAGES)})
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return {r.module: r for r in pool.map(import_alone, modules)}


def test_the_module_list_is_complete(imported_alone):
    assert {"onto_functions", "onto_functions.executor", "onto_functions.testing.stack",
            "onto_functions.local.host", "onto_functions.deploy.bundle", "cli.main"} <= set(imported_alone)


def test_every_module_imports_alone(imported_alone):
    failed = {m: r.error for m, r in imported_alone.items() if r.error}
    assert not failed, "modules that do not import alone (an import cycle?):\n" + "\n".join(
        f"  {m}: {error}" for m, error in sorted(failed.items()))


def test_the_runtime_loads_no_developer_side_module(imported_alone):
    runtime = {m: r for m, r in imported_alone.items() if is_runtime(m) and not r.error}
    assert "onto_functions" in runtime and "onto_functions.entrypoint" in runtime
    leaks = {m: sorted(n for n in r.loaded if any(within(n, p) for p in RUNTIME_MUST_NOT_LOAD))
             for m, r in runtime.items()}
    leaks = {m: names for m, names in leaks.items() if names}
    assert not leaks, "runtime modules that load developer-side modules:\n" + "\n".join(
        f"  {m}: {', '.join(names[:8])}{' …' if len(names) > 8 else ''}" for m, names in sorted(leaks.items()))


def test_the_runtime_loads_no_firestore_client_library(imported_alone):
    runtime = {m: r for m, r in imported_alone.items() if is_runtime(m) and not r.error}
    heavy = {m: sorted(n for n in r.loaded if any(within(n, p) for p in RUNTIME_MUST_NOT_LOAD_AT_IMPORT))
             for m, r in runtime.items()}
    assert not {m: names for m, names in heavy.items() if names}, heavy


# --------------------------------------------------------------------------- imports in the source


def imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, a module of `package`.

    `from m import a` gives m and m.a (a may be a submodule); relative forms are
    resolved against `package`; imports inside functions count too.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def test_imports_are_read_in_every_form():
    source = (
        "import json, onto_functions.deploy.bundle\n"
        "from . import sibling\n"
        "from ..testing import wait_for\n"
        "from .faults import *\n"
        "def later():\n"
        "    from onto_functions import testing\n"
    )
    found = imports_in(source, package="onto_functions.local")
    assert sorted(set(found)) == sorted({
        (1, "json"), (1, "onto_functions.deploy.bundle"),
        (2, "onto_functions.local"), (2, "onto_functions.local.sibling"),
        (3, "onto_functions.testing"), (3, "onto_functions.testing.wait_for"),
        (4, "onto_functions.local.faults"),
        (6, "onto_functions"), (6, "onto_functions.testing"),
    })
    assert within("onto_functions.testing.wait_for", "onto_functions.testing")
    assert not within("onto_functions.testingx", "onto_functions.testing")


def test_layers_import_one_way():
    violations = []
    for path in source_files("onto_functions"):
        layer = layer_of(module_name(path))
        if layer is None:  # the testing helpers sit on top: they may import anything
            continue
        for line, name in imports_of(path):
            for forbidden in FORBIDDEN_IMPORTS[layer]:
                if within(name, forbidden):
                    violations.append(f"  {path.relative_to(REPO)}:{line} ({layer}) imports {name}")
    assert not violations, "imports against the layering (runtime <- deploy, runtime <- local <- testing):\n" + \
        "\n".join(sorted(set(violations)))


# --------------------------------------------------------------------------- function length


def test_no_function_over_50_lines_outside_tests():
    too_long = []
    for path in source_files(*CODE_OUTSIDE_TESTS):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"  {path.relative_to(REPO)}:{node.lineno} {node.name}: {lines} lines")
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)
