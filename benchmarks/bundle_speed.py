"""Figures for `onto bundle` and `onto list`: time (10 and 100 triggers, cold, unchanged and after a
one-line change), bundle size, and the import time of a generated main.py beside a minimal hand-written
firebase-functions Firestore handler (the cold-start share we control).

    .venv/bin/python -m benchmarks.bundle_speed [--runs 7] [--reference-python PATH]

`onto bundle` is timed as a user runs it: a fresh `python -m onto_functions_cli.main bundle`
process (interpreter start, imports, discovery, bundling, firebase.json), beside the same
bundling done in-process by `build_bundles` (the anchor: the work itself, no process start).
`onto list` likewise, beside a bare `python -c pass` process (the floor of any command).
Import times are the median of fresh processes (`import main` in the bundle's
folder, so the vendored runtime is what loads). The reference handler needs
firebase-functions, which onto does not depend on: by default the reference
environment `benchmarks.reference_env` builds (and keeps) under .onto/bench/;
--reference-python PATH takes another.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Callable

from benchmarks.reference_env import installed_version, reference_python
from benchmarks.summary_rows import print_row

REPO = Path(__file__).resolve().parents[1]

MODELS = '''
from onto_functions import DomainModel, ViewModel, fields


class Hit(DomainModel):
    class Meta:
        collection = "hits"
    target = fields.Str(required=True)


class Tally(ViewModel):
    class Meta:
        path = "tallies/{target}"
    count = fields.Int(load_default=0)
'''

MEDIATOR = '''
from onto_functions import Mediator, sink, source

from bench_app.models import Hit, Tally


class Tally{i}Mediator(Mediator):
    source = source.document("hits{i}/{{hit_id}}", Hit)
    sink = sink.firestore(Tally)

    @source.triggers.on_write
    def count(self, change, store):
        hit = change.after
        tally = store.get_view(Tally, target=hit.target) or Tally(target=hit.target, count=0)
        tally.count += 1
        self.sink.emit(store, tally, target=hit.target)
'''

HANDWRITTEN = '''
from firebase_functions import firestore_fn


@firestore_fn.on_document_written(document="hits/{hit_id}")
def count(event: firestore_fn.Event[firestore_fn.Change[firestore_fn.DocumentSnapshot | None]]) -> None:
    pass
'''

IMPORT_MAIN = "import time; t = time.perf_counter(); import main; print(time.perf_counter() - t)"
# What the first event needs besides main.py, imported lazily by both, so main.py alone would
# flatter either: the hand-written handler's Firestore client library; onto's REST client and the
# standard library's http.client (its server has loaded that already).
IMPORT_READY_THEIRS = ("import time; t = time.perf_counter(); import main; import google.cloud.firestore; "
                       "print(time.perf_counter() - t)")
IMPORT_READY_OURS = ("import time; t = time.perf_counter(); import main; import http.client; "
                     "from onto_functions.clients import client_for; client_for('demo-x'); "
                     "print(time.perf_counter() - t)")


def write_app(root: Path, n: int) -> None:
    package = root / "bench_app"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(MODELS)
    names = []
    for i in range(n):
        (package / f"m{i}.py").write_text(textwrap.dedent(MEDIATOR.format(i=i)))
        names.append(f"from bench_app.m{i} import Tally{i}Mediator")
    (package / "main.py").write_text("\n".join(names) + "\n")
    (root / "pyproject.toml").write_text('[tool.onto]\napp = "bench_app.main"\nbuild_dir = "build/onto"\n')


# As a user's shell runs the CLI: Python caches the bytecode it compiles (a sandbox that sets
# PYTHONDONTWRITEBYTECODE would otherwise time a compile of every module edited since the last run).
CLI_ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}


def onto_bundle(root: Path) -> tuple[float, dict[str, str]]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "onto_functions_cli.main", "bundle", "--json", "-C", str(root)],
                          cwd=REPO, capture_output=True, text=True, check=True, env=CLI_ENV)
    elapsed = time.perf_counter() - began
    return elapsed, {b["function"]: b["contentHash"] for b in json.loads(done.stdout)["bundles"]}


def onto_list(root: Path) -> float:
    """Seconds of a fresh `onto list` process on the app (unchanged since the last bundle: cached specs)."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "onto_functions_cli.main", "list", "--json", "-C", str(root)],
                   cwd=REPO, capture_output=True, text=True, check=True, env=CLI_ENV)
    return time.perf_counter() - began


