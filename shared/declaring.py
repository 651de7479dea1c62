"""Declaring the topology without the right to change it.

On RabbitMQ an exchange that exists already is only checked (a passive declare), and a queue's
bindings do not declare their exchanges again: unlike a declare, that needs no configure
permission, so a worker need not be able to delete the exchanges the definitions of
``orderflow topology export`` made (see ``shared.brokers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from amqp.exceptions import NotFound
from kombu import Exchange, Queue


def declare(link: Any, channel: Any, entities: Sequence[Exchange | Queue]) -> None:
    """Declare ``entities`` in order, exchanges before the queues bound to them. On RabbitMQ an
    exchange that exists already is only checked (a passive declare, on a channel of its own,
    which the broker closes if it is missing), and a queue's bindings do not declare their
    exchanges again: unlike a declare, that needs no configure permission, so a worker need not
    be able to delete the exchanges the definitions made."""
    for entity in entities:
        if not link.is_amqp:
            entity(channel).declare()
        elif isinstance(entity, Queue):
            bound = entity(channel)
            bound.queue_declare()
            if bound.exchange is not None and bound.exchange.name:
                bound.queue_bind()
            for route in bound.bindings:
                route.bind(bound)
        elif not _exists(link, entity):
            entity(channel).declare()


def _exists(link: Any, exchange: Exchange) -> bool:
    probe = link.connection.channel()
    try:
        exchange(probe).declare(passive=True)
    except NotFound:
        return False
    finally:
        with suppress(Exception):
            probe.close()
    return True
