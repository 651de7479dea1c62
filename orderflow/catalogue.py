"""The small catalogue the demo and the benchmark sell from, and its price lists.

Prices are the sales channel's, one list per currency, each in that currency's minor units and
at that market's price points: orderflow takes an order's prices as the channel sent them and
never converts between currencies, so these lists are written out, not derived from rates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: int
    """In euro cents: the EUR price list's."""
    on_hand: int
    location: str
    weight_grams: int


CATALOGUE = [
    Product("MUG-BLUE", "Blue enamel mug", 1250, 500, "A-01-02", 350),
    Product("TEA-GREEN", "Sencha green tea, 100 g", 890, 800, "A-02-05", 120),
    Product("KETTLE-STEEL", "Stovetop kettle", 4990, 120, "B-01-01", 1400),
    Product("PRESS-FRENCH", "French press, 1 l", 3450, 200, "B-02-03", 900),
    Product("BEANS-DARK", "Dark roast beans, 1 kg", 2200, 600, "C-03-01", 1050),
    Product("GRINDER-HAND", "Hand grinder", 6900, 60, "C-01-04", 750),
    Product("TRAY-OAK", "Oak serving tray", 3900, 3, "D-01-01", 2100),
]
PRICES = {product.sku: product.price for product in CATALOGUE}
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
        currency: {product.sku: price for product, price in zip(CATALOGUE, prices, strict=True)}
        for currency, prices in _LISTED.items()
    },
}
"""Currency → SKU → unit price in that currency's minor units (JPY has none: 1980 is ¥1,980)."""


def shipping_fee(currency: str, option: str) -> int:
    """The channel's delivery fee; a pickup point costs what standard delivery does."""
    fees = SHIPPING_FEES[currency]
    return fees.get(option, fees["standard"])
