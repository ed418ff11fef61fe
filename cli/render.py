"""Rich tables and JSON shapes for the deploy commands (rendering only, no logic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from onto_functions.deploy.bundle import Bundle
from onto_functions.deploy.plan import Action, Step
from onto_functions.spec import TriggerSpec

ACTION_STYLE = {
    Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red",
    Action.TTL: "cyan", Action.UNCHANGED: "dim",
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
    return " ".join(parts)


def spec_json(spec: TriggerSpec) -> dict[str, Any]:
    o = spec.options
    return {
        "function": spec.name, "eventType": spec.event_type, "document": spec.document,
        "mediator": spec.mediator_ref, "handler": spec.handler, "sourceModel": spec.source_model,
        "sink": spec.sink, "mode": spec.mode.value,
        "options": {
            "region": o.region, "memoryMb": o.memory_mb, "timeoutSeconds": o.timeout_seconds,
            "maxInstances": o.max_instances, "minInstances": o.min_instances, "concurrency": o.concurrency,
            "retry": o.retry, "maxDeliveries": o.max_deliveries, "database": o.database, "namespace": o.namespace,
        },
    }


def triggers_table(specs: list[TriggerSpec]) -> Table:
    table = Table(title=f"{len(specs)} trigger(s)", show_lines=False)
    table.add_column("function", no_wrap=True)
    for column in ("event", "document", "source model", "sink"):
        table.add_column(column, overflow="fold")
    table.add_column("mode", no_wrap=True)
    table.add_column("options", overflow="fold")
    for s in specs:
        table.add_row(s.name, s.kind.value, s.document, s.source_model or "-", s.sink or "-", s.mode.value,
                      options_text(s))
    return table


def bundle_json(bundle: Bundle) -> dict[str, Any]:
    return {"function": bundle.spec.name, "codebase": bundle.codebase, "path": str(bundle.path),
            "entryPoint": bundle.entry_point, "contentHash": bundle.content_hash}


def bundles_table(bundles: list[Bundle]) -> Table:
    table = Table(title=f"{len(bundles)} bundle(s)")
    for column in ("function", "path", "entry point", "hash"):
        table.add_column(column, overflow="fold")
    for b in bundles:
        table.add_row(b.spec.name, _short_path(b.path), b.entry_point, b.short_hash)
    return table


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
        style = ACTION_STYLE[s.action]
        table.add_row(f"[{style}]{s.action.value}[/{style}]", s.name, s.region or "-", s.reason)
    return table


def stderr_console() -> Console:
    return Console(stderr=True)
