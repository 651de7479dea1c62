"""The parking lot, for operators: read what the workers parked, replay it or purge it, audited.

Each worker parks what it cannot handle in its own queue ``<namespace>.<worker>.parking`` (see
``shared.inbound.Parked``): the body, AMQP properties and headers as the publisher sent them,
and the reason, the kind of problem, the exception and the route in ``x-orderflow-*`` headers
next to the publisher's; a worker queue that dead-letters a message after its delivery limit
sends it there too, with RabbitMQ's ``x-death`` header instead.

Reading loses nothing: every message is taken with ``basic.get`` without an ack and held until
the end, when each one not acted upon is rejected with ``requeue=True``, in the order it was
read (a crash or a closed connection requeues them as well). Requeueing raises a quorum queue's
delivery count, so before reading a parking queue its arguments are checked against the
topology's (RabbitMQ refuses a declaration whose arguments differ): a delivery limit, a TTL or a
length limit on it would let the broker drop parked messages, and the lot refuses to read it.

A replay re-validates the message against the current contracts (and the worker's handler
table), exactly as the worker will, and sends only what would be accepted: to the worker that
parked it alone, on its own queue through the default exchange (the other subscribers had
their copy), with a publisher confirm and ``mandatory`` set, with the properties and headers it
was sent with (its message id included) so the worker's inbox turns a replay of something
already handled into a no-op and the sender still recognises it. Only then is it
removed from the parking lot. Every replay and purge, dry runs included, leaves a row per
message in ``parking_audit`` in the database of the worker whose lot it was.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from types import TracebackType
from typing import Any

import amqp
from amqp.exceptions import ChannelError, MessageNacked, NotFound, PreconditionFailed
from kombu import Connection
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from shared.clock import Clock, SystemClock
from shared.database import UtcDateTime, make_engine, of_subject
from shared.envelope import CONTENT_TYPE, Envelope, InvalidMessage, decode
from shared.handlers import Service
from shared.inbound import PARKING_HEADERS, SENT_PROPERTIES, ParkKind, admit
from shared.settings import Settings, refuse_unless_real_broker
from shared.topology import Topology

from .workers import NAMES, UnknownWorker, build

KINDS = tuple(kind.value for kind in ParkKind)
"""The kinds the runtime writes today; filters accept whatever a header says."""

HEADER = "x-orderflow-"
BROKER_HEADERS = ("x-death", "x-delivery-count", "x-first-death-", "x-last-death-")
"""Headers (or their prefixes) the broker adds when it dead-letters or redelivers."""
DEAD_LETTER_KINDS = {"delivery_limit": ParkKind.RETRIES_EXHAUSTED.value}
CONFIRM_TIMEOUT = 30.0
SETTLE_SECONDS = 3.0
READ_MARGIN = 1000
NO_OTHER_PROCESS_REACHES = "no other process can reach its parking lot"


class ParkingError(Exception):
    """The parking lot cannot be used as asked; the message says why."""


class UnsafeParkingQueue(ParkingError):
    """A parking queue whose arguments would let the broker drop requeued messages."""


# -- what a parked message is -----------------------------------------------------------------


@dataclass(frozen=True)
class ParkedMessage:
    worker: str
    """The worker whose parking lot holds it, the one that parked it."""
    queue: str
    parking_id: str
    """Unique per parking: its ``x-orderflow-parked-id`` (the copy's AMQP message id for one
    parked before copies kept the publisher's)."""
    message_id: str
    """The envelope's id when the body has one (the inbox's key), else the publisher's message
    id, else ``parking_id``."""
    type: str
    order_id: str
    kind: str
    reason: str
    exception: str
    origin: str
    attempts: int | None
    parked_at: datetime | None
    headers: Mapping[str, Any]
    properties: Mapping[str, Any]
    body: bytes
    redelivered: bool
    delivery_tag: int = field(repr=False)
    sent: Mapping[str, Any] | None = None
    """The AMQP properties as the publisher set them (``SENT_PROPERTIES``); None for a copy
    parked before copies kept them (its properties were the parking's own)."""
    sent_headers: Mapping[str, Any] = field(default_factory=dict)
    """The publisher's headers: the copy's, less the parking's and the broker's."""
    route: str = ""
    """The exchange and routing key the publisher sent it to (``<exchange>/<routing key>``)."""

    @property
    def content_type(self) -> str | None:
        """The content type it was sent with (the standard one for an old-style copy)."""
        return CONTENT_TYPE if self.sent is None else self.sent.get("content_type")

    @property
    def delivery_count(self) -> int:
        """How often a quorum queue has delivered it before (0 on classic queues)."""
        return _int(self.headers.get("x-delivery-count")) or 0

    def answers_to(self, ident: str) -> bool:
        return ident in (self.message_id, self.parking_id)


def parse(worker: str, queue: str, raw: amqp.Message) -> ParkedMessage:
    """A message as ``basic.get`` returned it, with what its headers and body say."""
    properties = dict(raw.properties)
    headers = dict(properties.pop("application_headers", None) or {})
    body = raw.body if isinstance(raw.body, bytes) else str(raw.body).encode()
    peek = _peek(body)
    tag = int(raw.delivery_info["delivery_tag"])
    parked_id = _text(headers.get(HEADER + "parked-id"))
    parking_id = parked_id or _text(properties.get("message_id")) or f"{queue}#{tag}"
    death = _first_death(headers)
    kind = _text(headers.get(HEADER + "kind"))
    old_style = bool(kind) and not parked_id
    sent = None if old_style else {p: properties[p] for p in SENT_PROPERTIES if p in properties}
    sent_id = _text((sent or {}).get("message_id"))
    reason = _text(headers.get(HEADER + "reason"))
    origin = _text(headers.get(HEADER + "origin"))
    parked_at = _time(headers.get(HEADER + "parked-at"))
    if death and not kind:
        why = _text(death.get("reason"))
        kind = DEAD_LETTER_KINDS.get(why, why or "dead_lettered")
        reason = reason or f"dead-lettered by {_text(death.get('queue'))} ({why})"
        keys = death.get("routing-keys") or []
        origin = origin or f"{_text(death.get('exchange'))}/{_text(keys[0]) if keys else ''}"
        parked_at = parked_at or _time(death.get("time"))
    return ParkedMessage(
        worker=worker,
        queue=queue,
        parking_id=parking_id,
        message_id=_text(peek.get("id")) or sent_id or parking_id,
        type=_text(peek.get("type")),
        order_id=_text(peek.get("subject")),
        kind=kind or "unknown",
        reason=reason,
        exception=_text(headers.get(HEADER + "exception")),
        origin=origin,
        attempts=_int(headers.get(HEADER + "attempts")),
        parked_at=parked_at,
        headers=headers,
        properties=properties,
        body=body,
        redelivered=bool(raw.delivery_info.get("redelivered")),
        delivery_tag=tag,
        sent=sent,
        sent_headers={k: v for k, v in headers.items() if not _ours(k)},
        route=_route(headers) or origin,
    )


def _ours(header: str) -> bool:
    """A header the parking or the broker added, not the publisher."""
    return header in PARKING_HEADERS or header.startswith(BROKER_HEADERS)


def _route(headers: Mapping[str, Any]) -> str:
    exchange, key = headers.get(HEADER + "exchange"), headers.get(HEADER + "routing-key")
    return f"{_text(exchange)}/{_text(key)}" if exchange is not None or key is not None else ""


def _peek(body: bytes) -> dict[str, Any]:
    """The envelope's fields as far as the body has them, however invalid (or big) it is."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _first_death(headers: Mapping[str, Any]) -> Mapping[str, Any] | None:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        return deaths[0]
    return None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(_text(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- choosing messages ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Which parked messages a command is about; every filter given must match."""

    workers: tuple[str, ...] = tuple(NAMES)
    order: str | None = None
    """The message's subject: the order id (its after-sales cases ``<order>.<n>`` included)."""
    kind: str | None = None
    error: str | None = None
    """The exception's class name, e.g. ``PermanentError``."""
    since: datetime | None = None
    until: datetime | None = None
    """Parked at or after ``since`` and at or before ``until`` (both inclusive)."""
    ids: tuple[str, ...] = ()
    """Message ids (the envelope's) or parking ids; empty: any."""

    def admits(self, message: ParkedMessage) -> bool:
        if self.order is not None and not (
            message.order_id == self.order or message.order_id.startswith(self.order + ".")
        ):
            return False
        if self.kind is not None and message.kind != self.kind:
            return False
        if self.error is not None and message.exception != self.error:
            return False
        if self.since is not None or self.until is not None:
            at = message.parked_at
            if at is None or (self.since and at < self.since) or (self.until and at > self.until):
                return False
        return not self.ids or any(message.answers_to(i) for i in self.ids)


def chosen_workers(names: Sequence[str] | None) -> tuple[str, ...]:
    """The workers named (each once, in the registry's order), or all; ``UnknownWorker`` for a
    name that is none of them."""
    if not names:
        return tuple(NAMES)
    for name in names:
        if name not in NAMES:
            raise UnknownWorker(f"no worker named {name!r}; choose one of {', '.join(NAMES)}")
    return tuple(n for n in NAMES if n in names)


def moment(text: str, end_of_day: bool = False) -> datetime:
    """An ISO date or date-time as an aware UTC instant (no offset given: UTC). A bare date is
    its first instant, or with ``end_of_day`` its last, so ``--until`` a date includes it."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        at = datetime.fromisoformat(text)  # ValueError says what is wrong
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    return datetime.combine(day, dt_time.max if end_of_day else dt_time.min, UTC)


def find(messages: Sequence[ParkedMessage], ident: str) -> list[ParkedMessage]:
    """The messages ``ident`` names: by message id or parking id, else by position (from 1)."""
    named = [m for m in messages if m.answers_to(ident)]
    if named or not ident.isdigit():
        return named
    position = int(ident)
    return [messages[position - 1]] if 1 <= position <= len(messages) else []


# -- what a replay or purge did ---------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    message: ParkedMessage
    action: str
    """``replay`` or ``purge``."""
    done: bool
    """Replayed or purged (in a dry run: would be)."""
    result: str
    dry_run: bool


# -- the lot itself ---------------------------------------------------------------------------


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
        self.connection = Connection(settings.broker_url, heartbeat=0)
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
            where = self.settings.broker_url.split("@")[-1]
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
        version = _text(self.connection.connection.server_properties.get("version"))
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
        """The envelope, or why the worker would park it again on arrival: the worker's own
        checks (``shared.inbound.admit``), against the contracts and handler table of this code."""
        try:
            envelope = decode(message.body, self.settings.max_message_bytes)
            admit(self._service(message.worker), envelope, message.content_type)
        except InvalidMessage as problem:
            return None, problem.reason
        return envelope, None

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


def operator() -> str:
    """Who acts: the OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or f"uid:{os.getuid()}"


# -- the audit --------------------------------------------------------------------------------

audit_metadata = MetaData()

parking_audit = Table(
    "parking_audit",
    audit_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("who", String(100), nullable=False),
    Column("action", String(20), nullable=False),
    Column("worker", String(50), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("parking_id", String(200), nullable=False),
    Column("type", String(100), nullable=False),
    Column("order_id", String(200), nullable=False, index=True),
    Column("kind", String(50), nullable=False),
    Column("reason", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("dry_run", Boolean, nullable=False),
)


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    who: str
    action: str
    worker: str
    message_id: str
    parking_id: str
    type: str
    order_id: str
    kind: str
    reason: str
    result: str
    dry_run: bool


class AuditLog:
    """``parking_audit`` in each worker's own database (created if missing)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[str, Engine] = {}

    def engine_for(self, worker: str) -> Engine:
        url = self.settings.database_url_for(worker)
        if url not in self._engines:
            engine = make_engine(url)
            audit_metadata.create_all(engine)
            self._engines[url] = engine
        return self._engines[url]

    def record(self, outcomes: Iterable[Outcome], who: str, at: datetime) -> None:
        by_worker: dict[str, list[dict[str, object]]] = {}
        for o in outcomes:
            m = o.message
            by_worker.setdefault(m.worker, []).append(
                {
                    "at": at,
                    "who": who[:100],
                    "action": o.action,
                    "worker": m.worker,
                    "message_id": m.message_id[:200],
                    "parking_id": m.parking_id[:200],
                    "type": m.type[:100],
                    "order_id": m.order_id[:200],
                    "kind": m.kind[:50],
                    "reason": m.reason,
                    "result": o.result,
                    "dry_run": o.dry_run,
                }
            )
        for worker, rows in by_worker.items():
            with self.engine_for(worker).begin() as connection:
                connection.execute(insert(parking_audit), rows)

    def rows(self, workers: Iterable[str], order: str | None = None) -> list[AuditRow]:
        """The audit of ``workers``' lots, oldest first (a database shared by several workers
        is read once)."""
        chosen = list(workers)
        urls = {self.settings.database_url_for(w) for w in chosen}
        found: list[AuditRow] = []
        for url in urls:
            users = [w for w in chosen if self.settings.database_url_for(w) == url]
            query = select(parking_audit).where(parking_audit.c.worker.in_(users))
            if order is not None:
                query = query.where(of_subject(parking_audit.c.order_id, order))
            with self.engine_for(users[0]).connect() as connection:
                for row in connection.execute(query.order_by(parking_audit.c.id)):
                    values = row._asdict()
                    values.pop("id")
                    found.append(AuditRow(**values))
        return sorted(found, key=lambda r: r.at)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


# -- what the CLI calls -----------------------------------------------------------------------


def list_parked(settings: Settings, filters: Filters) -> list[ParkedMessage]:
    """The chosen parked messages; every one stays parked."""
    with ParkingLot(settings) as lot:
        return lot.read(filters)


def audited(settings: Settings, who: str | None = None) -> ParkingLot:
    """A lot whose replays and purges are audited (open it with ``with``)."""
    return ParkingLot(settings, audit=AuditLog(settings), who=who)
