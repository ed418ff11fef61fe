"""The ops commands' pure parts: --where parsing, where a command works, readable worker log lines, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onto_functions_cli.main import app
from onto_functions.local.worker_logs import WorkerLogFollower, parse_line, readable
from onto_functions.ops.backfill import BackfillError, parse_where
from onto_functions.ops.target import TargetRefused, find_target

STACK = {"project": "demo-onto", "emulator": "127.0.0.1:8123", "app": "myapp.main"}


def test_where_values_are_json_when_they_parse_else_the_literal_text():
    assert parse_where(["points=3", "active=true", "name=red", 'code="3"', "note=a=b", "gone=null"]) == (
        ("points", 3), ("active", True), ("name", "red"), ("code", "3"), ("note", "a=b"), ("gone", None))
    with pytest.raises(BackfillError, match="FIELD=VALUE"):
        parse_where(["points"])


def test_a_running_stack_is_the_default_target_and_a_real_project_needs_no_stack():
    assert find_target(None, STACK, environ={}).emulator_host == "127.0.0.1:8123"
    assert find_target(None, STACK, environ={}).app == "myapp.main"
    real = find_target("my-project", STACK, environ={})
    assert (real.project, real.emulator_host) == ("my-project", None)
    assert find_target("my-project", None, environ={"FIRESTORE_EMULATOR_HOST": "h:1"}).emulator_host == "h:1"


def test_a_demo_project_never_reaches_the_cloud():
    assert find_target("demo-x", None, environ={"FIRESTORE_EMULATOR_HOST": "h:1"}).emulator_host == "h:1"
    with pytest.raises(TargetRefused, match="never reaches the cloud"):
        find_target("demo-x", None, environ={})
    with pytest.raises(TargetRefused, match="-p PROJECT"):
        find_target(None, None, environ={})


def test_the_cli_refuses_a_demo_project_with_nothing_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    for args in (["failures", "list", "-p", "demo-nothing"], ["backfill", "t", "-p", "demo-nothing"], ["failures", "list"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 3, result.output
        assert "refused:" in result.output


DELIVERY = {"severity": "ERROR", "message": "orders-total: dead_lettered event e1 on orders/bad: ValueError: poison",
            "logger": "onto_functions.deliveries", "time": "2026-11-28T12:00:01.234000+00:00",
            "logging.googleapis.com/labels": {"trigger": "orders-total", "eventId": "e1", "document": "orders/bad",
                                              "outcome": "dead_lettered"}, "latencyMs": 12.5}


def test_a_delivery_line_reads_as_time_trigger_outcome_event_document_latency():
    line = readable(DELIVERY)
    assert line.split()[1:] [:6] == ["orders-total", "dead_lettered", "event", "e1", "orders/bad", "12.5"]
    assert line.endswith("(ValueError: poison)")
    assert parse_line("[2026-11-28 12:00:00] [INFO] Booting worker") is None
    assert parse_line(json.dumps(DELIVERY)) == DELIVERY


def test_the_follower_passes_on_new_lines_only_and_waits_for_a_whole_line(tmp_path: Path):
    old = tmp_path / "orders-total.0.log"
    old.write_text(json.dumps(DELIVERY) + "\n")  # an earlier run's: skipped
    seen: list[dict] = []
    follower = WorkerLogFollower(tmp_path, seen.append)
    text = json.dumps(DELIVERY)
    with open(old, "a") as f:
        f.write("gunicorn says hello\n" + text[:20])
    assert follower.poll() == 0
    with open(old, "a") as f:
        f.write(text[20:] + "\n")
    (tmp_path / "orders-total.1.log").write_text(text + "\n")  # a new instance's file: read from its start
    assert follower.poll() == 2 and seen == [DELIVERY, DELIVERY]
