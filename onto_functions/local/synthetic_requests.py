"""One synthetic request for any trigger: what `onto invoke` and the schedule timer send.

Why one place: the host must build, for each kind of trigger, the very
request its real source would send (the Firestore emulator's base64
CloudEvent, Pub/Sub's push JSON, Cloud Scheduler's call), so that what the
worker's entry point decodes locally is what it decodes in production.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Mapping

from ..encoding import encode_cloudevent
from ..ledger import AnyEvent
from ..spec import EventKind, TriggerSpec
from ..stream_encoding import encode_message, encode_tick
from ..stream_events import MessageEvent, TickEvent
from ..synthetic import document_event, next_time


def synthetic_request(spec: TriggerSpec, project: str, document: str = "", *,
                      before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
                      data: Any = None, attributes: Mapping[str, str] | None = None,
                      at: datetime | None = None) -> tuple[AnyEvent, dict[str, str], bytes]:
    """(the event, its request headers, its body) for one invocation of `spec`."""
    if spec.kind is EventKind.MESSAGE:
        raw = data if isinstance(data, bytes) else (data.encode() if isinstance(data, str) else json.dumps(data).encode())
        event: AnyEvent = MessageEvent(id=f"invoke-{uuid.uuid4().hex[:12]}", time=next_time(), project=project,
                                       database=spec.options.database, topic=spec.topic or "", data=raw,
                                       attributes=dict(attributes or {}),
                                       subscription=f"projects/{project}/subscriptions/onto-invoke")
        return (event, *encode_message(event, form="push"))
    if spec.kind is EventKind.TICK:
        tick = TickEvent(time=at or next_time(), project=project, database=spec.options.database,
                         job=f"onto-{spec.name}")
        return (tick, *encode_tick(tick))
    if not document:
        raise ValueError(f"trigger {spec.name!r} fires on documents: give the document path")
    # The trigger's own event type, as the emulator would send it.
    doc_event = document_event(project, document, before=before, after=after, event_type=spec.kind)
    return (doc_event, *encode_cloudevent(doc_event, form="base64"))
