"""The channel client under clients/channel/ follows the published contract, and nothing else of
orderflow: what it declares, binds and sends is what contracts/asyncapi.json says."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import orderflow_channel as client

from orderflow.export.asyncapi import ROOT
from shared.envelope import Envelope, decode
from tests.factories import order_submit

CLIENT = Path(client.__file__)


def contract() -> dict[str, Any]:
    return dict(json.loads((ROOT / "asyncapi.json").read_text()))


def test_the_client_imports_only_pika_and_the_standard_library() -> None:
    imported = set()
    for node in ast.walk(ast.parse(CLIENT.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])

    assert imported - set(sys.stdlib_module_names) - {"__future__"} == {"pika"}


def test_the_client_sends_and_listens_where_the_contract_says() -> None:
    channels = contract()["channels"]
    submit = channels[client.SUBMIT]
    placed = channels["channel.{channel}.order.placed"]

    assert contract()["operations"]["receiveOrderSubmit"]["action"] == "receive"
    assert submit["address"] == client.SUBMIT
    exchange = submit["bindings"]["amqp"]["exchange"]["name"]
    assert exchange == client.commands_exchange("orderflow")
    assert contract()["defaultContentType"] == client.CONTENT_TYPE
    assert placed["x-queue"]["name"] == client.channel_queue("orderflow", "{channel}")
    assert placed["x-queue"]["bindingKey"] == client.channel_binding_key("{channel}")
    assert placed["bindings"]["amqp"]["exchange"]["name"] == client.events_exchange("orderflow")
    told = {name.split(".", 2)[2] for name in channels if name.startswith("channel.{channel}.")}
    assert told == {*client.ANSWERS, *client.ENDS}


def test_the_envelope_the_client_builds_is_one_orderflow_reads() -> None:
    order = order_submit(external_id="WEB-7").model_dump(mode="json")

    envelope = decode(json.dumps(client.submit_envelope(order, "m-1")).encode(), 10_000)

    assert isinstance(envelope, Envelope)
    assert (envelope.id, envelope.type, envelope.subject) == ("m-1", "order.submit", "web:WEB-7")
    assert (envelope.source, envelope.correlationid) == ("channel.web", "web:WEB-7")
    assert envelope.causationid is None


def test_the_trace_context_the_client_starts_is_the_header_the_contract_describes() -> None:
    from jsonschema import Draft202012Validator

    described = contract()["components"]["messages"][client.SUBMIT]["headers"]
    first, second = client.new_trace(), client.new_trace()

    assert Draft202012Validator(described).is_valid(first)
    assert first["traceparent"][3:35] != second["traceparent"][3:35], "a new trace each time"
    assert not Draft202012Validator(described).is_valid({"traceparent": "00-abc-01"})
