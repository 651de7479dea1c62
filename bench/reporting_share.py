"""What the reporting worker adds to the CPU per order (issue 12 allows it 10%): the burst run
without reporting and with it, alternating, ``pairs`` times, on the same box in the same minutes.

Without reporting its queue is never declared, so RabbitMQ routes its events nowhere: the
difference is all it costs, in its own process, in RabbitMQ and in PostgreSQL."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Run = Callable[[argparse.Namespace, dict[str, int]], dict[str, Any]]
PARTS = ("cpu_ms_per_order", "broker_cpu_ms_per_order", "postgres_cpu_ms_per_order")


def measure(
    args: argparse.Namespace, replicas: dict[str, int], run: Run, pairs: int
) -> dict[str, Any]:
    """``run`` (the burst on worker processes) without and with reporting, ``pairs`` times."""
    args.skip_raw = True
    without: list[dict[str, Any]] = []
    with_it: list[dict[str, Any]] = []
    for _ in range(pairs):
        without.append(run(args, {**replicas, "reporting": 0}))
        with_it.append(run(args, replicas))
    return share(without, with_it)


def share(without: list[dict[str, Any]], with_it: list[dict[str, Any]]) -> dict[str, Any]:
    """Each pair's total CPU per order without and with reporting, what reporting added (in ms
    and as a share of the total without it), its own process's part and where the rest went."""
    rows = []
    for off, on in zip(without, with_it, strict=True):
        added = on["cpu_ms_per_order_total"] - off["cpu_ms_per_order_total"]
        rows.append(
            {
                "without_ms": off["cpu_ms_per_order_total"],
                "with_ms": on["cpu_ms_per_order_total"],
                "added_ms": round(added, 3),
                "added_share": round(added / off["cpu_ms_per_order_total"], 3),
                "reporting_ms": on.get("cpu_ms_per_order_reporting", 0.0),
                **{f"added_{part}": round(on[part] - off[part], 3) for part in PARTS},
            }
        )
    return {"reporting_share": rows}


def describe(rows: list[dict[str, Any]]) -> str:
    lines = ["CPU ms per order   without   with   added   share   reporting's own"]
    for row in rows:
        lines.append(
            f"{'':17s}{row['without_ms']:8.2f} {row['with_ms']:6.2f} {row['added_ms']:7.2f} "
            f"{row['added_share']:6.1%} {row['reporting_ms']:9.2f}"
        )
    return "\n".join(lines)
