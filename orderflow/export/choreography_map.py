"""The choreography drawn: as text for a terminal, as Mermaid for the README and the docs.

A page shows the Mermaid map in its one ``mermaid`` code block; ``orderflow contracts export``
redraws that block and a test fails when a page's block differs from the code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..cluster.users import SENDERS
from .choreography import CHANNEL_QUEUES, PARTNERS, Flow, parties

HEADING = (
    "Who publishes each message (under their name) and who consumes it (after the arrow).\n"
    f"{CHANNEL_QUEUES}: each sales channel's own queue; {PARTNERS}: no worker consumes it."
)
MERMAID_BLOCK = re.compile(r"```mermaid\n.*?```\n", re.DOTALL)


def text(flows: Sequence[Flow]) -> str:
    lines = [HEADING]
    for party in parties():
        published = [flow for flow in flows if party in flow.publishers]
        if not published:
            continue
        width = max(len(flow.contract.type) for flow in published)
        lines.append("")
        lines.append(party)
        lines.extend(
            f"  {flow.contract.type:<{width}} -> {', '.join(flow.heard_by)}" for flow in published
        )
    return "\n".join(lines) + "\n"


def mermaid(flows: Sequence[Flow]) -> str:
    """A flowchart: one arrow per publisher and consumer, labelled with what travels on it."""
    order = parties()
    edges: dict[tuple[str, str], list[str]] = {}
    for flow in flows:
        for publisher in flow.publishers:
            for consumer in flow.heard_by:
                edges.setdefault((publisher, consumer), []).append(flow.contract.type)
    on_map = {party for edge in edges for party in edge}
    lines = ["flowchart LR"]
    lines.extend(f"    {_node(party)}" for party in order if party in on_map)
    lines.extend(
        f'    {_id(publisher)} -->|"{"<br/>".join(edges[publisher, consumer])}"| {_id(consumer)}'
        for publisher, consumer in sorted(
            edges, key=lambda e: (order.index(e[0]), order.index(e[1]))
        )
    )
    return "\n".join(lines) + "\n"


def splice(page: str, diagram: str) -> str:
    """``page`` with its ``mermaid`` code block replaced by ``diagram``."""
    blocks = MERMAID_BLOCK.findall(page)
    if len(blocks) != 1:
        raise ValueError(f"a page needs exactly one mermaid block to draw the map in, not {blocks}")
    return MERMAID_BLOCK.sub(lambda _: f"```mermaid\n{diagram}```\n", page)


def _id(party: str) -> str:
    return party.replace(" ", "_")


def _node(party: str) -> str:
    if party == CHANNEL_QUEUES:
        return f'{_id(party)}[("{party}")]'
    if party in SENDERS or party == PARTNERS:
        return f'{_id(party)}(["{party}"])'
    return f'{_id(party)}["{party}"]'
