"""The contract checked in under contracts/ is exactly what the code generates."""

from __future__ import annotations

from orderflow.contracts import ROOT, asyncapi, rendered


def test_the_checked_in_contract_matches_the_code() -> None:
    stale = [
        str(path)
        for path, text in rendered().items()
        if not (ROOT / path).exists() or (ROOT / path).read_text() != text
    ]
    assert stale == [], "contracts/ is stale: run `./dev contracts export` and commit the result"


def test_every_subscribed_message_has_a_channel_with_its_consumers() -> None:
    channels = asyncapi()["channels"]

    assert channels["order.submit"]["x-kind"] == "command"
    assert channels["order.placed"]["x-consumers"] == [
        "stock",
        "payment",
        "shipping",
        "aftersales",
        "notifier",
    ]
    assert "order.completion_due" not in channels
