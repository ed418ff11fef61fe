"""Review of issue 11's zygote-forked workers, on the real Firestore emulator: what a worker forked from
the zygote sees must be what a process of its own (and the deployed function) would see."""

from __future__ import annotations

from pathlib import Path

import pytest

from onto_functions.testing import wait_for

ENV_APP = '''
import os

from onto_functions import Change, Mediator, Store, ViewModel, fields, sink, source

# Read at import, as much user code does (a client configured from a variable, a logger named after K_SERVICE).
GREETING_AT_IMPORT = os.environ.get("GREETING", "unset at import")
SERVICE_AT_IMPORT = os.environ.get("K_SERVICE", "unset at import")


class Seen(ViewModel):
    class Meta:
        path = "seen/{visitor_id}"

    greeting = fields.Str(required=True)
    service = fields.Str(required=True)


class EnvMediator(Mediator):
    class Meta:
        params = ("GREETING",)

    source = source.document("visitors/{visitor_id}")
    sink = sink.firestore(Seen)

    @source.triggers.on_create
    def record(self, change: Change[dict], store: Store) -> None:
        self.sink.emit(store, Seen(greeting=GREETING_AT_IMPORT, service=SERVICE_AT_IMPORT),
                       visitor_id=change.params["visitor_id"])
'''


@pytest.fixture
def env_app_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GREETING", raising=False)  # only the project's file may provide it
    root = tmp_path / "proj"
    (root / "envapp").mkdir(parents=True)
    (root / "envapp" / "__init__.py").write_text("")
    (root / "envapp" / "main.py").write_text(ENV_APP)
    (root / "pyproject.toml").write_text('[tool.onto]\napp = "envapp.main"\n')
    (root / ".env.local").write_text("GREETING=Bonjour\n")
    return root


def test_an_app_module_reading_its_environment_at_import_sees_its_own_trigger_s(onto_stack, db, env_app_root):
    """The zygote imports the app's modules once, with the pool's environment; a worker must not reuse a module
    whose import read a variable that the trigger's own environment sets otherwise (its params, secrets,
    K_SERVICE): in production that module-level code ran with the function's environment."""
    onto_stack("envapp.main", project_root=env_app_root)
    db.document("visitors/ada").set({"name": "Ada"})
    seen = db.document("seen/ada")
    wait_for(lambda: seen.get().exists, timeout=60)
    assert seen.get().to_dict() == {"greeting": "Bonjour", "service": "env-record"}


# ------------------------------------------------------------------ the dev loop and a trigger's own settings

from .test_dev_loop import mediator, next_record, project, save, seen, watched_stack  # noqa: E402,F401

GREETING_MEDIATOR = '''

from onto_functions.secrets import param


class Greeting(ViewModel):
    class Meta:
        path = "greetings/{doc_id}"

    text = fields.Str()


class GreeterMediator(Mediator):
    class Meta:
        params = ("GREETING",)

    source = source.document("visitors/{doc_id}")
    sink = sink.firestore(Greeting)

    @source.triggers.on_create
    def greet(self, change: Change[dict], store: Store) -> None:
        self.sink.emit(store, Greeting(text=param("GREETING")), doc_id=change.params["doc_id"])
'''


def test_an_edit_that_declares_a_param_gives_the_swapped_workers_its_value(watched_stack, project):
    """The trigger's secrets and params are read from .secret.local/.env.local at start for the triggers of
    that moment; an edit that adds a trigger (or a declaration) must give its workers the values too, as a
    restart of `onto emulate` would, or every event of it fails with MissingSetting."""
    (project / ".env.local").write_text("GREETING=Bonjour\n")
    records: list = []
    stack = watched_stack(records)
    db = stack.client()
    db.document("docs/first").set({"n": 1})
    assert seen(db, "first")["version"] == 1

    save(project / "devapp" / "main.py", mediator(extra=GREETING_MEDIATOR))
    assert next_record(records, "reloaded", 0)["added"] == ["greeter-greet"]
    db.document("visitors/ada").set({"name": "Ada"})
    greeting = db.document("greetings/ada")
    wait_for(lambda: greeting.get().exists, timeout=30, message="the greeting written by the added trigger")
    assert greeting.get().to_dict() == {"text": "Bonjour"}


def test_an_edit_that_declares_a_param_with_no_value_keeps_the_old_code_and_names_it(watched_stack, project):
    records: list = []
    stack = watched_stack(records)
    save(project / "devapp" / "main.py", mediator(extra=GREETING_MEDIATOR))
    failed = next_record(records, "reload_failed", 0)
    assert "param GREETING for greeter-greet" in failed["error"] and "\n" not in failed["error"]
    assert "greeter-greet" not in stack.workers.bundles


def test_deleting_the_mediator_file_keeps_the_old_workers_and_restoring_it_swaps(watched_stack, project):
    records: list = []
    stack = watched_stack(records)
    db = stack.client()
    db.document("docs/first").set({"n": 1})
    assert seen(db, "first")["version"] == 1

    (project / "devapp" / "main.py").unlink()
    failed = next_record(records, "reload_failed", 0)
    assert "devapp.main" in failed["error"] and "\n" not in failed["error"]
    db.document("docs/while-gone").set({"n": 2})
    assert seen(db, "while-gone")["version"] == 1  # the old workers still serve

    save(project / "devapp" / "version.py", "VERSION = 2\n")  # an edit of another file while it is gone
    save(project / "devapp" / "main.py", mediator())  # the file is back
    assert next_record(records, "reloaded", 0)["triggers"] == ["seen-copy"]
    db.document("docs/back").set({"n": 3})
    assert seen(db, "back")["version"] == 2
