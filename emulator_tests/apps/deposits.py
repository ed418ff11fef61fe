"""A callable and an HTTPS function that write a domain document, and a trigger that updates a view.

Not idempotent on purpose: each applied request creates a new deposit with
a fresh id, so a request applied twice shows as two deposits and a wrong
balance. The balance view is rebuilt from the owner's deposits (Query+Task).
"""

from __future__ import annotations

import uuid

from marshmallow import Schema, validate
from marshmallow import fields as mfields

from onto_functions import Change, DomainModel, Mediator, Store, ViewModel, fields, sink, source


class DepositSchema(Schema):
    amount = mfields.Int(required=True, validate=validate.Range(min=1))
    note = mfields.Str(required=True)


class Deposit(DomainModel):
    class Meta:
        collection = "deposits"

    owner = fields.Str(required=True)
    amount = fields.Int(required=True)
    note = fields.Str(load_default="")


class Balance(ViewModel):
    class Meta:
        path = "balances/{owner}"

    total = fields.Int(required=True)
    deposits = fields.Int(required=True)


def deposit(store: Store, owner: str, data: dict) -> dict:
    """Create one deposit (a new id each run); the answer names it."""
    deposit_id = uuid.uuid4().hex[:12]
    store.create(Deposit(deposit_id, owner=owner, amount=data["amount"], note=data["note"]))
    return {"depositId": deposit_id, "owner": owner, "amount": data["amount"]}


class DepositCallMediator(Mediator):
    """`httpsCallable("deposit-add")({amount, note})`: the signed-in caller deposits."""

    source = source.callable(schema=DepositSchema, allow="signed_in")

    @source.triggers.on_call(name="deposit-add")
    def add(self, request, store: Store) -> dict:
        return deposit(store, request.auth.uid, request.data)


class DepositHttpsMediator(Mediator):
    """`POST /accounts/{account_id}/deposits` with a JSON body: a deposit into any account, by anyone signed in."""

    source = source.https("/accounts/{account_id}/deposits", methods=("POST",), schema=DepositSchema,
                          allow="signed_in")

    class Meta:
        timeout_seconds = 900  # an HTTP function may run longer than an event trigger's 540 s

    @source.triggers.on_request(name="deposit-post")
    def post(self, request, store: Store) -> dict:
        return deposit(store, request.params["account_id"], request.data)


class BalanceMediator(Mediator):
    """A deposit was created: rebuild its owner's balance from every deposit of theirs."""

    source = source.domain_model(Deposit)
    sink = sink.firestore(Balance)

    @source.triggers.on_create
    def refresh(self, change: Change[Deposit], store: Store) -> None:
        owner = change.after.owner
        deposits = store.query(Deposit, owner=owner)
        self.sink.emit(store, Balance(owner=owner, total=sum(d.amount for d in deposits),
                                      deposits=len(deposits)))


mediators = [DepositCallMediator, DepositHttpsMediator, BalanceMediator]
