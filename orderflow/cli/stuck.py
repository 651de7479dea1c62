"""``orderflow order stuck``: the orders held longer than their status's bound, and where each
one waits (``orderflow.operator.stuck``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from shared.envelope import describe

from .support import console, fail, load_settings


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def order_stuck(
    output: Annotated[
        Format, typer.Option("--format", help="A table for people, or JSON for tools.")
    ] = Format.TABLE,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, oldest first.")] = 100,
) -> None:
    """Orders in a status for longer than its bound (ORDERFLOW_INTAKE_STUCK_AFTER_SECONDS), and
    which worker or timer each one waits on."""
    from services.intake.settings import IntakeSettings

    from ..operator.stuck import stuck_orders

    try:
        intake = IntakeSettings()
    except ValidationError as error:
        raise fail(f"settings: {describe(error)} (from ORDERFLOW_INTAKE_* variables)") from None
    now = datetime.now(UTC)
    found = stuck_orders(load_settings(), intake, now, limit)
    if output is Format.JSON:
        print(json.dumps([order.as_json(now) for order in found], indent=2))
        return
    if not found:
        console.print("no stuck orders")
        return
    table = Table("order", "channel", "status", "since", "for", "bound", "waits on", "next timer")
    for order in found:
        timer = order.timer
        table.add_row(
            order.order_id,
            order.channel,
            order.status,
            order.since.strftime("%Y-%m-%d %H:%M:%S"),
            _duration((now - order.since).total_seconds()),
            _duration(order.bound_seconds),
            f"{order.waits_on}: {order.waiting_for}",
            "" if timer is None else f"{timer.type} ({timer.worker}) {timer.due:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    console.print(f"{len(found)} stuck" + (" (limit reached)" if len(found) == limit else ""))


def _duration(seconds: float) -> str:
    """``3d4h``, ``2h5m``, ``40s``: a length of time at a glance."""
    whole = int(seconds)
    days, hours, minutes = whole // 86400, whole % 86400 // 3600, whole % 3600 // 60
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m{whole % 60}s" if minutes else f"{whole}s"
