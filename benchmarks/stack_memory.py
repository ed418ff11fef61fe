"""The local stack's memory with 50 triggers that all fired, 2 instances each, against the 1.5 GB aim.

    .venv/bin/python -m benchmarks.stack_memory [--triggers 50] [--spawned 2] [--json]

`onto emulate` runs an app of `triggers` triggers in a subprocess; two writes
per trigger make each trigger's both instances start (deliveries take turns
over them). Then the whole stack is measured as PSS (proportional set size,
from /proc/<pid>/smaps_rollup: a page shared by n processes counts 1/n in
each, so the sum is what the stack really holds): the host, the zygote and
every worker, the Java emulator left out. For contrast, the same with
`ONTO_WORKER_LAUNCH=spawn` (each worker a functions-framework process of its
own, as before the zygote) for `spawned` triggers only, projected to all of
them: spawning 100 of those would take minutes and gigabytes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from benchmarks.stack_latency import in_fresh_project
from benchmarks.summary_rows import print_row
from onto_functions.local.emulator_client import emulator_client
from onto_functions.local.polling import wait_for

AIM_MB = 1536


def pss_kb(pid: int) -> int:
    """Proportional set size of one process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def stack_processes(host: int, leave_out: int | None) -> list[int]:
    """The host and all its descendants, but `leave_out` (the emulator) and its own."""
    tree, found, todo = children_of(), [], [host]
    while todo:
        pid = todo.pop()
        if pid == leave_out:
            continue
        found.append(pid)
        todo += tree.get(pid, [])
    return found


class Emulate:
    """`onto emulate APP --json` in a subprocess, its records collected."""

    def __init__(self, root: Path, app: str, env: dict[str, str]) -> None:
        self.project = f"demo-mem-{uuid.uuid4().hex[:6]}"
        onto = str(Path(sys.executable).with_name("onto"))
        self.proc = subprocess.Popen([onto, "emulate", app, "--project", self.project, "--json"], cwd=root,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.records: list[dict] = []
        threading.Thread(target=lambda: [self.records.append(json.loads(line)) for line in self.proc.stdout],
                         daemon=True).start()

    def ready(self) -> dict:
        return wait_for(lambda: next((r for r in self.records if r["event"] == "ready"), None), timeout=180,
                        message="onto emulate ready")

    def started(self) -> int:
        return sum(r["event"] == "worker_started" for r in list(self.records))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)


def measure(root: Path, triggers: int, mode: str) -> dict[str, object]:
    """Fire `triggers` triggers twice each under launch `mode`; the stack's PSS then."""
    env = {**os.environ, "ONTO_WORKER_LAUNCH": mode}
    stack = Emulate(root, "benchapp.fifty", env)
    try:
        ready = stack.ready()
        idle_kb = sum(pss_kb(pid) for pid in stack_processes(stack.proc.pid, ready["emulatorPid"]))
        db = emulator_client(stack.project, ready["emulator"])
        began = time.monotonic()
        for round_ in range(2):
            for i in range(triggers):
                db.document(f"c{i}/x{round_}").set({"n": round_})
            for i in range(triggers):
                wait_for(lambda i=i, r=round_: db.document(f"v{i}/x{r}").get().exists, timeout=300,
                         message=f"view v{i}/x{round_}")
        fired_seconds = time.monotonic() - began
        wait_for(lambda: stack.started() >= 2 * triggers, timeout=120, message="both instances of each trigger")
        pids = stack_processes(stack.proc.pid, ready["emulatorPid"])
        per_pid = {pid: pss_kb(pid) for pid in pids}
        db.close()
        workers = [r["pid"] for r in stack.records if r["event"] == "worker_started"]
        worker_groups = [stack_processes(pid, None) for pid in workers]
    finally:
        stack.stop()
    worker_kb = [sum(per_pid.get(p, 0) for p in group) for group in worker_groups]  # gunicorn's child too
    return {"mode": mode, "triggers": triggers, "workers": len(workers), "processes": len(pids),
            "host_mb_before_any_worker": round(idle_kb / 1024, 1),
            "host_mb": round(per_pid.get(stack.proc.pid, 0) / 1024, 1),
            "worker_mb_each": round(sum(worker_kb) / max(1, len(worker_kb)) / 1024, 1),
            "total_mb": round(sum(per_pid.values()) / 1024, 1), "fired_in_s": round(fired_seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=50, help="triggers fired (the app has 50)")
    parser.add_argument("--spawned", type=int, default=2, help="triggers fired with spawned workers (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    def run(root: Path) -> dict[str, object]:
        figures: dict[str, object] = {"forked": measure(root, args.triggers, "fork")}
        if args.spawned:
            spawned = measure(root, args.spawned, "spawn")
            spawned["projected_total_mb"] = round(spawned["host_mb"] + 2 * args.triggers * spawned["worker_mb_each"], 1)
            figures["spawned"] = spawned
        return figures

    figures = in_fresh_project(run)
    if args.json:
        print(json.dumps(figures))
        return 0
    forked = figures["forked"]
    print(f"{forked['triggers']} triggers fired, {forked['workers']} workers forked from the zygote "
          f"({forked['processes']} processes, the emulator left out), PSS:")
    print(f"  host before any worker {forked['host_mb_before_any_worker']} MB; host now {forked['host_mb']} MB; "
          f"a worker {forked['worker_mb_each']} MB each")
    verdict = "within" if forked["total_mb"] <= AIM_MB else "OVER"
    print(f"  whole stack {forked['total_mb']} MB ({verdict} the aim of {AIM_MB} MB); "
          f"every trigger fired twice in {forked['fired_in_s']} s, cold starts included")
    if "spawned" in figures:
        spawned = figures["spawned"]
        print(f"spawned workers (functions-framework + gunicorn each), {spawned['triggers']} triggers: "
              f"a worker {spawned['worker_mb_each']} MB each; {2 * forked['triggers']} of them would make "
              f"about {spawned['projected_total_mb']} MB "
              f"(x{spawned['projected_total_mb'] / max(1.0, forked['total_mb']):.1f} the forked stack)")
    projected = figures["spawned"]["projected_total_mb"] if "spawned" in figures else None
    print_row(f"local stack memory, {forked['triggers']} triggers fired, {forked['workers']} workers (PSS)",
              f"{forked['total_mb']} MB",
              f"{projected} MB, as many spawned functions-framework workers (projected)" if projected else "",
              forked["total_mb"] / projected if projected else None, f"≤ {AIM_MB} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
