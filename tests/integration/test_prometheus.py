"""A real Prometheus (Debian's binary) scraping real worker processes and RabbitMQ's own
exporter, asked the on-call SRE's questions in PromQL.

One Prometheus (scraping every second, loading deploy/prometheus/alerts.yml) and one set of worker
processes on the real RabbitMQ and PostgreSQL serve the whole module. The warehouse is stopped
right after its start (its queue stays, with no consumer), so paid orders wait for it; one order
is declined (a compensation), one meets gateway timeouts (retries in process), and a malformed
``order.placed`` is parked by every worker that consumes the type. The workers reach RabbitMQ
through a fault proxy, so the test can break their links without touching anyone else's.

Needs ``prometheus`` on PATH and RabbitMQ's ``rabbitmq_prometheus`` plugin (port 15692); without
them the module skips, except in CI (CI=true), where .ci/run provides both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import urlopen

import pytest
from kombu import Connection

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.processes import ProcessCluster
from orderflow.cluster.registry import NAMES
from orderflow.operator.operations import await_listed, set_stock
from orderflow.operator.stuck import stuck_orders
from services.intake.settings import IntakeSettings
from shared.clock import SystemClock
from shared.contracts import PaymentMethod
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from tests import dashboards
from tests.factories import order_submit, paid_by
from tests.faults.proxy import FaultProxy
from tests.required import required
from tests.support import free_ports, real_settings, tear_down, wait_until

pytestmark = pytest.mark.real

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
WORKERS = [name for name in NAMES if name != "warehouse"]
"""The workers left running: the warehouse is stopped after its start, so paid orders wait in
its queue, stuck."""
ENV = {
    # A link reset that lands in a parking-lot gauge read is swallowed there (shared/gauges.py):
    # the worker then hears of it only when heartbeats stop, within twice this.
    "ORDERFLOW_HEARTBEAT_SECONDS": "2",
    "ORDERFLOW_GAUGE_REFRESH_SECONDS": "0.3",
    "ORDERFLOW_INTAKE_STUCK_AFTER_SECONDS": '{"placed": 1}',
    "ORDERFLOW_HANDLER_BACKOFF_SECONDS": "0.01",
}
PAID = 3
"""Orders that are paid and then wait for the warehouse (besides the one with gateway timeouts)."""
SCRAPE_JOBS = 'job=~"orderflow|rabbitmq|rabbitmq-queues"'


def get_json(url: str, timeout: float = 10) -> Any:
    try:
        with urlopen(url, timeout=timeout) as answer:
            return json.load(answer)
    except HTTPError as error:  # Prometheus answers a bad query with 400 and a JSON reason
        return json.load(error)


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now; a parse or evaluation error fails."""
        answer = self.ask(expr)
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def ask(self, expr: str) -> dict[str, Any]:
        answer: dict[str, Any] = get_json(f"{self.url}/api/v1/query?{urlencode({'query': expr})}")
        return answer

    def by(self, label: str, expr: str) -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}

    def metric_names(self, selector: str) -> set[str]:
        params = urlencode({"match[]": "{" + selector + "}"})
        answer = get_json(f"{self.url}/api/v1/label/__name__/values?{params}")
        assert answer["status"] == "success", answer
        return set(answer["data"])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_prometheus(binary: str, config: dict[str, Any], directory: Path) -> Prometheus:
    """``binary`` on a free port with ``config`` and its own storage in ``directory``, ready."""
    (directory / "prometheus.yml").write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = free_ports(1)
    log = directory / "prometheus.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, log)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urlopen(f"{prometheus.url}/-/ready", timeout=2) as answer:
                return bool(answer.status == 200)
        except (URLError, OSError):
            return False

    try:
        wait_until(ready, 30, what="Prometheus ready")
    except BaseException:
        prometheus.stop()
        raise
    return prometheus


def rabbitmq_exporter(broker_url: str) -> str:
    """host:port of RabbitMQ's Prometheus endpoint (``ORDERFLOW_TEST_RABBITMQ_PROMETHEUS``, else
    the broker's host on 15692), skipping when it does not answer."""
    target = os.environ.get(
        "ORDERFLOW_TEST_RABBITMQ_PROMETHEUS", f"{urlsplit(broker_url).hostname}:15692"
    )
    try:
        with urlopen(f"http://{target}/metrics", timeout=5) as answer:
            answer.read()
    except (URLError, OSError) as error:
        required(
            f"RabbitMQ's Prometheus endpoint http://{target}/metrics does not answer ({error}): "
            "enable it with `rabbitmq-plugins enable rabbitmq_prometheus`"
        )
    return target


