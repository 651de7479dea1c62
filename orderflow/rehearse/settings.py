"""``orderflow rehearse``'s settings (prefix ``ORDERFLOW_REHEARSAL_``); its options override
them."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RehearsalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_REHEARSAL_", extra="ignore")

    rabbitmqctl: str = Field(
        default="rabbitmqctl",
        min_length=1,
        description="the command that runs rabbitmqctl against the broker, split like a shell "
        "line, e.g. kubectl exec rabbitmq-0 -- rabbitmqctl",
    )
    sample_seconds: float = Field(
        default=0.5, gt=0, le=10, description="how often the queues' depth is read"
    )
    warm_up_seconds: float = Field(
        default=5,
        ge=0,
        description="seconds of orders at the rate before the measured ones, not counted: the "
        "workers' connections and caches are warm when measuring starts",
    )
    drain_seconds: float = Field(
        default=60,
        ge=0,
        description="how long, after the last order is sent, the orders may take to complete",
    )
    headroom: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description="the share of each replica kept free when counting the replicas a target "
        "rate needs",
    )
    rate_tolerance: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="how far below the offered rate the completed rate may be and still count "
        "as sustained",
    )
    start_seconds: float = Field(
        default=120, gt=0, description="how long the workers may take to start consuming"
    )
