"""The emulator fixtures, trigger registration and delivery, against the real Cloud Firestore emulator."""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from google.events.cloud.firestore_v1.types import DocumentEventData

from onto_functions.local import installation as emulator_mod
from onto_functions.local.emulator import FirestoreEmulator
from onto_functions.local.emulator_api import EmulatorError, register_trigger
from onto_functions.local.emulator_client import emulator_client
from onto_functions.local.installation import EmulatorNotFound, find_emulator_jar
from onto_functions.local.receiver import Receiver
from onto_functions.testing import wait_for
from onto_functions.testing.emulator_fixtures import EmulatorHandle

WRITTEN = "google.cloud.firestore.document.v1.written"


def test_write_then_read(db) -> None:
    db.document("meetings/m1").set({"title": "standup", "n": 3})
    assert db.document("meetings/m1").get().to_dict() == {"title": "standup", "n": 3}


def test_emulator_client_leaves_the_environment_alone(firestore_emulator: EmulatorHandle, monkeypatch) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    client = emulator_client(f"demo-test-{uuid.uuid4().hex[:12]}", firestore_emulator.host)
    try:
        client.document("a/b").set({"x": 1})
        assert client.document("a/b").get().to_dict() == {"x": 1}
    finally:
        client.close()
    assert "FIRESTORE_EMULATOR_HOST" not in os.environ


def test_projects_are_isolated(db, firestore_emulator: EmulatorHandle, project_id: str) -> None:
    db.document("meetings/m1").set({"owner": project_id})
    other = emulator_client(f"demo-test-{uuid.uuid4().hex[:12]}", firestore_emulator.host)
    try:
        assert not other.document("meetings/m1").get().exists
        assert list(other.collection("meetings").stream()) == []
    finally:
        other.close()
    assert db.document("meetings/m1").get().to_dict() == {"owner": project_id}


def test_trigger_delivers_cloudevent_to_receiver(
    db, firestore_emulator: EmulatorHandle, event_receiver: Receiver, project_id: str
) -> None:
    if firestore_emulator.functions_emulator != event_receiver.host:
        pytest.skip("external emulator (FIRESTORE_EMULATOR_HOST): it does not deliver to this receiver")
    trigger_id = f"t-{uuid.uuid4().hex[:8]}"
    event_receiver.register(trigger_id, lambda headers, body: (200, b"ok"))
    register_trigger(firestore_emulator.host, project_id, trigger_id, WRITTEN, "meetings/{meetingId}")

    db.document("meetings/m1").set({"title": "hello"})
    db.document("notes/n1").set({"title": "not a meeting"})
    db.document("meetings/m2").set({"title": "second"})
    # The emulator sends events in order on one thread: once m2 is here, anything
    # notes/n1 could have caused would already be here too.
    def two_deliveries() -> list:
        got = event_receiver.deliveries(trigger_id)
        return got if len(got) >= 2 else []

    deliveries = wait_for(two_deliveries, message=f"two deliveries for {trigger_id}")
    assert [d.headers["ce-document"] for d in deliveries] == ["meetings/m1", "meetings/m2"]
    assert all(d.status == 200 and d.project == project_id for d in deliveries)

    first = deliveries[0]
    h = first.headers
    assert h["ce-specversion"] == "1.0"
    assert h["ce-type"] == WRITTEN
    assert h["ce-id"]
    assert h["ce-time"]
    # Measured: the emulator doubles "projects/" here; production has it once.
    assert h["ce-source"].startswith("//firestore.googleapis.com/")
    assert h["ce-source"].endswith(f"projects/{project_id}/databases/(default)")
    assert h["ce-subject"] == "documents/meetings/m1"
    assert h["ce-project"] == project_id
    assert h["ce-database"] == "(default)"
    assert h["ce-namespace"] == "(default)"
    assert h["ce-datacontenttype"] == "application/protobuf"

    # The emulator sends base64 text of the protobuf (production sends raw bytes).
    data = DocumentEventData.deserialize(base64.b64decode(first.body, validate=True))
    assert data.value.name.endswith(f"projects/{project_id}/databases/(default)/documents/meetings/m1")
    assert data.value.fields["title"].string_value == "hello"
    assert not data.old_value.name  # a create has no "before"


