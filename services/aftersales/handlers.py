"""After-sales' handlers, one per message type.

Requests name the order; a replacement's own events (stock, shipping) name its case id, which
leads back to the order through ``original_order``. The model decides; handlers fetch and pass on.
"""

from __future__ import annotations

from shared.clock import Clock
from shared.contracts import (
    Delivery,
    Message,
    OrderPlaced,
    ResendRequest,
    ReturnDue,
    ReturnReceive,
    ReturnRequest,
    ShipmentAddressChanged,
    ShipmentDelivered,
    ShipmentReturned,
    StockUnavailable,
    original_order,
)
from shared.service import Handler

from .model import CaseKind, ReceiptRefused, Results, unknown_order
from .policy import ReturnPolicy
from .store import AftersalesUnitOfWork

REPLACEMENT_UNAVAILABLE = "replacement_unavailable"
REPLACEMENT_UNDELIVERABLE = "replacement_undeliverable"


def on_order_placed(event: OrderPlaced, uow: AftersalesUnitOfWork) -> Results:
    """Keep what was sold, at what price, to whom: returns are judged and refunded by it."""
    uow.orders.get_or_open(event.order_id).learn(event)
    return []


def on_shipment_address_changed(
    event: ShipmentAddressChanged, uow: AftersalesUnitOfWork
) -> Results:
    """A replacement goes where the customer last asked the order to go."""
    order = uow.orders.get(event.order_id)
    if order is not None and order.delivery is not None:
        option = order.delivery.option
        order.change_address(
            Delivery(option=option, address=event.address, pickup_point_id=event.pickup_point_id)
        )
    return []


def on_shipment_delivered(
    event: ShipmentDelivered, uow: AftersalesUnitOfWork, clock: Clock, policy: ReturnPolicy
) -> Results:
    """An order's delivery opens its return window; a replacement's closes its case."""
    order = uow.orders.get_or_open(original_order(event.order_id))
    if event.order_id != order.order_id:
        return order.replacement_delivered(event.order_id, clock.now())
    order.deliver(event.delivered_at, policy)
    return []


def on_stock_unavailable(
    event: StockUnavailable, uow: AftersalesUnitOfWork, clock: Clock
) -> Results:
    return _replacement_failed(event.order_id, REPLACEMENT_UNAVAILABLE, uow, clock)


def on_shipment_returned(
    event: ShipmentReturned, uow: AftersalesUnitOfWork, clock: Clock
) -> Results:
    return _replacement_failed(event.order_id, REPLACEMENT_UNDELIVERABLE, uow, clock)


def on_return_request(
    request: ReturnRequest, uow: AftersalesUnitOfWork, clock: Clock, policy: ReturnPolicy
) -> Results:
    """The first answer to a request id stands: asking again changes nothing."""
    order = uow.orders.get(request.order_id)
    if order is None:
        return [
            unknown_order(
                request.order_id, request.request_id, CaseKind.asked_for(request.resolution)
            )
        ]
    if order.handled(request.request_id):
        return []
    return order.request_return(request, clock.now(), policy)


def on_resend_request(request: ResendRequest, uow: AftersalesUnitOfWork, clock: Clock) -> Results:
    order = uow.orders.get(request.order_id)
    if order is None:
        return [unknown_order(request.order_id, request.request_id, CaseKind.RESEND)]
    if order.handled(request.request_id):
        return []
    return order.request_resend(request, clock.now())


def on_return_receive(
    receipt: ReturnReceive, uow: AftersalesUnitOfWork, clock: Clock, policy: ReturnPolicy
) -> Results:
    order = uow.orders.get(receipt.order_id)
    if order is None:
        raise ReceiptRefused(f"RMA {receipt.rma}: after-sales knows no order {receipt.order_id}")
    return order.receive(receipt, clock.now(), policy)


def on_return_due(timer: ReturnDue, uow: AftersalesUnitOfWork, clock: Clock) -> Results:
    order = uow.orders.get(timer.order_id)
    return [] if order is None else order.expire(timer.rma, clock.now())


def _replacement_failed(
    order_id: str, reason: str, uow: AftersalesUnitOfWork, clock: Clock
) -> Results:
    """Only a replacement's failure is after-sales' business: an order's own is not."""
    if order_id == original_order(order_id):
        return []
    order = uow.orders.get(original_order(order_id))
    return [] if order is None else order.replacement_failed(order_id, reason, clock.now())


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    ShipmentAddressChanged: on_shipment_address_changed,
    ShipmentDelivered: on_shipment_delivered,
    StockUnavailable: on_stock_unavailable,
    ShipmentReturned: on_shipment_returned,
    ReturnRequest: on_return_request,
    ResendRequest: on_resend_request,
    ReturnReceive: on_return_receive,
    ReturnDue: on_return_due,
}
