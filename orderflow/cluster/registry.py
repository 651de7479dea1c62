"""The worker registry: name to bootstrap, in the order an order meets them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from pydantic_settings import BaseSettings

from shared.clock import Clock
from shared.contracts import Message
from shared.service import Service

NAMES = [
    "intake",
    "stock",
    "payment",
    "warehouse",
    "shipping",
    "aftersales",
    "notifier",
    "reporting",
]
"""Each is ``services/<name>``, whose ``bootstrap`` module builds it."""


class UnknownWorker(ValueError):
    pass


def bootstrap_module(name: str) -> ModuleType:
    """The named worker's bootstrap module, imported on demand: a worker process loads its own
    code and not the seven others'."""
    if name not in NAMES:
        known = ", ".join(NAMES)
        raise UnknownWorker(f"worker: no worker named {name!r}; choose one of {known}")
    return importlib.import_module(f"services.{name}.bootstrap")


def publishes(name: str) -> frozenset[type[Message]]:
    """What the worker announces, as its bootstrap declares it, without building the worker."""
    announced: frozenset[type[Message]] = bootstrap_module(name).PUBLISHES
    return announced


def build(name: str, clock: Clock | None = None, settings: BaseSettings | None = None) -> Service:
    """The named worker's service; ``settings`` (that worker's own settings class, e.g.
    ``WarehouseSettings``) replaces what its bootstrap would read from the environment."""
    bootstrap: Callable[..., Service] = bootstrap_module(name).bootstrap
    if settings is None:
        return bootstrap(clock=clock)
    return bootstrap(clock=clock, settings=settings)
