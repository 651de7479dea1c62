"""Stories of changes on the way: a customer who cancels before packing or after dispatch, who
moves house, and parcels nobody takes."""

from __future__ import annotations

from .orders import LATE_ADDRESS, NEW_ADDRESS, card_order, order, transfer_order
from .story import SHIPPED, Ending, Story, told
from .terms import DAY, HOUR
from .world import Move, announced, cancel, move_house, pay_by_bank, total

REFUSED_AT_THE_DOOR = ("shipment.delivery_failed", "shipment.returned", "stock.restocked")

STORIES = [
    Story(
        card_order("WEB-1005", "Edsger Dijkstra", "KETTLE-STEEL", country="FR"),
        "paid by card, cancelled by the customer half an hour later, before packing: refunded, "
        "stock released",
        Ending(
            "cancelled",
            "customer_cancelled",
            ("fulfillment.cancelled", "payment.refunded", "stock.released"),
            told("order.placed", "order.cancelled", "payment.refunded"),
        ),
        (
            Move(
                "customer",
                "cancels before packing",
                announced("payment.captured"),
                HOUR / 2,
                cancel("ordered the wrong kettle"),
            ),
        ),
    ),
    Story(
        order("marketplace", "MKT-2003", "Wang Fang", "zh", [("TEA-GREEN", 2)], "CN"),
        "the customer cancels a day after dispatch: refused (a return is offered), delivered",
        Ending(
            "completed",
            announces=("fulfillment.cancel_refused", "order.completed"),
            told=told(*SHIPPED, "fulfillment.cancel_refused"),
        ),
        (
            Move(
                "customer",
                "cancels after dispatch",
                announced("shipment.dispatched"),
                DAY,
                cancel("no longer needed"),
            ),
        ),
    ),
    Story(
        order("email", "MAIL-4003", "Emmy Noether", "en", [("PRESS-FRENCH", 1)]),
        "the customer moves an hour after ordering: the parcel goes to the new address; a second "
        "change after dispatch is refused",
        Ending(
            "completed",
            announces=("shipment.address_changed", "shipment.address_change_refused"),
            told=told(*SHIPPED, "shipment.address_changed", "shipment.address_change_refused"),
        ),
        (
            Move(
                "customer",
                "changes the address",
                announced("order.placed"),
                HOUR,
                move_house(NEW_ADDRESS, "moved house"),
            ),
            Move(
                "customer",
                "changes the address again",
                announced("shipment.dispatched"),
                HOUR / 2,
                move_house(LATE_ADDRESS, "deliver to my office instead"),
            ),
        ),
    ),
    Story(
        transfer_order("MAIL-4008", "Frances Spence", "TEA-GREEN"),
        "a bank transfer's customer moves before paying: the new address is taken, then the money "
        "comes and the parcel goes there",
        Ending("completed", announces=("shipment.address_changed", "payment.captured")),
        (
            Move(
                "customer",
                "changes the address",
                announced("payment.pending"),
                HOUR,
                move_house(NEW_ADDRESS, "moved"),
            ),
            Move(
                "bank",
                "paid in full",
                announced("shipment.address_changed"),
                HOUR,
                pay_by_bank("bank", total),
            ),
        ),
    ),
    Story(
        card_order("WEB-1006", "Kurt Goedel", "GRINDER-HAND", country="DE-REFUSED"),
        "nobody takes the parcel: three failed attempts, returned to sender, cancelled, refunded, "
        "restocked",
        Ending("cancelled", "delivery_failed", (*REFUSED_AT_THE_DOOR, "payment.refunded")),
    ),
    Story(
        order(
            "phone",
            "TEL-3007",
            "Lesya Ukrainka",
            "uk",
            [("BEANS-DARK", 1)],
            "DE-REFUSED",
            token=None,
            method="cash_on_delivery",
        ),
        "cash on delivery, and nobody takes the parcel: returned to sender, the cash promise "
        "voided, restocked",
        Ending("cancelled", "delivery_failed", (*REFUSED_AT_THE_DOOR, "payment.voided")),
    ),
]
