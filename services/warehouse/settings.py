"""The warehouse's settings, read once at start-up from ``ORDERFLOW_WAREHOUSE_*``."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WarehouseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_WAREHOUSE_", extra="ignore")

    max_parcel_weight_grams: int = Field(
        default=20_000, gt=0, description="heaviest parcel, packaging included"
    )
    packaging_weight_grams: int = Field(
        default=150, ge=1, description="what one parcel's box and filling weigh"
    )
    packing_seconds: float = Field(
        default=0,
        ge=0,
        description="how long picking and packing a ready order takes; until then it can be "
        "cancelled (0: packed at once)",
    )

    @model_validator(mode="after")
    def _room_for_contents(self) -> Self:
        if self.packaging_weight_grams >= self.max_parcel_weight_grams:
            raise ValueError("packaging alone would reach the parcel weight limit")
        return self
