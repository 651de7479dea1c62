"""After-sales' domain: each order as it was sold and delivered, and the cases opened on it.

An order is known from ``order.placed`` (lines, prices, customer, delivery) and opens its return
window when it is delivered. Within the window the customer may open cases:

- a *return* (refund) or an *exchange*: an RMA is issued, the goods come back and are inspected;
  a return is refunded by inspection, an exchange sends the same goods again;
- a *resend* of missing items: they go out again at once.

A case's status only moves forward::

    return, exchange:  awaiting_goods ──► closed            (refunded, or expired: nothing came)
                              └──► replacing ──► closed     (exchange: exchanged / refunded_instead)
    resend:            replacing ──► closed                 (resent / refunded_instead)

A replacement that cannot be reserved or delivered is refunded instead: every case ends in
money or goods. What the order has been refunded decides whether it is *fully returned*.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.contracts import (
    AftersalesCaseClosed,
    AftersalesRequestRefused,
    CaseOutcome,
    Customer,
    Delivery,
    InspectedLine,
    ItemQuantity,
    Message,
    Money,
    OrderPlaced,
    RefundRequested,
    ReplacementRequested,
    ResendRequest,
    Resolution,
    ReturnAuthorized,
    ReturnDue,
    ReturnExpired,
    ReturnReceive,
    ReturnReceived,
    ReturnRequest,
    case_id_for,
)
from shared.database import TypedJson, UtcDateTime
from shared.errors import PermanentError
from shared.states import StateMachine
from shared.timers import Scheduled

from .policy import ReturnPolicy

Results = list[Message | Scheduled]


class Base(DeclarativeBase):
    pass


class CaseKind(StrEnum):
    RETURN = "return"
    EXCHANGE = "exchange"
    RESEND = "resend"

    @classmethod
    def asked_for(cls, resolution: Resolution) -> CaseKind:
        return cls.EXCHANGE if resolution == Resolution.EXCHANGE else cls.RETURN


class CaseStatus(StrEnum):
    AWAITING_GOODS = "awaiting_goods"
    REPLACING = "replacing"
    CLOSED = "closed"


CASE_MACHINE = StateMachine(
    CaseStatus,
    {
        CaseStatus.AWAITING_GOODS: {CaseStatus.REPLACING, CaseStatus.CLOSED},
        CaseStatus.REPLACING: {CaseStatus.CLOSED},
    },
    initial={CaseStatus.AWAITING_GOODS, CaseStatus.REPLACING},
    terminal={CaseStatus.CLOSED},
)


class ReceiptRefused(PermanentError):
    """A returned parcel that does not match its RMA: parked for an operator to look at."""


class Refusal(Exception):
    """A request the policy does not allow; ``code`` goes into the announcement."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


class Case(Base):
    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    lines: Mapped[dict[str, int]] = mapped_column(TypedJson(dict[str, int]))
    """What the request named: SKU → units."""
    received: Mapped[list[InspectedLine] | None] = mapped_column(TypedJson(list[InspectedLine]))
    """What came back of an RMA, as inspected."""
    refunded_units: Mapped[dict[str, int]] = mapped_column(TypedJson(dict[str, int]), default=dict)
    refund_amount: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(24))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    send_by: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @property
    def resolution(self) -> Resolution:
        return Resolution.EXCHANGE if self.kind == CaseKind.EXCHANGE else Resolution.REFUND

    @property
    def open(self) -> bool:
        return self.status != CaseStatus.CLOSED

    @property
    def held(self) -> Counter[str]:
        """Units the customer does not have while this case is open: on their way back, or
        exchanged and not yet replaced."""
        if not self.open or self.kind == CaseKind.RESEND:
            return Counter()
        if self.status == CaseStatus.AWAITING_GOODS:
            return Counter(self.lines)
        return self.returned_units

    @property
    def returned_units(self) -> Counter[str]:
        return Counter({line.sku: line.resellable + line.damaged for line in self.received or []})

    def inspected(self) -> list[InspectedLine]:
        return self.received or []

    def close(self, outcome: CaseOutcome, now: datetime) -> None:
        self.move(CaseStatus.CLOSED)
        self.outcome, self.closed_at = outcome, now

    def move(self, status: CaseStatus) -> None:
        CASE_MACHINE.check(f"case {self.case_id}", self.status, status)
        self.status = status


