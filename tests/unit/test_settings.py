"""The runtime's settings: the retry policy in one block, read from the variables it always had,
and one refusal for commands that need the workers' broker."""

from __future__ import annotations

import pytest

from shared.settings import LocalBroker, Settings, refuse_unless_real_broker


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
