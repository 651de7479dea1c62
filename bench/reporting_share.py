"""What the reporting worker adds to the CPU per order (issue 12 allows it 10%): the burst run
without reporting and with it, ``pairs`` times, on the same box in the same minutes; every other
pair runs with reporting first, so a box that gets slower (or faster) run by run does not count
against one side.

Without reporting its queue is never declared and the other workers publish no event batches
(``shared.event_batches``, read by reporting alone): the difference is all it costs, in its own
process, in the others' publishing, in RabbitMQ and in PostgreSQL. That difference
carries the other workers' run-to-run noise (±1 ms an order on this box); the direct cost,
reporting's own process plus what RabbitMQ and PostgreSQL added, leaves it out. The summary is
the median of each."""

from __future__ import annotations

import argparse
import statistics
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
    for pair in range(pairs):
        if pair % 2 == 0:
            without.append(run(args, {**replicas, "reporting": 0}))
            with_it.append(run(args, replicas))
        else:
            with_it.append(run(args, replicas))
            without.append(run(args, {**replicas, "reporting": 0}))
    return share(without, with_it)


def share(without: list[dict[str, Any]], with_it: list[dict[str, Any]]) -> dict[str, Any]:
    """Each pair's total CPU per order without and with reporting, what reporting added (in ms
    and as a share of the total without it), its own process's part and where the rest went;
    the direct cost (its own process, RabbitMQ's and PostgreSQL's additions) and its share; and
    the median shares."""
    rows = []
    for off, on in zip(without, with_it, strict=True):
        added = on["cpu_ms_per_order_total"] - off["cpu_ms_per_order_total"]
        own = on.get("cpu_ms_per_order_reporting", 0.0)
        parts = {f"added_{part}": round(on[part] - off[part], 3) for part in PARTS}
        direct = own + parts["added_broker_cpu_ms_per_order"]
        direct += parts["added_postgres_cpu_ms_per_order"]
        rows.append(
            {
                "without_ms": off["cpu_ms_per_order_total"],
                "with_ms": on["cpu_ms_per_order_total"],
                "added_ms": round(added, 3),
                "added_share": round(added / off["cpu_ms_per_order_total"], 3),
                "reporting_ms": own,
                **parts,
                "direct_ms": round(direct, 3),
                "direct_share": round(direct / off["cpu_ms_per_order_total"], 3),
            }
        )
    return {
        "reporting_share": rows,
        "reporting_share_median": statistics.median(r["added_share"] for r in rows),
        "reporting_direct_share_median": statistics.median(r["direct_share"] for r in rows),
    }


def describe(rows: list[dict[str, Any]]) -> str:
    lines = ["CPU ms per order   without   with   added   share   own   direct   share"]
    for row in rows:
        lines.append(
            f"{'':17s}{row['without_ms']:8.2f} {row['with_ms']:6.2f} {row['added_ms']:7.2f} "
            f"{row['added_share']:6.1%} {row['reporting_ms']:5.2f} {row['direct_ms']:8.2f} "
            f"{row['direct_share']:6.1%}"
        )
    added = statistics.median(row["added_share"] for row in rows)
    direct = statistics.median(row["direct_share"] for row in rows)
    lines.append(f"median share: {added:.1%} added to the total, {direct:.1%} direct")
    return "\n".join(lines)
