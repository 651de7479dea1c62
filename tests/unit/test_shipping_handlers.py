"""Shipping, as a specification: book once both halves are known, by the rate card's rules,
then follow the carrier's scans forward to delivery or failure."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.shipping import worker
from services.shipping.carrier import BookingRequest, SimulatedCarrier
from services.shipping.handlers import (
    on_carrier_tracking_update,
    on_fulfillment_packed,
    on_order_placed,
)
from services.shipping.model import Shipment, ShipmentStatus
from services.shipping.rates import RateCard
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
    OrderPlaced,
    Parcel,
    ParcelItem,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentInTransit,
    TrackingStatus,
)
from shared.errors import PermanentError
from shared.handlers import Service
from shared.timers import Scheduled
from tests.factories import order_placed
from tests.unit.conftest import QueryCounter

SETTINGS = ShippingSettings(
    warehouse_country="DE", in_transit_after_seconds=3600, delivered_after_seconds=2 * 86400
)


@pytest.fixture
def uow(session_for: Callable[[Service], Session], clock: ManualClock) -> ShippingUnitOfWork:
    return ShippingUnitOfWork(session_for(worker.bootstrap(clock, SETTINGS)))


@pytest.fixture
def deps(clock: ManualClock) -> dict[str, Any]:
    carrier = SimulatedCarrier(clock, SETTINGS.in_transit_after, SETTINGS.delivered_after)
    return {"clock": clock, "carrier": carrier, "rate_card": RateCard("DE")}


def placed(
    option: DeliveryOption = DeliveryOption.STANDARD,
    country: str = "DE",
    pickup_point_id: str | None = None,
    order_id: str = "ord-1",
) -> OrderPlaced:
    address = Address(line1="1 Main St", city="Somewhere", postal_code="10115", country=country)
    delivery = Delivery(option=option, address=address, pickup_point_id=pickup_point_id)
    return order_placed(order_id, delivery=delivery)


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
    uow: ShippingUnitOfWork, deps: dict[str, Any], order: OrderPlaced, parcels: FulfillmentPacked
) -> ShipmentDispatched:
    on_order_placed(order, uow, **deps)
    dispatched = on_fulfillment_packed(parcels, uow, **deps)[0]
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
    shipment = uow.shipments.by_order(order_id)
    assert shipment is not None
    return shipment.status


# -- booking ------------------------------------------------------------------------------


def test_nothing_is_booked_until_the_parcels_are_packed(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    assert on_order_placed(placed(), uow, **deps) == []
    assert status_of(uow) == ShipmentStatus.PENDING


def test_books_the_cheapest_standard_service_once_both_halves_are_known(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    on_order_placed(placed(), uow, **deps)

    dispatched, *_scans = on_fulfillment_packed(packed(1.2), uow, **deps)

    assert isinstance(dispatched, ShipmentDispatched)
    assert (dispatched.carrier, dispatched.service) == ("DPD", "classic")
    assert dispatched.cost == Money(amount=529, currency="EUR")
    assert dispatched.shipment_id == "shp-ord-1"
    assert dispatched.tracking_number.startswith("DPD")
    assert dispatched.expected_delivery == date(2026, 3, 4)
    shipment = uow.shipments.by_tracking_number(dispatched.tracking_number)
    assert shipment is not None and shipment.status == ShipmentStatus.BOOKED
    assert shipment.weight_grams == 1200


def test_the_carrier_schedules_its_scans_after_booking(
    uow: ShippingUnitOfWork, deps: dict[str, Any], clock: ManualClock
) -> None:
    on_order_placed(placed(), uow, **deps)

    results = on_fulfillment_packed(packed(), uow, **deps)

    in_an_hour, in_two_days = clock.now() + timedelta(hours=1), clock.now() + timedelta(days=2)
    assert len(results) == 3
    assert [(update.status, update.at, due) for update, due in scans_in(results)] == [
        (TrackingStatus.IN_TRANSIT, in_an_hour, in_an_hour),
        (TrackingStatus.DELIVERED, in_two_days, in_two_days),
    ]


def test_whichever_half_arrives_last_books(uow: ShippingUnitOfWork, deps: dict[str, Any]) -> None:
    assert on_fulfillment_packed(packed(), uow, **deps) == []

    [dispatched, *_] = on_order_placed(placed(), uow, **deps)

    assert isinstance(dispatched, ShipmentDispatched)


def test_duplicate_and_late_halves_change_nothing(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    on_order_placed(placed(), uow, **deps)
    assert on_order_placed(placed(DeliveryOption.EXPRESS), uow, **deps) == []
    dispatched = on_fulfillment_packed(packed(1.2), uow, **deps)[0]

    assert on_fulfillment_packed(packed(4), uow, **deps) == []
    assert on_order_placed(placed(), uow, **deps) == []
    shipment = uow.shipments.by_order("ord-1")
    assert isinstance(dispatched, ShipmentDispatched) and dispatched.service == "classic"
    assert shipment is not None and (shipment.weight_grams, shipment.service) == (1200, "classic")


def test_the_cheapest_standard_service_depends_on_the_weight(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    dispatched = book(uow, deps, placed(), packed(4))

    assert chosen(dispatched) == ("DHL", "paket", 649)


def test_express_takes_the_fewest_transit_days_even_when_dearer(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    dispatched = book(uow, deps, placed(DeliveryOption.EXPRESS, country="AT"), packed(1.2))

    assert chosen(dispatched) == ("UPS", "express_saver", 3790)
    assert dispatched.tracking_number.startswith("1Z")
    assert dispatched.expected_delivery == date(2026, 3, 3)


def test_express_ties_on_transit_days_go_to_the_cheapest(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    dispatched = book(uow, deps, placed(DeliveryOption.EXPRESS), packed(1.2))

    assert chosen(dispatched) == ("DPD", "express", 1490)


def test_a_pickup_point_goes_to_the_pickup_network(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    order = placed(DeliveryOption.PICKUP_POINT, pickup_point_id="PUDO-10115-7")

    dispatched = book(uow, deps, order, packed(0.8))

    assert chosen(dispatched) == ("PUDO", "pickup", 349)


@pytest.mark.parametrize(
    ("country", "kilos", "expected"),
    [
        ("US", (1.2,), ("DHL", "paket", 2999)),  # the pickup network does not reach the US
        ("DE", (25.0,), ("DHL", "paket", 1899)),  # nor take parcels over 20 kg
    ],
)
def test_where_the_pickup_network_cannot_go_the_cheapest_standard_service_does(
    uow: ShippingUnitOfWork,
    deps: dict[str, Any],
    country: str,
    kilos: tuple[float, ...],
    expected: tuple[str, str, int],
) -> None:
    order = placed(DeliveryOption.PICKUP_POINT, country=country, pickup_point_id="PUDO-1")

    dispatched = book(uow, deps, order, packed(*kilos))

    assert chosen(dispatched) == expected


def test_heavy_orders_are_priced_parcel_by_parcel(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    dispatched = book(uow, deps, placed(), packed(25, 15))

    assert (dispatched.carrier, dispatched.cost.amount) == ("DHL", 1899 + 1499)


def test_a_parcel_no_carrier_takes_is_a_permanent_error(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    on_order_placed(placed(), uow, **deps)

    with pytest.raises(PermanentError, match="no carrier service takes parcels of 40 kg to DE"):
        on_fulfillment_packed(packed(40), uow, **deps)


def test_the_domestic_zone_is_the_warehouse_country_from_the_environment(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_SHIPPING_WAREHOUSE_COUNTRY", "AT")
    service = worker.bootstrap(clock)
    uow = ShippingUnitOfWork(session_for(service))

    list(service.handlers[OrderPlaced](placed(country="AT"), uow))
    dispatched, *_ = service.handlers[FulfillmentPacked](packed(1.2), uow)

    assert isinstance(dispatched, ShipmentDispatched)
    assert (dispatched.carrier, dispatched.cost.amount) == ("DPD", 529)


# -- tracking -----------------------------------------------------------------------------


def test_the_first_scan_puts_the_shipment_in_transit(
    uow: ShippingUnitOfWork, deps: dict[str, Any], clock: ManualClock
) -> None:
    tracking = book(uow, deps, placed(), packed()).tracking_number
    update = scan(TrackingStatus.IN_TRANSIT, tracking, clock.now())

    assert on_carrier_tracking_update(update, uow) == [
        ShipmentInTransit(order_id="ord-1", shipment_id="shp-ord-1", tracking_number=tracking)
    ]
    assert on_carrier_tracking_update(update, uow) == []


def test_delivery_is_announced_once_at_the_carriers_time(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    tracking = book(uow, deps, placed(), packed()).tracking_number
    at = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)

    # the carrier may skip the in-transit scan
    [delivered] = on_carrier_tracking_update(scan(TrackingStatus.DELIVERED, tracking, at), uow)

    assert isinstance(delivered, ShipmentDelivered)
    assert delivered.delivered_at == at
    assert on_carrier_tracking_update(scan(TrackingStatus.DELIVERED, tracking, at), uow) == []
    assert status_of(uow) == ShipmentStatus.DELIVERED


def test_a_scan_that_would_move_the_shipment_back_changes_nothing(
    uow: ShippingUnitOfWork, deps: dict[str, Any], clock: ManualClock
) -> None:
    tracking = book(uow, deps, placed(), packed()).tracking_number
    on_carrier_tracking_update(scan(TrackingStatus.DELIVERED, tracking, clock.now()), uow)

    late = scan(TrackingStatus.IN_TRANSIT, tracking, clock.now())

    assert on_carrier_tracking_update(late, uow) == []
    assert status_of(uow) == ShipmentStatus.DELIVERED


def test_a_failed_delivery_is_announced_and_ends_the_shipment(
    uow: ShippingUnitOfWork, deps: dict[str, Any], clock: ManualClock
) -> None:
    tracking = book(uow, deps, placed(), packed()).tracking_number
    on_carrier_tracking_update(scan(TrackingStatus.IN_TRANSIT, tracking, clock.now()), uow)

    [failed] = on_carrier_tracking_update(
        scan(TrackingStatus.DELIVERY_FAILED, tracking, clock.now()), uow
    )

    assert failed == ShipmentDeliveryFailed(
        order_id="ord-1", shipment_id="shp-ord-1", tracking_number=tracking, failed_at=clock.now()
    )
    assert (
        on_carrier_tracking_update(scan(TrackingStatus.DELIVERED, tracking, clock.now()), uow) == []
    )


def test_an_unknown_tracking_number_is_a_permanent_error(uow: ShippingUnitOfWork) -> None:
    update = scan(TrackingStatus.DELIVERED, "DHL0000", datetime(2026, 3, 3, tzinfo=UTC))

    with pytest.raises(PermanentError, match="no shipment has tracking number 'DHL0000'"):
        on_carrier_tracking_update(update, uow)


def test_the_simulated_carriers_scans_take_the_shipment_to_delivery(
    uow: ShippingUnitOfWork, deps: dict[str, Any]
) -> None:
    on_order_placed(placed(), uow, **deps)
    scans = scans_in(on_fulfillment_packed(packed(), uow, **deps))

    announced = [on_carrier_tracking_update(update, uow) for update, _due in scans]

    assert [type(message) for [message] in announced] == [ShipmentInTransit, ShipmentDelivered]
    assert status_of(uow) == ShipmentStatus.DELIVERED


def test_a_retried_booking_gets_the_same_tracking_number(deps: dict[str, Any]) -> None:
    carrier: SimulatedCarrier = deps["carrier"]
    request = BookingRequest(
        shipment_id="shp-ord-1",
        order_id="ord-1",
        carrier="DHL",
        service="paket",
        transit_days=2,
        address=placed().delivery.address,
        pickup_point_id=None,
        parcels=packed().parcels,
    )

    booking = carrier.book(request)

    assert re.fullmatch(r"DHL\d{16}", booking.tracking_number)
    assert carrier.book(request).tracking_number == booking.tracking_number
    other = carrier.book(replace(request, shipment_id="shp-ord-2", order_id="ord-2"))
    assert other.tracking_number != booking.tracking_number


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
    service = worker.bootstrap(clock, SETTINGS)
    session = session_for(service)
    counter = count_queries(session)
    orders = [f"ord-{n}" for n in range(20)]
    halves: list[Message] = [placed(order_id=order) for order in orders]
    halves += [packed(order_id=order) for order in orders]

    booked, booking_selects = handle_batch(service, session, halves, counter)
    scans: list[Message] = [update for update, _due in scans_in(booked)]
    announced, tracking_selects = handle_batch(service, session, scans, counter)

    assert [type(m) for m in booked if not isinstance(m, Scheduled)] == [ShipmentDispatched] * 20
    assert [type(m) for m in announced] == [ShipmentInTransit, ShipmentDelivered] * 20
    assert statuses(session) == dict.fromkeys(orders, ShipmentStatus.DELIVERED)
    assert (booking_selects, tracking_selects) == (1, 1)


def test_scans_whose_reference_is_wrong_are_matched_by_tracking_number_in_one_more_select(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    service = worker.bootstrap(clock, SETTINGS)
    session = session_for(service)
    counter = count_queries(session)
    orders = [f"ord-{n}" for n in range(20)]
    halves: list[Message] = [placed(order_id=order) for order in orders]
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
