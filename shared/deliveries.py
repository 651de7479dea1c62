"""A batch of deliveries from the worker's queue: each opened (what cannot be handled is parked
with its reason; a batch of events, ``shared.event_batches``, event by event), handled in one
transaction, the parked published, then all acked at once."""

from __future__ import annotations

from dataclasses import dataclass

from kombu.message import Message as Delivery

from shared import metrics, tracing
from shared.binary_mode import is_binary, open_message
from shared.brokers import Senders
from shared.clock import Clock
from shared.crash import CrashPoints
from shared.envelope import CONTENT_TYPE, CONTENT_TYPE_FIELD, InvalidMessage, content_type_problem
from shared.event_batches import Line, is_batch, lines
from shared.failures import Failures
from shared.inbound import Inbound, Parked, ParkKind, UnknownType, admit, body_of, origin_of
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
            items += self._open(delivery, parked)
        try:
            parked += self.failures.one_by_one_if_failing(items, self.transaction.run)
            self.publisher.park(parked, self.clock.now())
        except Exception:
            self.link.buffer[:0] = deliveries  # tried again after the pause (dropped on reconnect)
            raise
        self.link.ack(deliveries)
        metrics.DELIVERIES.labels(self.service.name).inc(len(deliveries))
        return len(items)

    def _open(self, delivery: Delivery, parked: list[Parked]) -> list[Inbound]:
        """What to handle of a delivery: itself, or each event of a batch
        (``shared.event_batches``); a batch whose lines do not match its headers is parked
        whole."""
        if not is_batch(delivery.content_type, delivery.headers):
            item = self._open_one(delivery, parked)
            return [] if item is None else [item]
        try:
            found = lines(body_of(delivery), delivery.headers)
        except InvalidMessage as problem:
            parked.append(Parked.delivery(delivery, problem.reason, ParkKind.MALFORMED))
            return []
        opened = (self._open_one(delivery, parked, line) for line in found)
        return [item for item in opened if item is not None]

    def _open_one(
        self, delivery: Delivery, parked: list[Parked], line: Line | None = None
    ) -> Inbound | None:
        """The delivery (or its ``line`` of a batch) to handle, or None when it is parked:
        malformed (its reason names a wrong content type too), forged (sent by a broker user
        that may not send its type, when the worker verifies publishers), of a type this worker
        does not handle, or invalid (a wrong content type included) where the service has no
        invalid-message handler for it."""
        if line is None:
            body, content_type, headers = delivery.body, delivery.content_type, delivery.headers
        else:
            body, content_type, headers = line.body, CONTENT_TYPE, line.headers

        def park(reason: str, kind: ParkKind) -> None:
            parked.append(Parked.delivery(delivery, reason, kind, line))

        try:
            opened = open_message(body, content_type, headers, self.max_message_bytes)
            opened.envelope.travels_with(tracing.carried(headers))
        except InvalidMessage as problem:
            binary = is_binary(content_type, headers)
            wrong_type = None if binary else content_type_problem(content_type)
            reason = f"{CONTENT_TYPE_FIELD}: {wrong_type}; " if wrong_type else ""
            park(reason + problem.reason, ParkKind.MALFORMED)
            return None
        if self.senders is not None:
            user_id = (delivery.properties or {}).get("user_id")
            envelope = opened.envelope
            forged = self.senders.problem(user_id, envelope.type, envelope.data)
            if forged is not None:
                park(forged, ParkKind.FORGED)
                return None
        try:
            return admit(
                self.service,
                opened.envelope,
                opened.content_type,
                delivery=delivery,
                origin=origin_of(delivery),
                line=line,
            )
        except UnknownType as problem:
            park(problem.reason, ParkKind.UNKNOWN_TYPE)
        except InvalidMessage as problem:
            park(problem.reason, ParkKind.INVALID)
        return None
