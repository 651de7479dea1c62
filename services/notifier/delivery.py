"""The courier: sends what the handlers rendered, once their transaction has committed.

It is the notifier's ``Service.after_commit``. Each pass claims, sends, and marks:

1. **claim** a batch of pending notifications in a short transaction of its own: each becomes
   ``sending``, held by this courier until its lease runs out (``send_lease``). Another replica's
   courier skips them, so two never send the same one; if this courier dies, another (or its
   own restart) takes them over once the lease has run out;
2. **send** one over its lane's mail-server connection;
3. **mark** it ``sent`` (``sent_at``) or ``failed`` (the server refused it for good, with its
   answer) in a statement that commits on its own, then send the lane's next.

The batch is split into ``lanes`` that send side by side, each over its own connection to the
mail server and to the database: most of an e-mail's time is spent waiting for the two disks (the
mail server's and the mark's commit), and one lane at a time could not keep up with the saga. An
order's e-mails share a lane, so they still go in the order of its life. SQLite takes one writer
at a time, so there it is always one lane.

So at most one e-mail per lane is ever sent and not yet recorded: a crash between the server's
"250 OK" and the mark's commit sends those again, with the same Message-IDs, which mail systems
use to drop the repeat. If a mark cannot be committed (the database is gone), the courier keeps
what it sent in memory and records it first when the database answers, before it claims or
sends anything else: a database outage sends nothing twice. The pass ends announcing every sent
e-mail's ``notification.sent`` in one transaction.

A transient failure ends the lane and gives back what it did not send. If the server deferred one
recipient (``Deferred``), that is all; otherwise (the server down, busy or answering 4xx, the
maildir not writable) the pass ends raising ``Unavailable``, so the worker is unready and tries
again with backoff, logging the outage once (``shared.after_commit``).
A send starts only while the lease has more than ``longest_send`` left, so the claim still holds
when the server's answer comes. Each courier reads leases by its own clock: replicas' clocks
must agree to well within a lease (NTP keeps them to milliseconds).
"""

from __future__ import annotations

import os
import secrets
import socket
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.errors import MessageError

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.clock import Clock
from shared.crash import CrashPoint
from shared.envelope import kept_trace
from shared.errors import TransientError, Unavailable
from shared.log_events import error_text
from shared.logs import get_logger
from shared.service import Announce, Reach

from .composing import compose
from .model import Notification, sent_announcement
from .store import CourierStore, claimed_by, record_outcome
from .transports import Deferred, Postbox, Refused, Transport

log = get_logger("orderflow.notifier")
WORKER = "notifier"
"""Named in each line: the courier's lanes are threads of a pool, without the worker's context."""


def courier_name() -> str:
    """Who claims: this host and process, and a random part for a restart under the same pid."""
    return f"{socket.gethostname()[:60]}/{os.getpid()}/{secrets.token_hex(4)}"


def _no_crash(_: CrashPoint) -> None:
    return None


def into_lanes(claimed: Sequence[Notification], count: int) -> list[list[Notification]]:
    """Split a claimed batch into at most ``count`` lanes by order: an order's e-mails share a
    lane and keep the batch's order, which is the order of its life."""
    lanes: list[list[Notification]] = [[] for _ in range(count)]
    for notification in claimed:
        lanes[zlib.crc32(notification.order_id.encode()) % count].append(notification)
    return [lane for lane in lanes if lane]


@dataclass
class LaneOutcome:
    """What one lane did: how many it settled, what it gives back unsent, the database error
    that stopped it (its rest then stays claimed, to be taken again by this courier), and the
    mail server's or maildir's trouble that stopped it (its rest given back)."""

    settled: int = 0
    unsent: list[Notification] = field(default_factory=list)
    error: Exception | None = None
    trouble: TransientError | None = None


