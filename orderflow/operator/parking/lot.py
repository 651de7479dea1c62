"""The parking lot itself: a broker connection that reads the lots, replays or purges some
messages and puts every other one back."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import amqp
from amqp.exceptions import ChannelError, MessageNacked, NotFound, PreconditionFailed
from kombu import Connection

from shared.binary_mode import open_message
from shared.brokers import OPERATOR
from shared.clock import Clock, SystemClock
from shared.envelope import CONTENT_TYPE, Envelope, InvalidMessage
from shared.event_batches import is_batch, lines
from shared.inbound import admit
from shared.service import Service
from shared.settings import Settings, refuse_unless_real_broker
from shared.topology import Topology

from ...cluster.registry import build
from .audit import AuditLog, Outcome, operator
from .messages import (
    CONFIRM_TIMEOUT,
    HEADER,
    NO_OTHER_PROCESS_REACHES,
    READ_MARGIN,
    SETTLE_SECONDS,
    Filters,
    ParkedMessage,
    ParkingError,
    UnsafeParkingQueue,
    as_text,
    parse,
)


class ParkingLot:
    """A connection to the broker holding the parked messages it has read until ``close``.

    Use it as a context manager: ``read`` takes every message of the chosen workers' lots
    (acting on none), ``replay`` and ``purge`` act on some of them, and ``close`` puts every
    other one back where it was.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        audit: AuditLog | None = None,
        who: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        refuse_unless_real_broker(settings, NO_OTHER_PROCESS_REACHES)
        self.settings = settings
        self.topology = Topology(
            settings.namespace, settings.use_quorum_queues, settings.delivery_limit
        )
        self.audit = audit
        self.who = who or operator()
        self.clock = clock or SystemClock()
        self.connection = Connection(settings.broker_url_for(OPERATOR), heartbeat=0)
        self._reader: Any = None
        self._publisher: Any = None
        self._held: dict[int, ParkedMessage] = {}
        self._returned: list[str] = []
        self._services: dict[str, Service] = {}

    def __enter__(self) -> ParkingLot:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        try:
            self.connection.ensure_connection(max_retries=2)
        except Exception as error:
            where = self.connection.as_uri().split("@")[-1]
            raise ParkingError(f"cannot reach the broker at {where}: {error}") from error
        self._reader = self.connection.channel()
        self._reader.auto_decode = False  # the body exactly as parked

    def close(self) -> None:
        """Requeue every message read and not acted upon, in the order it was read, and wait
        (briefly) until the queues count them again, so the next command sees them all."""
        requeued = Counter(m.queue for m in self._held.values())
        try:
            if self._reader is not None and self._reader.is_open:
                for tag in sorted(self._held):
                    self._reader.basic_reject(tag, requeue=True)
                self._held.clear()
                self._await_ready(requeued)
        finally:
            self._held.clear()
            self.connection.release()  # unacked deliveries go back in any case
            if self.audit is not None:
                self.audit.dispose()

    def _await_ready(self, requeued: Mapping[str, int]) -> None:
        """A quorum queue applies a reject asynchronously: wait until each queue has at least
        as many ready messages as were put back (less, if somebody takes them meanwhile)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        try:
            for queue, count in requeued.items():
                while time.monotonic() < deadline:
                    if self._reader.queue_declare(queue=queue, passive=True)[1] >= count:
                        break
                    time.sleep(0.01)
        except (ChannelError, OSError):
            pass  # the queue went away, or the link: nothing more to wait for

    @property
    def server_version(self) -> tuple[int, ...]:
        version = as_text(self.connection.connection.server_properties.get("version"))
        return tuple(int(p) for p in version.split(".")[:2] if p.isdigit()) or (0,)

    # -- reading --------------------------------------------------------------------------

    def read(self, filters: Filters) -> list[ParkedMessage]:
        """Take every message from the chosen workers' lots; those ``filters`` admit, in order.

        Each parking queue is read until it is empty (or, should messages keep arriving, up to
        ``READ_MARGIN`` beyond the count it had); every message stays held until ``close``.
        """
        chosen: list[ParkedMessage] = []
        for worker in filters.workers:
            queue = self.topology.parking_queue_name(worker)
            count = self.check_parking_queue(worker)
            if count is None:
                continue
            for _ in range(count + READ_MARGIN):
                raw = self._reader.basic_get(queue=queue, no_ack=False)
                if raw is None:
                    break
                message = parse(worker, queue, raw)
                self._held[message.delivery_tag] = message
                if filters.admits(message):
                    chosen.append(message)
        return chosen

    def check_parking_queue(self, worker: str) -> int | None:
        """How many messages wait in ``worker``'s lot (None: it has none, it never parked
        anything), once its arguments are known to be safe.

        RabbitMQ compares a declaration's arguments with the queue's and refuses a difference,
        so declaring it as the topology does proves it has no delivery limit, TTL or length
        limit that requeueing could trip. From RabbitMQ 4.0 a quorum queue without one gets a
        default delivery limit of 20; only an explicit ``x-delivery-limit: -1`` is safe there.
        (A limit set by a broker policy cannot be seen over AMQP; keep policies off these.)
        """
        name = self.topology.parking_queue_name(worker)
        channel = self.connection.channel()
        try:
            try:
                _, count, _ = channel.queue_declare(queue=name, passive=True)
            except NotFound:
                return None
            arguments = dict(self.topology.parking_queue(worker).queue_arguments or {})
            default_limit = arguments.get("x-queue-type") == "quorum" and (
                self.server_version >= (4,)
            )
            if default_limit:
                arguments.setdefault("x-delivery-limit", -1)
            try:
                channel.queue_declare(
                    queue=name, durable=True, auto_delete=False, arguments=arguments
                )
            except PreconditionFailed as error:
                expected = f"declared with {arguments}" if arguments else "without arguments"
                why = (
                    " (RabbitMQ 4 gives a quorum queue declared without x-delivery-limit a "
                    "default limit of 20; parking queues need x-delivery-limit=-1 there)"
                    if default_limit
                    else ""
                )
                raise UnsafeParkingQueue(
                    f"{name} is not {expected}{why}; RabbitMQ says: {error.reply_text}. "
                    "Requeueing what was read could make the broker drop or dead-letter parked "
                    "messages, so the parking lot refuses to read it."
                ) from error
            return int(count)
        finally:
            _close_quietly(channel)

    # -- replaying ------------------------------------------------------------------------

    def replay(self, messages: Sequence[ParkedMessage], dry_run: bool = False) -> list[Outcome]:
        """Send each still-valid message back to its worker alone; leave the others parked."""
        self._ready_audit(messages)
        ready = {w: self._worker_queue(w) for w in {m.worker for m in messages}}
        outcomes = []
        for message in messages:
            outcome = self._replay_one(message, ready[message.worker], dry_run)
            self._record([outcome])
            outcomes.append(outcome)
        return outcomes

    def problem(self, message: ParkedMessage) -> str | None:
        """Why the worker would park ``message`` again on arrival, or None."""
        return self._admit(message)[1]

    def _admit(self, message: ParkedMessage) -> tuple[Envelope | None, str | None]:
        """The envelope (a batch's first: ``shared.event_batches``), or why the worker would
        park it, or a line of it, again on arrival: the worker's own checks
        (``shared.inbound.admit``), against the contracts and handler table of this code."""
        if not is_batch(message.content_type, message.sent_headers):
            return self._admit_one(
                message, message.body, message.content_type, message.sent_headers
            )
        try:
            found = lines(message.body, message.sent_headers)
        except InvalidMessage as problem:
            return None, problem.reason
        first: Envelope | None = None
        for number, line in enumerate(found, start=1):
            envelope, refused = self._admit_one(message, line.body, CONTENT_TYPE, line.headers)
            if refused is not None:
                return None, f"line {number}: {refused}"
            first = first or envelope
        return first, None

    def _admit_one(
        self,
        message: ParkedMessage,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, Any],
    ) -> tuple[Envelope | None, str | None]:
        try:
            opened = open_message(
                body,
                content_type,
                headers,
                self.settings.max_message_bytes,
            )
            admit(self._service(message.worker), opened.envelope, opened.content_type)
        except InvalidMessage as problem:
            return None, problem.reason
        return opened.envelope, None

    def _replay_one(
        self, message: ParkedMessage, queue: tuple[str, str | None], dry_run: bool
    ) -> Outcome:
        def outcome(done: bool, result: str) -> Outcome:
            return Outcome(message, "replay", done, result, dry_run)

        envelope, problem = self._admit(message)
        if envelope is None:
            return outcome(False, f"left parked: still invalid: {problem}")
        name, missing = queue
        if missing is not None:
            return outcome(False, f"left parked: {missing}")
        if dry_run:
            return outcome(True, f"would replay to {name}")
        try:
            self._publish(message, envelope, name)
        except ParkingError as error:
            return outcome(False, f"left parked: {error}")
        self._ack(message)
        return outcome(True, f"replayed to {name}")

    def _worker_queue(self, worker: str) -> tuple[str, str | None]:
        """The worker's own queue, and why a replay cannot go there (None: it can)."""
        name = self.topology.worker_queue_name(worker)
        channel = self.connection.channel()
        try:
            channel.queue_declare(queue=name, passive=True)
            return name, None
        except NotFound:
            return name, f"the queue {name} does not exist; start the {worker} worker once"
        finally:
            _close_quietly(channel)

    def _publish(self, message: ParkedMessage, envelope: Envelope, queue: str) -> None:
        if self._publisher is None:
            self._publisher = self.connection.channel()
            self._publisher.events["basic_return"].add(self._on_return)
        self._returned.clear()
        outgoing = amqp.Message(
            message.body,
            delivery_mode=2,
            application_headers={
                **message.sent_headers,
                HEADER + "replayed-from": message.parking_id,
                HEADER + "replayed-by": self.who,
                HEADER + "replayed-at": self.clock.now().isoformat(),
            },
            **as_sent(message, envelope),
            user_id=self.connection.userid or "guest",  # the operator vouches for it
        )
        try:
            self._publisher.basic_publish_confirm(
                outgoing,
                exchange="",
                routing_key=queue,
                mandatory=True,
                confirm_timeout=CONFIRM_TIMEOUT,
            )
        except MessageNacked:
            raise ParkingError(f"the broker refused the message for {queue}") from None
        except TimeoutError:
            raise ParkingError(f"the broker did not confirm the message for {queue}") from None
        if self._returned:
            raise ParkingError(f"the broker could not route it to {queue}: {self._returned[0]}")

    def _on_return(self, error: Exception, exchange: str, routing_key: str, _msg: Any) -> None:
        self._returned.append(str(getattr(error, "reply_text", error)))

    def _service(self, worker: str) -> Service:
        if worker not in self._services:
            self._services[worker] = build(worker)
        return self._services[worker]

    # -- purging --------------------------------------------------------------------------

    def purge(self, messages: Sequence[ParkedMessage], dry_run: bool = False) -> list[Outcome]:
        """Remove each message from its parking lot for good."""
        self._ready_audit(messages)
        outcomes = []
        for message in messages:
            if dry_run:
                outcome = Outcome(message, "purge", True, "would purge", True)
            else:
                self._ack(message)
                outcome = Outcome(message, "purge", True, "purged", False)
            self._record([outcome])
            outcomes.append(outcome)
        return outcomes

    # -- both -----------------------------------------------------------------------------

    def _ack(self, message: ParkedMessage) -> None:
        if self._held.pop(message.delivery_tag, None) is None:
            raise ParkingError(f"message {message.parking_id} is not held by this reader")
        self._reader.basic_ack(message.delivery_tag)

    def _ready_audit(self, messages: Sequence[ParkedMessage]) -> None:
        """Make sure every audit table is there before anything changes."""
        if self.audit is not None:
            for worker in {m.worker for m in messages}:
                self.audit.engine_for(worker)

    def _record(self, outcomes: Sequence[Outcome]) -> None:
        if self.audit is not None:
            self.audit.record(outcomes, self.who, self.clock.now())


def as_sent(message: ParkedMessage, envelope: Envelope) -> dict[str, Any]:
    """The AMQP properties to replay ``message`` with: those its publisher set (the envelope's
    id as the message id if it set none); for an old-style copy, the standard ones."""
    if message.sent is None:
        return {
            "content_type": CONTENT_TYPE,
            "content_encoding": "utf-8",
            "message_id": envelope.id,
            "correlation_id": envelope.correlationid,
        }
    return {"message_id": envelope.id, **message.sent}


def _close_quietly(channel: Any) -> None:
    try:
        if channel.is_open:
            channel.close()
    except (ChannelError, OSError):
        pass


def list_parked(settings: Settings, filters: Filters) -> list[ParkedMessage]:
    """The chosen parked messages; every one stays parked."""
    with ParkingLot(settings) as lot:
        return lot.read(filters)


def audited(settings: Settings, who: str | None = None) -> ParkingLot:
    """A lot whose replays and purges are audited (open it with ``with``)."""
    return ParkingLot(settings, audit=AuditLog(settings), who=who)
