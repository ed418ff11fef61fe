"""Declaring models and mediators: what is checked at import time, and the specs it yields."""

from __future__ import annotations

import pytest

from onto_functions import (DocRef, DomainModel, EventKind, Mediator, Mode, SchemaError, ViewModel,
                            discover, fields, sink, source)
from onto_functions.discovery import DiscoveryError
from onto_functions.paths import PathError, PathTemplate


class Meeting(DomainModel):
    class Meta:
        collection = "meetings"

    title = fields.Str(required=True)
    starts_at = fields.Timestamp(load_default=None, allow_none=True)


class Ticket(DomainModel):
    class Meta:
        collection = "tickets"

    meeting = fields.Ref(Meeting, required=True)
    attendance = fields.Bool(load_default=False)
    seat_number = fields.Int(load_default=None, allow_none=True)


class Session(ViewModel):
    class Meta:
        path = "users/{user_id}/sessions/{meeting_id}"

    attending = fields.List(fields.Str(), required=True)


def test_keys_are_camel_case_in_firestore_and_snake_case_in_python():
    ticket = Ticket(doc_id="t1", meeting=DocRef("meetings/m1"), seat_number=4)
    assert ticket.to_document() == {"meeting": DocRef("meetings/m1"), "attendance": False, "seatNumber": 4}
    back = Ticket.from_document("tickets/t1", {"meeting": DocRef("meetings/m1"), "seatNumber": 4})
    assert back == ticket


def test_unknown_keys_in_a_document_survive_a_round_trip():
    ticket = Ticket.from_document("tickets/t1", {"meeting": DocRef("meetings/m1"), "addedByWebApp": "x"})
    assert ticket.to_document()["addedByWebApp"] == "x"


def test_a_bad_document_names_its_path_and_every_bad_field():
    with pytest.raises(SchemaError) as info:
        Ticket.from_document("tickets/t9", {"meeting": 5, "attendance": "maybe"})
    message = str(info.value)
    assert "tickets/t9" in message and "'meeting'" in message and "'attendance'" in message
    assert set(info.value.errors) == {"meeting", "attendance"}


def test_a_reference_to_the_wrong_collection_is_refused():
    with pytest.raises(SchemaError, match="users/u1"):
        Ticket(doc_id="t1", meeting=DocRef("users/u1")).to_document()


def test_missing_required_field_is_named_by_its_python_name():
    with pytest.raises(SchemaError, match="'title'"):
        Meeting(doc_id="m1").to_document()


def test_unknown_constructor_argument_lists_the_fields():
    with pytest.raises(TypeError, match="seat_number"):
        Ticket(doc_id="t1", seat=3)


def test_view_path_params_come_from_the_constructor():
    view = Session(user_id="u1", meeting_id="m1", attending=["a"])
    assert view.path == "users/u1/sessions/m1"
    assert view.to_document() == {"attending": ["a"]}
    with pytest.raises(PathError, match="meeting_id"):
        _ = Session(user_id="u1", attending=[]).path


def test_path_templates_match_and_refuse_what_is_not_a_document_path():
    template = PathTemplate("users/{uid}/tickets/{tid}")
    assert template.match("users/u1/tickets/t2") == {"uid": "u1", "tid": "t2"}
    assert template.match("users/u1/other/t2") is None
    assert template.match("users/u1") is None
    with pytest.raises(PathError, match="even number"):
        PathTemplate("users/{uid}/tickets")
    with pytest.raises(PathError, match="whole segment"):
        PathTemplate("users/u-{uid}")
    with pytest.raises(PathError, match="without '/'"):
        template.format(uid="a/b", tid="t")


class TicketMediator(Mediator):
    class Meta:
        region = "europe-west1"
        max_deliveries = 7

    source = source.domain_model(Ticket)
    sink = sink.firestore(Session)

    @source.triggers.on_create
    @source.triggers.on_update
    def refresh(self, change, store):
        pass

    @source.triggers.on_delete(name="tickets-cleanup", mode="at_least_once", memory_mb=512)
    def cleanup(self, change, store):
        pass


def test_each_handler_trigger_pair_is_one_spec():
    specs = {s.name: s for s in TicketMediator.trigger_specs()}
    assert set(specs) == {"ticket-refresh-created", "ticket-refresh-updated", "tickets-cleanup"}
    created = specs["ticket-refresh-created"]
    assert created.kind is EventKind.CREATED
    assert created.event_type == "google.cloud.firestore.document.v1.created"
    assert created.document == "tickets/{ticket_id}"
    assert created.source_model == f"{__name__}:Ticket"
    assert created.sink == "firestore:users/{user_id}/sessions/{meeting_id}"
    assert (created.options.region, created.options.max_deliveries, created.options.mode) == (
        "europe-west1", 7, Mode.EXACTLY_ONCE)
    cleanup = specs["tickets-cleanup"]
    assert (cleanup.options.mode, cleanup.options.memory_mb) == (Mode.AT_LEAST_ONCE, 512)


def test_a_misspelt_trigger_fails_at_import_time_with_the_right_name():
    with pytest.raises(AttributeError, match="Did you mean 'on_write'"):
        class Broken(Mediator):  # noqa: F841
            source = source.domain_model(Ticket)

            @source.triggers.on_wirte
            def handler(self, change, store):
                pass


def test_an_unknown_option_fails_at_import_time():
    with pytest.raises(TypeError, match="retries"):
        class Broken(Mediator):  # noqa: F841
            source = source.domain_model(Ticket)

            @source.triggers.on_write(retries=3)
            def handler(self, change, store):
                pass


def test_discovery_is_explicit_and_refuses_clashing_names():
    assert [s.name for s in discover([TicketMediator])][:1] == ["ticket-refresh-created"]

    class Twin(Mediator):
        source = source.domain_model(Ticket)

        @source.triggers.on_delete(name="tickets-cleanup")
        def other(self, change, store):
            pass

    with pytest.raises(DiscoveryError, match="tickets-cleanup"):
        discover([TicketMediator, Twin])
    with pytest.raises(DiscoveryError, match="no_such_module"):
        discover("no_such_module")


def test_meeting_room_app_is_discovered_from_its_module():
    names = [s.name for s in discover("examples.meeting_room.main")]
    assert sorted(names) == ["meeting-refresh", "ticket-refresh-meeting", "toggle-attendance"]
