"""Reporting's read model: one row per order with the time each step was reached, its lines,
what was refunded and what came back, kept from the business events the other workers announce.

An event sets what it knows and nothing else, and a step keeps the earliest time it was reached,
so one event applied twice, late, or out of order (a rebuild replaying the history while the
live queue goes on) leaves the same rows: the rules at the end. Nothing is summed in a row: a
refund and a return are rows of their own, keyed by their ids, and a report adds them up.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.contracts import ItemQuantity
from shared.database import TypedJson, UtcDateTime

from .upserts import EARLIEST, Follows, Rule

STEPS = (
    "placed_at",
    "held_at",
    "approved_at",
    "backordered_at",
    "reserved_at",
    "paid_at",
    "packed_at",
    "dispatched_at",
    "delivered_at",
    "delivery_failed_at",
    "returned_at",
    "payment_expired_at",
    "completed_at",
    "cancelled_at",
)
"""The steps an order may reach, each a column holding when it first did."""


class Base(DeclarativeBase):
    pass


class ReportedOrder(Base):
    __tablename__ = "reported_orders"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str | None] = mapped_column(String(3))
    payment_method: Mapped[str | None] = mapped_column(String(32))
    items_total: Mapped[int | None] = mapped_column(Integer)
    shipping_fee: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int | None] = mapped_column(Integer)
    promised_delivery: Mapped[date | None] = mapped_column(Date)
    carrier_expected_delivery: Mapped[date | None] = mapped_column(Date)
    replaces_order: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    held_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """A review rule held it (order.held); approved_at, when a reviewer or the timer let it go."""
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    backordered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reserved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    packed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivery_failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    payment_expired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lines: Mapped[list[ReportedLine]] = relationship(
        order_by="ReportedLine.line", cascade="all, delete-orphan", lazy="selectin"
    )


class ReportedLine(Base):
    __tablename__ = "reported_lines"

    order_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("reported_orders.order_id"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)


class ReportedRefund(Base):
    """Money given back, once per refund id."""

    __tablename__ = "reported_refunds"

    refund_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    refunded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReportedReturn(Base):
    """Goods the customer sends back under one RMA: what, why, and when it was authorized and
    received."""

    __tablename__ = "reported_returns"

    rma: Mapped[str] = mapped_column(String(200), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    resolution: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    lines: Mapped[list[ItemQuantity]] = mapped_column(TypedJson(list[ItemQuantity]), default=list)
    authorized_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ReportedRejection(Base):
    """A submission intake refused: which channel, and how many problems it had."""

    __tablename__ = "reported_rejections"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(Text)  # as submitted: a bad channel is refused too
    problems: Mapped[int] = mapped_column(Integer)
    rejected_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


ORDER_RULES: dict[str, Rule] = {
    **{step: EARLIEST for step in STEPS},
    "cancel_reason": Follows("cancelled_at"),
}
"""How two events' values of an order merge (``services.reporting.upserts``): a step keeps
its earliest time, a cancel's reason goes with the first cancel, the rest keeps what was first
known (events that say it say the same)."""

RETURN_RULES: dict[str, Rule] = {
    "resolution": Follows("authorized_at"),
    "reason": Follows("authorized_at"),
    "lines": Follows("authorized_at"),
    "authorized_at": EARLIEST,
    "received_at": EARLIEST,
}
"""What an RMA was authorized for is what it is; its receipt tells the resolution only when the
authorization was not heard yet."""
