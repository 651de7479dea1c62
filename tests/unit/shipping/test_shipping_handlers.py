"""Shipping, as a specification: book once both halves are known, by the rate card's rules,
then follow the carrier's scans forward to delivery, or through failed attempts back to the
sender. The address may change until booking; a cancelled order books nothing. An after-sales
replacement is shipped the same way, as the order whose id is its case id."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import String, select
from sqlalchemy.orm import Session

from services.shipping.bootstrap import bootstrap
from services.shipping.carrier import Booking, BookingRequest, SimulatedCarrier
from services.shipping.model import SHIPMENT_MACHINE, Shipment, ShipmentStatus
from services.shipping.settings import ShippingSettings
from services.shipping.store import ShippingUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Address,
    CarrierTrackingUpdate,
    Delivery,
    DeliveryOption,
    FulfillmentPacked,
    Message,
    Money,
    OrderCancelled,
    OrderChangeAddress,
    OrderPlaced,
    Parcel,
    ParcelItem,
    PaymentInstruction,
    PaymentMethod,
    ReplacementRequested,
    ShipmentAddressChanged,
    ShipmentAddressChangeRefused,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentInTransit,
    ShipmentReturned,
    TrackingStatus,
)
from shared.errors import PermanentError
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import address_in, delivery_to, order_placed, replacement_requested
from tests.unit.conftest import QueryCounter, handle

SETTINGS = ShippingSettings(
    warehouse_country="DE",
    in_transit_after_seconds=3600,
    delivered_after_seconds=2 * 86400,
    delivery_attempts=3,
    delivery_retry_interval_seconds=86400,
)
REFUSING = Address(line1="12 REFUSED Street", city="Somewhere", postal_code="10115", country="DE")


@pytest.fixture
def service(clock: ManualClock) -> Service:
    return bootstrap(clock, SETTINGS)


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> ShippingUnitOfWork:
    return ShippingUnitOfWork(session_for(service))


def simulated_carrier(clock: ManualClock) -> SimulatedCarrier:
    """The carrier the bootstrap builds from ``SETTINGS``."""
    return SimulatedCarrier(
        clock,
        SETTINGS.in_transit_after,
        SETTINGS.delivered_after,
        delivery_attempts=SETTINGS.delivery_attempts,
        retry_interval=SETTINGS.delivery_retry_interval,
    )


def replacement(
    case_id: str = "ord-1.1", address: Address | None = None, **overrides: Any
) -> ReplacementRequested:
    delivery = Delivery(option=DeliveryOption.STANDARD, address=address or address_in())
    return replacement_requested(case_id, delivery=delivery, **overrides)


def change_address(
    address: Address, order_id: str = "ord-1", pickup_point_id: str | None = None
) -> OrderChangeAddress:
    return OrderChangeAddress(
        order_id=order_id, address=address, pickup_point_id=pickup_point_id, reason="moved"
    )


def cancelled(order_id: str = "ord-1", reason: str = "customer_cancelled") -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason=reason)


def packed(*kilos: float, order_id: str = "ord-1") -> FulfillmentPacked:
    parcels = [
        Parcel(
            parcel_id=f"{order_id}-p{n}",
            weight_grams=round(kg * 1000),
            items=[ParcelItem(sku="MUG-BLUE", quantity=1)],
        )
        for n, kg in enumerate(kilos or (1.2,), start=1)
    ]
    return FulfillmentPacked(order_id=order_id, parcels=parcels)


def book(
    service: Service, uow: ShippingUnitOfWork, order: OrderPlaced, parcels: FulfillmentPacked
) -> ShipmentDispatched:
    handle(service, order, uow)
    dispatched = handle(service, parcels, uow)[0]
    assert isinstance(dispatched, ShipmentDispatched)
    return dispatched


def scan(status: TrackingStatus, tracking_number: str, at: datetime) -> CarrierTrackingUpdate:
    return CarrierTrackingUpdate(
        order_id="ord-1", tracking_number=tracking_number, status=status, at=at
    )


def chosen(dispatched: ShipmentDispatched) -> tuple[str, str, int]:
    """What the rate card picked: carrier, service and cost in cents."""
    return dispatched.carrier, dispatched.service, dispatched.cost.amount


def scans_in(results: list[Message | Scheduled]) -> list[tuple[CarrierTrackingUpdate, datetime]]:
    """The simulated carrier's future tracking updates, with when they are due."""
    return [
        (result.message, result.due)
        for result in results
        if isinstance(result, Scheduled) and isinstance(result.message, CarrierTrackingUpdate)
    ]


def status_of(uow: ShippingUnitOfWork, order_id: str = "ord-1") -> str:
    return shipment_of(uow, order_id).status


def shipment_of(uow: ShippingUnitOfWork, order_id: str = "ord-1") -> Shipment:
    shipment = uow.shipments.by_order(order_id)
    assert shipment is not None
    return shipment


