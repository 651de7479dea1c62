"""An operator action announces through the worker's outbox, on both transports: relayed at once
from the CLI's own process on RabbitMQ; left to the worker's outbox sweep where the relay fails,
or where it cannot reach the workers at all (memory:// belongs to the workers' process)."""

from __future__ import annotations

from datetime import timedelta

from kombu.simple import SimpleQueue

from orderflow.operator.operations import set_stock
from services.stock.admin import set_level
from shared.actions import operate
from shared.clock import SystemClock
from shared.envelope import Envelope
from shared.settings import Settings
from shared.worker import Worker
from tests.integration.helpers import received


def backlog(worker: Worker) -> int:
    assert worker.sessions is not None
    with worker.sessions() as session:
        return worker.tables.outbox.backlog(session)


def listed(events: SimpleQueue, worker: Worker) -> list[Envelope]:
    return [Envelope.model_validate_json(body) for body, _ in received(events, worker, 1)]


def test_stock_set_announces_the_sku_at_once_on_rabbitmq_and_through_the_sweep_on_memory(
    settings: Settings, worker: Worker, events: SimpleQueue
) -> None:
    item = set_stock(settings, "LAMP-NEW", 3, "F-01-01", 900)

    assert (item.sku, item.on_hand) == ("LAMP-NEW", 3)
    if settings.on_real_broker:
        assert backlog(worker) == 0  # published and marked by the CLI's relay
    else:
        assert backlog(worker) == 1  # nobody in this process could hear it: the sweep will
        worker.sweep_outbox(timedelta(0))
    [announced] = listed(events, worker)
    assert (announced.type, announced.subject, announced.source) == (
        "stock.item_listed",
        "sku:LAMP-NEW",
        "stock",
    )
    assert announced.data == {"sku": "LAMP-NEW"}
    assert backlog(worker) == 0


def test_an_announcement_the_relay_could_not_send_is_published_by_the_sweep(
    worker: Worker, events: SimpleQueue
) -> None:
    assert worker.sessions is not None
    clock = SystemClock()

    item = operate(
        worker.service,
        worker.sessions,
        lambda uow: set_level(uow, "LAMP-NEW", 2, clock.now()),
        lambda envelopes: False,  # the broker was away
        clock,
    )

    assert item.on_hand == 2 and backlog(worker) == 1
    worker.sweep_outbox(timedelta(0))
    [announced] = listed(events, worker)
    assert announced.subject == "sku:LAMP-NEW" and backlog(worker) == 0


def test_the_worker_relays_an_action_of_its_own_process_through_its_link(
    worker: Worker, events: SimpleQueue
) -> None:
    item = worker.operate(lambda uow: set_level(uow, "LAMP-NEW", 4, SystemClock().now()))

    assert backlog(worker) == 0  # published and marked at once, before any poll or sweep
    [announced] = listed(events, worker)
    assert (item.on_hand, announced.subject) == (4, "sku:LAMP-NEW")
