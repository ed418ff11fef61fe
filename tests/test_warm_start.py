"""The Firestore client is built once per process, early, and a forked server worker inherits it.

No emulator is needed: building a client opens no connection (its gRPC
channel opens on first use), so these tests only point it at an address.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from onto_functions import clients
from tests.notes_app import NOTES_APP

APP = NOTES_APP

# What gunicorn does: import main.py (which builds the entry point) in its master, then fork the worker.
SERVER = '''
import os
from app import Notes
from onto_functions import clients
from onto_functions.entrypoint import http_function

handle = http_function(Notes, "notes-index")
key = ("demo-warm", "(default)")
pid = os.fork()
if pid == 0:
    os._exit(0 if key in clients._clients else 3)  # the fork waited: the worker has the client
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, "the forked worker had no client"
assert handle.trigger_function.client_for(*key) is clients._clients[key], "a second client was built"
print("one client")
'''


def test_the_entry_point_builds_the_client_before_the_server_forks(tmp_path):
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    env = {"GOOGLE_CLOUD_PROJECT": "demo-warm", "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SERVER], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "one client"


def test_concurrent_first_events_share_one_client(monkeypatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    project = "demo-warm-threads"
    found: list[object] = []
    start = threading.Barrier(8)

    def first_event() -> None:
        start.wait()
        found.append(clients.client_for(project))

    threads = [threading.Thread(target=first_event) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(found) == 8 and len({id(c) for c in found}) == 1
