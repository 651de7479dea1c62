"""A sender using the CloudEvents SDK's binary mode (attributes in AMQP headers, the body only the
data) is served like one sending structured envelopes; one that leaves out an attribute is parked
with the attribute named. On memory:// and on the real RabbitMQ, and a channel's binary-mode
submit, published with pika, is placed by a real intake worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pika
import pytest
from cloudevents.core.bindings import rabbitmq as ce_rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from kombu import Connection, Queue
from kombu.simple import SimpleQueue

from orderflow.export.asyncapi import asyncapi
from orderflow.export.asyncapi_wire import wire_of
from services.intake import bootstrap as intake
from shared.contracts import StockItemListed
from shared.envelope import wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.factories import order_placed, order_submit
from tests.integration.helpers import received, reserved, taken
from tests.support import tear_down


def binary(event: CloudEvent) -> ce_rabbitmq.RabbitMQMessage:
    return ce_rabbitmq.to_binary(event, JSONFormat())


def placed_event(order_id: str, **changes: Any) -> CloudEvent:
    attributes = {
        "id": f"ce-{order_id}",
        "source": "intake",
        "type": "order.placed",
        "subject": order_id,
        "datacontenttype": "application/json",
        "correlationid": f"web:{order_id}",
        **changes,
    }
    return CloudEvent(attributes=attributes, data=order_placed(order_id).model_dump(mode="json"))


def publish(sender: BrokerLink, topology: Topology, message: ce_rabbitmq.RabbitMQMessage) -> None:
    sender.publish_confirmed(
        [
            Outgoing(
                body=message.body,
                exchange=topology.events,
                routing_key="order.placed",
                message_id=message.headers["ce-id"],
                headers=dict(message.headers),
                content_type=message.content_type,
                content_encoding=None,
            )
        ]
    )


def test_a_binary_mode_event_is_handled_and_one_missing_an_attribute_is_parked(
    worker: Worker,
    events: SimpleQueue,
    parking: SimpleQueue,
    sender: BrokerLink,
    topology: Topology,
) -> None:
    publish(sender, topology, binary(placed_event("ord-bin")))
    nameless = binary(placed_event("ord-nameless"))
    del nameless.headers["ce-subject"]
    publish(sender, topology, nameless)

    [(body, _)] = received(events, worker, 1)
    announced = json.loads(body)
    assert (announced["type"], announced["subject"]) == ("stock.reserved", "ord-bin")
    assert (announced["causationid"], announced["correlationid"]) == ("ce-ord-bin", "web:ord-bin")
    [copy] = taken(parking, worker, 1)
    assert copy.headers["x-orderflow-kind"] == "malformed"
    assert copy.headers["x-orderflow-reason"] == (
        "CloudEvents binary mode: missing attribute subject "
        "(header cloudEvents:subject or cloudEvents_subject or ce-subject)"
    )
    assert copy.headers["ce-id"] == "ce-ord-nameless"  # kept as sent, to be replayed as sent
    assert copy.content_type == "application/json"
    assert reserved(worker) == 2  # ord-bin's two mugs only


def pika_url(kombu_url: str) -> str:
    """kombu writes the default virtual host as a trailing ``//``; pika wants it encoded."""
    parts = urlsplit(kombu_url)
    return urlunsplit(parts._replace(path="/" + quote(parts.path[1:] or "/", safe="")))


@pytest.fixture
def intake_worker(settings: Settings) -> Iterator[Worker]:
    worker = Worker(intake.bootstrap(), settings)
    worker.start()
    try:
        yield worker
    finally:
        worker.close()
        tear_down(settings, ["intake", "answers"])


@pytest.mark.parametrize("settings", ["rabbitmq"], indirect=True)
def test_a_channel_submitting_with_the_cloudevents_sdk_over_pika_is_answered_placed(
    settings: Settings, intake_worker: Worker, sender: BrokerLink, topology: Topology
) -> None:
    answers = Queue(
        topology.worker_queue_name("answers"), exchange=topology.events, routing_key="order.*"
    )
    listed = wrap(StockItemListed(sku="MUG-BLUE"), source="stock")
    sender.publish_confirmed(
        [Outgoing(listed.encode(), topology.events, listed.type, message_id=listed.id)]
    )
    submit = CloudEvent(
        attributes={
            "id": "ce-web-77",
            "source": "channel.web",
            "type": "order.submit",
            "subject": "web:WEB-77",
            "datacontenttype": "application/json",
            "correlationid": "web:WEB-77",
        },
        data=order_submit(external_id="WEB-77").model_dump(mode="json"),
    )
    message = binary(submit)

    with Connection(settings.broker_url) as connection:
        heard = connection.SimpleQueue(answers)
        intake_worker.poll(0.2)  # the catalogue first: MUG-BLUE listed
        with pika.BlockingConnection(pika.URLParameters(pika_url(settings.broker_url))) as link:
            channel = link.channel()
            channel.confirm_delivery()
            channel.basic_publish(
                exchange=topology.commands.name,
                routing_key="order.submit",
                body=message.body,
                properties=pika.BasicProperties(
                    content_type=message.content_type,
                    headers=dict(message.headers),
                    message_id=message.headers["ce-id"],
                    delivery_mode=2,
                ),
                mandatory=True,
            )
        [answer] = taken(heard, intake_worker, 1)
        heard.close()

    envelope = json.loads(answer.body)
    assert envelope["type"] == "order.placed", envelope["data"]
    assert (envelope["causationid"], envelope["correlationid"]) == ("ce-web-77", "web:WEB-77")
    assert envelope["data"]["external_id"] == "WEB-77"
    assert envelope["subject"].startswith("ord_")
    described = asyncapi()["components"]["messages"]["order.placed"]["x-amqp-properties"]
    arrived = wire_of(answer)
    assert set(arrived.properties) == set(described)  # the contract's, as the worker sent it
    assert arrived.properties["message_id"] == envelope["id"]
    assert arrived.properties["correlation_id"] == envelope["correlationid"]
    assert arrived.headers == ("traceparent",)  # the broker took the BCC header off
