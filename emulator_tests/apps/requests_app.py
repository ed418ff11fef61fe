"""Request and callable mediators for the request tests: attendance, notes, an admin action.

Not idempotent on purpose: each applied toggle increments `meetings/{id}.toggles`,
so a request applied twice shows as a wrong count, and each answer carries a
fresh random `answerId`, so a replayed answer is told from a recomputed one.
"""

from __future__ import annotations

import uuid

from marshmallow import Schema, fields

from onto_functions import Mediator, RequestError, source


class ToggleSchema(Schema):
    meeting_id = fields.Str(required=True)
    attend = fields.Bool(required=True)


class NoteSchema(Schema):
    text = fields.Str(required=True)
    pages = fields.Int(required=True)


class AttendanceMediator(Mediator):
    source = source.callable(schema=ToggleSchema, allow="signed_in")

    @source.triggers.on_call(name="toggle-attendance")
    def toggle_attendance(self, request, store):
        meeting_id, uid = request.data["meeting_id"], request.auth.uid
        store.write(f"attendance/{meeting_id}~{uid}", {"uid": uid, "attending": request.data["attend"]})
        meeting = store.read(f"meetings/{meeting_id}")
        toggles = (meeting.data.get("toggles", 0) if meeting else 0) + 1
        store.write(f"meetings/{meeting_id}", {"toggles": toggles})
        return {"meetingId": meeting_id, "attending": request.data["attend"], "toggles": toggles,
                "answerId": uuid.uuid4().hex}


class AdminMediator(Mediator):
    source = source.callable(allow="claim:admin")

    @source.triggers.on_call(name="close-meeting")
    def close_meeting(self, request, store):
        store.write(f"closed/{request.data['meeting_id']}", {"by": request.auth.uid})
        return {"closed": request.data["meeting_id"]}


class NotesMediator(Mediator):
    source = source.https("/meetings/{meeting_id}/notes", methods=("POST", "GET"), schema=NoteSchema,
                          allow="signed_in")

    @source.triggers.on_request(name="meeting-notes")
    def notes(self, request, store):
        meeting_id = request.params["meeting_id"]
        if request.method == "GET":
            found = store.read(f"notes/{meeting_id}")
            if found is None:
                raise RequestError("NOT_FOUND", f"no notes for meeting {meeting_id}")
            return found.data
        store.write(f"notes/{meeting_id}", {"text": request.data["text"], "pages": request.data["pages"],
                                            "by": request.auth.uid})
        return {"meetingId": meeting_id, "saved": True, "answerId": uuid.uuid4().hex}


class PublicMediator(Mediator):
    source = source.https("/echo", methods=("POST",), allow="anyone", app_check=False)

    @source.triggers.on_request(name="public-echo")
    def echo(self, request, store):
        if request.json == {"fail": True}:
            raise ZeroDivisionError("a secret detail that must never reach the caller")
        return {"echo": request.json, "signedIn": request.auth is not None}


class CheckedMediator(Mediator):
    source = source.callable(allow="anyone", app_check=True)

    @source.triggers.on_call(name="app-checked")
    def checked(self, request, store):
        return {"app": request.app_check}


mediators = [AttendanceMediator, AdminMediator, NotesMediator, PublicMediator, CheckedMediator]
