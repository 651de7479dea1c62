"""The runtime's settings: the retry policy in one block, read from the variables it always had."""

from __future__ import annotations

import pytest

from shared.settings import Settings


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
