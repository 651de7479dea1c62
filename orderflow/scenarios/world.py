"""The outside world's moves: what customers, the bank and the goods-in dock do to an order.

Each move is a plain message builder (the fuzzer calls these with ids and amounts of its own)
and, for the stories, a ``Move``: who acts, when (once ``ready`` holds for the order, ``after``
that long) and with which commands, built from what the world can see of the order then.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from services.intake.model import Order
from shared.contracts import (
    Address,
    BackorderedLine,
    InspectedLine,
    ItemQuantity,
    Message,
    Money,
    OrderCancel,
    OrderChangeAddress,
    PaymentNotification,
    ResendRequest,
    Resolution,
    ReturnReceive,
    ReturnRequest,
    StockReceive,
)

from ..cluster.databases import Entry

Units = Mapping[str, int]
"""SKU → how many."""
Inspected = Mapping[str, tuple[int, int]]
"""SKU → (resellable, damaged), as the warehouse counts a returned parcel."""


def cancellation(order_id: str, reason: str) -> OrderCancel:
    return OrderCancel(order_id=order_id, reason=reason)


def new_address(order_id: str, address: Address, reason: str = "") -> OrderChangeAddress:
    return OrderChangeAddress(order_id=order_id, address=address, reason=reason)


def bank_transfer(
    order_id: str, notification_id: str, amount: Money, received_at: datetime
) -> PaymentNotification:
    """The bank reports money received with the order id as the payment reference."""
    return PaymentNotification(
        order_id=order_id, notification_id=notification_id, amount=amount, received_at=received_at
    )


def goods_in(
    receipt_id: str, sku: str, quantity: int, purchase_order_id: str | None = None
) -> StockReceive:
    return StockReceive(
        receipt_id=receipt_id, sku=sku, quantity=quantity, purchase_order_id=purchase_order_id
    )


def return_request(
    order_id: str, request_id: str, units: Units, reason: str, resolution: Resolution
) -> ReturnRequest:
    return ReturnRequest(
        order_id=order_id,
        request_id=request_id,
        resolution=resolution,
        lines=_items(units),
        reason=reason,
    )


def resend_request(order_id: str, request_id: str, units: Units, reason: str) -> ResendRequest:
    return ResendRequest(
        order_id=order_id, request_id=request_id, lines=_items(units), reason=reason
    )


def returned_parcel(order_id: str, rma: str, inspected: Inspected) -> ReturnReceive:
    lines = [
        InspectedLine(sku=sku, resellable=good, damaged=bad)
        for sku, (good, bad) in sorted(inspected.items())
    ]
    return ReturnReceive(order_id=order_id, rma=rma, lines=lines)


def _items(units: Units) -> list[ItemQuantity]:
    return [ItemQuantity(sku=sku, quantity=n) for sku, n in sorted(units.items())]


# -- moves in a story ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What the world sees of one order: intake's row and the workers' announcements."""

    order: Order
    timeline: Sequence[Entry]

    def saw(self, type_name: str, count: int = 1) -> bool:
        return sum(entry.type == type_name for entry in self.timeline) >= count

    def last(self, type_name: str) -> Entry:
        return [entry for entry in self.timeline if entry.type == type_name][-1]


Submission = Mapping[str, Any]
"""An order as a channel submits it (``order.submit``'s data)."""
Commands = Callable[[Snapshot, datetime], Sequence[Message | Submission]]
Ready = Callable[[Snapshot], bool]


@dataclass(frozen=True)
class Move:
    """Someone outside the saga acts ``after`` this long once ``ready`` holds for the order."""

    actor: str
    what: str
    ready: Ready
    after: timedelta
    commands: Commands


def announced(type_name: str, count: int = 1) -> Ready:
    return lambda snap: snap.saw(type_name, count)


def status(name: str) -> Ready:
    return lambda snap: snap.order.status == name


delivered = status("delivered")


def cancel(reason: str) -> Commands:
    return lambda snap, _: [cancellation(snap.order.id, reason)]


def move_house(address: Address, reason: str = "") -> Commands:
    return lambda snap, _: [new_address(snap.order.id, address, reason)]


def pay_by_bank(reference: str, amount: Callable[[Snapshot], int]) -> Commands:
    """The bank reports ``amount`` of the order's currency received (``reference``: the bank's
    own id for it, made unique per order)."""

    def commands(snap: Snapshot, now: datetime) -> list[Message]:
        money_in = Money(amount=amount(snap), currency=snap.order.currency or "EUR")
        return [bank_transfer(snap.order.id, f"{reference}-{snap.order.id}", money_in, now)]

    return commands


def total(snap: Snapshot) -> int:
    return snap.order.total


def balance(snap: Snapshot) -> int:
    """What the last reminder asked for."""
    return Money.model_validate(snap.last("payment.reminder").data["balance"]).amount


BackorderLines = TypeAdapter(list[BackorderedLine])


def goods_for_backorder(times: int = 1) -> Commands:
    """The supplier's delivery for each line the order waits for, against its purchase order;
    the dock books each receipt ``times`` times (a repeat changes nothing)."""

    def commands(snap: Snapshot, _: datetime) -> list[Message]:
        waiting = BackorderLines.validate_python(snap.last("stock.backordered").data["lines"])
        receipts: list[Message] = [
            goods_in(
                f"rcpt-{line.purchase_order_id}", line.sku, line.quantity, line.purchase_order_id
            )
            for line in waiting
        ]
        return receipts * times

    return commands


def send_back(
    reason: str, units: Units, resolution: Resolution = Resolution.REFUND, request: str = "rq"
) -> Commands:
    """The customer asks for an RMA for ``units``."""
    return lambda snap, _: [
        return_request(snap.order.id, f"{request}-{snap.order.id}", units, reason, resolution)
    ]


def resend(reason: str, units: Units) -> Commands:
    return lambda snap, _: [resend_request(snap.order.id, f"rs-{snap.order.id}", units, reason)]


def parcel_back(inspected: Inspected) -> Commands:
    """The RMA's parcel arrives; the warehouse counts what is resellable and what is damaged."""
    return lambda snap, _: [
        returned_parcel(snap.order.id, str(snap.last("return.authorized").data["rma"]), inspected)
    ]


def resubmit(submission: Submission) -> Commands:
    """The channel submits an order again (corrected, say) under the same external id."""
    return lambda snap, _: [submission]