def test_receiver_answers_404_for_unknown_trigger(event_receiver: Receiver) -> None:
    req = urllib.request.Request(
        f"http://{event_receiver.host}/functions/projects/demo-x/triggers/nobody-home",
        data=b"x", method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 404
    assert b"nobody-home" in err.value.read()
    assert [d.status for d in event_receiver.deliveries("nobody-home")] == [404]


@pytest.mark.parametrize(
    "event_type, document, kwargs",
    [
        ("", "meetings/{id}", {}),
        ("google.cloud.firestore.document.v1.wrote", "meetings/{id}", {}),
        (WRITTEN, "", {}),
        (WRITTEN, "meetings", {}),  # a collection, not a document
        (WRITTEN, "meetings//m1", {}),
        (WRITTEN, "meetings/{id}", {"database": ""}),
        (WRITTEN, "meetings/{id}", {"namespace": None}),
        (WRITTEN, "meetings/{id}", {"match_type": "EXACT"}),
        (WRITTEN, "meetings/m1", {"match_type": "PREFIX"}),
    ],
)
def test_register_trigger_refuses_incomplete_body(
    db, firestore_emulator: EmulatorHandle, project_id: str, event_type, document, kwargs
) -> None:
    with pytest.raises(ValueError):
        register_trigger(firestore_emulator.host, project_id, "bad", event_type, document, **kwargs)
    # Had a partial body reached the emulator, every write would now fail with 500.
    db.document("meetings/m1").set({"ok": True})


def test_register_trigger_reports_http_errors() -> None:
    with Receiver() as not_an_emulator:  # answers 404 to anything but /functions/...
        with pytest.raises(EmulatorError, match="404"):
            register_trigger(not_an_emulator.host, "demo-x", "t1", WRITTEN, "meetings/m1")


def test_find_emulator_jar_names_a_bogus_env_path(monkeypatch, tmp_path: Path) -> None:
    bogus = tmp_path / "no-such-emulator.jar"
    monkeypatch.setenv("ONTO_FIRESTORE_EMULATOR_JAR", str(bogus))
    with pytest.raises(EmulatorNotFound, match="ONTO_FIRESTORE_EMULATOR_JAR") as err:
        find_emulator_jar()
    assert str(bogus) in str(err.value)


def test_find_emulator_jar_lists_where_it_looked(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ONTO_FIRESTORE_EMULATOR_JAR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no gcloud
    monkeypatch.setattr(emulator_mod, "_COMMON_SDK_ROOTS", (tmp_path / "sdk",))
    monkeypatch.setattr(emulator_mod, "_FIREBASE_CACHE", tmp_path / "firebase")
    with pytest.raises(EmulatorNotFound) as err:
        find_emulator_jar()
    message = str(err.value)
    for expected in (str(tmp_path / "sdk"), str(tmp_path / "firebase"), "gcloud components install",
                     "google-cloud-cli-firestore-emulator", "ONTO_FIRESTORE_EMULATOR_JAR"):
        assert expected in message


def test_start_failure_shows_log_tail(tmp_path: Path) -> None:
    not_a_jar = tmp_path / "broken.jar"
    not_a_jar.write_text("not a jar")
    with pytest.raises(EmulatorError, match="exited with code") as err:
        FirestoreEmulator(jar=not_a_jar, startup_timeout=15, log_dir=tmp_path / "logs").start()
    assert "Log tail" in str(err.value)
    assert str(tmp_path / "logs") in str(err.value)  # the log is kept, and named
    assert "CloudFirestore" in str(err.value)  # java's "Could not find or load main class ..."


def test_stop_leaves_no_process() -> None:
    emulator = FirestoreEmulator()
    with emulator:
        pid = emulator.pid
        assert pid is not None and os.path.exists(f"/proc/{pid}")
        assert emulator.startup_seconds is not None and emulator.startup_seconds < 30
        with urllib.request.urlopen(emulator.url + "/", timeout=5) as resp:
            assert resp.read().strip() == b"Ok"
        url = emulator.url
    assert not emulator.running
    assert not os.path.exists(f"/proc/{pid}")  # exited and reaped: no zombie, no orphan
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing left in its process group either
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/", timeout=2)
    emulator.stop()  # idempotent
