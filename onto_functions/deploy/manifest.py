"""The static `functions.yaml` of one bundle (firebase-tools' discovery manifest, v1alpha1).

Why a static manifest: without it firebase-tools starts a Python process
with the Firebase SDK's admin server to discover functions (it needs a venv
in the source folder and times out on slow machines). With it, discovery is
reading a file. Field names follow firebase-tools'
`src/deploy/functions/runtimes/discovery/v1alpha1.ts` (checked against
firebase-tools 15.34.2): `endpoints.<id>.{entryPoint, platform, region,
availableMemoryMb, timeoutSeconds, maxInstances, minInstances, concurrency,
labels, eventTrigger.{eventType, eventFilters, eventFilterPathPatterns,
retry, region}, scheduleTrigger.{schedule, timeZone, retryConfig.retryCount}}`;
a message trigger's `eventFilters` is `{topic: <topic id>}` as
firebase-functions-python's `PubSubOptions` writes it, and a schedule
trigger has a `scheduleTrigger` (as its `ScheduleOptions` writes) instead of
an `eventTrigger`. Secrets are `secretEnvironmentVariables: [{key, secret}]` on the
endpoint plus `params: [{name, type: secret}]`, and plain parameters `params:
[{name, type: string}]`, as firebase-functions-python's `private/manifest.py`
writes them: names only, never a value.

The YAML is written here (no PyYAML dependency): every scalar is emitted as
a JSON string or number, which YAML 1.2 reads unchanged.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from ..spec import EventKind, TriggerSpec
from .labels import function_labels

SPEC_VERSION = "v1alpha1"
# firebase-tools' backend.isValidMemoryOption
MEMORY_OPTIONS_MB = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


class ManifestError(ValueError):
    """An option that Cloud Functions (2nd gen) would refuse."""


class EventTrigger(TypedDict, total=False):
    eventType: str
    eventFilters: dict[str, str]
    eventFilterPathPatterns: dict[str, str]
    retry: bool
    region: str


class ScheduleTrigger(TypedDict, total=False):
    schedule: str
    timeZone: str
    retryConfig: dict[str, int]


# Cloud Scheduler retries a failed call at most 5 times.
MAX_SCHEDULER_RETRIES = 5
SCHEDULER_API = {"api": "cloudscheduler.googleapis.com", "reason": "Needed for scheduled functions."}


class Endpoint(TypedDict, total=False):
    entryPoint: str
    platform: str
    region: list[str]
    availableMemoryMb: int
    timeoutSeconds: int
    maxInstances: int
    minInstances: int
    concurrency: int
    labels: dict[str, str]
    eventTrigger: EventTrigger
    scheduleTrigger: ScheduleTrigger
    secretEnvironmentVariables: list[dict[str, str]]


class _ManifestBase(TypedDict):
    specVersion: str
    requiredAPIs: list[dict[str, str]]
    endpoints: dict[str, Endpoint]


class Manifest(_ManifestBase, total=False):
    params: list[dict[str, str]]


def endpoint_for(spec: TriggerSpec, *, trigger_region: str | None = None, content_hash: str | None = None) -> Endpoint:
    """The gcfv2 endpoint of one trigger. `trigger_region` is the database location, when known;
    `content_hash` goes in the labels (see `labels`), and is left out of what the hash covers."""
    opts = spec.options
    if opts.memory_mb not in MEMORY_OPTIONS_MB:
        raise ManifestError(
            f"trigger {spec.name!r}: memory_mb={opts.memory_mb} is not a Cloud Functions size; "
            f"use one of {', '.join(map(str, MEMORY_OPTIONS_MB))}"
        )
    endpoint: Endpoint = {
        "entryPoint": spec.entry_point,
        "platform": "gcfv2",
        "region": [opts.region],
        "availableMemoryMb": opts.memory_mb,
        "timeoutSeconds": opts.timeout_seconds,
        "minInstances": opts.min_instances,
        "labels": function_labels(opts.mode.value, content_hash),
    }
    if spec.kind is EventKind.TICK:
        endpoint["scheduleTrigger"] = schedule_trigger(spec)
    else:
        endpoint["eventTrigger"] = event_trigger(spec, trigger_region)
    if opts.max_instances is not None:
        endpoint["maxInstances"] = opts.max_instances
    if opts.concurrency is not None:
        endpoint["concurrency"] = opts.concurrency
    if opts.secrets:
        endpoint["secretEnvironmentVariables"] = secret_environment(spec)
    return endpoint


def secret_environment(spec: TriggerSpec) -> list[dict[str, str]]:
    """Each secret as an environment variable of the same name, bound to the Secret Manager secret of that
    name in the deploy's own project (no `projectId`), as firebase-functions-python writes it."""
    return [{"key": name, "secret": name} for name in spec.options.secrets]


def manifest_params(spec: TriggerSpec) -> list[dict[str, str]]:
    """The manifest's `params`: firebase-tools checks each secret exists and each param has a value (.env files)."""
    return ([{"name": name, "type": "secret"} for name in spec.options.secrets]
            + [{"name": name, "type": "string"} for name in spec.options.params])


def event_trigger(spec: TriggerSpec, trigger_region: str | None) -> EventTrigger:
    """A document trigger's Firestore filters, or a message trigger's topic."""
    opts = spec.options
    if spec.kind is EventKind.MESSAGE:
        return {"eventType": spec.event_type, "eventFilters": {"topic": spec.topic or ""}, "retry": opts.retry}
    trigger: EventTrigger = {
        "eventType": spec.event_type,
        "eventFilters": {"database": opts.database, "namespace": opts.namespace},
        "eventFilterPathPatterns": {"document": spec.document},
        "retry": opts.retry,
    }
    if trigger_region:
        trigger["region"] = trigger_region
    return trigger


def scheduler_retries(spec: TriggerSpec) -> int:
    """Cloud Scheduler's retryCount: enough calls for `max_deliveries` (the last one dead-letters)."""
    return min(spec.options.max_deliveries - 1, MAX_SCHEDULER_RETRIES) if spec.options.retry else 0


def schedule_trigger(spec: TriggerSpec) -> ScheduleTrigger:
    trigger: ScheduleTrigger = {"schedule": spec.schedule or ""}
    if spec.timezone:
        trigger["timeZone"] = spec.timezone
    trigger["retryConfig"] = {"retryCount": scheduler_retries(spec)}
    return trigger


def manifest_for(spec: TriggerSpec, *, trigger_region: str | None = None, content_hash: str | None = None) -> Manifest:
    """A manifest with exactly one endpoint: the bundle is one codebase, one function."""
    manifest: Manifest = {
        "specVersion": SPEC_VERSION,
        "requiredAPIs": [dict(SCHEDULER_API)] if spec.kind is EventKind.TICK else [],
        "endpoints": {spec.name: endpoint_for(spec, trigger_region=trigger_region, content_hash=content_hash)},
    }
    if spec.options.secrets or spec.options.params:
        manifest["params"] = manifest_params(spec)
    return manifest


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts/lists of str, int, bool (keys kept in order)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{_scalar_key(key)}:")
                lines.append(to_yaml(item, indent + 1))
            else:
                lines.append(f"{pad}{_scalar_key(key)}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = to_yaml(item, indent + 1).lstrip()
                lines.append(f"{pad}- {inner}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        return pad + _scalar(value)
    return "\n".join(lines)


def _scalar_key(key: str) -> str:
    return key if key.isidentifier() else json.dumps(key)


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(str(value))
