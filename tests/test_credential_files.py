"""No bundle ever contains a credential: a planted service-account key and .env stay out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onto_functions.deploy.bundle import build_bundles
from onto_functions.deploy.bundle_errors import BundleError, BundleWarning
from onto_functions.deploy.credential_files import secret_reason

from tests.test_bundle import write_project

FAKE_KEY_ID = "0123456789abcdef-planted-by-test"
FAKE_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-not-a-real-key\n-----END PRIVATE KEY-----\n"
SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "my-shop-123",
    "private_key_id": FAKE_KEY_ID,
    "private_key": FAKE_PEM,
    "client_email": "deployer@my-shop-123.iam.gserviceaccount.com",
}
ENV_SECRET = "STRIPE_KEY=sk_live_planted_by_test"

# include globs that would sweep everything in, secrets too
PYPROJECT = '[tool.onto]\napp = "shop.main"\ninclude = ["*", "shop/*", "shop/**/*", ".env*", "config/*"]\n'


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj", pyproject=PYPROJECT)
    # a key whose name gives nothing away: only its content says what it is
    (root / "my-shop-123-4f2a9c.json").write_text(json.dumps(SERVICE_ACCOUNT))
    (root / "shop" / "prod-7b1e.json").write_text(json.dumps(SERVICE_ACCOUNT))
    (root / ".env").write_text(ENV_SECRET + "\n")
    (root / ".env.production").write_text(ENV_SECRET + "\n")
    (root / "shop" / ".env").write_text(ENV_SECRET + "\n")
    (root / "config").mkdir()
    (root / "config" / "server.pem").write_text(FAKE_PEM)
    (root / "config" / "deploy-key.json").write_text("{}")
    (root / "config" / "settings.json").write_text('{"greeting": "hi"}')  # harmless: may be bundled
    return root


def all_bundled_files(build_dir: Path) -> list[Path]:
    return [p for p in build_dir.rglob("*") if p.is_file()]


def test_no_bundle_contains_a_planted_key_or_env(planted):
    build_dir = planted / "build" / "onto"
    with pytest.warns(BundleWarning) as caught:
        bundles = build_bundles("shop.main", build_dir, project_root=planted)
    assert len(bundles) == 3
    files = all_bundled_files(build_dir)
    names = {p.name for p in files}
    assert not names & {"my-shop-123-4f2a9c.json", "prod-7b1e.json", ".env", ".env.production",
                        "server.pem", "deploy-key.json"}
    for path in files:
        data = path.read_bytes()
        assert FAKE_KEY_ID.encode() not in data, path
        assert b"PRIVATE KEY" not in data, path
        assert b"sk_live_planted_by_test" not in data, path
    # what the include asked for and is harmless does go in
    assert all((b.path / "config" / "settings.json").is_file() for b in bundles)
    # and every refusal was said out loud, with the file and the reason
    messages = "\n".join(str(w.message) for w in caught)
    for expected in ("left my-shop-123-4f2a9c.json out of every bundle: it looks like a credential "
                     "(it is a Google service-account key", "left shop/prod-7b1e.json out",
                     "left .env out", "left .env.production out", "left shop/.env out",
                     "left config/server.pem out", "left config/deploy-key.json out"):
        assert expected in messages, expected


def test_a_module_the_trigger_imports_that_holds_a_key_is_refused(planted):
    (planted / "shop" / "pricing.py").write_text(f'ONE = 1\nKEY = """{FAKE_PEM}"""\n')
    with pytest.raises(BundleError, match=r"order-count.*shop/pricing\.py.*PEM private key"):
        with pytest.warns(BundleWarning):
            build_bundles("shop.main", planted / "build" / "onto", project_root=planted)


@pytest.mark.parametrize("name, content, secret", [
    ("a1b2c3.json", json.dumps(SERVICE_ACCOUNT), True),
    (".env", "A=1", True),
    (".env.local", "A=1", True),
    ("cert.p12", "", True),
    ("tls.pem", "", True),
    ("firebase-adminsdk-key.json", "{}", True),
    ("notes.txt", FAKE_PEM, True),
    ("settings.json", '{"private": false}', False),
    ("models.py", "X = 1", False),
    ("keys.py", "KEYS = ['a']", False),
])
def test_secret_reason(tmp_path, name, content, secret):
    path = tmp_path / name
    path.write_text(content)
    assert bool(secret_reason(path)) is secret
