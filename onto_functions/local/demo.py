"""`onto demo`: the meeting-room example on the local stack, from nothing to three updated views.

The story is `examples/meeting_room/scenario.py` (the same one its tests
tell); this module only runs it on a `LocalStack` (emulator, durable host,
each trigger's deploy bundle in a worker) and reports what happened.

Carol toggles her attendance through the `toggle-attendance` callable, as
her browser would: signed in, through the stack's request front. Her ID
token is written here in the Auth emulator's own format (see id_tokens.py)
rather than asked of firebase-tools' Auth emulator, so `make demo` needs
no npm and no Java 21; the workers verify it as they verify the
emulator's, in firebase-admin's emulator mode.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .id_tokens import UNSTARTED_AUTH_EMULATOR, emulator_format_token
from .polling import wait_for
from .request_client import call
from .stack import LocalStack, StackConfig

APP = "examples.meeting_room.main"
CALLABLE = "toggle-attendance"


@dataclass(frozen=True)
class DemoResult:
    ok: bool
    project: str
    views: dict[str, Any]
    seconds_to_converge: float
    startup_seconds: float
    total_seconds: float
    stats: dict[str, dict[str, Any]]


class DemoUnavailable(RuntimeError):
    """The meeting-room example is not importable (an install without the repository's examples/)."""


def _examples_root() -> Path:
    """The folder holding the `examples` package: the repository root in a checkout.

    The example ships with the repository, not inside the onto_functions
    package, so `onto` (whose sys.path lacks the cwd) looks for it in the
    current folder and its parents.
    """
    import importlib
    import sys

    try:
        examples = importlib.import_module("examples.meeting_room")
    except ModuleNotFoundError:
        here = Path.cwd().resolve()
        for folder in (here, *here.parents):
            if (folder / "examples" / "meeting_room" / "scenario.py").is_file():
                sys.path.insert(0, str(folder))
                examples = importlib.import_module("examples.meeting_room")
                break
        else:
            raise DemoUnavailable(
                "cannot find examples/meeting_room (it ships with the onto-functions repository): "
                "run `onto demo` from a checkout of the repository"
            ) from None
    return Path(examples.__file__).resolve().parent.parent.parent


def run_demo(echo: Callable[[str], None] = print, *, keep: bool = False, timeout: float = 60.0) -> DemoResult:
    root = _examples_root()
    began = time.perf_counter()
    project = f"demo-meeting-room-{uuid.uuid4().hex[:6]}"
    state_dir = Path(tempfile.mkdtemp(prefix="onto-demo-"))
    echo(f"Starting the local stack for {APP} (project {project}) ...")
    stack = LocalStack(StackConfig(app=APP, project=project, state_dir=state_dir, project_root=root,
                                   prestart=True, auth_emulator_host=UNSTARTED_AUTH_EMULATOR))
    try:
        stack.start()
        echo(f"  Firestore emulator on {stack.emulator_host}, function host on {stack.host_address} "
             f"({stack.startup_seconds:.1f} s); state: {state_dir}")
        for spec in stack.specs:
            echo(f"  {spec.name}: {spec.kind.trigger_name} {spec.source_text}")
        result = _tell_the_story(stack, echo, timeout)
        ok = _report(stack, echo, timeout) and all(v.num_attending == 3 for v in result.views.values())
        stats = stack.snapshot()
        startup = stack.startup_seconds or 0.0
    finally:
        stack.stop()
        if not keep:
            shutil.rmtree(state_dir, ignore_errors=True)
    total = time.perf_counter() - began
    echo(f"Done in {total:.1f} s{'' if not keep else f'; state kept in {state_dir}'}.")
    views = {u: v.to_dict() if hasattr(v, "to_dict") else v for u, v in result.views.items()}
    return DemoResult(ok, project, views, result.seconds_to_converge, startup, total, stats)


def _tell_the_story(stack: LocalStack, echo: Callable[[str], None], timeout: float) -> Any:
    """The meeting-room scenario on the stack's emulator; its result (views, time to converge)."""
    from examples.meeting_room import scenario

    host = stack.host
    assert host is not None

    def wait(predicate: Callable[[], Any], what: str) -> Any:
        # Deliveries resume once the story waits, and the story moves on only when the host is idle:
        # the emulator locks pessimistically, and a plain write that meets a handler transaction's
        # read lock fails after 2 s ("409 Transaction lock timeout") on a loaded machine.
        host.resume()
        found = wait_for(predicate, timeout=timeout, message=f"waiting for {what}")
        host.wait_idle(timeout)
        return found

    echo("Seeding: a meeting in session, Alice and Bob attending, Carol not yet ...")
    host.pause()  # the seed's writes are stored as events, delivered when it is done
    result = scenario.run(stack.client(), wait, toggle=_toggle_through_the_callable(stack, echo, scenario.MEETING_ID))
    echo(f"Carol changed her attendance; all three views showed it after "
         f"{result.seconds_to_converge * 1000:.0f} ms:")
    for uid, view in result.views.items():
        echo(f"  users/{uid}/meetingSessions/{scenario.MEETING_ID}: attending={view.attending} "
             f"({view.num_attending}), hearing aids={view.num_hearing_aid_requested}, "
             f"in session={view.in_session}, location={view.location_address!r}")
    return result


def _toggle_through_the_callable(stack: LocalStack, echo: Callable[[str], None], meeting_id: str
                                 ) -> Callable[[str], Any]:
    """`toggle(uid)`: the user, signed in, calls the `toggle-attendance` callable at the stack's URL."""
    spec = next(s for s in stack.specs if s.name == CALLABLE)
    url = stack.requests.url(spec)

    def toggle(uid: str) -> None:
        token = emulator_format_token(stack.project, uid)
        answer = call(url, {"meetingId": meeting_id}, id_token=token, key=uuid.uuid4().hex)
        echo(f"{uid} called {CALLABLE} at {url} (instance {answer.instance}): {answer.result}")

    return toggle


def _report(stack: LocalStack, echo: Callable[[str], None], timeout: float) -> bool:
    """Once every event is delivered, what the host counted; True when nothing was dead-lettered."""
    stack.wait_idle(timeout=timeout)
    totals = stack.stats.totals()
    echo(f"{totals.get('received', 0)} events received, {totals.get('applied', 0)} applied, "
         f"{totals.get('duplicate', 0)} duplicates skipped, {totals.get('dead_lettered', 0)} dead-lettered.")
    return not totals.get("dead_lettered")