class Order(Base):
    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer: Mapped[Customer | None] = mapped_column(TypedJson(Customer))
    delivery: Mapped[Delivery | None] = mapped_column(TypedJson(Delivery))
    currency: Mapped[str | None] = mapped_column(String(3))
    lines: Mapped[dict[str, dict[str, int]]] = mapped_column(
        TypedJson(dict[str, dict[str, int]]), default=dict
    )
    """SKU → ``{"quantity", "unit_price"}`` (a SKU on two lines is refunded at its lower price)."""
    shipping_fee: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    returnable_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    shipping_refunded: Mapped[bool] = mapped_column(default=False)
    refused_requests: Mapped[list[str]] = mapped_column(TypedJson(list[str]), default=list)
    """Request ids answered with a refusal: asked again, they are not answered again."""
    cases: Mapped[list[Case]] = relationship(order_by=Case.number, cascade="all, delete-orphan")

    # -- what was sold, and when it arrived ---------------------------------------------------

    @classmethod
    def opened(cls, order_id: str) -> Order:
        return cls(
            order_id=order_id,
            lines={},
            shipping_refunded=False,
            refused_requests=[],
        )

    def learn(self, order: OrderPlaced) -> bool:
        """Keep what the order sold; False if it is known already."""
        if self.customer is not None:
            return False
        self.customer, self.delivery = order.customer, order.delivery
        self.currency, self.shipping_fee, self.total = (
            order.currency,
            order.shipping_fee,
            order.total,
        )
        lines: dict[str, dict[str, int]] = {}
        for line in order.lines:
            kept = lines.setdefault(line.sku, {"quantity": 0, "unit_price": line.unit_price})
            kept["quantity"] += line.quantity
            kept["unit_price"] = min(kept["unit_price"], line.unit_price)
        self.lines = lines
        return True

    def deliver(self, at: datetime, policy: ReturnPolicy) -> bool:
        """Open the return window; False if it is open already."""
        if self.delivered_at is not None:
            return False
        self.delivered_at, self.returnable_until = at, at + policy.return_window
        return True

    def change_address(self, delivery: Delivery) -> None:
        self.delivery = delivery

    # -- requests ------------------------------------------------------------------------------

    def request_return(
        self, request: ReturnRequest, now: datetime, policy: ReturnPolicy
    ) -> Results:
        """An RMA for goods the customer still has, within the window; or a refusal."""
        kind = CaseKind.asked_for(request.resolution)
        try:
            self._check_open_for(kind, request.lines, now)
            self._check_quantities(request.lines, self._returnable(), "returned")
        except Refusal as refusal:
            return [self._refused(request.request_id, kind, refusal)]
        case = self._open_case(kind, request.request_id, request.reason, request.lines, now)
        case.send_by = now + policy.send_back
        authorized = ReturnAuthorized(
            order_id=self.order_id,
            rma=case.case_id,
            request_id=request.request_id,
            resolution=request.resolution,
            lines=_quantities(case.lines),
            reason=request.reason,
            send_by=case.send_by,
        )
        due = Scheduled(ReturnDue(order_id=self.order_id, rma=case.case_id), case.send_by)
        return [authorized, due]

    def request_resend(self, request: ResendRequest, now: datetime) -> Results:
        """Missing items go out again at once, free of charge; or a refusal."""
        try:
            self._check_open_for(CaseKind.RESEND, request.lines, now)
            self._check_quantities(request.lines, self._resendable(), "resent")
        except Refusal as refusal:
            return [self._refused(request.request_id, CaseKind.RESEND, refusal)]
        case = self._open_case(
            CaseKind.RESEND, request.request_id, request.reason, request.lines, now
        )
        return [self._replacement(case, Counter(case.lines))]

    def handled(self, request_id: str) -> bool:
        """Whether the request was answered already (a case opened, or a refusal)."""
        if request_id in self.refused_requests:
            return True
        return any(case.request_id == request_id for case in self.cases)

    # -- the goods of an RMA -------------------------------------------------------------------

    def receive(self, receipt: ReturnReceive, now: datetime, policy: ReturnPolicy) -> Results:
        """Inspected goods of an RMA: refunded by inspection, or replaced like for like."""
        case = self._awaiting_goods(receipt)
        if case is None:
            return []
        case.received = _merged(receipt.lines)
        received = case.returned_units
        if case.kind == CaseKind.EXCHANGE:
            case.move(CaseStatus.REPLACING)
            announced = ReturnReceived(
                order_id=self.order_id,
                rma=case.case_id,
                resolution=Resolution.EXCHANGE,
                lines=case.inspected(),
            )
            return [announced, self._replacement(case, received)]
        amount = sum(
            policy.refund_for(self._price(line.sku), line.resellable, line.damaged)
            for line in case.inspected()
        )
        refund = self._refund(case, received, amount)
        announced = ReturnReceived(
            order_id=self.order_id,
            rma=case.case_id,
            resolution=Resolution.REFUND,
            lines=case.inspected(),
            refund=self._money(case.refund_amount),
        )
        return [announced, *refund, self._close(case, CaseOutcome.REFUNDED, now)]

    def expire(self, rma: str, now: datetime) -> Results:
        case = self._case(rma)
        if case is None or case.status != CaseStatus.AWAITING_GOODS:
            return []
        return [
            ReturnExpired(order_id=self.order_id, rma=rma),
            self._close(case, CaseOutcome.EXPIRED, now),
        ]

    # -- replacements --------------------------------------------------------------------------

    def replacement_delivered(self, case_id: str, now: datetime) -> Results:
        case = self._case(case_id)
        if case is None or case.status != CaseStatus.REPLACING:
            return []
        outcome = CaseOutcome.EXCHANGED if case.kind == CaseKind.EXCHANGE else CaseOutcome.RESENT
        return [self._close(case, outcome, now)]

    def replacement_failed(self, case_id: str, reason: str, now: datetime) -> Results:
        """The replacement cannot go out or did not arrive: its value is refunded instead."""
        case = self._case(case_id)
        if case is None or case.status != CaseStatus.REPLACING:
            return []
        units = Counter(case.lines) if case.kind == CaseKind.RESEND else case.returned_units
        amount = sum(self._price(sku) * quantity for sku, quantity in units.items())
        refund = self._refund(case, units, amount, reason)
        return [*refund, self._close(case, CaseOutcome.REFUNDED_INSTEAD, now)]

    # -- rules -----------------------------------------------------------------------------------

    def _check_open_for(self, kind: CaseKind, lines: Iterable[ItemQuantity], now: datetime) -> None:
        if self.customer is None:
            raise _unknown(self.order_id)
        if self.delivered_at is None or self.returnable_until is None:
            raise Refusal("not_delivered", f"order {self.order_id} has not been delivered yet")
        if now > self.returnable_until:
            closed = self.returnable_until.date().isoformat()
            raise Refusal(
                "window_closed",
                f"the {kind.value} window of order {self.order_id} closed on {closed}",
            )
        unknown = sorted({line.sku for line in lines} - self.lines.keys())
        if unknown:
            raise Refusal("unknown_sku", f"not part of order {self.order_id}: {', '.join(unknown)}")

    @staticmethod
    def _check_quantities(
        lines: Iterable[ItemQuantity], left: Mapping[str, int], verb: str
    ) -> None:
        asked = _counted(lines)
        for sku, quantity in sorted(asked.items()):
            if quantity > left.get(sku, 0):
                raise Refusal(
                    "too_many", f"{sku}: {quantity} asked, {left.get(sku, 0)} may still be {verb}"
                )

    def _returnable(self) -> Counter[str]:
        """What the customer has and may still send back."""
        left = Counter({sku: line["quantity"] for sku, line in self.lines.items()})
        for case in self.cases:
            left.subtract(case.held)
            left.subtract(case.refunded_units)
        return left

    def _resendable(self) -> Counter[str]:
        left = Counter({sku: line["quantity"] for sku, line in self.lines.items()})
        for case in self.cases:
            left.subtract(case.refunded_units)
            if case.kind == CaseKind.RESEND:
                left.subtract(case.lines)
        return left

    def _awaiting_goods(self, receipt: ReturnReceive) -> Case | None:
        """The RMA's case if these goods are what it is waiting for; None for a receipt seen
        already; ``ReceiptRefused`` for anything else."""
        case = self._case(receipt.rma)
        if case is None or case.kind == CaseKind.RESEND:
            raise ReceiptRefused(f"order {self.order_id} has no RMA {receipt.rma!r}")
        if case.received is not None:
            if case.received == _merged(receipt.lines):
                return None
            raise ReceiptRefused(f"RMA {receipt.rma}: its goods were received already, differently")
        if case.status != CaseStatus.AWAITING_GOODS:
            raise ReceiptRefused(f"RMA {receipt.rma} is {case.outcome}: goods arrived too late")
        returned = Counter({line.sku: line.quantity for line in _merged(receipt.lines)})
        if sum(returned.values()) == 0:
            raise ReceiptRefused(f"RMA {receipt.rma}: the receipt holds no goods")
        for sku, quantity in sorted(returned.items()):
            if quantity > case.lines.get(sku, 0):
                raise ReceiptRefused(
                    f"RMA {receipt.rma}: {quantity} x {sku} received, "
                    f"{case.lines.get(sku, 0)} authorized"
                )
        return case

    # -- money -----------------------------------------------------------------------------------

    def _refund(
        self, case: Case, units: Counter[str], amount: int, reason: str = "returned"
    ) -> list[Message]:
        """Refund ``amount`` for ``units``, with the shipping fee once every unit is refunded."""
        case.refunded_units = dict(+units)
        if not self.shipping_refunded and self._all_units_refunded():
            amount += self.shipping_fee
            self.shipping_refunded = True
        case.refund_amount = amount
        if amount <= 0:
            return []
        return [
            RefundRequested(
                order_id=self.order_id,
                case_id=case.case_id,
                amount=self._money(amount),
                reason=reason,
            )
        ]

    def _all_units_refunded(self) -> bool:
        refunded: Counter[str] = Counter()
        for case in self.cases:
            refunded.update(case.refunded_units)
        return all(refunded[sku] >= line["quantity"] for sku, line in self.lines.items())

    @property
    def fully_returned(self) -> bool:
        refunded = sum(case.refund_amount for case in self.cases)
        return self.total > 0 and refunded >= self.total

    def _price(self, sku: str) -> int:
        return self.lines[sku]["unit_price"]

    def _money(self, amount: int) -> Money:
        if self.currency is None:
            raise RuntimeError(f"order {self.order_id} has no currency")
        return Money(amount=amount, currency=self.currency)

    # -- cases -----------------------------------------------------------------------------------

    def _open_case(
        self,
        kind: CaseKind,
        request_id: str,
        reason: str,
        lines: Iterable[ItemQuantity],
        now: datetime,
    ) -> Case:
        """A resend goes out at once; a return or an exchange waits for the goods first."""
        number = len(self.cases) + 1
        case_id = case_id_for(self.order_id, number)
        status = CaseStatus.REPLACING if kind == CaseKind.RESEND else CaseStatus.AWAITING_GOODS
        CASE_MACHINE.check_start(f"case {case_id}", status)
        case = Case(
            case_id=case_id,
            number=number,
            request_id=request_id,
            kind=kind,
            status=status,
            reason=reason,
            lines=dict(_counted(lines)),
            refunded_units={},
            refund_amount=0,
            opened_at=now,
        )
        self.cases.append(case)
        return case

    def _case(self, case_id: str) -> Case | None:
        return next((case for case in self.cases if case.case_id == case_id), None)

    def _close(self, case: Case, outcome: CaseOutcome, now: datetime) -> AftersalesCaseClosed:
        case.close(outcome, now)
        return AftersalesCaseClosed(
            order_id=self.order_id,
            case_id=case.case_id,
            outcome=outcome,
            refunded=self._money(case.refund_amount) if case.refund_amount else None,
            fully_returned=self.fully_returned,
        )

    def _replacement(self, case: Case, units: Counter[str]) -> ReplacementRequested:
        if self.customer is None or self.delivery is None:
            raise RuntimeError(f"order {self.order_id} has no customer to send to")
        return ReplacementRequested(
            order_id=case.case_id,
            replaces_order=self.order_id,
            request="exchange" if case.kind == CaseKind.EXCHANGE else "resend",
            lines=_quantities(+units),
            customer=self.customer,
            delivery=self.delivery,
            reason=case.reason,
        )

    def _refused(
        self, request_id: str, kind: CaseKind, refusal: Refusal
    ) -> AftersalesRequestRefused:
        self.refused_requests = [*self.refused_requests, request_id]
        return _refused(self.order_id, request_id, kind, refusal)


