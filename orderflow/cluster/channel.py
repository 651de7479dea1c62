"""What an upstream sales channel does: put an ``order.submit`` command on the commands exchange."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared import tracing
from shared.brokers import signed
from shared.envelope import Envelope, new_message_id
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology


def submit_envelope(order: Mapping[str, Any], message_id: str | None = None) -> Envelope:
    """Wrap a channel's order as it is; intake, not the channel, decides whether it is valid."""
    channel = str(order.get("channel") or "unknown")
    subject = f"{channel}:{order.get('external_id') or 'unknown'}"
    return Envelope(
        id=message_id or new_message_id(),
        type="order.submit",
        source=f"channel.{channel}",
        subject=subject,
        time=datetime.now(UTC),
        correlationid=subject,
        data=dict(order),
    )


class ChannelPublisher:
    """Publishes commands with publisher confirms, as a well-behaved channel would."""

    def __init__(self, settings: Settings) -> None:
        self.topology = Topology(
            settings.namespace, settings.use_quorum_queues, settings.delivery_limit
        )
        self.link = BrokerLink(settings.broker_url, heartbeat=0)
        """As whoever ``ORDERFLOW_BROKER_URL`` names: a channel's broker user, where there are."""
        self.signed = signed(self.link)

    def __enter__(self) -> ChannelPublisher:
        self.link.connect()
        self.link.declare([self.topology.commands, self.topology.events])
        return self

    def __exit__(self, *_: object) -> None:
        self.link.close()

    def send(self, envelopes: Sequence[Envelope]) -> None:
        """Publish commands (order submissions or any other) with one confirm wait, each with
        the trace context it travels with, or a new trace's: the order's trace starts here."""
        self.link.publish_confirmed(
            [
                Outgoing(
                    body=e.encode(),
                    exchange=self.topology.commands,
                    routing_key=e.type,
                    message_id=e.id,
                    correlation_id=e.correlationid,
                    properties=self.signed,
                    headers=tracing.headers(e.trace),
                )
                for e in envelopes
            ]
        )
