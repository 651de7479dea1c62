"""What traces cost a worker per message, with no exporter and with one (``shared.tracing``).

    .venv/bin/python -m bench.tracing              # both parts
    .venv/bin/python -m bench.tracing --micro      # only the calls tracing adds, timed alone

1. **The calls tracing adds**, timed alone (``timeit``), for one delivered message that announces
   one: its context read from the headers, its handling in a span (or, with no exporter, in its
   context), the context kept with the announcement (the outbox row's columns) and put in the
   publish's headers. In a batch of one (the worst case: the batch's own cost falls on one
   message) and of 50.
2. **A stock worker** on kombu's memory transport and SQLite handling ``order.placed`` messages
   (each reserves stock and announces ``stock.reserved``): process CPU per message, the best of
   a few rounds, with no exporter, and with spans exported through a ``BatchSpanProcessor`` to an
   exporter that drops them (everything but the network). Its ``--baseline`` run does without
   traces altogether, on a checkout from before them:
   ``PYTHONPATH=<that checkout> .venv/bin/python bench/tracing.py --baseline``.

It needs no broker and no database server, and takes about half a minute.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kombu import Connection, Queue
from kombu.message import Message as Delivery

from services.stock import bootstrap as stock
from services.stock.admin import set_level
from services.stock.store import StockUnitOfWork
from shared.clock import SystemClock
from shared.envelope import Envelope, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.worker import Worker
from tests.factories import order_placed
from tests.support import memory_settings

HEADERS = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


def exported(worker: str) -> None:
    """Spans of ``worker`` made and handed to a ``BatchSpanProcessor`` whose exporter drops
    them."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from shared import tracing

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    tracing.install(worker, provider)


# -- 1. the calls alone ------------------------------------------------------------------------


def added_calls(batch: int) -> Callable[[], None]:
    """One batch of ``batch`` messages, each announcing one, doing only what tracing adds."""
    from shared import tracing
    from shared.inbound import Inbound
    from shared.outbox import trace_values

    envelopes = [wrap(order_placed(f"ord-{n}"), source="intake") for n in range(batch)]
    deliveries = [
        Delivery(
            body=e.encode(),
            delivery_info={"exchange": "ns.events", "routing_key": e.type},
            headers=dict(HEADERS),
        )
        for e in envelopes
    ]
    items = [Inbound(e, delivery=d) for e, d in zip(envelopes, deliveries, strict=True)]
    announced = [wrap(order_placed(f"ord-{n}"), source="stock") for n in range(batch)]

    def run() -> None:
        for envelope, delivery in zip(envelopes, deliveries, strict=True):
            envelope.travels_with(tracing.carried(delivery.headers))
        with tracing.batch("stock") as spans:
            for item, announcement in zip(items, announced, strict=True):
                with spans.handling(item) as trace:
                    pass
                announcement.travels_with(trace)
                trace_values(announcement)
        for announcement in announced:
            tracing.headers(announcement.trace)

    return run


def micro() -> dict[str, float]:
    """µs of CPU per message that tracing adds, by batch size, without and with export."""
    from shared import tracing

    found = {}
    for mode in ("off", "on"):
        if mode == "on":
            exported("stock")
        for batch in (1, 50):
            run = added_calls(batch)
            rounds = max(20_000 // batch, 200)
            best = min(timeit.repeat(run, number=rounds, repeat=5))
            found[f"{mode}_batch{batch}_us"] = best / rounds / batch * 1e6
        tracing.stop("stock")
    return found


# -- 2. a worker -------------------------------------------------------------------------------


def worker_cpu(mode: str, messages: int, rounds: int) -> float:
    """µs of process CPU per ``order.placed`` a stock worker handles, the best of ``rounds``."""
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-tracing-") as workdir:
        settings = memory_settings(f"benchtr{uuid.uuid4().hex[:8]}", Path(workdir))
        worker = Worker(stock.bootstrap(), settings)
        worker.start()
        if mode == "on":
            exported("stock")
        try:
            assert worker.sessions is not None
            with worker.sessions() as session, session.begin():
                uow = StockUnitOfWork(session)
                set_level(uow, "MUG-BLUE", 10**9, SystemClock().now(), "A-01-02", 350)
            sender = BrokerLink(settings.broker_url)
            sender.connect()
            probe = Queue(f"{settings.namespace}.probe", worker.topology.events, "stock.#")
            with Connection(settings.broker_url) as connection:
                probe(connection.default_channel).declare()
                best = min(
                    _round(worker, sender, connection, probe, messages) for _ in range(rounds)
                )
            sender.close()
        finally:
            worker.close()
    return best


def _round(
    worker: Worker, sender: BrokerLink, connection: Connection, probe: Queue, messages: int
) -> float:
    causes = [order_placed(f"ord-{uuid.uuid4().hex}") for _ in range(messages)]
    sender.publish_confirmed([_outgoing(worker, wrap(c, source="intake")) for c in causes])
    started = time.process_time()
    while worker.poll(0):
        pass
    spent = time.process_time() - started
    connection.default_channel.queue_purge(probe.name)
    return spent / messages * 1e6


def _outgoing(worker: Worker, envelope: Envelope) -> Outgoing:
    return Outgoing(
        body=envelope.encode(),
        exchange=worker.topology.events,
        routing_key=envelope.type,
        message_id=envelope.id,
        headers=dict(HEADERS),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro", action="store_true", help="only the calls alone")
    parser.add_argument("--baseline", action="store_true", help="a checkout without traces")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    if options.baseline:
        print(f"worker_baseline_us: {worker_cpu('off', options.messages, options.rounds):.1f}")
        return
    for name, value in micro().items():
        print(f"{name}: {value:.2f}")
    if not options.micro:
        for mode in ("off", "on"):
            cpu = worker_cpu(mode, options.messages, options.rounds)
            print(f"worker_{mode}_us: {cpu:.1f}")


if __name__ == "__main__":
    main()
