"""A sales channel drives orderflow with the pika client of clients/channel/, which knows only
the published contract: every worker a process on the real RabbitMQ and PostgreSQL. Each channel
hears its own orders' answers and ends on its own queue, and nothing of another channel's."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from orderflow_channel import ChannelClient

from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.operations import await_listed, set_stock
from shared.settings import Settings

SKU = "MUG-BLUE"
WAIT = 120


def order(channel: str, external_id: str, **changes: Any) -> dict[str, Any]:
    """An order as a channel writes it, in plain JSON types."""
    address = {"line1": "Invalidenstr. 117", "city": "Berlin", "postal_code": "10115"}
    placed: dict[str, Any] = {
        "channel": channel,
        "external_id": external_id,
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "language": "en"},
        "lines": [{"sku": SKU, "quantity": 2, "unit_price": 1250}],
        "currency": "EUR",
        "shipping_fee": 495,
        "delivery": {"option": "standard", "address": {**address, "country": "DE"}},
        "payment": {"method": "card", "token": "tok_visa"},
    }
    placed.update(changes)
    return placed


def pika_url(kombu_url: str) -> str:
    """kombu writes the default virtual host as a trailing ``//``; pika wants it encoded."""
    parts = urlsplit(kombu_url)
    vhost = parts.path[1:] or "/"
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


def test_a_channel_hears_its_answers_and_its_orders_end_on_its_own_queue(
    settings: Settings, processes: ProcessCluster
) -> None:
    processes.start()
    set_stock(settings, SKU, 100, "A-01-02", 350)
    await_listed(settings, [SKU])
    url, namespace = pika_url(settings.broker_url), settings.namespace
    nowhere = {
        "option": "standard",
        "address": {"line1": "1 Road", "city": "X", "postal_code": "1", "country": "ZZ"},
    }

    with (
        ChannelClient(url, "web", namespace) as web,
        ChannelClient(url, "pos", namespace) as pos,
    ):
        web.listen()
        pos.listen()
        good = web.submit(order("web", "WEB-1"))
        bad = web.submit(order("web", "WEB-2", currency="XXX", delivery=nowhere))
        till = pos.submit(order("pos", "POS-1"))

        placed = web.answer(good, WAIT)
        rejected = web.answer(bad, WAIT)
        assert placed.placed and placed.order_id.startswith("ord_")
        assert placed.envelope["causationid"] == good.message_id
        assert placed.envelope["correlationid"] == "web:WEB-1"
        assert rejected.rejected
        assert rejected.envelope["causationid"] == bad.message_id
        assert {field for field, _ in rejected.problems} == {
            "currency",
            "delivery.address.country",
        }

        completed = web.end(placed.order_id, WAIT)
        assert completed.type == "order.completed"
        pos_placed = pos.answer(till, WAIT)
        assert pos.end(pos_placed.order_id, WAIT).type == "order.completed"
        pos.hear(1.0)

    assert {(e.type, e.data["external_id"]) for e in web.received if "external_id" in e.data} == {
        ("order.placed", "WEB-1"),
        ("order.rejected", "WEB-2"),
    }
    assert {e.data["channel"] for e in web.received} == {"web"}
    assert {e.data["channel"] for e in pos.received} == {"pos"}
    assert {e.envelope["subject"] for e in pos.received} == {pos_placed.order_id}
    assert [e.type for e in pos.received] == ["order.placed", "order.completed"]
