"""Adversarial review of issue 10: what a hostile client sends to HTTPS and callable functions.

Each test is a hole found in review (or a probe that held), served through the
production entry point (`http_function`, real flask requests) against the real
Auth emulator (firebase-tools) and Firestore emulator.
"""

from __future__ import annotations

import uuid

import pytest
from marshmallow import Schema, fields

from emulator_tests.apps.requests_app import PublicMediator
from emulator_tests.test_requests import Served
from emulator_tests.test_security_rules import Client
from examples.meeting_room.views import MeetingSession
from onto_functions import Mediator, ViewModel, source
from onto_functions import fields as view_fields
from onto_functions.deploy.rules import RulesRefused, ViewRule, check_user_rules, render_rules, view_rules
from onto_functions.deploy.rules_text import read_user_rules
from onto_functions.local.emulator_rules import load_rules
from onto_functions.local.id_tokens import sign_in
from onto_functions.request_wire import MAX_BODY_BYTES

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


class TicketMediator(Mediator):
    """Anyone may call; each applied call answers a fresh ticket, so a replay is told from a fresh answer."""

    source = source.callable(allow="anyone")

    @source.triggers.on_call(name="take-ticket")
    def take(self, request, store):
        ticket = uuid.uuid4().hex
        store.write(f"tickets/{ticket}", {"by": request.auth.uid if request.auth else None})
        return {"ticket": ticket, "for": request.auth.uid if request.auth else None}


class RoleMediator(Mediator):
    source = source.callable(allow="claim:role=admin")

    @source.triggers.on_call(name="role-only")
    def act(self, request, store):
        return {"ok": True}


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


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                                 b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e400}'])
def test_a_hostile_json_body_is_a_400_not_a_500(serve, raw):
    echo = serve(PublicMediator, "public-echo")
    status, body, _, _ = echo.send("POST", "/echo", raw=raw)
    assert status == 400, body
    assert body["error"]["status"] == "INVALID_ARGUMENT"


def test_a_deep_callable_body_is_a_400_too(serve):
    status, body, _, _ = serve(TicketMediator, "take-ticket").send("POST", "/", raw=b'{"data":' + b"[" * 100_000)
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT", body


def test_a_user_whose_uid_is_anonymous_never_gets_an_anonymous_callers_answer(serve, auth_emulator):
    take, key = serve(TicketMediator, "take-ticket"), f"k-{uuid.uuid4().hex}"
    status, first, _ = take.call({"idempotencyKey": key})
    assert status == 200 and first["result"]["for"] is None
    token = sign_in(auth_emulator.host, auth_emulator.project, "anonymous")
    status, second, _ = take.call({"idempotencyKey": key}, Authorization=f"Bearer {token}")
    assert status == 200, second
    assert second["result"]["for"] == "anonymous" and second["result"]["ticket"] != first["result"]["ticket"]


@pytest.mark.parametrize("wildcard", ["{ doc=** }", "{doc = **}", "{doc/* any */=**}"])
def test_a_user_rule_with_spaces_in_a_wildcard_is_refused(firestore_emulator, project_id, db, wildcard):
    """Firestore reads `{ doc=** }` as `{doc=**}`: unchecked, it opens every view and `_onto_*` to every client."""
    user = read_user_rules(f"match /{wildcard} {{ allow read, write: if true; }}", "firestore.rules.in")
    views = view_rules([MeetingSession])
    load_rules(firestore_emulator.host, project_id, render_rules(user, views, source="firestore.rules.in", app="x"))
    db.document("users/bob/meetingSessions/m1").set({"attending": "bob"})
    alice = Client(firestore_emulator.host, project_id, "alice")
    assert alice.get("users/bob/meetingSessions/m1") == 200  # what the rule does once loaded
    with pytest.raises(RulesRefused, match="can reach the view users/"):
        check_user_rules(user, views, "firestore.rules.in")


def test_outside_emulator_mode_an_auth_emulator_token_is_refused(serve, auth_user, monkeypatch):
    """The Auth emulator's tokens are unsigned (alg none): a deployed function (no FIREBASE_AUTH_EMULATOR_HOST)
    must refuse them, and does so before fetching any key (firebase-admin: no "kid")."""
    take, user = serve(TicketMediator, "take-ticket"), auth_user()
    assert take.call({}, user)[1]["result"]["for"] == user.uid  # in emulator mode: accepted
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST")
    status, body, _ = take.call({}, user)
    assert status == 401 and body["error"] == {"status": "UNAUTHENTICATED", "message": "the ID token is not valid"}


