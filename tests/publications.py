"""Every message a worker announces in any test is one its bootstrap declares (``publishes``).

``watch()`` wraps, once per test session, what announces on a worker's behalf: each handler of its
bootstrap's tables (in its module and in the table itself, so a test that imports the function
and a bootstrap built later both call the wrapper), each operator action of its ``admin`` module,
and its after-commit work's ``announce``. The wrappers only record; a fixture fails the test in
which a recorded message is undeclared. A timer the worker schedules for itself (its handler
table names the type) is not an announcement; one it does not handle is published when due.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orderflow.cluster.registry import NAMES, build
from shared.actions import Done
from shared.contracts import Message
from shared.service import Service
from shared.timers import Scheduled


@dataclass(frozen=True)
class Announced:
    worker: str
    by: str
    message: Message
    scheduled: bool = False


@dataclass
class Watch:
    services: dict[str, Service] = field(default_factory=dict)
    seen: list[Announced] = field(default_factory=list)

    def record(self, worker: str, by: str, results: Iterable[object]) -> None:
        for result in results:
            if isinstance(result, Scheduled):
                self.seen.append(Announced(worker, by, result.message, scheduled=True))
            elif isinstance(result, Message):
                self.seen.append(Announced(worker, by, result))

    def undeclared(self) -> list[str]:
        return sorted({self.problem(a) for a in self.seen if not self.declares(a)})

    def declares(self, announced: Announced) -> bool:
        service = self.services[announced.worker]
        contract = type(announced.message)
        if announced.scheduled and contract in service.handlers:
            return True
        return contract in service.publishes

    @staticmethod
    def problem(a: Announced) -> str:
        return f"{a.worker}: {a.by} announced {a.message.type}, which it does not declare"


WATCH = Watch()
PROJECT = {"services", "shared", "orderflow"}


def watch() -> None:
    for name in NAMES:
        service = WATCH.services[name] = build(name)
        tables = [service.handlers, service.invalid_handlers]
        for handler in {bound.func for table in tables for bound in table.values()}:
            _replace(handler, _watched(name, handler, results=lambda result: result))
        for action in _operator_actions(name):
            _replace(action, _watched(name, action, results=_announced_by_action))
        if service.after_commit is not None:
            work = type(service.after_commit)
            setattr(work, "__call__", _watched_after_commit(name, work.__call__))  # noqa: B010


def _watched(worker: str, function: Callable[..., Any], results: Callable[[Any], Any]) -> Any:
    @functools.wraps(function)
    def watched(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if isinstance(result, Iterable) and not isinstance(result, Sequence | Done):
            result = list(result)
        WATCH.record(worker, function.__name__, results(result))
        return result

    return watched


def _announced_by_action(result: Any) -> Sequence[Message]:
    return result.announced if isinstance(result, Done) else ()


def _watched_after_commit(worker: str, call: Callable[..., Any]) -> Any:
    @functools.wraps(call)
    def watched(self: Any, sessions: Any, announce: Any, *args: Any, **kwargs: Any) -> Any:
        def recorded(session: Any, messages: Sequence[Message], traces: Any = ()) -> None:
            WATCH.record(worker, f"{type(self).__name__} (after commit)", messages)
            announce(session, messages, traces)

        return call(self, sessions, recorded, *args, **kwargs)

    return watched


def _operator_actions(worker: str) -> list[Callable[..., Any]]:
    name = f"services.{worker}.admin"
    if importlib.util.find_spec(name) is None:
        return []
    module = importlib.import_module(name)
    return [
        function
        for function in vars(module).values()
        if inspect.isfunction(function) and function.__module__ == name
    ]


def _replace(function: Callable[..., Any], wrapper: Any) -> None:
    """Put ``wrapper`` wherever the project's modules hold ``function``: names and tables."""
    ours = [m for name, m in sys.modules.items() if name.split(".")[0] in PROJECT]
    for module in ours:
        for name, value in list(vars(module).items()):
            if value is function:
                setattr(module, name, wrapper)
            elif isinstance(value, dict):
                for key, held in value.items():
                    if held is function:
                        value[key] = wrapper
