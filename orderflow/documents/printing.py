"""Which documents an order or a wave gets, written as PDF files into a directory.

A file is named after what it is about (``label-<order>-<parcel number>.pdf``), so printing
again overwrites the same file rather than adding a second copy to the printer's tray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from ..cluster.databases import WorkerDatabases
from .customer import invoice, packing_slip
from .label import shipping_label
from .records import NotPrintable, fulfillments, papers, wave
from .staff import pick_list


class Kind(StrEnum):
    SLIP = "slip"
    LABEL = "label"
    INVOICE = "invoice"


@dataclass
class Printed:
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Why a document of the batch could not be printed (not packed, not booked yet)."""


def write(directory: Path, name: str, pdf: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name.replace('/', '_')}.pdf"
    path.write_bytes(pdf)
    return path


def order_documents(dbs: WorkerDatabases, order_id: str, kind: Kind, directory: Path) -> list[Path]:
    """One order's invoice, or a slip or label per parcel; NotPrintable if it has none yet."""
    found = papers(dbs, order_id)
    if kind is Kind.INVOICE:
        return [write(directory, f"invoice-{order_id}", invoice(found))]
    render = packing_slip if kind is Kind.SLIP else shipping_label
    return [
        write(directory, f"{kind}-{order_id}-{parcel.number}", render(found, parcel))
        for parcel in found.packed().parcels
    ]


def named_pick_list(dbs: WorkerDatabases, order_ids: Sequence[str], directory: Path) -> Path:
    """One pick list for the named orders, as a wave of their own."""
    wanted = fulfillments(dbs, list(order_ids))
    title = "orders " + ", ".join(order_ids)
    name = f"pick-list-{order_ids[0]}" + (f"-and-{len(order_ids) - 1}" if order_ids[1:] else "")
    return write(directory, name, pick_list(wanted, title, datetime.now(UTC)))


def wave_documents(
    dbs: WorkerDatabases, since: datetime, until: datetime, directory: Path, pick_only: bool = False
) -> Printed:
    """The wave's pick list, and unless ``pick_only`` each of its orders' invoice, slips and
    labels; what cannot be printed yet is skipped with the reason."""
    orders = wave(dbs, since, until)
    printed = Printed()
    if not orders:
        return printed
    span = f"{since:%Y%m%dT%H%M%S}-{until:%Y%m%dT%H%M%S}"
    title = f"wave: ready from {since:%Y-%m-%d %H:%M:%S} to {until:%Y-%m-%d %H:%M:%S} UTC"
    printed.files.append(
        write(directory, f"pick-list-{span}", pick_list(orders, title, datetime.now(UTC)))
    )
    for fulfillment in [] if pick_only else orders:
        for kind in Kind:
            try:
                printed.files += order_documents(dbs, fulfillment.order_id, kind, directory)
            except NotPrintable as reason:
                printed.skipped.append(f"{kind}: {reason}")
    return printed
