"""Crash-point matrix: every worker is SIGKILLed at each point of its loop where a crash could
lose an event or repeat an effect, then restarted; afterwards every order is terminal and the
four invariants hold.

The points (``shared.crash``): after deliveries are taken (nothing done), after the handlers ran
and the outbox rows were inserted (not committed), after the commit (not acked), and after the
outbox rows were sent (confirms not awaited). One cluster per point: every worker starts with
the crash armed (at its own, staggered, occurrence), dies there, and is restarted without it.
No e-mail is in flight at any of them, so none arrives twice at the mail server.

The notifier has one more point, the only one where a crash can repeat an e-mail: the mail
server answered 250, the mark is not committed. That e-mail, and only that one, arrives twice,
under the same Message-ID; with several sending lanes, so may each lane's one in flight.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from orderflow.cluster.channel import ChannelPublisher
from orderflow.cluster.processes import Replica
from orderflow.cluster.registry import NAMES, publishes
from shared.contracts import ItemQuantity, ResendRequest
from shared.envelope import wrap
from shared.settings import Settings
from tests.faults.harness import Run, running
from tests.support import wait_until

POINTS = ["after_receive", "before_commit", "after_commit", "after_publish"]
ORDERS = 60


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_any_point_loses_nothing_and_repeats_nothing(
    settings: Settings, tmp_path: Path, point: str
) -> None:
    reaching = {n for n in NAMES if publishes(n) or point != "after_publish"}  # reporting: never
    with running(settings, tmp_path) as run:
        crashed = arm_every_worker(run, point)
        run.submit(ORDERS)
        ask_aftersales(run)  # its refusals are what after-sales announces on a happy day
        restart_the_dead(run, crashed, reaching, timeout=60)
        run.wait_all_terminal(90)

        run.verdict()

    assert crashed == reaching, f"never reached {point}: {reaching - crashed}"


@pytest.mark.parametrize("lanes", [1, 4])
def test_a_notifier_killed_between_the_servers_ok_and_the_mark_repeats_only_what_was_in_flight(
    settings: Settings, tmp_path: Path, lanes: int
) -> None:
    """With one sending lane, the e-mail at the crash point arrives twice and nothing else does;
    with four, each lane may have had one e-mail between the server's OK and its mark: those,
    and nothing else, arrive twice."""
    with running(settings, tmp_path) as run:
        lanes_env = {"ORDERFLOW_NOTIFIER_SEND_LANES": str(lanes)}
        armed = restart_armed(run, "notifier", "after_send", after=5, env=lanes_env)
        run.submit(ORDERS // 2)
        wait_until(lambda: armed.process.poll() is not None, 60, what="the notifier's crash")
        before_the_kill = list(run.mail.received)
        run.cluster.restart(armed)  # it takes the dead one's claim over once its lease runs out
        run.wait_all_terminal(90)

        run.verdict(repeats_allowed=lanes)

    repeated = run.mail.repeated()
    if lanes == 1:
        assert len(before_the_kill) == 5
        assert repeated == {before_the_kill[-1]: 2}
    else:
        assert 1 <= len(repeated) <= lanes and set(repeated.values()) == {2}, repeated
        assert set(repeated) <= set(before_the_kill)


def restart_armed(
    run: Run, name: str, point: str, after: int, env: dict[str, str] | None = None
) -> Replica:
    replica = run.replica(name)
    run.cluster.kill(replica)
    crash = {"ORDERFLOW_CRASH_AT": point, "ORDERFLOW_CRASH_AFTER": str(after)}
    armed = run.cluster.restart(replica, {**crash, **(env or {})})
    run.cluster.wait_ready(60)
    return armed


def arm_every_worker(run: Run, point: str) -> set[str]:
    """Restart each worker with the crash armed at its own occurrence of ``point``."""
    for number, replica in enumerate(list(run.cluster.alive())):
        run.cluster.kill(replica)
        env = {"ORDERFLOW_CRASH_AT": point, "ORDERFLOW_CRASH_AFTER": str(2 + number % 3)}
        run.cluster.restart(replica, env)
    run.cluster.wait_ready(60)
    return set()


def restart_the_dead(run: Run, crashed: set[str], reaching: set[str], timeout: float) -> None:
    """Until every worker that can reach the point has crashed once: restart each dead one
    without the crash armed, sending a few more orders now and then so that it is reached."""
    deadline = time.monotonic() + timeout
    next_wave = time.monotonic() + 3
    while crashed < reaching and time.monotonic() < deadline:
        for replica in list(run.cluster.running):
            if replica.process.poll() is not None and replica.name not in crashed:
                crashed.add(replica.name)
                run.cluster.restart(replica)
        if time.monotonic() > next_wave:
            run.submit(5)
            ask_aftersales(run)
            next_wave = time.monotonic() + 3
        time.sleep(0.1)


def ask_aftersales(run: Run) -> None:
    """Resend requests for orders no one placed: refused, so after-sales publishes."""
    requests = [
        ResendRequest(
            order_id=f"ord_unknown{n}",
            request_id=uuid.uuid4().hex,
            lines=[ItemQuantity(sku="MUG-BLUE", quantity=1)],
            reason="crash test",
        )
        for n in range(6)
    ]
    with ChannelPublisher(run.settings) as channel:
        channel.send([wrap(r, source="customer-service") for r in requests])
