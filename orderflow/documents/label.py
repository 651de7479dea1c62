"""The shipping label: one per parcel, 6 by 4 inches (a thermal label printer's roll), with the
carrier and its service, the address in the customer's script and locale, and the parcel's
label code as a Code 128 barcode, which the warehouse's and the carrier's scanners read."""

from __future__ import annotations

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import inch, mm

from services.warehouse.model import PackedParcel

from .fonts import width
from .layout import Reader
from .records import Papers
from .sheet import Sheet

SIZE = (6 * inch, 4 * inch)
MARGIN = 6 * mm
BAR_HEIGHT = 18 * mm
WIDEST_BAR = 0.5 * mm
"""The narrowest bar's width is as wide as the label allows, up to this: wide bars scan from
further away and survive a worn print head."""


def shipping_label(papers: Papers, parcel: PackedParcel) -> bytes:
    fulfillment, shipment = papers.packed(), papers.booked()
    reader, customer = Reader.of(papers), papers.order.customer
    code = str(parcel.label_code)
    sheet = Sheet(f"{shipment.carrier} {code}", size=SIZE, margin=MARGIN)
    delivery = shipment.requested
    top = sheet.height - MARGIN
    service = f"{shipment.carrier} {str(shipment.service).upper()}"
    sheet.text(MARGIN, top - 16, service, size=16, bold=True)
    sheet.text(MARGIN, top - 30, reader[delivery.option], size=10)
    count = reader["parcel"].format(number=parcel.number, total=len(fulfillment.parcels))
    right = sheet.width - MARGIN
    sheet.text(right, top - 16, count, size=12, bold=True, align="right")
    if parcel.weight_grams is not None:
        sheet.text(right, top - 30, reader.kilograms(parcel.weight_grams), size=10, align="right")
    sheet.y = top - 40
    sheet.line(reader["ship_to"], size=8)
    address = reader.address(delivery.address)
    for line in [customer.name if customer else "", *address[:-1]]:
        sheet.line(line, size=11)
    sheet.line(address[-1], size=11, bold=True)
    if (collect := shipment.cash_on_delivery) is not None:
        amount = reader.money(collect.amount, collect.currency)
        sheet.line(reader["collect"].format(amount=amount), bold=True)
    sheet.line(f"{reader['tracking']}: {shipment.tracking_number}", size=9)
    barcode(sheet, code)
    return sheet.pdf()


def barcode(sheet: Sheet, code: str) -> None:
    """``code`` in Code 128 across the bottom of the label, and in print beneath it."""
    room = sheet.width - 2 * MARGIN
    modules = Code128(code, barWidth=1, quiet=True).width
    bars = Code128(code, barWidth=min(WIDEST_BAR, room / modules), barHeight=BAR_HEIGHT)
    bars.drawOn(sheet.canvas, MARGIN + (room - bars.width) / 2, MARGIN + 5 * mm)
    sheet.text(sheet.width / 2 - width(code, 9) / 2, MARGIN, code, size=9)
