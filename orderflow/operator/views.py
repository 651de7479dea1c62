"""How orders look to a person: the ``order show`` page and the demo's table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from services.intake.store import IntakeUnitOfWork
from shared.currencies import plain
from shared.settings import Settings

from ..cluster.databases import Entry, WorkerDatabases


class OrderNotFound(LookupError):
    pass


def money(minor: int, currency: str) -> str:
    """An amount for operators, with its currency's decimals: ``38.45 EUR``, ``1234 JPY``."""
    return plain(minor, currency) if currency else str(minor)


def summary(entry: Entry) -> str:
    """One line about an announcement, without personal data."""
    data: dict[str, Any] = entry.data
    match entry.type:
        case "order.placed":
            return f"{len(data['lines'])} lines, {money(data['total'], data['currency'])}"
        case "order.rejected":
            return "; ".join(f"{p['field']}: {p['message']}" for p in data["problems"])
        case "order.cancelled":
            return str(data["reason"]) + (f" ({data['detail']})" if data.get("detail") else "")
        case "order.held":
            why = "; ".join(f"{r['rule']}: {r['message']}" for r in data["reasons"])
            return f"{why}; decided by {_moment(data['review_due'])} unless reviewed"
        case "order.approved":
            who = data.get("reviewer") or "the review timer"
            return who + (f" ({data['reason']})" if data.get("reason") else "")
        case "stock.reserved" | "stock.committed":
            return ", ".join(f"{line['quantity']}x {line['sku']}" for line in data["lines"])
        case "stock.unavailable":
            short = [f"{s['sku']} {s['available']}/{s['requested']}" for s in data["shortages"]]
            return "short: " + ", ".join(short + [f"{s} unknown" for s in data["unknown_skus"]])
        case "stock.backordered":
            waiting = ", ".join(
                f"{line['quantity']}x {line['sku']} ({line['purchase_order_id']})"
                for line in data["lines"]
            )
            return f"{waiting}; expected {data['expected_on']}, gives up {data['expires_on']}"
        case "stock.released" | "payment.voided" | "fulfillment.cancelled":
            return str(data["reason"])
        case "stock.restocked":
            lines = ", ".join(f"{line['quantity']}x {line['sku']}" for line in data["lines"])
            return f"{lines} ({data['reason']})"
        case "stock.replenishment_requested":
            return (
                f"{data['purchase_order_id']}: {data['quantity']}x {data['sku']}, "
                f"expected {data['expected_on']}"
            )
        case "payment.captured":
            return f"{data['method']} {_amount(data['amount'])}"
        case "payment.failed":
            return f"{data['method']}: {data['reason']}"
        case "payment.pending":
            return (
                f"{data['method']} {_amount(data['received'])} of {_amount(data['amount_due'])} "
                f"received, due by {_moment(data['deadline'])}, reference {data['reference']}"
            )
        case "payment.reminder":
            return (
                f"#{data['number']}: {_amount(data['balance'])} "
                f"still due by {_moment(data['deadline'])}"
            )
        case "payment.expired":
            return f"{data['method']}: unpaid at the deadline"
        case "payment.deferred":
            return f"{data['method']}: {_amount(data['amount_due'])} to collect on delivery"
        case "payment.refunded":
            return f"{_amount(data['amount'])} ({data['reason']})"
        case "fulfillment.packed":
            grams = sum(p["weight_grams"] for p in data["parcels"])
            return f"{len(data['parcels'])} parcel(s), {grams / 1000:.2f} kg"
        case "fulfillment.cancel_refused":
            offer = ", return offered" if data.get("return_offered") else ""
            return f"{data['reason']}{offer}"
        case "shipment.dispatched":
            service = f"{data['carrier']} {data['service']} {data['tracking_number']}"
            return f"{service}, due {data['expected_delivery']}"
        case "shipment.delivery_failed":
            return f"{data['tracking_number']} at {_moment(data['failed_at'])}"
        case "shipment.returned":
            return f"{data['tracking_number']} after {data['attempts']} delivery attempts"
        case "shipment.address_changed":
            point = " (pickup point)" if data.get("pickup_point_id") else ""
            return f"new address in {data['address']['country']}{point}"
        case "shipment.address_change_refused":
            return str(data["reason"])
        case "notification.sent":
            return f"{data['about']} ({data['language']})"
        case _:
            return _aftersales(entry.type, data)


def _aftersales(type_name: str, data: dict[str, Any]) -> str:
    match type_name:
        case "return.authorized":
            lines = ", ".join(f"{line['quantity']}x {line['sku']}" for line in data["lines"])
            return (
                f"RMA {data['rma']} ({data['resolution']}): {lines}, to arrive by "
                f"{_moment(data['send_by'])}; reason: {data['reason']}"
            )
        case "aftersales.request_refused":
            return f"{data['request']} {data['request_id']}: {data['detail']}"
        case "return.received":
            came = ", ".join(
                f"{line['sku']} {line['resellable']} resellable {line['damaged']} damaged"
                for line in data["lines"]
            )
            refund = f"; refund {_amount(data['refund'])}" if data.get("refund") else ""
            return f"RMA {data['rma']}: {came}{refund}"
        case "return.expired":
            return f"RMA {data['rma']}: nothing came back in time"
        case "replacement.requested":
            lines = ", ".join(f"{line['quantity']}x {line['sku']}" for line in data["lines"])
            return f"{data['request']} for {data['replaces_order']}: {lines}; {data['reason']}"
        case "refund.requested":
            return f"case {data['case_id']}: {_amount(data['amount'])} ({data['reason']})"
        case "aftersales.case_closed":
            refunded = f", {_amount(data['refunded'])} refunded" if data.get("refunded") else ""
            full = ", fully returned" if data.get("fully_returned") else ""
            return f"case {data['case_id']}: {data['outcome']}{refunded}{full}"
        case _:
            return ""


def _amount(value: dict[str, Any]) -> str:
    return money(value["amount"], value["currency"])


def _moment(value: str) -> str:
    """An ISO timestamp from a message, to the minute."""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")


def when(at: datetime, start: datetime) -> str:
    elapsed = at - start
    hours, minutes = elapsed.seconds // 3600, elapsed.seconds % 3600 // 60
    if elapsed.days:
        return f"+{elapsed.days}d" + (f"{hours}h" if hours else "")
    if hours:
        return f"+{hours}h" + (f"{minutes}m" if minutes else "")
    if minutes:
        return f"+{minutes}m"
    return f"+{elapsed.total_seconds():.1f}s"


def render_order(console: Console, settings: Settings, order_id: str) -> None:
    dbs = WorkerDatabases(settings)
    try:
        with dbs.session("intake") as session:
            order = IntakeUnitOfWork(session).orders.get(order_id)
        timeline = dbs.timeline(order_id)
        pending = dbs.pending(order_id)
    finally:
        dbs.dispose()
    if order is None and not timeline:
        raise OrderNotFound(f"order: no order has the id {order_id!r}")
    if order is not None:
        reason = f" ({order.cancel_reason})" if order.cancel_reason else ""
        console.print(
            f"[bold]{order.id}[/]  {order.channel}:{order.external_id}  "
            f"[bold]{order.status}[/]{reason}  {money(order.total, order.currency or '')}"
        )
    table = Table("at", "worker", "announced", "detail", box=None, pad_edge=False)
    for entry in timeline:
        table.add_row(
            entry.at.strftime("%Y-%m-%d %H:%M:%S"), entry.worker, entry.type, summary(entry)
        )
    for waiting in pending:
        due = waiting.due.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(due, waiting.worker, f"[dim]{waiting.type} (scheduled)[/]", "")
    console.print(table)
