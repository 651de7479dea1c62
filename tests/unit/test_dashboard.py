"""The Grafana dashboard, read without Grafana: every query goes through the data-source variable,
every expression is PromQL that names the metrics it reads, and gauges every replica of a worker
reports alike (intake's saga view, outbox, timers, parking lot) are max'ed, never summed. That
Prometheus parses each one and the metrics exist: tests/integration/test_prometheus.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests import dashboards

DASHBOARD = dashboards.load()
PANELS = [p for p in dashboards.panels(DASHBOARD) if p["type"] != "row"]
EXPRESSIONS = dashboards.expressions(DASHBOARD)
SAME_ON_EVERY_REPLICA = {
    "orderflow_orders",
    "orderflow_orders_stuck",
    "orderflow_order_oldest_age_seconds",
    "orderflow_outbox_backlog",
    "orderflow_outbox_oldest_age_seconds",
    "orderflow_timers_overdue",
    "orderflow_parking_lot_messages",
}
VIA_VARIABLE = {"type": "prometheus", "uid": "${datasource}"}


def test_the_data_source_is_a_variable_every_panel_and_query_uses() -> None:
    (variable,) = [v for v in DASHBOARD["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in PANELS:
        assert panel["datasource"] == VIA_VARIABLE, panel["title"]
        assert all(t["datasource"] == VIA_VARIABLE for t in panel["targets"]), panel["title"]
    queries = [v for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]
    assert all(v["datasource"] == VIA_VARIABLE for v in queries)


def test_the_dashboard_shows_saga_health_red_and_the_broker() -> None:
    rows = [p["title"] for p in DASHBOARD["panels"] if p["type"] == "row"]
    assert rows == [
        "Saga health",
        "Per worker: rate, errors, duration",
        "Per message type: rate, errors, duration",
        "Workers",
        "Broker (RabbitMQ)",
    ]
    titles = [p["title"] for p in PANELS]
    assert len(titles) == len(set(titles)), "two panels share a title"
    named = set().union(*(dashboards.metric_names(e.text) for e in EXPRESSIONS))
    assert SAME_ON_EVERY_REPLICA | {"orderflow_compensations_total"} <= named
    assert {"orderflow_messages_total", "orderflow_critical_time_seconds_bucket"} <= named
    assert {"rabbitmq_detailed_queue_messages_ready", "rabbitmq_connections"} <= named


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=lambda e: e.where)
def test_each_expression_names_orderflow_or_rabbitmq_metrics_only(
    expression: dashboards.Expression,
) -> None:
    names = dashboards.metric_names(expression.text)
    assert names, "an expression that reads no metric"
    assert {
        n for n in names if not n.startswith(("orderflow_", "rabbitmq_")) and n != "up"
    } == set()


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=lambda e: e.where)
def test_gauges_every_replica_reports_alike_are_maxed_not_summed(
    expression: dashboards.Expression,
) -> None:
    for selector, around in dashboards.selectors(expression.text):
        if selector.name in SAME_ON_EVERY_REPLICA:
            assert dashboards.innermost_aggregation(around) == "max", str(selector)


def test_grafana_variables_are_known_and_replaced() -> None:
    assert all("$" not in e.text for e in EXPRESSIONS)
    with pytest.raises(KeyError, match=r"\$nope"):
        dashboards.substitute('rate(x{worker=~"$nope"}[$__rate_interval])')


def panel_area(panel: dict[str, Any]) -> set[tuple[int, int]]:
    box = panel["gridPos"]
    return {
        (x, y)
        for x in range(box["x"], box["x"] + box["w"])
        for y in range(box["y"], box["y"] + box["h"])
    }


def test_no_two_panels_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboards.panels(DASHBOARD):
        for cell in panel_area(panel):
            assert cell not in taken, f"{panel['title']!r} overlaps {taken[cell]!r}"
            taken[cell] = panel["title"]
