"""Handlers that read a secret and a param: a greeting view shows what the function's environment held.

Writing a secret into a view is for this test alone: it is how the test sees
that the value reached the handler (and only the handler).
"""

from __future__ import annotations

from onto_functions import Change, Mediator, Message, Store, ViewModel, fields, sink, source
from onto_functions.secrets import param, secret


class Greeting(ViewModel):
    class Meta:
        path = "greetings/{visitor_id}"

    text = fields.Str(required=True)
    token = fields.Str(required=True)


class GreeterMediator(Mediator):
    """Greets each new visitor with the GREETING param, signing with the GREETER_TOKEN secret."""

    class Meta:
        secrets = ("GREETER_TOKEN",)
        params = ("GREETING",)

    source = source.document("visitors/{visitor_id}")
    sink = sink.firestore(Greeting)

    @source.triggers.on_create
    def greet(self, change: Change[dict], store: Store) -> None:
        visitor = change.params["visitor_id"]
        self.sink.emit(store, Greeting(text=f"{param('GREETING')}, {change.after['name']}",
                                       token=secret("GREETER_TOKEN")), visitor_id=visitor)


class ChargeMediator(Mediator):
    """A message trigger with its own secret, declared on the decorator."""

    source = source.pubsub("payments")

    @source.triggers.on_message(secrets=("STRIPE_KEY",), memory_mb=512)
    def charge(self, message: Message, store: Store) -> None:
        secret("STRIPE_KEY")


mediators = [GreeterMediator, ChargeMediator]
