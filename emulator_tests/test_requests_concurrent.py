"""The same call retried 5 times at once with one idempotency key, on separate processes: applied once.

Three functions-framework processes serve the callable from a main.py like
the one `onto bundle` generates, so no answer can come from one process's
memory: only the stored answer in `_onto_requests` and the commit's
precondition can make the five agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from onto_functions import ledger
from onto_functions.local.children import spawner, stop_process_group
from onto_functions.local.loopback import free_port
from onto_functions.testing import wait_for

REPO = Path(__file__).resolve().parents[1]
MAIN = '''
import functions_framework

from onto_functions.entrypoint import http_function
from emulator_tests.apps.requests_app import AttendanceMediator

toggle_attendance = functions_framework.http(http_function(AttendanceMediator, "toggle-attendance"))
'''


def _post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def instances(tmp_path, auth_emulator, firestore_emulator):
    """Three functions-framework processes serving the callable; their URLs."""
    (tmp_path / "main.py").write_text(MAIN)
    env = {**os.environ, "GOOGLE_CLOUD_PROJECT": auth_emulator.project, "PYTHONPATH": str(REPO),
           "FIRESTORE_EMULATOR_HOST": firestore_emulator.host, "FIREBASE_AUTH_EMULATOR_HOST": auth_emulator.host}
    exe = Path(sys.executable).with_name("functions-framework")
    procs, urls = [], []
    for _ in range(3):
        port = free_port()
        log = open(tmp_path / f"worker-{port}.log", "wb")
        procs.append(spawner.popen([str(exe), "--source", str(tmp_path / "main.py"), "--target", "toggle_attendance",
                                    "--signature-type", "http", "--port", str(port), "--host", "127.0.0.1"],
                                   env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"http://127.0.0.1:{port}/")
    try:
        for url in urls:  # a GET is not a call (400): the process is up
            wait_for(lambda url=url: _post_or_none(url), timeout=90, interval=0.2,
                     message=f"functions-framework at {url} never answered (logs in {tmp_path})")
        yield urls
    finally:
        for proc in procs:
            stop_process_group(proc)


def _post_or_none(url: str) -> bool:
    try:
        return _post(url, {}, {})[0] == 400
    except OSError:
        return False


@pytest.mark.timeout(300)
def test_five_concurrent_retries_with_one_key_apply_once_and_answer_alike(instances, auth_user, auth_db):
    alice, meeting, key = auth_user(), f"m-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    body = {"data": {"meeting_id": meeting, "attend": True, "idempotencyKey": key}}
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda i: _post(instances[i % len(instances)], body, alice.headers), range(5)))
    statuses = [status for status, _ in answers]
    assert statuses == [200] * 5, answers
    assert len({payload for _, payload in answers}) == 1  # five identical answers, byte for byte
    assert json.loads(answers[0][1])["result"]["toggles"] == 1
    assert auth_db.document(f"meetings/{meeting}").get().to_dict() == {"toggles": 1}  # applied once
    records = auth_db.collection(ledger.REQUESTS).where(filter=FieldFilter("key", "==", key)).get()
    assert len(records) == 1 and records[0].to_dict()["uid"] == alice.uid
    # and a later retry, on any instance, still gets that answer
    assert _post(instances[0], body, alice.headers) == answers[0]
