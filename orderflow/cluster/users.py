"""The broker users orderflow needs, read from the code: one per worker (sending what its
bootstrap ``publishes``), one per sales channel (``order.submit`` only) and one for the operator.

Who sends the other commands (``SENDERS`` in ``orderflow/export/choreography.py``): customer service
(``order.cancel``, ``order.change_address``, ``return.request``, ``resend.request``), warehouse
staff (``stock.receive``, ``stock.count``, ``return.receive``), reviewers (``order.review``) and a
bank's notification typed in (``payment.notification``) all come through the ``orderflow`` CLI, so
the operator user sends them; never a channel, whose user could otherwise cancel or redirect any
channel's orders. Carriers' tracking updates are scheduled inside shipping and cross no broker. The
operator also relays what its actions on a worker's data announce (``OPERATOR_ANNOUNCES``) and
replays parked messages of any type: give its password to people, not to programs. A ``monitoring``
user (KEDA, dashboards) may look but touch nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.brokers import ANY_TYPE, OPERATOR, Senders, channel_user, user_name
from shared.contracts import (
    CarrierTrackingUpdate,
    Message,
    OrderCancel,
    OrderChangeAddress,
    OrderReview,
    OrderSubmit,
    PaymentNotification,
    ResendRequest,
    ReturnReceive,
    ReturnRequest,
    StockCount,
    StockItemListed,
    StockReceive,
)
from shared.settings import Settings

from .registry import NAMES, publishes

MONITORING = "monitoring"
"""Who only looks: KEDA counting a queue's messages (a passive declare), the management UI's
read-only views (its ``monitoring`` tag). It may use no queue or exchange and send nothing."""
SENDERS: dict[str, tuple[type[Message], ...]] = {
    "sales channels": (OrderSubmit,),
    "customer service": (OrderCancel, OrderChangeAddress, ReturnRequest, ResendRequest),
    "warehouse staff": (StockReceive, StockCount, ReturnReceive),
    "reviewers": (OrderReview,),
    "banks": (PaymentNotification,),
    "carriers": (CarrierTrackingUpdate,),
}
"""Who sends each command into orderflow, in the contracts' own words. The ``orderflow`` CLI can
stand in for each of them but the carriers, whose scans shipping's simulated carrier schedules."""
CHANNEL_SENDS: frozenset[type[Message]] = frozenset(SENDERS["sales channels"])
OPERATOR_SENDS: frozenset[type[Message]] = frozenset(
    contract
    for sender in ("customer service", "warehouse staff", "reviewers", "banks")
    for contract in SENDERS[sender]
)
"""The commands the CLI sends for customer service, warehouse staff, reviewers and banks."""
OPERATOR_ANNOUNCES: frozenset[type[Message]] = frozenset({StockItemListed})
"""What the operator's actions on a worker's data announce (``services/stock/admin.py``), which
the CLI relays at once; a type missing here is refused by the broker and goes out with that
worker's next outbox sweep instead."""


@dataclass(frozen=True)
class BrokerUser:
    name: str
    who: str
    """The worker's name, ``channel-<name>`` or ``operator``."""
    sends: frozenset[type[Message]]
    """What it may publish (topic permissions)."""
    worker: str | None = None
    channel: str | None = None

    @property
    def operator(self) -> bool:
        return self.who == OPERATOR

    @property
    def monitoring(self) -> bool:
        return self.who == MONITORING


def broker_users(settings: Settings) -> list[BrokerUser]:
    prefix = settings.broker_user_prefix
    users = [BrokerUser(user_name(prefix, w), w, publishes(w), worker=w) for w in NAMES]
    users += [
        BrokerUser(channel_user(prefix, c), f"channel-{c}", CHANNEL_SENDS, channel=c)
        for c in settings.channels
    ]
    operator_sends = OPERATOR_SENDS | OPERATOR_ANNOUNCES
    users.append(BrokerUser(user_name(prefix, OPERATOR), OPERATOR, operator_sends))
    users.append(BrokerUser(user_name(prefix, MONITORING), MONITORING, frozenset()))
    return users


def senders(settings: Settings) -> Senders:
    """Who may send which message type, by broker user, for the workers' check: the operator
    anything, since a parking-lot replay may be of any type."""
    return Senders(
        {
            user.name: ANY_TYPE if user.operator else frozenset(c.type for c in user.sends)
            for user in broker_users(settings)
        },
        channel_prefix=channel_user(settings.broker_user_prefix, ""),
        channel_sends=frozenset(c.type for c in CHANNEL_SENDS),
    )
