"""The documents a customer reads, in their language and locale: a packing slip per parcel and
an invoice per order."""

from __future__ import annotations

from reportlab.lib.units import mm

from services.warehouse.model import PackedParcel

from .layout import Reader, address_block, heading
from .records import NotPrintable, Papers
from .sheet import Column, Sheet

SLIP_COLUMNS = [Column(0), Column(120 * mm, "right")]
INVOICE_COLUMNS = [
    Column(0),
    Column(85 * mm, "right"),
    Column(130 * mm, "right"),
    Column(180 * mm, "right"),
]
TOTALS = [Column(0), Column(180 * mm, "right")]


def packing_slip(papers: Papers, parcel: PackedParcel) -> bytes:
    """What one parcel holds, to put in it: the customer checks it against the box."""
    reader, parcels = Reader.of(papers), papers.packed().parcels
    sheet = Sheet(f"{reader['slip']} {parcel.label_code}")
    heading(sheet, reader["slip"], reader, papers)
    sheet.line(reader["parcel"].format(number=parcel.number, total=len(parcels)), bold=True)
    sheet.line(str(parcel.label_code))
    sheet.space()
    delivery = papers.shipment.delivery if papers.shipment else None
    delivery = delivery or papers.order.delivery
    customer = papers.order.customer
    if delivery is not None and customer is not None:
        address_block(sheet, reader["ship_to"], [customer.name, *reader.address(delivery.address)])
    sheet.row(SLIP_COLUMNS, [reader["sku"], reader["quantity"]], bold=True)
    sheet.rule()
    for sku, quantity in sorted(parcel.items.items()):
        sheet.row(SLIP_COLUMNS, [sku, str(quantity)])
    sheet.rule()
    if parcel.weight_grams is not None:
        sheet.line(f"{reader['weight']}: {reader.kilograms(parcel.weight_grams)}")
    return sheet.pdf()


def invoice(papers: Papers) -> bytes:
    """The order's invoice: its lines, fee and total as the channel priced them, and the taxes
    the order carries, included in those prices."""
    order, reader = papers.order, Reader.of(papers)
    if order.id != papers.order_id:
        raise NotPrintable(f"order {papers.order_id}: a replacement is free, with no invoice")
    customer = order.customer
    if customer is None or order.delivery is None:
        raise NotPrintable(f"order {order.id}: was never placed, so it has no invoice")
    sheet = Sheet(f"{reader['invoice']} {order.id}")
    heading(sheet, reader["invoice"], reader, papers)
    bill_to = [customer.name, str(customer.email), *reader.address(order.delivery.address)]
    address_block(sheet, reader["bill_to"], bill_to)
    if order.payment is not None:
        sheet.line(f"{reader['payment']}: {reader[order.payment.method]}")
        sheet.space()
    titles = [reader[word] for word in ("sku", "quantity", "unit_price", "amount")]
    sheet.row(INVOICE_COLUMNS, titles, bold=True)
    sheet.rule()
    for line in order.lines:
        amounts = [reader.money(line.unit_price), reader.money(line.quantity * line.unit_price)]
        sheet.row(INVOICE_COLUMNS, [line.sku, str(line.quantity), *amounts])
    sheet.rule()
    sheet.row(TOTALS, [reader["subtotal"], reader.money(order.items_total)])
    sheet.row(TOTALS, [reader["shipping"], reader.money(order.shipping_fee)])
    sheet.row(TOTALS, [reader["total"], reader.money(order.total)], size=12, bold=True)
    for tax in order.taxes or []:
        including = reader["including"].format(
            name=tax.name, rate=reader.rate(tax.rate_basis_points)
        )
        sheet.row(TOTALS, [including, reader.money(tax.amount)])
    return sheet.pdf()
