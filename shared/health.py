"""Liveness and readiness of the workers in this process, served with their metrics over HTTP.

- ``/metrics``: every metric of ``shared.metrics``, in Prometheus' text format;
- ``/healthz`` (liveness): 200 while every worker's loop made a pass within the health window;
  a loop stuck in a call that never returns, or a worker thread that died, answers 503, and the
  orchestrator restarts the process;
- ``/readyz`` (readiness): 200 while every worker's broker link is up, its database answered
  within the window and its after-commit work (e-mail) can reach its third party; 503
  otherwise. An outage makes a worker unready, never dead: it reconnects on its own.

The same verdicts are gauges (``orderflow_ready``, ``orderflow_broker_connected``,
``orderflow_database_reachable``), asked on every scrape: ``shared.vitals``.

A 503 carries a short JSON reason: ``{"status": "unavailable", "reason": "stock: broker: ..."}``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shared.logs import get_logger

log = get_logger("orderflow.health")


class Health:
    """What one worker's loop reports about itself."""

    def __init__(self, worker: str, window: float) -> None:
        self.worker = worker
        self.window = window
        self._passed_at = time.monotonic()
        self._database_at: float | None = None
        self._database_problem: str | None = None
        self._broker_problem: str | None = "not connected yet"
        self._work_problem: str | None = None
        self._ended: str | None = None

    def passed(self) -> None:
        """The loop made a pass (or another try to get through an outage)."""
        self._passed_at = time.monotonic()

    def broker(self, problem: str | None) -> None:
        self._broker_problem = problem

    def database(self, problem: str | None) -> None:
        """The database answered (``None``) or failed to."""
        self._database_problem = problem
        if problem is None:
            self._database_at = time.monotonic()

    def after_commit(self, problem: str | None) -> None:
        """Its after-commit work got through (``None``), or cannot reach its third party."""
        self._work_problem = problem

    def stopping(self) -> None:
        self._ended = "stopping"

    def died(self, error: BaseException) -> None:
        self._ended = f"died: {error!r}"[:300]

    @property
    def dead(self) -> bool:
        return bool(self._ended and self._ended.startswith("died"))

    def liveness(self) -> str | None:
        """Why the worker is not alive, or ``None``."""
        if self.dead:
            return self._ended
        idle = time.monotonic() - self._passed_at
        return f"no loop pass for {idle:.0f}s" if idle > self.window else None

    def readiness(self) -> str | None:
        """Why the worker should get no traffic, or ``None``."""
        if self._ended:
            return self._ended
        if self._broker_problem:
            return f"broker: {self._broker_problem}"
        problem = self.database_problem()
        return f"database: {problem}" if problem else self._work_problem

    def broker_problem(self) -> str | None:
        return self._broker_problem

    def database_problem(self) -> str | None:
        """Why the database counts as not answering, or ``None``."""
        if self._database_problem:
            return self._database_problem
        if self._database_at is None:
            return "not checked yet"
        silent = time.monotonic() - self._database_at
        return f"no answer for {silent:.0f}s" if silent > self.window else None


class Workers:
    """The workers of this process; each adds itself on start and leaves on a clean close."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: list[Health] = []

    def add(self, health: Health) -> None:
        with self._lock:
            if health not in self._all:
                self._all.append(health)

    def remove(self, health: Health) -> None:
        with self._lock:
            if health in self._all:
                self._all.remove(health)

    def problems(self, check: Callable[[Health], str | None]) -> list[str]:
        with self._lock:
            every = list(self._all)
        return [f"{h.worker}: {problem}" for h in every if (problem := check(h))]

    def liveness(self) -> list[str]:
        return self.problems(Health.liveness)

    def readiness(self) -> list[str]:
        with self._lock:
            running = bool(self._all)
        return self.problems(Health.readiness) if running else ["no worker running"]


WORKERS = Workers()


class _Endpoints(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/readyz"):
            problems = WORKERS.liveness() if path == "/healthz" else WORKERS.readiness()
            verdict = {"status": "unavailable", "reason": "; ".join(problems)}
            body = json.dumps(verdict if problems else {"status": "ok"}).encode()
            self._answer(503 if problems else 200, body, "application/json")
        else:
            self._answer(404, b'{"status": "not found"}', "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Probes come every few seconds: no access log."""


class HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, host: str = "0.0.0.0") -> None:
        super().__init__((host, port), _Endpoints)
        self.port = self.server_address[1]
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.1,), name="health", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


def serve(port: int) -> HealthServer | None:
    """Serve /metrics, /healthz and /readyz on ``port`` from a background thread; 0: off."""
    if not port:
        return None
    server = HealthServer(port)
    log.info("serving /metrics, /healthz and /readyz", port=server.port)
    return server