@pytest.mark.parametrize("role", [["admin"], {"admin": True}, "Admin", True, None])
def test_a_claim_of_another_type_or_value_is_403(serve, auth_user, role):
    act = serve(RoleMediator, "role-only")
    status, body, _ = act.call({}, auth_user(claims={"role": role}))
    assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"
    assert act.call({}, auth_user(claims={"role": "admin"}))[0] == 200


def test_one_key_two_users_two_answers_and_a_changed_body_is_refused(serve, auth_user):
    take, key, alice, bob = serve(TicketMediator, "take-ticket"), f"k-{uuid.uuid4().hex}", auth_user(), auth_user()
    first = take.call({"idempotencyKey": key, "n": 1}, alice)[1]["result"]
    other = take.call({"idempotencyKey": key, "n": 1}, bob)[1]["result"]
    assert first["for"] == alice.uid and other["for"] == bob.uid and first["ticket"] != other["ticket"]
    assert take.call({"idempotencyKey": key, "n": 1}, alice)[1]["result"] == first
    status, body, _ = take.call({"idempotencyKey": key, "n": 2}, alice)
    assert (status, body["error"]["status"]) == (400, "FAILED_PRECONDITION"), body  # a callable's code for 422
    assert "different request" in body["error"]["message"]


class AnyCollectionView(ViewModel):
    """A view whose top-level collection is a parameter: its reader rule would match every collection."""

    class Meta:
        path = "{kind}/{user_id}"
        readable_by = "user_id"

    total = view_fields.Int()


def test_a_readable_view_that_can_sit_in_onto_collections_is_refused(firestore_emulator, project_id, db):
    rule = ViewRule("{kind}/{user_id}", "user_id", ("AnyCollectionView",))
    load_rules(firestore_emulator.host, project_id, render_rules(None, [rule], source="-", app="x"))
    db.document("_onto_ledger/alice").set({"mark": 1})
    alice = Client(firestore_emulator.host, project_id, "alice")
    assert alice.get("_onto_ledger/alice") == 200  # what that rule would grant: onto's bookkeeping, read
    with pytest.raises(RulesRefused, match=r"AnyCollectionView.Meta.path '\{kind\}/\{user_id\}'"):
        view_rules([AnyCollectionView])


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(serve):
    """Parsed, 28 MB of numbers took 320 MB, before the caller is even known: a 256 MiB instance's end."""
    huge = b'{"data":[' + b"0.5," * (MAX_BODY_BYTES // 4) + b"0]}"
    status, body, _, _ = serve(PublicMediator, "public-echo").send("POST", "/echo", raw=huge)
    assert status == 413 and "more than the" in body["error"]["message"], body
    status, body, _, _ = serve(TicketMediator, "take-ticket").send("POST", "/", raw=huge)
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT"), body
    assert serve(PublicMediator, "public-echo").send("POST", "/echo", raw=huge[:MAX_BODY_BYTES // 2] + b"0]}")[0] == 200


@pytest.mark.parametrize("user", ["match /{d=**} { allow read, write: if true }",
                                  "match /{d=**} { allow read, write }",
                                  "match /{d=**} {\n  allow read, write: if true\n}\nmatch /rooms/{r} { allow read: if false; }"])
def test_a_user_allow_without_a_semicolon_is_checked_too(firestore_emulator, project_id, db, user):
    """Firestore accepts an `allow` that ends at its block's `}`; the check saw only those ending in `;`."""
    rules, views = read_user_rules(user, "firestore.rules.in"), view_rules([MeetingSession])
    load_rules(firestore_emulator.host, project_id, render_rules(rules, views, source="firestore.rules.in", app="x"))
    db.document("users/bob/meetingSessions/m1").set({"attending": "bob"})
    assert Client(firestore_emulator.host, project_id, "alice").get("users/bob/meetingSessions/m1") == 200
    with pytest.raises(RulesRefused, match="can reach the view users/"):
        check_user_rules(rules, views, "firestore.rules.in")
