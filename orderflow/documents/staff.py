"""The documents the warehouse's staff read, in English: the pick list of a wave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.units import mm

from services.warehouse.model import Fulfillment

from .sheet import Column, Sheet

COLUMNS = [Column(0), Column(8 * mm), Column(40 * mm), Column(100 * mm, "right"), Column(110 * mm)]
BOX = "\N{BALLOT BOX}"


@dataclass(frozen=True, order=True)
class Pick:
    """Units of a SKU to take from a shelf for an order; ordered as the picker walks."""

    location: str
    sku: str
    order_id: str
    quantity: int


def picks(wave: Sequence[Fulfillment]) -> list[Pick]:
    """Every line of the wave's pick lists, sorted by shelf location: one walk down the aisles
    picks the whole wave, and lines of one SKU from several orders stand together."""
    return sorted(
        Pick(line.location, line.sku, fulfillment.order_id, line.quantity)
        for fulfillment in wave
        for line in fulfillment.pick_list
    )


def pick_list(wave: Sequence[Fulfillment], title: str, printed_at: datetime) -> bytes:
    walk = picks(wave)
    sheet = Sheet(f"Pick list {title}")
    sheet.line("Pick list", size=18, bold=True)
    sheet.line(title, size=11)
    units = sum(pick.quantity for pick in walk)
    sheet.line(f"{len(wave)} orders, {len(walk)} lines, {units} units", size=11)
    sheet.line(f"printed {printed_at:%Y-%m-%d %H:%M} UTC", size=9)
    sheet.space()
    sheet.row(COLUMNS, ["", "Location", "SKU", "Qty", "Order"], bold=True)
    sheet.rule()
    for pick in walk:
        sheet.row(COLUMNS, [BOX, pick.location, pick.sku, str(pick.quantity), pick.order_id])
    return sheet.pdf()
