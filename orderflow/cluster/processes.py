"""Every worker as its own OS process, as operators run them: for the end-to-end tests, the
fault tests and the benchmark.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kombu import Connection

from shared.brokers import OPERATOR
from shared.settings import Settings
from shared.topology import Topology

from .registry import NAMES


@dataclass
class Replica:
    name: str
    index: int
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int = 0


@dataclass
class ProcessCluster:
    settings: Settings
    log_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    replicas: Mapping[str, int] = field(default_factory=dict)
    metrics_port_base: int = 0
    running: list[Replica] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    """How often ``kill`` killed a replica of each worker (a crash point's death is not here)."""
    inherited: Mapping[str, str] | None = None
    """The environment the replicas start from; None: this process's."""

    def environment(self) -> dict[str, str]:
        s = self.settings
        env = {
            **(os.environ if self.inherited is None else self.inherited),
            "ORDERFLOW_BROKER_URL": s.broker_url,
            "ORDERFLOW_DATABASE_URL": s.database_url,
            "ORDERFLOW_NAMESPACE": s.namespace,
            "ORDERFLOW_PREFETCH": str(s.prefetch),
            "ORDERFLOW_BATCH_SIZE": str(s.batch_size),
            **self.env,
        }
        env.pop("ORDERFLOW_DATABASE_URLS", None)
        return env

    def start(self, names: list[str] | None = None, timeout: float = 60) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in names or NAMES:
            for index in range(self.replicas.get(name, 1)):
                self.spawn(name, index)
        self.wait_ready(timeout)

    def spawn(
        self, name: str, index: int = 0, env: Mapping[str, str] | None = None, port: int = -1
    ) -> Replica:
        """Start one replica; ``env`` adds to the cluster's environment for this one only (a
        crash point for the fault tests, say); ``port`` keeps a restarted one's metrics port."""
        log = self.log_dir / f"{name}-{index}.log"
        if port < 0:
            port = self.metrics_port_base + len(self.running) if self.metrics_port_base else 0
        command = [sys.executable, "-m", "orderflow", "worker", name, "--log-level", "warning"]
        process = subprocess.Popen(
            [*command, "--metrics-port", str(port)],
            env={**self.environment(), **(env or {})},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        replica = Replica(name, index, process, log, port)
        self.running.append(replica)
        return replica

    def kill(self, replica: Replica) -> None:
        """SIGKILL: no goodbye, no ack, no commit; what it held is the broker's and the
        database's to sort out."""
        replica.process.kill()
        replica.process.wait(10)
        self.kills[replica.name] += 1

    def restart(self, replica: Replica, env: Mapping[str, str] | None = None) -> Replica:
        """Start the replica again in place of ``replica`` (which must have exited)."""
        self.running.remove(replica)
        return self.spawn(replica.name, replica.index, env, replica.metrics_port)

    def wait_ready(self, timeout: float) -> None:
        """Until every worker queue has as many consumers as replicas were started."""
        topology = Topology(
            self.settings.namespace, self.settings.use_quorum_queues, self.settings.delivery_limit
        )
        wanted: dict[str, int] = {}
        for replica in self.alive():
            wanted[replica.name] = wanted.get(replica.name, 0) + 1
        deadline = time.monotonic() + timeout
        with Connection(self.settings.broker_url_for(OPERATOR)) as connection:
            channel = connection.channel()
            while True:
                self.check_alive()
                ready = True
                for name, count in wanted.items():
                    try:
                        _, _, consumers = channel.queue_declare(
                            topology.worker_queue_name(name), passive=True
                        )
                    except Exception:
                        channel = connection.channel()
                        consumers = 0
                    ready = ready and consumers >= count
                if ready:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"workers not consuming after {timeout}s: see {self.log_dir}"
                    )
                time.sleep(0.2)

    def scrape(self, metric: str, by: str | None = None, **labels: str) -> dict[str, float]:
        """Sum of one metric's samples (those with ``labels``) per worker, or per value of the
        label ``by``, from each replica's /metrics endpoint."""
        from urllib.request import urlopen

        from prometheus_client.parser import text_string_to_metric_families

        totals: dict[str, float] = {}
        for replica in self.alive():
            if not replica.metrics_port:
                continue
            with urlopen(f"http://127.0.0.1:{replica.metrics_port}/metrics", timeout=5) as page:
                text = page.read().decode()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    wanted = all(sample.labels.get(k) == v for k, v in labels.items())
                    if sample.name == metric and wanted:
                        key = replica.name if by is None else sample.labels.get(by, "")
                        totals[key] = totals.get(key, 0.0) + sample.value
        return totals

    def alive(self) -> list[Replica]:
        return [r for r in self.running if r.process.poll() is None]

    def check_alive(self) -> None:
        for replica in self.running:
            code = replica.process.poll()
            if code is not None and code != 0 and code != -signal.SIGKILL:
                tail = replica.log.read_text()[-2000:]
                raise RuntimeError(f"{replica.name}-{replica.index} exited with {code}:\n{tail}")

    def stop(self, timeout: float = 20) -> dict[str, int | None]:
        """SIGTERM every replica and wait, ``timeout`` seconds in all, then kill what is left;
        returns each one's exit code (None if it was killed)."""
        for replica in self.alive():
            replica.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int | None] = {}
        for replica in self.running:
            try:
                left = max(deadline - time.monotonic(), 0.1)
                codes[f"{replica.name}-{replica.index}"] = replica.process.wait(left)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                codes[f"{replica.name}-{replica.index}"] = None
        return codes

    def cpu_seconds(self) -> float:
        """User + system CPU of the running replicas, from /proc (Linux)."""
        return sum(self.cpu_by_worker().values())

    def cpu_by_worker(self) -> dict[str, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        used: dict[str, float] = {}
        for replica in self.alive():
            try:
                stat = Path(f"/proc/{replica.process.pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            used[replica.name] = used.get(replica.name, 0.0) + cpu
        return used
