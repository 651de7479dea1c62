"""Where the catalogue used to live; ``bench/`` still imports it from here."""

from .scenarios.catalogue import CATALOGUE, PRICE_LISTS, PRICES, Product, shipping_fee

__all__ = ["CATALOGUE", "PRICES", "PRICE_LISTS", "Product", "shipping_fee"]
