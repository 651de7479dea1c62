"""Soak: orders keep coming while random workers are SIGKILLed and restarted, with three
replicas of payment and two of stock competing for the same queues. Every order must be
terminal within a bound after the last kill, with no double charge and no leaked reservation
(the audit), and nothing parked. E-mails are counted where they arrive, at the mail server, by
Message-ID: each notifier kill may repeat the e-mail in flight on each of its sending lanes,
nothing more.

CI runs a small soak; the full one is a separate command (see README, "Fault tests"):

    ORDERFLOW_SOAK_ORDERS=5000 ORDERFLOW_SOAK_KILLS=30 ./dev test tests/faults/test_soak.py -s
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from shared.settings import Settings
from tests.faults.harness import running

ORDERS = int(os.environ.get("ORDERFLOW_SOAK_ORDERS", "400"))
KILLS = int(os.environ.get("ORDERFLOW_SOAK_KILLS", "8"))
BOUND_AFTER_LAST_KILL = float(os.environ.get("ORDERFLOW_SOAK_BOUND_SECONDS", "120"))
LANES = 4
"""The notifier's sending lanes: a kill may catch one e-mail per lane between the mail
server's answer and its mark."""


def test_orders_survive_random_kills_of_replicated_workers(
    settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(2026)
    with running(
        settings,
        tmp_path,
        replicas={"payment": 3, "stock": 2},
        env={"ORDERFLOW_NOTIFIER_SEND_LANES": str(LANES)},
    ) as run:
        started = time.monotonic()
        per_wave = max(1, ORDERS // (KILLS + 1))
        for _ in range(KILLS):
            run.submit(per_wave)
            time.sleep(rng.uniform(0.2, 1.2))
            victim = rng.choice(run.cluster.alive())
            run.cluster.kill(victim)
            time.sleep(rng.uniform(0.0, 0.5))
            run.cluster.restart(victim)
        run.submit(ORDERS - run.submitted)
        last_kill = time.monotonic()
        run.wait_all_terminal(BOUND_AFTER_LAST_KILL)
        settled = time.monotonic() - last_kill

        notifier_kills = run.cluster.kills["notifier"]
        report = run.verdict(repeats_allowed=notifier_kills * LANES)

    print(
        f"\nsoak: {ORDERS} orders, {KILLS} kills in {last_kill - started:.0f}s; all terminal "
        f"{settled:.1f}s after the last kill; {dict(report.by_status)}; "
        f"{len(run.mail.received)} e-mails received, {run.mail.repeats()} repeated after "
        f"{notifier_kills} notifier kills"
    )
