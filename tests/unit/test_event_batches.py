"""How announcements are batched (``shared.event_batches``), and read back."""

from __future__ import annotations

import pytest
from sqlalchemy import MetaData

from services.reporting import bootstrap as reporting
from shared.contracts import OrderCompleted, StockReleased
from shared.envelope import InvalidMessage, wrap
from shared.event_batches import (
    BATCHED,
    COUNT,
    MOST_LINES,
    TRACEPARENTS,
    TRACESTATES,
    batches,
    is_batch,
    lines,
)
from shared.service import Service
from shared.topology import Topology
from tests.factories import order_placed

TOPOLOGY = Topology("shop", quorum=True, delivery_limit=20)
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_each_type_goes_in_one_batch_in_order_and_unbatched_types_stay_out() -> None:
    placed = [wrap(order_placed(f"ord-{n}"), source="intake") for n in range(3)]
    completed = wrap(OrderCompleted(order_id="ord-0"), source="intake")
    released = wrap(StockReleased(order_id="ord-1", reason="cancelled"), source="stock")
    placed[1].travels_with({"traceparent": PARENT, "tracestate": "vendor=1"})

    sent = batches(TOPOLOGY, [placed[0], completed, placed[1], released, placed[2]], {"x": 1})

    assert StockReleased not in BATCHED
    assert [(b.exchange.name, b.routing_key) for b in sent] == [
        ("shop.events.batched", "order.placed"),
        ("shop.events.batched", "order.completed"),
    ]
    first = sent[0]
    assert first.body == b"\n".join(e.body for e in placed)
    assert first.headers[COUNT] == 3
    assert first.headers[TRACEPARENTS] == ["", PARENT, ""]
    assert first.headers[TRACESTATES] == ["", "vendor=1", ""]
    assert first.properties == {"x": 1}
    assert is_batch(first.content_type, first.headers)
    read = lines(first.body, first.headers)
    assert [line.body for line in read] == [e.body for e in placed]
    assert [line.headers for line in read] == [
        {},
        {"traceparent": PARENT, "tracestate": "vendor=1"},
        {},
    ]


def test_a_large_group_is_split_into_batches_of_at_most_a_hundred() -> None:
    placed = [wrap(order_placed(f"ord-{n}"), source="intake") for n in range(MOST_LINES + 1)]

    sent = batches(TOPOLOGY, placed, {})

    assert [b.headers[COUNT] for b in sent] == [MOST_LINES, 1]
    assert len({b.message_id for b in sent}) == 2


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({COUNT: 3}, "x-orderflow-batch: says 3 events, the body has 2 lines"),
        ({COUNT: "2"}, "x-orderflow-batch: says '2' events, the body has 2 lines"),
        (
            {COUNT: 2, TRACEPARENTS: [PARENT]},
            "x-orderflow-traceparents: not a list of 2 trace headers, one per line",
        ),
    ],
)
def test_a_batch_that_does_not_add_up_says_what_is_wrong(
    headers: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidMessage) as refused:
        lines(b"{}\n{}", headers)

    assert refused.value.reason == reason


def test_only_a_message_of_the_batch_content_type_with_a_count_is_a_batch() -> None:
    assert is_batch("application/x-ndjson", {COUNT: 1})
    assert not is_batch("application/x-ndjson", {})
    assert not is_batch("application/cloudevents+json", {COUNT: 1})


def test_a_batched_worker_may_hear_only_batched_events() -> None:
    built = reporting.bootstrap()
    assert built.batched and set(built.handlers) <= BATCHED

    with pytest.raises(ValueError, match=r"stock\.released"):
        Service(
            name="odd",
            metadata=MetaData(),
            unit_of_work=built.unit_of_work,
            handlers={StockReleased: built.handlers[next(iter(built.handlers))]},
            batched=True,
        )
