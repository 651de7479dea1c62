"""Operator actions: changes to one worker's data made outside its handlers (``orderflow stock
set`` in the CLI's own process, the demo and the tests setting the scene).

Such a change announces what it changed as a handler's would: through the worker's outbox, in
the same transaction. The announcement is relayed at once (published with a confirm, then
marked published), so whatever a channel sends next already meets its effect: intake knows a SKU
as soon as ``stock set`` returns. Where the relay fails, or cannot reach the workers at all
(memory:// is each process's own), the row waits in the outbox and the worker's sweep publishes
it; the inbox of whoever receives it twice makes the second a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from shared import tracing
from shared.brokers import OPERATOR, user_of
from shared.clock import Clock
from shared.contracts import Message
from shared.crash import CrashPoints
from shared.envelope import Envelope, wrap
from shared.log_events import error_text
from shared.logs import get_logger
from shared.messaging import BrokerLink
from shared.publisher import Publisher
from shared.runtime_tables import RuntimeTables
from shared.service import Service
from shared.settings import Settings
from shared.topology import Topology

T = TypeVar("T")

Relay = Callable[[Sequence[Envelope]], bool]
"""Publishes committed announcements with a confirm; False if it could not (they wait)."""

log = get_logger("orderflow.actions")


@dataclass(frozen=True)
class Done(Generic[T]):
    """What an operator action returns: its result, and the messages it announces."""

    result: T
    announced: Sequence[Message] = ()


def operate(
    service: Service,
    sessions: sessionmaker[Session],
    action: Callable[[Any], Done[T]],
    relay: Relay,
    clock: Clock,
) -> T:
    """Run ``action`` on ``service``'s unit of work in one transaction with its announcements
    in the outbox; then relay them, and mark them published if the broker confirmed them."""
    outbox = RuntimeTables(service.metadata).outbox
    with sessions() as session, session.begin():
        done = action(service.unit_of_work(session))
        trace = tracing.started(service.name, "operator action") if done.announced else None
        envelopes = [
            wrap(m, source=service.name, now=clock.now(), trace=trace) for m in done.announced
        ]
        outbox.add(session, envelopes)
    if envelopes and relay(envelopes):
        try:
            with sessions() as session, session.begin():
                outbox.mark_published(session, [e.id for e in envelopes], clock.now())
        except Exception as error:
            log.warning(
                "published, left unmarked: sent again later",
                worker=service.name,
                error_type=type(error).__name__,
                error=error_text(error),
            )
    return done.result


class OutsideRelay:
    """Relays a worker's announcements from a process that is not the worker (the CLI), over a
    link of its own; on memory:// there is nobody here to hear them, so it leaves them to the
    worker's outbox sweep."""

    def __init__(self, worker: str, settings: Settings) -> None:
        self.worker = worker
        self.settings = settings

    def __call__(self, envelopes: Sequence[Envelope]) -> bool:
        if not self.settings.on_real_broker:
            return False
        s = self.settings
        topology = Topology(s.namespace, s.use_quorum_queues, s.delivery_limit)
        link = BrokerLink(s.broker_url_for(OPERATOR), heartbeat=0)
        publisher = Publisher(self.worker, link, topology, CrashPoints(None), user_of(link, ""))
        try:
            link.connect(retries=1)
            return publisher.announce(envelopes)
        except Exception as error:
            log.warning(
                "cannot relay now; the outbox sweep will",
                worker=self.worker,
                error_type=type(error).__name__,
                error=error_text(error),
            )
            return False
        finally:
            link.close()
