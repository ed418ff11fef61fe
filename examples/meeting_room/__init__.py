"""onto's meeting-room demo: one participant changes attendance, every participant sees it.

Domain models (Location, User, Meeting, Ticket) live in Firestore; the
`MeetingSession` view is computed from them and written once per participant
at `users/{user_id}/meetingSessions/{meeting_id}`, where each participant's
app reads it directly.
"""
