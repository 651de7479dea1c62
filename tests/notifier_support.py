"""For the notifier's tests: one valid event of every type it tells, and a real SMTP server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from shared.contracts import (
    Address,
    AftersalesRequestRefused,
    BackorderedLine,
    FulfillmentCancelRefused,
    InspectedLine,
    ItemQuantity,
    Money,
    OrderCancelled,
    OrderMessage,
    OrderRejected,
    PaymentMethod,
    PaymentPending,
    PaymentRefunded,
    PaymentReminder,
    Problem,
    ReplacementRequested,
    Resolution,
    ReturnAuthorized,
    ReturnExpired,
    ReturnReceived,
    ShipmentAddressChanged,
    ShipmentAddressChangeRefused,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentReturned,
    StockBackordered,
    case_id_for,
)
from tests.factories import order_placed

AT = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
EUR = "EUR"


def every_event(order_id: str = "ord-1") -> dict[str, OrderMessage]:
    """One event of each type the notifier tells the customer about, by type. All are about the
    order, but for replacement.requested, which is about its replacement: ``replacement_of``."""
    events: list[OrderMessage] = [
        order_placed(order_id, expected_delivery=date(2026, 3, 7)),
        OrderRejected(
            order_id=order_id,
            channel="web",
            external_id="WEB-1001",
            problems=[Problem(field="currency", message="USD is not accepted")],
            customer=order_placed().customer,
        ),
        OrderCancelled(order_id=order_id, reason="out_of_stock"),
        StockBackordered(
            order_id=order_id,
            lines=[
                BackorderedLine(
                    sku="MUG-BLUE",
                    quantity=2,
                    purchase_order_id="po-1",
                    expected_on=date(2026, 3, 9),
                )
            ],
            expected_on=date(2026, 3, 9),
            expires_on=date(2026, 3, 23),
        ),
        PaymentPending(
            order_id=order_id,
            payment_id="pay-1",
            method=PaymentMethod.BANK_TRANSFER,
            amount_due=Money(amount=2995, currency=EUR),
            received=Money(amount=0, currency=EUR),
            deadline=datetime(2026, 3, 9, 9, 0, tzinfo=UTC),
            reference="pay-1",
        ),
        PaymentReminder(
            order_id=order_id,
            payment_id="pay-1",
            number=1,
            balance=Money(amount=2995, currency=EUR),
            deadline=datetime(2026, 3, 9, 9, 0, tzinfo=UTC),
            reference="pay-1",
        ),
        PaymentRefunded(
            order_id=order_id,
            payment_id="pay-1",
            refund_id="rf_pay-1:cancelled",
            amount=Money(amount=2995, currency=EUR),
            reason="cancelled",
        ),
        FulfillmentCancelRefused(order_id=order_id, reason="already_dispatched"),
        ShipmentDispatched(
            order_id=order_id,
            shipment_id="shp-1",
            carrier="DHL",
            service="express",
            tracking_number="TRK-shp-1",
            expected_delivery=date(2026, 3, 5),
            cost=Money(amount=590, currency=EUR),
        ),
        ShipmentDelivered(
            order_id=order_id, shipment_id="shp-1", tracking_number="TRK-shp-1", delivered_at=AT
        ),
        ShipmentDeliveryFailed(
            order_id=order_id, shipment_id="shp-1", tracking_number="TRK-shp-1", failed_at=AT
        ),
        ShipmentReturned(
            order_id=order_id,
            shipment_id="shp-1",
            tracking_number="TRK-shp-1",
            returned_at=AT,
            attempts=3,
        ),
        ShipmentAddressChanged(
            order_id=order_id,
            address=Address(
                line1="2 Side St", line2="Flat 3", city="Hamburg", postal_code="20095", country="DE"
            ),
        ),
        ShipmentAddressChangeRefused(order_id=order_id, reason="already_dispatched"),
        AftersalesRequestRefused(
            order_id=order_id,
            request_id="req-1",
            request="return",
            reason="window_closed",
            detail=f"the return window of order {order_id} closed on 2026-03-18",
        ),
        ReturnAuthorized(
            order_id=order_id,
            rma=case_id_for(order_id, 1),
            request_id="req-2",
            resolution=Resolution.REFUND,
            lines=[ItemQuantity(sku="MUG-BLUE", quantity=2)],
            reason="too small",
            send_by=datetime(2026, 3, 18, 15, 30, tzinfo=UTC),
        ),
        ReturnReceived(
            order_id=order_id,
            rma=case_id_for(order_id, 1),
            resolution=Resolution.REFUND,
            lines=[InspectedLine(sku="MUG-BLUE", resellable=1, damaged=1)],
            refund=Money(amount=1875, currency=EUR),
        ),
        ReturnExpired(order_id=order_id, rma=case_id_for(order_id, 2)),
        ReplacementRequested(
            order_id=replacement_of(order_id),
            replaces_order=order_id,
            request="resend",
            lines=[ItemQuantity(sku="MUG-BLUE", quantity=1)],
            customer=order_placed().customer,
            delivery=order_placed().delivery,
            reason="one mug was missing from the parcel",
        ),
    ]
    return {event.type: event for event in events}


def replacement_of(order_id: str = "ord-1") -> str:
    """The id of the replacement in ``every_event``: the case id of the order's third case."""
    return case_id_for(order_id, 3)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class MailServer:
    """What a real SMTP server (aiosmtpd) received; it refuses or defers the addresses told."""

    port: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    deferred: set[str] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    """The client connection (its address and port) each received e-mail came over."""
    closing: bool = False
    """Answer 421 (service not available, closing) to every sender, as a server going down
    or over its connection limit does."""
    turned_away: int = 0
    """How many senders it answered 421: the tries it saw while closing."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 <" + address + ">: mailbox unavailable"
        if address in self.deferred:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.closing:
            self.turned_away += 1
            return "421 4.3.2 service not available, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult

        ok = (auth_data.login, auth_data.password) == (b"orderflow", b"s3cret")
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for message in self.received]


@contextmanager
def mail_server(port: int | None = None, login: bool = False) -> Iterator[MailServer]:
    """A real SMTP server on a free localhost port, for the length of the block; with ``login``
    it offers AUTH (without TLS) and takes orderflow / s3cret."""
    server = MailServer(port=port or free_port())
    options: dict[str, Any] = {}
    if login:
        options = {"authenticator": server.authenticate, "auth_require_tls": False}
    controller = Controller(server, hostname="127.0.0.1", port=server.port, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
