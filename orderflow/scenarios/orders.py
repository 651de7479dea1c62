"""Orders as channels submit them: priced from the channel's list in the customer's currency,
delivered to one of a few addresses, paid by one of the methods."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from shared.contracts import Address

from .catalogue import CATALOGUE, PRICE_LISTS, shipping_fee

CURRENCIES = {"en": "EUR", "ru": "RUB", "uk": "UAH", "zh": "CNY"}
"""The currency each language's customers buy in, unless a story says otherwise."""

ADDRESSES = {
    "DE": Address(line1="Invalidenstr. 117", city="Berlin", postal_code="10115", country="DE"),
    "FR": Address(line1="12 rue de Rivoli", city="Paris", postal_code="75004", country="FR"),
    "UA": Address(line1="vul. Khreshchatyk 22", city="Kyiv", postal_code="01001", country="UA"),
    "US": Address(line1="350 Fifth Ave", city="New York", postal_code="10118", country="US"),
    "GB": Address(line1="1 Strand", city="London", postal_code="WC2N 5HR", country="GB"),
    "CN": Address(line1="88 Century Ave", city="Shanghai", postal_code="200120", country="CN"),
    "PL": Address(line1="ul. Marszalkowska 10", city="Warsaw", postal_code="00-590", country="PL"),
    # The simulated carrier never delivers to a first line that contains "REFUSED".
    "DE-REFUSED": Address(
        line1="Lindenweg 3 (REFUSED)", city="Munich", postal_code="80331", country="DE"
    ),
}
NEW_ADDRESS = Address(line1="Karl-Marx-Allee 90", city="Berlin", postal_code="10243", country="DE")
LATE_ADDRESS = Address(line1="Torstr. 1", city="Berlin", postal_code="10119", country="DE")
PICKUP_POINT = "PUDO-BER-0042"


def order(
    channel: str,
    external_id: str,
    name: str,
    language: str,
    lines: Sequence[tuple[str, int]],
    country: str = "DE",
    option: str = "standard",
    token: str | None = "tok_visa_4242",
    method: str = "card",
    currency: str | None = None,
) -> dict[str, Any]:
    """A submission priced from the channel's price list in the customer's currency."""
    currency = currency or CURRENCIES[language]
    prices = PRICE_LISTS[currency]
    delivery: dict[str, Any] = {
        "option": option,
        "address": ADDRESSES[country].model_dump(exclude_none=True),
    }
    if option == "pickup_point":
        delivery["pickup_point_id"] = PICKUP_POINT
    return {
        "channel": channel,
        "external_id": external_id,
        "customer": {
            "name": name,
            "email": f"{external_id.lower()}@example.com",
            "language": language,
        },
        "lines": [{"sku": sku, "quantity": qty, "unit_price": prices[sku]} for sku, qty in lines],
        "currency": currency,
        "shipping_fee": shipping_fee(currency, option),
        "delivery": delivery,
        "payment": {"method": method, "token": token},
    }


def card_order(
    external_id: str, name: str, sku: str, country: str = "DE", token: str = "tok_visa_4242"
) -> dict[str, Any]:
    """One unit of ``sku`` bought on the web shop by card, in euros."""
    return order("web", external_id, name, "en", [(sku, 1)], country, token=token)


def transfer_order(
    external_id: str, name: str, sku: str, method: str = "bank_transfer"
) -> dict[str, Any]:
    """One unit of ``sku`` in euros, paid by bank transfer (by e-mail) or escrow (marketplace)."""
    channel = "marketplace" if method == "escrow" else "email"
    return order(channel, external_id, name, "en", [(sku, 1)], token=None, method=method)


def extra(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` happy orders from random channels, languages and addresses."""
    rng = random.Random(seed)
    channels = ["web", "marketplace", "phone", "email", "pos"]
    stocked = [p.sku for p in CATALOGUE if p.sku != "TRAY-OAK"]
    return [
        order(
            rng.choice(channels),
            f"EXT-{6000 + n}",
            f"Customer {n}",
            rng.choice(["en", "ru", "uk", "zh"]),
            [(sku, rng.randint(1, 3)) for sku in rng.sample(stocked, rng.randint(1, 3))],
            rng.choice([c for c in ADDRESSES if c != "DE-REFUSED"]),
            rng.choice(["standard", "standard", "express"]),
        )
        for n in range(count)
    ]
