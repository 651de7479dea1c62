"""The small catalogue the stories, the benchmark and the tests sell from: its products, their
price lists and the shelves they are stocked on.

Prices are the sales channel's, one list per currency, each in that currency's minor units and
at that market's price points: orderflow takes an order's prices as the channel sent them and
never converts between currencies, so these lists are written out, not derived from rates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.stock.model import Item
from shared.clock import Clock

from ..operator.operations import StockAction, on_stock, stock_level, stock_policy


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: int
    """In euro cents: the EUR price list's."""
    on_hand: int
    location: str
    weight_grams: int


CATALOGUE = [  # what every order may name: always on the shelf, except a few trays
    Product("MUG-BLUE", "Blue enamel mug", 1250, 500, "A-01-02", 350),
    Product("TEA-GREEN", "Sencha green tea, 100 g", 890, 800, "A-02-05", 120),
    Product("KETTLE-STEEL", "Stovetop kettle", 4990, 120, "B-01-01", 1400),
    Product("PRESS-FRENCH", "French press, 1 l", 3450, 200, "B-02-03", 900),
    Product("BEANS-DARK", "Dark roast beans, 1 kg", 2200, 600, "C-03-01", 1050),
    Product("GRINDER-HAND", "Hand grinder", 6900, 60, "C-01-04", 750),
    Product("TRAY-OAK", "Oak serving tray", 3900, 3, "D-01-01", 2100),
]
# each kept for a story of its own (``SHELVES`` says how it is bought)
BACKORDERED = Product("SCALE-DIGITAL", "Digital coffee scale", 2990, 0, "D-02-01", 450)
"""Sold out, but its supplier delivers in five days: orders wait for it."""
RECEIVED_TWICE = Product("LAMP-COPPER", "Copper desk lamp", 5900, 0, "E-01-01", 800)
"""Sold out, delivered in three days; the goods-in desk books the receipt twice."""
LAST_ONE = Product("VASE-GLASS", "Glass vase", 2500, 1, "E-02-01", 600)
"""One on the shelf: once it is sold, an exchange finds none to send."""
NEVER_COMES = Product("CLOCK-WALL", "Wall clock", 3200, 0, "E-03-01", 900)
"""None on the shelf, backorders allowed, a month's wait: its customer cancels first."""
REORDERED = Product("FILTER-PAPER", "Paper filters, 100", 450, 10, "E-04-01", 80)
"""Ten on the shelf and a reorder point of eight: selling three asks the supplier for fifty."""
SPECIALS = [BACKORDERED, RECEIVED_TWICE, LAST_ONE, NEVER_COMES, REORDERED]
PRICES = {product.sku: product.price for product in [*CATALOGUE, *SPECIALS]}
"""The EUR price list."""

# fmt: off
#          MUG-BLUE TEA-GREEN KETTLE-STEEL PRESS-FRENCH BEANS-DARK GRINDER-HAND TRAY-OAK
_LISTED = {
    "USD": (1390,    990,      5490,        3790,        2390,      7490,        4290),
    "RUB": (119000,  84900,    479000,      329000,      209000,    659000,      369000),
    "UAH": (54900,   38900,    219000,      149000,      94900,     299000,      169000),
    "CNY": (9900,    6900,     38900,       26900,       16900,     53900,       29900),
    "JPY": (1980,    1380,     7980,        5480,        3480,      10800,       5980),
}
#          SCALE-DIGITAL LAMP-COPPER VASE-GLASS CLOCK-WALL FILTER-PAPER
_SPECIAL = {
    "USD": (3290,        6490,       2790,      3490,      490),
    "RUB": (289000,      569000,     239000,    309000,    43000),
    "UAH": (129000,      259000,     109000,    139000,    19000),
    "CNY": (22900,       45900,      19900,     24900,     3500),
    "JPY": (4780,        9480,       3980,      5180,      720),
}
SHIPPING_FEES = {  # what the channel charges for standard and express delivery
    "EUR": {"standard": 495, "express": 1490},
    "USD": {"standard": 590, "express": 1690},
    "RUB": {"standard": 49000, "express": 149000},
    "UAH": {"standard": 12000, "express": 39000},
    "CNY": {"standard": 3900, "express": 11900},
    "JPY": {"standard": 800, "express": 2400},
}
# fmt: on
PRICE_LISTS: dict[str, dict[str, int]] = {
    "EUR": PRICES,
    **{
        currency: dict(
            zip(
                [p.sku for p in [*CATALOGUE, *SPECIALS]],
                [*prices, *_SPECIAL[currency]],
                strict=True,
            )
        )
        for currency, prices in _LISTED.items()
    },
}
"""Currency → SKU → unit price in that currency's minor units (JPY has none: 1980 is ¥1,980)."""


def shipping_fee(currency: str, option: str) -> int:
    """The channel's delivery fee; a pickup point costs what standard delivery does."""
    fees = SHIPPING_FEES[currency]
    return fees.get(option, fees["standard"])


@dataclass(frozen=True)
class Shelf:
    """How a product is stocked: its count and place (the product's), and how it is bought."""

    product: Product
    backorder_allowed: bool = False
    lead_time_days: int | None = None
    reorder_point: int | None = None
    reorder_quantity: int | None = None

    @property
    def has_policy(self) -> bool:
        return self.backorder_allowed or self.reorder_point is not None


def stock_shelves(
    run: Callable[[StockAction], Item], shelves: Sequence[Shelf], clock: Clock
) -> None:
    """Stock every shelf with the operator's own actions (``orderflow stock set`` and ``stock
    policy``), each run by ``run``: the CLI's way, or a running stock worker's."""
    for shelf in shelves:
        p = shelf.product
        on_stock(run, stock_level(p.sku, p.on_hand, p.location, p.weight_grams, clock))
        if shelf.has_policy:
            policy = stock_policy(
                p.sku,
                shelf.backorder_allowed,
                shelf.reorder_point,
                shelf.reorder_quantity,
                shelf.lead_time_days,
            )
            on_stock(run, policy)


SHELVES = [
    *(Shelf(product) for product in CATALOGUE),
    Shelf(BACKORDERED, backorder_allowed=True, lead_time_days=5),
    Shelf(RECEIVED_TWICE, backorder_allowed=True, lead_time_days=3),
    Shelf(LAST_ONE),
    Shelf(NEVER_COMES, backorder_allowed=True, lead_time_days=30),
    Shelf(REORDERED, reorder_point=8, reorder_quantity=50, lead_time_days=5),
]
