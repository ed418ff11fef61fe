"""Helpers for testing code that reacts to Firestore events: `wait_for`, event builders, pytest fixtures.

Events arrive asynchronously (the emulator delivers on its own thread, usually
within ~10 ms), so tests wait by polling with a deadline, never with fixed
sleeps: `wait_for` (it lives in `onto_functions.local.polling`, because the
local stack waits too, and is re-exported here for tests).

- `.builders`: `document_event`, `next_time` (from `onto_functions.synthetic`).
- `.emulator_fixtures`: `firestore_emulator`, `event_receiver`, `project_id`, `db`.
- `.stack`: `onto_stack`, the local stack in a test's own project.
- `.plugin`: the pytest11 entry point that registers both fixture modules.

Importing this package registers no fixtures; see `.plugin` for how to enable them.
"""

from __future__ import annotations

from ..local.polling import wait_for

__all__ = ["wait_for"]
