"""A batch of deliveries from the worker's queue: each opened (what cannot be handled is parked
with its reason), handled in one transaction, the parked published, then all acked at once."""

from __future__ import annotations

from dataclasses import dataclass

from kombu.message import Message as Delivery

from shared import tracing
from shared.binary_mode import is_binary, open_message
from shared.brokers import Senders
from shared.clock import Clock
from shared.crash import CrashPoints
from shared.envelope import CONTENT_TYPE_FIELD, InvalidMessage, content_type_problem
from shared.failures import Failures
from shared.inbound import Inbound, Parked, ParkKind, UnknownType, admit, origin_of
from shared.messaging import BrokerLink
from shared.publisher import Publisher
from shared.service import Service
from shared.transaction import BatchTransaction


@dataclass(eq=False)
class Deliveries:
    service: Service
    max_message_bytes: int
    link: BrokerLink
    transaction: BatchTransaction
    failures: Failures
    publisher: Publisher
    crash: CrashPoints
    clock: Clock
    senders: Senders | None = None
    """Who may send what, when the worker verifies publishers (``shared.brokers``)."""

    def handle(self, deliveries: list[Delivery]) -> int:
        """Handle, park and ack ``deliveries``; returns how many were handled. In an outage
        they go back to the link's buffer, to be tried again after the loop's pause."""
        self.crash.reach("after_receive")
        items: list[Inbound] = []
        parked: list[Parked] = []
        for delivery in deliveries:
            item = self._open(delivery, parked)
            if item is not None:
                items.append(item)
        try:
            parked += self.failures.one_by_one_if_failing(items, self.transaction.run)
            self.publisher.park(parked, self.clock.now())
        except Exception:
            self.link.buffer[:0] = deliveries  # tried again after the pause (dropped on reconnect)
            raise
        self.link.ack(deliveries)
        return len(items)

    def _open(self, delivery: Delivery, parked: list[Parked]) -> Inbound | None:
        """The delivery to handle, or None when it is parked: malformed (its reason names a
        wrong content type too), forged (sent by a broker user that may not send its type, when
        the worker verifies publishers), of a type this worker does not handle, or invalid (a
        wrong content type included) where the service has no invalid-message handler for it."""
        content_type = delivery.content_type
        try:
            opened = open_message(
                delivery.body, content_type, delivery.headers, self.max_message_bytes
            )
            opened.envelope.travels_with(tracing.carried(delivery.headers))
        except InvalidMessage as problem:
            binary = is_binary(content_type, delivery.headers)
            wrong_type = None if binary else content_type_problem(content_type)
            reason = f"{CONTENT_TYPE_FIELD}: {wrong_type}; " if wrong_type else ""
            parked.append(Parked.delivery(delivery, reason + problem.reason, ParkKind.MALFORMED))
            return None
        if self.senders is not None:
            user_id = (delivery.properties or {}).get("user_id")
            envelope = opened.envelope
            forged = self.senders.problem(user_id, envelope.type, envelope.data)
            if forged is not None:
                parked.append(Parked.delivery(delivery, forged, ParkKind.FORGED))
                return None
        try:
            return admit(
                self.service,
                opened.envelope,
                opened.content_type,
                delivery=delivery,
                origin=origin_of(delivery),
            )
        except UnknownType as problem:
            parked.append(Parked.delivery(delivery, problem.reason, ParkKind.UNKNOWN_TYPE))
        except InvalidMessage as problem:
            parked.append(Parked.delivery(delivery, problem.reason, ParkKind.INVALID))
        return None
