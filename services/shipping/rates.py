"""The rate card: what each carrier's service costs and takes, and the rules that pick one.

Prices are per parcel, by weight bracket, so a heavy order split into several parcels is priced
parcel by parcel. ``None`` means the service does not carry that weight.

The rate card is what the carriers charge us, in the currency of our contracts with them (EUR,
from the warehouse in Germany), whatever the order's currency: it is shipping's cost, announced
as ``shipment.dispatched``'s ``cost``. What the customer pays for delivery is the order's
``shipping_fee``, which the sales channel prices in the order's currency. Nothing here converts
one into the other.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts import DeliveryOption
from shared.errors import PermanentError

CURRENCY = "EUR"
"""The rate card's currency (see above): never the order's."""
BRACKET_LIMITS_GRAMS = (1_000, 2_000, 5_000, 10_000, 20_000, 31_500)
# fmt: off
EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
# fmt: on


class Zone(StrEnum):
    DOMESTIC = "domestic"
    EU = "eu"
    WORLD = "world"


STANDARD, EXPRESS, PICKUP = (
    DeliveryOption.STANDARD,
    DeliveryOption.EXPRESS,
    DeliveryOption.PICKUP_POINT,
)
DOMESTIC, EU, WORLD = Zone.DOMESTIC, Zone.EU, Zone.WORLD


@dataclass(frozen=True)
class Rate:
    carrier: str
    service: str
    option: DeliveryOption
    zone: Zone
    transit_days: int
    prices: tuple[int | None, ...]

    def price(self, parcel_grams: Sequence[int]) -> int | None:
        """The price of these parcels, or None if one of them is too heavy for the service."""
        total = 0
        for grams in parcel_grams:
            bracket = bisect_left(BRACKET_LIMITS_GRAMS, grams)
            price = self.prices[bracket] if bracket < len(self.prices) else None
            if price is None:
                return None
            total += price
        return total


# fmt: off
#      carrier  service          option    zone      days  ≤1kg  ≤2kg  ≤5kg  ≤10kg  ≤20kg ≤31.5kg
RATES = tuple(Rate(*row) for row in [
    ("DHL",  "paket",         STANDARD, DOMESTIC, 2, (449,  549,  649,  899,  1499,  1899)),
    ("DHL",  "paket",         STANDARD, EU,       4, (1349, 1449, 1749, 2399, 3499,  4699)),
    ("DHL",  "paket",         STANDARD, WORLD,    8, (1799, 2999, 3999, 5499, 8499, 11499)),
    ("DHL",  "express",       EXPRESS,  DOMESTIC, 1, (1490, 1590, 1890, 2390, 3190,  3990)),
    ("DHL",  "express",       EXPRESS,  EU,       2, (2990, 3290, 3990, 4990, 6990,  8990)),
    ("DHL",  "express",       EXPRESS,  WORLD,    3, (5990, 6990, 8490, 10990, 15990, 19990)),
    ("DPD",  "classic",       STANDARD, DOMESTIC, 2, (429,  529,  679,  879,  1399,  2049)),
    ("DPD",  "classic",       STANDARD, EU,       3, (1199, 1399, 1799, 2299, 3299,  4499)),
    ("DPD",  "express",       EXPRESS,  DOMESTIC, 1, (1390, 1490, 1790, 2290, 2990,  3790)),
    ("DPD",  "express",       EXPRESS,  EU,       2, (2790, 3090, 3690, 4590, 6490,  8490)),
    ("UPS",  "standard",      STANDARD, DOMESTIC, 3, (699,  799,  899,  1099, 1699,  2199)),
    ("UPS",  "standard",      STANDARD, EU,       4, (1299, 1499, 1699, 2199, 3199,  4299)),
    ("UPS",  "standard",      STANDARD, WORLD,    7, (2499, 3499, 4499, 5999, 8999, 12999)),
    ("UPS",  "express_saver", EXPRESS,  DOMESTIC, 1, (1590, 1790, 1990, 2490, 3290,  4190)),
    ("UPS",  "express_saver", EXPRESS,  EU,       1, (3490, 3790, 4490, 5490, 7490,  9490)),
    ("UPS",  "express_saver", EXPRESS,  WORLD,    2, (6490, 7490, 8990, 11490, 16490, 20990)),
    ("PUDO", "pickup",        PICKUP,   DOMESTIC, 3, (349,  399,  499,  699,  1099,  None)),
    ("PUDO", "pickup",        PICKUP,   EU,       5, (999,  1199, 1499, 1999, 2999,  None)),
])
# fmt: on


class NoCarrierService(PermanentError):
    """No service on the rate card can carry these parcels to that country."""


@dataclass(frozen=True)
class Quote:
    carrier: str
    service: str
    transit_days: int
    cost: int


class RateCard:
    """Picks a carrier's service: the pickup network for a pickup point, the fastest express
    (ties: the cheapest), the cheapest standard. Where the wanted option cannot take the parcels
    there, the cheapest standard service does; where none can, the order is parked."""

    def __init__(self, home_country: str, rates: Sequence[Rate] = RATES) -> None:
        self.home_country = home_country
        self.rates = rates

    def zone_of(self, country: str) -> Zone:
        if country == self.home_country:
            return Zone.DOMESTIC
        return Zone.EU if country in EU_COUNTRIES else Zone.WORLD

    def quotes(
        self, option: DeliveryOption, country: str, parcel_grams: Sequence[int]
    ) -> list[Quote]:
        zone = self.zone_of(country)
        return [
            Quote(rate.carrier, rate.service, rate.transit_days, price)
            for rate in self.rates
            if rate.option == option and rate.zone == zone
            if (price := rate.price(parcel_grams)) is not None
        ]

    def choose(self, option: DeliveryOption, country: str, parcel_grams: Sequence[int]) -> Quote:
        for wanted in (option, STANDARD):
            quotes = self.quotes(wanted, country, parcel_grams)
            if wanted == EXPRESS and quotes:
                return min(quotes, key=lambda q: (q.transit_days, q.cost))
            if quotes:
                return min(quotes, key=lambda q: (q.cost, q.transit_days))
        kilos = ", ".join(f"{grams / 1000:g} kg" for grams in parcel_grams)
        raise NoCarrierService(f"no carrier service takes parcels of {kilos} to {country}")
