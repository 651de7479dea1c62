"""The small catalogue the demo and the benchmark sell from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: int
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
