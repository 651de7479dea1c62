"""No e-mail address, street address or card token reaches a log line, at any level.

Every story of ``orderflow.scenarios`` (what the demo plays: card payments, a declined card, a
gateway that times out, cancels, returns, address changes, invalid submissions) is played in one
process on the embedded cluster, with every logger of every library at DEBUG, SQLAlchemy's
statement log included. Poison with personal data in it is fed to the workers too: a body that
is not JSON, an envelope with a field too many, and an announcement its contract refuses.

Two captures are searched: every record as it was made, before any formatting (its message, its
arguments, its fields, its traceback), so the second line of defence (``shared.logs.redact``)
cannot hide a leak at the source; and the JSON lines the configured handler writes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from io import StringIO

import pytest
from kombu import Exchange

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.scenarios import STORIES
from orderflow.scenarios.orders import ADDRESSES, LATE_ADDRESS, NEW_ADDRESS
from orderflow.scenarios.stage import Stage, play_in_virtual_time
from orderflow.scenarios.story import departures
from shared import logs
from shared.envelope import wrap
from shared.messaging import Outgoing
from shared.settings import Settings
from shared.topology import Topology
from tests.factories import order_placed
from tests.property.test_saga_invariants import embedded_cluster, stock_the_shelves

POISON_EMAIL = "poison.person@example.org"
POISON_STREET = "Giftweg 13"


def personal_data() -> set[str]:
    """Every customer's e-mail address, street line and card token in the stories, and the
    poison's."""
    found = {POISON_EMAIL, POISON_STREET}
    for story in STORIES:
        submission = story.submission
        found.add(submission["customer"]["email"])
        address = submission["delivery"]["address"]
        found |= {address["line1"], address.get("line2") or address["line1"]}
        if submission["payment"].get("token"):
            found.add(submission["payment"]["token"])
    for address in [*ADDRESSES.values(), NEW_ADDRESS, LATE_ADDRESS]:
        found.add(address.line1)
    return found


class Raw(logging.Handler):
    """Each record as it was made: message, arguments, fields and traceback, unformatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.records: list[logging.LogRecord] = []
        self._traceback = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: v for k, v in vars(record).items() if k not in ("exc_info", "exc_text")}
        text = f"{record.getMessage()} {fields!r}"
        if record.exc_info:
            text += self._traceback.formatException(record.exc_info)
        self.texts.append(text)
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[tuple[Raw, StringIO]]:
    """Every logger at DEBUG, through the JSON handler and the raw capture."""
    out = StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    loggers = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    logs.configure(logs.LogFormat.JSON, "debug", replica="privacy-test", stream=out)
    raw = Raw()
    root.addHandler(raw)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if not logger.propagate:
            logger.addHandler(raw)
    logging.captureWarnings(True)
    try:
        yield raw, out
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = handlers
        root.setLevel(level)
        for logger, was in levels.items():
            logger.setLevel(was)
            if raw in logger.handlers:
                logger.removeHandler(raw)


def feed_poison(settings: Settings) -> None:
    """Messages with personal data that the workers must park, each for a reason of its own."""
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    placed = order_placed("ord-poison", email=POISON_EMAIL)
    refused = json.loads(wrap(placed, source="intake").encode())
    refused["data"]["delivery"]["address"]["line1"] = POISON_STREET
    refused["data"]["lines"][0]["quantity"] = -4
    extra = json.loads(wrap(placed, source="intake").encode())
    extra["customer_email"] = POISON_EMAIL

    def sent(body: bytes, exchange: Exchange, key: str, message_id: str) -> Outgoing:
        return Outgoing(body, exchange, key, message_id=message_id, correlation_id=message_id)

    not_json = f'{{"email": "{POISON_EMAIL}", "street": "{POISON_STREET}"'.encode()
    with ChannelPublisher(settings) as channel:
        channel.link.publish_confirmed(
            [
                sent(not_json, topology.commands, "order.submit", "poison-1"),
                sent(json.dumps(extra).encode(), topology.events, "order.placed", "poison-2"),
                sent(json.dumps(refused).encode(), topology.events, "order.placed", "poison-3"),
            ]
        )


def test_no_personal_data_reaches_a_log_line_at_any_level(
    monkeypatch: pytest.MonkeyPatch, captured: tuple[Raw, StringIO]
) -> None:
    raw, out = captured
    with embedded_cluster(monkeypatch, stories_terms=True) as (cluster, chosen):
        for worker in cluster.workers.values():
            worker.failures.raise_permanent_errors = False  # poison is parked, as in production
        stock_the_shelves(cluster)
        dbs = WorkerDatabases(chosen)
        try:
            with ChannelPublisher(chosen) as channel:
                feed_poison(chosen)
                channel.send([submit_envelope(s.submission) for s in STORIES])
                cluster.pump()
                stage = Stage.of(STORIES)
                play_in_virtual_time(stage, cluster, channel.send, dbs, lambda _: cluster.pump())
            assert stage.missed() == []
            assert departures(dbs, STORIES) == {}
        finally:
            dbs.dispose()

    lines = out.getvalue().splitlines()
    events = [json.loads(line) for line in lines]
    said = {event["event"] for event in events}
    assert {"message parked", "compensation committed", "retrying in process"} <= said
    assert "message handled" in said, "DEBUG lines were written"
    parked = {
        (e["kind"], e["message_id"], e["order_id"])
        for e in events
        if e["event"] == "message parked"
    }
    assert parked == {
        ("malformed", "poison-1", None),
        ("invalid", "poison-3", "ord-poison"),
        ("malformed", "poison-2", "ord-poison"),
    }
    compensations = {e["kind"] for e in events if e["event"] == "compensation committed"}
    assert {"stock_released", "payment_refunded", "order_cancelled"} <= compensations
    assert any(r.name.startswith("kombu") or r.name.startswith("sqlalchemy") for r in raw.records)

    leaks = {
        secret: [text[:300] for text in raw.texts + lines if secret in text]
        for secret in personal_data()
    }
    assert {secret: found for secret, found in leaks.items() if found} == {}
