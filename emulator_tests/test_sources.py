"""Sources at parity with the Functions SDK, through real emulator deliveries:
wildcard patterns, the writer's identity, named databases."""

from __future__ import annotations

import base64
import json
import urllib.request
from dataclasses import replace

from onto_functions import EventKind, Mediator, ledger, sink, source
from onto_functions.encoding import encode_cloudevent
from onto_functions.entrypoint import TriggerFunction
from onto_functions.testing.builders import document_event
from onto_functions.local.emulator_api import register_trigger
from onto_functions.local.emulator_client import emulator_client
from onto_functions.testing import wait_for


def serve(receiver, emulator, project_id, mediator, trigger, *, database="(default)") -> TriggerFunction:
    """Register one trigger with the emulator, served by its real entry point."""
    function = TriggerFunction(mediator, trigger, project=project_id)
    receiver.register(trigger, lambda h, b: (lambda r: (r.status, r.encoded()))(function.handle(h, b)))
    spec = function.spec
    register_trigger(emulator.host, project_id, trigger, spec.event_type, spec.document, database=database)
    return function


class Everything(Mediator):
    source = source.document("users/{uid}/{rest=**}")
    sink = sink.firestore()

    @source.triggers.on_create
    def index(self, change, store):
        store.write(f"index/{change.params['uid']}~{change.params['rest'].replace('/', '~')}",
                    {"rest": change.params["rest"]})


def test_a_multi_segment_wildcard_fires_for_nested_documents(db, firestore_emulator, event_receiver, project_id):
    serve(event_receiver, firestore_emulator, project_id, Everything, "everything-index")
    db.document("users/u1/orders/o1").set({"n": 1})
    db.document("users/u1/orders/o1/items/i1").set({"n": 2})
    wait_for(lambda: len(db.collection("index").get()) == 2, timeout=30, message="two index entries")
    assert sorted(d.to_dict()["rest"] for d in db.collection("index").get()) == ["orders/o1", "orders/o1/items/i1"]


class Audited(Mediator):
    class Meta:
        auth_context = True

    source = source.document("notes/{note_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def record(self, change, store):
        store.write(f"audit/{change.params['note_id']}", {"type": change.auth.type, "id": change.auth.id})


def _unsigned_id_token(project: str, uid: str) -> str:
    """An ID token as the emulators accept it: not signed (alg none)."""
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    claims = {"iss": f"https://securetoken.google.com/{project}", "aud": project, "sub": uid, "user_id": uid,
              "iat": 1700000000, "exp": 4000000000, "auth_time": 1700000000, "firebase": {"sign_in_provider": "password"}}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _write_as(emulator_host: str, project: str, path: str, fields: dict, token: str) -> None:
    url = f"http://{emulator_host}/v1/projects/{project}/databases/(default)/documents/{path}"
    body = json.dumps({"fields": fields}).encode()
    request = urllib.request.Request(url, data=body, method="PATCH", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def test_a_handler_sees_who_wrote_as_the_emulator_delivers_it(db, firestore_emulator, event_receiver, project_id):
    """The emulator's auth-context delivery carries a fixed stand-in identity, whatever token the
    writer used (measured: authtype 'unknown', authid 'fake-auth-id@gmail.com'); the handler must
    see exactly what the delivery carried."""
    function = serve(event_receiver, firestore_emulator, project_id, Audited, "audited-record")
    assert function.spec.event_type.endswith(".withAuthContext")
    _write_as(firestore_emulator.host, project_id, "notes/n1", {"text": {"stringValue": "hi"}},
              _unsigned_id_token(project_id, "alice"))
    audit = wait_for(lambda: (s := db.document("audit/n1").get()).exists and s.to_dict(), timeout=30,
                     message="the audit entry")
    delivery = wait_for(lambda: next((d for d in event_receiver.deliveries("audited-record")
                                      if d.project == project_id), None),
                        timeout=30, message="the delivery to be recorded")  # recorded after the answer
    assert audit == {"type": delivery.headers["ce-authtype"], "id": delivery.headers["ce-authid"]}
    assert audit["id"]


def test_a_handler_sees_the_signed_in_user_in_every_wire_form(db, project_id):
    """Production sends the writer as ce-authtype/ce-authid (firebase_auth + the user's uid)."""
    function = TriggerFunction(Audited, "audited-record", project=project_id)
    for form in ("protobuf", "base64", "json", "structured"):
        event = replace(document_event(project_id, f"notes/{form}", after={"text": "hi"},
                                       event_type=EventKind.CREATED),
                        event_type=function.spec.event_type, auth={"authtype": "firebase_auth", "authid": "alice"})
        answer = function.handle(*encode_cloudevent(event, form=form))
        assert answer.body["outcome"] == "applied", answer.body
        assert db.document(f"audit/{form}").get().to_dict() == {"type": "firebase_auth", "id": "alice"}


class SecondDatabase(Mediator):
    class Meta:
        database = "second"

    source = source.document("orders/{order_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def receipt(self, change, store):
        store.create_document(f"receipts/{change.params['order_id']}", {"from": change.event.database})


def test_a_trigger_on_a_named_database_fires_writes_and_keeps_its_ledger_there(
        db, firestore_emulator, event_receiver, project_id):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    second = firestore.Client(project=project_id, database="second", credentials=AnonymousCredentials())
    serve(event_receiver, firestore_emulator, project_id, SecondDatabase, "second-database-receipt",
          database="second")
    db.document("orders/o1").set({"in": "default"})  # (default): not this trigger's database
    second.document("orders/o2").set({"in": "second"})
    receipt = wait_for(lambda: (s := second.document("receipts/o2").get()).exists and s.to_dict(), timeout=30,
                       message="the receipt in the second database")
    assert receipt == {"from": "second"}
    assert len(second.collection(ledger.LEDGER).get()) == 1
    assert db.collection("receipts").get() == [] and db.collection(ledger.LEDGER).get() == []
    assert not second.document("receipts/o1").get().exists
