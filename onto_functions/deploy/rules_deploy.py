"""`onto deploy` and the generated security rules: keep firestore.rules current, plan and record its deploy.

A project uses onto's rules once it has its own `firestore.rules.in` (or
`[tool.onto] rules_source`) or a rules file `onto rules` wrote; other
projects' rules are left alone: onto never replaces rules it was not asked
to manage. For a project that does, every deploy regenerates the file (as
it rebuilds bundles) and plans a RULES step when the rules differ from
those last deployed from here.

Why a recorded hash: no list command reports a project's rules, so the
state cache remembers the hash of the rules it deployed, as it remembers TTL
policies. A fresh clone (or CI) has no record and deploys them once;
firebase-tools skips the upload when the project's live rules are the same,
so that costs a compile, not a new release.

Backends: with firebase, `firestore:rules` joins the same `firebase deploy
--only` as the functions (a rules error fails that command). gcloud has no
command for security rules; rather than a Rules REST client onto could not
test offline, a gcloud deploy warns, naming the firebase-tools command that
deploys them, and records nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .backends import StepResult
from .plan import Action, Step
from .project import ProjectConfig
from .rules_files import GeneratedRules, check_writable, generate_rules, managed_rules, rules_source
from .state import DeployedState, save_state

STEP_NAME = "firestore:rules"


@dataclass(frozen=True)
class RulesPlan:
    """What a deploy does about security rules: the file to write, the step, and any warning."""

    generated: GeneratedRules | None = None
    step: Step | None = None
    digest: str = ""
    warnings: list[str] = field(default_factory=list)


def plan_rules(config: ProjectConfig, app: str, state: DeployedState, *, backend: str) -> RulesPlan:
    """The rules step of a deploy (None when the project does not use onto's rules)."""
    if managed_rules(config) is None and rules_source(config) is None:
        return RulesPlan()
    generated = generate_rules(config, app)
    check_writable(config, generated)  # refused before anything is written or deployed
    digest = rules_hash(generated.text)
    if digest == state.rules_hash:
        return RulesPlan(generated, Step(Action.UNCHANGED, STEP_NAME, f"same rules ({digest[:12]})"), digest)
    reason = f"rules changed ({state.rules_hash[:12]} → {digest[:12]})" if state.rules_hash else \
        f"not deployed from here yet ({digest[:12]})"
    if backend != "firebase":
        warning = (f"security rules not deployed: the {backend} backend has no command for them; deploy "
                   f"{generated.output.name} with `firebase deploy --only firestore:rules --project "
                   f"{state.project}` ({reason})")
        return RulesPlan(generated, None, digest, [warning])
    return RulesPlan(generated, Step(Action.RULES, STEP_NAME, reason), digest)


def with_rules_step(steps: list[Step], rules: RulesPlan) -> list[Step]:
    """`steps` with the rules step placed before the unchanged ones (a plan's order)."""
    if rules.step is None:
        return steps
    changing = [s for s in steps if s.action is not Action.UNCHANGED]
    return [*changing, rules.step, *[s for s in steps if s.action is Action.UNCHANGED]]


def record_rules(state_dir: Path, state: DeployedState, results: list[StepResult], rules: RulesPlan) -> Path | None:
    """Save the deployed rules' hash once their step succeeded; the state file, or None."""
    if rules.step is None or not any(r.ok and r.step is rules.step for r in results):
        return None
    return save_state(state_dir, replace(state, rules_hash=rules.digest))


def rules_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