def prometheus_config(cluster: ProcessCluster, rabbitmq: str) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml's jobs, with static targets instead of compose's DNS, and
    every second instead of every 15."""
    workers = [
        {"targets": [f"127.0.0.1:{r.metrics_port}"], "labels": {"worker": r.name}}
        for r in cluster.running
    ]
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "orderflow", "honor_labels": True, "static_configs": workers},
            {"job_name": "rabbitmq", "static_configs": [{"targets": [rabbitmq]}]},
            {
                "job_name": "rabbitmq-queues",
                "metrics_path": "/metrics/detailed",
                "params": {"family": ["queue_coarse_metrics", "queue_consumer_count"]},
                "static_configs": [{"targets": [rabbitmq]}],
            },
        ],
    }


@dataclass
class Saga:
    settings: Settings
    topology: Topology
    cluster: ProcessCluster
    proxy: FaultProxy
    prometheus: Prometheus
    paid: list[str]
    """External ids of the orders paid and waiting for the warehouse."""


def card_order(external_id: str, token: str) -> dict[str, Any]:
    order = order_submit(external_id=external_id, payment=paid_by(PaymentMethod.CARD, token))
    return order.model_dump(mode="json")


def park_junk(settings: Settings, topology: Topology) -> None:
    """A message no worker can read, on a route stock (and others) consume."""
    sender = BrokerLink(settings.broker_url, heartbeat=0)
    sender.connect()
    try:
        junk = Outgoing(b"not json", topology.events, "order.placed", f"junk-{uuid.uuid4().hex}")
        sender.publish_confirmed([junk])
    finally:
        sender.close()


@pytest.fixture(scope="module")
def saga(
    rabbitmq_url: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Saga]:
    rabbitmq = rabbitmq_exporter(rabbitmq_url)
    binary = shutil.which("prometheus") or required(
        "prometheus is not installed (Debian: apt-get install prometheus)"
    )
    directory = tmp_path_factory.mktemp("prometheus")
    settings = real_settings(f"t{uuid.uuid4().hex[:10]}", rabbitmq_url, postgres_url)
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    with ExitStack() as cleanup:
        proxy = cleanup.enter_context(FaultProxy.in_front_of(rabbitmq_url))
        cleanup.callback(tear_down, settings, NAMES)
        cluster = ProcessCluster(
            settings,
            directory / "logs",
            env={**ENV, "ORDERFLOW_BROKER_URL": proxy.url_for(rabbitmq_url)},
            metrics_port_base=free_ports(len(NAMES)),
        )
        cleanup.callback(cluster.stop)
        cluster.start(NAMES)
        (warehouse,) = [r for r in cluster.running if r.name == "warehouse"]
        warehouse.process.send_signal(signal.SIGTERM)
        assert warehouse.process.wait(30) == 0
        prometheus = start_prometheus(binary, prometheus_config(cluster, rabbitmq), directory)
        cleanup.callback(prometheus.stop)
        wait_until(
            lambda: len(prometheus.query(f"up{{{SCRAPE_JOBS}}}")) == len(NAMES) + 2,
            20,
            what="a first scrape of every target, before anything happens",
        )

        set_stock(settings, "MUG-BLUE", 100, "A-1", 350)
        await_listed(settings, ["MUG-BLUE"])
        paid = [f"PAID-{n}" for n in range(PAID)]
        orders = [card_order(i, "tok_visa") for i in paid]
        orders += [card_order("SLOW-1", "tok_transient"), card_order("NO-1", "tok_decline")]
        with ChannelPublisher(settings) as channel:
            channel.send([submit_envelope(order) for order in orders])
        park_junk(settings, topology)
        yield Saga(settings, topology, cluster, proxy, prometheus, [*paid, "SLOW-1"])


def any_of(*names: str) -> str:
    """A PromQL regex string literal's content matching exactly one of ``names``."""
    return "|".join(re.escape(name) for name in names).replace("\\", "\\\\")


def test_prometheus_scrapes_every_worker_and_rabbitmq(saga: Saga) -> None:
    """Every running worker and RabbitMQ (both jobs) up; the stopped warehouse down, and the
    rule for it pending."""
    expected = {**dict.fromkeys(WORKERS, 1.0), "warehouse": 0.0, "": 2.0}  # "": RabbitMQ's 2 jobs
    up = f"sum by (worker) (up{{{SCRAPE_JOBS}}})"
    wait_until(lambda: saga.prometheus.by("worker", up) == expected, 20, what=f"up: {expected}")
    down = 'ALERTS{alertname="OrderflowWorkerDown"}'
    wait_until(
        lambda: saga.prometheus.by("worker", down) == {"warehouse": 1.0},
        10,
        what="OrderflowWorkerDown pending for the warehouse only",
    )
    # RabbitMQ's exporter sees our workers consume: each worker's queue has a consumer
    queues = {saga.topology.worker_queue_name(w) for w in WORKERS}
    ours = f'queue=~"{any_of(*queues)}"'
    consumers = f"sum by (queue) (rabbitmq_detailed_queue_consumers{{{ours}}}) > 0"
    wait_until(
        lambda: set(saga.prometheus.by("queue", consumers)) == queues,
        20,
        what="a consumer on every worker's queue, in RabbitMQ's metrics",
    )


