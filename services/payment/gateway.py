"""A simulated card and e-wallet gateway: the fake third party payment charges.

The token decides the answer, so tests and demos choose it:

- ``tok_decline…`` is declined; the rest of the token is the reason (``tok_decline_expired``
  → ``expired``), or ``declined`` when nothing is left;
- ``tok_transient…`` raises ``TransientError`` on the first calls for an idempotency key (two by
  default), as a gateway that times out would, then is approved;
- any other ``tok_…`` is approved; anything else is declined as ``invalid_token``.

Like a real gateway it is idempotent: it keeps its books per idempotency key and answers a
repeated key with the stored outcome, charging nothing more. Its books are a table in payment's
database, written in the caller's transaction: on SQLite a second connection would wait for the
caller's own write lock. The count of timeouts per key lives in memory, since the caller's
transaction rolls back after each one.
"""

from __future__ import annotations

import threading
from typing import Protocol

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.errors import PermanentError, TransientError

from .model import Base, ChargeOutcome, ChargeRequest

APPROVED = "approved"
DECLINED = "declined"


class GatewayCharge(Base):
    """One row per idempotency key: what was asked, what was answered, how often."""

    __tablename__ = "gateway_charges"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class Ledger(Protocol):
    def find(self, idempotency_key: str) -> GatewayCharge | None: ...

    def add(self, charge: GatewayCharge) -> None: ...


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
            return self._repeat(stored, request)
        timeouts = self._time_out_if_flaky(request)
        outcome = decide(request.token)
        ledger.add(
            GatewayCharge(
                idempotency_key=request.idempotency_key,
                reference=request.reference,
                amount=request.amount.amount,
                currency=request.amount.currency,
                outcome=APPROVED if outcome.approved else DECLINED,
                reason=outcome.reason,
                attempts=timeouts + 1,
            )
        )
        return outcome

    def _repeat(self, stored: GatewayCharge, request: ChargeRequest) -> ChargeOutcome:
        if (stored.amount, stored.currency) != (request.amount.amount, request.amount.currency):
            raise PermanentError(
                f"idempotency key {request.idempotency_key} was used for "
                f"{stored.amount} {stored.currency}, not {request.amount.amount} "
                f"{request.amount.currency}"
            )
        stored.attempts += 1
        return ChargeOutcome(stored.outcome == APPROVED, stored.reason)

    def _time_out_if_flaky(self, request: ChargeRequest) -> int:
        """Raise for the first calls with a ``tok_transient`` token; the timeouts so far."""
        if not (request.token or "").startswith("tok_transient"):
            return 0
        key = request.idempotency_key
        with self._lock:
            timeouts = self._timeouts.get(key, 0)
            if timeouts < self.transient_failures:
                self._timeouts[key] = timeouts + 1
                raise TransientError(f"gateway timed out charging {key} (simulated)")
            return self._timeouts.pop(key, 0)
