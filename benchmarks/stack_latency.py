"""The local stack's cost, measured side by side with its floor in one run.

    .venv/bin/python benchmarks/stack_latency.py [--samples 100] [--events 1000] [--json]

1. Write-to-view latency. One emulator delivers to one receiver; a no-op
   trigger ("the floor": the emulator's own delivery, to a handler that does
   nothing) and the stack's triggers are registered on it, and writes
   alternate between them. Both count from the source write's commit time:
   floor = until the receiver has the request; stack = until the view's own
   commit time (emulator -> host stores + acks -> dispatcher -> the bundle's
   worker -> executor -> view). Median, p95 and the ratio.
2. Throughput: 1,000 writes to distinct documents (batches of 500); time
   until the floor received them all, and until the stack applied them all.

The stack against the same executor in-process is `benchmarks.stack_overhead`;
its memory with 50 fired triggers is `benchmarks.stack_memory`.
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
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from benchmarks.summary_rows import print_row
from onto_functions.local.emulator import FirestoreEmulator
from onto_functions.local.emulator_api import register_trigger
from onto_functions.local.emulator_client import emulator_client
from onto_functions.local.receiver import Receiver
from onto_functions.local.stack import LocalStack, StackConfig
from onto_functions.local.stats import percentile
from onto_functions.local.polling import wait_for

WRITTEN = "google.cloud.firestore.document.v1.written"

MIRROR_APP = '''
"""One trigger: copy a document's `n` into a view."""
from onto_functions import Change, Mediator, Store, ViewModel, fields, sink, source


class Mirror(ViewModel):
    class Meta:
        path = "mirrors/{doc_id}"

    n = fields.Int(allow_none=True)


class MirrorMediator(Mediator):
    source = source.document("docs/{doc_id}")
    sink = sink.firestore(Mirror)

    @source.triggers.on_write
    def copy(self, change: Change[dict], store: Store) -> None:
        data = change.after or {}
        self.sink.emit(store, Mirror(n=data.get("n")), doc_id=change.params["doc_id"])