def test_promql_says_how_many_orders_are_stuck_and_where(saga: Saga) -> None:
    """Every paid order waits for the warehouse (stopped): stuck in ``placed``, as intake's gauge
    says, as the operator's ``order stuck`` lists them, and as RabbitMQ holds their messages in
    the warehouse's queue with no one to consume it."""
    stuck = "max by (state) (orderflow_orders_stuck) > 0"
    wait_until(
        lambda: saga.prometheus.by("state", stuck) == {"placed": float(len(saga.paid))},
        60,
        what=f"{len(saga.paid)} orders stuck in placed, in Prometheus",
    )
    intake = IntakeSettings(stuck_after_seconds={"placed": 1})

    def waiting() -> list[tuple[str, str]]:
        listed = stuck_orders(saga.settings, intake, SystemClock().now(), 100)
        return sorted((order.status, order.waits_on) for order in listed)

    paid_for = [("placed", "warehouse")] * len(saga.paid)
    wait_until(lambda: waiting() == paid_for, 30, what="every paid order waiting on the warehouse")

    warehouse_queue = saga.topology.worker_queue_name("warehouse")
    where = f'sum by (queue) (rabbitmq_detailed_queue_messages_ready{{queue="{warehouse_queue}"}})'
    held: list[tuple[int, int]] = []

    def depth_as_the_broker_counts() -> bool:
        with Connection(saga.settings.broker_url) as connection:
            _, ready, consumers = connection.channel().queue_declare(warehouse_queue, passive=True)
        held[:] = [(ready, consumers)]
        return saga.prometheus.by("queue", where) == {warehouse_queue: float(ready)}

    wait_until(depth_as_the_broker_counts, 30, what="the warehouse's queue depth, in both")
    ((ready, consumers),) = held
    assert consumers == 0 and ready >= len(saga.paid)
    # the rule sees them too: pending until they have been stuck for its `for`
    alerting = 'ALERTS{alertname="OrderflowOrdersStuck"}'
    wait_until(
        lambda: saga.prometheus.by("state", alerting) == {"placed": 1.0},
        10,
        what="OrderflowOrdersStuck pending or firing for placed",
    )


def test_promql_says_what_is_parked_per_worker(saga: Saga) -> None:
    """What each worker's gauge says is parked is what RabbitMQ holds in its parking-lot queue,
    counted by the broker and by RabbitMQ's own exporter."""

    def at_the_broker() -> dict[str, float]:
        counted = {}
        with Connection(saga.settings.broker_url) as connection:
            channel = connection.channel()
            for worker in WORKERS:
                queue = saga.topology.parking_queue_name(worker)
                _, messages, _ = channel.queue_declare(queue, passive=True)
                if messages:
                    counted[worker] = float(messages)
        return counted

    per_worker = "max by (worker) (orderflow_parking_lot_messages) > 0"
    lots = any_of(*(saga.topology.parking_queue_name(w) for w in WORKERS))
    in_lots = f'sum by (queue) (rabbitmq_detailed_queue_messages{{queue=~"{lots}"}}) > 0'
    seen: list[dict[str, float]] = []

    def all_three_agree() -> bool:
        parked = at_the_broker()
        seen[:] = [parked]
        by_queue = {saga.topology.parking_queue_name(w): n for w, n in parked.items()}
        return (
            "stock" in parked
            and saga.prometheus.by("worker", per_worker) == parked
            and saga.prometheus.by("queue", in_lots) == by_queue
        )

    wait_until(
        all_three_agree,
        30,
        what="the broker's count of each parking lot, in the gauges and in RabbitMQ's metrics",
    )
    assert seen[0]["stock"] == 1.0
    malformed = 'sum by (worker) (orderflow_parked_total{kind="malformed"})'
    assert saga.prometheus.by("worker", malformed)["stock"] == 1.0
    growing = 'ALERTS{alertname="OrderflowParkingLotGrowing"}'
    wait_until(
        lambda: "stock" in saga.prometheus.by("worker", growing),
        10,
        what="OrderflowParkingLotGrowing pending for stock",
    )


