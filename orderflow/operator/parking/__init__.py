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

from .audit import AuditLog, AuditRow, Outcome, operator, parking_audit
from .lot import ParkingLot, as_sent, audited, list_parked
from .messages import (
    KINDS,
    NO_OTHER_PROCESS_REACHES,
    Filters,
    ParkedMessage,
    ParkingError,
    UnsafeParkingQueue,
    chosen_workers,
    find,
    moment,
    parse,
)

__all__ = [
    "KINDS",
    "NO_OTHER_PROCESS_REACHES",
    "AuditLog",
    "AuditRow",
    "Filters",
    "Outcome",
    "ParkedMessage",
    "ParkingError",
    "ParkingLot",
    "UnsafeParkingQueue",
    "as_sent",
    "audited",
    "chosen_workers",
    "find",
    "list_parked",
    "moment",
    "operator",
    "parking_audit",
    "parse",
]
