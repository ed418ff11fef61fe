"""Generated security rules, pure: views, onto's bookkeeping, the user's rules merged, and the refusals.

Whether the emulator compiles and enforces them is emulator_tests/test_security_rules.py.
"""

from __future__ import annotations

import textwrap

import pytest

from onto_functions import ViewModel, fields, ledger
from onto_functions.deploy.rules import MARKER, RulesRefused, check_user_rules, render_rules, view_rules
from onto_functions.deploy.rules_text import RulesSyntaxError, read_user_rules


class Session(ViewModel):
    class Meta:
        path = "users/{user_id}/meetingSessions/{meeting_id}"
        readable_by = "user_id"

    attending = fields.List(fields.Str(), required=True)


class Board(ViewModel):
    class Meta:
        path = "boards/{board_id}"

    total = fields.Int(required=True)


VIEWS = view_rules([Session, Board])
SOURCE = "firestore.rules.in"


def generate(user_text: str | None) -> str:
    user = read_user_rules(textwrap.dedent(user_text), SOURCE) if user_text is not None else None
    if user is not None:
        check_user_rules(user, VIEWS, SOURCE)
    return render_rules(user, VIEWS, source=SOURCE, app="shop.main")


def block(text: str, header: str) -> str:
    """The lines of the match block that starts with `header`, up to its closing brace."""
    start = text.index(header)
    return text[start:text.index("\n    }", start)]


def test_a_view_is_read_by_the_user_its_path_names_and_written_by_no_client():
    session = block(generate(None), "match /users/{user_id}/meetingSessions/{meeting_id} {")
    assert "allow read: if request.auth != null && request.auth.uid == user_id;" in session
    assert "allow write: if false;" in session and "Session" in session


def test_a_view_without_readable_by_is_read_by_no_client():
    board = block(generate(None), "match /boards/{board_id} {")
    assert "allow read: if false;" in board and "allow write: if false;" in board
    assert "request.auth" not in board


def test_readable_by_must_name_a_parameter_of_the_path():
    with pytest.raises(ValueError, match=r"readable_by = 'owner' is not a parameter of its path"):
        class Bad(ViewModel):  # noqa: F841
            class Meta:
                path = "users/{user_id}/x/{x_id}"
                readable_by = "owner"


def test_every_onto_collection_is_closed_to_clients_with_its_subcollections():
    text = generate(None)
    for collection in ledger.COLLECTIONS:
        assert "allow read, write: if false;" in block(text, f"match /{collection}/{{document=**}} {{")


def test_the_file_is_version_2_marked_and_balanced():
    text = generate(None)
    assert text.startswith("rules_version = '2';\n") and MARKER in text
    assert text.count("{") == text.count("}")
    assert "service cloud.firestore {\n  match /databases/{database}/documents {" in text


USER_BLOCKS = """\
    // Shop rules
    function signedIn() {
      return request.auth != null;
    }
    match /users/{uid} {
      allow read: if signedIn() && request.auth.uid == uid;  // their profile, not their sessions
    }
    match /products/{id} {
      allow read: if resource.data.name != "match /_onto_ledger/{x} { allow read; }";
    }
    """


def test_the_users_blocks_are_included_as_written_inside_the_documents_match():
    text = generate(USER_BLOCKS)
    documents = text.index("match /databases/{database}/documents {")
    lines = [line.strip() for line in textwrap.dedent(USER_BLOCKS).splitlines() if line.strip()]
    position = documents
    for line in lines:  # all there, in order, after the documents match
        position = text.index(line, position + 1)
    assert position < text.index("match /users/{user_id}/meetingSessions")  # before the generated blocks


def test_a_whole_rules_file_is_merged_with_its_version_line_dropped():
    whole = """\
        rules_version = '2';
        service cloud.firestore {
          match /databases/{database}/documents {
            match /products/{id} {
              allow read: if true;
            }
          }
        }
        """
    text = generate(whole)
    assert text.count("rules_version") == 1 and text.count("service cloud.firestore") == 1
    assert "match /products/{id} {" in text and "match /_onto_ledger/{document=**}" in text
    assert text.count("{") == text.count("}")


