"""The local request front's routing (firebase-tools' URL shape) and the ID tokens local callers carry."""

from __future__ import annotations

import pytest

from onto_functions import Mediator, source
from onto_functions.local.id_tokens import emulator_format_token
from onto_functions.local.request_front import Answer, RequestRouter, Target


class Front(Mediator):
    class Meta:
        region = "europe-west1"

    source = source.https("/items/{item_id}", methods=("GET", "PUT"), allow="anyone")

    @source.triggers.on_request(name="items-api")
    def items(self, request, store):
        return {}


class Called(Mediator):
    source = source.callable()

    @source.triggers.on_call(name="do-it")
    def do_it(self, request, store):
        return {}


@pytest.fixture
def router() -> RequestRouter:
    return RequestRouter([*Front.trigger_specs(), *Called.trigger_specs()], "demo-p")


def test_a_function_url_reaches_its_function_with_the_sub_path_and_query(router):
    target = router.route("/demo-p/europe-west1/items-api/items/i1?expand=1")
    assert isinstance(target, Target) and target.spec.name == "items-api"
    assert target.path == "/items/i1?expand=1"
    bare = router.route("/demo-p/us-central1/do-it")
    assert isinstance(bare, Target) and (bare.spec.name, bare.path) == ("do-it", "/")
    assert router.route("/demo-p/us-central1/do-it/").path == "/"


@pytest.mark.parametrize("path, says", [
    ("/demo-other/us-central1/do-it", "no function at /demo-other/us-central1/do-it"),
    ("/demo-p/us-central1/nothing", "served: /demo-p/europe-west1/items-api, /demo-p/us-central1/do-it"),
    ("/demo-p/us-central1/items-api/items/1", "runs in europe-west1, not us-central1"),
    ("/favicon.ico", "no function at /favicon.ico"),
])
def test_anything_else_is_a_404_saying_what_is_served(router, path, says):
    answer = router.route(path)
    assert isinstance(answer, Answer) and answer.status == 404
    assert says in answer.body.decode()


def test_a_token_in_the_auth_emulators_format_verifies_in_emulator_mode_only(monkeypatch):
    import firebase_admin
    from firebase_admin import auth, credentials
    from google.auth.credentials import AnonymousCredentials

    class NoCredential(credentials.Base):
        def get_credential(self):
            return AnonymousCredentials()

    app = firebase_admin.initialize_app(NoCredential(), {"projectId": "demo-p"}, name="id-token-test")
    try:
        token = emulator_format_token("demo-p", "carol", {"admin": True})
        monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
        claims = auth.verify_id_token(token, app=app)
        assert claims["uid"] == "carol" and claims["admin"] is True
        with pytest.raises(auth.InvalidIdTokenError):  # another project's token
            auth.verify_id_token(emulator_format_token("demo-q", "carol"), app=app)
        monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST")
        with pytest.raises(auth.InvalidIdTokenError):  # outside emulator mode an unsigned token never verifies
            auth.verify_id_token(token, app=app)
    finally:
        firebase_admin.delete_app(app)
