"""The Grafana dashboard as its tests read it: every PromQL expression in it (panels and
variables), with Grafana's variables replaced the way Grafana would before asking Prometheus, and
the metrics each expression names (read with promql-parser, the Prometheus grammar in Rust)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser

DASHBOARD = (
    Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards" / "orderflow.json"
)

GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
    "worker": ".*",
    "queue": ".*",
}
"""Values Grafana would put in: its built-ins at a one-hour range, and "All" for our multi-value
variables (their ``allValue`` is ``.*``)."""

VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<expr>.+),\s*)?(?P<label>\w+)\)$")


@dataclass(frozen=True)
class Expression:
    where: str
    """The panel's title and the target's refId, or the variable's name: for failure messages."""
    text: str
    """As Prometheus gets it: Grafana's variables replaced."""


def load() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def substitute(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            raise KeyError(f"unknown Grafana variable ${name} in {text!r}")
        return GRAFANA_VARIABLES[name]

    return VARIABLE.sub(value, text)


def expressions(dashboard: dict[str, Any]) -> list[Expression]:
    """Every panel target's ``expr`` and every query variable's series selector."""
    found = [
        Expression(f"panel {panel['title']!r} target {target['refId']}", substitute(target["expr"]))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable["query"]["query"])
        assert match and match["expr"], f"variable {variable['name']}: label_values(metric, label)"
        found.append(Expression(f"variable {variable['name']!r}", substitute(match["expr"])))
    return found


def selectors(text: str) -> Iterator[tuple[promql_parser.VectorSelector, list[promql_parser.Expr]]]:
    """Each series selector in ``text``, with the expressions around it (outermost first)."""
    around: list[promql_parser.Expr] = []
    found: list[tuple[promql_parser.VectorSelector, list[promql_parser.Expr]]] = []

    def enter(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append((node, list(around)))
        around.append(node)

    def leave(node: promql_parser.Expr) -> None:
        around.pop()

    promql_parser.walk(promql_parser.parse(text), enter, leave)
    return iter(found)


def metric_names(text: str) -> set[str]:
    names = set()
    for selector, _ in selectors(text):
        if selector.name is None:
            raise ValueError(f"name the metric in {selector} (in {text!r})")
        names.add(selector.name)
    return names


def innermost_aggregation(around: list[promql_parser.Expr]) -> str | None:
    """The operator of the aggregation nearest a selector (``sum``, ``max``...), if any."""
    aggregations = [node for node in around if isinstance(node, promql_parser.AggregateExpr)]
    return str(aggregations[-1].op) if aggregations else None