def bare_python() -> float:
    """Seconds of a `python -c pass` process: what any command pays before its own work."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=CLI_ENV)
    return time.perf_counter() - began


def median_of(measure: Callable[[], float], runs: int) -> float:
    return statistics.median(measure() for _ in range(runs))


def folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file() and "venv" not in p.parts]
    return sum(p.stat().st_size for p in files), len(files)


def import_once(python: str, folder: Path, code: str = IMPORT_MAIN) -> float:
    done = subprocess.run([python, "-c", code], cwd=folder, capture_output=True, text=True, check=True, env=CLI_ENV)
    return float(done.stdout.strip().splitlines()[-1])


def median_imports(candidates: list[tuple[str, Path]], runs: int, code: str | list[str] = IMPORT_MAIN) -> list[float]:
    """Median import time of each (python, folder), with its own code when `code` is a list; runs
    interleaved so machine load hits all alike."""
    codes = code if isinstance(code, list) else [code] * len(candidates)
    times: list[list[float]] = [[] for _ in candidates]
    for _ in range(runs):
        for i, (python, folder) in enumerate(candidates):
            times[i].append(import_once(python, folder, codes[i]))
    return [statistics.median(t) for t in times]


def library_times(root: Path) -> tuple[float, float, float]:
    """build_bundles in this process: into a fresh build dir, again unchanged (after the one run that checks
    the fresh bundles file by file), then after touching one mediator."""
    from onto_functions.deploy.bundle import build_bundles

    build = root / "build" / "inproc"
    timed = []
    for change in (None, None, None, "# another one-line change\n"):
        if change:
            with (root / "bench_app" / "m1.py").open("a") as f:
                f.write(change)
        began = time.perf_counter()
        build_bundles("bench_app.main", build, project_root=root)
        timed.append(time.perf_counter() - began)
    return timed[0], timed[2], timed[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per import-time figure")
    parser.add_argument("--reference-python", default=None, help="default: benchmarks.reference_env's")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}; figures are wall-clock on this machine\n")
    with tempfile.TemporaryDirectory(prefix="onto-bench-") as tmp:
        sample_bundle = bundle_figures(Path(tmp), args.runs)
        reference = Path(args.reference_python) if args.reference_python else reference_python()
        import_figures(sample_bundle, Path(tmp), args.runs, reference)


def bundle_figures(tmp: Path, runs: int) -> Path:
    """`onto bundle` and build_bundles times for 10 and 100 triggers, `onto list` for 100; returns one bundle's copy."""
    print("onto bundle (fresh `python -m onto_functions_cli.main bundle` process each time)")
    print(f"{'triggers':>9} {'cold s':>8} {'no-op s':>8} {'1-line s':>9} {'rebundled':>10} {'bundle KiB':>11} {'files':>6} {'total MiB':>10}")
    sample_bundle = tmp / "sample"
    library: dict[int, tuple[float, float, float]] = {}
    process: dict[int, tuple[float, float]] = {}
    for n in (10, 100):
        root = tmp / f"app{n}"
        write_app(root, n)
        cold, hashes = onto_bundle(root)
        # The first run after a write checks each bundle file by file (its folder times are too recent to
        # prove anything) and records them again; from then on an unchanged bundle is a few folder stats.
        verify, same = onto_bundle(root)
        assert same == hashes, "a rebuild without changes changed a hash"
        noop = median_of(lambda: onto_bundle(root)[0], runs)
        with (root / "bench_app" / "m0.py").open("a") as f:
            f.write("# a one-line change\n")
        changed, after = onto_bundle(root)
        process[n] = (noop, changed)
        rebundled = sorted(k for k in after if after[k] != hashes[k])
        one = root / "build" / "onto" / "tally0-count"
        size, count = folder_size(one)
        total, _ = folder_size(root / "build" / "onto")
        print(f"{n:>9} {cold:>8.2f} {noop:>8.2f} {changed:>9.2f} {len(rebundled):>10} {size / 1024:>11.0f} "
              f"{count:>6} {total / 2**20:>10.1f}   (first unchanged run after the write: {verify:.2f} s)")
        library[n] = library_times(root)
        if n == 10:
            shutil.copytree(one, sample_bundle)
    print("\nthe same work in-process (build_bundles only: no interpreter start, CLI imports or firebase.json)")
    for n, (cold, noop, changed) in library.items():
        print(f"{n:>9} triggers: cold {cold:.2f} s, unchanged {noop:.2f} s, after a one-line change {changed:.2f} s")
    list_figures(tmp / "app100", runs, process[100], library[100])
    return sample_bundle


