"""Stories after delivery, each a case within the two-week return window: returns, exchanges,
a resend, an RMA whose goods never come and a request for more than was bought."""

from __future__ import annotations

from shared.contracts import Resolution

from .catalogue import LAST_ONE
from .orders import order
from .story import Ending, Story
from .terms import DAY, HOUR
from .world import Move, announced, delivered, parcel_back, resend, send_back

RETURN_CASE = ("return.authorized", "return.received", "payment.refunded", "stock.restocked")
SENT_AGAIN = ("replacement.requested", "shipment.delivered", "shipment.delivered")
AUTHORIZED = announced("return.authorized")

STORIES = [
    Story(
        order("web", "WEB-1007", "Frances Allen", "en", [("MUG-BLUE", 2), ("TEA-GREEN", 1)]),
        "return: both mugs sent back two days after delivery, one arrives chipped: refunded "
        "12.50 + 6.25 EUR (damaged at half price), the good one restocked, the tea kept",
        Ending("completed", announces=RETURN_CASE),
        (
            Move(
                "customer",
                "asks to return the mugs",
                delivered,
                2 * DAY,
                send_back("the glaze is uneven", {"MUG-BLUE": 2}),
            ),
            Move(
                "warehouse",
                "returned mugs inspected",
                AUTHORIZED,
                3 * DAY,
                parcel_back({"MUG-BLUE": (1, 1)}),
            ),
        ),
    ),
    Story(
        order("phone", "TEL-3005", "Anna Karenina", "ru", [("PRESS-FRENCH", 1)]),
        "full return: everything comes back unused, so everything is refunded, shipping "
        "included; the order ends returned",
        Ending("returned", announces=(*RETURN_CASE, "refund.requested", "aftersales.case_closed")),
        (
            Move(
                "customer",
                "returns the whole order",
                delivered,
                DAY,
                send_back("changed my mind", {"PRESS-FRENCH": 1}),
            ),
            Move(
                "warehouse",
                "returned press inspected",
                AUTHORIZED,
                4 * DAY,
                parcel_back({"PRESS-FRENCH": (1, 0)}),
            ),
        ),
    ),
    Story(
        order("marketplace", "MKT-2004", "Oksana Bilous", "uk", [("KETTLE-STEEL", 1)], "UA"),
        "exchange: the kettle leaks; once it is back a new one is reserved, packed and shipped "
        "free of charge, and the order completes when the window closes",
        Ending("completed", announces=(*SENT_AGAIN, "aftersales.case_closed")),
        (
            Move(
                "customer",
                "asks to exchange the kettle",
                delivered,
                DAY,
                send_back("it leaks", {"KETTLE-STEEL": 1}, Resolution.EXCHANGE),
            ),
            Move(
                "warehouse",
                "leaking kettle received",
                AUTHORIZED,
                3 * DAY,
                parcel_back({"KETTLE-STEEL": (0, 1)}),
            ),
        ),
    ),
    Story(
        order("web", "WEB-1014", "Hedy Lamarr", "en", [("GRINDER-HAND", 1)]),
        "exchange for the same grinder, the first comes back unused: restocked, a new one sent",
        Ending("completed", announces=(*SENT_AGAIN, "stock.restocked", "aftersales.case_closed")),
        (
            Move(
                "customer",
                "asks to exchange the grinder",
                delivered,
                DAY,
                send_back("wrong colour", {"GRINDER-HAND": 1}, Resolution.EXCHANGE),
            ),
            Move(
                "warehouse",
                "grinder received",
                AUTHORIZED,
                2 * DAY,
                parcel_back({"GRINDER-HAND": (1, 0)}),
            ),
        ),
    ),
    Story(
        order("web", "WEB-1015", "Ida Rhodes", "en", [(LAST_ONE.sku, 1)]),
        f"exchange of the last {LAST_ONE.sku}, which arrives broken: none left to send, so it is "
        "refunded instead, shipping included; the order ends returned",
        Ending("returned", announces=("stock.unavailable", "refund.requested", "payment.refunded")),
        (
            Move(
                "customer",
                "asks to exchange the vase",
                delivered,
                DAY,
                send_back("cracked", {LAST_ONE.sku: 1}, Resolution.EXCHANGE),
            ),
            Move(
                "warehouse",
                "broken vase received",
                AUTHORIZED,
                2 * DAY,
                parcel_back({LAST_ONE.sku: (0, 1)}),
            ),
        ),
    ),
    Story(
        order("email", "MAIL-4004", "Zhang Wei", "zh", [("TEA-GREEN", 3)], "CN"),
        "one tea missing from the parcel: resent at once, free of charge",
        Ending("completed", announces=SENT_AGAIN),
        (
            Move(
                "customer",
                "reports a missing tea",
                delivered,
                HOUR,
                resend("only two of three teas in the parcel", {"TEA-GREEN": 1}),
            ),
        ),
    ),
    Story(
        order("web", "WEB-1016", "Jean Sammet", "en", [("BEANS-DARK", 1)]),
        "an RMA for the beans, but they are never sent back: the RMA expires, the order completes",
        Ending("completed", announces=("return.authorized", "return.expired", "order.completed")),
        (
            Move(
                "customer",
                "asks to return the beans",
                delivered,
                DAY,
                send_back("too bitter", {"BEANS-DARK": 1}),
            ),
        ),
    ),
    Story(
        order("web", "WEB-1017", "Adele Goldberg", "en", [("MUG-BLUE", 1)]),
        "asks to return five mugs of the one bought: refused, the order completes",
        Ending("completed", announces=("aftersales.request_refused", "order.completed")),
        (
            Move(
                "customer",
                "asks to return five mugs",
                delivered,
                DAY,
                send_back("all of them", {"MUG-BLUE": 5}),
            ),
        ),
    ),
]
