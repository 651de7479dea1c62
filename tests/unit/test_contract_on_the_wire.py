"""The published contract describes a message as it travels: the AMQP properties and headers the
runtime really sets, and a body the runtime really writes; and the CloudEvents binary-mode
headers the CloudEvents SDK really sends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cloudevents.core.bindings import amqp as ce_amqp
from cloudevents.core.bindings import rabbitmq as ce_rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from orderflow.export.asyncapi import BINARY_HEADERS, ROOT, asyncapi
from orderflow.export.asyncapi_wire import sent, undescribed
from shared.contracts import REGISTRY, OrderPlaced, StockReserved
from shared.envelope import wrap
from tests.factories import order_placed, order_submit


def document() -> dict[str, Any]:
    return dict(json.loads((ROOT / "asyncapi.json").read_text()))


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """``schema``, its references to files resolved under contracts/."""

    def retrieve(uri: str) -> Resource[Any]:
        return DRAFT202012.create_resource(json.loads((ROOT / uri).read_text()))

    return Draft202012Validator(schema, registry=Registry(retrieve=retrieve))  # type: ignore[call-arg]


def test_every_property_and_header_on_the_wire_has_a_meaning() -> None:
    travelling = [c for c in REGISTRY.values() if c.kind != "timer"]

    assert undescribed(sent(travelling).values()) == [], (
        "give each new AMQP property or header a meaning in orderflow/export/asyncapi_wire.py"
    )


def test_the_properties_and_headers_described_are_those_a_worker_sends() -> None:
    wires = sent([OrderPlaced, StockReserved])
    messages = asyncapi()["components"]["messages"]

    for type_name, wire in wires.items():
        described = messages[type_name]
        assert set(described["x-amqp-properties"]) == set(wire.properties)
        assert set(described.get("headers", {}).get("properties", {})) == set(wire.headers)
    trace = ("traceparent", "tracestate")
    assert wires["order.placed"].headers == ("BCC", *trace)
    assert wires["stock.reserved"].headers == trace
    placed = messages["order.placed"]["x-amqp-properties"]
    assert placed["message_id"]["location"] == "$message.payload#/id"
    assert placed["content_type"]["const"] == "application/cloudevents+json"
    assert placed["delivery_mode"]["const"] == 2


@pytest.mark.parametrize(
    "message",
    [
        wrap(order_placed("ord_1"), source="intake"),
        wrap(order_submit(), source="channel.web"),
    ],
    ids=["order.placed", "order.submit"],
)
def test_the_body_the_runtime_writes_is_the_payload_the_contract_describes(message: Any) -> None:
    payload = document()["components"]["messages"][message.type]["payload"]
    body = json.loads(message.encode())

    assert list(validator(payload).iter_errors(body)) == []
    assert not validator(payload).is_valid({**body, "type": "order.exploded"})
    assert not validator(payload).is_valid({k: v for k, v in body.items() if k != "id"})
    assert not validator(payload).is_valid({**body, "data": {}})


def binary_headers(binding: str) -> dict[str, Any]:
    event = CloudEvent(
        attributes={
            "id": "ce-1",
            "source": "channel.web",
            "type": "order.submit",
            "subject": "web:WEB-1",
            "datacontenttype": "application/json",
            "correlationid": "web:WEB-1",
        },
        data=order_submit().model_dump(mode="json"),
    )
    if binding == "amqp":
        return dict(ce_amqp.to_binary(event, JSONFormat()).application_properties)
    return dict(ce_rabbitmq.to_binary(event, JSONFormat()).headers)


@pytest.mark.parametrize("binding", ["amqp", "rabbitmq"])
def test_the_sdks_binary_mode_headers_are_what_the_contract_describes(binding: str) -> None:
    schema = document()["components"]["schemas"][BINARY_HEADERS]
    headers = binary_headers(binding)
    without_subject = {k: v for k, v in headers.items() if not k.endswith("subject")}

    assert list(validator(schema).iter_errors(headers)) == []
    assert not validator(schema).is_valid(without_subject)
    submit = document()["components"]["messages"]["order.submit.binary"]
    assert submit["headers"] == {"$ref": f"#/components/schemas/{BINARY_HEADERS}"}
    assert submit["contentType"] == "application/json"
    assert submit["payload"] == {"$ref": "schemas/order.submit.json"}
