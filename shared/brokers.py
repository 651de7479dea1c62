"""Who is who on the broker: one RabbitMQ user per worker, per sales channel and for the
operator, the URL each one connects with, and the check a worker makes on every delivery that
its publisher was allowed to send it.

RabbitMQ refuses (406) a publish whose AMQP ``user_id`` is not the user of the connection, so a
``user_id`` names its publisher truthfully; topic permissions (``orderflow topology export``)
keep each user to the routing keys it may publish. What they cannot see is the envelope's
``type``, which is what a worker acts on: ``Senders`` compares that with what the ``user_id``'s
owner declares it publishes, with one dict lookup per delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from shared.messaging import BrokerLink

OPERATOR = "operator"
"""The people behind the ``orderflow`` CLI: customer service, warehouse staff, a bank's
notifications typed in, the parking lot's replays."""
CHANNEL = "channel-"

ANY_TYPE = None
"""What the operator may send: a parking-lot replay can be of any type."""
_UNKNOWN: frozenset[str] = frozenset()


def user_name(prefix: str, who: str) -> str:
    """``who`` (a worker, ``channel-<name>`` or ``operator``) as a broker user."""
    return f"{prefix}{who}"


def channel_user(prefix: str, channel: str) -> str:
    return user_name(prefix, CHANNEL + channel)


class BrokerUrlError(ValueError):
    """A broker URL that cannot be completed; the message names the setting."""


def url_for(template: str, password_file: str, who: str) -> str:
    """``template`` with ``{worker}`` replaced by ``who`` and, when ``password_file`` is set,
    the password read from it (``{worker}`` replaced too) put in, URL-quoted."""
    url = template.replace("{worker}", who)
    if not password_file:
        return url
    path = Path(password_file.replace("{worker}", who))
    try:
        password = path.read_text().strip()
    except OSError as error:
        raise BrokerUrlError(
            f"ORDERFLOW_BROKER_PASSWORD_FILE: cannot read {path}: {error.strerror}"
        ) from None
    if not password:
        raise BrokerUrlError(f"ORDERFLOW_BROKER_PASSWORD_FILE: {path} is empty")
    parts = urlsplit(url)
    if not parts.username:
        raise BrokerUrlError(
            "ORDERFLOW_BROKER_URL: names no user, so a password from "
            f"ORDERFLOW_BROKER_PASSWORD_FILE has nobody to go with ({url.split('@')[-1]})"
        )
    host = parts.netloc.rsplit("@", 1)[1]
    netloc = f"{parts.username}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class Senders:
    """Which broker user may send which message types: a worker what its bootstrap
    ``publishes``, the operator anything (``ANY_TYPE``), and any user named
    ``channel_prefix<channel>`` what a channel sends, about its own channel's orders only (its
    ``data.channel``: else one channel could answer for, or block by duplicate, another's). The
    broker's users, not the workers' settings, say which channels there are, so a channel added
    there is not parked here."""

    def __init__(
        self,
        allowed: Mapping[str, frozenset[str] | None],
        channel_prefix: str = "",
        channel_sends: frozenset[str] = frozenset(),
    ) -> None:
        self.allowed = dict(allowed)
        self.channel_prefix = channel_prefix
        self.channel_sends = channel_sends
        self.channels: dict[str, str] = {}
        """Each channel user met so far, to its channel's name."""
        for user in allowed:
            self._channel(user)

    def _channel(self, user: str) -> bool:
        if not self.channel_prefix or not user.startswith(self.channel_prefix):
            return False
        self.channels[user] = user[len(self.channel_prefix) :]
        self.allowed[user] = self.channel_sends
        return True

    def problem(
        self, user_id: object, type_name: str, data: Mapping[str, Any] | None = None
    ) -> str | None:
        """Why a delivery of ``type_name`` about ``data``, published as ``user_id``, is
        forged; None if not."""
        if not user_id:
            return "user_id: missing; the publisher must set it to its broker user"
        user = str(user_id)
        types = self.allowed.get(user, _UNKNOWN)
        if types is _UNKNOWN and self._channel(user):
            types = self.channel_sends
        if types is not ANY_TYPE and type_name not in types:
            if types is _UNKNOWN:
                return f"user_id: {user!r} is no broker user of orderflow's"
            return f"type: {user!r} may not send {type_name!r}"
        channel = self.channels.get(user)
        if channel is not None and (data or {}).get("channel") != channel:
            return f"data.channel: {user!r} may send for channel {channel!r} only"
        return None


def user_of(link: Any, default: str) -> str:
    """The broker user ``link`` connects as; ``default`` on memory://, which has none."""
    if not link.is_amqp:
        return default
    return str(link.connection.userid or "guest")


def signed(link: Any) -> dict[str, str]:
    """The AMQP properties that name the broker user ``link`` connects as (none on memory://)."""
    user = user_of(link, "")
    return {"user_id": user} if user else {}


Trust = Senders | None
"""Who a worker trusts to send what, if it checks at all."""


def connect_as(
    settings: Any, service: Any, senders: Trust
) -> tuple[BrokerLink, str, Senders | None]:
    """A worker's broker link; the broker user it publishes as (on memory://, which has none,
    the one ``orderflow topology export`` names for it); and ``senders``, who may send what,
    to check each delivery against when ``settings.verify_publishers`` is on (else None)."""
    url = settings.broker_url_for(service.name)
    link = BrokerLink(url, heartbeat=settings.heartbeat_seconds)
    user = user_of(link, user_name(settings.broker_user_prefix, service.name))
    return link, user, verified_senders(settings.verify_publishers, senders, user, service)


def verified_senders(
    verify: bool, senders: Senders | None, user: str, service: Any
) -> Senders | None:
    """The ``senders`` a worker checks deliveries against (None when it does not verify
    publishers); refuses to start a worker whose own announcements its peers would park."""
    if not verify:
        return None
    worker = service.name
    if senders is None:
        raise BrokerUrlError(
            f"ORDERFLOW_VERIFY_PUBLISHERS: on, but {worker} was given no map of who may send what"
        )
    allowed = senders.allowed.get(user, frozenset())
    publishes = {contract.type for contract in service.publishes}
    if allowed is not ANY_TYPE and not publishes <= allowed:
        raise BrokerUrlError(
            f"ORDERFLOW_BROKER_URL: {worker} connects as {user!r}, which may not send what "
            f"{worker} publishes; with ORDERFLOW_VERIFY_PUBLISHERS on, every other worker "
            "would park its messages as forged (connect as the user orderflow topology export "
            f"made for {worker})"
        )
    return senders
