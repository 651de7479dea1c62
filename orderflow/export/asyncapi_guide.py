"""What a sales channel must know beyond the message schemas, for the published contract: how to
send an order, how to hear its answer and its fate, and the vocabularies it will meet.

Every value is read from the code (the envelope, the topology, intake's settings defaults, the
enums), so the text follows the code; the meanings of the status values are kept here, and a test
fails when a value has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from services.intake.settings import IntakeSettings
from services.intake.status import TERMINAL, WAITING, OrderStatus
from services.notifier.model import NotificationStatus
from services.payment.settings import PaymentSettings
from services.shipping.carrier import REFUSING
from shared import binary_mode
from shared.contracts import CANCEL_REASONS, CancelReason, Channel, TrackingStatus
from shared.envelope import CONTENT_TYPE
from shared.settings import RetryPolicy, Settings
from shared.topology import ANSWERS, CHANNEL_EVENTS, Topology, channel_binding_key

from .doubles import REFUSED

NAMESPACE = str(Settings.model_fields["namespace"].default)
UNKNOWN_CHANNEL = "unknown"

ORDER_STATUSES = {
    OrderStatus.RECEIVED: "intake has the submission and is judging it (never seen on the wire)",
    OrderStatus.PLACED: "valid and accepted: stock, payment, the warehouse and shipping take over",
    OrderStatus.HELD: "placed, but held for review (order.held): nothing is charged until "
    "order.approved; a reject cancels it (review_rejected)",
    OrderStatus.BACKORDERED: "waiting for goods on order from a supplier (or until the "
    "backorder expires)",
    OrderStatus.AWAITING_PAYMENT: "waiting for a bank transfer or escrow payment (or its deadline)",
    OrderStatus.DELIVERED: "delivered; the complaint window runs",
    OrderStatus.IN_AFTERSALES: "delivered, with a return, exchange or resend open",
    OrderStatus.COMPLETED: "delivered and closed (order.completed)",
    OrderStatus.RETURNED: "delivered, then returned and refunded in full (no event to the "
    "channel: the customer hears of each refund)",
    OrderStatus.CANCELLED: "cancelled, with a reason (order.cancelled)",
    OrderStatus.REJECTED: "not accepted, every problem named (order.rejected); a correction "
    "under the same external id is judged again",
}
TRACKING_STATUSES = {
    TrackingStatus.IN_TRANSIT: "the carrier has the parcels on their way",
    TrackingStatus.DELIVERED: "the customer has the parcels",
    TrackingStatus.DELIVERY_FAILED: "one delivery attempt failed; the carrier tries again",
    TrackingStatus.RETURNED: "the carrier gave up and brought the parcels back",
}
NOTIFICATION_STATUSES = {
    NotificationStatus.WAITING: "nobody to send it to yet: waits for the order's customer",
    NotificationStatus.PENDING: "rendered, to be sent",
    NotificationStatus.SENDING: "claimed by a notifier: being sent, or sent (it never goes twice) "
    "and about to be announced",
    NotificationStatus.SENT: "handed to the mail server (notification.sent)",
    NotificationStatus.FAILED: "the mail server refused the recipient for good",
    NotificationStatus.UNDELIVERABLE: "no valid address to send it to",
    NotificationStatus.SUPERSEDED: "set aside: the order moved on first (a rejection arriving "
    "after a correction placed the order)",
}


def default_of(field: str) -> Any:
    return IntakeSettings.model_fields[field].get_default(call_default_factory=True)


def limit(field: str) -> str:
    """An order limit of intake's settings as the text of the guide: minor units of the
    order's currency, or, where the setting is per currency, each currency's amount."""
    value = default_of(field)
    if isinstance(value, Mapping):
        return "per currency " + ", ".join(f"{amount} {code}" for code, amount in value.items())
    return f"{value} minor units"


def accepted_currencies() -> list[str]:
    return sorted(str(code) for code in default_of("accepted_currencies"))


def vocabulary(meanings: dict[Any, str], description: str, **extra: Any) -> dict[str, Any]:
    """A JSON Schema of a string vocabulary, each value with its meaning."""
    return {
        "type": "string",
        "description": description,
        "oneOf": [
            {"const": str(value), "description": text[0].upper() + text[1:] + "."}
            for value, text in meanings.items()
        ],
        **extra,
    }


def vocabularies() -> dict[str, dict[str, Any]]:
    return {
        "OrderStatus": vocabulary(
            ORDER_STATUSES,
            "An order's status at intake, as `orderflow order show` reports it. Each order "
            "ends in exactly one terminal status, or waits in a waiting status with a timer "
            "behind it.",
            **{
                "x-terminal": sorted(TERMINAL),
                "x-waiting": sorted(WAITING),
            },
        ),
        "CancelReason": vocabulary(CANCEL_REASONS, "The reason of an order.cancelled event."),
        "TrackingStatus": vocabulary(
            TRACKING_STATUSES, "The status of a carrier.tracking_update (a carrier's scan)."
        ),
        "NotificationStatus": vocabulary(
            NOTIFICATION_STATUSES,
            "The status of one message to the customer at the notifier, as `orderflow order "
            "show` reports it.",
        ),
        "ProblemField": {
            "type": "string",
            "description": "The field of an order.rejected problem: the path of the submitted "
            "field at fault (`currency`, `lines[2].sku`, `delivery.address.country`), "
            "`(message)` for the message as a whole, or `(content_type)` for the AMQP content "
            "type.",
            "examples": ["currency", "lines[0].sku", "payment.token", "(content_type)"],
        },
    }


def table(meanings: dict[Any, str], marks: dict[str, frozenset[Any]] | None = None) -> list[str]:
    marks = marks or {}
    rows = ["| value | meaning |", "|---|---|"]
    for value, text in meanings.items():
        flags = [name for name, members in marks.items() if value in members]
        suffix = f" ({', '.join(flags)})" if flags else ""
        rows.append(f"| `{value}`{suffix} | {text} |")
    return rows


def _codes(values: Any) -> str:
    return ", ".join(f"`{value}`" for value in values)


def guide() -> str:
    """The AsyncAPI document's ``info.description``: a channel's guide, in Markdown."""
    topology = Topology(NAMESPACE, quorum=True, delivery_limit=20)
    channels = [str(channel) for channel in Channel]
    answers = " or ".join(f"`{c.type}`" for c in ANSWERS)
    later = [c.type for c in CHANNEL_EVENTS if c not in ANSWERS]
    cod_limit, max_total = limit("cash_on_delivery_max_total"), limit("max_order_total")
    attempts = RetryPolicy.model_fields["handler_attempts"].default
    return "\n".join(
        [
            "Messages between orderflow and the sales channels, carriers, banks and operators "
            "around it, on RabbitMQ (AMQP 0-9-1). Every operation is orderflow's: it "
            "`receive`s the commands and reports the others send in, and `send`s the events "
            "its workers announce. Every message is a CloudEvents envelope "
            "(`components.schemas.envelope`) whose `data` is the message: sent by orderflow in "
            "structured mode (the envelope is the JSON body), received in either mode (see "
            "below). Each message lists the AMQP properties (`x-amqp-properties`) and headers "
            "(`headers`) it travels with.",
            "",
            "## Sending an order",
            "",
            f"Publish `order.submit` to the exchange `{topology.commands.name}` (topic, "
            f"durable) with routing key `order.submit`. The exchange and queue names start with "
            f"the deployment's namespace, `{NAMESPACE}` unless its operators chose another.",
            "",
            "AMQP properties:",
            "",
            f"- `content_type`: `{CONTENT_TYPE}` (a parameter such as `; charset=utf-8` may "
            "follow). A message with another content type and no CloudEvents attribute headers "
            "(binary mode, below) is refused: a submit is answered by `order.rejected` naming "
            "the problem field `(content_type)`.",
            "- `content_encoding`: `utf-8`.",
            "- `message_id`: the envelope's `id`. It is the deduplication key: intake drops a "
            "second message with an id it has handled, so a retry of the same submit must "
            "reuse it (and a correction of a rejected order needs a new one).",
            "- `delivery_mode`: 2 (persistent), published on a channel in confirm mode "
            "(publisher confirms), with `mandatory` set: the broker's ack means the order is "
            "durably in intake's queue; a nack, a return or no confirm means publish it again "
            "with the same id.",
            "- `correlation_id`: the envelope's `correlationid` (optional; informational).",
            "",
            "The envelope of a submit (structured mode, the envelope as the JSON body):",
            "",
            "| field | what to put |",
            "|---|---|",
            "| `specversion` | `1.0` |",
            "| `id` | a new unique id (≤ 64 characters, e.g. a UUID), also the AMQP `message_id` |",
            "| `type` | `order.submit` |",
            f"| `source` | `channel.<channel>`, e.g. `channel.{channels[0]}` |",
            "| `subject` | `<channel>:<external_id>`, e.g. `web:WEB-10042` |",
            "| `time` | when you sent it, RFC 3339 with an offset |",
            "| `correlationid` | the subject; the events your submit sets off carry it on |",
            "| `causationid` | null |",
            "| `schemaversion` | 1 |",
            "| `datacontenttype` | `application/json` |",
            "| `data` | the order, per the `order.submit` schema |",
            "",
            "**CloudEvents binary mode** is accepted as well, as the CloudEvents SDKs send it "
            "(the message `order.submit.binary`): the body is only the `data`, with the AMQP "
            f"`content_type` `{binary_mode.DATA_CONTENT_TYPE}`, and every other field of the "
            "table above is an AMQP header named after it, with the prefix "
            f"{' or '.join(f'`{prefix}`' for prefix in binary_mode.PREFIXES)} (the AMQP "
            "binding's and the SDK's RabbitMQ binding's spellings), e.g. "
            f"`{binary_mode.PREFIXES[1]}subject`. `correlationid`, `causationid` and "
            "`schemaversion` are extension attributes. A message missing one of "
            f"{_codes(binary_mode.REQUIRED)} is parked, the reason naming the attribute.",
            "",
            f"`data.channel` is one of {_codes(channels)}; `data.external_id` is your own order "
            "number, unique within your channel: a second submit with the same channel and "
            "external id does not make a second order (see below). A body over "
            f"{Settings.model_fields['max_message_bytes'].default} bytes, a body that is not "
            "an envelope, or a message of a type nobody handles cannot be answered: it goes to "
            f"the receiving worker's parking lot (`{NAMESPACE}.<worker>.parking`) with the "
            "reason, where operators inspect and replay it, keeping its message id and "
            "properties. An envelope whose `data` breaks the schema is answered like any other "
            "submit: `order.rejected`, each problem naming its field.",
            "",
            "## What intake accepts",
            "",
            f"- **Currencies**: {_codes(accepted_currencies())} (intake's default "
            "`ORDERFLOW_INTAKE_ACCEPTED_CURRENCIES`; a deployment may accept others). "
            "Another currency is rejected on `currency`.",
            "- **Money** is integer minor units of the order's currency, per ISO 4217 (cents "
            "for EUR, none for JPY). Your prices are authoritative: orderflow keeps each line's "
            "`unit_price` and your `shipping_fee` as sent, in the order's currency, and never "
            "converts or reprices them. The total is the sum of `quantity` times `unit_price`, "
            f"plus `shipping_fee`; it may be at most {max_total} (on `total`), and at most "
            f"{cod_limit} for cash on delivery.",
            "- **SKUs** must have been listed by stock (announced as `stock.item_listed` when "
            "the warehouse sets a SKU's stock): a line whose SKU intake never saw listed is "
            "rejected on `lines[i].sku`, and so is a SKU repeated on a second line.",
            "- **Delivery countries**: "
            f"{_codes(default_of('served_countries'))} (on `delivery.address.country`); a "
            "pickup point delivery needs `delivery.pickup_point_id`.",
            "- **Payment**: card and e-wallet need the gateway's `payment.token` (never a card "
            "number); escrow only for "
            f"{_codes(default_of('escrow_channels'))}; cash on delivery not to a pickup point.",
            "",
            "Every problem is reported at once, so the customer can fix them all in one go.",
            "",
            "## Hearing the answer and the order's fate",
            "",
            f"Before the first submit, declare a durable queue `{NAMESPACE}.channel.<channel>` "
            "(a quorum queue) and bind it to the events exchange "
            f"`{topology.events.name}` with the binding key `{channel_binding_key('<channel>')}`. "
            f"Intake publishes {_codes(c.type for c in CHANNEL_EVENTS)} with a `BCC` header "
            "(RabbitMQ's sender-selected distribution) that adds the routing key "
            "`channel.<channel>.<type>` of the order's channel, so that queue receives these "
            "events for your channel's orders and no other channel's; the broker removes the "
            "header before delivery. A broker user per channel with topic permissions on the "
            "events exchange (read `^channel\\.<channel>\\.`) enforces it. Answers are "
            "published once: an answer that reaches no queue is lost to you, so bind first.",
            "",
            f"- **The answer** to a submit is {answers}, caused by it: its `causationid` is your "
            "submit's message id, its `correlationid` your submit's, and its `data.channel` "
            "and `data.external_id` are yours. `order.placed` carries the order id "
            "(`data.order_id`, also the `subject` of every later event about the order). "
            "`order.rejected` lists every problem (`field`, `message`); correct the order and "
            "submit it again with the same external id and a new message id: it is judged "
            "again under the same order id.",
            "- **A repeated submit** of a placed order (same channel and external id) is "
            "ignored and answered by nothing; your first answer stands.",
            f"- **The fate**: a placed order ends once, told on the same queue by one of "
            f"{_codes(later)} (a cancel with a `reason`, below); or it ends `returned` "
            "(refunded in full after delivery), which no event on this queue tells. Waiting "
            "states are not announced to channels.",
            "- **A submit without a valid `data.channel` or `data.external_id`** is rejected "
            "with your message id standing in for the external id; when the channel is none of "
            f"the channels, under channel `{UNKNOWN_CHANNEL}` (routing key "
            f"`channel.{UNKNOWN_CHANNEL}.order.rejected`). Match it by `causationid`.",
            "- **Progress** (`shipment.dispatched`, `shipment.delivered`, `payment.refunded`, "
            "…) travels on the events exchange under its type only; a partner may bind those "
            "types and filter by `subject` (the order id), seeing every channel's orders.",
            "",
            "Deliveries are at least once: drop an event whose envelope `id` you have handled.",
            "",
            "## Vocabularies",
            "",
            "Order statuses (at intake):",
            "",
            *table(ORDER_STATUSES, {"terminal": TERMINAL, "waiting": WAITING}),
            "",
            "Cancel reasons (`order.cancelled`'s `reason`; `detail` says more):",
            "",
            *table(CANCEL_REASONS),
            "",
            "Problem fields (`order.rejected`'s `problems[].field`): the path of the submitted "
            "field at fault, such as `currency`, `lines[2].sku`, `lines[0].quantity`, "
            "`delivery.address.country`, `payment.token`; `total` for the order total; "
            "`(message)` for the message as a whole; `(content_type)` for the AMQP content type.",
            "",
            "Tracking statuses (`carrier.tracking_update`'s `status`):",
            "",
            *table(TRACKING_STATUSES),
            "",
            "Notification statuses (one message to the customer, in `orderflow order show`):",
            "",
            *table(NOTIFICATION_STATUSES),
            "",
            "## Testing against the simulations",
            "",
            "With the simulated gateway, `payment.token` decides the charge: `tok_decline` or "
            "`tok_decline_<reason>` is declined with that reason, `tok_transient…` times out "
            f"{PaymentSettings.model_fields['gateway_transient_failures'].default} times first "
            f"(payment retries it, {attempts} tries in process), any other `tok_…` is approved, "
            "and anything else is declined as `invalid_token`. The simulated carrier never "
            f"delivers to an address whose `line1` contains `{REFUSING}` (e.g. `{REFUSED}`): "
            "after its attempts the parcels come back and the order is cancelled as "
            "`delivery_failed`. The whole table is in the repository's `docs/test-doubles.md`.",
        ]
    )


def missing_meanings() -> dict[str, list[str]]:
    """Enum values the guide has no meaning for (a test keeps this empty)."""
    kept: list[tuple[str, type[StrEnum], dict[Any, str]]] = [
        ("OrderStatus", OrderStatus, ORDER_STATUSES),
        ("CancelReason", CancelReason, dict(CANCEL_REASONS)),
        ("TrackingStatus", TrackingStatus, TRACKING_STATUSES),
        ("NotificationStatus", NotificationStatus, NOTIFICATION_STATUSES),
    ]
    return {
        name: missing
        for name, enum, meanings in kept
        if (missing := [str(value) for value in enum if value not in meanings])
    }
