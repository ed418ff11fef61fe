"""The app: what `onto list`, `onto bundle` and `onto deploy` read (`examples.meeting_room.main`)."""

from .mediators import AttendanceMediator, MeetingMediator, TicketMediator

mediators = [TicketMediator, MeetingMediator, AttendanceMediator]
