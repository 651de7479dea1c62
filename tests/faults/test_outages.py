"""Outages: RabbitMQ, then PostgreSQL, restarted in the middle of a run. The workers keep their
state safe meanwhile (no ack while the database is down; unpublished announcements stay in the
outbox while the broker is), reconnect, and the run ends as a soak does: every order terminal,
the four invariants intact, nothing parked.

After the broker's return every worker consumes again within ``BACK_WITHIN_SECONDS``: the
reconnect back-off is capped (``ORDERFLOW_RECONNECT_MAX_SECONDS``), so the length of the outage
does not stretch the wait after it.

Both restart the real servers on this machine, so they need the rights to (CI has them); they
leave the servers running.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.faults.harness import Run, running

ORDERS = 300
BACK_WITHIN_SECONDS = 5.0
OUTAGE_SECONDS = 8.0


def restart_rabbitmq(down_for: float = 2.0) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is not on PATH: cannot restart RabbitMQ")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    time.sleep(down_for)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True, timeout=120)


def restart_postgres() -> None:
    clusters = sorted(Path("/etc/postgresql").glob("*/main"))
    if not clusters or shutil.which("pg_ctlcluster") is None:
        pytest.fail("no local PostgreSQL cluster to restart (pg_ctlcluster, /etc/postgresql)")
    version = clusters[-1].parent.name
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    subprocess.run([*command, "stop", "-m", "fast"], check=True, capture_output=True, timeout=120)
    time.sleep(3)
    subprocess.run([*command, "start"], check=True, capture_output=True, timeout=120)


def outage_mid_run(run: Run, restart: object) -> None:
    run.submit(ORDERS // 2)
    time.sleep(1.5)
    assert callable(restart)
    restart()
    run.submit(ORDERS - run.submitted)
    run.wait_all_terminal(180)
    run.verdict()


def test_a_rabbitmq_restart_mid_run_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    with running(settings, tmp_path) as run:
        outage_mid_run(run, restart_rabbitmq)


def test_every_worker_consumes_again_within_seconds_of_the_brokers_return(
    settings: Settings, tmp_path: Path
) -> None:
    """A long outage (workers' pauses would have grown to their cap), then the broker returns:
    each worker's queue has its consumers back within the bound, and the orders finish."""
    with running(settings, tmp_path, replicas={"payment": 2}) as run:
        run.submit(50)
        run.wait_consuming(30)
        restart_rabbitmq(down_for=OUTAGE_SECONDS)
        back_after = run.wait_consuming(30)
        print(f"\nevery worker consuming again {back_after:.1f}s after the broker returned")
        assert back_after <= BACK_WITHIN_SECONDS, f"consuming again only after {back_after:.1f}s"
        run.submit(50)
        run.wait_all_terminal(120)
        run.verdict()


def test_a_postgresql_restart_mid_run_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    """Nor does it send an e-mail twice: what the courier sent and could not record while the
    database was down is recorded when it is back, before anything else is sent."""
    with running(settings, tmp_path) as run:
        outage_mid_run(run, restart_postgres)
    assert run.mail.received, "no e-mail reached the mail server"
    assert run.mail.repeated() == {}, "a database outage sent e-mails twice"
