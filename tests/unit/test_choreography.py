"""The choreography read from the code: every message that travels has someone who publishes it
and, but for what is meant for partners, someone who consumes it; ``orderflow contracts map``
draws it as text and as Mermaid."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.registry import NAMES, publishes
from orderflow.cluster.users import SENDERS
from orderflow.export.choreography import CHANNEL_QUEUES, PARTNERS, Flow, flows
from orderflow.export.choreography_map import mermaid, splice, text
from shared.contracts import REGISTRY
from shared.topology import CHANNEL_EVENTS

FLOWS = {flow.contract.type: flow for flow in flows()}
EDGE = re.compile(r'^    (\w+) -->\|"([^"]+)"\| (\w+)$')


def test_every_message_that_travels_is_on_the_map_and_no_timer_is() -> None:
    travelling = {name for name, contract in REGISTRY.items() if contract.kind != "timer"}

    assert set(FLOWS) == travelling


def test_every_message_has_a_publisher() -> None:
    assert [name for name, flow in FLOWS.items() if not flow.publishers] == []


def test_each_command_comes_from_one_sender_outside_to_one_worker() -> None:
    for name, flow in FLOWS.items():
        senders = [party for party in flow.publishers if party in SENDERS]
        if flow.contract.kind == "command":
            assert (len(senders), len(flow.publishers), len(flow.consumers)) == (1, 1, 1), name
        else:
            assert senders == [], name


def test_the_channel_queues_hear_what_intake_tells_a_channel() -> None:
    heard = {name for name, flow in FLOWS.items() if CHANNEL_QUEUES in flow.consumers}

    assert heard == {contract.type for contract in CHANNEL_EVENTS}
    assert FLOWS["order.placed"] == Flow(
        REGISTRY["order.placed"],
        ("intake",),
        ("stock", "payment", "shipping", "aftersales", "notifier", "reporting", CHANNEL_QUEUES),
    )


def test_what_no_worker_consumes_is_shown_as_for_partners() -> None:
    assert FLOWS["shipment.in_transit"].heard_by == (PARTNERS,)
    assert FLOWS["stock.reserved"].heard_by == ("payment", "warehouse", "reporting")


def test_the_text_map_names_each_publisher_and_what_it_sends_to_whom() -> None:
    drawn = text(list(FLOWS.values()))

    assert "\nsales channels\n  order.submit -> intake\n" in drawn
    assert "\nnotifier\n  notification.sent -> partners\n" in drawn
    assert "  payment.captured -> warehouse, reporting\n" in drawn
    publishers = [name for name in NAMES if publishes(name)]  # reporting only listens
    assert [line for line in drawn.splitlines() if line in NAMES] == publishers


def test_the_mermaid_map_has_one_arrow_per_publisher_and_consumer() -> None:
    drawn = mermaid(list(FLOWS.values())).splitlines()
    edges = [EDGE.match(line) for line in drawn if "-->" in line]

    assert drawn[0] == "flowchart LR"
    assert all(edges)
    pairs = [(edge[1], edge[3]) for edge in edges if edge]
    assert len(pairs) == len(set(pairs))
    assert ("sales_channels", "intake") in pairs
    labels = {(edge[1], edge[3]): edge[2].split("<br/>") for edge in edges if edge}
    assert labels["payment", "warehouse"] == ["payment.captured", "payment.deferred"]
    defined = {line.split("[")[0].split("(")[0].strip() for line in drawn[1:] if "-->" not in line}
    assert {party for pair in pairs for party in pair} == defined


@pytest.mark.parametrize("drawn_as", ["text", "mermaid"])
def test_the_map_command_prints_the_map(drawn_as: str) -> None:
    result = CliRunner().invoke(app, ["contracts", "map", "--format", drawn_as])

    drawer = mermaid if drawn_as == "mermaid" else text
    assert (result.exit_code, result.stdout) == (0, drawer(flows()))


def test_a_page_gets_the_map_in_its_one_mermaid_block() -> None:
    page = "# Title\n\n```mermaid\nflowchart LR\n    a --> b\n```\n\nMore.\n"

    assert splice(page, "flowchart TD\n") == "# Title\n\n```mermaid\nflowchart TD\n```\n\nMore.\n"
    with pytest.raises(ValueError, match="exactly one mermaid block"):
        splice("# Title\n", "flowchart TD\n")
