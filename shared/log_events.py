"""The runtime's log events that need more than a call: what an error may say in a log line,
and the line for each compensation committed and each message parked.

An error's text is kept to what names the problem, never the data it came with: a validation
error by its fields (``describe``), a database error by the server's primary message (its
DETAIL may echo the row's values, and SQLAlchemy hides statement parameters:
``shared.database``), anything else by its message, cut short.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from shared import tracing
from shared.compensations import compensation
from shared.envelope import Envelope, describe
from shared.inbound import Parked
from shared.logs import get_logger

log = get_logger("orderflow.worker")

LONGEST = 300
READ_AT_MOST = 64 * 1024
"""A parked body larger than this is not read for its order id."""


def error_text(error: BaseException) -> str:
    """What ``error`` may say in a log line: see the module's docstring."""
    if isinstance(error, ValidationError):
        return describe(error)[:LONGEST]
    if isinstance(error, DBAPIError):
        primary = getattr(getattr(error.orig, "diag", None), "message_primary", None)
        text = primary or str(error.orig).split("\n", 1)[0]
        return f"{type(error.orig).__name__}: {text}"[:LONGEST]
    return (str(error).split("\n", 1)[0] or type(error).__name__)[:LONGEST]


def log_compensations(worker: str, committed: Sequence[Envelope]) -> None:
    """An INFO line for each compensating announcement just committed, with its kind and reason
    as ``orderflow_compensations_total`` counts them (``shared.compensations``: a reason someone
    typed is never written, only a known cause or ``other``)."""
    for envelope in committed:
        found = compensation(envelope.type, envelope.data)
        if found is None:
            continue
        with tracing.resumed(envelope.trace):  # the trace of the handling that compensated
            log.info(
                "compensation committed",
                worker=worker,
                kind=found[0],
                reason=found[1],
                announced=envelope.type,
                order_id=envelope.subject,
                announcement_id=envelope.id,
            )


def log_parked(worker: str, parked: Sequence[Parked]) -> None:
    """A WARNING line for each message parked, with the message's ids from its properties, and
    its order's from its body where it names one (parks are rare: reading it costs nothing)."""
    for p in parked:
        properties = p.sent.properties
        log.warning(
            "message parked",
            worker=worker,
            kind=p.kind.value,
            reason=p.reason[:LONGEST],
            error_type=p.exception or None,
            attempts=p.attempts,
            origin=p.origin,
            message_id=properties.get("message_id"),
            message_type=p.sent.routing_key or None,
            order_id=_order_id(p.body),
            correlation_id=properties.get("correlation_id"),
        )


def _order_id(body: bytes) -> str | None:
    """The order a parked body is about, if it is an envelope whose data names one."""
    if len(body) > READ_AT_MOST:
        return None
    try:
        data: Any = json.loads(body).get("data")
    except (ValueError, AttributeError, RecursionError):
        return None
    order_id = data.get("order_id") if isinstance(data, dict) else None
    return order_id[:64] if isinstance(order_id, str) else None
