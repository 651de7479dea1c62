"""One rehearsal: a namespace of its own made, every worker started there as local processes,
the shelves stocked, orders sent at a steady rate while the queues are watched, the orders
given time to complete, the figures read from the workers' own tables, and everything made
undone again, whatever happened in between."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from ..cluster.databases import WorkerDatabases
from ..cluster.processes import ProcessCluster
from ..cluster.registry import NAMES
from ..operator.operations import await_listed, set_stock
from ..scenarios.catalogue import CATALOGUE
from ..scenarios.orders import extra
from .namespace import Namespace, RehearsalError, Teardown
from .pacing import submit
from .plan import Plan, Show, Snapshot
from .report import Measured, Report, build_report
from .watch import ZERO_DELAYS, Watch

HANDLED = "orderflow_messages_total"
DELIVERED = "orderflow_deliveries_total"
WARM_UP_WAIT = 60.0
"""The least time the warm-up orders get to complete, whatever the drain time."""
ON_THE_SHELF = 10_000_000
"""Stock per product: no rehearsal runs out."""
NOT_INHERITED = ("ORDERFLOW_NOTIFIER_SMTP_", "ORDERFLOW_CRASH_", "ORDERFLOW_DATABASE_URLS")
"""The deployment's settings a rehearsal's workers never take: no synthetic customer gets an
e-mail (the notifier writes into a maildir of the rehearsal's), no test crash point fires."""


Inspect = Callable[[Namespace], None]


class Interrupted(Exception):
    """SIGTERM: stop as Ctrl-C would, cleaning up."""


def rehearse(
    namespace: Namespace, plan: Plan, show: Show, inspect: Inspect | None = None
) -> Report:
    """Run the rehearsal in ``namespace`` (see ``new_namespace``) and clean up after it (unless
    ``plan.keep``), also on Ctrl-C, SIGTERM or failure; ``inspect`` sees the namespace after the
    figures are read, before cleanup."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{namespace.vhost}-"))
    teardown = Teardown()
    if not plan.keep:
        teardown.add(f"remove {workdir}", lambda: shutil.rmtree(workdir, ignore_errors=True))
    try:
        with sigterm_interrupts():
            report = rehearse_in(namespace, workdir, plan, show, teardown)
            if inspect is not None:
                inspect(namespace)
    except BaseException as error:
        with signals_held():
            problems = teardown.run()
        if problems:
            error.add_note(f"cleanup failed: {'; '.join(problems)}")
        raise
    with signals_held():
        return report.cleaned_up(teardown.run())


def rehearse_in(
    namespace: Namespace, workdir: Path, plan: Plan, show: Show, teardown: Teardown
) -> Report:
    settings = namespace.settings
    show(Snapshot("creating the vhost", 0, 0, 0, {}))
    namespace.add_vhost()
    if not plan.keep:
        teardown.add(f"delete vhost {namespace.vhost}", namespace.delete_vhost)
        teardown.add("drop the rehearsal's databases", namespace.drop_databases)
    namespace.permit()
    cluster = ProcessCluster(
        settings,
        workdir / "logs",
        env={
            **ZERO_DELAYS,
            "ORDERFLOW_NOTIFIER_MAILDIR": str(workdir / "mail"),
            "ORDERFLOW_BROKER_PASSWORD_FILE": "",
            "ORDERFLOW_VERIFY_PUBLISHERS": "false",
        },
        replicas=plan.replicas,
        metrics_port_base=free_ports(sum(plan.replicas.get(name, 1) for name in NAMES)),
        inherited={k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)},
    )
    teardown.add("stop the worker processes", cluster.stop)
    show(Snapshot("starting the workers", 0, 0, 0, {}))
    cluster.start(timeout=plan.options.start_seconds)
    dbs = WorkerDatabases(settings)
    teardown.add("close the databases", dbs.dispose)
    show(Snapshot("stocking the shelves", 0, 0, 0, {}))
    for product in CATALOGUE:
        set_stock(settings, product.sku, ON_THE_SHELF, product.location, product.weight_grams)
    await_listed(settings, [product.sku for product in CATALOGUE])
    watch = Watch(settings, dbs)
    teardown.add("close the broker link", watch.close)
    return build_report(namespace, plan, drive(watch, cluster, plan, show), watch, workdir)


def drive(watch: Watch, cluster: ProcessCluster, plan: Plan, show: Show) -> Measured:
    """Warm the workers up at the plan's rate until those orders are completed; then send the
    measured orders at the same rate, sampling every queue's depth, and wait, sampling still,
    until every one is completed or the drain time is up."""
    every, drain = plan.options.sample_seconds, plan.options.drain_seconds
    warm_up = round(plan.rate * plan.options.warm_up_seconds)
    everything = extra(warm_up + plan.orders, seed=int(time.time()))
    if warm_up:
        show(Snapshot("warming up", 0, 0, 0, {}))
        submit(watch.settings, everything[:warm_up], plan.rate)
        completed_by(watch, cluster, warm_up, time.time() + max(drain, WARM_UP_WAIT))
    handled_before, delivered_before = settled(cluster), cluster.scrape(DELIVERED)
    orders, before = everything[warm_up:], watch.completed()
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in NAMES}
    sent_ids: dict[str, float] = {}

    def sample(elapsed: float, phase: str) -> None:
        cluster.check_alive()
        depths = watch.depths()
        for name, depth in depths.items():
            samples[name].append((elapsed, depth))
        show(Snapshot(phase, elapsed, len(sent_ids), watch.completed() - before, depths))

    def tick(elapsed: float) -> None:
        if elapsed >= every * (len(samples[NAMES[0]]) + 1):
            sample(elapsed, "sending")

    cpu_before = cluster.cpu_by_worker()
    sent_at, started = submit(watch.settings, orders, plan.rate, tick, sent_ids)
    sent, handled_sent = time.time(), handled(cluster)
    sample(time.time() - started, "sending")
    window = {name: list(points) for name, points in samples.items()}
    while watch.completed() - before < len(orders) and time.time() - sent < drain:
        time.sleep(every)
        sample(time.time() - started, "completing")
    ended = min(time.time(), sent + drain)
    sample(time.time() - started, "done")
    handled_after, delivered_after = settled(cluster), cluster.scrape(DELIVERED)
    return Measured(
        orders=len(orders),
        started=started,
        sent=sent,
        ended=ended,
        sent_at=sent_at,
        sent_ids=sent_ids,
        samples=window,
        handled={
            name: (
                round(handled_after.get(name, 0) - handled_before.get(name, 0)),
                round(handled_sent.get(name, 0) - handled_before.get(name, 0)),
            )
            for name in NAMES
        },
        cpu_seconds={
            name: seconds - cpu_before.get(name, 0.0)
            for name, seconds in cluster.cpu_by_worker().items()
        },
        delivered={
            name: round(delivered_after.get(name, 0) - delivered_before.get(name, 0))
            for name in NAMES
        },
    )


def handled(cluster: ProcessCluster) -> dict[str, float]:
    """Messages each worker handled so far, by its replicas' own counters (/metrics)."""
    return cluster.scrape(HANDLED, outcome="handled")


def settled(cluster: ProcessCluster, seconds: float = 5.0) -> dict[str, float]:
    """``handled`` once it stops changing: the last messages of the orders completed so far
    (their e-mails, the read model) taken up too; or as it is after ``seconds``."""
    deadline, last = time.time() + seconds, handled(cluster)
    while time.time() < deadline:
        time.sleep(0.3)
        now = handled(cluster)
        if now == last:
            break
        last = now
    return last


def free_ports(count: int, tries: int = 50) -> int:
    """The first of ``count`` consecutive ports nothing listens on, for the replicas' /metrics."""
    for _ in range(tries):
        first = random.randrange(20_000, 60_000 - count)
        if all(bindable(port) for port in range(first, first + count)):
            return first
    raise RehearsalError(f"no {count} consecutive free ports for the workers' /metrics")


def bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("", port))
        except OSError:
            return False
        return True


def completed_by(watch: Watch, cluster: ProcessCluster, count: int, deadline: float) -> None:
    while watch.completed() < count:
        cluster.check_alive()
        if time.time() > deadline:
            raise TimeoutError(f"the {count} warm-up orders did not all complete in time")
        time.sleep(0.2)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, a pod stopped) ends the rehearsal as Ctrl-C does; and
    SIGINT is Ctrl-C even where it came in ignored (a shell starts a background job so, and
    Python then leaves it ignored): ``kill -INT`` must stop a rehearsal started with ``&``."""

    def interrupt(_signal: int, _frame: FrameType | None) -> None:
        raise Interrupted("stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    keyboard = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, keyboard)


@contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait while the cleanup runs: a second Ctrl-C must not leave a vhost
    or databases behind."""
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
