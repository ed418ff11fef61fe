"""Run every benchmark and write their figures into README.md, each under the command that made it.

    .venv/bin/python -m benchmarks.report [--readme README.md] [--print]

Why: the README's figures went stale by hand. This runs the benchmarks
`make bench` runs, in one go on this machine, and replaces what stands
between the markers `<!-- bench:begin -->` and `<!-- bench:end -->` in the
README with a dated block: one fenced section per benchmark, the command
first, then its output as printed. Without the markers (or with --print)
the block goes to stdout instead.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
BENCHMARKS = ("benchmarks.cold_start", "benchmarks.executor_latency", "benchmarks.bundle_speed",
              "benchmarks.stack_latency", "benchmarks.stack_overhead", "benchmarks.stack_memory",
              "benchmarks.request_latency", "benchmarks.dev_loop")


def run(module: str) -> str:
    """One benchmark's output; a failure is reported in its place, not hidden."""
    done = subprocess.run([sys.executable, "-m", module], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        return f"FAILED (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}"
    return done.stdout.strip()


def markdown(outputs: dict[str, str]) -> str:
    today = datetime.date.today().isoformat()
    lines = [f"Figures from this machine ({os.cpu_count()} cores, Python {platform.python_version()}) on {today}, "
             "made by `python -m benchmarks.report`; every script measures its contenders side by side "
             "in one run.", ""]
    for module, output in outputs.items():
        lines += [f"`python -m {module}`:", "", "```text", output, "```", ""]
    return "\n".join(lines)


def replace_between_markers(text: str, block: str) -> str | None:
    """`text` with `block` between the markers, or None when the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[: start + len(BEGIN)] + "\n" + block + "\n" + text[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--print", action="store_true", help="print the block; leave the README alone")
    args = parser.parse_args()
    block = markdown({module: run(module) for module in BENCHMARKS})
    updated = None if args.print else replace_between_markers(args.readme.read_text(encoding="utf-8"), block)
    if updated is None:
        print(block)
        if not args.print:
            print(f"(no {BEGIN} ... {END} markers in {args.readme}: printed instead)", file=sys.stderr)
        return 0
    args.readme.write_text(updated, encoding="utf-8")
    print(f"wrote the benchmark figures into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
