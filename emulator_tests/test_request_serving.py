"""HTTPS and callable functions through the local stack (what `onto emulate` runs), with the real
Auth emulator (firebase-tools) and the real Firestore emulator: signed-in calls that write a domain
document whose trigger updates a view, concurrent retries with one key applied once across two
instances, 401 for an unsigned call, 400 naming every bad field."""

from __future__ import annotations

import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from onto_functions.testing import wait_for

APPS = Path(__file__).resolve().parent / "apps"
REPO = Path(__file__).resolve().parents[1]
APP = "depositapps.deposits"


@pytest.fixture(scope="module")
def deposit_root(tmp_path_factory) -> Path:
    """A project folder holding the test apps as the package `depositapps`."""
    root = tmp_path_factory.mktemp("deposits")
    shutil.copytree(APPS, root / "depositapps", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _names(*names: str) -> list[str]:
    """Users and accounts of this test alone: the auth tests share the Auth emulator's project."""
    suffix = uuid.uuid4().hex[:8]
    return [f"{name}-{suffix}" for name in names]


def _deposits_of(db, owner: str) -> list[dict]:
    return [d.to_dict() for d in db.collection("deposits").where(filter=FieldFilter("owner", "==", owner)).get()]


def _balance(db, owner: str) -> dict:
    return db.document(f"balances/{owner}").get().to_dict() or {}


@pytest.mark.timeout(300)
def test_signed_in_calls_write_documents_whose_trigger_updates_the_view(onto_stack, deposit_root):
    stack = onto_stack(APP, project_root=deposit_root, auth=True)
    db, (alice, bob) = stack.client(), _names("alice", "bob")
    answer = stack.call("deposit-add", {"amount": 5, "note": "first"}, user=alice)
    assert answer.status == 200, answer.body
    assert answer.result["owner"] == alice and answer.result["amount"] == 5
    assert db.document(f"deposits/{answer.result['depositId']}").get().to_dict()["owner"] == alice
    via_https = stack.request("deposit-post", "POST", f"/accounts/{alice}/deposits",
                              json={"amount": 7, "note": "by bob"}, user=bob)
    assert via_https.status == 200, via_https.body
    assert via_https.json()["owner"] == alice
    wait_for(lambda: _balance(db, alice) == {"total": 12, "deposits": 2}, timeout=30,
             message="the balance view never showed both deposits")


@pytest.mark.timeout(300)
def test_unsigned_is_401_and_a_bad_body_is_400_naming_each_field(onto_stack, deposit_root):
    stack = onto_stack(APP, project_root=deposit_root, auth=True)
    db, (alice, bob, account) = stack.client(), _names("alice", "bob", "a1")
    unsigned = stack.call("deposit-add", {"amount": 5, "note": "x"})
    assert unsigned.status == 401 and unsigned.json()["error"]["status"] == "UNAUTHENTICATED"
    forged = stack.call("deposit-add", {"amount": 5, "note": "x"}, token="not-a-token")
    assert forged.status == 401
    bad = stack.call("deposit-add", {"amount": 0}, user=alice)
    assert bad.status == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "amount" in bad.body.decode() and "note" in bad.body.decode()
    path = f"/accounts/{account}/deposits"
    bad_https = stack.request("deposit-post", "POST", path, json={"amount": "lots"}, user=bob)
    assert bad_https.status == 400 and "amount" in bad_https.body.decode() and "note" in bad_https.body.decode()
    assert stack.request("deposit-post", "POST", path, json={"amount": 1, "note": "n"}).status == 401
    assert stack.request("deposit-post", "GET", path, user=bob).status == 405
    assert _deposits_of(db, alice) == [] and _deposits_of(db, account) == []  # nothing refused wrote anything


@pytest.mark.timeout(300)
def test_five_concurrent_retries_with_one_key_apply_once_across_two_instances(onto_stack, deposit_root):
    stack = onto_stack(APP, project_root=deposit_root, auth=True, instances=2)
    db, (carol, dave) = stack.client(), _names("carol", "dave")
    stack.prestart_workers()  # both instances up, so the five attempts really overlap
    token = stack.id_token(carol)

    def attempt(_: int):
        return stack.call("deposit-add", {"amount": 3, "note": "once"}, token=token, key=f"{carol}-deposit-1")

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(attempt, range(5)))
    assert [a.status for a in answers] == [200] * 5, [a.body for a in answers]
    assert len({a.body for a in answers}) == 1, [a.body for a in answers]  # 5 identical answers
    assert {a.instance for a in answers} == {"0", "1"}  # both instances answered
    assert len(_deposits_of(db, carol)) == 1  # applied once
    wait_for(lambda: _balance(db, carol) == {"total": 3, "deposits": 1}, timeout=30)

    with ThreadPoolExecutor(5) as pool:  # the same over HTTPS, with the Idempotency-Key header
        posts = list(pool.map(lambda _: stack.request(
            "deposit-post", "POST", f"/accounts/{dave}/deposits", json={"amount": 2, "note": "once"},
            token=token, key=f"{carol}-pays-{dave}"), range(5)))
    assert [a.status for a in posts] == [200] * 5 and len({a.body for a in posts}) == 1
    assert len(_deposits_of(db, dave)) == 1


@pytest.mark.timeout(300)
def test_toggle_attendance_reaches_every_participants_view(onto_stack, db):
    """The meeting room's callable, signed in with a token in the Auth emulator's format (as `onto demo`)."""
    from examples.meeting_room import scenario

    stack = onto_stack("examples.meeting_room.main", project_root=REPO)
    scenario.seed(db)
    wait_for(lambda: scenario.all_attending(2)(db), timeout=60, message="the first views never came")
    answer = stack.call("toggle-attendance", {"meetingId": scenario.MEETING_ID}, user="carol")
    assert answer.result == {"meetingId": scenario.MEETING_ID, "attending": True}
    views = wait_for(lambda: scenario.all_attending(3)(db), timeout=60,
                     message="Carol's toggle never reached every participant's view")
    assert all("Carol Diaz" in v.attending for v in views.values())
    stranger = stack.call("toggle-attendance", {"meetingId": scenario.MEETING_ID}, user="mallory")
    assert stranger.status == 404 and stranger.json()["error"]["status"] == "NOT_FOUND"
