"""Running a trigger's executor in an operator's process, where nothing redelivers.

A deployed function answers non-2xx and Eventarc delivers the event again.
A replay or a backfill has no such second chance, so its executor runs with
retries off: an event that fails is dead-lettered at once (with its whole
request, replayable), never left counted and forgotten.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from ..clients import client_for as default_client_for
from ..discovery import load_mediator
from ..executor import Executor
from ..spec import TriggerSpec


def offline_executor(spec: TriggerSpec, *, client_for: Callable[[str, str], Any] = default_client_for) -> Executor:
    """The trigger's own executor (its mediator, options and ledger), with no redelivery to wait for."""
    mediator = load_mediator(spec)
    once = replace(spec, options=spec.options.with_(retry=False))
    return Executor(once, mediator(), client_for=client_for)
