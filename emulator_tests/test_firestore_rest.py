"""The runtime's REST client agrees with the client library, on the real emulator.

Every value it writes reads back the same through google-cloud-firestore and
the other way round; a merge sets the fields `set(..., merge=True)` sets; an
equality query finds what the library's finds (null and NaN included); each
refusal carries Firestore's status; a transaction's locks are released by a
rollback; a deployed function's first event loads neither gRPC nor the
client library.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from onto_functions.clients import document_client
from onto_functions.firestore_rest import FirestoreError
from onto_functions.firestore_writes import Write, write_json
from onto_functions.store import Store
from onto_functions.values import DocRef, GeoPoint

MOMENT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
EVERY_KIND = {
    "none": None, "yes": True, "int": -(2**63), "big": 2**63 - 1, "float": 1.5, "nan": math.nan,
    "inf": -math.inf, "text": "héllo ✓", "empty": "", "bytes": b"\x00\xff", "when": MOMENT,
    "ref": DocRef("rooms/r1/guests/g1"), "geo": GeoPoint(48.85, 2.35), "list": [1, "a", {"x": [None]}], "none_listed": [],
    "map": {"nested": {"deep": 1}, "with.dot": 2, "emptymap": {}}, "with space": 3, "`tick`": 4, "ünï": 5,
}


def comparable(value):
    """Both sides' values in one form: library references and geo points as onto's, NaN as a marker."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if hasattr(value, "_client") and hasattr(value, "path"):
        return DocRef(value.path)
    if hasattr(value, "latitude") and not isinstance(value, GeoPoint):
        return GeoPoint(value.latitude, value.longitude)
    if isinstance(value, datetime):
        return datetime.fromtimestamp(value.timestamp(), timezone.utc).replace(microsecond=value.microsecond)
    return value


def test_every_kind_of_value_written_by_rest_reads_the_same_through_the_library(db):
    Store(db).write("kinds/rest", EVERY_KIND)
    assert comparable(db.document("kinds/rest").get().to_dict()) == comparable(EVERY_KIND)


def test_every_kind_of_value_written_by_the_library_reads_the_same_through_rest(db):
    library_form = {**EVERY_KIND, "ref": db.document("rooms/r1/guests/g1"),
                    "geo": firestore.GeoPoint(48.85, 2.35)}
    db.document("kinds/lib").set(library_form)
    read = Store(db).read("kinds/lib")
    assert read is not None and comparable(read.data) == comparable(EVERY_KIND)
    snap = db.document("kinds/lib").get()
    assert (read.update_time, read.create_time) == (snap.update_time, snap.create_time)


@pytest.mark.parametrize("existing, merged", [
    ({"a": 1, "m": {"x": 1, "y": 2}}, {"m": {"x": 9}, "b": 2}),
    ({"a": 1, "m": {"x": 1}}, {"m": {}}),
    ({"a": 1}, {}),
    ({"odd key": {"in.side": 1, "keep": 2}}, {"odd key": {"in.side": 3}, "`q`": 1}),
    (None, {"m": {"x": 1}}),
])
def test_a_merge_sets_what_the_librarys_merge_sets(db, existing, merged):
    if existing is not None:
        db.document("merge/lib").set(existing)
        db.document("merge/rest").set(existing)
    db.document("merge/lib").set(merged, merge=True)
    Store(db).write("merge/rest", merged, merge=True)
    assert db.document("merge/rest").get().to_dict() == db.document("merge/lib").get().to_dict()


@pytest.mark.parametrize("field, value", [
    ("n", 1), ("n", None), ("n", math.nan), ("tag", "a b"), ("m.x", 2), ("odd key", True), ("ref", DocRef("a/b")),
])
def test_an_equality_query_finds_what_the_librarys_finds(db, field, value):
    rows = [{"n": 1, "tag": "a b", "m": {"x": 2}, "odd key": True, "ref": db.document("a/b")},
            {"n": None, "tag": "c", "m": {"x": 3}, "odd key": False}, {"n": math.nan}, {"other": 1}]
    for i, row in enumerate(rows):
        db.document(f"rooms/r/guests/g{i}").set(row)
    library_value = db.document(value.path) if isinstance(value, DocRef) else value
    path = FieldPath(*field.split("."))
    expected = [s.id for s in db.collection("rooms/r/guests").where(filter=FieldFilter(path.to_api_repr(), "==",
                                                                                        library_value)).get()]
    found = [d.path.rsplit("/", 1)[1] for d in document_client(db).query("rooms/r/guests", ((field, value),))]
    assert found == expected and expected


def test_refusals_carry_firestores_status(db):
    rest = document_client(db)
    Store(db).create_document("once/a", {"n": 1})
    with pytest.raises(FirestoreError) as exists:
        Store(db).create_document("once/a", {"n": 2})
    assert exists.value.status == "ALREADY_EXISTS"
    stale = write_json(Write("set", "once/a", {"n": 3}), rest,
                       datetime(2020, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(FirestoreError) as precondition:
        rest.commit([stale])
    assert precondition.value.status == "FAILED_PRECONDITION"
    assert db.document("once/a").get().to_dict() == {"n": 1}


def test_a_rolled_back_transaction_releases_its_locks_at_once(db):
    """Without the rollback, the emulator holds the read's lock until its 2 s timeout aborts the write."""
    rest = document_client(db)
    Store(db).write("locks/a", {"n": 1})
    transaction = rest.begin_transaction()
    rest.get_all(["locks/a"], transaction)
    rest.rollback(transaction)
    other = rest.begin_transaction()
    rest.get_all(["locks/a"], other)
    rest.commit([write_json(Write("set", "locks/a", {"n": 2}), rest)], other)
    assert db.document("locks/a").get().to_dict() == {"n": 2}


FIRST_EVENT = textwrap.dedent('''
    import sys
    from onto_functions import Mediator, sink, source
    from onto_functions.entrypoint import TriggerFunction
    from onto_functions.testing.builders import document_event

    class Copy(Mediator):
        source = source.document("hits/{id}")
        sink = sink.firestore()

        @source.triggers.on_write
        def copy(self, change, store):
            store.write("views/" + change.params["id"], {"n": (change.after or {}).get("n")})

    event = document_event(sys.argv[1], "hits/h1", after={"n": 7})
    print(TriggerFunction(Copy, "copy-copy", project=sys.argv[1]).process(event).status)
    print(sorted(m for m in sys.modules if m.split(".")[0] == "grpc" or m.startswith(("google.cloud.firestore",
                                                                                         "google.api_core"))))
''')


def test_an_event_is_applied_without_loading_grpc_or_the_client_library(db, project_id, firestore_emulator):
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    done = subprocess.run([sys.executable, "-c", FIRST_EVENT, project_id], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["applied", "[]"], done.stdout
    assert db.document("views/h1").get().to_dict() == {"n": 7}


def test_a_naive_datetime_is_stored_as_utc_as_the_library_stores_it(db):
    naive = datetime(2024, 5, 6, 7, 8, 9, 123456)
    db.document("naive/lib").set({"t": naive})
    Store(db).write("naive/rest", {"t": naive, "nested": [{"t": naive}]})
    stored = db.document("naive/rest").get().to_dict()
    assert stored["t"] == db.document("naive/lib").get().to_dict()["t"] == naive.replace(tzinfo=timezone.utc)
    assert stored["nested"][0]["t"] == stored["t"]
