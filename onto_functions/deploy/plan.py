"""`plan(bundles, deployed_state) → [Step]`: what a deploy would change, as data.

Pure: no I/O, no clock. The same bundles and state always give the same
steps, in the same order (creates, updates, deletes, TTL policies,
then unchanged ones), so a plan can be printed, diffed and tested.

The state is what the cloud reports (labels of onto-managed functions,
see `deployed`), or the local cache when the cloud cannot be asked. A
function that is not live (a failed deploy leaves it FAILED) is deployed
again whatever its labels say.

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
from .labels import same_bundle
from .state import DeployedFunction, DeployedState


class Action(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    TTL = "ttl"  # set the ledger's TTL policy on one collection group
    RULES = "rules"  # deploy the Firestore security rules onto generates (rules_deploy.py)
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
    deploys, unchanged, deletes = [], [], []
    for name, bundle in wanted.items():
        step, moved = plan_trigger(bundle, state.copies(name))
        (unchanged if step.action is Action.UNCHANGED else deploys).append(step)
        deletes += moved
    for name in sorted({fn.name for fn in state.functions.values()} - set(wanted)):
        deletes += [Step(Action.DELETE, name, "trigger is gone from the app", None, fn.region, fn.content_hash)
                    for fn in state.copies(name)]
    ttls = []
    for database in sorted({b.spec.options.database for b in bundles}):
        for group in ttl_groups:
            key = ttl_key(database, group)
            if key not in state.ttl_policies:
                ttls.append(Step(Action.TTL, key, f"ledger documents expire by {ledger.EXPIRY_FIELD}"))
    creates = [s for s in deploys if s.action is Action.CREATE]
    updates = [s for s in deploys if s.action is Action.UPDATE]
    return [*creates, *updates, *deletes, *ttls, *unchanged]


def plan_trigger(bundle: Bundle, copies: list[DeployedFunction]) -> tuple[Step, list[Step]]:
    """The step for one wanted trigger, and the deletes of its copies in other regions.

    Cloud Functions cannot move a function: a new one is made in the new
    region, and the backend deletes the old one only once the new one is
    live (a failed create deletes nothing).
    """
    name, region = bundle.spec.name, bundle.spec.options.region
    here = next((c for c in copies if c.region == region), None)
    elsewhere = [c for c in copies if c.region != region]
    moved = [Step(Action.DELETE, name, f"moved to {region} (deleted once that copy is live)", None, c.region,
                  c.content_hash) for c in elsewhere]
    if here is None:
        reason = f"region {', '.join(c.region for c in elsewhere)} → {region}" if elsewhere else "new trigger"
        previous = elsewhere[0].content_hash if elsewhere else None
        return Step(Action.CREATE, name, reason, bundle, region, previous), moved
    if not here.live:
        reason = f"not live ({here.status.lower()}): deploy again"
    elif not same_bundle(here.content_hash, bundle.content_hash):
        reason = f"bundle changed ({here.content_hash[:12] or 'no onto-hash label'} → {bundle.short_hash})"
    else:
        return Step(Action.UNCHANGED, name, f"same bundle ({bundle.short_hash})", bundle, region,
                    here.content_hash), moved
    return Step(Action.UPDATE, name, reason, bundle, region, here.content_hash), moved


def select(steps: list[Step], only: Iterable[str]) -> list[Step]:
    """The steps of the named functions alone (`--only`); no TTL steps then. ValueError names unknown ones."""
    only = list(dict.fromkeys(only))
    if not only:
        return steps
    known = {s.name for s in steps if s.action is not Action.TTL}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(f"--only {', '.join(unknown)}: no such trigger or deployed function "
                         f"(known: {', '.join(sorted(known)) or 'none'})")
    return [s for s in steps if s.name in only]


def summary(steps: Iterable[Step]) -> dict[str, int]:
    """{action: count} for every action, zeros included (stable for --json readers)."""
    counts = {a.value: 0 for a in Action}
    for step in steps:
        counts[step.action.value] += 1
    return counts
