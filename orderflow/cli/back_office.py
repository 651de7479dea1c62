"""Back-office commands: stock (policy, goods received, a stock take, a count: ``stock_count``)
and money received for a bank transfer. Stock and payment decide; these send the command or act
on stock's books."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer

from .stock_count import stock_count
from .support import Wait, act, check_order, console, fail, load_settings, valid

stock_app = typer.Typer(no_args_is_help=True, help="Operator actions on stock.")
payment_app = typer.Typer(no_args_is_help=True, help="Payment actions.")


@stock_app.command("policy")
def stock_policy(
    sku: Annotated[str, typer.Argument(help="The SKU, e.g. MUG-BLUE.")],
    backorder: Annotated[
        bool | None, typer.Option("--backorder/--no-backorder", help="May orders wait for it?")
    ] = None,
    reorder_point: Annotated[int | None, typer.Option(help="Reorder at this level.")] = None,
    reorder_quantity: Annotated[int | None, typer.Option(help="How many to reorder.")] = None,
    lead_time_days: Annotated[int | None, typer.Option(help="The supplier's lead time.")] = None,
) -> None:
    """Set how a SKU is bought: backorders, reorder point and quantity, supplier lead time."""
    from ..operator.operations import StockRefused, set_stock_policy

    try:
        item = set_stock_policy(
            load_settings(), sku, backorder, reorder_point, reorder_quantity, lead_time_days
        )
    except StockRefused as error:
        raise fail(str(error)) from None
    console.print(
        f"{item.sku}: backorders {'allowed' if item.backorder_allowed else 'refused'}, "
        f"reorder {item.reorder_quantity} at {item.reorder_point}, lead time "
        f"{item.lead_time_days} days"
    )


@stock_app.command("receive")
def stock_receive(
    sku: Annotated[str, typer.Argument(help="The SKU that arrived.")],
    quantity: Annotated[int, typer.Argument(help="How many units.")],
    purchase_order: Annotated[str | None, typer.Option(help="The purchase order it fills.")] = None,
    receipt_id: Annotated[
        str | None, typer.Option(help="The goods receipt's id; repeats are ignored.")
    ] = None,
) -> None:
    """Record goods received; waiting backorders are served first come, first served."""
    from shared.contracts import StockReceive

    act(
        valid(
            StockReceive,
            receipt_id=receipt_id or f"rcpt_{uuid.uuid4().hex[:16]}",
            sku=sku,
            quantity=quantity,
            purchase_order_id=purchase_order,
        ),
        {},
        0,
        refused=set(),
    )


@payment_app.command("notify")
def payment_notify(
    order_id: Annotated[str, typer.Argument(help="The order the money is for (its reference).")],
    amount: Annotated[
        str, typer.Argument(help="The amount received, e.g. 29.95 (EUR), 1250 (JPY).")
    ],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. RUB.")] = "EUR",
    notification_id: Annotated[
        str | None, typer.Option(help="The bank's id for this payment; repeats are ignored.")
    ] = None,
    wait: Wait = 15,
) -> None:
    """Record money received for a bank transfer or escrow payment."""
    from shared.contracts import PaymentNotification
    from shared.currencies import NotAnAmount, UnknownCurrency, to_minor

    try:
        minor = to_minor(amount, currency)
    except UnknownCurrency as error:
        raise fail(f"currency: {error}") from None
    except NotAnAmount as error:
        raise fail(f"amount: {error}") from None
    if minor <= 0:
        raise fail(f"amount: {amount!r} must be positive")
    notification = valid(
        PaymentNotification,
        order_id=order_id,
        notification_id=notification_id or f"ntf_{uuid.uuid4().hex[:16]}",
        amount={"amount": minor, "currency": currency},
        received_at=datetime.now(UTC),
    )
    check_order(order_id, "pay for", lambda state, action: None)  # an order intake knows
    act(
        notification,
        {
            "payment.captured": "paid in full",
            "payment.pending": "received; still pending",
            "payment.refunded": "refunded",
        },
        wait,
        refused=set(),
    )


@stock_app.command("set")
def stock_set(
    sku: Annotated[str, typer.Argument(help="The SKU, e.g. MUG-BLUE.")],
    quantity: Annotated[
        int,
        typer.Argument(
            help="On hand as the books should hold it: on the shelves plus packed in parcels not "
            "yet dispatched (for a count of the shelves alone, use `orderflow stock count`)."
        ),
    ],
    location: Annotated[str | None, typer.Option(help="Bin location, e.g. A-01-02.")] = None,
    weight_grams: Annotated[int | None, typer.Option(help="Weight of one unit in grams.")] = None,
) -> None:
    """Set a SKU's on-hand quantity (shelves and packed parcels); the difference is recorded in
    stock's ledger."""
    from ..operator.operations import StockRefused, set_stock

    try:
        item = set_stock(load_settings(), sku, quantity, location, weight_grams)
    except StockRefused as error:
        raise fail(str(error)) from None
    console.print(
        f"{item.sku}: {item.on_hand} on hand, {item.reserved} reserved, at {item.location}"
    )


stock_app.command("count")(stock_count)
