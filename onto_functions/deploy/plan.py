"""`plan(bundles, deployed_state) → [Step]`: what a deploy would change, as data.

Pure: no I/O, no clock. The same bundles and state always give the same
steps, in the same order (creates, updates, deletes, TTL policies,
then unchanged ones), so a plan can be printed, diffed and tested.

Why compare content hashes, not specs: a bundle's hash covers its code,
its pinned requirements, its vendored runtime and its manifest (region,
memory, retry...), so "hash differs" is exactly "what would run differs".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable

from .. import ledger
from .bundle import Bundle
from .state import DeployedState


class Action(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    TTL = "ttl"  # set the ledger's TTL policy on one collection group
    UNCHANGED = "unchanged"

    @property
    def changes(self) -> bool:
        return self is not Action.UNCHANGED


@dataclass(frozen=True)
class Step:
    """One thing to do (or, for UNCHANGED, not to do) and why."""

    action: Action
    name: str  # function name; for TTL "<database>/<collection group>/<field>"
    reason: str
    bundle: Bundle | None = None  # what to deploy (create/update/unchanged)
    region: str | None = None  # where it runs (delete: where it ran)
    previous_hash: str | None = None

    @property
    def ttl_target(self) -> tuple[str, str, str]:
        """(database, collection group, field) of a TTL step."""
        database, group, field = self.name.split("/")
        return database, group, field


def ttl_key(database: str, group: str, field: str = ledger.EXPIRY_FIELD) -> str:
    return f"{database}/{group}/{field}"


def plan(
    bundles: Iterable[Bundle],
    state: DeployedState,
    *,
    ttl_groups: tuple[str, ...] = ledger.COLLECTIONS,
) -> list[Step]:
    """Steps that bring `state` to `bundles`; TTL policies for every database the triggers use."""
    bundles = sorted(bundles, key=lambda b: b.spec.name)
    wanted = {b.spec.name: b for b in bundles}
    creates, updates, unchanged, deletes, ttls = [], [], [], [], []
    for name, bundle in wanted.items():
        region = bundle.spec.options.region
        deployed = state.functions.get(name)
        if deployed is None:
            creates.append(Step(Action.CREATE, name, "new trigger", bundle, region))
        elif deployed.region != region:
            # Cloud Functions cannot move a function: a new one is made in the new region.
            creates.append(Step(Action.CREATE, name, f"region {deployed.region} → {region}", bundle, region,
                                deployed.content_hash))
            deletes.append(Step(Action.DELETE, name, f"moved to {region}", None, deployed.region,
                                deployed.content_hash))
        elif deployed.content_hash != bundle.content_hash:
            updates.append(Step(Action.UPDATE, name,
                                f"bundle changed ({deployed.content_hash[:12]} → {bundle.short_hash})",
                                bundle, region, deployed.content_hash))
        else:
            unchanged.append(Step(Action.UNCHANGED, name, f"same bundle ({bundle.short_hash})", bundle, region,
                                  deployed.content_hash))
    for name, deployed in sorted(state.functions.items()):
        if name not in wanted:
            deletes.append(Step(Action.DELETE, name, "trigger is gone from the app", None, deployed.region,
                                deployed.content_hash))
    databases = sorted({b.spec.options.database for b in bundles})
    for database in databases:
        for group in ttl_groups:
            key = ttl_key(database, group)
            if key not in state.ttl_policies:
                ttls.append(Step(Action.TTL, key, f"ledger documents expire by {ledger.EXPIRY_FIELD}"))
    return [*creates, *updates, *deletes, *ttls, *unchanged]


def summary(steps: Iterable[Step]) -> dict[str, int]:
    """{action: count} for every action, zeros included (stable for --json readers)."""
    counts = {a.value: 0 for a in Action}
    for step in steps:
        counts[step.action.value] += 1
    return counts
