"""Stories of paying: a declined card, a flaky gateway, bank transfers paid in full, in parts,
too much or never, a marketplace's escrow and cash on delivery."""

from __future__ import annotations

from .orders import card_order, order, transfer_order
from .placing import CANCELLED_UNPAID
from .story import COMPLETED, SHIPPED, Ending, Story, told
from .terms import DAY, HOUR
from .world import Move, announced, balance, pay_by_bank, total

PAID_BY_TRANSFER = Ending(
    "completed",
    announces=("payment.pending", "payment.captured", "order.completed"),
    told=told(*SHIPPED, "payment.pending"),
)

STORIES = [
    Story(
        card_order(
            "WEB-1002",
            "Grace Hopper",
            "GRINDER-HAND",
            country="FR",
            token="tok_decline_insufficient_funds",
        ),
        "card declined: the stock is released and the order cancelled",
        Ending(
            "cancelled", "payment_failed", ("payment.failed", "stock.released"), CANCELLED_UNPAID
        ),
    ),
    Story(
        order(
            "web", "WEB-1003", "Alan Turing", "en", [("TEA-GREEN", 4)], "PL", token="tok_transient"
        ),
        "the card gateway times out twice; the retried charge goes through once",
        COMPLETED,
    ),
    Story(
        order(
            "email",
            "MAIL-4002",
            "Sergei Ivanov",
            "ru",
            [("BEANS-DARK", 2)],
            token=None,
            method="bank_transfer",
        ),
        "bank transfer never paid: reminded after 2 and 5 days, expired after 7, cancelled",
        Ending(
            "cancelled",
            "payment_expired",
            ("payment.reminder", "payment.reminder", "payment.expired", "stock.released"),
            told("order.placed", "payment.pending", "payment.reminder", "order.cancelled"),
        ),
    ),
    Story(
        transfer_order("MAIL-4005", "Tim Berners-Lee", "TEA-GREEN"),
        "bank transfer paid in full a day after the bank details were sent",
        PAID_BY_TRANSFER,
        (
            Move(
                "bank",
                "paid in full",
                announced("payment.pending"),
                DAY,
                pay_by_bank("bank", total),
            ),
        ),
    ),
    Story(
        order(
            "phone",
            "TEL-3003",
            "Taras Shevchenko",
            "uk",
            [("PRESS-FRENCH", 2)],
            token=None,
            method="bank_transfer",
        ),
        "bank transfer in hryvnias paid in two parts: 1000.00 UAH after a day, the balance the "
        "reminder asked for six hours after it",
        Ending(
            "completed",
            announces=("payment.pending", "payment.captured", "order.completed"),
            told=told(*SHIPPED, "payment.pending", "payment.reminder"),
        ),
        (
            Move(
                "bank",
                "first part paid",
                announced("payment.pending"),
                DAY,
                pay_by_bank("bank-1", lambda _: 100_000),
            ),
            Move(
                "bank",
                "the rest paid",
                announced("payment.reminder"),
                6 * HOUR,
                pay_by_bank("bank-2", balance),
            ),
        ),
    ),
    Story(
        transfer_order("MAIL-4006", "Radia Perlman", "TEA-GREEN"),
        "bank transfer paid in two parts, the second once payment has said what is still owed",
        PAID_BY_TRANSFER,
        (
            Move(
                "bank",
                "first part paid",
                announced("payment.pending"),
                HOUR,
                pay_by_bank("part-1", lambda _: 1000),
            ),
            Move(
                "bank",
                "the rest paid",
                announced("payment.pending", 2),
                HOUR,
                pay_by_bank("part-2", lambda snap: snap.order.total - 1000),
            ),
        ),
    ),
    Story(
        transfer_order("MAIL-4007", "Whitfield Diffie", "TEA-GREEN"),
        "bank transfer of 5.00 EUR too much: captured, and the difference refunded",
        Ending("completed", announces=("payment.captured", "payment.refunded", "order.completed")),
        (
            Move(
                "bank",
                "pays too much",
                announced("payment.pending"),
                DAY,
                pay_by_bank("bank", lambda snap: snap.order.total + 500),
            ),
        ),
    ),
    Story(
        transfer_order("MKT-2005", "Shafi Goldwasser", "PRESS-FRENCH", method="escrow"),
        "a marketplace's escrow: the money is held until the marketplace releases it",
        PAID_BY_TRANSFER,
        (
            Move(
                "bank",
                "escrow funded",
                announced("payment.pending"),
                DAY,
                pay_by_bank("escrow", total),
            ),
        ),
    ),
    Story(
        order(
            "phone",
            "TEL-3004",
            "Mykola Bondar",
            "uk",
            [("MUG-BLUE", 2)],
            token=None,
            method="cash_on_delivery",
        ),
        "cash on delivery in hryvnias: packed on the promise, the carrier is booked to collect the "
        "order's total at the door",
        Ending(
            "completed",
            announces=("payment.deferred", "payment.captured", "order.completed"),
            told=told(*SHIPPED),
        ),
    ),
]
