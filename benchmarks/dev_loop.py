"""Edit-to-live of `onto emulate`'s dev loop: from saving a file to an event handled by the new code.

    .venv/bin/python -m benchmarks.dev_loop [--samples 10] [--instances 2] [--json]

The stack runs a one-trigger app that writes the version its code says into
each view. Each sample saves the app's version module with a new version
(written beside it and renamed over it, as editors save), then writes a new
source document every 20 ms, each one an event written after the save,
until a view carries the new version. Edit-to-live is the time from the
save to the commit time of the first view written by the new code (the
emulator's clock, this machine's). Its parts, from the stack's own records:
noticing the save (polling every 50 ms, then a 20 ms settle), the reload
(rebuilding the bundles, starting a worker on the new one, switching), and
the rest (the held and new events delivered to the new worker).

For scale, the loop it replaces: stopping the stack and starting it again
(emulator, host, bundles, the first worker) until an event is handled.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from benchmarks.summary_rows import print_row
from onto_functions.local.polling import wait_for
from onto_functions.local.stack import LocalStack, StackConfig
from onto_functions.local.stats import percentile

MEDIATOR = '''
"""Copies each document's n into a view, with the version its code says."""
from onto_functions import Change, Mediator, Store, ViewModel, fields, sink, source

from devapp.version import VERSION


class Seen(ViewModel):
    class Meta:
        path = "seen/{doc_id}"

    n = fields.Int(allow_none=True)
    version = fields.Int()


class SeenMediator(Mediator):
    source = source.document("docs/{doc_id}")
    sink = sink.firestore(Seen)

    @source.triggers.on_write
    def copy(self, change: Change[dict], store: Store) -> None:
        n = (change.after or {}).get("n")
        self.sink.emit(store, Seen(n=n, version=VERSION), doc_id=change.params["doc_id"])
'''


def make_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="onto-devloop-"))
    (root / "devapp").mkdir()
    (root / "devapp" / "__init__.py").write_text("")
    (root / "devapp" / "version.py").write_text("VERSION = 1\n")
    (root / "devapp" / "main.py").write_text(MEDIATOR)
    return root


def save(path: Path, text: str) -> float:
    """Save as an editor does (a new file renamed over the old one); the moment it was saved."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    return time.time()


def first_view_of(db, version: int) -> Any:
    found = db.collection("seen").where(filter=FieldFilter("version", "==", version)).limit(1).get()
    return found[0] if found else None


def write_until_live(db, version: int, sample: int) -> float:
    """Write a new document every 20 ms until a view shows `version`; the earliest such view's commit time."""
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            db.document(f"docs/s{sample}-{i}").set({"n": i})
            i += 1
            stop.wait(0.02)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        wait_for(lambda: first_view_of(db, version), timeout=60, interval=0.01,
                 message=f"a view written by version {version}")
    finally:
        stop.set()
        writer.join(10)
    views = db.collection("seen").where(filter=FieldFilter("version", "==", version)).get()
    return min(s.update_time.timestamp() for s in views)


def one_sample(stack: LocalStack, records: list[dict[str, Any]], root: Path, sample: int) -> dict[str, float]:
    version = sample + 2
    reloads = len([r for r in records if r["event"] == "reloaded"])
    saved = save(root / "devapp" / "version.py", f"VERSION = {version}\n")
    live = write_until_live(stack.client(), version, sample)
    reload = wait_for(lambda: [r for r in records if r["event"] == "reloaded"][reloads:], timeout=30)[0]
    started = [r for r in records if r["event"] == "worker_started" and r["time"] <= reload["time"]][-1]
    stack.wait_idle(timeout=60)
    began = reload["time"] - reload["ms"] / 1000
    worker_start = started["startupMs"] / 1000
    return {"edit_to_live": live - saved, "notice": began - saved, "reload": reload["ms"] / 1000,
            "worker_start": worker_start, "rebuild_and_switch": reload["ms"] / 1000 - worker_start,
            "rest": live - reload["time"]}


def dev_loop(root: Path, samples: int, instances: int) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    project = f"demo-devloop-{uuid.uuid4().hex[:6]}"
    config = StackConfig(app="devapp.main", project=project, project_root=root, state_dir=root / "state",
                         instances=instances, watch=True)
    with LocalStack(config, on_event=records.append) as stack:
        db = stack.client()
        for i in range(5):  # warm: the workers run, as in a session where the trigger was used
            db.document(f"docs/warm{i}").set({"n": i})
        wait_for(lambda: len(db.collection("seen").get()) == 5, timeout=120, message="5 warm-up views")
        taken = [one_sample(stack, records, root, k) for k in range(samples)]
    return {key: summary([t[key] for t in taken]) for key in taken[0]}


def restart_to_live(root: Path, instances: int) -> float:
    """The loop without the watcher: stop the stack, start it again, until an event is handled."""
    project = f"demo-restart-{uuid.uuid4().hex[:6]}"
    config = StackConfig(app="devapp.main", project=project, project_root=root, state_dir=root / "restart",
                         instances=instances)
    stack = LocalStack(config).start()
    stack.stop()
    began = time.time()
    with LocalStack(config) as stack:
        db = stack.client()
        db.document("docs/r").set({"n": 1})
        wait_for(lambda: db.document("seen/r").get().exists, timeout=120, interval=0.01)
        return time.time() - began


def summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round((percentile(values, 95) or 0) * 1000, 1), "n": len(values)}


def report(figures: dict[str, Any]) -> str:
    loop = figures["dev_loop"]

    def fig(key: str) -> str:
        return f"median {loop[key]['median_ms']} ms, p95 {loop[key]['p95_ms']} ms"

    return "\n".join([
        f"edit -> live ({loop['edit_to_live']['n']} saves, {figures['instances']} instances per trigger, "
        f"{figures['machine']['cpus']} cpus, load average {figures['machine']['load_average']} at the start): "
        f"{fig('edit_to_live')}",
        f"  noticing the save (50 ms polls + settle): {fig('notice')}",
        f"  reload: {fig('reload')}",
        f"    the new worker's start: {fig('worker_start')}",
        f"    rebuilding the bundles, writing the new one, switching: {fig('rebuild_and_switch')}",
        f"  then to the first view by the new code (the worker's first request, held events): {fig('rest')}",
        f"for scale, stop + start the stack until an event is handled: {figures['restart_to_live_ms']} ms",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--instances", type=int, default=2, help="worker processes per trigger")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    root = make_project()
    try:
        figures: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                               "load_average": round(os.getloadavg()[0], 1)},
                                   "instances": args.instances}
        figures["dev_loop"] = dev_loop(root, args.samples, args.instances)
        figures["restart_to_live_ms"] = round(restart_to_live(root, args.instances) * 1000, 1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(report(figures))
    live, restart = figures["dev_loop"]["edit_to_live"], figures["restart_to_live_ms"]
    print_row("edit to live (onto emulate's dev loop), median", f"{live['median_ms']} ms",
              f"{restart} ms, stopping and starting the stack", live["median_ms"] / restart, "≤ 1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