def list_figures(root: Path, runs: int, process: tuple[float, float], library: tuple[float, float, float]) -> None:
    """`onto list` on the 100-trigger app as a fresh process, beside a bare interpreter; the summary rows."""
    listed, floor = median_of(lambda: onto_list(root), runs), median_of(bare_python, runs)
    print(f"\nonto list, 100 triggers, unchanged app (median of {runs} fresh processes): {listed:.2f} s; "
          f"a bare `python -c pass`: {floor:.3f} s")
    (noop, changed), (_, lib_noop, lib_changed) = process, library
    print_row("onto bundle, 100 triggers, unchanged, as a process", f"{noop:.2f} s",
              f"{lib_noop:.2f} s, build_bundles in-process", noop / lib_noop, "≤ 0.3 s")
    print_row("onto bundle, 100 triggers, one-line change, as a process", f"{changed:.2f} s",
              f"{lib_changed:.2f} s, build_bundles in-process", changed / lib_changed, "≤ 0.6 s")
    print_row("onto list, 100 triggers, as a process", f"{listed:.2f} s", f"{floor:.3f} s, `python -c pass`",
              listed / floor, "≤ 0.3 s")


def import_figures(sample_bundle: Path, tmp: Path, runs: int, reference: Path) -> None:
    """Import time of a generated main.py, beside a hand-written firebase-functions handler when one can run."""
    print("\nimport time of main.py (median of", runs, "fresh processes, interleaved)")
    if not reference.exists():
        ours, = median_imports([(sys.executable, sample_bundle)], runs)
        print(f"  generated main.py (onto, pinned deps, this venv)      {ours * 1000:7.0f} ms")
        print(f"  reference: {reference} not found; see this script's docstring to make it")
        return
    hand = tmp / "handwritten"
    hand.mkdir()
    (hand / "main.py").write_text(HANDWRITTEN)
    ours, ours_there, theirs = median_imports(
        [(sys.executable, sample_bundle), (str(reference), sample_bundle), (str(reference), hand)], runs)
    print(f"  generated main.py (onto, pinned deps, this venv)      {ours * 1000:7.0f} ms")
    version = installed_version(reference, "firebase-functions")
    print(f"  generated main.py (onto, in the reference venv)       {ours_there * 1000:7.0f} ms")
    print(f"  hand-written firebase-functions {version} handler       {theirs * 1000:7.0f} ms")
    print(f"  ratio onto / hand-written: {ours / theirs:.2f}x (same venv: {ours_there / theirs:.2f}x; aim <= 1.2x)")
    ready_ours, ready_theirs = median_imports(
        [(str(reference), sample_bundle), (str(reference), hand)], runs, [IMPORT_READY_OURS, IMPORT_READY_THEIRS])
    print("  with the Firestore client each needs for its first event (both in the reference venv):")
    print(f"    onto {ready_ours * 1000:.0f} ms, hand-written {ready_theirs * 1000:.0f} ms: "
          f"ratio {ready_ours / ready_theirs:.2f}x")
    print_row("import of main.py", f"{ours * 1000:.0f} ms", f"{theirs * 1000:.0f} ms, hand-written "
              f"firebase-functions {version} handler", ours / theirs, "≤ 1.2×")
    print_row("import of main.py + the Firestore client", f"{ready_ours * 1000:.0f} ms",
              f"{ready_theirs * 1000:.0f} ms, the same hand-written handler", ready_ours / ready_theirs)


if __name__ == "__main__":
    main()