def fire(
    service: Service, uow: ShippingUnitOfWork, results: list[Message | Scheduled]
) -> list[Message | Scheduled]:
    """Fire the carrier's scheduled scans into the handler, in order; what they announced."""
    return [m for update, _due in scans_in(results) for m in handle(service, update, uow)]


# -- booking ------------------------------------------------------------------------------


def test_nothing_is_booked_until_the_parcels_are_packed(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    assert handle(service, order_placed(), uow) == []
    assert status_of(uow) == ShipmentStatus.PENDING


def test_books_the_cheapest_standard_service_once_both_halves_are_known(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, order_placed(), uow)

    dispatched, *_scans = handle(service, packed(1.2), uow)

    assert isinstance(dispatched, ShipmentDispatched)
    assert (dispatched.carrier, dispatched.service) == ("DPD", "classic")
    assert dispatched.cost == Money(amount=529, currency="EUR")
    assert dispatched.shipment_id == "shp-ord-1"
    assert dispatched.tracking_number.startswith("DPD")
    assert dispatched.expected_delivery == date(2026, 3, 4)
    shipment = uow.shipments.by_tracking_number(dispatched.tracking_number)
    assert shipment is not None and shipment.status == ShipmentStatus.BOOKED
    assert shipment.weight_grams == 1200


class RecordingCarrier:
    """The simulated carrier, keeping each booking request it was given."""

    def __init__(self, carrier: SimulatedCarrier) -> None:
        self.carrier, self.requests = carrier, list[BookingRequest]()

    def book(self, request: BookingRequest) -> Booking:
        self.requests.append(request)
        return self.carrier.book(request)


def test_cash_on_delivery_books_the_order_total_in_its_currency_for_the_carrier_to_collect(
    uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    carrier = RecordingCarrier(simulated_carrier(clock))
    service = bootstrap(clock, SETTINGS, carrier=carrier)
    cod = order_placed().model_copy(
        update={
            "currency": "UAH",
            "total": 56_900,
            "payment": PaymentInstruction(method=PaymentMethod.CASH_ON_DELIVERY),
        }
    )
    card = order_placed("ord-2").model_copy(update={"currency": "UAH"})

    by_cash = book(service, uow, cod, packed(1.2))
    by_card = book(service, uow, card, packed(1.2, order_id="ord-2"))

    to_collect = Money(amount=56_900, currency="UAH")
    assert [r.cash_on_delivery for r in carrier.requests] == [to_collect, None]
    assert (by_cash.cash_on_delivery, by_card.cash_on_delivery) == (to_collect, None)
    assert by_cash.cost == Money(amount=529, currency="EUR"), "the rate card's cost, in EUR"


def test_the_carrier_schedules_its_scans_after_booking(
    service: Service, uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    handle(service, order_placed(), uow)

    results = handle(service, packed(), uow)

    in_an_hour, in_two_days = clock.now() + timedelta(hours=1), clock.now() + timedelta(days=2)
    assert len(results) == 3
    assert [(update.status, update.at, due) for update, due in scans_in(results)] == [
        (TrackingStatus.IN_TRANSIT, in_an_hour, in_an_hour),
        (TrackingStatus.DELIVERED, in_two_days, in_two_days),
    ]


def test_whichever_half_arrives_last_books(service: Service, uow: ShippingUnitOfWork) -> None:
    assert handle(service, packed(), uow) == []

    [dispatched, *_] = handle(service, order_placed(), uow)

    assert isinstance(dispatched, ShipmentDispatched)


def test_duplicate_and_late_halves_change_nothing(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, order_placed(), uow)
    assert handle(service, order_placed(delivery=delivery_to(DeliveryOption.EXPRESS)), uow) == []
    dispatched = handle(service, packed(1.2), uow)[0]

    assert handle(service, packed(4), uow) == []
    assert handle(service, order_placed(), uow) == []
    shipment = uow.shipments.by_order("ord-1")
    assert isinstance(dispatched, ShipmentDispatched) and dispatched.service == "classic"
    assert shipment is not None and (shipment.weight_grams, shipment.service) == (1200, "classic")


def test_the_cheapest_standard_service_depends_on_the_weight(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    dispatched = book(service, uow, order_placed(), packed(4))

    assert chosen(dispatched) == ("DHL", "paket", 649)


def test_express_takes_the_fewest_transit_days_even_when_dearer(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    dispatched = book(
        service,
        uow,
        order_placed(delivery=delivery_to(DeliveryOption.EXPRESS, country="AT")),
        packed(1.2),
    )

    assert chosen(dispatched) == ("UPS", "express_saver", 3790)
    assert dispatched.tracking_number.startswith("1Z")
    assert dispatched.expected_delivery == date(2026, 3, 3)


def test_express_ties_on_transit_days_go_to_the_cheapest(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    dispatched = book(
        service, uow, order_placed(delivery=delivery_to(DeliveryOption.EXPRESS)), packed(1.2)
    )

    assert chosen(dispatched) == ("DPD", "express", 1490)


def test_a_pickup_point_goes_to_the_pickup_network(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    order = order_placed(
        delivery=delivery_to(DeliveryOption.PICKUP_POINT, pickup_point_id="PUDO-10115-7")
    )

    dispatched = book(service, uow, order, packed(0.8))

    assert chosen(dispatched) == ("PUDO", "pickup", 349)


@pytest.mark.parametrize(
    ("country", "kilos", "expected"),
    [
        ("US", (1.2,), ("DHL", "paket", 2999)),  # the pickup network does not reach the US
        ("DE", (25.0,), ("DHL", "paket", 1899)),  # nor take parcels over 20 kg
    ],
)
def test_where_the_pickup_network_cannot_go_the_cheapest_standard_service_does(
    service: Service,
    uow: ShippingUnitOfWork,
    country: str,
    kilos: tuple[float, ...],
    expected: tuple[str, str, int],
) -> None:
    order = order_placed(
        delivery=delivery_to(DeliveryOption.PICKUP_POINT, country=country, pickup_point_id="PUDO-1")
    )

    dispatched = book(service, uow, order, packed(*kilos))

    assert chosen(dispatched) == expected


def test_heavy_orders_are_priced_parcel_by_parcel(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    dispatched = book(service, uow, order_placed(), packed(25, 15))

    assert (dispatched.carrier, dispatched.cost.amount) == ("DHL", 1899 + 1499)


def test_a_parcel_no_carrier_takes_is_a_permanent_error(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, order_placed(), uow)

    with pytest.raises(PermanentError, match="no carrier service takes parcels of 40 kg to DE"):
        handle(service, packed(40), uow)


def test_the_domestic_zone_is_the_warehouse_country_from_the_environment(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_SHIPPING_WAREHOUSE_COUNTRY", "AT")
    service = bootstrap(clock)
    uow = ShippingUnitOfWork(session_for(service))

    list(service.handlers[OrderPlaced](order_placed(delivery=delivery_to(country="AT")), uow))
    dispatched, *_ = service.handlers[FulfillmentPacked](packed(1.2), uow)

    assert isinstance(dispatched, ShipmentDispatched)
    assert (dispatched.carrier, dispatched.cost.amount) == ("DPD", 529)


# -- tracking -----------------------------------------------------------------------------


def test_the_first_scan_puts_the_shipment_in_transit(
    service: Service, uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    tracking = book(service, uow, order_placed(), packed()).tracking_number
    update = scan(TrackingStatus.IN_TRANSIT, tracking, clock.now())

    assert handle(service, update, uow) == [
        ShipmentInTransit(order_id="ord-1", shipment_id="shp-ord-1", tracking_number=tracking)
    ]
    assert handle(service, update, uow) == []


def test_delivery_is_announced_once_at_the_carriers_time(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    tracking = book(service, uow, order_placed(), packed()).tracking_number
    at = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)

    # the carrier may skip the in-transit scan
    [delivered] = handle(service, scan(TrackingStatus.DELIVERED, tracking, at), uow)

    assert isinstance(delivered, ShipmentDelivered)
    assert delivered.delivered_at == at
    assert handle(service, scan(TrackingStatus.DELIVERED, tracking, at), uow) == []
    assert status_of(uow) == ShipmentStatus.DELIVERED


def test_a_scan_that_would_move_the_shipment_back_changes_nothing(
    service: Service, uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    tracking = book(service, uow, order_placed(), packed()).tracking_number
    handle(service, scan(TrackingStatus.DELIVERED, tracking, clock.now()), uow)

    late = scan(TrackingStatus.IN_TRANSIT, tracking, clock.now())

    assert handle(service, late, uow) == []
    assert status_of(uow) == ShipmentStatus.DELIVERED


def test_a_failed_attempt_is_announced_and_a_later_one_may_still_deliver(
    service: Service, uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    tracking = book(service, uow, order_placed(), packed()).tracking_number
    handle(service, scan(TrackingStatus.IN_TRANSIT, tracking, clock.now()), uow)

    [failed] = handle(service, scan(TrackingStatus.DELIVERY_FAILED, tracking, clock.now()), uow)

    assert failed == ShipmentDeliveryFailed(
        order_id="ord-1", shipment_id="shp-ord-1", tracking_number=tracking, failed_at=clock.now()
    )
    assert status_of(uow) == ShipmentStatus.DELIVERY_FAILED
    tomorrow = clock.now() + timedelta(days=1)
    [delivered] = handle(service, scan(TrackingStatus.DELIVERED, tracking, tomorrow), uow)
    assert isinstance(delivered, ShipmentDelivered)
    assert status_of(uow) == ShipmentStatus.DELIVERED


def test_each_failed_attempt_is_announced_and_a_repeated_scan_is_not(
    service: Service, uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    tracking = book(service, uow, order_placed(), packed()).tracking_number
    first, second = clock.now(), clock.now() + timedelta(days=1)

    announced = [
        handle(service, scan(TrackingStatus.DELIVERY_FAILED, tracking, at), uow)
        for at in (first, first, second, first)
    ]

    assert [
        [m.failed_at for m in ms if isinstance(m, ShipmentDeliveryFailed)] for ms in announced
    ] == [
        [first],
        [],
        [second],
        [],
    ]
    shipment = shipment_of(uow)
    assert (shipment.failed_attempts, shipment.failed_at) == (2, second)


def test_the_return_to_sender_is_announced_once_with_the_attempts_made(
    service: Service, uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    tracking = book(service, uow, order_placed(), packed()).tracking_number
    for day in (0, 1):
        at = clock.now() + timedelta(days=day)
        handle(service, scan(TrackingStatus.DELIVERY_FAILED, tracking, at), uow)
    back = clock.now() + timedelta(days=3)

    [returned] = handle(service, scan(TrackingStatus.RETURNED, tracking, back), uow)

    assert returned == ShipmentReturned(
        order_id="ord-1",
        shipment_id="shp-ord-1",
        tracking_number=tracking,
        returned_at=back,
        attempts=2,
    )
    for late in (TrackingStatus.RETURNED, TrackingStatus.DELIVERED, TrackingStatus.DELIVERY_FAILED):
        later = back + timedelta(days=1)
        assert handle(service, scan(late, tracking, later), uow) == []
    assert status_of(uow) == ShipmentStatus.RETURNED


def test_an_unknown_tracking_number_is_a_permanent_error(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    update = scan(TrackingStatus.DELIVERED, "DHL0000", datetime(2026, 3, 3, tzinfo=UTC))

    with pytest.raises(PermanentError, match="no shipment has tracking number 'DHL0000'"):
        handle(service, update, uow)


def test_the_simulated_carriers_scans_take_the_shipment_to_delivery(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, order_placed(), uow)
    scans = scans_in(handle(service, packed(), uow))

    announced = [handle(service, update, uow) for update, _due in scans]

    assert [type(message) for [message] in announced] == [ShipmentInTransit, ShipmentDelivered]
    assert status_of(uow) == ShipmentStatus.DELIVERED


def test_a_retried_booking_gets_the_same_tracking_number(clock: ManualClock) -> None:
    carrier = simulated_carrier(clock)
    request = BookingRequest(
        shipment_id="shp-ord-1",
        order_id="ord-1",
        carrier="DHL",
        service="paket",
        transit_days=2,
        address=order_placed().delivery.address,
        pickup_point_id=None,
        parcels=packed().parcels,
    )

    booking = carrier.book(request)

    assert re.fullmatch(r"DHL\d{16}", booking.tracking_number)
    assert carrier.book(request).tracking_number == booking.tracking_number
    other = carrier.book(replace(request, shipment_id="shp-ord-2", order_id="ord-2"))
    assert other.tracking_number != booking.tracking_number


@pytest.mark.parametrize("transit_days", [1, 2, 6])
def test_unless_told_otherwise_the_simulated_carrier_delivers_in_the_services_transit_days(
    clock: ManualClock, transit_days: int
) -> None:
    carrier = SimulatedCarrier(clock, timedelta(hours=1), None)
    request = BookingRequest(
        shipment_id="shp-ord-1",
        order_id="ord-1",
        carrier="DHL",
        service="paket",
        transit_days=transit_days,
        address=order_placed().delivery.address,
        pickup_point_id=None,
        parcels=packed().parcels,
    )

    booking = carrier.book(request)

    delivered = [
        scan.due
        for scan in booking.scheduled_updates
        if isinstance(scan.message, CarrierTrackingUpdate)
        and scan.message.status == TrackingStatus.DELIVERED
    ]
    assert delivered == [clock.now() + timedelta(days=transit_days)]
    assert booking.expected_delivery == delivered[0].date()


def test_the_simulated_carrier_fails_every_attempt_at_a_refused_address_then_returns(
    service: Service, uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    handle(service, order_placed(delivery=delivery_to(address=REFUSING)), uow)

    results = handle(service, packed(), uow)

    day = timedelta(days=1)
    first_attempt = clock.now() + timedelta(days=2)
    assert [(update.status, due) for update, due in scans_in(results)] == [
        (TrackingStatus.IN_TRANSIT, clock.now() + timedelta(hours=1)),
        (TrackingStatus.DELIVERY_FAILED, first_attempt),
        (TrackingStatus.DELIVERY_FAILED, first_attempt + day),
        (TrackingStatus.DELIVERY_FAILED, first_attempt + 2 * day),
        (TrackingStatus.RETURNED, first_attempt + 3 * day),
    ]
    announced = fire(service, uow, results)
    assert [type(m) for m in announced] == [
        ShipmentInTransit,
        ShipmentDeliveryFailed,
        ShipmentDeliveryFailed,
        ShipmentDeliveryFailed,
        ShipmentReturned,
    ]
    assert isinstance(announced[-1], ShipmentReturned) and announced[-1].attempts == 3
    assert status_of(uow) == ShipmentStatus.RETURNED


def test_the_refusing_mark_is_upper_case_anywhere_in_the_first_line(clock: ManualClock) -> None:
    carrier = simulated_carrier(clock)

    def statuses_for(line1: str) -> list[TrackingStatus]:
        request = BookingRequest(
            shipment_id="shp-ord-1",
            order_id="ord-1",
            carrier="DHL",
            service="paket",
            transit_days=2,
            address=address_in(line1=line1),
            pickup_point_id=None,
            parcels=packed().parcels,
        )
        scheduled = carrier.book(request).scheduled_updates
        return [s.message.status for s in scheduled if isinstance(s.message, CarrierTrackingUpdate)]

    assert statuses_for("Hinterhof, REFUSED")[-1] == TrackingStatus.RETURNED
    assert statuses_for("Refused Lane 3")[-1] == TrackingStatus.DELIVERED


def test_attempts_and_their_interval_come_from_the_environment(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_SHIPPING_DELIVERY_ATTEMPTS", "2")
    monkeypatch.setenv("ORDERFLOW_SHIPPING_DELIVERY_RETRY_INTERVAL_SECONDS", "7200")
    monkeypatch.setenv("ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS", "3600")
    service = bootstrap(clock)
    uow = ShippingUnitOfWork(session_for(service))

    list(service.handlers[OrderPlaced](order_placed(delivery=delivery_to(address=REFUSING)), uow))
    results = list(service.handlers[FulfillmentPacked](packed(), uow))

    hour = timedelta(hours=1)
    assert [(update.status, due - clock.now()) for update, due in scans_in(results)] == [
        (TrackingStatus.IN_TRANSIT, hour),
        (TrackingStatus.DELIVERY_FAILED, hour),
        (TrackingStatus.DELIVERY_FAILED, 3 * hour),
        (TrackingStatus.RETURNED, 5 * hour),
    ]


def test_defaults_are_three_attempts_a_day_apart() -> None:
    defaults = ShippingSettings()

    assert (defaults.delivery_attempts, defaults.delivery_retry_interval) == (3, timedelta(days=1))


# -- address changes ----------------------------------------------------------------------


def test_an_address_change_before_booking_is_announced_and_the_parcels_go_there(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, order_placed(), uow)
    vienna = Address(line1="Ring 1", city="Wien", postal_code="1010", country="AT")

    assert handle(service, change_address(vienna), uow) == [
        ShipmentAddressChanged(order_id="ord-1", address=vienna)
    ]
    dispatched, *_ = handle(service, packed(1.2), uow)

    assert isinstance(dispatched, ShipmentDispatched)
    assert chosen(dispatched) == ("DPD", "classic", 1399)  # the EU rate, not the domestic one
    assert shipment_of(uow).requested.address == vienna


def test_an_address_change_after_booking_is_refused(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    book(service, uow, order_placed(), packed())

    assert handle(service, change_address(address_in("FR")), uow) == [
        ShipmentAddressChangeRefused(order_id="ord-1", reason="already_dispatched")
    ]
    assert shipment_of(uow).requested.address == address_in("DE")


def test_an_address_change_before_the_order_waits_for_it_and_is_announced_then(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    assert handle(service, change_address(address_in("FR")), uow) == []
    assert handle(service, change_address(address_in("AT")), uow) == []
    assert handle(service, packed(1.2), uow) == []

    changed, dispatched, *_ = handle(service, order_placed(), uow)

    assert changed == ShipmentAddressChanged(order_id="ord-1", address=address_in("AT"))
    assert isinstance(dispatched, ShipmentDispatched)
    assert chosen(dispatched) == ("DPD", "classic", 1399)
    shipment = shipment_of(uow)
    assert shipment.requested.address == address_in("AT") and shipment.address_change is None


def test_a_changed_address_is_where_the_carrier_tries_to_deliver(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, order_placed(), uow)
    handle(service, change_address(REFUSING), uow)

    announced = fire(service, uow, handle(service, packed(), uow))

    assert isinstance(announced[-1], ShipmentReturned)


def test_a_new_pickup_point_replaces_the_old_one_and_none_keeps_it(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(
        service,
        order_placed(delivery=delivery_to(DeliveryOption.PICKUP_POINT, pickup_point_id="PUDO-1")),
        uow,
    )
    kiosk = address_in(line1="Kiosk am Markt")

    [moved] = handle(service, change_address(kiosk, pickup_point_id="PUDO-2"), uow)
    [same_point] = handle(service, change_address(kiosk), uow)

    assert moved == ShipmentAddressChanged(
        order_id="ord-1", address=kiosk, pickup_point_id="PUDO-2"
    )
    assert same_point == moved
    assert shipment_of(uow).requested.pickup_point_id == "PUDO-2"
    assert shipment_of(uow).requested.option == DeliveryOption.PICKUP_POINT


def test_an_address_change_for_a_cancelled_order_is_refused(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, cancelled(), uow)

    assert handle(service, change_address(address_in("AT")), uow) == [
        ShipmentAddressChangeRefused(order_id="ord-1", reason="order_cancelled")
    ]


# -- cancellation -------------------------------------------------------------------------


def test_a_cancelled_order_not_seen_yet_leaves_a_tombstone_that_books_nothing(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    assert handle(service, cancelled(reason="out_of_stock"), uow) == []

    assert handle(service, order_placed(), uow) == []
    assert handle(service, packed(), uow) == []
    shipment = shipment_of(uow)
    assert shipment.status == ShipmentStatus.CANCELLED
    assert shipment.cancel_reason == "out_of_stock"
    assert shipment.tracking_number is None


def test_a_cancel_before_booking_cancels_the_delivery_request(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, order_placed(), uow)

    assert handle(service, cancelled(), uow) == []

    assert handle(service, packed(), uow) == []
    assert status_of(uow) == ShipmentStatus.CANCELLED


def test_a_cancel_after_booking_leaves_the_shipment_with_the_carrier(
    service: Service, uow: ShippingUnitOfWork, clock: ManualClock
) -> None:
    tracking = book(service, uow, order_placed(), packed()).tracking_number

    assert handle(service, cancelled(reason="delivery_failed"), uow) == []

    assert status_of(uow) == ShipmentStatus.BOOKED
    assert shipment_of(uow).cancel_reason is None
    [delivered] = handle(service, scan(TrackingStatus.DELIVERED, tracking, clock.now()), uow)
    assert isinstance(delivered, ShipmentDelivered)


def test_a_repeated_cancel_changes_nothing(service: Service, uow: ShippingUnitOfWork) -> None:
    handle(service, cancelled(reason="payment_failed"), uow)

    assert handle(service, cancelled(reason="payment_expired"), uow) == []
    assert shipment_of(uow).cancel_reason == "payment_failed"


# -- after-sales replacements -------------------------------------------------------------


@pytest.mark.parametrize("packed_first", [False, True], ids=["requested-first", "packed-first"])
def test_a_replacement_is_booked_under_its_case_id_once_both_halves_are_known(
    service: Service, uow: ShippingUnitOfWork, packed_first: bool
) -> None:
    if packed_first:
        assert handle(service, packed(order_id="ord-1.1"), uow) == []
        dispatched, *scans = handle(service, replacement("ord-1.1"), uow)
    else:
        assert handle(service, replacement("ord-1.1"), uow) == []
        dispatched, *scans = handle(service, packed(order_id="ord-1.1"), uow)

    assert isinstance(dispatched, ShipmentDispatched)
    assert (dispatched.order_id, dispatched.shipment_id) == ("ord-1.1", "shp-ord-1.1")
    assert chosen(dispatched) == ("DPD", "classic", 529)
    assert [update.order_id for update, _due in scans_in(scans)] == ["ord-1.1", "ord-1.1"]
    assert status_of(uow, "ord-1.1") == ShipmentStatus.BOOKED
    assert uow.shipments.by_order("ord-1") is None  # the original order's shipment is its own


def test_a_replacement_goes_where_its_request_says_as_the_order_would(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    express = Delivery(option=DeliveryOption.EXPRESS, address=address_in("AT"))

    handle(service, replacement_requested("ord-1.2", delivery=express), uow)
    [dispatched, *_] = handle(service, packed(order_id="ord-1.2"), uow)

    assert isinstance(dispatched, ShipmentDispatched)
    assert chosen(dispatched) == ("UPS", "express_saver", 3790)
    assert shipment_of(uow, "ord-1.2").requested == express


def test_a_repeated_replacement_request_changes_nothing(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, replacement(), uow)
    assert handle(service, replacement(address=address_in("FR")), uow) == []
    dispatched = handle(service, packed(order_id="ord-1.1"), uow)[0]

    assert handle(service, replacement(), uow) == []
    assert handle(service, packed(4, order_id="ord-1.1"), uow) == []
    assert isinstance(dispatched, ShipmentDispatched)
    assert shipment_of(uow, "ord-1.1").requested.address.country == "DE"
    assert shipment_of(uow, "ord-1.1").weight_grams == 1200


def test_a_replacement_is_tracked_to_delivery_by_its_own_tracking_number(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    book(service, uow, order_placed("ord-1"), packed(order_id="ord-1"))
    handle(service, replacement("ord-1.1"), uow)
    results = handle(service, packed(order_id="ord-1.1"), uow)

    announced = fire(service, uow, results)

    assert [m.order_id for m in announced if isinstance(m, ShipmentDelivered)] == ["ord-1.1"]
    assert status_of(uow, "ord-1.1") == ShipmentStatus.DELIVERED
    assert status_of(uow, "ord-1") == ShipmentStatus.BOOKED


def test_a_replacement_at_a_refusing_address_goes_back_to_the_sender(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    handle(service, replacement(address=REFUSING), uow)
    results = handle(service, packed(order_id="ord-1.1"), uow)

    [returned] = [m for m in fire(service, uow, results) if isinstance(m, ShipmentReturned)]

    assert returned.order_id == "ord-1.1"


def test_the_case_id_of_the_longest_order_id_fits_the_shipments_columns(
    service: Service, uow: ShippingUnitOfWork
) -> None:
    """Intake's order ids are 28 characters; an order id may have up to 64, and its case ids
    (``<order id>.<n>``) are order ids too."""
    case_id = "o" * 61 + ".12"
    columns = Shipment.__table__.c

    handle(service, replacement(case_id), uow)
    [dispatched, *_] = handle(service, packed(order_id=case_id), uow)

    assert isinstance(dispatched, ShipmentDispatched)
    for column, value in [
        ("order_id", dispatched.order_id),
        ("shipment_id", dispatched.shipment_id),
        ("tracking_number", dispatched.tracking_number),
    ]:
        column_type = columns[column].type
        assert isinstance(column_type, String) and column_type.length is not None
        assert len(value) <= column_type.length


# -- the state machine --------------------------------------------------------------------


def test_the_shipment_ends_delivered_returned_or_cancelled_and_only_pending_cancels() -> None:
    S = ShipmentStatus
    following = SHIPMENT_MACHINE.following
    ends = {status for status in S if not following(status)}
    cancellable = {status for status in S if SHIPMENT_MACHINE.can(status, S.CANCELLED)}

    assert ends == SHIPMENT_MACHINE.terminal == {S.DELIVERED, S.RETURNED, S.CANCELLED}
    assert cancellable == {S.PENDING}
    assert following(S.DELIVERY_FAILED) == {S.DELIVERY_FAILED, S.DELIVERED, S.RETURNED}
    assert S.BOOKED not in following(S.IN_TRANSIT) | following(S.DELIVERY_FAILED)


def test_the_handler_table_names_every_message_shipping_handles(clock: ManualClock) -> None:
    service = bootstrap(clock, SETTINGS)

    assert set(service.subscriptions) == {
        OrderPlaced,
        ReplacementRequested,
        FulfillmentPacked,
        OrderChangeAddress,
        OrderCancelled,
        CarrierTrackingUpdate,
    }


# -- batches ------------------------------------------------------------------------------


def handle_batch(
    service: Service, engine: Session, messages: list[Message], counter: QueryCounter
) -> tuple[list[Message | Scheduled], int]:
    """One batch as the runtime runs it, in a transaction of its own: preload, every handler,
    commit. Its results, and how many SELECTs it ran."""
    before = counter.selects
    with Session(engine.get_bind(), expire_on_commit=False) as session:
        uow = ShippingUnitOfWork(session)
        uow.preload(messages)
        handled = [service.handlers[type(message)](message, uow) for message in messages]
        results = [result for results in handled for result in results]
        session.commit()
    return results, counter.selects - before


def statuses(session: Session) -> dict[str, str]:
    return {s.order_id: s.status for s in session.scalars(select(Shipment))}


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    service = bootstrap(clock, SETTINGS)
    session = session_for(service)
    counter = count_queries(session)
    orders = [f"ord-{n}" for n in range(20)]
    halves: list[Message] = [order_placed(order) for order in orders]
    halves += [packed(order_id=order) for order in orders]

    booked, booking_selects = handle_batch(service, session, halves, counter)
    scans: list[Message] = [update for update, _due in scans_in(booked)]
    announced, tracking_selects = handle_batch(service, session, scans, counter)

    assert [type(m) for m in booked if not isinstance(m, Scheduled)] == [ShipmentDispatched] * 20
    assert [type(m) for m in announced] == [ShipmentInTransit, ShipmentDelivered] * 20
    assert statuses(session) == dict.fromkeys(orders, ShipmentStatus.DELIVERED)
    assert (booking_selects, tracking_selects) == (1, 1)


def test_address_changes_cancels_and_failed_deliveries_cost_no_more_selects(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """Two batches with every kind of message. First: orders booked as they are, booked after
    an address change, booked to a refusing address, cancelled before they were seen, and
    address changes for orders not seen yet. Then: every carrier scan, late halves for the
    cancelled orders, the waiting orders arriving, and changes refused after booking."""
    service = bootstrap(clock, SETTINGS)
    session = session_for(service)
    counter = count_queries(session)
    kinds = ["plain", "moved", "refusing", "cancelled", "early"]
    ids = {kind: [f"ord-{kind}-{n}" for n in range(5)] for kind in kinds}
    first: list[Message] = []
    for n in range(5):
        moved, refusing = ids["moved"][n], ids["refusing"][n]
        first += [order_placed(ids["plain"][n]), packed(order_id=ids["plain"][n])]
        first += [order_placed(moved), change_address(address_in("AT"), moved)]
        first += [packed(order_id=moved)]
        first += [
            order_placed(refusing, delivery=delivery_to(address=REFUSING)),
            packed(order_id=refusing),
        ]
        first += [cancelled(ids["cancelled"][n])]
        first += [change_address(address_in("FR"), ids["early"][n])]

    booked, first_selects = handle_batch(service, session, first, counter)
    fired = sorted(scans_in(booked), key=lambda scheduled: scheduled[1])
    second: list[Message] = [update for update, _due in fired]
    for n in range(5):
        second += [order_placed(ids["cancelled"][n]), packed(order_id=ids["cancelled"][n])]
        second += [order_placed(ids["early"][n])]
        second += [change_address(address_in("FR"), ids["plain"][n])]
    announced, second_selects = handle_batch(service, session, second, counter)

    def count(messages: list[Message | Scheduled]) -> dict[str, int]:
        kinds = [type(m).__name__ for m in messages if not isinstance(m, Scheduled)]
        return {kind: kinds.count(kind) for kind in sorted(set(kinds))}

    assert count(booked) == {"ShipmentAddressChanged": 5, "ShipmentDispatched": 15}
    assert count(announced) == {
        "ShipmentAddressChangeRefused": 5,
        "ShipmentAddressChanged": 5,
        "ShipmentDelivered": 10,
        "ShipmentDeliveryFailed": 15,
        "ShipmentInTransit": 15,
        "ShipmentReturned": 5,
    }
    S = ShipmentStatus
    expected = {"plain": S.DELIVERED, "moved": S.DELIVERED, "refusing": S.RETURNED}
    expected |= {"cancelled": S.CANCELLED, "early": S.PENDING}
    assert statuses(session) == {
        order: expected[kind] for kind, order_ids in ids.items() for order in order_ids
    }
    assert (first_selects, second_selects) == (1, 1)


def test_scans_whose_reference_is_wrong_are_matched_by_tracking_number_in_one_more_select(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    service = bootstrap(clock, SETTINGS)
    session = session_for(service)
    counter = count_queries(session)
    orders = [f"ord-{n}" for n in range(20)]
    halves: list[Message] = [order_placed(order) for order in orders]
    halves += [packed(order_id=order) for order in orders]
    booked, _selects = handle_batch(service, session, halves, counter)
    # half the orders' scans echo a wrong reference: another order's, or none we know
    wrong = {"ord-1": "ord-0"} | {f"ord-{n}": f"ref-{n}" for n in range(3, 20, 2)}
    scans: list[Message] = [
        update.model_copy(update={"order_id": wrong.get(update.order_id, update.order_id)})
        for update, _due in scans_in(booked)
    ]

    announced, selects = handle_batch(service, session, scans, counter)

    assert [type(m) for m in announced] == [ShipmentInTransit, ShipmentDelivered] * 20
    assert statuses(session) == dict.fromkeys(orders, ShipmentStatus.DELIVERED)
    assert selects == 2


def test_replacements_cost_no_more_selects(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """Orders and the replacements of their cases, both halves of each, in one batch: every
    shipment is locked by its order id (a replacement's is its case id) in the one query."""
    service = bootstrap(clock, SETTINGS)
    session = session_for(service)
    counter = count_queries(session)
    orders = [f"ord-{n}" for n in range(10)]
    cases = [f"{order}.1" for order in orders]
    halves: list[Message] = [order_placed(order) for order in orders]
    halves += [replacement(case) for case in cases]
    halves += [packed(order_id=order) for order in orders + cases]

    booked, selects = handle_batch(service, session, halves, counter)

    dispatched = [m for m in booked if isinstance(m, ShipmentDispatched)]
    assert sorted(m.order_id for m in dispatched) == sorted(orders + cases)
    assert statuses(session) == dict.fromkeys(orders + cases, ShipmentStatus.BOOKED)
    assert selects == 1
