"""Splitting a pick list into parcels, none over the weight limit.

The limit caps a parcel's gross weight, contents plus packaging, since that is what a carrier
weighs. A unit too heavy to fit under it on its own travels alone in its own parcel.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.contracts import ReservedLine


@dataclass(frozen=True)
class PackingRules:
    max_parcel_grams: int = 20_000
    packaging_grams: int = 150

    @property
    def room_grams(self) -> int:
        """What the contents of one parcel may weigh."""
        return self.max_parcel_grams - self.packaging_grams


@dataclass
class Box:
    """A parcel being filled: its contents by SKU and what they weigh."""

    parcel_id: str = field(default_factory=lambda: "prc_" + secrets.token_hex(8))
    items: dict[str, int] = field(default_factory=dict)
    contents_grams: int = 0

    def take(self, line: ReservedLine, wanted: int, rules: PackingRules) -> int:
        """Put as many of ``wanted`` units of ``line`` as fit; how many went in."""
        fitting = self._units_that_fit(line.unit_weight_grams, rules, wanted)
        if fitting:
            self.items[line.sku] = self.items.get(line.sku, 0) + fitting
            self.contents_grams += fitting * line.unit_weight_grams
        return fitting

    def _units_that_fit(self, unit_grams: int, rules: PackingRules, wanted: int) -> int:
        if unit_grams == 0:
            return wanted
        if not self.items:
            return min(wanted, max(1, rules.room_grams // unit_grams))
        return min(wanted, max(0, (rules.room_grams - self.contents_grams) // unit_grams))


def pack(lines: Iterable[ReservedLine], rules: PackingRules) -> list[Box]:
    """First fit, heaviest units first: each unit goes in the first parcel with room for it."""
    boxes: list[Box] = []
    for line in sorted(lines, key=lambda line: (-line.unit_weight_grams, line.sku)):
        left = line.quantity
        for box in boxes:
            left -= box.take(line, left, rules)
        while left:
            boxes.append(Box())
            left -= boxes[-1].take(line, left, rules)
    return boxes


def weigh(items: Mapping[str, int], unit_grams: Mapping[str, int], rules: PackingRules) -> int:
    """A parcel's gross weight: its contents plus its packaging."""
    return (
        sum(quantity * unit_grams[sku] for sku, quantity in items.items()) + rules.packaging_grams
    )