def test_an_increase_over_a_reconnect_is_not_zero(saga: Saga) -> None:
    """The issue's complaint: counters born at their first event made ``increase()`` read 0 right
    after every worker had reconnected once. Each worker's counter now starts at 0."""
    increase = "sum by (worker) (increase(orderflow_reconnects_total[1m]))"
    wait_until(
        lambda: set(saga.prometheus.by("worker", increase)) == set(WORKERS),
        20,
        what="a reconnect counter per worker",
    )
    assert saga.prometheus.by("worker", increase) == dict.fromkeys(WORKERS, 0.0)

    assert saga.proxy.reset() >= len(WORKERS)
    saga.cluster.wait_ready(30)
    wait_until(
        lambda: all(v > 0 for v in saga.prometheus.by("worker", increase).values()),
        30,
        what="increase() over the reconnect above 0 for every worker",
    )
    assert set(saga.prometheus.by("worker", increase)) == set(WORKERS)
    totals = saga.cluster.scrape("orderflow_reconnects_total")
    assert set(totals) == set(WORKERS) and min(totals.values()) >= 1  # the workers' own count


def test_the_rules_evaluate_on_the_live_series(saga: Saga) -> None:
    """Every rule of alerts.yml loads, evaluates without error on real series and reads only
    metrics the scrape brings in (postgres-exporter's aside); the SLO recording rules read the
    workers' real histogram bucket (``le="5.0"`` from the Python client) and outbox gauge."""
    written = RULES.read_text()
    assert len(rules_now(saga)) == written.count("- alert:") + written.count("- record:")
    wait_until(
        lambda: not any(r["lastEvaluation"].startswith("0001-") for r in rules_now(saga)),
        10,
        what="every rule evaluated once",
    )
    assert [(r["name"], r["lastError"]) for r in rules_now(saga) if r["health"] != "ok"] == []
    # a misspelt metric evaluates fine and never fires: each one a rule reads must be scraped
    recorded = {r["name"] for r in rules_now(saga) if r["type"] == "recording"}
    not_run_here = {"pg_up"}  # postgres-exporter's
    scraped = saga.prometheus.metric_names(SCRAPE_JOBS)
    unknown = {
        rule["name"]: sorted(missing)
        for rule in rules_now(saga)
        if (missing := dashboards.metric_names(rule["query"]) - recorded - not_run_here - scraped)
    }
    assert unknown == {}

    handled = {"intake", "stock", "payment"}
    slow = "orderflow:critical_time_slow:ratio_rate5m >= 0"
    wait_until(
        lambda: handled <= set(saga.prometheus.by("worker", slow)),
        20,
        what=f"a critical-time ratio for {sorted(handled)}",
    )
    assert all(0 <= ratio < 1 for ratio in saga.prometheus.by("worker", slow).values())
    late = saga.prometheus.by("worker", "orderflow:outbox_late:bool")
    assert set(late) == set(WORKERS) and set(late.values()) == {0.0}


def rules_now(saga: Saga) -> list[dict[str, Any]]:
    """Every rule Prometheus loaded, with its health and last evaluation."""
    groups = get_json(f"{saga.prometheus.url}/api/v1/rules")["data"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_dashboard_query_parses_and_reads_only_scraped_metrics(saga: Saga) -> None:
    """Prometheus parses and evaluates each panel's expression (Grafana's variables put in), each
    metric it names is one the live scrape of the workers or RabbitMQ brought in, and it shows
    something once the saga above has run."""
    happened = [
        "max(orderflow_orders_stuck) > 0",
        "max(orderflow_parking_lot_messages) > 0",
        "sum(orderflow_compensations_total) > 0",
        "sum(orderflow_retries_total) > 0",
    ]
    wait_until(
        lambda: all(saga.prometheus.query(q) for q in happened),
        60,
        what="the saga's effects in Prometheus",
    )
    scraped = saga.prometheus.metric_names(SCRAPE_JOBS)
    problems = []
    for expression in dashboards.expressions(dashboards.load()):
        answer = saga.prometheus.ask(expression.text)
        if answer["status"] != "success":
            problems.append(f"{expression.where}: {answer.get('error')}")
            continue
        if not answer["data"]["result"] and not shows_data(saga, expression.text):
            problems.append(f"{expression.where}: no data on a live system")  # a misspelt label?
        missing = dashboards.metric_names(expression.text) - scraped
        if missing:
            problems.append(f"{expression.where}: not scraped: {sorted(missing)}")
    assert problems == []


def shows_data(saga: Saga, expr: str) -> bool:
    """Whether ``expr`` returns something within a few seconds: a rate() over a series born a
    moment ago needs a second sample first."""
    try:
        wait_until(lambda: saga.prometheus.query(expr) != [], 10, step=lambda: time.sleep(0.5))
    except AssertionError:
        return False
    return True