'''


def fifty_app(n: int = 50) -> str:
    parts = ['"""50 triggers: one mediator per collection c0..c49."""',
             "from onto_functions import Change, Mediator, Store, ViewModel, fields, sink, source", ""]
    for i in range(n):
        parts.append(textwrap.dedent(f'''
            class View{i}(ViewModel):
                class Meta:
                    path = "v{i}/{{doc_id}}"

                n = fields.Int(allow_none=True)


            class Copy{i}(Mediator):
                source = source.document("c{i}/{{doc_id}}")
                sink = sink.firestore(View{i})

                @source.triggers.on_write
                def copy(self, change: Change[dict], store: Store) -> None:
                    self.sink.emit(store, View{i}(n=(change.after or {{}}).get("n")), doc_id=change.params["doc_id"])
        '''))
    return "\n".join(parts)


def make_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="onto-bench-"))
    package = root / "benchapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mirror.py").write_text(MIRROR_APP)
    (package / "fifty.py").write_text(fifty_app())
    return root


def in_fresh_project(run: Callable[[Path], dict]) -> dict:
    """`run(root)` in a throwaway project holding the bench apps; its figures, with the machine and the time."""
    root = make_project()
    began = time.time()
    try:
        figures = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                               "load": round(os.getloadavg()[0], 1)}}
        figures.update(run(root))
        figures["seconds"] = round(time.time() - began, 1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return figures


def summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(percentile(values, 95) * 1000, 1), "n": len(values)}


# --------------------------------------------------------------------------- 1 + 2


class FloorReceiver:
    """The floor: a no-op trigger that notes when each document's request arrived."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.arrived = threading.Condition()

    def __call__(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self.arrived:
            self.times[headers.get("ce-document", "")] = time.time()
            self.arrived.notify_all()
        return 200, b""

    def wait_for(self, document: str) -> float:
        with self.arrived:
            self.arrived.wait_for(lambda: document in self.times, timeout=30)
        return self.times[document]


def latency_and_throughput(root: Path, samples: int, events: int, concurrency: int) -> dict[str, object]:
    project = f"demo-bench-{uuid.uuid4().hex[:6]}"
    floor = FloorReceiver()
    with Receiver() as receiver, FirestoreEmulator(project=project, functions_emulator=receiver.host) as emulator:
        receiver.register("floor", floor)
        register_trigger(emulator.host, project, "floor", WRITTEN, "floor/{doc_id}")
        config = StackConfig(app="benchapp.mirror", project=project, project_root=root, emulator_host=emulator.host,
                             state_dir=root / "state-latency", concurrency=concurrency)
        log: list[dict] = []
        with LocalStack(config, receiver=receiver, on_event=log.append) as stack:
            db = emulator_client(project, emulator.host)
            warm_up(db, floor)
            floor_lat, stack_lat = write_to_view_latencies(db, floor, samples)
            name = stack.specs[0].name
            host_side = stack.snapshot()[name]  # received -> acknowledged by the worker, as the host saw it
            timed = [r for r in log if r["event"] == "delivered" and r["document"].startswith("docs/s")]
            throughput = throughput_figures(db, floor, stack, name, events)
            db.close()
    throughput["concurrency_per_trigger"] = concurrency
    return {"write_to_view": write_to_view_figures(floor_lat, stack_lat, host_side, timed), "throughput": throughput}


def warm_up(db, floor: FloorReceiver) -> None:
    for i in range(5):  # warm up: the worker starts on its first event
        db.document(f"docs/warm{i}").set({"n": i})
        wait_for(lambda i=i: db.document(f"mirrors/warm{i}").get().exists, timeout=60)
        db.document(f"floor/warm{i}").set({"n": i})
        wait_for(lambda i=i: f"floor/warm{i}" in floor.times, timeout=30)


def write_to_view_latencies(db, floor: FloorReceiver, samples: int) -> tuple[list[float], list[float]]:
    """Both from the source write's commit time (the emulator's clock, this machine's):
    the floor until its receiver has the request, the stack until the view's own
    commit time, so neither figure carries the write call or a polling read."""
    floor_lat, stack_lat = [], []
    for i in range(samples):
        written = db.document(f"floor/f{i}").set({"n": i}).update_time.timestamp()
        floor_lat.append(floor.wait_for(f"floor/f{i}") - written)
        view = db.document(f"mirrors/s{i}")
        written = db.document(f"docs/s{i}").set({"n": i}).update_time.timestamp()
        snap = wait_for(lambda: (s := view.get()).exists and s, timeout=30, interval=0.001)
        stack_lat.append(snap.update_time.timestamp() - written)
    return floor_lat, stack_lat


def write_many(db, collection: str, events: int) -> float:
    began = time.time()
    for start in range(0, events, 500):
        batch = db.batch()
        for i in range(start, min(events, start + 500)):
            batch.set(db.document(f"{collection}/t{i}"), {"n": i})
        batch.commit()
    return began


def throughput_figures(db, floor: FloorReceiver, stack: LocalStack, name: str, events: int) -> dict[str, object]:
    """The floor first, then the stack, each on distinct documents."""
    began = write_many(db, "floor", events)
    wait_for(lambda: sum(k.startswith("floor/t") for k in list(floor.times)) >= events, timeout=300,
             interval=0.01)
    floor_rate = events / (max(v for k, v in floor.times.items() if k.startswith("floor/t")) - began)
    applied_before = stack.stats.counter(name, "applied")
    began = write_many(db, "docs", events)
    wait_for(lambda: stack.stats.counter(name, "applied") - applied_before >= events, timeout=600, interval=0.01)
    stack_seconds = time.time() - began
    return {"events": events, "floor_events_per_s": round(floor_rate, 1),
            "stack_events_per_s": round(events / stack_seconds, 1), "stack_seconds": round(stack_seconds, 2)}


def write_to_view_figures(floor_lat: list[float], stack_lat: list[float], host_side: dict,
                          timed: list[dict]) -> dict[str, object]:
    worker_ms = [r["handlerMs"] for r in timed]  # POST to the worker -> its answer (executor inside)
    queued_ms = [r["latencyMs"] - r["handlerMs"] for r in timed]  # stored -> POST sent
    return {"floor": summary(floor_lat), "stack": summary(stack_lat),
            "ratio_median": round(statistics.median(stack_lat) / statistics.median(floor_lat), 1),
            "ratio_p95": round(percentile(stack_lat, 95) / percentile(floor_lat, 95), 1),
            "host_stored_to_acked": {"median_ms": host_side["p50_ms"], "p95_ms": host_side["p95_ms"]},
            "host_stored_to_worker_ms": {"median": round(statistics.median(queued_ms), 1),
                                         "p95": round(percentile(queued_ms, 95), 1)},
            "worker_round_trip_ms": {"median": round(statistics.median(worker_ms), 1),
                                     "p95": round(percentile(worker_ms, 95), 1)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4, help="deliveries in flight per trigger")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    figures = in_fresh_project(lambda root: latency_and_throughput(root, args.samples, args.events,
                                                                    args.concurrency))
    if args.json:
        print(json.dumps(figures))
        return 0
    lat, thr = figures["write_to_view"], figures["throughput"]
    print(f"write -> view latency ({lat['stack']['n']} samples, {figures['machine']['cpus']} cpus)")
    print(f"  floor (emulator -> no-op receiver): median {lat['floor']['median_ms']} ms, p95 {lat['floor']['p95_ms']} ms")
    print(f"  stack (host -> worker -> executor -> view): median {lat['stack']['median_ms']} ms, "
          f"p95 {lat['stack']['p95_ms']} ms")
    print(f"  ratio stack/floor: median x{lat['ratio_median']}, p95 x{lat['ratio_p95']}")
    print(f"  of which the host saw (stored -> worker acknowledged, warm-up included): median "
          f"{lat['host_stored_to_acked']['median_ms']} ms, p95 {lat['host_stored_to_acked']['p95_ms']} ms")
    print(f"    stored -> sent to the worker (queue, dispatch): median {lat['host_stored_to_worker_ms']['median']} ms, "
          f"p95 {lat['host_stored_to_worker_ms']['p95']} ms")
    print(f"    worker round trip (HTTP + functions-framework + decode + executor): median "
          f"{lat['worker_round_trip_ms']['median']} ms, p95 {lat['worker_round_trip_ms']['p95']} ms")
    print(f"throughput, {thr['events']} events to distinct documents, {thr['concurrency_per_trigger']} in flight")
    print(f"  floor: {thr['floor_events_per_s']} events/s; stack: {thr['stack_events_per_s']} events/s "
          f"({thr['stack_seconds']} s)")
    print(f"total {figures['seconds']} s")
    print_row("local stack, write to view, median", f"{lat['stack']['median_ms']} ms",
              f"{lat['floor']['median_ms']} ms, the emulator's delivery to a no-op receiver", lat["ratio_median"])
    print_row(f"local stack, throughput, {thr['concurrency_per_trigger']} in flight",
              f"{thr['stack_events_per_s']} events/s", f"{thr['floor_events_per_s']} events/s, the emulator's delivery "
              "to a no-op receiver", thr["stack_events_per_s"] / thr["floor_events_per_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
