"""The local stack's own overhead: the stack against the same executor run in-process, in one run.

    .venv/bin/python -m benchmarks.stack_overhead [--samples 60] [--events 800] [--rounds 7] [--json]

Both contenders are fed by one emulator through one receiver, each on its own
`demo-` project, and run the same trigger (one mediator copying a document's
`n` into a view):

- in-process: the receiver hands each delivery to a pool of `concurrency`
  threads that run the trigger's `TriggerFunction` (decode, executor, commit)
  and answers the emulator at once: what any stack must pay;
- stack: `LocalStack` (durable queue, dispatcher, `concurrency` deliveries in
  flight over 2 instances, each a worker serving the deploy bundle under
  functions-framework).

1. Write-to-view latency, interleaved write by write: the view's commit time
   minus the source's (both the emulator's clock), so neither the write call
   nor the polling enters the figure. Median, p95 and the ratio stack/in-process
   (the aim: at most 1.2x).
2. Throughput at the same concurrency: rounds of `events` writes to distinct
   documents (batches of 500), in pairs, one round of each contender, the one
   going first alternating from pair to pair; events per second from the
   first write to the last applied. Two unmeasured pairs first: the emulator's
   JVM is still compiling its hot paths then (measured: the first rounds run
   at half the rate of the fifth). The ratio is the median of the pairs'
   ratios, each pair run back to back on an emulator in the same state (the
   aim: at least 0.8).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.stack_latency import in_fresh_project, summary
from benchmarks.summary_rows import print_row
from onto_functions.local.emulator import FirestoreEmulator
from onto_functions.local.emulator_api import register_trigger
from onto_functions.local.emulator_client import emulator_client
from onto_functions.local.polling import wait_for
from onto_functions.local.receiver import Receiver
from onto_functions.local.stack import LocalStack, StackConfig
from onto_functions.local.stats import percentile

APP = "benchapp.mirror"
WARM_UP_PAIRS = 2


class InProcess:
    """The trigger's executor in this process, behind the receiver: a pool of `concurrency` threads."""

    def __init__(self, project: str, concurrency: int, log_path: Path) -> None:
        from onto_functions.entrypoint import TriggerFunction
        from benchapp.mirror import MirrorMediator  # type: ignore[import-not-found]

        self.function = TriggerFunction(MirrorMediator, "mirror-copy", project=project)
        log_deliveries_to(log_path)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="in-process")
        self.applied = 0
        self._lock = threading.Lock()

    def __call__(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        self.pool.submit(self._run, headers, body)
        return 200, b"{}"

    def _run(self, headers: dict[str, str], body: bytes) -> None:
        response = self.function.handle(headers, body)
        if response.status == 200:
            with self._lock:
                self.applied += 1


def log_deliveries_to(path: Path) -> None:
    """Each delivery's log line as a worker writes it (Cloud Logging JSON, to its log file): the in-process
    executor pays for its log lines as the stack's workers do (the stack's host logs nothing more here)."""
    import logging

    from onto_functions import logs

    handler = logging.StreamHandler(path.open("a", encoding="utf-8"))
    handler.setFormatter(logs.CloudLoggingFormatter())
    logger = logging.getLogger(f"{logs.LOGGER}.deliveries")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def view_latency(db, collection: str, doc: str, n: int) -> float:
    """Write the source, wait for its view; the view's commit time minus the source's."""
    written = db.document(f"docs/{doc}").set({"n": n}).update_time.timestamp()
    view = db.document(f"mirrors/{doc}")
    snap = wait_for(lambda: (s := view.get()).exists and s.get("n") == n and s, timeout=60, interval=0.005,
                    message=f"{collection} view {doc}")
    return snap.update_time.timestamp() - written


def write_many(db, prefix: str, events: int) -> None:
    for start in range(0, events, 500):
        batch = db.batch()
        for i in range(start, min(events, start + 500)):
            batch.set(db.document(f"docs/{prefix}{i}"), {"n": i})
        batch.commit()


def rate(write, applied, events: int) -> float:
    before = applied()
    began = time.monotonic()
    write()
    wait_for(lambda: applied() - before >= events, timeout=600, interval=0.01, message="every event applied")
    return events / (time.monotonic() - began)


def measure(root: Path, samples: int, events: int, rounds: int, concurrency: int) -> dict[str, object]:
    projects = {"in_process": f"demo-ovh-in-{uuid.uuid4().hex[:6]}", "stack": f"demo-ovh-st-{uuid.uuid4().hex[:6]}"}
    sys.path.insert(0, str(root))
    with Receiver() as receiver, FirestoreEmulator(project=projects["stack"],
                                                   functions_emulator=receiver.host) as emulator:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host  # the in-process executor's client
        in_process = InProcess(projects["in_process"], concurrency, root / "in-process.log")
        receiver.register("in-process", in_process)
        register_trigger(emulator.host, projects["in_process"], "in-process", in_process.function.spec.event_type,
                         "docs/{doc_id}")
        config = StackConfig(app=APP, project=projects["stack"], project_root=root, emulator_host=emulator.host,
                             state_dir=root / "state-overhead", concurrency=concurrency, prestart=True)
        with LocalStack(config, receiver=receiver) as stack:
            dbs = {name: emulator_client(project, emulator.host) for name, project in projects.items()}
            name = stack.specs[0].name
            applied = {"in_process": lambda: in_process.applied,
                       "stack": lambda: stack.stats.counter(name, "applied")}  # no percentile sort per poll
            latencies: dict[str, list[float]] = {"in_process": [], "stack": []}
            for i in range(samples + 5):  # the first 5 warm both up (clients, caches) and are not counted
                for contender, db in dbs.items():
                    took = view_latency(db, contender, f"s{i}", i)
                    if i >= 5:
                        latencies[contender].append(took)
            rates: dict[str, list[float]] = {"in_process": [], "stack": []}
            for r in range(WARM_UP_PAIRS + rounds):
                order = list(dbs.items()) if r % 2 == 0 else list(dbs.items())[::-1]
                for contender, db in order:
                    took = rate(lambda: write_many(db, f"t{r}-", events), applied[contender], events)
                    if r >= WARM_UP_PAIRS:
                        rates[contender].append(took)
            for db in dbs.values():
                db.close()
        in_process.pool.shutdown()
    return figures(latencies, rates, events, concurrency)


def figures(latencies: dict[str, list[float]], rates: dict[str, list[float]], events: int,
            concurrency: int) -> dict[str, object]:
    lat = {name: summary(values) for name, values in latencies.items()}
    median = {name: statistics.median(values) for name, values in rates.items()}
    return {
        "write_to_view": {**lat,
                          "ratio_median": round(lat["stack"]["median_ms"] / lat["in_process"]["median_ms"], 2),
                          "ratio_p95": round(percentile(latencies["stack"], 95)
                                             / percentile(latencies["in_process"], 95), 2)},
        "throughput": {"events_per_round": events, "concurrency": concurrency,
                       **{f"{name}_events_per_s": round(value, 1) for name, value in median.items()},
                       "rounds": {name: [round(v, 1) for v in values] for name, values in rates.items()},
                       "ratio": round(statistics.median(s / i for s, i in zip(rates["stack"], rates["in_process"])), 2),
                       "ratio_of_medians": round(median["stack"] / median["in_process"], 2)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--events", type=int, default=800, help="events per throughput round and contender")
    parser.add_argument("--rounds", type=int, default=7,
                        help="measured throughput pairs, after %d unmeasured ones (the median pair ratio counts)" % WARM_UP_PAIRS)
    parser.add_argument("--concurrency", type=int, default=4, help="deliveries in flight (stack: per trigger)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    result = in_fresh_project(lambda root: measure(root, args.samples, args.events, args.rounds, args.concurrency))
    if args.json:
        print(json.dumps(result))
        return 0
    lat, thr = result["write_to_view"], result["throughput"]
    print(f"write -> view latency, {lat['stack']['n']} samples each, interleaved "
          f"({result['machine']['cpus']} cpus, load {result['machine']['load']})")
    for name in ("in_process", "stack"):
        print(f"  {name:10s} median {lat[name]['median_ms']} ms, p95 {lat[name]['p95_ms']} ms")
    print(f"  ratio stack/in-process: median x{lat['ratio_median']}, p95 x{lat['ratio_p95']} (aim: at most x1.2)")
    print(f"throughput, {thr['concurrency']} in flight, pairs of rounds of {thr['events_per_round']} events, "
          f"after {WARM_UP_PAIRS} unmeasured pairs")
    print(f"  in-process {thr['in_process_events_per_s']} events/s {thr['rounds']['in_process']}")
    print(f"  stack      {thr['stack_events_per_s']} events/s {thr['rounds']['stack']}")
    print(f"  ratio stack/in-process: {thr['ratio']}, the median of the pairs' "
          f"(of the medians: {thr['ratio_of_medians']}) (aim: at least 0.8)")
    print(f"total {result['seconds']} s")
    for stat in ("median", "p95"):
        print_row(f"local stack against the executor in-process, write to view, {stat}",
                  f"{lat['stack'][stat + '_ms']} ms", f"{lat['in_process'][stat + '_ms']} ms, in-process",
                  lat[f"ratio_{stat}"], "≤ 1.2×" if stat == "median" else "")
    print_row(f"local stack against the executor in-process, throughput, {thr['concurrency']} in flight",
              f"{thr['stack_events_per_s']} events/s", f"{thr['in_process_events_per_s']} events/s, in-process",
              thr["ratio"], "≥ 0.8×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
