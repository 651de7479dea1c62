"""The terms the stories are told in: how long the warehouse packs, how long a transfer may
take, how often the carrier tries. The demo and the fuzzer give them to their workers, so each
story's moves fall where it says; the end-to-end test shrinks them to seconds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic_settings import BaseSettings

from services.intake.settings import IntakeSettings
from services.notifier.settings import NotifierSettings
from services.payment.settings import PaymentSettings
from services.shipping.settings import ShippingSettings
from services.warehouse.settings import WarehouseSettings
from shared.contracts import ReviewDecision

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PACKING = 2 * HOUR
REVIEW = 2 * DAY


def worker_settings(workdir: Path) -> dict[str, BaseSettings]:
    """What the workers are given instead of reading the environment: the warehouse takes two
    hours to pick and pack (a window to cancel in), e-mail lands in ``workdir``'s own Maildir
    whatever the environment says, and the payment, carrier and review terms are pinned to
    their defaults (a held order nobody reviews is rejected after two days)."""
    return {
        "intake": IntakeSettings(
            review_timeout_seconds=REVIEW.total_seconds(),
            review_timeout_decision=ReviewDecision.REJECT,
        ),
        "warehouse": WarehouseSettings(packing_seconds=PACKING.total_seconds()),
        "payment": PaymentSettings(
            window_seconds=7 * DAY.total_seconds(),
            reminder_offsets_seconds=[2 * DAY.total_seconds(), 5 * DAY.total_seconds()],
        ),
        "shipping": ShippingSettings(
            delivery_attempts=3, delivery_retry_interval_seconds=DAY.total_seconds()
        ),
        "notifier": NotifierSettings(smtp_host=None, maildir=workdir / "mail"),
    }
