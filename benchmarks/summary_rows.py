"""The machine-readable line a benchmark prints for each headline figure, and its reader.

Why: `benchmarks.report` opens the README's benchmark block with one table
(figure, onto, anchor, ratio, aim) over every script. Parsing each script's
prose would break at the first reworded sentence, and running every script a
second time with `--json` would double a ten-minute run. So each script, after
its own output, prints one `bench-row {json}` line per headline figure; the
report lifts those lines out of the output it quotes and tabulates them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

PREFIX = "bench-row "


@dataclass(frozen=True)
class Row:
    figure: str
    onto: str
    anchor: str
    ratio: float | None = None  # onto / anchor
    aim: str = ""


def print_row(figure: str, onto: str, anchor: str, ratio: float | None = None, aim: str = "") -> None:
    """Print one headline figure beside its anchor as a `bench-row` line."""
    ratio = None if ratio is None else round(ratio, 2)
    print(PREFIX + json.dumps(asdict(Row(figure, onto, anchor, ratio, aim)), ensure_ascii=False), flush=True)


def split_rows(output: str) -> tuple[list[Row], str]:
    """The rows in a benchmark's output, and the output without those lines (a malformed row stays as text)."""
    rows, kept = [], []
    for line in output.splitlines():
        if line.startswith(PREFIX):
            try:
                rows.append(Row(**json.loads(line[len(PREFIX):])))
                continue
            except (ValueError, TypeError):
                pass
        kept.append(line)
    return rows, "\n".join(kept)


def ratio_text(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}×"