class Courier:
    def __init__(
        self,
        transport: Transport,
        sender: str,
        clock: Clock,
        batch_size: int = 50,
        send_lease: timedelta = timedelta(seconds=60),
        longest_send: timedelta = timedelta(seconds=40),
        name: str | None = None,
        lanes: int = 1,
    ) -> None:
        if longest_send >= send_lease:
            raise ValueError("send_lease: must be longer than the longest send")
        if lanes < 1:
            raise ValueError("lanes: at least one")
        self.transport, self.sender, self.clock = transport, sender, clock
        self.batch_size, self.send_lease, self.longest_send = batch_size, send_lease, longest_send
        self.name, self.lanes = name or courier_name(), lanes
        self._unmarked: list[Notification] = []
        self._announce_due = True  # a courier before it may have died between send and announce
        self._pool: ThreadPoolExecutor | None = None
        self._deferred: set[str] = set()  # logged once each, until it goes

    @property
    def unmarked(self) -> list[str]:
        """The ids of what it sent and could not record yet."""
        return [notification.id for notification in self._unmarked]

    def __call__(
        self,
        sessions: sessionmaker[Session],
        announce: Announce,
        reach: Reach = _no_crash,
    ) -> int:
        """One pass: returns how many notifications it settled (sent, or failed for good).

        A database error ends the pass and goes to the caller; what was sent is kept to be
        recorded first on the next pass. If the mail could not go out (the server or the maildir
        failed), the pass ends raising ``Unavailable``, after announcing what did go."""
        trouble: TransientError | None = None
        with sessions() as session:
            engine = _engine_of(session)
            settled = self._mark_unmarked(engine) if self._unmarked else 0
            claimed = self._claim(session)
            if claimed:
                delivered, trouble = self._deliver(session, engine, claimed, reach)
                settled += delivered
            if self._announce_due:
                self._announce_sent(session, announce)
        if trouble is not None:
            raise Unavailable(f"e-mail cannot go out: {trouble}")
        return settled

    def _mark_unmarked(self, engine: Engine) -> int:
        """Record what was sent and not recorded yet (the database failed), first of all."""
        marked = 0
        with _autocommitting(engine) as marks:
            while self._unmarked:
                marked += self._record(marks, self._unmarked[0])
                self._unmarked.pop(0)
        return marked

    def _claim(self, session: Session) -> list[Notification]:
        now = self.clock.now()
        with session.begin():
            return CourierStore(session).claim(
                self.name, now, now + self.send_lease, self.batch_size
            )

    def _deliver(
        self, session: Session, engine: Engine, claimed: Sequence[Notification], reach: Reach
    ) -> tuple[int, TransientError | None]:
        lanes = into_lanes(claimed, 1 if engine.dialect.name == "sqlite" else self.lanes)
        if len(lanes) == 1:
            outcomes = [self._run_lane(engine, lanes[0], reach)]
        else:
            pool = self._lane_pool()
            outcomes = list(pool.map(lambda lane: self._run_lane(engine, lane, reach), lanes))
        unsent = [notification for outcome in outcomes for notification in outcome.unsent]
        if unsent:
            with session.begin():
                CourierStore(session).release(unsent, self.name)
        for outcome in outcomes:
            if outcome.error is not None:
                raise outcome.error
        troubles = [outcome.trouble for outcome in outcomes if outcome.trouble is not None]
        return sum(outcome.settled for outcome in outcomes), next(iter(troubles), None)

    def _lane_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="courier-lane")
        return self._pool

    def _run_lane(self, engine: Engine, lane: list[Notification], reach: Reach) -> LaneOutcome:
        """Send the lane's e-mails one after the other, each recorded before the next goes."""
        outcome = LaneOutcome()
        assert lane[0].claimed_until is not None
        last_start = lane[0].claimed_until - self.longest_send
        try:
            with _autocommitting(engine) as marks, self.transport.open() as postbox:
                for notification in lane:
                    if self.clock.now() >= last_start:
                        waiting = len(lane) - outcome.settled
                        log.warning("mail claim runs out", worker=WORKER, waiting=waiting)
                        break
                    self._send(notification, postbox, reach)
                    self._record(marks, notification)
                    if notification.sent_at is not None:
                        self._unmarked.remove(notification)
                    outcome.settled += 1
        except Deferred as deferral:
            self._put_off(lane[outcome.settled], deferral)
        except TransientError as trouble:
            outcome.trouble = trouble
        except Exception as error:
            outcome.error = error
            return outcome
        outcome.unsent = lane[outcome.settled :]
        return outcome

    def _send(self, notification: Notification, postbox: Postbox, reach: Reach) -> None:
        """Send it; its outcome is set on it (in memory) and, if it went, it is kept as unmarked
        until recorded. Raises ``TransientError`` if it may go later."""
        now = self.clock.now()
        try:
            postbox.send(compose(notification, self.sender, now))
        except Refused as refusal:
            notification.mark_failed(refusal.reason)
        except (MessageError, ValueError) as error:
            notification.mark_failed(f"the message could not be composed: {type(error).__name__}")
        else:
            notification.mark_sent(now)
            self._unmarked.append(notification)
            reach("after_send")
            return
        log.warning(
            "e-mail failed for good",
            worker=WORKER,
            notification_id=notification.id,
            about=notification.about,
            order_id=notification.order_id,
        )

    def _put_off(self, notification: Notification, deferral: Deferred) -> None:
        """A deferred recipient: the e-mail stays pending, its lane ends; said once per e-mail
        (without the address), not on every pass that tries it again."""
        if notification.id not in self._deferred:
            self._deferred.add(notification.id)
            log.warning(
                "e-mail deferred",
                worker=WORKER,
                notification_id=notification.id,
                about=notification.about,
                order_id=notification.order_id,
                error=str(deferral),
            )

    def _record(self, marks: Connection, notification: Notification) -> bool:
        """Record its outcome, committed by the time this returns, if this courier still holds
        it. If the database fails, the e-mail stays unmarked: recorded first on the next pass."""
        try:
            recorded = record_outcome(marks, notification, self.name)
        except Exception as error:
            if self._unmarked:
                log.warning(
                    "e-mail sent; recorded when the database answers",
                    worker=WORKER,
                    notification_id=notification.id,
                    error_type=type(error).__name__,
                    error=error_text(error),
                )
            raise
        self._announce_due = self._announce_due or notification.sent_at is not None
        self._deferred.discard(notification.id)
        if not recorded:
            holder = claimed_by(marks, notification.id)
            if holder not in (self.name, None):
                log.warning(
                    "e-mail taken over before its outcome was recorded",
                    worker=WORKER,
                    notification_id=notification.id,
                    holder=holder,
                )
        return recorded

    def _announce_sent(self, session: Session, announce: Announce) -> None:
        """Announce ``notification.sent`` for every sent notification not announced yet (this
        pass's, and any a crash or an outage left), in one transaction."""
        with session.begin():
            sent = CourierStore(session).take_unannounced(ANNOUNCED_PER_PASS)
            if sent:
                announce(
                    session,
                    [sent_announcement(n.id, n.order_id, n.about, n.language) for n in sent],
                    [kept_trace(n.traceparent, n.tracestate) for n in sent],
                )
        self._announce_due = len(sent) == ANNOUNCED_PER_PASS


ANNOUNCED_PER_PASS = 500


def _engine_of(session: Session) -> Engine:
    engine = session.get_bind()
    assert isinstance(engine, Engine), "the notifier's sessions are bound to its engine"
    return engine


@contextmanager
def _autocommitting(engine: Engine) -> Iterator[Connection]:
    """A connection to the database whose every statement commits on its own: each e-mail's
    outcome is one statement, so recording it is one round trip and one commit."""
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")
