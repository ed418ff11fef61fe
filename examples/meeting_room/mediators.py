"""Mediators: domain changes in, one MeetingSession per participant out.

Both mediators rebuild the whole meeting's sessions from what the
unit of work reads, so the result depends only on the current state, never
on which event arrived first: late, duplicate or concurrent events converge.
"""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields as mfields

from onto_functions import Change, Mediator, Request, RequestError, Store, sink, source

from .models import Location, Meeting, Ticket, User
from .views import MeetingSession


def refresh_sessions(store: Store, out, meeting_id: str) -> int:
    """Write every participant's MeetingSession for one meeting; returns how many."""
    meeting = store.get(Meeting, meeting_id)
    if meeting is None:
        return 0
    tickets = store.query(Ticket, meeting=meeting.ref)
    location = store.get(Location, meeting.location)
    attending_ids = {t.user.path for t in tickets if t.attendance}
    people = {u.path: u for u in store.get_many(User, meeting.users)}
    attending = [people[p] for p in attending_ids if p in people]
    for user_ref in meeting.users:
        view = MeetingSession(
            user_id=user_ref.id,
            meeting_id=meeting_id,
            status=meeting.status,
            in_session=meeting.status == "in-session",
            location_address=location.address if location else None,
            attending=sorted(u.display_name for u in attending),
            num_attending=len(attending),
            num_hearing_aid_requested=sum(1 for u in attending if u.hearing_aid_requested),
        )
        out.emit(store, view)
    return len(meeting.users)


class TicketMediator(Mediator):
    """A ticket changed (attendance toggled, added, removed): refresh its meeting."""

    source = source.domain_model(Ticket)
    sink = sink.firestore(MeetingSession)

    @source.triggers.on_write
    def refresh_meeting(self, change: Change[Ticket], store: Store) -> None:
        ticket = change.current
        refresh_sessions(store, self.sink, ticket.meeting.id)


class MeetingMediator(Mediator):
    """The meeting itself changed (status, location, who is invited)."""

    source = source.domain_model(Meeting)
    sink = sink.firestore(MeetingSession)

    @source.triggers.on_write
    def refresh(self, change: Change[Meeting], store: Store) -> None:
        refresh_sessions(store, self.sink, change.params["meeting_id"])


class ToggleSchema(Schema):
    """The callable's data: `{"meetingId": "standup"}`."""

    meeting_id = mfields.Str(required=True, data_key="meetingId")


def ticket_id(meeting_id: str, uid: str) -> str:
    """A participant's ticket in a meeting: one per (meeting, user)."""
    return f"{meeting_id}-{uid}"


class AttendanceMediator(Mediator):
    """A signed-in participant toggles their own attendance (`httpsCallable("toggle-attendance")`).

    It only writes the domain document, the caller's ticket; the ticket
    trigger above then rebuilds every participant's view, as for any other
    change of a ticket.
    """

    source = source.callable(schema=ToggleSchema, allow="signed_in")

    @source.triggers.on_call(name="toggle-attendance")
    def toggle_attendance(self, request: Request, store: Store) -> dict:
        meeting_id, uid = request.data["meeting_id"], request.auth.uid
        ticket = store.get(Ticket, ticket_id(meeting_id, uid))
        if ticket is None:
            raise RequestError("NOT_FOUND", f"{uid} has no ticket for meeting {meeting_id}")
        ticket.attendance = not ticket.attendance
        store.save(ticket)
        return {"meetingId": meeting_id, "attending": ticket.attendance}
