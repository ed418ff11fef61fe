"""The `onto_stack` pytest fixture: your app on the local stack, in this test's own project.

    from onto_functions.testing import wait_for

    def test_attendance_reaches_every_view(onto_stack):
        stack = onto_stack("myapp.main")            # or onto_stack("myapp.main", fail=0.2, seed=1)
        db = stack.client()
        db.document("tickets/t1").set({...})
        wait_for(lambda: db.document("users/u1/sessions/m1").get().exists, timeout=30)

What runs is what `onto emulate` runs: every trigger registered with the
emulator, events stored by the durable host, each trigger's deploy bundle
served by its own functions-framework worker (started on its first event),
the executor's ledger making each effect happen once. Faults (duplicate,
reorder, fail) are off unless asked for.

When the session's emulator was started by the plugin, the stack shares it
(events reach the host through the session's receiver) and `db` is a client
of the same project; with an external $FIRESTORE_EMULATOR_HOST the stack
starts its own emulator, so use `stack.client()`.

Enabled by the `onto_functions` plugin (`.plugin`), or with
`pytest_plugins = ["onto_functions.testing.stack"]` in the rootdir's
conftest.py, with plugin autoloading on or off: this module's own
`pytest_plugins` brings the emulator fixtures it builds on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from ..local.backoff import Backoff
from ..local.faults import FaultPlan
from ..local.id_tokens import UNSTARTED_AUTH_EMULATOR
from ..local.receiver import Receiver
from ..local.stack import StackConfig
from .calls import ServedStack
from .emulator_fixtures import EmulatorHandle

__all__ = ["onto_stack"]

# The fixtures `onto_stack` builds on (firestore_emulator, event_receiver, project_id; auth_emulator for auth=True).
pytest_plugins = ["onto_functions.testing.emulator_fixtures", "onto_functions.testing.auth_fixtures"]

StartStack = Callable[..., ServedStack]


@pytest.fixture
def onto_stack(
    firestore_emulator: EmulatorHandle, event_receiver: Receiver, project_id: str, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[StartStack]:
    """A function that starts the local stack for an app: `onto_stack(app, *, project_root=None,
    duplicate=0, reorder=0, fail=0, seed=None, concurrency=4, retry_delay=0.2, tick_seconds=None,
    instances=2, auth=False)`; stopped after the test. `tick_seconds` fires every schedule trigger at
    that period (local only). The stack's `call` and `request` reach its HTTPS and callable functions
    as a signed-in user (see calls.py). With `auth=True` they sign in on the session's Auth emulator
    (the `auth_emulator` fixture, started on first use), whose tokens are all for its own project: the
    stack then serves that project, shared by the session's auth tests (use ids of your own, and
    `stack.client()` rather than `db`)."""
    started: list[ServedStack] = []

    def start(
        app: str,
        *,
        project_root: Path | str | None = None,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        fail: float = 0.0,
        seed: int | None = None,
        concurrency: int = 4,
        retry_delay: float = 0.2,
        tick_seconds: float | None = None,
        instances: int = 2,
        auth: bool = False,
    ) -> ServedStack:
        shared = firestore_emulator.started_here and firestore_emulator.functions_emulator == event_receiver.host
        project, auth_host = _project_and_auth(request, project_id, auth, len(started))
        config = StackConfig(
            app=app,
            project=project,
            state_dir=tmp_path / f"onto-stack-{len(started)}",
            project_root=Path(project_root) if project_root else Path.cwd(),
            faults=FaultPlan(duplicate=duplicate, reorder=reorder, fail=fail, seed=seed),
            concurrency=concurrency,
            emulator_host=firestore_emulator.host if shared else None,
            backoff=Backoff(base=retry_delay),
            tick_seconds=tick_seconds,
            instances=instances,
            auth_emulator_host=auth_host,
        )
        stack = ServedStack(config, receiver=event_receiver if shared else None)
        started.append(stack)
        return stack.start()

    yield start
    for stack in reversed(started):
        stack.stop()


def _project_and_auth(request: pytest.FixtureRequest, project_id: str, auth: bool, earlier: int) -> tuple[str, str]:
    """The project a stack serves and its Auth emulator's address (see `onto_stack`)."""
    if auth:  # the session's Auth emulator issues tokens for its own project alone
        emulator = request.getfixturevalue("auth_emulator")
        return emulator.project, emulator.host
    return (f"{project_id}-{earlier}" if earlier else project_id), UNSTARTED_AUTH_EMULATOR
