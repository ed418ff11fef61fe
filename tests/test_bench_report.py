"""benchmarks.report's pure parts: the README block between its markers, the summary table, failures as rows.

`make bench` runs every benchmark for minutes; these pin, in a second, that what it
writes lands between the markers and nowhere else, that each script's `bench-row`
lines become the table (and leave the quoted output), and that a failed or stuck
benchmark is a FAILED row, not a crash. No emulator.
"""

from __future__ import annotations

import json

from benchmarks.report import BEGIN, END, Outcome, markdown, outcome_of, replace_between_markers, run, summary_table
from benchmarks.summary_rows import PREFIX, Row, print_row, split_rows

README = f"# App\n\n## Benchmarks\n\nBy hand.\n\n{BEGIN}\nold figures\n{END}\n\n## Tested versions\n\nPython 3.11\n"

COLD_START_OUTPUT = "\n".join([
    "cold start: process start -> first event's view committed (firebase-functions 0.6.0, 9 samples each)",
    "  ratio onto / hand-written: median 0.94x, p95 1.02x (aim <= 0.8x)",
    PREFIX + json.dumps({"figure": "cold start, median", "onto": "503.3 ms",
                         "anchor": "533.1 ms, hand-written handler", "ratio": 0.94, "aim": "≤ 0.8×"}),
])


def test_the_block_replaces_only_what_stands_between_the_markers() -> None:
    updated = replace_between_markers(README, "new figures\n")
    assert updated == README.replace("old figures", "new figures")
    assert replace_between_markers(updated, "new figures\n") == updated  # a second run changes nothing


def test_no_markers_or_markers_out_of_order_leave_the_text_alone() -> None:
    assert replace_between_markers("# App\n", "figures") is None
    assert replace_between_markers(f"{END}\n{BEGIN}\n", "figures") is None


def test_rows_are_lifted_out_of_the_output(capsys) -> None:
    print("a figure in prose")
    print_row("edit to live, median", "177.5 ms", "3786.3 ms, restarting the stack", 177.5 / 3786.3, "≤ 1 s")
    rows, text = split_rows(capsys.readouterr().out)
    assert rows == [Row("edit to live, median", "177.5 ms", "3786.3 ms, restarting the stack", 0.05, "≤ 1 s")]
    assert text == "a figure in prose"


def test_a_malformed_row_stays_in_the_output_as_text() -> None:
    rows, text = split_rows(f"{PREFIX}{{not json\n{PREFIX}" + json.dumps({"figure": "x"}))
    assert rows == []
    assert text.count(PREFIX) == 2


def test_the_summary_table_has_a_row_per_figure_and_a_failed_row_per_failed_benchmark() -> None:
    good = outcome_of(("benchmarks.cold_start",), COLD_START_OUTPUT, "", 0, 40.0)
    broken = outcome_of(("benchmarks.dev_loop", "--samples", "3"), "", "Traceback ...\nRuntimeError: boom", 1, 9.0)
    table = summary_table([good, broken]).splitlines()
    assert table[0] == "| figure | onto | anchor | ratio | aim |"
    assert table[2] == "| cold start, median | 503.3 ms | 533.1 ms, hand-written handler | 0.94× | ≤ 0.8× |"
    assert table[3].startswith("| `benchmarks.dev_loop` | FAILED (exit 1) |")
    assert len(table) == 4


def test_a_pipe_in_a_figure_does_not_break_the_table() -> None:
    outcome = Outcome(("benchmarks.x",), "", [Row("a | b", "1 s", "2 s", 0.5)])
    assert summary_table([outcome]).splitlines()[2] == "| a \\| b | 1 s | 2 s | 0.50× |  |"


def test_what_counts_as_failed() -> None:
    assert outcome_of(("m",), COLD_START_OUTPUT, "", 0, 1.0).failure is None
    assert outcome_of(("m",), "prose only", "", 0, 1.0).failure == "no bench-row line"
    assert outcome_of(("m",), COLD_START_OUTPUT, "", None, 1.0).failure.startswith("timed out")
    crashed = outcome_of(("m",), COLD_START_OUTPUT, "RuntimeError: boom\n", 1, 1.0)
    assert crashed.failure == "exit 1" and len(crashed.rows) == 1  # the rows it printed before still count
    assert crashed.output.endswith("FAILED (exit 1):\nRuntimeError: boom")


def test_the_markdown_quotes_each_command_and_its_output_without_row_lines() -> None:
    block = markdown([outcome_of(("benchmarks.cold_start", "--samples", "9"), COLD_START_OUTPUT, "", 0, 40.0)],
                     today="2026-11-30")
    assert "on 2026-11-30" in block
    assert "`python -m benchmarks.cold_start --samples 9` (40 s):" in block
    assert "```text\ncold start: process start" in block
    assert PREFIX not in block
    assert "| cold start, median | 503.3 ms |" in block


def test_a_benchmark_that_cannot_run_is_reported_not_raised() -> None:
    outcome = run(("benchmarks.no_such_benchmark",))
    assert outcome.failure == "exit 1"
    assert "No module named benchmarks.no_such_benchmark" in outcome.output


def test_a_benchmark_past_its_time_is_stopped_and_reported() -> None:
    blocks_forever = ("timeit", "-n", "1", "-r", "1", "import select; select.select([], [], [])")
    outcome = run(blocks_forever, timeout=0.5)
    assert outcome.failure is not None and outcome.failure.startswith("timed out")
