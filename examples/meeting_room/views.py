"""What each participant's app reads: one document, no client-side joins."""

from onto_functions import ViewModel, fields


class MeetingSession(ViewModel):
    class Meta:
        path = "users/{user_id}/meetingSessions/{meeting_id}"
        readable_by = "user_id"  # each participant reads their own session, no one else's (`onto rules`)

    meeting_id = fields.Str(required=True)
    status = fields.Str(required=True)
    in_session = fields.Bool(required=True)
    location_address = fields.Str(allow_none=True)
    attending = fields.List(fields.Str(), required=True)  # display names, sorted
    num_attending = fields.Int(required=True)
    num_hearing_aid_requested = fields.Int(required=True)
