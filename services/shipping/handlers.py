"""Shipping's handlers, one per message type. An after-sales replacement is shipped like an
order whose id is the case id: ``replacement.requested`` is its delivery request."""

from __future__ import annotations

from shared.clock import Clock
from shared.contracts import (
    CarrierTrackingUpdate,
    Delivery,
    FulfillmentPacked,
    Message,
    Money,
    OrderCancelled,
    OrderChangeAddress,
    OrderPlaced,
    PaymentMethod,
    ReplacementRequested,
)
from shared.errors import PermanentError
from shared.service import Handler
from shared.timers import Scheduled

from .carrier import BookingRequest, Carrier
from .model import Shipment
from .rates import RateCard
from .store import ShippingUnitOfWork

Results = list[Message | Scheduled]


def on_order_placed(
    event: OrderPlaced, uow: ShippingUnitOfWork, clock: Clock, carrier: Carrier, rate_card: RateCard
) -> Results:
    """The delivery request; for cash on delivery, with what the carrier is to collect: the
    order's total, in the order's currency."""
    collect = None
    if event.payment.method == PaymentMethod.CASH_ON_DELIVERY:
        collect = Money(amount=event.total, currency=event.currency)
    return _delivery_requested(
        event.order_id, event.delivery, uow, clock, carrier, rate_card, collect
    )


def on_replacement_requested(
    event: ReplacementRequested,
    uow: ShippingUnitOfWork,
    clock: Clock,
    carrier: Carrier,
    rate_card: RateCard,
) -> Results:
    """The delivery request of a replacement, whose order id is the case id; the parcels the
    warehouse packs for the case id are its other half."""
    return _delivery_requested(event.order_id, event.delivery, uow, clock, carrier, rate_card)


def on_fulfillment_packed(
    event: FulfillmentPacked,
    uow: ShippingUnitOfWork,
    clock: Clock,
    carrier: Carrier,
    rate_card: RateCard,
) -> Results:
    shipment = _shipment(uow, event.order_id)
    if not shipment.keep_parcels(event.parcels):
        return []
    return _book_when_ready(uow, shipment, clock, carrier, rate_card)


def on_order_change_address(command: OrderChangeAddress, uow: ShippingUnitOfWork) -> Results:
    """Accepted until the parcels are booked; one that comes before the order waits for it."""
    shipment = _shipment(uow, command.order_id)
    answer = shipment.change_address(command)
    return [answer] if answer is not None else []


def on_order_cancelled(event: OrderCancelled, uow: ShippingUnitOfWork) -> Results:
    """The delivery request is cancelled (a tombstone if the order was not seen yet), so late
    parcels book nothing; a shipment already booked is the carrier's, and stays as it is."""
    _shipment(uow, event.order_id).cancel(event.reason)
    return []


def on_carrier_tracking_update(update: CarrierTrackingUpdate, uow: ShippingUnitOfWork) -> Results:
    """Matched by tracking number: the carrier's ``order_id`` is only the reference it echoes."""
    shipment = uow.shipments.by_tracking_number(update.tracking_number)
    if shipment is None:
        raise PermanentError(
            f"no shipment has tracking number {update.tracking_number!r}"
            f" (the carrier's reference: order {update.order_id!r})"
        )
    announcement = shipment.track(update.status, update.at)
    return [announcement] if announcement is not None else []


def _delivery_requested(
    order_id: str,
    delivery: Delivery,
    uow: ShippingUnitOfWork,
    clock: Clock,
    carrier: Carrier,
    rate_card: RateCard,
    collect: Money | None = None,
) -> Results:
    shipment = _shipment(uow, order_id)
    if not shipment.keep_request(delivery, collect):
        return []
    changed = shipment.apply_waiting_address_change()
    return [*changed, *_book_when_ready(uow, shipment, clock, carrier, rate_card)]


def _shipment(uow: ShippingUnitOfWork, order_id: str) -> Shipment:
    shipment = uow.shipments.by_order(order_id)
    if shipment is None:
        shipment = Shipment.open(order_id)
        uow.shipments.add(shipment)
    return shipment


def _book_when_ready(
    uow: ShippingUnitOfWork, shipment: Shipment, clock: Clock, carrier: Carrier, rate_card: RateCard
) -> Results:
    if not shipment.ready_to_book:
        return []
    delivery, parcels = shipment.requested, shipment.packed
    quote = rate_card.choose(
        delivery.option, delivery.address.country, [p.weight_grams for p in parcels]
    )
    booking = carrier.book(
        BookingRequest(
            shipment_id=shipment.shipment_id,
            order_id=shipment.order_id,
            carrier=quote.carrier,
            service=quote.service,
            transit_days=quote.transit_days,
            address=delivery.address,
            pickup_point_id=delivery.pickup_point_id,
            parcels=parcels,
            cash_on_delivery=shipment.cash_on_delivery,
        )
    )
    dispatched = shipment.book(quote, booking, clock.now())
    uow.shipments.index(shipment)
    return [dispatched, *booking.scheduled_updates]


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    ReplacementRequested: on_replacement_requested,
    FulfillmentPacked: on_fulfillment_packed,
    OrderChangeAddress: on_order_change_address,
    OrderCancelled: on_order_cancelled,
    CarrierTrackingUpdate: on_carrier_tracking_update,
}
