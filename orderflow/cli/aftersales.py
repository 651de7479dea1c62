"""Customer-service commands after delivery: returns, exchanges, resends, and the receipt of
returned goods. After-sales decides; these send the request and print its answer."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from shared.contracts import original_order

from .support import Wait, act, check_order, console, fail, sending_settings, valid

return_app = typer.Typer(no_args_is_help=True, help="Returned goods arriving at the warehouse.")

DeliveredOrder = Annotated[str, typer.Argument(help="The delivered order.")]
Lines = Annotated[list[str], typer.Argument(help="What it is about: SKU=QUANTITY (or SKU for 1).")]
Reason = Annotated[str, typer.Option(help="The customer's reason (recorded).")]
RequestId = Annotated[
    str | None, typer.Option(help="This request's id; asking again with it changes nothing.")
]

REFUSED = "aftersales.request_refused"


def order_return(
    order_id: DeliveredOrder,
    lines: Lines,
    reason: Reason,
    exchange: Annotated[bool, typer.Option(help="Replace the goods instead of refunding.")] = False,
    request_id: RequestId = None,
    wait: Wait = 15,
) -> None:
    """Ask for an RMA: the customer sends goods back for a refund (or an exchange)."""
    from shared.contracts import ReturnRequest

    action = "exchange" if exchange else "return"
    request = valid(
        ReturnRequest,
        order_id=order_id,
        request_id=request_id or _new_id(),
        resolution=action if exchange else "refund",
        lines=_items(lines),
        reason=reason.strip(),
    )
    _request(request, action, {"return.authorized": _authorized}, wait)


def order_exchange(
    order_id: DeliveredOrder,
    lines: Lines,
    reason: Reason,
    request_id: RequestId = None,
    wait: Wait = 15,
) -> None:
    """Ask for an RMA whose goods are replaced like for like once they are back."""
    order_return(order_id, lines, reason, exchange=True, request_id=request_id, wait=wait)


def order_resend(
    order_id: DeliveredOrder,
    lines: Lines,
    reason: Reason,
    request_id: RequestId = None,
    wait: Wait = 15,
) -> None:
    """Send items missing from a delivery again, free of charge."""
    from shared.contracts import ResendRequest

    request = valid(
        ResendRequest,
        order_id=order_id,
        request_id=request_id or _new_id(),
        lines=_items(lines),
        reason=reason.strip(),
    )
    answer = "sending again as {order_id}, free of charge"
    _request(request, "resend", {"replacement.requested": _formatted(answer)}, wait)


@return_app.command("receive")
def return_receive(
    rma: Annotated[str, typer.Argument(help="The RMA number on the parcel, e.g. ord_….1.")],
    resellable: Annotated[
        list[str] | None, typer.Option(help="SKU=QUANTITY fit to sell again; repeatable.")
    ] = None,
    damaged: Annotated[
        list[str] | None, typer.Option(help="SKU=QUANTITY found damaged; repeatable.")
    ] = None,
    wait: Wait = 15,
) -> None:
    """Record a returned parcel as inspected: refunds it, or sends the exchange's replacement."""
    from shared.contracts import ReturnReceive

    from ..cluster.databases import WorkerDatabases
    from .commands import NotAllowed, rma_awaiting_goods

    good, bad = _counted(resellable or [], "resellable"), _counted(damaged or [], "damaged")
    if not good and not bad:
        raise fail("give what came back: --resellable SKU=QUANTITY and/or --damaged SKU=QUANTITY")
    inspected = [
        {"sku": sku, "resellable": good[sku], "damaged": bad[sku]} for sku in sorted(good | bad)
    ]
    receipt = valid(ReturnReceive, order_id=original_order(rma), rma=rma, lines=inspected)
    dbs = WorkerDatabases(sending_settings(), ["aftersales"])
    try:
        rma_awaiting_goods(dbs, rma, good + bad)
    except NotAllowed as error:
        raise fail(str(error)) from None
    finally:
        dbs.dispose()
    act(receipt, {"return.received": _received}, wait, refused=set(), match={"rma": rma})


def _request(request: Any, action: str, answers: dict[str, Any], wait: float) -> None:
    from .commands import refuse_unless_delivered

    check_order(request.order_id, action, refuse_unless_delivered)
    answers[REFUSED] = _formatted("refused ({reason}): {detail}")
    act(request, answers, wait, refused={REFUSED}, match={"request_id": request.request_id})
    console.print(f"request id: {request.request_id}")


def _authorized(data: Mapping[str, Any]) -> str:
    send_by = str(data["send_by"])[:10]
    then = "a replacement goes out" if data["resolution"] == "exchange" else "they are refunded"
    return f"authorized: RMA {data['rma']}; the goods must arrive by {send_by}, then {then}"


def _received(data: Mapping[str, Any]) -> str:
    from ..operator.views import money

    refund = data.get("refund")
    if refund is None:
        return "received: the replacement goes out"
    return f"received: {money(refund['amount'], refund['currency'])} to be refunded"


def _formatted(template: str) -> Any:
    return lambda data: template.format(**data)


def _items(lines: list[str]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": n} for sku, n in _counted(lines, "line").items()]


def _counted(lines: list[str], name: str) -> Counter[str]:
    counted: Counter[str] = Counter()
    for line in lines:
        sku, _, quantity = line.partition("=")
        if not quantity:
            quantity = "1"
        if not quantity.isdecimal() or int(quantity) <= 0:
            raise fail(
                f"{name} {line!r}: write SKU=QUANTITY with a positive quantity, e.g. MUG-BLUE=2"
            )
        counted[sku.strip().upper()] += int(quantity)
    return counted


def _new_id() -> str:
    return f"req_{uuid.uuid4().hex[:16]}"
