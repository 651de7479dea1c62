"""The bench's own arithmetic: when a peak step counts as sustained, where the climb goes next,
and how latencies and per-order counts are worked out."""

from __future__ import annotations

import argparse

import pytest

from bench.counts import Cpu, cpu_per_order, per_order
from bench.peak import Step, next_rate, peak_of
from bench.reporting_share import measure, share
from orderflow.rehearse.capacity import growth, holds
from orderflow.rehearse.pacing import latencies, paced, percentile

INFLOW = 1000.0  # messages a second: 50 orders/s at 20 messages per order


def every_half_second(*backlog: int) -> list[tuple[float, int]]:
    return [(0.5 * (n + 1), b) for n, b in enumerate(backlog)]


def step(rate: float, held: bool) -> Step:
    return Step(rate, every_half_second(0), rate * 20, held)


def test_a_flat_empty_backlog_holds() -> None:
    assert holds(every_half_second(0, 0, 0, 0, 0, 0, 0, 0, 0, 0), INFLOW)


def test_one_burst_at_the_end_of_a_quiet_step_holds() -> None:
    assert holds(every_half_second(0, 0, 0, 0, 0, 0, 0, 0, 0, 73), INFLOW)


def test_a_backlog_that_keeps_growing_fails_even_within_the_bound() -> None:
    samples = every_half_second(130, 170, 210, 260, 300, 340, 390, 430, 470, 520)
    assert growth(samples) == pytest.approx(86, abs=1)
    assert not holds(samples, INFLOW)


def test_a_flat_backlog_above_one_second_of_inflow_fails() -> None:
    assert not holds(every_half_second(*[1200] * 10), INFLOW)


def test_a_backlog_left_by_the_step_before_that_drains_holds() -> None:
    assert holds(every_half_second(1500, 1300, 1100, 900, 700, 500, 300, 100, 0, 0), INFLOW)


def test_no_samples_never_hold() -> None:
    assert not holds([], INFLOW)


def test_the_climb_goes_up_after_a_step_that_held() -> None:
    assert next_rate([step(40, True)], factor=1.25) == 50


def test_the_climb_stops_at_the_first_step_that_fails_after_one_held() -> None:
    steps = [step(40, True), step(50, False)]
    assert next_rate(steps) is None
    assert peak_of(steps) == 40


def test_the_climb_comes_down_while_no_step_has_held() -> None:
    assert next_rate([step(40, False)], factor=1.25) == 32
    assert next_rate([step(40, False), step(32, False)], factor=1.25) == pytest.approx(25.6)


def test_the_climb_ends_at_the_first_step_that_holds_on_the_way_down() -> None:
    steps = [step(40, False), step(32, True)]
    assert next_rate(steps) is None
    assert peak_of(steps) == 32


def test_no_peak_when_no_step_held() -> None:
    assert peak_of([step(40, False)]) is None


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 51
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7


def test_paced_sends_a_tenth_of_a_second_s_worth_every_tenth_of_a_second() -> None:
    orders = [{"n": n} for n in range(7)]
    assert [(len(batch), due) for batch, due in paced(orders, rate=30)] == [
        (3, 0.0),
        (3, 0.1),
        (1, 0.2),
    ]
    assert [len(batch) for batch, due in paced(orders * 100, rate=None)] == [250, 250, 200]


def test_latencies_run_from_the_submit_and_leave_out_orders_of_other_windows() -> None:
    sent_at = {"EXT-1": 10.0, "EXT-2": 11.0}
    external = {"o1": "EXT-1", "o2": "EXT-2", "o-before": "EXT-0"}
    reached = {
        "placed": {"o1": 10.1, "o2": 11.3, "o-before": 99.0},
        "dispatched": {"o1": 11.0, "o2": 12.0},
        "completed": {"o1": 12.0, "o2": 14.0},
    }
    summary = latencies(sent_at, external, reached)
    assert summary["placed_p50_ms"] == pytest.approx(100)
    assert summary["placed_p99_ms"] == pytest.approx(300)
    assert summary["dispatched_p99_ms"] == pytest.approx(1000)
    assert summary["p50_ms"] == pytest.approx(2000)
    assert summary["p99_ms"] == pytest.approx(3000)
    assert summary["mean_ms"] == pytest.approx(2500)


def test_counts_per_order_are_differences_over_the_orders_between() -> None:
    before = {"stock": {"handled": 10.0, "commits": 4.0}}
    after = {"stock": {"handled": 210.0, "commits": 54.0}, "intake": {"handled": 300.0}}
    assert per_order(before, after, 100) == {
        "intake": {"handled": 3.0},
        "stock": {"commits": 0.5, "handled": 2.0},
    }


def test_cpu_per_order_adds_the_broker_and_postgresql_to_the_workers() -> None:
    before = Cpu({"stock": 1.0, "intake": 2.0}, broker=10.0, postgres=20.0)
    after = Cpu({"stock": 1.5, "intake": 3.0}, broker=10.5, postgres=21.0)
    cost = cpu_per_order(before, after, 100)
    assert cost["cpu_ms_per_order"] == pytest.approx(15)
    assert cost["cpu_ms_per_order_stock"] == pytest.approx(5)
    assert cost["cpu_ms_per_order_total"] == pytest.approx(30)


def test_reporting_s_share_is_what_it_adds_over_the_total_without_it() -> None:
    without = {"cpu_ms_per_order_total": 20.0, "cpu_ms_per_order": 15.0}
    without |= {"broker_cpu_ms_per_order": 2.6, "postgres_cpu_ms_per_order": 2.4}
    with_it = {"cpu_ms_per_order_total": 22.5, "cpu_ms_per_order": 16.4}
    with_it |= {"broker_cpu_ms_per_order": 3.5, "postgres_cpu_ms_per_order": 2.6}
    with_it |= {"cpu_ms_per_order_reporting": 1.3}

    result = share([without], [with_it])
    [row] = result["reporting_share"]

    assert (row["added_ms"], row["added_share"], row["reporting_ms"]) == (2.5, 0.125, 1.3)
    assert (row["added_cpu_ms_per_order"], row["added_broker_cpu_ms_per_order"]) == (1.4, 0.9)
    assert row["added_postgres_cpu_ms_per_order"] == 0.2
    assert (row["direct_ms"], row["direct_share"]) == (2.4, 0.12)  # 1.3 + 0.9 + 0.2, of 20
    assert (result["reporting_share_median"], result["reporting_direct_share_median"]) == (
        0.125,
        0.12,
    )


def test_pairs_take_turns_at_going_first_so_a_drifting_box_counts_against_neither_side() -> None:
    order: list[str] = []

    def run(_: argparse.Namespace, replicas: dict[str, int]) -> dict[str, float]:
        order.append("without" if replicas.get("reporting") == 0 else "with")
        total = 10.0 + len(order)  # the box gets slower run by run
        return {
            "cpu_ms_per_order_total": total,
            "cpu_ms_per_order": total,
            "broker_cpu_ms_per_order": 0.0,
            "postgres_cpu_ms_per_order": 0.0,
        }

    result = measure(argparse.Namespace(), {}, run, pairs=2)

    assert order == ["without", "with", "with", "without"]
    added = [row["added_ms"] for row in result["reporting_share"]]
    assert added == [1.0, -1.0] and sum(added) == 0
