"""Rich tables, messages and JSON shapes for the deploy commands (rendering only, no logic).

User text (paths, config values, error messages, CLI output) is always
rendered literally: styles come from our labels, never from markup parsed
out of what we print.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # `onto list` and `onto bundle` do not load the deploy pipeline
    from onto_functions.deploy.backends import StepResult
    from onto_functions.deploy.bundle import Bundle
    from onto_functions.deploy.pipeline import BundleReport, DeployReport
    from onto_functions.deploy.plan import Step
    from onto_functions.spec import TriggerSpec

ACTION_STYLE = {"create": "green", "update": "yellow", "delete": "red", "ttl": "cyan", "unchanged": "dim"}

STATE_SOURCES = {
    "gcloud": "what `gcloud functions list` reports (functions labelled onto-managed)",
    "firebase": "what `firebase functions:list` reports (functions labelled onto-managed)",
    "cache": "the local cache .onto/state/{project}.json (the backend could not be asked)",
}


def options_text(spec: TriggerSpec) -> str:
    o = spec.options
    parts = [o.region, f"{o.memory_mb}MB", f"{o.timeout_seconds}s", f"retry={'on' if o.retry else 'off'}"]
    if o.max_instances is not None:
        parts.append(f"max={o.max_instances}")
    if o.min_instances:
        parts.append(f"min={o.min_instances}")
    if o.database != "(default)":
        parts.append(f"db={o.database}")
    if o.secrets:
        parts.append(f"secrets={','.join(o.secrets)}")  # names only: a value never reaches this process
    if o.params:
        parts.append(f"params={','.join(o.params)}")
    return " ".join(parts)


def spec_json(spec: TriggerSpec) -> dict[str, Any]:
    o = spec.options
    return {
        "function": spec.name, "eventType": spec.event_type, "document": spec.document,
        "source": spec.source_text, "topic": spec.topic, "schedule": spec.schedule, "timeZone": spec.timezone,
        "mediator": spec.mediator_ref, "handler": spec.handler, "sourceModel": spec.source_model,
        "sink": spec.sink, "mode": spec.mode.value,
        "options": {
            "region": o.region, "memoryMb": o.memory_mb, "timeoutSeconds": o.timeout_seconds,
            "maxInstances": o.max_instances, "minInstances": o.min_instances, "concurrency": o.concurrency,
            "retry": o.retry, "maxDeliveries": o.max_deliveries, "database": o.database, "namespace": o.namespace,
            "secrets": list(o.secrets), "params": list(o.params),
        },
    }


def triggers_table(specs: list[TriggerSpec]) -> Table:
    table = Table(title=f"{len(specs)} trigger(s)", show_lines=False)
    table.add_column("function", no_wrap=True)
    for column in ("event", "source", "source model", "sink"):
        table.add_column(column, overflow="fold")
    table.add_column("mode", no_wrap=True)
    table.add_column("options", overflow="fold")
    for s in specs:
        _add_literal_row(table, s.name, s.kind.value, s.source_text, s.source_model or "-", s.sink or "-",
                         s.mode.value, options_text(s))
    return table


def bundle_json(bundle: Bundle) -> dict[str, Any]:
    return {"function": bundle.spec.name, "codebase": bundle.codebase, "path": str(bundle.path),
            "entryPoint": bundle.entry_point, "contentHash": bundle.content_hash}


def bundles_table(bundles: list[Bundle]) -> Table:
    table = Table(title=f"{len(bundles)} bundle(s)")
    for column in ("function", "path", "entry point", "hash"):
        table.add_column(column, overflow="fold")
    for b in bundles:
        _add_literal_row(table, b.spec.name, _short_path(b.path), b.entry_point, b.short_hash)
    return table


def _add_literal_row(table: Table, *cells: str) -> None:
    table.add_row(*(Text(cell) for cell in cells))


def _short_path(path: Path) -> str:
    """The path relative to the working folder when it is inside it (tables stay narrow)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def step_json(step: Step) -> dict[str, Any]:
    return {"action": step.action.value, "name": step.name, "reason": step.reason, "region": step.region,
            "contentHash": step.bundle.content_hash if step.bundle else None, "previousHash": step.previous_hash}


def plan_table(steps: list[Step], title: str) -> Table:
    table = Table(title=title)
    table.add_column("action", no_wrap=True)
    table.add_column("name", no_wrap=True)
    for column in ("region", "why"):
        table.add_column(column, overflow="fold")
    for s in steps:
        style = ACTION_STYLE[s.action.value]
        table.add_row(Text(s.action.value, style=style), *(Text(c) for c in (s.name, s.region or "-", s.reason)))
    return table


def stderr_console() -> Console:
    return Console(stderr=True)


def say(console: Console, label: str, style: str, text: str) -> None:
    """`label text` with only the label styled; `text` is printed as it is."""
    console.print(Text.assemble((label, style), " ", text), soft_wrap=True)


def bundle_report_json(report: BundleReport) -> dict[str, Any]:
    return {"bundles": [bundle_json(b) for b in report.bundles], "firebaseJson": str(report.firebase_json)}


def print_bundle_report(report: BundleReport, out: Console, err: Console) -> None:
    out.print(bundles_table(report.bundles))
    say(err, "firebase.json in step:", "", f"{report.firebase_json} (one codebase per trigger)")


def step_result_line(result: StepResult) -> Text:
    """`ok create name`, or `FAILED create name` with the command's last lines below it."""
    mark = Text("ok", style="green") if result.ok else Text("FAILED", style="red")
    line = Text.assemble(mark, f" {result.step.action.value} {result.step.name}")
    return line.append(f"\n  {result.detail}") if not result.ok else line


def deploy_report_json(report: DeployReport) -> dict[str, Any]:
    return {
        "project": report.project, "backend": report.backend, "dryRun": report.dry_run,
        "stateSource": report.state_source, "warnings": report.warnings,
        "summary": _summary(report),
        "steps": [step_json(s) for s in report.steps],
        "commands": report.commands,
        "results": [{"name": r.step.name, "action": r.step.action.value, "ok": r.ok, "detail": r.detail}
                    for r in report.results],
    }


def print_deploy_report(report: DeployReport, out: Console, err: Console) -> None:
    """The plan as a table, the exact commands, and which steps failed (if any)."""
    counts = _summary(report)
    title = f"plan for {report.project} ({report.backend}): " + ", ".join(f"{n} {a}" for a, n in counts.items() if n)
    out.print(plan_table(report.steps, title))
    say(err, "compared with:", "", STATE_SOURCES.get(report.state_source, "{project}").format(project=report.project))
    if report.commands:
        out.print(Text("commands", style="bold") + (" (dry run: none was run)" if report.dry_run else ""))
        for argv in report.commands:
            out.print(shlex.join(argv), markup=False, highlight=False, soft_wrap=True)
    if report.failed:
        names = ", ".join(f"{r.step.action.value} {r.step.name}" for r in report.failed)
        recorded = f"; the others were recorded in {report.state_file}" if report.state_file else ""
        say(err, f"{len(report.failed)} step(s) failed:", "bold red", names + recorded)


def _summary(report: DeployReport) -> dict[str, int]:
    from onto_functions.deploy.plan import summary

    return summary(report.steps)
