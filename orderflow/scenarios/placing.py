"""Stories of placing an order: channels, languages and currencies, invalid submissions, and
what the shelves decide (a shortage, backorders, a reorder point)."""

from __future__ import annotations

from typing import Any

from .catalogue import BACKORDERED, NEVER_COMES, RECEIVED_TWICE, REORDERED
from .orders import card_order, order
from .story import COMPLETED, SHIPPED, Ending, Story, told
from .terms import DAY, HOUR
from .world import Move, announced, cancel, goods_for_backorder, resubmit, status

CANCELLED_UNPAID = told("order.placed", "order.cancelled")


def _invalid() -> dict[str, Any]:
    invalid = order("phone", "TEL-3001", "Ivan Petrov", "ru", [("BEANS-DARK", 0)], token=None)
    invalid["customer"]["email"] = "ivan(at)example"
    return invalid


def _broken_email(external_id: str) -> dict[str, Any]:
    submission = card_order(external_id, "Barbara McClintock", "MUG-BLUE")
    return {**submission, "customer": {"name": "B", "email": "not-an-email", "language": "en"}}


STORIES = [
    Story(
        order("web", "WEB-1001", "Ada Lovelace", "en", [("MUG-BLUE", 2), ("TEA-GREEN", 1)]),
        "happy path: paid by card, packed in two hours, delivered in two days, completed when the "
        "two-week complaint window closes; submitted twice, placed once",
        COMPLETED,
        submissions=2,
    ),
    Story(
        order(
            "marketplace",
            "MKT-2001",
            "Olena Kovalenko",
            "uk",
            [("KETTLE-STEEL", 1)],
            "UA",
            "express",
            "tok_wallet_olena",
            "e_wallet",
        ),
        "e-wallet in hryvnias, express delivery to Kyiv",
        COMPLETED,
    ),
    Story(
        order("phone", "TEL-3002", "Ivan Petrov", "ru", [("BEANS-DARK", 3)], option="pickup_point"),
        "in roubles, delivered to a pickup point",
        COMPLETED,
    ),
    Story(
        order("email", "MAIL-4001", "Li Lei", "zh", [("GRINDER-HAND", 1), ("BEANS-DARK", 1)], "CN"),
        "in yuan, two SKUs from two shelves, shipped to China",
        COMPLETED,
    ),
    Story(
        order(
            "pos", "POS-5001", "Walk-in customer", "en", [("PRESS-FRENCH", 1)], "US", currency="USD"
        ),
        "a shop till's order in US dollars, told in American English ($37.90, March 7)",
        COMPLETED,
    ),
    Story(
        order(
            "web",
            "WEB-1008",
            "Yuki Tanaka",
            "en",
            [("GRINDER-HAND", 1), ("BEANS-DARK", 2)],
            "GB",
            currency="JPY",
        ),
        "priced in yen, which has no minor unit: charged exactly ¥18,560, told in British English",
        COMPLETED,
    ),
    Story(
        _invalid(),
        "invalid submission (a quantity of 0, a broken e-mail address): rejected, every problem "
        "named; the customer cannot be told, having no valid address",
        Ending("rejected", announces=("order.rejected",), told=told()),
    ),
    Story(
        order("phone", "TEL-3006", "", "ru", [("TEA-GREEN", 1)]),
        "invalid submission with a blank name but a valid e-mail address: rejected, and told at "
        "that address, greeted without a name",
        Ending("rejected", announces=("order.rejected",), told=told("order.rejected")),
    ),
    Story(
        _broken_email("WEB-1010"),
        "rejected for a broken e-mail address, corrected by the channel and submitted again under "
        "the same id: placed, delivered, completed",
        Ending("completed", announces=("order.rejected", "order.placed", "order.completed")),
        (
            Move(
                "channel",
                "submits the corrected order",
                announced("order.rejected"),
                HOUR,
                resubmit(card_order("WEB-1010", "Barbara McClintock", "MUG-BLUE")),
            ),
        ),
    ),
    Story(
        order("marketplace", "MKT-2002", "Jean Dupont", "en", [("TRAY-OAK", 5)], "FR"),
        "5 trays wanted, 3 on the shelf and no backorders for trays: cancelled out of stock",
        Ending("cancelled", "out_of_stock", ("stock.unavailable",), CANCELLED_UNPAID),
    ),
    Story(
        card_order("WEB-1004", "Barbara Liskov", BACKORDERED.sku),
        f"backorder: {BACKORDERED.sku} is sold out, so the order waits for the supplier; the goods "
        "come five days later and the saga resumes",
        Ending(
            "completed",
            announces=("stock.backordered", "stock.reserved", "order.completed"),
            told=told(*SHIPPED, "stock.backordered"),
        ),
        (
            Move(
                "warehouse", "goods received", status("backordered"), 5 * DAY, goods_for_backorder()
            ),
        ),
    ),
    Story(
        order("web", "WEB-1011", "John Backus", "en", [(RECEIVED_TWICE.sku, 2)]),
        f"backorder: {RECEIVED_TWICE.sku} comes three days later and the goods-in desk books the "
        "receipt twice: counted once",
        Ending("completed", announces=("stock.backordered", "stock.reserved", "order.completed")),
        (
            Move(
                "warehouse",
                "goods received, booked twice",
                status("backordered"),
                3 * DAY,
                goods_for_backorder(times=2),
            ),
        ),
    ),
    Story(
        order("web", "WEB-1012", "Margaret Hamilton", "en", [(NEVER_COMES.sku, 1)]),
        f"{NEVER_COMES.sku} takes a month to come; the customer cancels after a day: the warehouse "
        "never saw the order and remembers the cancel, the backorder is released",
        Ending(
            "cancelled",
            "customer_cancelled",
            ("stock.backordered", "fulfillment.cancelled", "stock.released"),
        ),
        (
            Move(
                "customer",
                "cancels while waiting",
                status("backordered"),
                DAY,
                cancel("cannot wait that long"),
            ),
        ),
    ),
    Story(
        order("web", "WEB-1013", "Donald Knuth", "en", [(REORDERED.sku, 3)]),
        f"three of the ten {REORDERED.sku} on the shelf sold: below the reorder point of eight, "
        "stock asks the supplier for fifty",
        Ending("completed", announces=("order.completed",), replenishes={REORDERED.sku: 50}),
    ),
]
