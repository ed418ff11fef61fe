"""Adversarial review of issue 10: what a hostile client sends to HTTPS and callable functions.

Each test is a hole found in review (or a probe that held), served through the
production entry point (`http_function`, real flask requests) against the real
Auth emulator (firebase-tools) and Firestore emulator.
"""

from __future__ import annotations

import uuid

import pytest
from marshmallow import Schema, fields

from emulator_tests.test_requests import Served
from onto_functions import Mediator, source

pytestmark = pytest.mark.timeout(300)


class RoomSchema(Schema):
    name = fields.Str(required=True)


class RoomMediator(Mediator):
    """Writes `rooms/{room_id}`: a route parameter used as a document id, as handlers do."""

    source = source.https("/rooms/{room_id}", methods=("POST",), schema=RoomSchema, allow="anyone")

    @source.triggers.on_request(name="room-rename")
    def rename(self, request, store):
        store.write(f"rooms/{request.params['room_id']}", {"name": request.data["name"]})
        return {"room": request.params["room_id"]}


@pytest.fixture
def serve(auth_emulator, auth_db, monkeypatch):
    def make(mediator: type, name: str) -> Served:
        return Served(mediator, name, auth_emulator.project, monkeypatch)

    return make


@pytest.mark.parametrize("room", ["{id}%252Fsecret%252Fx", "{id}%2Fsecret%2Fx", "..", "%252E%252E"])
def test_a_route_parameter_cannot_name_another_document(serve, auth_db, room):
    """A parameter decoding to "a/secret/x" would write rooms/a/secret/x: a path the route never offered."""
    rename, room_id = serve(RoomMediator, "room-rename"), f"r-{uuid.uuid4().hex[:8]}"
    status, body, _, _ = rename.send("POST", "/rooms/" + room.format(id=room_id), {"name": "hijacked"})
    assert status == 404, body
    assert not auth_db.document(f"rooms/{room_id}/secret/x").get().exists


def test_a_plain_route_parameter_still_works(serve, auth_db):
    room = f"r-{uuid.uuid4().hex[:8]}"
    status, body, _, _ = serve(RoomMediator, "room-rename").send("POST", f"/rooms/{room}", {"name": "ok"})
    assert status == 200 and body == {"room": room}
    assert auth_db.document(f"rooms/{room}").get().to_dict() == {"name": "ok"}
