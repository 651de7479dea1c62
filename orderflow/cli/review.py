"""``orderflow review``: the orders a review rule held, and a reviewer's decision on one.

``list`` reads intake's database (it works on the embedded SQLite too). ``approve`` and
``reject`` send ``order.review`` to intake, which owns the order's status and decides whether
the order is still held; the CLI refuses at once what intake's state already rules out, then
prints intake's answer: ``order.approved`` (payment charges it now) or ``order.cancelled``
(``review_rejected``: stock releases the goods, nothing was charged, the customer is told).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from shared.currencies import plain

from .support import Wait, act, check_order, console, load_settings, valid

review_app = typer.Typer(
    no_args_is_help=True, help="Orders held for review: list them, approve or reject one."
)

Reviewer = Annotated[
    str, typer.Option("--reviewer", help="Who decides (recorded on the order and the event).")
]


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


@review_app.command("list")
def review_list(
    output: Annotated[
        Format, typer.Option("--format", help="A table for people, or JSON for tools.")
    ] = Format.TABLE,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, due first.")] = 100,
) -> None:
    """Orders held for review, the soonest due first, with every rule that held each."""
    from ..operator.review import held_orders

    found = held_orders(load_settings(), limit)
    if output is Format.JSON:
        print(json.dumps([order.as_json() for order in found], indent=2))
        return
    if not found:
        console.print("no orders held for review")
        return
    table = Table("order", "channel's id", "total", "due", "why")
    for order in found:
        table.add_row(
            order.order_id,
            f"{order.channel}:{order.external_id}",
            plain(order.total, order.currency),
            f"{order.review_due:%Y-%m-%d %H:%M}",
            "\n".join(order.reasons),
        )
    console.print(table)
    console.print(f"{len(found)} held" + (" (limit reached)" if len(found) == limit else ""))


@review_app.command("approve")
def review_approve(
    order_id: Annotated[str, typer.Argument(help="The held order.")],
    reviewer: Reviewer,
    reason: Annotated[str, typer.Option(help="Why (recorded in order.approved).")] = "",
    wait: Wait = 15,
) -> None:
    """Approve a held order: payment charges it and the saga goes on."""
    _decide(order_id, "approve", reviewer, reason, wait)


@review_app.command("reject")
def review_reject(
    order_id: Annotated[str, typer.Argument(help="The held order.")],
    reviewer: Reviewer,
    reason: Annotated[str, typer.Option(help="Why (recorded, and in order.cancelled).")],
    wait: Wait = 15,
) -> None:
    """Reject a held order: it is cancelled (review_rejected); nothing was charged."""
    _decide(order_id, "reject", reviewer, reason.strip(), wait)


def _decide(order_id: str, decision: str, reviewer: str, reason: str, wait: float) -> None:
    from shared.contracts import OrderReview

    from .commands import refuse_unless_held

    command = valid(
        OrderReview, order_id=order_id, decision=decision, reviewer=reviewer.strip(), reason=reason
    )
    check_order(order_id, decision, refuse_unless_held)
    approving = decision == "approve"
    act(
        command,
        {"order.approved": _approved, "order.cancelled": _cancelled},
        wait,
        refused={"order.cancelled"} if approving else {"order.approved"},
    )


def _approved(data: Mapping[str, Any]) -> str:
    who = data.get("reviewer") or "the review timer"
    return f"approved by {who}: payment charges it now"


def _cancelled(data: Mapping[str, Any]) -> str:
    if data.get("reason") != "review_rejected":
        return f"cancelled meanwhile ({data.get('reason')}): there is nothing to review"
    return f"rejected: cancelled, nothing was charged; stock releases its goods ({data['detail']})"
