"""Runtime settings, read once from the environment (prefix ``ORDERFLOW_``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, NonNegativeFloat, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import setting_checks as check
from shared.brokers import url_for
from shared.contracts import Channel
from shared.crash import CrashPoint
from shared.logs import LogFormat, LogLevel
from shared.topology import CHANNEL_NAME


class RetryPolicy(BaseSettings):
    """What happens to a message that fails transiently, in one place: tried again in process
    with a growing pause; then, if the database answers, again after each delay in turn from
    the timer table, and parked after the last. While the database does not answer at all, the
    loop pauses instead, longer each pass. (Reopening the broker link paces itself:
    ``reconnect_max_seconds``.)"""

    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_", extra="ignore")

    handler_attempts: int = Field(default=4, ge=1, description="in-process tries of a batch item")
    handler_backoff_seconds: float = Field(
        default=0.05,
        gt=0,
        description="pause after the first failed in-process try, doubling after each further "
        "one; each plus up to as much again at random",
    )
    handler_backoff_max_seconds: float = Field(
        default=2.0, gt=0, description="longest pause between in-process tries"
    )
    retry_delays_seconds: list[NonNegativeFloat] = Field(
        default=[1, 10, 60, 300],
        description="delays of the later tries of a message that keeps failing transiently",
    )
    outage_pause_seconds: float = Field(
        default=0.1,
        gt=0,
        description="first pause of the loop while the database does not answer, doubling "
        "(with jitter) while it stays down",
    )
    outage_pause_max_seconds: float = Field(
        default=2.0,
        gt=0,
        description="longest pause of the loop while the database does not answer: a worker "
        "works again within about this long of its return",
    )

    after_commit_pause_seconds: float = Field(
        default=1.0,
        gt=0,
        description="first pause of the after-commit work (e-mail) while its third party "
        "cannot be reached, doubling (with jitter) while it stays so",
    )
    after_commit_pause_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="longest pause of the after-commit work while its third party cannot be "
        "reached: the worker is ready and sending again within about this long of its return",
    )

    @field_validator(
        "handler_backoff_max_seconds", "outage_pause_max_seconds", "after_commit_pause_max_seconds"
    )
    @classmethod
    def _longest_not_below_first(cls, longest: float, info: ValidationInfo) -> float:
        assert info.field_name is not None
        first = info.field_name.replace("_max_seconds", "_seconds")
        if first in info.data:
            check.at_most(info.data[first], longest, first, info.field_name)
        return longest


class LogSettings(BaseSettings):
    """How a worker process writes its log lines (to stderr), and who it says it is in them:
    ``docs/logs.md`` describes the lines and their fields."""

    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_", extra="ignore")

    log_format: LogFormat = Field(
        default=LogFormat.CONSOLE,
        description="console: readable lines for development; json: one JSON object per line, "
        "for a log collector (deploy)",
    )
    log_level: LogLevel = Field(
        default="info",
        description="the least severe lines written (the CLI's --log-level overrides it); "
        "debug adds a line per message handled",
    )
    replica: str | None = Field(
        default=None,
        max_length=200,
        description="this process's name in every log line; unset: host name/pid (on "
        "Kubernetes the host name is the pod's)",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_", extra="ignore")

    broker_url: Annotated[str, AfterValidator(check.broker_url)] = Field(
        default="memory://",
        description="kombu URL: memory:// embedded, amqp://... for RabbitMQ; {worker} becomes "
        "the worker's name (operator for the orderflow CLI), e.g. amqp://orderflow-{worker}@...",
    )
    broker_password_file: str = Field(
        default="",
        description="file holding the broker password, which replaces the URL's; {worker} "
        "becomes the worker's name (operator for the CLI), e.g. /run/secrets/broker-{worker}",
    )
    verify_publishers: bool = Field(
        default=False,
        description="park (kind forged) a delivery whose AMQP user_id is not a broker user "
        "allowed to send its type (see orderflow topology export); on in deploy",
    )
    broker_user_prefix: str = Field(
        default="orderflow-",
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="start of every broker user's name: with orderflow-, the users are "
        "orderflow-stock (a worker), orderflow-channel-web (a channel), orderflow-operator",
    )
    channels: list[str] = Field(
        default=[c.value for c in Channel],
        description="the sales channels that get a broker user and a queue of their own",
        json_schema_extra={"format": 'JSON list, e.g. ["web", "pos"]'},
    )
    database_url: Annotated[str, AfterValidator(check.database_url_template)] = Field(
        default="sqlite:///.orderflow/{worker}.db",
        description="SQLAlchemy URL template; {worker} (exactly once) becomes the worker's name",
    )
    database_urls: dict[str, Annotated[str, AfterValidator(check.database_url)]] = Field(
        default_factory=dict,
        description="per-worker URLs overriding the template",
        json_schema_extra={"format": "JSON object, worker name to URL"},
    )
    namespace: str = Field(
        default="orderflow",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="prefix of every exchange and queue",
    )
    prefetch: int = Field(
        default=200, ge=1, description="deliveries the broker hands a worker before it acks"
    )
    batch_size: int = Field(default=100, ge=1, description="messages handled per transaction")
    max_message_bytes: int = Field(
        default=256 * 1024, ge=1024, description="a larger message body is parked unread"
    )
    publish_event_batches: bool = Field(
        default=True,
        description="publish the business events again in batches, one message per type, for "
        "the reporting worker (it hears nothing else); off only where no reporting worker runs",
    )
    quorum_queues: bool | None = Field(
        default=None, description="unset: quorum queues on RabbitMQ, classic on memory://"
    )
    delivery_limit: int = Field(
        default=20,
        ge=1,
        description="quorum queues: deliveries of one message (each crash or lost link that "
        "leaves it unacked counts) before the broker dead-letters it to the parking lot",
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy,
        description="the retry policy: its settings are listed on their own",
    )
    logs: LogSettings = Field(
        default_factory=LogSettings,
        description="the log settings: their settings are listed on their own",
    )
    outbox_sweep_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how often the outbox is swept for announcements left unpublished",
    )
    timer_poll_seconds: float = Field(
        default=0.2, gt=0, description="how often an idle worker looks for due timers"
    )
    timer_overdue_seconds: float = Field(
        default=60,
        gt=0,
        description="a timer or delayed try due longer ago than this and not fired counts in "
        "orderflow_timers_overdue",
    )
    gauge_refresh_seconds: float = Field(
        default=15,
        gt=0,
        description="how often a worker reads its slow gauges: its parking lot's depth from the "
        "broker and, in intake, the orders per status from its database",
    )
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 disables the endpoint")
    heartbeat_seconds: int = Field(
        default=30,
        ge=0,
        description="AMQP heartbeat: a dead broker link is noticed within about twice this "
        "(0: off)",
    )
    reconnect_max_seconds: float = Field(
        default=2.0,
        gt=0,
        description="longest pause between tries to open the broker link (or, at start, the "
        "database) in an outage: a worker works again within about this long of the server's "
        "return",
    )
    shutdown_seconds: float = Field(
        default=10, ge=0, description="bound on finishing the messages in hand after SIGTERM"
    )
    health_window_seconds: float = Field(
        default=60,
        gt=0,
        description="live: a loop pass within it; ready: the database answered within it",
    )
    crash_at: CrashPoint | None = Field(default=None, description="test only: see shared.crash")
    crash_after: int = Field(default=1, ge=1, description="test only: the occurrence to crash at")

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, channels: list[str]) -> list[str]:
        for channel in channels:
            if not CHANNEL_NAME.match(channel):
                raise ValueError(f"{channel!r} is not a channel name (a-z, 0-9, _ and - only)")
        return channels

    def broker_url_for(self, who: str) -> str:
        """The broker URL ``who`` (a worker, or ``operator``) connects with: ``{worker}``
        filled in, the password read from ``broker_password_file`` if one is set."""
        return url_for(self.broker_url, self.broker_password_file, who)

    def database_url_for(self, worker: str) -> str:
        return self.database_urls.get(worker) or self.database_url.format(worker=worker)

    @property
    def on_real_broker(self) -> bool:
        return not self.broker_url.startswith("memory://")

    @property
    def use_quorum_queues(self) -> bool:
        return self.on_real_broker if self.quorum_queues is None else self.quorum_queues


class LocalBroker(Exception):
    """The broker is memory://, which lives inside one process: nobody else can reach it."""


def refuse_unless_real_broker(settings: Settings, consequence: str, instead: str = "") -> None:
    """Raise ``LocalBroker`` on memory://, saying what would go wrong (``consequence``) and what
    to do ``instead``, besides pointing the URL at RabbitMQ; for a process that is not the
    workers' own (the CLI), before it looks anything up."""
    if not settings.on_real_broker:
        raise LocalBroker(
            "ORDERFLOW_BROKER_URL is memory://, which lives inside the process that runs the "
            f"workers: {consequence}. Point it at RabbitMQ (amqp://...){instead}."
        )
