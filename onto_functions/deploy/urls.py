"""Where a deployed HTTPS or callable function answers: its URL, for `onto list` and people.

A 2nd-gen function answers at `https://REGION-PROJECT.cloudfunctions.net/NAME`
(as well as at its Cloud Run URL, which holds a hash only the deploy
knows), and an HTTPS function's routes hang below it. Without a project id
the URL keeps a `PROJECT` placeholder: `onto list` works before any deploy.
"""

from __future__ import annotations

from ..spec import EventKind, TriggerSpec

PROJECT_PLACEHOLDER = "PROJECT"


def base_url(spec: TriggerSpec, project: str | None = None) -> str:
    """Where the function answers HTTP (a request function, or a schedule trigger Cloud Scheduler calls)."""
    return f"https://{spec.options.region}-{project or PROJECT_PLACEHOLDER}.cloudfunctions.net/{spec.name}"


def function_url(spec: TriggerSpec, project: str | None = None) -> str | None:
    """The function's production URL (an HTTPS function's route appended), or None for an event trigger."""
    if not spec.kind.is_request:
        return None
    base = base_url(spec, project)
    if spec.kind is EventKind.REQUEST and spec.route and spec.route != "/":
        return base + spec.route
    return base
