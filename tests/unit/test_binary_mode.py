"""A message in CloudEvents binary mode (its attributes in AMQP headers, its body only the data)
is read into the same envelope as one in structured mode, whichever header spelling the
CloudEvents SDK or the AMQP binding uses; one missing an attribute names it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import amqp
import pytest
from cloudevents.core.bindings import amqp as ce_amqp
from cloudevents.core.bindings import rabbitmq as ce_rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from kombu.message import Message as Delivery

from orderflow.operator.parking.lot import ParkingLot
from orderflow.operator.parking.messages import ParkedMessage, parse
from services.intake import bootstrap as intake
from shared.binary_mode import Opened, is_binary, open_message
from shared.contracts import OrderSubmit
from shared.envelope import CONTENT_TYPE, InvalidMessage, wrap
from shared.inbound import Inbound, admit
from shared.settings import Settings
from tests.factories import order_submit

LIMIT = 100_000
SENT_AT = datetime(2026, 12, 2, 11, 30, tzinfo=UTC)


def submit_event(**changes: Any) -> CloudEvent:
    """An order.submit as a channel builds it with the CloudEvents SDK."""
    attributes: dict[str, Any] = {
        "id": "ce-submit-1",
        "source": "channel.web",
        "type": "order.submit",
        "subject": "web:WEB-1001",
        "time": SENT_AT,
        "datacontenttype": "application/json",
        "correlationid": "web:WEB-1001",
        **changes,
    }
    return CloudEvent(attributes=attributes, data=order_submit().model_dump(mode="json"))


def sdk_rabbitmq(event: CloudEvent) -> tuple[bytes, str | None, dict[str, Any]]:
    """The SDK's RabbitMQ binding: ``ce-`` headers, every value a string."""
    message = ce_rabbitmq.to_binary(event, JSONFormat())
    return message.body, message.content_type, dict(message.headers)


def sdk_amqp(event: CloudEvent) -> tuple[bytes, str | None, dict[str, Any]]:
    """The SDK's AMQP binding: ``cloudEvents_`` application properties, ``time`` in epoch
    milliseconds."""
    message = ce_amqp.to_binary(event, JSONFormat())
    return (
        message.application_data,
        message.properties["content-type"],
        message.application_properties,
    )


def spec_colon(event: CloudEvent) -> tuple[bytes, str | None, dict[str, Any]]:
    """The AMQP binding's own spelling, ``cloudEvents:``, with ``time`` as a string."""
    body, content_type, headers = sdk_rabbitmq(event)
    return body, content_type, {"cloudEvents:" + k[3:]: v for k, v in headers.items()}


@pytest.mark.parametrize("encode", [sdk_rabbitmq, sdk_amqp, spec_colon])
def test_a_binary_mode_submit_opens_as_the_envelope_it_carries(encode: Any) -> None:
    body, content_type, headers = encode(submit_event())

    opened = open_message(body, content_type, headers, LIMIT)

    assert opened.binary and opened.content_type == CONTENT_TYPE
    envelope = opened.envelope
    assert (envelope.id, envelope.type, envelope.source) == (
        "ce-submit-1",
        "order.submit",
        "channel.web",
    )
    assert (envelope.subject, envelope.correlationid) == ("web:WEB-1001", "web:WEB-1001")
    assert envelope.time == SENT_AT and envelope.causationid is None
    assert envelope.data == order_submit().model_dump(mode="json")
    taken = admit(intake.bootstrap(), envelope, opened.content_type)
    assert isinstance(taken.message, OrderSubmit) and taken.problem is None


def test_binary_and_structured_mode_give_one_envelope() -> None:
    structured = wrap(order_submit(), source="channel.web", message_id="ce-submit-1", now=SENT_AT)
    body, content_type, headers = sdk_rabbitmq(submit_event())

    binary = open_message(body, content_type, headers, LIMIT).envelope
    as_sent = open_message(structured.encode(), CONTENT_TYPE, {}, LIMIT)

    assert binary == structured and as_sent == Opened(structured, CONTENT_TYPE)


def test_the_content_type_decides_the_mode_even_with_attribute_headers() -> None:
    """The binding lets a structured message repeat its attributes in headers: the body rules."""
    envelope = wrap(order_submit(), source="channel.web")
    headers = {"ce-id": "another", "ce-type": "order.submit"}

    opened = open_message(envelope.encode(), CONTENT_TYPE + "; charset=utf-8", headers, LIMIT)

    assert not opened.binary and opened.envelope == envelope
    assert not is_binary(CONTENT_TYPE, headers) and is_binary("application/json", headers)
    assert not is_binary("application/json", {"BCC": ["x"], "traceparent": "00-ab"})


def test_orderflows_extensions_travel_as_attributes() -> None:
    event = submit_event(causationid="cause-7", schemaversion=1, correlationid="saga-9")
    body, content_type, headers = sdk_rabbitmq(event)

    envelope = open_message(body, content_type, headers, LIMIT).envelope

    assert (envelope.causationid, envelope.schemaversion, envelope.correlationid) == (
        "cause-7",
        1,
        "saga-9",
    )


