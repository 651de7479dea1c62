"""The broker's ceiling on this machine: a raw 6-hop kombu chain, persistent and confirmed.

Each hop is its own process that consumes from queue i and publishes to queue i+1 with a
publisher confirm per message (kombu's ``confirm_publish``), then acks: the plainest correct
kombu chain, with no database. The driver pushes N messages into the first queue and waits until
the last queue holds all N.

    python bench/raw_chain.py run --messages 5000 --queue-type quorum
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue

HOPS = 6


def queue(prefix: str, index: int, queue_type: str) -> Queue:
    arguments = {"x-queue-type": queue_type} if queue_type == "quorum" else None
    name = f"{prefix}.hop{index}"
    return Queue(name, Exchange(""), routing_key=name, durable=True, queue_arguments=arguments)


def hop(url: str, prefix: str, index: int, queue_type: str, prefetch: int) -> None:
    source, target = queue(prefix, index, queue_type), queue(prefix, index + 1, queue_type)
    with Connection(url, transport_options={"confirm_publish": True}) as connection:
        producer = Producer(connection.channel())

        inbox: list[Any] = []
        with Consumer(
            connection.channel(), [source], on_message=inbox.append, prefetch_count=prefetch
        ):
            while True:
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    continue
                while inbox:
                    message = inbox.pop(0)
                    body = message.body
                    producer.publish(
                        body.encode() if isinstance(body, str) else body,
                        routing_key=target.name,
                        delivery_mode=2,
                        content_type="application/json",
                        content_encoding="utf-8",
                    )
                    message.ack()


def measure(url: str, messages: int, queue_type: str, prefetch: int = 100) -> dict[str, float]:
    """Orders per second through the chain: one order = one message through all 6 hops."""
    prefix = f"rawchain-{uuid.uuid4().hex[:8]}"
    queues = [queue(prefix, i, queue_type) for i in range(HOPS + 1)]
    with Connection(url, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        for q in queues:
            q(channel).declare()
        hops = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "hop",
                    "--url",
                    url,
                    "--prefix",
                    prefix,
                    "--index",
                    str(i),
                    "--queue-type",
                    queue_type,
                    "--prefetch",
                    str(prefetch),
                ]
            )
            for i in range(HOPS)
        ]
        try:
            _wait_consumers(channel, queues[:HOPS])
            producer = Producer(channel)
            started = time.monotonic()
            for n in range(messages):
                producer.publish(
                    b'{"order": %d}' % n,
                    routing_key=queues[0].name,
                    delivery_mode=2,
                    content_type="application/json",
                    content_encoding="utf-8",
                )
            while queues[-1](channel).queue_declare(passive=True).message_count < messages:
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            for process in hops:
                process.terminate()
            for process in hops:
                process.wait()
            for q in queues:
                channel.queue_delete(q.name)
    return {"orders_per_s": messages / elapsed, "seconds": elapsed}


def _wait_consumers(channel: object, queues: list[Queue]) -> None:
    deadline = time.monotonic() + 30
    while any(q(channel).queue_declare(passive=True).consumer_count < 1 for q in queues):
        if time.monotonic() > deadline:
            raise TimeoutError("raw chain hops did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("mode", choices=["run", "hop"])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--queue-type", choices=["classic", "quorum"], default="quorum")
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "hop":
        hop(args.url, args.prefix, args.index, args.queue_type, args.prefetch)
    else:
        print(measure(args.url, args.messages, args.queue_type, args.prefetch))


if __name__ == "__main__":
    main()
