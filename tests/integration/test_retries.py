"""Delayed tries, on both transports: a message that keeps failing transiently while the database
answers is acked, kept in the timer table and tried again after each delay, then parked; one
effect whatever happens meanwhile.

The failing third party is a stand-in for a payment gateway that times out: stock's real handler
behind a wrapper that raises ``TransientError`` the first times it sees an order.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta

from kombu.simple import SimpleQueue

from services.stock import bootstrap as stock
from shared.contracts import OrderPlaced
from shared.envelope import Envelope, InvalidMessage
from shared.errors import TransientError
from shared.messaging import BrokerLink, Outgoing
from shared.service import Result, Service
from shared.settings import RetryPolicy
from shared.timers import TimerRow
from shared.topology import Topology
from shared.worker import Worker
from tests.integration.helpers import StartWorker, metric, placed, received, reserved, send
from tests.support import wait_until

FAST = {"timer_poll_seconds": 0.02}


def tries(*delays: float, attempts: int = 1) -> RetryPolicy:
    """``attempts`` in process, then a delayed try after each of ``delays``."""
    return RetryPolicy(handler_attempts=attempts, retry_delays_seconds=list(delays))


class TimingOut:
    """Stock's order.placed handler behind a gateway that times out ``failures`` times per order."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: Counter[str] = Counter()
        self.real = stock.bootstrap().handlers[OrderPlaced]

    def __call__(self, message: OrderPlaced, uow: object) -> Result:
        self.calls[message.order_id] += 1
        if self.calls[message.order_id] <= self.failures:
            raise TransientError(f"gateway timed out for {message.order_id} (test)")
        return self.real(message, uow)

    def service(self) -> Service:
        real = stock.bootstrap()
        return dataclasses.replace(real, handlers={**real.handlers, OrderPlaced: self})


def waiting(worker: Worker) -> list[TimerRow]:
    """The delayed tries the worker keeps, due or not."""
    assert worker.sessions is not None
    with worker.sessions() as session:
        later = worker.clock.now() + timedelta(days=1)
        return [r for r in worker.tables.timers.claim_due(session, later, 100) if r.retries]


def redeliveries() -> float:
    return metric("orderflow_redeliveries_total", worker="stock", type="order.placed")


def test_a_message_failing_twice_is_tried_later_and_has_one_effect(
    start_worker: StartWorker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    gateway = TimingOut(failures=2)
    worker = start_worker(gateway.service(), retry=tries(0.05, 0.05, 0.05), **FAST)
    before = redeliveries()

    send(sender, topology, placed("ord-flaky").encode())
    wait_until(lambda: bool(waiting(worker)), 10, step=lambda: worker.poll(0.05), what="a retry")

    [row] = waiting(worker)
    assert (row.envelope.subject, row.retries, row.attempts) == ("ord-flaky", 1, 1)
    assert row.origin.endswith("/order.placed")
    [(body, _)] = received(events, worker, 1)
    assert Envelope.model_validate_json(body).type == "stock.reserved"
    assert gateway.calls["ord-flaky"] == 3
    assert redeliveries() == before + 2
    assert reserved(worker) == 2
    assert waiting(worker) == []
    worker.poll(0.1)
    assert events.qsize() == 0


def test_a_duplicate_handled_meanwhile_makes_the_delayed_try_a_no_op(
    start_worker: StartWorker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    gateway = TimingOut(failures=1)
    worker = start_worker(gateway.service(), retry=tries(0.5), **FAST)
    envelope = placed("ord-twice")

    send(sender, topology, envelope.encode())
    wait_until(lambda: bool(waiting(worker)), 10, step=lambda: worker.poll(0.05), what="a retry")
    send(sender, topology, envelope.encode())
    received(events, worker, 1)

    wait_until(lambda: not waiting(worker), 10, step=lambda: worker.poll(0.05), what="the try")
    assert gateway.calls["ord-twice"] == 2
    assert reserved(worker) == 2
    worker.poll(0.1)
    assert events.qsize() == 0


def test_a_message_that_keeps_failing_is_parked_after_the_last_delay(
    start_worker: StartWorker, sender: BrokerLink, topology: Topology, parking: SimpleQueue
) -> None:
    gateway = TimingOut(failures=1_000)
    worker = start_worker(
        gateway.service(),
        retry=tries(0.05, 0.05, attempts=2),
        timer_poll_seconds=0.02,
    )
    envelope = placed("ord-hopeless")

    send(sender, topology, envelope.encode())
    [(body, headers)] = received(parking, worker, 1)

    assert Envelope.model_validate_json(body).id == envelope.id
    assert headers["x-orderflow-kind"] == "retries_exhausted"
    assert headers["x-orderflow-exception"] == "TransientError"
    assert "gateway timed out" in headers["x-orderflow-reason"]
    assert headers["x-orderflow-attempts"] == 6  # two in process, three times
    assert headers["x-orderflow-origin"].endswith("/order.placed")
    assert gateway.calls["ord-hopeless"] == 6
    assert waiting(worker) == []
    assert reserved(worker) == 0


def test_a_delivery_with_a_wrong_content_type_is_parked_rather_than_tried_later(
    start_worker: StartWorker, sender: BrokerLink, topology: Topology, parking: SimpleQueue
) -> None:
    """A delayed try keeps only the envelope: sent as application/xml, a message whose
    invalid-message handler keeps failing would come back as if sent right and be handled."""
    calls: list[str] = []

    def judge(envelope: Envelope, problem: InvalidMessage, uow: object) -> Result:
        calls.append(problem.reason)
        raise TransientError("the channel's registry timed out (test)")

    real = stock.bootstrap()
    worker = start_worker(dataclasses.replace(real, invalid_handlers={OrderPlaced: judge}), **FAST)
    envelope = placed("ord-xml")
    sender.publish_confirmed(
        [
            Outgoing(
                body=envelope.encode(),
                exchange=topology.events,
                routing_key="order.placed",
                message_id=envelope.id,
                content_type="application/xml",
            )
        ]
    )

    [(_, headers)] = received(parking, worker, 1)

    assert headers["x-orderflow-kind"] == "retries_exhausted"
    assert calls and all(reason.startswith("(content_type): application/xml") for reason in calls)
    assert waiting(worker) == []
    worker.poll(0.1)
    assert reserved(worker) == 0
