"""Intake's events about an order reach the queue of the channel that submitted it, and only
that channel's: the publisher names ``channel.<channel>.<type>`` as a second routing key."""

from __future__ import annotations

from shared.contracts import (
    OrderCancelled,
    OrderCompleted,
    OrderRejected,
    Problem,
    StockReleased,
)
from shared.crash import CrashPoints
from shared.envelope import wrap
from shared.messaging import BrokerLink
from shared.publisher import Publisher
from shared.topology import CHANNEL_EVENTS, Topology, channel_binding_key, channel_headers
from tests.factories import order_placed


def test_the_answers_and_the_fate_of_an_order_name_its_channel_as_a_blind_copy() -> None:
    for event in (
        order_placed(channel="pos"),
        OrderRejected(
            order_id="ord-1",
            channel="pos",
            external_id="P-1",
            problems=[Problem(field="currency", message="XXX is not accepted")],
        ),
        OrderCancelled(order_id="ord-1", reason="out_of_stock", channel="pos"),
        OrderCompleted(order_id="ord-1", channel="pos"),
    ):
        data = event.model_dump(mode="json")
        assert channel_headers(event.type, data) == {"BCC": [f"channel.pos.{event.type}"]}
    assert {c.type for c in CHANNEL_EVENTS} == {
        "order.placed",
        "order.rejected",
        "order.cancelled",
        "order.completed",
    }


def test_other_events_and_events_naming_no_usable_channel_get_no_copy() -> None:
    released = StockReleased(order_id="ord-1", reason="out_of_stock")
    assert channel_headers(released.type, released.model_dump(mode="json")) == {}
    assert channel_headers("order.completed", {"order_id": "ord-1", "channel": None}) == {}
    assert channel_headers("order.rejected", {"channel": "web.#"}) == {}


def test_the_publisher_puts_the_copy_on_what_it_sends() -> None:
    topology = Topology("ns", quorum=False, delivery_limit=20)
    publisher = Publisher("intake", BrokerLink("memory://"), topology, CrashPoints(None, 1))
    trace = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    completed = OrderCompleted(order_id="ord-1", channel="web")
    envelope = wrap(completed, source="intake", trace=trace)

    outgoing = publisher.outgoing(envelope)

    assert outgoing.routing_key == "order.completed"
    assert outgoing.exchange.name == "ns.events"
    assert outgoing.headers == {"BCC": ["channel.web.order.completed"], **trace}


def test_a_channel_queue_is_bound_to_its_own_copies_only() -> None:
    queue = Topology("ns", quorum=True, delivery_limit=20).channel_queue("web")

    assert queue.name == "ns.channel.web"
    assert (queue.exchange.name, queue.routing_key) == ("ns.events", channel_binding_key("web"))
    assert queue.routing_key == "channel.web.#"
    assert queue.queue_arguments == {"x-queue-type": "quorum"}
