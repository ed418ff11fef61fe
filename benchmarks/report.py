"""Run every benchmark and write their figures into README.md, each under the command that made it.

    .venv/bin/python -m benchmarks.report [--readme README.md] [--print] [--only MODULE ...]

Why: the README's figures went stale by hand. This is what `make bench`
runs: every benchmark, one after the other on this machine, each as a
subprocess whose output is shown as it comes (on stderr, after a line
"running benchmarks.X ..."). Then it prints a dated block (a summary table
of every headline figure beside its anchor, from the `bench-row` lines the
scripts print, then one fenced section per benchmark: the command, then its
output) and replaces what stands between `<!-- bench:begin -->` and
`<!-- bench:end -->` in the README with that block. A benchmark that fails
or runs past its time shows FAILED in the table and its error's tail in its
section; the others still run. With --print, or without the markers, the
README is left alone.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.summary_rows import Row, ratio_text, split_rows

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
# Each benchmark with its arguments: sized so that the whole run takes about ten minutes on 2 cores.
BENCHMARKS: tuple[tuple[str, ...], ...] = (
    ("benchmarks.cold_start",),
    ("benchmarks.executor_latency",),
    ("benchmarks.bundle_speed",),
    ("benchmarks.stack_latency",),
    ("benchmarks.stack_overhead",),
    ("benchmarks.stack_memory",),
    ("benchmarks.request_latency",),
    ("benchmarks.dev_loop",),
    ("benchmarks.backfill_speed",),
)
TIMEOUT_S = 900  # per benchmark: past this it is stopped and reported FAILED


@dataclass
class Outcome:
    """One benchmark's run: its output (the `bench-row` lines lifted out) and rows, or why it failed."""

    command: tuple[str, ...]
    output: str
    rows: list[Row] = field(default_factory=list)
    failure: str | None = None
    seconds: float = 0.0

    @property
    def module(self) -> str:
        return self.command[0]


def outcome_of(command: tuple[str, ...], stdout: str, stderr_tail: str, exit_code: int | None,
               seconds: float) -> Outcome:
    """What a finished (exit_code) or stopped (None) run amounts to."""
    rows, output = split_rows(stdout.strip())
    if exit_code == 0 and rows:
        return Outcome(command, output, rows, None, seconds)
    failure = (f"timed out after {seconds:.0f} s" if exit_code is None
               else f"exit {exit_code}" if exit_code else "no bench-row line")
    text = "\n".join(part for part in (output, f"FAILED ({failure}):", stderr_tail.strip()) if part)
    return Outcome(command, text, rows, failure, seconds)


def run(command: tuple[str, ...], timeout: float = TIMEOUT_S) -> Outcome:
    """Run one benchmark, its output shown on stderr as it comes; a failure is an Outcome, never a crash."""
    print(f"running {' '.join(command)} ...", file=sys.stderr, flush=True)
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", *command], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # its lines shown as they come
    stopped = threading.Event()
    timer = threading.Timer(timeout, lambda: (stopped.set(), _stop(proc)))
    timer.daemon = True  # an interrupted report must not wait out the timeout at exit
    tail: collections.deque[str] = collections.deque(maxlen=40)
    echo = threading.Thread(target=_echo, args=(proc.stderr, tail), daemon=True)
    timer.start()
    echo.start()
    lines = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            sys.stderr.write(line)
            sys.stderr.flush()
        exit_code = proc.wait()
    except BaseException:  # Ctrl-C reaches only the report (the benchmark has a session of its own)
        _stop(proc)
        raise
    finally:
        timer.cancel()
    echo.join(10)
    seconds = time.monotonic() - began
    print(f"  ({seconds:.0f} s)", file=sys.stderr, flush=True)
    return outcome_of(command, "".join(lines), "".join(tail), None if stopped.is_set() else exit_code, seconds)


def _echo(stream, tail: collections.deque[str]) -> None:
    for line in stream:
        tail.append(line)
        sys.stderr.write(line)
        sys.stderr.flush()


def _stop(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def cell(text: str) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return " ".join(text.split()).replace("|", "\\|")


def summary_table(outcomes: list[Outcome]) -> str:
    lines = ["| figure | onto | anchor | ratio | aim |", "| --- | --- | --- | --- | --- |"]
    for outcome in outcomes:
        for row in outcome.rows:
            lines.append("| " + " | ".join(cell(c) for c in (row.figure, row.onto, row.anchor, ratio_text(row.ratio),
                                                                row.aim)) + " |")
        if outcome.failure:
            lines.append(f"| `{outcome.module}` | FAILED ({cell(outcome.failure)}) |  |  |  |")
    return "\n".join(lines)


def markdown(outcomes: list[Outcome], today: str | None = None) -> str:
    today = today or datetime.date.today().isoformat()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"Figures from this machine ({os.cpu_count()} cores, Python {platform.python_version()}, load average "
             f"{load} at the end) on {today}, made by `make bench` (`python -m benchmarks.report`); every script "
             "measures onto and its anchor side by side in one run, interleaved.", "", summary_table(outcomes), ""]
    for outcome in outcomes:
        lines += [f"`python -m {' '.join(outcome.command)}` ({outcome.seconds:.0f} s):", "", "```text",
                  outcome.output, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def replace_between_markers(text: str, block: str) -> str | None:
    """`text` with `block` between the markers, or None when the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[: start + len(BEGIN)] + "\n" + block.rstrip("\n") + "\n" + text[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--print", action="store_true", help="print the block; leave the README alone")
    parser.add_argument("--only", nargs="+", metavar="MODULE",
                        help="run these benchmarks only (e.g. dev_loop), and print them: the README is left alone")
    args = parser.parse_args()
    chosen = [c for c in BENCHMARKS if not args.only or c[0].rsplit(".", 1)[-1] in args.only or c[0] in args.only]
    block = markdown([run(command) for command in chosen])
    print(block)
    if args.print:
        return 0
    if args.only:  # the README's block holds every benchmark's figures from one run: a part would replace them
        print(f"--only: printed, {args.readme} left alone (its figures come from a whole run)", file=sys.stderr)
        return 0
    updated = replace_between_markers(args.readme.read_text(encoding="utf-8"), block)
    if updated is None:
        print(f"no {BEGIN} ... {END} markers in {args.readme}: left it alone", file=sys.stderr)
        return 0
    args.readme.write_text(updated, encoding="utf-8")
    print(f"wrote the benchmark figures into {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
