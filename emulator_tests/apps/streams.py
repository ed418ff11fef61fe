"""A message trigger and a schedule trigger, NOT idempotent on purpose: a double apply shows as a wrong count."""

from __future__ import annotations

from marshmallow import Schema, fields as mfields

from onto_functions import Mediator, Message, Store, Tick, sink, source


class Payment(Schema):
    account = mfields.Str(required=True)
    cents = mfields.Int(required=True)


class PaymentMediator(Mediator):
    """Adds every payment message to its account's balance view: read, add, write."""

    source = source.pubsub("payments", schema=Payment)
    sink = sink.firestore()

    @source.triggers.on_message
    def credit(self, message: Message, store: Store) -> None:
        payment = message.value
        path = f"balances/{payment['account']}"
        seen = store.read(path)
        balance = seen.data if seen else {"count": 0, "cents": 0}
        store.write(path, {"count": balance["count"] + 1, "cents": balance["cents"] + payment["cents"],
                           "last": message.message_id, "source": message.attributes.get("source", "")})


class HeartbeatMediator(Mediator):
    """Counts the ticks of a schedule, each scheduled time once."""

    source = source.schedule("every 5 minutes", timezone="Europe/Paris")
    sink = sink.firestore()

    @source.triggers.on_schedule
    def beat(self, tick: Tick, store: Store) -> None:
        stamp = tick.scheduled_time.strftime("%Y%m%dT%H%M%S.%f")
        store.write(f"beats/{stamp}", {"at": tick.scheduled_time})
        seen = store.read("heartbeat/total")
        store.write("heartbeat/total", {"count": (seen.data["count"] if seen else 0) + 1})
