"""Shipping's rate card, as a specification: zones, weight brackets and a table that can serve
every destination."""

from __future__ import annotations

import pytest

from services.shipping.rates import (
    BRACKET_LIMITS_GRAMS,
    EU_COUNTRIES,
    RATES,
    NoCarrierService,
    RateCard,
    Zone,
)
from shared.contracts import DeliveryOption


@pytest.mark.parametrize(
    ("country", "zone"),
    [("DE", Zone.DOMESTIC), ("FR", Zone.EU), ("CH", Zone.WORLD), ("US", Zone.WORLD)],
)
def test_the_zone_follows_the_destination_country(country: str, zone: Zone) -> None:
    assert RateCard("DE").zone_of(country) == zone


def test_the_warehouse_country_is_domestic_even_inside_the_eu() -> None:
    assert "AT" in EU_COUNTRIES and len(EU_COUNTRIES) == 27
    assert RateCard("AT").zone_of("AT") == Zone.DOMESTIC
    assert RateCard("AT").zone_of("DE") == Zone.EU


@pytest.mark.parametrize(("grams", "price"), [(1_000, 449), (1_001, 549), (31_500, 1899)])
def test_a_weight_on_a_bracket_limit_belongs_to_that_bracket(grams: int, price: int) -> None:
    dhl_paket_domestic = RATES[0]

    assert dhl_paket_domestic.price([grams]) == price


def test_a_parcel_over_the_heaviest_bracket_has_no_price() -> None:
    assert all(rate.price([31_501]) is None for rate in RATES)


def test_every_rate_has_a_price_or_a_gap_for_every_bracket() -> None:
    for rate in RATES:
        assert len(rate.prices) == len(BRACKET_LIMITS_GRAMS), rate
        assert rate.transit_days > 0, rate
        assert all(price is None or price > 0 for price in rate.prices), rate


@pytest.mark.parametrize("zone", list(Zone))
@pytest.mark.parametrize("option", [DeliveryOption.STANDARD, DeliveryOption.EXPRESS])
def test_standard_and_express_reach_every_zone(zone: Zone, option: DeliveryOption) -> None:
    assert any(rate.zone == zone and rate.option == option for rate in RATES)


def test_no_service_is_a_permanent_error_naming_the_parcels() -> None:
    with pytest.raises(NoCarrierService, match=r"parcels of 2 kg, 32\.5 kg to US"):
        RateCard("DE").choose(DeliveryOption.EXPRESS, "US", [2_000, 32_500])
