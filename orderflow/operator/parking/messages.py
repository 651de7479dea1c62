"""What a parked message is, as read from a parking queue, and how commands choose some."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from typing import Any

import amqp

from shared.binary_mode import attributes_of, is_binary
from shared.envelope import CONTENT_TYPE
from shared.event_batches import is_batch
from shared.inbound import PARKING_HEADERS, SENT_PROPERTIES, ParkKind

from ...cluster.registry import NAMES, UnknownWorker

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
    peek = _peek(body, properties.get("content_type"), headers)
    tag = int(raw.delivery_info["delivery_tag"])
    parked_id = as_text(headers.get(HEADER + "parked-id"))
    parking_id = parked_id or as_text(properties.get("message_id")) or f"{queue}#{tag}"
    death = _first_death(headers)
    kind = as_text(headers.get(HEADER + "kind"))
    old_style = bool(kind) and not parked_id
    sent = None if old_style else {p: properties[p] for p in SENT_PROPERTIES if p in properties}
    sent_id = as_text((sent or {}).get("message_id"))
    reason = as_text(headers.get(HEADER + "reason"))
    origin = as_text(headers.get(HEADER + "origin"))
    parked_at = _time(headers.get(HEADER + "parked-at"))
    if death and not kind:
        why = as_text(death.get("reason"))
        kind = DEAD_LETTER_KINDS.get(why, why or "dead_lettered")
        reason = reason or f"dead-lettered by {as_text(death.get('queue'))} ({why})"
        keys = death.get("routing-keys") or []
        origin = origin or f"{as_text(death.get('exchange'))}/{as_text(keys[0]) if keys else ''}"
        parked_at = parked_at or _time(death.get("time"))
    return ParkedMessage(
        worker=worker,
        queue=queue,
        parking_id=parking_id,
        message_id=as_text(peek.get("id")) or sent_id or parking_id,
        type=as_text(peek.get("type")),
        order_id=as_text(peek.get("subject")),
        kind=kind or "unknown",
        reason=reason,
        exception=as_text(headers.get(HEADER + "exception")),
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
    return f"{as_text(exchange)}/{as_text(key)}" if exchange is not None or key is not None else ""


def _peek(body: bytes, content_type: str | None, headers: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope's fields as far as the message has them, however invalid (or big) it is:
    a CloudEvents binary-mode message's from its headers, any other's from its body."""
    if is_binary(content_type, headers):
        return {name: as_text(value) for name, value in attributes_of(headers).items()}
    if is_batch(content_type, headers):  # its events' type (each line's is the same)
        body = body.split(b"\n", 1)[0]
        return {k: v for k, v in _peek(body, CONTENT_TYPE, {}).items() if k == "type"}
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


def as_text(value: object) -> str:
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
            moment = datetime.fromisoformat(as_text(value))
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
