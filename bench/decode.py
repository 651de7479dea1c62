"""What decoding a delivered message costs, in µs per message (``shared.envelope``).

    .venv/bin/python -m bench.decode              # the runtime's decode, per message type
    .venv/bin/python -m bench.decode --parts      # and where its time goes

Times, for realistic bodies built with the contracts and ``shared.envelope.wrap``, what a worker
does with a delivery's body before its handler runs: the envelope read from the JSON and the
``data`` opened as its contract (``decode`` + ``open_payload``). ``--parts`` times the pieces
alone (the JSON parse, the envelope, the contract) and the one-pass alternatives tried: a
model of the whole envelope per contract, read straight from the bytes, with the ``data`` dict
the runtime needs kept or dumped back, and the ``Envelope`` built from it. Best of several
repeats; no broker, no database. ``PYTHONPATH=<checkout> .venv/bin/python bench/decode.py``
times another checkout's runtime with the same bodies.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import BaseModel, WrapValidator, create_model

from shared.contracts import (
    Message,
    Money,
    OrderLine,
    PaymentCaptured,
    PaymentMethod,
    ReservedLine,
    ShipmentDispatched,
    StockReserved,
    contract_for,
)
from shared.envelope import Envelope, decode, open_payload, wrap
from tests.factories import order_placed

MAX_BYTES = 1_000_000
CAUSE = "4bf92f3577b34da6a3ce929d0e0e4736"


def messages() -> dict[str, Message]:
    """A message of each type timed: an order of three lines, and what follows it."""
    placed = order_placed(
        "ord-1001",
        lines=[
            OrderLine(sku="MUG-BLUE", quantity=2, unit_price=1250),
            OrderLine(sku="TEE-M-RED", quantity=1, unit_price=1990),
            OrderLine(sku="POSTER-A2", quantity=3, unit_price=890),
        ],
    )
    eur = placed.currency
    return {
        "order.placed": placed,
        "stock.reserved": StockReserved(
            order_id="ord-1001",
            lines=[
                ReservedLine(
                    sku=line.sku, quantity=line.quantity, location="A-01-3", unit_weight_grams=350
                )
                for line in placed.lines
            ],
        ),
        "payment.captured": PaymentCaptured(
            order_id="ord-1001",
            payment_id="pay-1001",
            method=PaymentMethod.CARD,
            amount=Money(amount=placed.total, currency=eur),
        ),
        "shipment.dispatched": ShipmentDispatched(
            order_id="ord-1001",
            shipment_id="shp-1001",
            carrier="DHL",
            service="standard",
            tracking_number="JD0146000033581",
            expected_delivery=date(2026, 12, 5),
            cost=Money(amount=495, currency="EUR"),
        ),
    }


def bodies() -> dict[str, bytes]:
    return {
        name: wrap(message, source="bench", message_id=CAUSE).encode()
        for name, message in messages().items()
    }


def runtime(body: bytes) -> Message:
    """What the worker does (``shared.deliveries`` → ``shared.inbound.admit``)."""
    return open_payload(decode(body, MAX_BYTES))


def best_us(call: Callable[[], object], number: int = 2000, repeat: int = 7) -> float:
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def whole(contract: type[Message], keep_dict: bool = False) -> type[BaseModel]:
    """A model of the whole envelope with ``data`` read as ``contract`` (``keep_dict``: through a
    wrap validator that keeps the dict it was read from too)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in Envelope.model_fields.items()
    }
    fields["type"] = (Literal[contract.type], ...)
    data: Any = contract
    if keep_dict:
        data = Annotated[contract, WrapValidator(lambda value, read: (value, read(value)))]
    fields["data"] = (data, ...)
    return create_model(f"Whole{contract.__name__}", __config__=Envelope.model_config, **fields)


def one_pass(model: type[BaseModel], body: bytes, build: Callable[..., Envelope]) -> Envelope:
    """The envelope and message of ``body`` read by ``whole``'s ``model``, the data's dict kept
    (``keep_dict``) or dumped back from the message, the envelope made by ``build``."""
    fields = dict(model.model_validate_json(body).__dict__)
    if isinstance(fields["data"], tuple):
        fields["data"], message = fields["data"]
    else:
        message = fields["data"]
        fields["data"] = message.model_dump(mode="json")
    return build(message, **fields)


def constructed(_: Message, **fields: Any) -> Envelope:
    return Envelope.model_construct(**fields)


def set_in_place(_: Message, **fields: Any) -> Envelope:
    """An envelope made by setting pydantic's attributes by hand: a floor for what building
    one can cost, not something to ship."""
    envelope = Envelope.__new__(Envelope)
    object.__setattr__(envelope, "__dict__", fields)
    object.__setattr__(envelope, "__pydantic_fields_set__", set(fields))
    object.__setattr__(envelope, "__pydantic_extra__", None)
    object.__setattr__(envelope, "__pydantic_private__", None)
    return envelope


def parts(body: bytes) -> dict[str, Callable[[], object]]:
    """The pieces of ``runtime`` alone, and the one-pass alternatives measured against it."""
    envelope = Envelope.model_validate_json(body)
    contract = contract_for(envelope.type)
    assert contract is not None
    data = envelope.data
    message = contract.model_validate(data)
    typed, keeping = whole(contract), whole(contract, keep_dict=True)
    fields = {k: v for k, v in envelope.__dict__.items() if k != "data"}
    return {
        "JSON parse alone (pydantic_core.from_json)": lambda: pydantic_core.from_json(body),
        "envelope from JSON, data a dict (decode)": lambda: Envelope.model_validate_json(body),
        "contract from that dict (open_payload)": lambda: contract.model_validate(data),
        "message dumped to a dict alone": lambda: message.model_dump(mode="json"),
        "Envelope.model_construct alone": lambda: Envelope.model_construct(**fields, data=data),
        "one pass, no data dict, no Envelope (floor)": lambda: typed.model_validate_json(body),
        "one pass, dict kept, model_construct": lambda: one_pass(keeping, body, constructed),
        "one pass, dict kept, set by hand": lambda: one_pass(keeping, body, set_in_place),
        "one pass, dict dumped, model_construct": lambda: one_pass(typed, body, constructed),
        "one pass, dict dumped, set by hand": lambda: one_pass(typed, body, set_in_place),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", action="store_true", help="also time the pieces")
    arguments = parser.parse_args()
    for name, body in bodies().items():
        took = best_us(partial(runtime, body))
        print(f"{name:<20} {len(body):>5} B  decode+open {took:6.1f} µs")
        if arguments.parts:
            for part, call in parts(body).items():
                print(f"    {part:<44} {best_us(call):6.1f} µs")


if __name__ == "__main__":
    main()