@pytest.mark.parametrize("missing", ["subject", "correlationid", "source"])
def test_a_missing_attribute_is_named_with_the_headers_that_carry_it(missing: str) -> None:
    body, content_type, headers = sdk_rabbitmq(submit_event())
    del headers[f"ce-{missing}"]

    with pytest.raises(InvalidMessage) as refused:
        open_message(body, content_type, headers, LIMIT)

    assert refused.value.reason == (
        f"CloudEvents binary mode: missing attribute {missing} "
        f"(header cloudEvents:{missing} or cloudEvents_{missing} or ce-{missing})"
    )


def test_every_missing_attribute_is_named_at_once() -> None:
    with pytest.raises(InvalidMessage) as refused:
        open_message(b"{}", "application/json", {"cloudEvents_type": "order.submit"}, LIMIT)

    named = refused.value.reason.removeprefix("CloudEvents binary mode: missing ").split("; ")
    assert [entry.split()[1] for entry in named] == [
        "specversion",
        "id",
        "source",
        "subject",
        "time",
        "correlationid",
    ]


@pytest.mark.parametrize(
    ("content_type", "body", "problem"),
    [
        (
            None,
            None,
            "datacontenttype: the message has no content type; accepted: application/json",
        ),
        (
            "text/plain",
            None,
            "datacontenttype: text/plain is not accepted; accepted: application/json",
        ),
        ("application/json; charset=latin-1", None, "charset latin-1 is not accepted"),
        ("application/json", b"[1, 2]", "body is JSON but not an object"),
        ("application/json", b"{oops", "body is not JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_saying_why(
    content_type: str | None, body: bytes | None, problem: str
) -> None:
    sent, _, headers = sdk_rabbitmq(submit_event())

    with pytest.raises(InvalidMessage) as refused:
        open_message(body or sent, content_type, headers, LIMIT)

    assert problem in refused.value.reason


def test_a_bad_attribute_or_an_unknown_one_is_named() -> None:
    body, content_type, headers = sdk_rabbitmq(submit_event(dataschema="urn:x"))
    headers["ce-specversion"] = "0.3"

    with pytest.raises(InvalidMessage) as refused:
        open_message(body, content_type, headers, LIMIT)

    assert refused.value.reason.startswith("CloudEvents binary mode: bad attributes: ")
    assert "specversion: Input should be '1.0'" in refused.value.reason
    assert "dataschema: Extra inputs are not permitted" in refused.value.reason


def test_a_native_amqp_timestamp_is_a_time() -> None:
    body, content_type, headers = sdk_rabbitmq(submit_event())
    headers["ce-time"] = datetime(2026, 12, 2, 11, 30)  # py-amqp's decoding of a 0-9-1 timestamp

    assert open_message(body, content_type, headers, LIMIT).envelope.time == SENT_AT


def test_the_size_limit_holds_in_binary_mode_too() -> None:
    body, content_type, headers = sdk_rabbitmq(submit_event())

    with pytest.raises(InvalidMessage, match="over the 100-byte limit"):
        open_message(body, content_type, headers, 100)


def test_the_distributed_tracing_extension_is_trace_context_not_an_envelope_field() -> None:
    """Knative's RabbitMQ binding adds ``ce-traceparent``: it must not get the message parked."""
    traced = submit_event(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    body, content_type, headers = sdk_rabbitmq(traced)

    envelope = open_message(body, content_type, headers, LIMIT).envelope

    assert envelope.id == "ce-submit-1" and "traceparent" not in envelope.model_dump()


def parked_copy(headers: dict[str, Any], body: bytes) -> ParkedMessage:
    """A binary-mode message as the parking lot reads it back: its headers and properties as
    sent, the runtime's reason beside them."""
    raw = amqp.Message(
        body,
        content_type="application/json",
        message_id="ce-submit-1",
        application_headers={
            **headers,
            "x-orderflow-parked-id": "parked-1",
            "x-orderflow-kind": "malformed",
            "x-orderflow-reason": "whatever it was",
        },
    )
    raw.delivery_info = {"delivery_tag": 1, "redelivered": False}
    return parse("intake", "orderflow.intake.parking", raw)


def test_the_parking_lot_lists_and_judges_a_binary_mode_message_as_the_worker_does() -> None:
    body, _, headers = sdk_rabbitmq(submit_event())
    lot = ParkingLot(Settings(broker_url="amqp://guest:guest@127.0.0.1:5672//"))

    whole = parked_copy(headers, body)
    nameless = parked_copy({k: v for k, v in headers.items() if k != "ce-subject"}, body)

    assert (whole.type, whole.order_id, whole.message_id) == (
        "order.submit",
        "web:WEB-1001",
        "ce-submit-1",
    )
    assert lot.problem(whole) is None  # a replay would be handled
    assert lot.problem(nameless) == (
        "CloudEvents binary mode: missing attribute subject "
        "(header cloudEvents:subject or cloudEvents_subject or ce-subject)"
    )


def test_a_binary_mode_delivery_may_wait_for_a_delayed_try_as_the_envelope_it_carries() -> None:
    """The timer table keeps only the envelope: a binary-mode message comes back from it as the
    same message, sent structured; one with a wrong content type would come back as if right."""
    body, content_type, headers = sdk_rabbitmq(submit_event())
    envelope = open_message(body, content_type, headers, LIMIT).envelope

    binary = Delivery(body=body, content_type=content_type, headers=headers)
    mislabelled = Delivery(body=envelope.encode(), content_type="application/json", headers={})

    assert Inbound(envelope, delivery=binary).waits_as_it_came
    assert not Inbound(envelope, delivery=mislabelled).waits_as_it_came
