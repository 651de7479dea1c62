"""The worker registry: name to bootstrap, in the order an order meets them."""

from __future__ import annotations

from collections.abc import Callable

from pydantic_settings import BaseSettings

from services.aftersales import bootstrap as aftersales
from services.intake import bootstrap as intake
from services.notifier import bootstrap as notifier
from services.payment import bootstrap as payment
from services.reporting import bootstrap as reporting
from services.shipping import bootstrap as shipping
from services.stock import bootstrap as stock
from services.warehouse import bootstrap as warehouse
from shared.clock import Clock
from shared.contracts import Message
from shared.service import Service

_MODULES = (intake, stock, payment, warehouse, shipping, aftersales, notifier, reporting)
BOOTSTRAPS: dict[str, Callable[..., Service]] = {m.NAME: m.bootstrap for m in _MODULES}
NAMES = list(BOOTSTRAPS)
PUBLISHES: dict[str, frozenset[type[Message]]] = {m.NAME: m.PUBLISHES for m in _MODULES}
"""What each worker announces, as its bootstrap declares it, without building the worker."""


class UnknownWorker(ValueError):
    pass


def build(name: str, clock: Clock | None = None, settings: BaseSettings | None = None) -> Service:
    """The named worker's service; ``settings`` (that worker's own settings class, e.g.
    ``WarehouseSettings``) replaces what its bootstrap would read from the environment."""
    try:
        bootstrap = BOOTSTRAPS[name]
    except KeyError:
        known = ", ".join(NAMES)
        raise UnknownWorker(f"worker: no worker named {name!r}; choose one of {known}") from None
    if settings is None:
        return bootstrap(clock=clock)
    return bootstrap(clock=clock, settings=settings)
