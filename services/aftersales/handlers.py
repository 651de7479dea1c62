"""After-sales' handlers, one per message type."""

from __future__ import annotations

from datetime import timedelta

from shared.contracts import Message, ShipmentDelivered
from shared.handlers import Handler

from .model import ReturnWindow
from .store import AftersalesUnitOfWork


def on_shipment_delivered(
    event: ShipmentDelivered, uow: AftersalesUnitOfWork, return_window: timedelta
) -> list[Message]:
    """Open the order's return window. Nothing to announce yet: returns come next issue."""
    if uow.return_windows.for_order(event.order_id) is None:
        uow.return_windows.add(ReturnWindow.after(event, return_window))
    return []


HANDLERS: dict[type[Message], Handler] = {
    ShipmentDelivered: on_shipment_delivered,
}
