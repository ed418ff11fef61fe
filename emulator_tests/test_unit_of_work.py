"""Optimistic commits: a read that changed underneath a handler is caught, never committed."""

from __future__ import annotations

import pytest

from onto_functions.firestore_rest import FirestoreError
from onto_functions.unit_of_work import CommitRejected, StaleRead, UnitOfWork


def test_blind_writes_commit_without_validation(db):
    work = UnitOfWork(db)
    work.write("views/a", {"n": 1})
    assert not db.document("views/a").get().exists  # buffered, not written
    work.commit()
    assert db.document("views/a").get().to_dict() == {"n": 1}


def test_changed_read_only_document_fails_validation(db):
    db.document("sources/s").set({"v": 1})
    work = UnitOfWork(db)
    seen = work.read("sources/s")
    work.write("views/s", {"copy": seen.data["v"]})
    db.document("sources/s").set({"v": 2})  # a concurrent writer
    with pytest.raises(CommitRejected, match="sources/s") as caught:
        work.commit()
    assert isinstance(caught.value.cause, StaleRead)
    assert not db.document("views/s").get().exists


def test_document_created_after_it_was_read_as_absent_fails_validation(db):
    work = UnitOfWork(db)
    assert work.read("sources/new") is None
    work.write("views/new", {"seen": False})
    db.document("sources/new").set({"v": 1})
    with pytest.raises(CommitRejected) as caught:
        work.commit()
    assert isinstance(caught.value.cause, StaleRead)


def test_changed_query_result_fails_validation(db):
    db.document("tickets/a").set({"meeting": "m"})
    work = UnitOfWork(db)
    assert len(work._run_query("tickets", (("meeting", "m"),))) == 1
    work.write("views/m", {"count": 1})
    db.document("tickets/b").set({"meeting": "m"})  # a new match: a phantom
    with pytest.raises(CommitRejected, match="query on tickets"):
        work.commit()


def test_read_modify_write_loses_to_a_concurrent_write(db):
    db.document("views/hot").set({"n": 1})
    work = UnitOfWork(db)
    n = work.read("views/hot").data["n"]
    work.write("views/hot", {"n": n + 1})
    db.document("views/hot").set({"n": 10})
    with pytest.raises(CommitRejected) as caught:
        work.commit()
    assert isinstance(caught.value.cause, FirestoreError) and caught.value.cause.status == "FAILED_PRECONDITION"
    assert db.document("views/hot").get().to_dict() == {"n": 10}


def test_unchanged_reads_commit_atomically_with_bookkeeping(db):
    from onto_functions.unit_of_work import Write

    db.document("sources/s").set({"v": 1})
    work = UnitOfWork(db)
    work.write("views/s", {"copy": work.read("sources/s").data["v"]})
    work.commit([(Write("create", "_onto_ledger/x", {"ok": True}), True)])
    assert db.document("views/s").get().to_dict() == {"copy": 1}
    assert db.document("_onto_ledger/x").get().exists


@pytest.mark.parametrize("path", ["_onto_ledger/forged", "/_onto_requests/k", "_onto_watermarks/a/b/c"])
def test_a_handler_cannot_write_ontos_bookkeeping(db, path):
    """A path built from client input (a route parameter) must not reach the ledger or stored answers."""
    uow = UnitOfWork(db)
    for write in (lambda: uow.write(path, {"outcome": "applied"}), lambda: uow.create_document(path, {}),
                  lambda: uow.remove(path)):
        with pytest.raises(ValueError, match="onto's own bookkeeping"):
            write()
    uow.commit()
    assert not db.document(path.strip("/")).get().exists