def unknown_order(order_id: str, request_id: str, kind: CaseKind) -> AftersalesRequestRefused:
    """The answer to a request for an order after-sales never heard of."""
    return _refused(order_id, request_id, kind, _unknown(order_id))


def _unknown(order_id: str) -> Refusal:
    return Refusal("unknown_order", f"order {order_id} is not known to after-sales")


def _refused(
    order_id: str, request_id: str, kind: CaseKind, refusal: Refusal
) -> AftersalesRequestRefused:
    return AftersalesRequestRefused.model_validate(
        {
            "order_id": order_id,
            "request_id": request_id,
            "request": kind.value,
            "reason": refusal.code,
            "detail": refusal.detail,
        }
    )


def _counted(lines: Iterable[ItemQuantity]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for line in lines:
        counted[line.sku] += line.quantity
    return counted


def _quantities(units: Mapping[str, int]) -> list[ItemQuantity]:
    return [
        ItemQuantity(sku=sku, quantity=quantity)
        for sku, quantity in sorted(units.items())
        if quantity > 0
    ]


def _merged(lines: Iterable[InspectedLine]) -> list[InspectedLine]:
    """One line per SKU, in SKU order, zero lines dropped: two receipts of the same goods
    compare equal however they were typed in."""
    resellable: Counter[str] = Counter()
    damaged: Counter[str] = Counter()
    for line in lines:
        resellable[line.sku] += line.resellable
        damaged[line.sku] += line.damaged
    skus = sorted(set(resellable) | set(damaged))
    return [
        InspectedLine(sku=sku, resellable=resellable[sku], damaged=damaged[sku])
        for sku in skus
        if resellable[sku] + damaged[sku] > 0
    ]
