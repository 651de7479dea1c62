"""The runtime's settings: the retry policy in one block, read from the variables it always had,
and one refusal for commands that need the workers' broker."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notifier.settings import NotifierSettings
from shared.settings import LocalBroker, RetryPolicy, Settings, refuse_unless_real_broker


def test_the_retry_policy_reads_the_variables_it_always_had(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_HANDLER_ATTEMPTS", "2")
    monkeypatch.setenv("ORDERFLOW_RETRY_DELAYS_SECONDS", "[0.5, 30]")
    monkeypatch.setenv("ORDERFLOW_OUTAGE_PAUSE_MAX_SECONDS", "5")

    retry = Settings().retry

    assert (retry.handler_attempts, retry.retry_delays_seconds) == (2, [0.5, 30])
    assert retry.outage_pause_max_seconds == 5
    assert Settings().reconnect_max_seconds == 2.0  # the broker link's own, apart


def test_a_command_for_the_workers_is_refused_on_memory_saying_why() -> None:
    with pytest.raises(LocalBroker) as refused:
        refuse_unless_real_broker(Settings(broker_url="memory://"), "nobody hears", " or not")

    assert str(refused.value) == (
        "ORDERFLOW_BROKER_URL is memory://, which lives inside the process that runs the "
        "workers: nobody hears. Point it at RabbitMQ (amqp://...) or not."
    )


def test_a_real_broker_is_not_refused() -> None:
    refuse_unless_real_broker(Settings(broker_url="amqp://guest:guest@localhost//"), "x")


# -- checked at start: a bad value names the setting and the problem --------------------------


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("postgresql+psycopg://pg/orderflow_{worker}}", "Single '}' encountered"),
        ("postgresql+psycopg://pg/orderflow_{worker", "expected '}'"),
        ("postgresql+psycopg://pg/orderflow", "contains {worker} 0 times"),
        ("postgresql+psycopg://pg/{worker}_{worker}", "contains {worker} 2 times"),
        ("postgresql+psycopg://pg/{workers}", "placeholders other than {worker}: {workers}"),
        ("postgresql+psycopg://pg/{worker}_{{x}}", "has a brace besides {worker}"),
        ("postgresql+psycopg://pg/{worker!r}", "no format spec or conversion"),
        ("not a url {worker}", "is not a SQLAlchemy URL"),
    ],
)
def test_a_database_url_template_needs_worker_exactly_once(template: str, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=template)

    [error] = refused.value.errors()
    assert error["loc"] == ("database_url",)
    assert problem in error["msg"]


def test_a_good_template_is_taken_and_filled_in_once() -> None:
    settings = Settings(database_url="postgresql+psycopg://u@pg:5432/orderflow_{worker}")
    assert settings.database_url_for("stock") == "postgresql+psycopg://u@pg:5432/orderflow_stock"


def test_a_per_worker_url_is_no_template() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(database_urls={"stock": "sqlite:///{worker}.db"})

    [error] = refused.value.errors()
    assert error["loc"] == ("database_urls", "stock")
    assert "not a template" in error["msg"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("rabbitmq:5672", "scheme 'rabbitmq' is not one of memory, amqp"),
        ("amqp:///", "has no host"),
        ("amqp://guest@rabbitmq:fivesix//", "port is not a number"),
    ],
)
def test_a_broker_url_must_be_one_the_runtime_speaks(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(broker_url=url)

    [error] = refused.value.errors()
    assert (error["loc"], problem in error["msg"]) == (("broker_url",), True)


def test_a_longest_pause_may_not_be_shorter_than_the_first() -> None:
    with pytest.raises(ValidationError) as refused:
        RetryPolicy(outage_pause_seconds=5, outage_pause_max_seconds=2)

    [error] = refused.value.errors()
    assert error["loc"] == ("outage_pause_max_seconds",)
    assert error["msg"] == "is shorter (2) than outage_pause_seconds (5)"


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("smtp_host", "smtp://mailpit:1025", "not a URL"),
        ("smtp_host", "mailpit:1025", "put the port in smtp_port"),
        ("smtp_port", 0, "greater than or equal to 1"),
        ("sender_address", "orders at example", "not a valid email address"),
        ("smtp_timeout_seconds", 0, "greater than 0"),
    ],
)
def test_the_notifiers_mail_settings_are_checked(setting: str, value: object, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        NotifierSettings(**{setting: value})

    [error] = refused.value.errors()
    assert error["loc"] == (setting,)
    assert problem in error["msg"]


def test_an_smtp_password_without_a_user_is_refused() -> None:
    with pytest.raises(ValidationError, match="smtp_password: set without smtp_username"):
        NotifierSettings(smtp_host="mailpit", smtp_password="secret")
