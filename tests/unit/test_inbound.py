"""What a worker takes in: the content type every message is sent as, checked with its payload."""

from __future__ import annotations

import pytest

from services.intake import bootstrap as intake
from services.stock import bootstrap as stock
from shared.contracts import OrderPlaced, OrderSubmit
from shared.envelope import CONTENT_TYPE, InvalidMessage, content_type_problem, wrap
from shared.inbound import ParkKind, UnknownType, admit
from tests.factories import order_placed, order_submit


@pytest.mark.parametrize(
    "content_type",
    [
        "application/cloudevents+json",
        "Application/CloudEvents+JSON",
        "application/cloudevents+json; charset=utf-8",
        'application/cloudevents+json;charset="UTF-8"',
    ],
)
def test_cloudevents_json_is_accepted_with_or_without_parameters(content_type: str) -> None:
    assert content_type_problem(content_type) is None


@pytest.mark.parametrize(
    ("content_type", "problem"),
    [
        (None, "the message has no content type; accepted: application/cloudevents+json"),
        ("", "the message has no content type; accepted: application/cloudevents+json"),
        (
            "application/xml",
            "application/xml is not accepted; accepted: application/cloudevents+json",
        ),
        (
            "application/json",
            "application/json is not accepted; accepted: application/cloudevents+json",
        ),
        (
            "application/cloudevents+json; charset=latin-1",
            "charset latin-1 is not accepted; accepted: utf-8",
        ),
    ],
)
def test_any_other_content_type_or_none_is_a_problem_saying_what_to_send(
    content_type: str | None, problem: str
) -> None:
    assert content_type_problem(content_type) == problem


def test_a_wrong_content_type_is_parked_where_the_worker_has_no_invalid_handler() -> None:
    envelope = wrap(order_placed("ord-1"), source="intake")

    taken = admit(stock.bootstrap(), envelope, CONTENT_TYPE)
    with pytest.raises(InvalidMessage) as refused:
        admit(stock.bootstrap(), envelope, "application/xml")

    assert isinstance(taken.message, OrderPlaced)
    assert refused.value.reason == (
        "(content_type): application/xml is not accepted; accepted: application/cloudevents+json"
    )


def test_a_submission_with_a_wrong_content_type_goes_to_intakes_invalid_handler() -> None:
    """Intake answers it with a rejection, so the channel learns it under its own reference."""
    envelope = wrap(order_submit(), source="channel.web")

    inbound = admit(intake.bootstrap(), envelope, None)

    assert inbound.message is None and inbound.problem is not None
    assert inbound.problem.problems == [
        (
            "(content_type)",
            "the message has no content type; accepted: application/cloudevents+json",
        )
    ]


def test_a_wrong_content_type_is_listed_with_every_schema_problem() -> None:
    valid = wrap(order_submit(), source="channel.web")
    broken = valid.model_copy(update={"data": {**valid.data, "currency": "euro"}})

    inbound = admit(intake.bootstrap(), broken, "text/plain")

    assert inbound.problem is not None
    assert [field for field, _ in inbound.problem.problems] == ["(content_type)", "currency"]
    assert inbound.problem.reason.startswith("(content_type): text/plain is not accepted; ")


def test_an_unknown_type_is_unknown_whatever_its_content_type() -> None:
    envelope = wrap(order_submit(), source="channel.web")

    with pytest.raises(UnknownType):
        admit(stock.bootstrap(), envelope, "application/xml")
    assert OrderSubmit not in stock.bootstrap().handlers


def test_the_kinds_of_parked_messages_keep_their_stored_values() -> None:
    """A parking lot written by an earlier version reads the same."""
    assert [kind.value for kind in ParkKind] == [
        "malformed",
        "invalid",
        "unknown_type",
        "handler_error",
        "retries_exhausted",
        "forged",
    ]
