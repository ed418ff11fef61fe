"""The deploy side: discover → [TriggerSpec] → bundle → [Bundle] → plan → [Step] → backend.

Each step takes plain data and returns plain data (the shape of Chalice's
appgraph → planner → executor), so each is testable alone and `--dry-run`
is just "stop before the backend runs anything".

Nothing here is imported by the runtime (entrypoint, executor): a deployed
function never pays for it at cold start.
"""

from .bundle import Bundle, build_bundles
from .bundle_errors import BundleError, BundleWarning

__all__ = ["Bundle", "BundleError", "BundleWarning", "build_bundles"]
