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
