"""The seed's headline demo, for real: the emulator delivers each write to the functions.

Three participants; Carol toggles her attendance; all three MeetingSession
views show it. Events travel the production path: emulator → HTTP CloudEvent
(base64 protobuf) → decode → exactly-once executor → views.
"""

from __future__ import annotations

from google.cloud.firestore_v1.base_query import FieldFilter

from examples.meeting_room import scenario
from examples.meeting_room.models import Ticket
from onto_functions import Store, discover, ledger
from onto_functions.entrypoint import function_for_spec
from onto_functions.local.emulator_api import register_trigger
from onto_functions.testing import wait_for

APP = "examples.meeting_room.main"


def deploy_locally(emulator, receiver, project_id):
    """Register every trigger of the app with the emulator, served by its real entry point
    (its callable, toggle-attendance, is no trigger: emulator_tests/test_request_serving.py calls it)."""
    functions = {}
    for spec in (s for s in discover(APP) if not s.kind.is_request):
        function = functions[spec.name] = function_for_spec(spec, project=project_id)
        receiver.register(spec.name, lambda h, b, f=function: (lambda r: (r.status, r.encoded()))(f.handle(h, b)))
        register_trigger(emulator.host, project_id, spec.name, spec.event_type, spec.document)
    return functions


def wait_for_carol_marks(db, count: int, what: str) -> list[dict]:
    """The ledger marks of Carol's ticket, once there are `count` (one per event handled)."""
    query = db.collection(ledger.LEDGER).where(filter=FieldFilter("document", "==", "tickets/standup-carol"))

    def marks() -> list[dict] | None:
        found = [m.to_dict() for m in query.get()]
        return found if len(found) == count else None

    return wait_for(marks, timeout=30, message=what)


def test_one_toggle_updates_every_participants_view(db, firestore_emulator, event_receiver, project_id):
    functions = deploy_locally(firestore_emulator, event_receiver, project_id)

    result = scenario.run(db, lambda check, what: wait_for(check, timeout=30, message=what))

    for uid, view in result.views.items():
        assert view.attending == ["Alice Ng", "Bob Ortiz", "Carol Diaz"], uid
        assert view.num_attending == 3
        assert view.num_hearing_aid_requested == 1  # Bob
        assert view.in_session is True
        assert view.location_address == "Room 1, 2nd floor"
        assert view.path_params == {"user_id": uid}

    # Views converge as soon as any later event reads the new state, so wait for
    # the toggle's own event: Carol's ticket has two marks, its create and the toggle.
    marks = wait_for_carol_marks(db, 2, "the toggle's event to be applied")
    assert sorted(m["outcome"] for m in marks) == ["applied", "applied"]
    assert len({m["eventId"] for m in marks}) == 2
    toggle_id = max(marks, key=lambda m: m["version"])["eventId"]
    # The mark commits inside the handler; the receiver records the delivery after it returns.
    last = wait_for(lambda: next((d for d in event_receiver.deliveries("ticket-refresh-meeting")
                                  if d.project == project_id and d.headers.get("ce-id") == toggle_id), None),
                    timeout=30, message="the toggle's delivery to be recorded")
    assert last.status == 200

    # Production redelivers: the same request again changes nothing.
    before = {uid: db.document(f"users/{uid}/meetingSessions/standup").get().update_time for uid in scenario.PARTICIPANTS}
    again = functions["ticket-refresh-meeting"].handle(last.headers, last.body)
    assert (again.status, again.body["outcome"]) == (200, "duplicate")
    after = {uid: db.document(f"users/{uid}/meetingSessions/standup").get().update_time for uid in scenario.PARTICIPANTS}
    assert after == before


def test_toggling_back_converges_to_the_latest_state(db, firestore_emulator, event_receiver, project_id):
    deploy_locally(firestore_emulator, event_receiver, project_id)
    scenario.run(db, lambda check, what: wait_for(check, timeout=30, message=what))
    for value in (False, True, False):
        store = Store(db)
        ticket = store.get(Ticket, "standup-carol")
        ticket.attendance = value
        store.save(ticket)
    # Two attending shows already after the first toggle: wait for every event of
    # Carol's ticket (create, toggle, three toggles) before reading the views.
    marks = wait_for_carol_marks(db, 5, "every event of Carol's ticket to be handled")
    assert max(marks, key=lambda m: m["version"])["outcome"] == "applied"
    final = scenario.views(db)
    assert all(v is not None and v.num_attending == 2 for v in final.values()), final
    assert all("Carol Diaz" not in v.attending for v in final.values())
