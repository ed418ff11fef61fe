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
3. Memory: `onto emulate` with an app of 50 triggers, in a subprocess: host
   RSS with 50 triggers registered (workers start lazily: none yet), then
   one worker's RSS (gunicorn master + worker) after an event on each of 3
   triggers, and what 50 eager workers would cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

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


def summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(percentile(values, 95) * 1000, 1), "n": len(values)}


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (a forked gunicorn worker shares most of its master's) counted once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_kb(pid: int, measure=rss_kb) -> int:
    """A process and its children (a worker = gunicorn master + its worker)."""
    total = measure(pid)
    for child in Path("/proc").glob("[0-9]*"):
        try:
            if int(child.joinpath("stat").read_text().split(")")[1].split()[1]) == pid:
                total += measure(int(child.name))
        except (OSError, ValueError, IndexError):
            pass
    return total


# --------------------------------------------------------------------------- 1 + 2


def latency_and_throughput(root: Path, samples: int, events: int, concurrency: int) -> dict[str, object]:
    project = f"demo-bench-{uuid.uuid4().hex[:6]}"
    floor_times: dict[str, float] = {}
    arrived = threading.Condition()

    def floor(headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with arrived:
            floor_times[headers.get("ce-document", "")] = time.time()
            arrived.notify_all()
        return 200, b""

    with Receiver() as receiver, FirestoreEmulator(project=project, functions_emulator=receiver.host) as emulator:
        receiver.register("floor", floor)
        register_trigger(emulator.host, project, "floor", WRITTEN, "floor/{doc_id}")
        config = StackConfig(app="benchapp.mirror", project=project, project_root=root, emulator_host=emulator.host,
                             state_dir=root / "state-latency", concurrency=concurrency)
        log: list[dict] = []
        with LocalStack(config, receiver=receiver, on_event=log.append) as stack:
            db = emulator_client(project, emulator.host)
            for i in range(5):  # warm up: the worker starts on its first event
                db.document(f"docs/warm{i}").set({"n": i})
                wait_for(lambda i=i: db.document(f"mirrors/warm{i}").get().exists, timeout=60)
                db.document(f"floor/warm{i}").set({"n": i})
                wait_for(lambda i=i: f"floor/warm{i}" in floor_times, timeout=30)

            floor_lat, stack_lat = [], []
            # Both from the source write's commit time (the emulator's clock, this machine's):
            # the floor until its receiver has the request, the stack until the view's own
            # commit time, so neither figure carries the write call or a polling read.
            for i in range(samples):
                written = db.document(f"floor/f{i}").set({"n": i}).update_time.timestamp()
                with arrived:
                    arrived.wait_for(lambda i=i: f"floor/f{i}" in floor_times, timeout=30)
                floor_lat.append(floor_times[f"floor/f{i}"] - written)
                view = db.document(f"mirrors/s{i}")
                written = db.document(f"docs/s{i}").set({"n": i}).update_time.timestamp()
                snap = wait_for(lambda: (s := view.get()).exists and s, timeout=30, interval=0.001)
                stack_lat.append(snap.update_time.timestamp() - written)

            name = stack.specs[0].name
            host_side = stack.snapshot()[name]  # received -> acknowledged by the worker, as the host saw it
            timed = [r for r in log if r["event"] == "delivered" and r["document"].startswith("docs/s")]
            worker_ms = [r["handlerMs"] for r in timed]  # POST to the worker -> its answer (executor inside)
            queued_ms = [r["latencyMs"] - r["handlerMs"] for r in timed]  # stored -> POST sent
            # throughput: the floor first, then the stack, each on distinct documents
            def write_many(collection: str) -> float:
                began = time.time()
                for start in range(0, events, 500):
                    batch = db.batch()
                    for i in range(start, min(events, start + 500)):
                        batch.set(db.document(f"{collection}/t{i}"), {"n": i})
                    batch.commit()
                return began

            began = write_many("floor")
            wait_for(lambda: sum(k.startswith("floor/t") for k in list(floor_times)) >= events, timeout=300,
                     interval=0.01)
            floor_rate = events / (max(v for k, v in floor_times.items() if k.startswith("floor/t")) - began)

            applied_before = stack.snapshot()[name]["applied"]
            began = write_many("docs")
            wait_for(lambda: stack.snapshot()[name]["applied"] - applied_before >= events, timeout=600, interval=0.01)
            stack_seconds = time.time() - began
            db.close()

    return {
        "write_to_view": {"floor": summary(floor_lat), "stack": summary(stack_lat),
                          "ratio_median": round(statistics.median(stack_lat) / statistics.median(floor_lat), 1),
                          "ratio_p95": round(percentile(stack_lat, 95) / percentile(floor_lat, 95), 1),
                          "host_stored_to_acked": {"median_ms": host_side["p50_ms"], "p95_ms": host_side["p95_ms"]},
                          "host_stored_to_worker_ms": {"median": round(statistics.median(queued_ms), 1),
                                                       "p95": round(percentile(queued_ms, 95), 1)},
                          "worker_round_trip_ms": {"median": round(statistics.median(worker_ms), 1),
                                                   "p95": round(percentile(worker_ms, 95), 1)}},
        "throughput": {"events": events, "floor_events_per_s": round(floor_rate, 1),
                       "stack_events_per_s": round(events / stack_seconds, 1),
                       "stack_seconds": round(stack_seconds, 2), "concurrency_per_trigger": concurrency},
    }


# --------------------------------------------------------------------------- 3


def memory_with_fifty_triggers(root: Path) -> dict[str, object]:
    project = f"demo-bench50-{uuid.uuid4().hex[:6]}"
    onto = str(Path(sys.executable).with_name("onto"))
    proc = subprocess.Popen([onto, "emulate", "benchapp.fifty", "--project", project, "--json"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    records: list[dict] = []
    reader = threading.Thread(target=lambda: [records.append(json.loads(l)) for l in proc.stdout], daemon=True)
    reader.start()
    try:
        ready = wait_for(lambda: next((r for r in records if r["event"] == "ready"), None), timeout=120,
                         message="onto emulate (50 triggers) ready")
        host_idle_kb = rss_kb(proc.pid)
        emulator_kb = rss_kb(ready["emulatorPid"])
        db = emulator_client(project, ready["emulator"])
        for i in range(3):
            db.document(f"c{i}/x").set({"n": 1})
        for i in range(3):
            wait_for(lambda i=i: db.document(f"v{i}/x").get().exists, timeout=60, message=f"view v{i}")
        workers = [r["pid"] for r in records if r["event"] == "worker_started"]
        worker_kb = [group_kb(pid) for pid in workers]
        worker_pss_kb = [group_kb(pid, pss_kb) for pid in workers]
        host_busy_kb = rss_kb(proc.pid)
        db.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    per_worker_mb = statistics.mean(worker_kb) / 1024
    return {
        "triggers": len(ready["triggers"]),
        "host_rss_mb_50_registered_no_workers": round(host_idle_kb / 1024, 1),
        "host_rss_mb_after_3_triggers_fired": round(host_busy_kb / 1024, 1),
        "worker_rss_mb_each": round(per_worker_mb, 1),
        "worker_pss_mb_each": round(statistics.mean(worker_pss_kb) / 1024, 1),
        "emulator_rss_mb": round(emulator_kb / 1024, 1),
        "lazy_total_mb_3_active": round((host_busy_kb + sum(worker_kb)) / 1024, 1),
        # PSS, not RSS: gunicorn's forked worker shares most pages with its master
        "eager_total_mb_50_workers_projected": round(host_idle_kb / 1024 + 50 * statistics.mean(worker_pss_kb) / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4, help="deliveries in flight per trigger")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    root = make_project()
    began = time.time()
    try:
        figures = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
        figures.update(latency_and_throughput(root, args.samples, args.events, args.concurrency))
        figures["memory"] = memory_with_fifty_triggers(root)
        figures["seconds"] = round(time.time() - began, 1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
        return 0
    lat, thr, mem = figures["write_to_view"], figures["throughput"], figures["memory"]
    print(f"write -> view latency ({lat['stack']['n']} samples, {figures['machine']['cpus']} cpus)")
    print(f"  floor (emulator -> no-op receiver): median {lat['floor']['median_ms']} ms, p95 {lat['floor']['p95_ms']} ms")
    print(f"  stack (host -> worker -> executor -> view): median {lat['stack']['median_ms']} ms, "
          f"p95 {lat['stack']['p95_ms']} ms")
    print(f"  ratio stack/floor: median x{lat['ratio_median']}, p95 x{lat['ratio_p95']}")
    print(f"  of which the host saw (stored -> worker acknowledged, warm-up included): median "
          f"{lat['host_stored_to_acked']['median_ms']} ms, p95 {lat['host_stored_to_acked']['p95_ms']} ms")
    print(f"    stored -> sent to the worker (queue, dispatch): median {lat['host_stored_to_worker_ms']['median']} ms, "
          f"p95 {lat['host_stored_to_worker_ms']['p95']} ms")
    print(f"    worker round trip (functions-framework + decode + executor transaction): median "
          f"{lat['worker_round_trip_ms']['median']} ms, p95 {lat['worker_round_trip_ms']['p95']} ms")
    print(f"throughput, {thr['events']} events to distinct documents, {thr['concurrency_per_trigger']} in flight")
    print(f"  floor: {thr['floor_events_per_s']} events/s; stack: {thr['stack_events_per_s']} events/s "
          f"({thr['stack_seconds']} s)")
    print(f"memory, {mem['triggers']} triggers registered")
    for key, value in mem.items():
        if key != "triggers":
            print(f"  {key}: {value}")
    print(f"total {figures['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
