"""What every ``orderflow`` command shares: output, settings, failing with a clear message, and
sending a command to the workers and reading back the answer of the one that decides."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from shared.brokers import OPERATOR, BrokerUrlError
from shared.envelope import describe
from shared.service import Service
from shared.settings import LocalBroker, Settings, refuse_unless_real_broker
from shared.worker import Worker

console = Console()
errors = Console(stderr=True)

Wait = Annotated[float, typer.Option(help="Seconds to wait for the answer; 0 to not wait.")]
Answer = str | Callable[[Mapping[str, Any]], str]
"""How to print a worker's answer: a fixed text (followed by the answer's reason, if any), or a
function of the answer's data."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` (as written: what the user typed is never read as markup)."""
    errors.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise fail(f"settings: {settings_problems(error, 'ORDERFLOW_')}") from None


@contextmanager
def worker_settings_checked() -> Iterator[None]:
    """Turn a worker's own bad settings (``ORDERFLOW_<WORKER>_*``), met while its service is
    built, into a clean error naming each variable."""
    try:
        yield
    except ValidationError as error:
        name = error.title.removesuffix("Settings").lower()
        problems = settings_problems(error, f"ORDERFLOW_{name.upper()}_")
        raise fail(f"{name} settings: {problems}") from None


def settings_problems(error: ValidationError, prefix: str) -> str:
    """Each bad setting with its environment variable and its problem, e.g. ``database_url
    (ORDERFLOW_DATABASE_URL): contains {worker} 2 times; ...``."""
    problems = []
    for problem in error.errors():
        names = [part for part in problem["loc"] if isinstance(part, str)]
        if names:
            variable = f"{prefix}{names[0].upper()}"
            where = f"{'.'.join(names)} ({variable})"
        else:
            where = f"{prefix}* settings"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)


def sending_settings() -> Settings:
    """Settings for a command that sends: refused at once on memory://, which no worker shares,
    before any database is looked at."""
    from .commands import NO_WORKER_SEES_COMMANDS

    return real_broker_settings(NO_WORKER_SEES_COMMANDS)


def real_broker_settings(consequence: str, instead: str = "") -> Settings:
    """Settings for a command that needs the workers' broker: refused at once on memory://
    (see ``refuse_unless_real_broker``)."""
    settings = load_settings()
    try:
        refuse_unless_real_broker(settings, consequence, instead)
        settings.broker_url_for(OPERATOR)
    except (LocalBroker, BrokerUrlError) as error:
        raise fail(str(error)) from None
    return settings


def valid(contract: Any, **fields: Any) -> Any:
    """Build a command, turning validation errors into messages that name the field."""
    try:
        return contract(**fields)
    except ValidationError as error:
        raise fail(describe(error)) from None


def act(
    message: Any,
    answers: Mapping[str, Answer],
    wait: float,
    refused: set[str],
    match: Mapping[str, Any] | None = None,
) -> None:
    """Send a command, then print the owning worker's answer (exit 1 if it refused). ``match``
    names fields the answer must carry (a request id), so another request's answer is not taken
    for this one's."""
    from ..cluster.databases import WorkerDatabases
    from .commands import NotAllowed, await_answer, now, send

    settings = sending_settings()
    started = now()
    try:
        envelope = send(settings, message)
    except NotAllowed as error:
        raise fail(str(error)) from None
    console.print(f"sent {envelope.type} for {envelope.subject} (message {envelope.id})")
    if not wait:
        return
    dbs = WorkerDatabases(settings)
    try:
        answer = await_answer(dbs, envelope.subject, answers, started, wait, match or {})
    finally:
        dbs.dispose()
    if answer is None:
        raise fail(f"no answer within {wait:g}s; see `orderflow order show {envelope.subject}`", 1)
    console.print(_said(answers[answer.type], answer.data))
    if answer.type in refused:
        raise typer.Exit(1)


def _said(answer: Answer, data: Mapping[str, Any]) -> str:
    if callable(answer):
        return answer(data)
    detail = data.get("reason") or ""
    return answer + (f": {detail}" if detail else "")


def check_order(order_id: str, action: str, check: Callable[..., None] | None = None) -> None:
    """Refuse at once what the order's state (as intake sees it) makes pointless."""
    from ..cluster.databases import WorkerDatabases
    from .commands import NotAllowed, order_state, refuse_if_closed

    dbs = WorkerDatabases(sending_settings(), ["intake"])
    try:
        (check or refuse_if_closed)(order_state(dbs, order_id), action)
    except NotAllowed as error:
        raise fail(str(error)) from None
    finally:
        dbs.dispose()


def checked_worker(service: Service, settings: Settings) -> Worker:
    """The worker for ``service``, checking every delivery's sender when the settings say so;
    a broker user its peers would refuse is a clear error, not a traceback."""
    from ..cluster.users import senders

    try:
        return Worker(service, settings, trust=senders(settings))
    except BrokerUrlError as error:
        raise fail(str(error)) from None
