"""How fast a backfill goes, against the fastest the emulator can take the same writes.

    python -m benchmarks.backfill_speed [--documents 2000] [--rounds 2]

Both contenders run in one process on one emulator, alternating round by
round, each on a fresh project seeded with the same documents:

- raw: read every source document a page at a time and write its view with
  batched `set`s (500 a batch): no ledger, no preconditions, the emulator's
  write rate for this work;
- backfill: `onto_functions.ops.backfill.run` (what `onto backfill` runs) at
  the default concurrency and at double it: a snapshot read, then per
  document the executor's atomic commit of view + ledger mark (+ watermark).

Prints documents per second of each and the backfill's ratio to raw.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

from benchmarks.summary_rows import print_row
from onto_functions import Change, Mediator, Store, sink, source
from onto_functions.local.emulator import FirestoreEmulator
from onto_functions.local.emulator_client import emulator_client
from onto_functions.ops import backfill
from onto_functions.ops.offline import offline_executor
from onto_functions.ops.target import Target

PAGE = 500


class ScoreMirrorMediator(Mediator):
    """The view a backfill fills: one mirror document per source document."""

    class Meta:
        semantics = "latest_state"

    source = source.document("scores/{score_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def copy(self, change: Change[dict], store: Store) -> None:
        store.write(f"mirrors/{change.params['score_id']}", {"points": change.after["points"]})


def seeded(host: str, n: int) -> tuple[Target, Any]:
    target = Target(f"demo-backfill-{uuid.uuid4().hex[:8]}", host)
    client = target.client()
    for start in range(0, n, PAGE):
        batch = client.batch()
        for i in range(start, min(n, start + PAGE)):
            batch.set(client.document(f"scores/s{i:06d}"), {"points": i % 100})
        batch.commit()
    return target, client


def raw_rate(host: str, n: int) -> float:
    _, client = seeded(host, n)
    began = time.perf_counter()
    query, after = client.collection("scores").order_by("__name__"), None
    while True:
        page = list((query.start_after({"__name__": client.document(after)}) if after else query).limit(PAGE).stream())
        if not page:
            break
        batch = client.batch()
        for snap in page:
            batch.set(client.document(f"mirrors/{snap.id}"), {"points": snap.to_dict()["points"]})
        batch.commit()
        after = page[-1].reference.path
    return n / (time.perf_counter() - began)


def backfill_rate(host: str, n: int, concurrency: int) -> float:
    target, client = seeded(host, n)
    spec = ScoreMirrorMediator.trigger_spec("score-mirror-copy")
    plan = backfill.BackfillPlan(spec, target.project, concurrency=concurrency)
    executor = offline_executor(spec, client_for=target.client_for)
    began = time.perf_counter()
    report = backfill.run(client, executor, plan, checkpoint=backfill.Checkpoint(None))
    seconds = time.perf_counter() - began
    assert report.outcomes == {"applied": n}, report.outcomes
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    default = backfill.BackfillPlan.__dataclass_fields__["concurrency"].default
    contenders = {"raw batched set": lambda host: raw_rate(host, args.documents)}
    for concurrency in (default, default * 2):
        contenders[f"backfill, {concurrency} in flight"] = (
            lambda host, c=concurrency: backfill_rate(host, args.documents, c))
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    with FirestoreEmulator() as emulator:
        emulator_client("demo-warmup", emulator.host).document("w/w").set({"w": 1})
        for _ in range(args.rounds):
            for name, measure in contenders.items():
                rates[name].append(measure(emulator.host))
    raw = statistics.median(rates["raw batched set"])
    print(f"{args.documents} documents, median of {args.rounds} round(s)")
    print(f"{'contender':<26} {'docs/s':>8} {'ratio to raw':>13}")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:<26} {rate:>8.0f} {rate / raw:>12.2f}x")
        if name != "raw batched set":
            print_row(f"backfill, {name.removeprefix('backfill, ')}", f"{rate:.0f} documents/s",
                      f"{raw:.0f} documents/s, the emulator's raw batched writes", rate / raw)


if __name__ == "__main__":
    main()
