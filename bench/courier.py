"""The notifier's courier alone: how many e-mails per second it sends, and its CPU per e-mail.

    .venv/bin/python bench/courier.py                    # 3,000 e-mails to an SMTP server
    .venv/bin/python bench/courier.py --transport maildir
    .venv/bin/python bench/courier.py --emails 1000 --batch-size 50

On the real PostgreSQL (a fresh database, dropped at the end), N order.placed events are handled
first, as the notifier's handlers do, leaving N rendered e-mails pending. Then the courier runs
pass after pass, as the worker's loop calls it, until none is left, each ``notification.sent``
going to the outbox as the runtime writes it (the broker is left out). The SMTP server is a real
aiosmtpd in its own process, on loopback, writing into a Maildir, so the CPU measured here
(``time.process_time`` of this process) is the courier's alone. At the end every Message-ID that
reached the server is counted: each must be there once.

With ``--through-worker`` the whole notifier runs instead, as its process does, on RabbitMQ:
N order.placed events wait in its queue, then its worker loop handles them and sends the
e-mails until all are sent. Reported then: e-mails per second from the first poll to the last
e-mail, and the notifier's CPU per e-mail, handling and sending together.

    .venv/bin/python bench/courier.py --through-worker --transport maildir
"""

from __future__ import annotations

import argparse
import json
import mailbox
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.orm import Session

from services.notifier.bootstrap import bootstrap
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierUnitOfWork
from shared.clock import SystemClock
from shared.contracts import Customer, Message
from shared.crash import CrashPoint
from shared.database import drop_postgres_database, open_database
from shared.envelope import TraceContext, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.runtime_tables import RuntimeTables
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.factories import order_placed
from tests.support import configured_broker_url, configured_postgres_url, real_settings, tear_down


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server(maildir: Path) -> Iterator[int]:
    """aiosmtpd in its own process, delivering into ``maildir``."""
    port = free_port()
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    server = subprocess.Popen([*command, "-c", "aiosmtpd.handlers.Mailbox", str(maildir)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(10)


def message_ids(maildir: Path) -> Counter[str]:
    box = mailbox.Maildir(maildir, create=False)
    return Counter(str(message["Message-ID"]) for message in box)


def measure(url: str, settings: NotifierSettings, emails: int, maildir: Path) -> dict[str, float]:
    service = bootstrap(SystemClock(), settings)
    tables = RuntimeTables(service.metadata)
    sessions = open_database(url, service.metadata)
    clock = SystemClock()
    handler = next(h for c, h in service.handlers.items() if c.type == "order.placed")
    customer = Customer(name="Bench Mark", email="bench@example.com", language="en")
    for start in range(0, emails, 200):
        with sessions() as session, session.begin():
            events = [
                order_placed(f"ord_bench{n}", customer=customer)
                for n in range(start, min(start + 200, emails))
            ]
            uow = NotifierUnitOfWork(session)
            uow.preload(events)
            for event in events:
                handler(event, uow)

    def announce(
        session: Session,
        messages: Sequence[Message],
        traces: Sequence[TraceContext | None] = (),
    ) -> None:
        envelopes = [wrap(m, source="notifier", now=clock.now()) for m in messages]
        tables.outbox.add(session, envelopes)

    def no_crash(_: CrashPoint) -> None:
        return None

    assert service.after_commit is not None
    passes = 0
    sent = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    while sent < emails:
        done = service.after_commit(sessions, announce, no_crash)
        passes += 1
        sent += done
        if not done:
            raise SystemExit(f"a pass sent nothing after {sent} of {emails}")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    sessions.kw["bind"].dispose()
    return {
        "emails": emails,
        "emails_per_s": emails / elapsed,
        "cpu_ms_per_email": cpu * 1000 / emails,
        "passes": passes,
    }


def through_worker(
    postgres: str, broker: str, notifier: NotifierSettings, emails: int, timer_poll: float
) -> dict[str, float]:
    """The notifier's worker loop on RabbitMQ and PostgreSQL, from a queue of N events."""
    namespace = f"courier{uuid.uuid4().hex[:8]}"
    settings = real_settings(namespace, broker, postgres, timer_poll_seconds=timer_poll)
    loop = Worker(bootstrap(SystemClock(), notifier), settings)
    try:
        loop.start()
        publish_placed(settings, emails)
        assert loop.sessions is not None
        sessions = loop.sessions
        passes, sent = 0, 0
        started, cpu_started = time.perf_counter(), time.process_time()
        next_count = 0.0
        while sent < emails:
            loop.poll(0.2)
            passes += 1
            if time.perf_counter() >= next_count:
                with sessions() as session:
                    sent = sum(NotifierUnitOfWork(session).notifications.sent_counts().values())
                next_count = time.perf_counter() + 0.25
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        loop.close()
        tear_down(settings, ["notifier"])
    return {
        "emails": emails,
        "emails_per_s": emails / elapsed,
        "cpu_ms_per_email": cpu * 1000 / emails,
        "passes": passes,
    }


def publish_placed(settings: Settings, count: int) -> None:
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    customer = Customer(name="Bench Mark", email="bench@example.com", language="en")
    link = BrokerLink(settings.broker_url)
    link.connect()
    try:
        for start in range(0, count, 500):
            envelopes = [
                wrap(order_placed(f"ord_bench{n}", customer=customer), source="intake")
                for n in range(start, min(start + 500, count))
            ]
            link.publish_confirmed(
                [
                    Outgoing(
                        body=e.encode(),
                        exchange=topology.events,
                        routing_key=e.type,
                        message_id=e.id,
                    )
                    for e in envelopes
                ]
            )
    finally:
        link.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--transport", choices=["smtp", "maildir"], default="smtp")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--through-worker", action="store_true", help="the whole notifier loop")
    parser.add_argument("--timer-poll", type=float, default=0.05, help="as the saga bench sets")
    parser.add_argument("--broker", default=configured_broker_url())
    parser.add_argument("--postgres", default=configured_postgres_url())
    args = parser.parse_args()
    url = args.postgres.rsplit("/", 1)[0] + f"/courier{uuid.uuid4().hex[:8]}_notifier"
    with tempfile.TemporaryDirectory(prefix="orderflow-courier-") as scratch:
        maildir = Path(scratch) / "mail"
        mailbox.Maildir(maildir, create=True)
        try:
            with ExitStack() as stack:
                if args.transport == "smtp":
                    port = stack.enter_context(smtp_server(maildir))
                    settings = NotifierSettings(
                        smtp_host="127.0.0.1", smtp_port=port, send_batch_size=args.batch_size
                    )
                else:
                    settings = NotifierSettings(maildir=maildir, send_batch_size=args.batch_size)
                if args.through_worker:
                    result = through_worker(
                        args.postgres, args.broker, settings, args.emails, args.timer_poll
                    )
                else:
                    result = measure(url, settings, args.emails, maildir)
            counted = message_ids(maildir)
            result["received"] = sum(counted.values())
            result["duplicates"] = sum(n - 1 for n in counted.values())
        finally:
            drop_postgres_database(url)
    what = "notifier loop" if args.through_worker else "courier"
    print(
        f"{what} ({args.transport}, batch {args.batch_size}): {result['emails_per_s']:.0f} "
        f"e-mails/s, {result['cpu_ms_per_email']:.2f} CPU ms per e-mail; "
        f"{result['received']:.0f} received, {result['duplicates']:.0f} duplicates"
    )
    print(json.dumps({"transport": args.transport, **{k: round(v, 3) for k, v in result.items()}}))


if __name__ == "__main__":
    main()
