"""A simulated payment gateway: the fake third party payment charges and refunds through.

The token decides a charge's answer, so tests and demos choose it:

- ``tok_decline…`` is declined; the rest of the token is the reason (``tok_decline_expired``
  → ``expired``), or ``declined`` when nothing is left;
- ``tok_transient…`` raises ``TransientError`` on the first calls for an idempotency key (two by
  default), as a gateway that times out would, then is approved;
- any other ``tok_…`` is approved; anything else is declined as ``invalid_token``.

A refund is always approved: to the card or e-wallet's token (timing out first for a
``tok_transient`` token, like a charge), or by bank for money that came by transfer, escrow or
cash (route ``bank``).

Like a real gateway it is idempotent: it keeps its books per idempotency key (a charge's payment
id, a refund's refund id) and answers a repeated key with the stored outcome, moving no more
money. Its books are a table in payment's database, written in the caller's transaction: on SQLite
a second connection would wait for the caller's own write lock. The count of timeouts per key
lives in memory, since the caller's transaction rolls back after each one.
"""

from __future__ import annotations

import threading
from typing import Protocol

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.contracts import Money
from shared.errors import PermanentError, TransientError

from .model import Base
from .money import ChargeOutcome, ChargeRequest, RefundRequest

APPROVED = "approved"
DECLINED = "declined"
CHARGE = "charge"
REFUND = "refund"


class GatewayEntry(Base):
    """One row per idempotency key: a charge or a refund, what was asked and answered, how often."""

    __tablename__ = "gateway_ledger"

    idempotency_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), default=CHARGE)
    route: Mapped[str] = mapped_column(String(16), default="card")
    reference: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class Ledger(Protocol):
    def find(self, idempotency_key: str) -> GatewayEntry | None: ...

    def add(self, entry: GatewayEntry) -> None: ...


def decide(token: str | None) -> ChargeOutcome:
    """The gateway's answer to a token that got through."""
    token = token or ""
    if token.startswith("tok_decline"):
        return ChargeOutcome(False, token.removeprefix("tok_decline").lstrip("_-:") or DECLINED)
    if token.startswith("tok_"):
        return ChargeOutcome(True)
    return ChargeOutcome(False, "invalid_token")


class SimulatedGateway:
    def __init__(self, transient_failures: int = 2) -> None:
        self.transient_failures = transient_failures
        self._timeouts: dict[str, int] = {}
        self._lock = threading.Lock()

    def charge(self, request: ChargeRequest, ledger: Ledger) -> ChargeOutcome:
        """Authorise and capture ``request.amount``, at most once per idempotency key."""
        stored = ledger.find(request.idempotency_key)
        if stored is not None:
            _check_repeat(stored, CHARGE, request.idempotency_key, request.amount)
            stored.attempts += 1
            return ChargeOutcome(stored.outcome == APPROVED, stored.reason)
        timeouts = self._time_out_if_flaky(request.idempotency_key, request.token, "charging")
        outcome = decide(request.token)
        verdict = APPROVED if outcome.approved else DECLINED
        ledger.add(_entry(request, CHARGE, verdict, outcome.reason, attempts=timeouts + 1))
        return outcome

    def refund(self, request: RefundRequest, ledger: Ledger) -> None:
        """Give ``request.amount`` back, at most once per refund id."""
        stored = ledger.find(request.idempotency_key)
        if stored is not None:
            _check_repeat(stored, REFUND, request.idempotency_key, request.amount)
            stored.attempts += 1
            return
        timeouts = self._time_out_if_flaky(request.idempotency_key, request.token, "refunding")
        ledger.add(_entry(request, REFUND, APPROVED, str(request.reason), attempts=timeouts + 1))

    def _time_out_if_flaky(self, key: str, token: str | None, doing: str) -> int:
        """Raise for the first calls with a ``tok_transient`` token; the timeouts so far."""
        if not (token or "").startswith("tok_transient"):
            return 0
        with self._lock:
            timeouts = self._timeouts.get(key, 0)
            if timeouts < self.transient_failures:
                self._timeouts[key] = timeouts + 1
                raise TransientError(f"gateway timed out {doing} {key} (simulated)")
            return self._timeouts.pop(key, 0)


def _entry(
    request: ChargeRequest | RefundRequest, kind: str, outcome: str, reason: str, attempts: int
) -> GatewayEntry:
    return GatewayEntry(
        idempotency_key=request.idempotency_key,
        kind=kind,
        route=request.route,
        reference=request.reference,
        amount=request.amount.amount,
        currency=request.amount.currency,
        outcome=outcome,
        reason=reason,
        attempts=attempts,
    )


def _check_repeat(stored: GatewayEntry, kind: str, key: str, amount: Money) -> None:
    if (stored.kind, stored.amount, stored.currency) != (kind, amount.amount, amount.currency):
        raise PermanentError(
            f"idempotency key {key} was used for a {stored.kind} of {stored.amount} "
            f"{stored.currency}, not a {kind} of {amount.amount} {amount.currency}"
        )
