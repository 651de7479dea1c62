"""Broken links: every worker reaches RabbitMQ and PostgreSQL through the TCP fault proxy while
orders flow. The broker link goes silent (a pulled cable: only heartbeats can tell) and comes
back, then every broker and database connection is reset. The workers notice, reconnect and
carry on: every order terminal, the four invariants intact, nothing parked.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

from shared.settings import Settings
from tests.faults.harness import running
from tests.faults.proxy import FaultProxy

ORDERS = 200


def test_workers_ride_out_a_silent_link_and_resets(settings: Settings, tmp_path: Path) -> None:
    with (
        FaultProxy.in_front_of(settings.broker_url) as broker,
        FaultProxy.in_front_of(settings.database_url_for("intake")) as database,
    ):
        env = {
            "ORDERFLOW_BROKER_URL": broker.url_for(settings.broker_url),
            "ORDERFLOW_DATABASE_URL": through(database, settings.database_url),
            "ORDERFLOW_HEARTBEAT_SECONDS": "2",
        }
        with running(settings, tmp_path, env=env) as run:
            run.submit(ORDERS // 2)
            time.sleep(1)
            broker.half_open()
            time.sleep(8)  # heartbeats missed: every worker must notice and try again
            broker.heal()
            run.submit(ORDERS // 4)
            time.sleep(1)
            assert broker.reset() > 0
            assert database.reset() > 0
            run.submit(ORDERS - run.submitted)
            run.wait_all_terminal(120)

            run.verdict()

        assert broker.stats().accepted > 2 * 7, "the workers never reconnected to the broker"


def through(proxy: FaultProxy, template: str) -> str:
    """The database URL template (``{worker}`` in its path) with the proxy's host and port."""
    netloc = urlsplit(template.replace("{worker}", "w")).netloc
    host_port = netloc.rpartition("@")[2]
    return template.replace(host_port, f"127.0.0.1:{proxy.port}", 1)
