"""What a worker sends: its committed announcements (the relay's without waiting for the broker's
confirms, an operator action's with one wait), each on its own and the business events again in
batches (``shared.event_batches``), and the messages it parks, with the reason in their
headers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from shared import metrics, tracing
from shared.contracts import contract_for
from shared.crash import CrashPoints
from shared.envelope import Envelope
from shared.event_batches import batches
from shared.inbound import Parked
from shared.log_events import error_text, log_parked
from shared.logs import get_logger
from shared.messaging import BrokerLink, LinkDown, Outgoing
from shared.topology import Topology, channel_headers

log = get_logger("orderflow.worker")


class Publisher:
    def __init__(
        self,
        worker: str,
        link: BrokerLink,
        topology: Topology,
        crash: CrashPoints,
        user_id: str = "",
    ) -> None:
        self.worker = worker
        self.link = link
        self.topology = topology
        self.crash = crash
        self.signed = {"user_id": user_id} if user_id else {}
        """The AMQP ``user_id`` on every publish: the broker user the link connects as, which
        RabbitMQ checks and consumers look up (``shared.brokers``)."""

    def announce(self, envelopes: Sequence[Envelope]) -> bool:
        """Publish committed outbox rows and wait for the broker's confirms; False if the
        broker failed (the outbox keeps them for the sweep, and the next use of the link finds
        out what is wrong with it)."""
        if self.send(envelopes) is None:
            return False
        try:
            self.link.confirm()
        except Exception as error:
            self._failed(envelopes, error)
            return False
        self.count(envelopes)
        return True

    def send(self, envelopes: Sequence[Envelope]) -> int | None:
        """Publish committed outbox rows without waiting: their last publish number (see
        ``BrokerLink.confirmed_through``), or None if the broker failed."""
        try:
            last = self.link.send(self.outgoings(envelopes))
            self.crash.reach("after_publish")
        except Exception as error:
            self._failed(envelopes, error)
            return None
        return last

    def count(self, envelopes: Sequence[Envelope]) -> None:
        """Count ``envelopes`` as published, once the broker confirmed them."""
        for envelope in envelopes:
            metrics.PUBLISHED.labels(self.worker, envelope.type).inc()

    def _failed(self, envelopes: Sequence[Envelope], error: Exception) -> None:
        log.warning(
            "publishing failed; the outbox keeps them",
            worker=self.worker,
            messages=len(envelopes),
            error_type=type(error).__name__,
            error=error_text(error),
            exc_info=not isinstance(error, LinkDown),
        )

    def republish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish rows the outbox sweep found, raising if the broker fails."""
        self.link.publish_confirmed(self.outgoings(envelopes))

    def park(self, parked: Sequence[Parked], now: datetime) -> None:
        if not parked:
            return
        copies = [p.outgoing(self.topology, self.worker, n, now) for n, p in enumerate(parked)]
        self.link.publish_confirmed(
            [replace(c, properties={**c.properties, **self.signed}) for c in copies]
        )
        for p in parked:
            metrics.PARKED.labels(self.worker, p.kind).inc()
            with tracing.resumed(tracing.carried(p.sent.headers)):  # the line in its trace
                log_parked(self.worker, [p])

    def outgoings(self, envelopes: Sequence[Envelope]) -> list[Outgoing]:
        """Each of ``envelopes`` on its own, then the batches of its business events (if the
        topology publishes them): the relay marks a row published once all are confirmed."""
        alone = [self.outgoing(e) for e in envelopes]
        if not self.topology.publish_batches:
            return alone
        return alone + batches(self.topology, envelopes, self.signed)

    def outgoing(self, envelope: Envelope) -> Outgoing:
        contract = contract_for(envelope.type)
        return Outgoing(
            body=envelope.encode(),
            exchange=self.topology.exchange_for(contract) if contract else self.topology.events,
            routing_key=envelope.type,
            message_id=envelope.id,
            correlation_id=envelope.correlationid,
            headers={
                **channel_headers(envelope.type, envelope.data),
                **tracing.headers(envelope.trace),
            },
            properties=self.signed,
        )