@pytest.mark.parametrize("rules, reaches", [
    ("match /users/{u}/meetingSessions/{m} {\n  allow read: if true;\n}", "the view users/{user_id}/meetingSessions"),
    ("match /users/{u} {\n  match /meetingSessions/{m} {\n    allow get;\n  }\n}", "the view users/{user_id}"),
    ("match /users/{u}/{rest=**} {\n  allow read: if request.auth.uid == u;\n}", "the view users/{user_id}"),
    ("match /{path=**}/meetingSessions/{m} {\n  allow list: if true;\n}", "the view users/{user_id}"),
    ("match /boards/{b} {\n  allow create: if request.auth != null;\n}", "the view boards/{board_id} (Board)"),
    ("match /_onto_ledger/{id} {\n  allow read: if true;\n}", "onto's bookkeeping (_onto_* collections)"),
    ("match /_onto_dead_letters/{id}/notes/{n} {\n  allow write: if true;\n}", "onto's bookkeeping"),
    ("match /{collection}/{id}/notes/{n} {\n  allow read: if collection != 'x';\n}", "onto's bookkeeping"),
    ("match /{document=**} {\n  allow read, write: if request.auth != null;\n}", "the view"),
])
def test_a_user_rule_that_can_reach_a_view_or_onto_is_refused_naming_its_line(rules, reaches):
    text = "// my rules\n" + rules
    with pytest.raises(RulesRefused) as refused:
        generate(text)
    message = str(refused.value)
    assert message.startswith(f"{SOURCE} line ") and reaches in message and "\n" not in message
    line = int(message.split(" line ")[1].split(":")[0])
    assert text.splitlines()[line - 1].strip().startswith("allow")


def test_a_whole_file_rule_on_bookkeeping_is_refused_too():
    whole = ("service cloud.firestore {\n  match /databases/{database}/documents {\n"
             "    match /_onto_failures/{id} { allow read: if true; }\n  }\n}\n")
    with pytest.raises(RulesRefused, match=r"line 3: `allow read: if true;` in match "
                                          r"/databases/\{database\}/documents/_onto_failures/\{id\}"):
        generate(whole)


@pytest.mark.parametrize("rules", [
    "match /{document=**} {\n  allow read, write: if false;\n}",  # locked mode grants nothing
    "match /users/{u} {\n  allow read: if true;\n}",  # the profile, not the sessions below it
    "match /users/{u}/private/{p} {\n  allow read: if true;\n}",
    "match /onto_ledger/{id} {\n  allow read: if true;\n}",  # not the reserved prefix
    "// match /_onto_ledger/{id} { allow read: if true; }\n/* match /boards/{b} { allow read; } */",
])
def test_rules_that_cannot_reach_onto_paths_are_accepted(rules):
    assert rules.splitlines()[0] in generate(rules)


@pytest.mark.parametrize("rules, problem", [
    ("match /users/{u} {\n  allow read: if true;\n", "line 1: this '{' is never closed"),
    ("match /users/{u} {\n}\n}\n", "line 3: a '}' closes nothing"),
    ("service firebase.storage {\n}\n", "line 1: service 'firebase.storage' is not Firestore's"),
    ("// x\nmatch /databases/{database}/documents {\n}\n", "line 2: match /databases/... outside `service"),
])
def test_rules_onto_cannot_read_are_named_with_their_line(rules, problem):
    with pytest.raises(RulesSyntaxError, match=problem):
        read_user_rules(rules, SOURCE)


def test_two_views_at_one_path_must_agree_on_their_reader():
    class Private(ViewModel):
        class Meta:
            path = "users/{user_id}/meetingSessions/{meeting_id}"

    with pytest.raises(RulesRefused, match="share the path"):
        view_rules([Session, Private])


def test_a_view_parameter_named_database_is_refused():
    class Odd(ViewModel):
        class Meta:
            path = "stats/{database}"

    with pytest.raises(RulesRefused, match=r"the parameter \{database\} would hide the rules' own"):
        view_rules([Odd])
