"""RabbitMQ definitions (what ``rabbitmqctl import_definitions`` and the management plugin's
``load_definitions`` read) written from the code: the vhost; the exchanges, quorum queues and
bindings of ``shared/topology.py``; the users of ``orderflow/cluster/users.py``, each limited to
its own queues and exchanges, and by topic permissions to the routing keys it may send.

Permissions, per user (regular expressions over exchange and queue names in the vhost):

- a worker configures its queue and its parking queue, reads them and the exchanges it binds
  them to, and writes them (a binding needs it), the exchanges it publishes to (the batched
  events' too, if it announces a business event: ``shared.event_batches``) and the parking
  exchange (where it parks messages; a queue's dead-letter exchange needs it too);
- a channel configures, reads and writes its own queue, reads the events exchange (to bind its
  queue) and writes the commands exchange;
- the operator configures and reads the parking queues (the parking lot reads and requeues
  them) and writes the commands, events and batched events exchanges and the default exchange
  (``amq.default``, the parking lot's replays go to one queue by name);
- the monitoring user (tag ``monitoring``) nothing: a passive declare, KEDA's way to count a
  queue's messages, needs no permission.

Nobody configures an exchange: workers and clients only check they exist (``shared.brokers``),
so nobody can delete one. Topic permissions apply to topic exchanges only (events, commands,
batched events):
each user's write regex names exactly the types it sends (intake's also the ``BCC`` keys
``channel.<channel>.<type>`` of ``CHANNEL_EVENTS``, which RabbitMQ 3.13 checks as well), its
read regex the keys it binds (a channel: ``channel.<channel>.*`` only). The parking exchange is
direct: RabbitMQ checks no routing key there, so a worker could park a message into another
worker's parking lot; the copy's ``user_id`` still names who parked it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu import Exchange, Queue

from shared.contracts import Message
from shared.event_batches import BATCHED
from shared.settings import Settings
from shared.topology import (
    CHANNEL_EVENTS,
    CHANNEL_NAME,
    CHANNEL_PREFIX,
    Topology,
    channel_binding_key,
)

from ..cluster.registry import NAMES, build
from ..cluster.users import BrokerUser, broker_users

NOTHING = "^$"
"""Matches no exchange or queue (RabbitMQ's own way to grant nothing)."""
HASHING = "rabbit_password_hashing_sha256"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """As RabbitMQ stores it: base64 of a 4-byte salt followed by SHA-256(salt + password)."""
    salt = secrets.token_bytes(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


class MissingPasswords(ValueError):
    """Users with no password where the export looked; the message names them."""


@dataclass(frozen=True)
class Passwords:
    """Where the export finds each user's password: ``directory/<user>`` first, then the
    environment variable ``ORDERFLOW_BROKER_PASSWORD_<USER>`` (upper case, ``_`` for anything
    but letters and digits). ``generate`` writes a random one to ``directory/<user>`` for a user
    that has none."""

    directory: Path | None = None
    environ: Mapping[str, str] | None = None
    generate: bool = False

    def of(self, users: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        missing = []
        for user in users:
            password = self._find(user)
            if password is None and self.generate and self.directory is not None:
                password = self._generate(user)
            if password:
                found[user] = password
            else:
                missing.append(user)
        if missing:
            where = f"{self.directory}/<user> or " if self.directory else ""
            raise MissingPasswords(
                f"passwords: none for {', '.join(missing)} (looked in {where}"
                "ORDERFLOW_BROKER_PASSWORD_<USER>); give them, --generate-passwords into a "
                "--passwords directory, or --no-passwords"
            )
        return found

    def _find(self, user: str) -> str | None:
        if self.directory is not None and (self.directory / user).is_file():
            return (self.directory / user).read_text().strip()
        environ = os.environ if self.environ is None else self.environ
        return environ.get(password_variable(user))

    def _generate(self, user: str) -> str:
        """A random password in ``directory/<user>``. The directory is the lock (mode 0700):
        the file itself is readable (0644) because compose mounts it into a worker's container
        as it is, where the worker runs as a user of its own."""
        assert self.directory is not None
        if not self.directory.exists():
            self.directory.mkdir(parents=True, mode=0o700)
        password = secrets.token_urlsafe(24)
        path = self.directory / user
        path.write_text(password + "\n")
        path.chmod(0o644)
        return password


def password_variable(user: str) -> str:
    return "ORDERFLOW_BROKER_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper()


def definitions(
    settings: Settings, vhost: str, passwords: Mapping[str, str] | None
) -> dict[str, Any]:
    """The definitions for ``settings``' namespace, users and channels in ``vhost``; with
    ``passwords`` None the users get no password hash (set one with ``rabbitmqctl
    change_password``)."""
    topology = Topology(settings.namespace, quorum=True, delivery_limit=settings.delivery_limit)
    services = {name: build(name) for name in NAMES}
    subscribed = {name: s.subscriptions for name, s in services.items()}
    batched = frozenset(name for name, s in services.items() if s.batched)
    queues = [
        *(topology.worker_queue(name, subscribed[name], name in batched) for name in NAMES),
        *(topology.parking_queue(name) for name in NAMES),
        *(topology.channel_queue(channel) for channel in settings.channels),
    ]
    users = broker_users(settings)
    grants = Grants(topology, subscribed, batched)
    return {
        "users": [_user(user, passwords) for user in users],
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": u.name, "vhost": vhost, **grants.of(u)} for u in users],
        "topic_permissions": [
            {"user": u.name, "vhost": vhost, "exchange": exchange, **regexes}
            for u in users
            for exchange, regexes in grants.topics(u).items()
        ],
        "exchanges": [_exchange(e, vhost) for e in topology.exchanges],
        "queues": [_queue(q, vhost) for q in queues],
        "bindings": [b for q in queues for b in _bindings(q, vhost)],
        "parameters": [],
        "policies": [],
    }


def _user(user: BrokerUser, passwords: Mapping[str, str] | None) -> dict[str, Any]:
    hashed = "" if passwords is None else password_hash(passwords[user.name])
    tags = ["monitoring"] if user.monitoring else []
    return {"name": user.name, "password_hash": hashed, "hashing_algorithm": HASHING, "tags": tags}


@dataclass(frozen=True)
class Grants:
    topology: Topology
    subscribed: Mapping[str, list[type[Message]]]
    batched: frozenset[str] = frozenset()
    """The workers that hear their events in batches (``Service.batched``)."""

    def of(self, user: BrokerUser) -> dict[str, str]:
        t = self.topology
        if user.worker is not None:
            own = [t.worker_queue_name(user.worker), t.parking_queue_name(user.worker)]
            writes = {t.exchange_for(c).name for c in user.sends} | {t.parking.name}
            writes |= {t.batched.name for c in user.sends if c in BATCHED}
            reads = {self._heard_on(user.worker, c).name for c in self._bound(user.worker)}
            reads |= {t.parking.name}
            return _grant(own, [*own, *sorted(writes)], [*own, *sorted(reads)])
        if user.channel is not None:
            own = [t.channel_queue_name(user.channel)]
            return _grant(own, [*own, t.commands.name], [*own, t.events.name])
        if user.monitoring:
            return _grant([], [], [])
        parking = [t.parking_queue_name(name) for name in NAMES]
        replays = [t.commands.name, t.events.name, t.batched.name, "amq.default"]
        return _grant(parking, replays, parking)

    def topics(self, user: BrokerUser) -> dict[str, dict[str, str]]:
        """Write and read regexes over routing keys, per topic exchange."""
        t = self.topology
        found = {}
        for exchange in (t.events, t.commands, t.batched):
            sends = [c.type for c in user.sends if exchange in self._sent_on(c)]
            write = _exactly(sends)
            if user.worker is not None:
                bound = self._bound(user.worker)
                read = _exactly(c.type for c in bound if self._heard_on(user.worker, c) == exchange)
            elif user.channel is not None and exchange == t.events:
                read = "^" + re.escape(channel_binding_key(user.channel)[:-1])
            else:
                read = NOTHING
            if exchange == t.events and set(sends) & {c.type for c in CHANNEL_EVENTS}:
                write = f"{write}|{_bcc_keys()}"
            found[exchange.name] = {"write": write, "read": read}
        return found

    def _sent_on(self, contract: type[Message]) -> list[Exchange]:
        """Where a message of ``contract`` is published: its exchange, and the batched
        events' too for a ``BATCHED`` event."""
        again = [self.topology.batched] if contract in BATCHED else []
        return [self.topology.exchange_for(contract), *again]

    def _heard_on(self, worker: str, contract: type[Message]) -> Exchange:
        t = self.topology
        return t.batched if worker in self.batched else t.exchange_for(contract)

    def _bound(self, worker: str) -> list[type[Message]]:
        return [c for c in self.subscribed[worker] if c.kind != "timer"]


def _bcc_keys() -> str:
    """``channel.<any channel>.<type>`` for the ``CHANNEL_EVENTS`` (``shared.topology``): any
    channel, so an order from a channel left out of the settings cannot block intake's relay."""
    types = "|".join(sorted(re.escape(c.type) for c in CHANNEL_EVENTS))
    return f"^{CHANNEL_PREFIX}\\.{CHANNEL_NAME.pattern[1:-1]}\\.({types})$"


def _grant(configure: list[str], write: list[str], read: list[str]) -> dict[str, str]:
    return {"configure": _exactly(configure), "write": _exactly(write), "read": _exactly(read)}


def _exactly(names: Iterable[str]) -> str:
    """A regex matching exactly ``names``: ``^(a|b)$``, or nothing at all."""
    chosen = sorted(set(names))
    if not chosen:
        return NOTHING
    return "^(" + "|".join(re.escape(name) for name in chosen) + ")$"


def _exchange(exchange: Exchange, vhost: str) -> dict[str, Any]:
    return {
        "name": exchange.name,
        "vhost": vhost,
        "type": exchange.type,
        "durable": True,
        "auto_delete": False,
        "internal": False,
        "arguments": {},
    }


def _queue(queue: Queue, vhost: str) -> dict[str, Any]:
    return {
        "name": queue.name,
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": dict(queue.queue_arguments or {}),
    }


def _bindings(queue: Queue, vhost: str) -> list[dict[str, Any]]:
    routes = [(b.exchange, b.routing_key) for b in queue.bindings] or [
        (queue.exchange, queue.routing_key)
    ]
    return [
        {
            "source": exchange.name,
            "vhost": vhost,
            "destination": queue.name,
            "destination_type": "queue",
            "routing_key": key,
            "arguments": {},
        }
        for exchange, key in routes
    ]
