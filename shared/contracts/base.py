"""The base of every message contract and the registry that maps a type name to its class.

A contract's class name matches its type: ``stock.reserved`` is ``StockReserved``. Commands come
from outside the saga (sales channels, carriers, operators) and travel on the commands exchange;
events are announcements by a worker and travel on the events exchange.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.networks import validate_email

Kind = Literal["command", "event", "timer"]

MinorUnits = Annotated[
    int,
    Field(
        ge=0,
        description="Money in integer minor units of its currency, with the currency's ISO 4217 "
        "digits: 3845 is 38.45 EUR or 38.45 RUB, 1980 is 1980 JPY (the yen has no minor unit).",
    ),
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="An ISO 4217 code, e.g. RUB.")]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9-]*$")]
OrderId = Annotated[str, Field(min_length=1, max_length=64)]


@lru_cache(maxsize=65_536)
def _checked_email(address: str) -> str:
    """The address as email-validator normalises it, or its error; a valid one is remembered.

    An order's address rides on several messages and rows, each validated in every worker that
    reads it; the check costs more than decoding the rest of the message, and its verdict on a
    string never changes."""
    return validate_email(address)[1]


Email = Annotated[
    str,
    AfterValidator(_checked_email),
    WithJsonSchema({"type": "string", "format": "email"}),
]
"""An e-mail address, checked as pydantic's ``EmailStr`` checks it."""


class Message(BaseModel):
    """A frozen message payload. Timers are messages a worker schedules for itself.

    Its validation errors never quote the input (``hide_input_in_errors``): a payload carries
    customers' addresses, and an error's text ends up in logs and in the parking lot."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    type: ClassVar[str]
    kind: ClassVar[Kind] = "event"
    schema_version: ClassVar[int] = 1

    @property
    def subject(self) -> str:
        """The envelope's subject: the order this message is about."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            _check_name(cls)
            REGISTRY[cls.type] = cls


class OrderMessage(Message):
    order_id: OrderId

    @property
    def subject(self) -> str:
        return self.order_id


REGISTRY: dict[str, type[Message]] = {}


def _check_name(cls: type[Message]) -> None:
    expected = "".join(part.title() for part in re.split(r"[._]", cls.type))
    if cls.__name__ != expected:
        raise TypeError(f"contract {cls.type!r} must be named {expected}, not {cls.__name__}")


def contract_for(type_name: str) -> type[Message] | None:
    return REGISTRY.get(type_name)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class Money(_Frozen):
    amount: MinorUnits
    currency: Currency


class OrderLine(_Frozen):
    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=10_000)]
    unit_price: MinorUnits = Field(
        description="The channel's price of one unit, in minor units of the order's currency: "
        "authoritative, never converted."
    )
