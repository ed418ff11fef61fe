"""The local stack gives each worker its trigger's secret and param values from the git-ignored files beside
firebase.json (`.secret.local`, `.env.local`), on the real Firestore emulator; a missing one stops the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from onto_functions.local.stack import StackError
from onto_functions.testing import wait_for

from tests.test_function_settings import vault_project

SECRET = "tok-from-secret-local-71c0"
GREETER = "vault.main:GreeterMediator"  # the greeter alone: no Pub/Sub emulator needed


@pytest.fixture
def vault_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GREETER_TOKEN", "GREETING"):  # only the files may provide them here
        monkeypatch.delenv(name, raising=False)
    return vault_project(tmp_path / "proj")


def test_a_trigger_reads_its_secret_and_param_from_the_local_files(onto_stack, db, vault_root):
    (vault_root / ".secret.local").write_text(f"GREETER_TOKEN={SECRET}\n")
    (vault_root / ".env").write_text("GREETING=Hello\n")
    (vault_root / ".env.local").write_text("GREETING=Bonjour\n")  # the emulator's file wins, as in firebase-tools
    stack = onto_stack(GREETER, project_root=vault_root)
    db.document("visitors/ada").set({"name": "Ada"})
    greeting = db.document("greetings/ada")
    wait_for(lambda: greeting.get().exists, timeout=60)
    assert greeting.get().to_dict() == {"text": "Bonjour, Ada", "token": SECRET}
    assert not any(SECRET in p.read_text(errors="replace") for p in stack.bundle_dir.rglob("*") if p.is_file())


def test_a_missing_local_secret_stops_the_start_in_one_line_naming_it(onto_stack, vault_root):
    (vault_root / ".env.local").write_text("GREETING=Bonjour\n")
    with pytest.raises(StackError) as caught:
        onto_stack(GREETER, project_root=vault_root)
    text = str(caught.value)
    assert text.startswith("missing for the local stack: secret GREETER_TOKEN for greeter-greet (secrets go in ")
    assert str(vault_root / ".secret.local") in text and "\n" not in text
