"""Run the meeting-room demo on the local Firestore emulator and print what each participant sees.

    python -m examples.meeting_room.demo

Events travel as in production: the emulator sends each write's CloudEvent
over HTTP to a receiver, which hands it to the same function object a
deployed bundle's main.py exposes (decode → exactly-once executor → views).
"""

from __future__ import annotations

import os
import sys
import time
import uuid

from onto_functions.discovery import discover, load_mediator
from onto_functions.entrypoint import TriggerFunction
from onto_functions.local.emulator import FirestoreEmulator, emulator_client, register_trigger
from onto_functions.local.receiver import Receiver
from onto_functions.testing import wait_for

from . import scenario

APP = "examples.meeting_room.main"


def main() -> int:
    project = f"demo-meeting-room-{uuid.uuid4().hex[:6]}"
    print(f"Starting the Cloud Firestore emulator (project {project}) ...", flush=True)
    with Receiver() as receiver, FirestoreEmulator(functions_emulator=receiver.host, project=project) as emulator:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        for spec in discover(APP):
            function = TriggerFunction(load_mediator(spec), spec.name)
            receiver.register(spec.name, lambda h, b, f=function: _answer(f.handle(h, b)))
            register_trigger(emulator.host, project, spec.name, spec.event_type, spec.document)
            print(f"  trigger {spec.name}: {spec.kind.trigger_name} {spec.document}")
        db = emulator_client(project, emulator.host)

        def wait(predicate, what):
            return wait_for(predicate, timeout=30, message=f"waiting for {what}")

        print("Seeding: a meeting in session, Alice and Bob attending, Carol not yet ...", flush=True)
        result = scenario.run(db, wait)
        print(f"Carol toggled her attendance; all three views updated in {result.seconds_to_converge * 1000:.0f} ms:")
        for uid, view in result.views.items():
            print(f"  users/{uid}/meetingSessions/{scenario.MEETING_ID}: attending={view.attending} "
                  f"({view.num_attending}), hearing aids={view.num_hearing_aid_requested}, "
                  f"in session={view.in_session}, location={view.location_address!r}")
        # The views can converge before the toggle's own event is processed (an
        # earlier event may read the new state); wait until all five events are in.
        expected = 1 + len(scenario.PARTICIPANTS) + 1  # the meeting, the tickets, the toggle
        def all_delivered():
            deliveries = receiver.deliveries()
            return deliveries if len(deliveries) >= expected else None

        delivered = wait(all_delivered, f"all {expected} events to be delivered")
        acknowledged = sum(1 for d in delivered if d.status == 200)
        print(f"{len(delivered)} events delivered, {acknowledged} acknowledged (each applied exactly once).")
        if acknowledged != len(delivered):
            return 1
        db.close()
    return 0


def _answer(response):
    return response.status, response.encoded()


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"Done in {time.perf_counter() - started:.1f} s.")
    sys.exit(code)
