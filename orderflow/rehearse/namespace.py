"""A rehearsal's own corner of the real deployment: a vhost of its own on the broker (made and
deleted with ``rabbitmqctl``, which may run anywhere: ``kubectl exec rabbitmq-0 --
rabbitmqctl``), and databases with a prefix of their own on the deployment's PostgreSQL. Nothing
the deployment's workers use is touched: they see neither the vhost nor the databases."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from sqlalchemy import make_url

from shared.brokers import OPERATOR
from shared.database import drop_postgres_database
from shared.settings import Settings

from ..cluster.registry import NAMES

VHOST_PREFIX = "orderflow-rehearsal-"
DATABASE_PREFIX = "orderflow_rehearsal_"


class RehearsalError(Exception):
    """Something the rehearsal cannot work around; the message says what and where."""


@dataclass(frozen=True)
class Namespace:
    id: str
    vhost: str
    user: str
    """the broker user every rehearsal worker connects as (the deployment's operator)"""
    settings: Settings
    """the deployment's settings, pointed at the vhost and the rehearsal's databases"""
    rabbitmqctl: str

    @property
    def databases(self) -> list[str]:
        return [str(make_url(self.settings.database_url_for(name)).database) for name in NAMES]

    def add_vhost(self) -> None:
        self.ctl("add_vhost", self.vhost)

    def permit(self) -> None:
        """Let the operator's broker user, which every rehearsal worker connects as, do all."""
        self.ctl("set_permissions", "-p", self.vhost, self.user, ".*", ".*", ".*")

    def delete_vhost(self) -> None:
        self.ctl("delete_vhost", self.vhost)

    def drop_databases(self) -> None:
        for name in NAMES:
            drop_postgres_database(self.settings.database_url_for(name))

    def ctl(self, *args: str) -> None:
        command = [*shlex.split(self.rabbitmqctl), "-q", *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RehearsalError(f"rabbitmqctl ({shlex.join(command)}): {error}") from None
        if done.returncode != 0:
            raise RehearsalError(
                f"rabbitmqctl ({shlex.join(command)}) exited with {done.returncode}: "
                f"{first_error(done.stderr or done.stdout)}"
            )

    def cleanup_commands(self) -> list[str]:
        """What removes a kept rehearsal by hand: a shell line, then SQL."""
        return [
            f"{self.rabbitmqctl} delete_vhost {shlex.quote(self.vhost)}",
            *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);' for name in self.databases),
        ]


def first_error(output: str) -> str:
    """The line of rabbitmqctl's output that says what went wrong (its usage text follows)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or ["no output"])[0]


def new_namespace(deployment: Settings, rabbitmqctl: str, run_id: str | None = None) -> Namespace:
    """The rehearsal's names and settings (nothing is made yet)."""
    if not deployment.on_real_broker:
        raise RehearsalError(
            "broker_url (ORDERFLOW_BROKER_URL): memory:// lives inside one process; rehearse "
            "needs the deployment's RabbitMQ (amqp://...)"
        )
    if not deployment.database_url.startswith("postgresql"):
        raise RehearsalError(
            "database_url (ORDERFLOW_DATABASE_URL): rehearse makes databases of its own on the "
            "deployment's PostgreSQL; expected postgresql+psycopg://..."
        )
    run_id = run_id or uuid.uuid4().hex[:8]
    vhost = f"{VHOST_PREFIX}{run_id}"
    operator = urlsplit(deployment.broker_url_for(OPERATOR))
    broker_url = urlunsplit(operator._replace(path="/" + quote(vhost, safe="")))
    settings = deployment.model_copy(
        update={
            "broker_url": broker_url,
            "broker_password_file": "",
            "verify_publishers": False,
            "database_url": database_template(deployment.database_url, run_id),
            "database_urls": {},
        }
    )
    user = unquote(operator.username or "guest")
    return Namespace(run_id, vhost, user, settings, rabbitmqctl)


def database_template(url: str, run_id: str) -> str:
    """The deployment's database URL template with the database named after the rehearsal."""
    parsed = make_url(url.replace("{worker}", "worker"))
    renamed = parsed.set(database=f"{DATABASE_PREFIX}{run_id}_{{worker}}")
    return renamed.render_as_string(hide_password=False).replace("%7B", "{").replace("%7D", "}")


class Teardown:
    """Undo steps, the last one added first (workers stop before their databases are dropped,
    and those before the vhost goes); every step is tried even when one before it fails."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], object]]] = []

    def add(self, what: str, step: Callable[[], object]) -> None:
        self.steps.append((what, step))

    def run(self) -> list[str]:
        """Run every step; returns what failed, each as ``what: error``."""
        failures = []
        while self.steps:
            what, step = self.steps.pop()
            try:
                step()
            except Exception as error:
                failures.append(f"{what}: {error}")
        return failures
