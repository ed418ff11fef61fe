"""Deployed functions log one Cloud Logging JSON line per delivery; tests and scripts keep their logging."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from onto_functions import logs


def test_nothing_is_configured_outside_a_deployed_function():
    assert logs.configure({}) is False
    assert logs.configure({"ONTO_LOG_FORMAT": "text", "K_SERVICE": "x"}) is False


def test_a_deployed_function_writes_one_json_line_per_delivery(tmp_path):
    """A fresh interpreter, as the platform starts one: K_SERVICE set, the entry point built at import."""
    (tmp_path / "app.py").write_text(textwrap.dedent('''
        from onto_functions import Mediator, sink, source

        class Notes(Mediator):
            source = source.document("notes/{note_id}")
            sink = sink.firestore()

            @source.triggers.on_create
            def index(self, change, store):
                pass
    '''))
    script = textwrap.dedent('''
        from app import Notes
        from onto_functions.encoding import encode_cloudevent
        from onto_functions.entrypoint import http_function
        from onto_functions.testing.builders import document_event

        handle = http_function(Notes, "notes-index")
        function = handle.trigger_function
        other = document_event("demo-logs", "elsewhere/e1", after={"x": 1})  # not this trigger's path
        function.handle(*encode_cloudevent(other, form="protobuf"))
    ''')
    env = {"K_SERVICE": "notes-index", "GOOGLE_CLOUD_PROJECT": "demo-logs", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout
    entry = lines[0]
    assert entry["severity"] == "INFO"
    assert entry[logs.LABELS] == {"trigger": "notes-index", "eventId": entry["eventId"],
                                  "document": "elsewhere/e1", "outcome": "ignored"}
    assert entry["latencyMs"] >= 0 and "notes-index: ignored event" in entry["message"]
