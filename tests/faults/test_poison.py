"""Poison: malformed JSON, a body that breaks its contract, one over the size limit, an unknown
type and a command that names what does not exist arrive among the orders. Each is parked with
its reason while the orders keep flowing; replay re-checks them: the broken ones stay parked,
the one that can now be handled is handled once, and replaying again changes nothing.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from orderflow.cluster.channel import ChannelPublisher
from orderflow.operator.audit import audit
from orderflow.operator.operations import set_stock
from orderflow.operator.parking import Filters, ParkedMessage, audited, list_parked
from services.stock.model import Item
from shared.contracts import StockReceive
from shared.envelope import wrap
from shared.messaging import Outgoing
from shared.settings import Settings
from shared.topology import Topology
from tests.faults.harness import Run, running
from tests.support import wait_until

ORDERS = 150
NEW_SKU = "KETTLE-COPPER"


def test_poison_is_parked_with_reasons_while_orders_flow_and_replay_is_idempotent(
    settings: Settings, tmp_path: Path
) -> None:
    with running(settings, tmp_path) as run:
        run.submit(ORDERS // 2)
        send_poison(run)
        run.submit(ORDERS - run.submitted)
        run.wait_all_terminal(120)
        run.wait_quiet()

        parked = sorted((m.worker, m.kind) for m in wait_for_parked(settings, 5))
        assert parked == [
            ("intake", "malformed"),  # not JSON
            ("intake", "malformed"),  # over the size limit
            ("intake", "unknown_type"),
            ("stock", "handler_error"),  # a SKU stock does not know, yet
            ("stock", "invalid"),
        ], parked
        reasons = [m.reason for m in list_parked(settings, Filters())]
        assert all(reasons), reasons

        set_stock(settings, NEW_SKU, 0, "F-09-01", 1500)
        first = replay_everything(settings)
        wait_until(lambda: on_hand(run, NEW_SKU) == 7, 30, what="the fixed receipt handled")
        second = replay_everything(settings)

        assert sorted(first) == [False, False, False, False, True]  # only the receipt went
        assert second == [False, False, False, False]  # the four broken ones, still broken
        assert on_hand(run, NEW_SKU) == 7
        still = sorted((m.worker, m.kind) for m in list_parked(settings, Filters()))
        assert still == [p for p in parked if p != ("stock", "handler_error")]
        run.cluster.stop()
        assert audit(run.dbs).violations == []


def send_poison(run: Run) -> None:
    topology = Topology(
        run.settings.namespace, run.settings.use_quorum_queues, run.settings.delivery_limit
    )
    unknown = wrap(StockReceive(receipt_id="r-x", sku="MUG-BLUE", quantity=1), source="test")
    unknown_body = json.loads(unknown.encode())
    unknown_body["type"] = "order.teleport"
    bad_schema = json.loads(
        wrap(StockReceive(receipt_id="r-y", sku="MUG-BLUE", quantity=1), source="t").encode()
    )
    bad_schema["data"]["quantity"] = -4
    receipt = wrap(StockReceive(receipt_id="r-new", sku=NEW_SKU, quantity=7), source="warehouse")

    def command(body: bytes, key: str, message_id: str) -> Outgoing:
        return Outgoing(
            body=body,
            exchange=topology.commands,
            routing_key=key,
            message_id=message_id,
            correlation_id=message_id,
        )

    poison = [
        command(b'{"id": "broken', "order.submit", "p-1"),
        command(b"x" * (run.settings.max_message_bytes + 10), "order.submit", "p-2"),
        command(json.dumps(unknown_body).encode(), "order.submit", "p-3"),
        command(json.dumps(bad_schema).encode(), "stock.receive", "p-4"),
        command(receipt.encode(), "stock.receive", receipt.id),  # an SKU stock does not know
    ]
    with ChannelPublisher(run.settings) as channel:
        channel.link.publish_confirmed(poison)


def wait_for_parked(settings: Settings, count: int) -> list[ParkedMessage]:
    found: list[ParkedMessage] = []

    def all_parked() -> bool:
        found[:] = list_parked(settings, Filters())
        return len(found) >= count

    wait_until(all_parked, 30, what=f"{count} parked messages")
    return found


def replay_everything(settings: Settings) -> list[bool]:
    with audited(settings, who=f"test-{uuid.uuid4().hex[:6]}") as lot:
        return [outcome.done for outcome in lot.replay(lot.read(Filters()))]


def on_hand(run: Run, sku: str) -> int:
    with run.dbs.session("stock") as session:
        item = session.get(Item, sku)
        return 0 if item is None else item.on_hand
