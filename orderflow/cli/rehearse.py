"""``orderflow rehearse``: a capacity check before a big sale."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from ..cluster.registry import NAMES
from .support import console, errors, fail, load_settings

MIN_ORDERS = 10
"""Fewer orders than this tell nothing about a rate."""


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def rehearse(
    rate: Annotated[float, typer.Option(help="Orders a second to offer, steadily.")],
    duration: Annotated[float, typer.Option(help="Seconds to keep offering them.")],
    replicas: Annotated[
        list[str] | None,
        typer.Option(
            "--replicas", help="WORKER=N: run N replicas of a worker (repeatable; default 1)."
        ),
    ] = None,
    target: Annotated[
        float | None,
        typer.Option(help="Orders a second to count replicas for (default: --rate)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option(help="Keep the vhost and databases for inspection (not the workers).")
    ] = False,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.TABLE,
    rabbitmqctl: Annotated[
        str | None,
        typer.Option(
            help="How to run rabbitmqctl, e.g. 'kubectl exec rabbitmq-0 -- rabbitmqctl' "
            "(default: ORDERFLOW_REHEARSAL_RABBITMQCTL, else rabbitmqctl)."
        ),
    ] = None,
    warm_up_seconds: Annotated[
        float | None,
        typer.Option(help="Seconds of orders at the rate before measuring, not counted."),
    ] = None,
    drain_seconds: Annotated[
        float | None,
        typer.Option(help="Time the orders get to complete after the last is sent."),
    ] = None,
    headroom: Annotated[
        float | None, typer.Option(help="Share of each replica kept free, e.g. 0.2.")
    ] = None,
) -> None:
    """Offer synthetic orders at a steady rate to every worker, started here as local processes
    on a vhost and databases of the rehearsal's own on the deployment's RabbitMQ and PostgreSQL;
    report the rate sustained, each worker's saturation, the bottleneck and the replicas a target
    rate needs; clean up. Exits 1 when the offered rate is not sustained."""
    from ..rehearse.namespace import RehearsalError, new_namespace
    from ..rehearse.plan import Plan
    from ..rehearse.run import Interrupted
    from ..rehearse.run import rehearse as run_rehearsal
    from ..rehearse.show import live_progress, render

    plan = Plan(
        rate=positive("--rate", rate),
        duration=positive("--duration", duration),
        replicas=replica_counts(replicas or []),
        target=None if target is None else positive("--target", target),
        keep=keep,
        options=options(
            rabbitmqctl=rabbitmqctl,
            warm_up_seconds=warm_up_seconds,
            drain_seconds=drain_seconds,
            headroom=headroom,
        ),
    )
    if plan.rate * plan.duration < MIN_ORDERS:
        raise fail(f"--rate * --duration: {MIN_ORDERS} orders at least, to measure a rate")
    try:
        namespace = new_namespace(load_settings(), plan.options.rabbitmqctl)
    except RehearsalError as error:
        raise fail(str(error)) from None
    try:
        with live_progress(errors, plan) as show:
            report = run_rehearsal(namespace, plan, show)
    except KeyboardInterrupt as error:
        raise fail(f"interrupted; {cleanup_said(error, plan.keep)}", code=130) from None
    except Interrupted as error:
        raise fail(f"stopped by SIGTERM; {cleanup_said(error, plan.keep)}", code=143) from None
    except Exception as error:  # a broker or database lost midway, say: one line, not a trace
        known = isinstance(error, RehearsalError | TimeoutError | RuntimeError)
        said = str(error) if known else f"the rehearsal failed: {type(error).__name__}: {error}"
        raise fail(f"{said}; {cleanup_said(error, plan.keep)}") from None
    if output == Format.JSON:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        render(console, report)
    if report.cleanup_problems:
        raise fail(f"cleanup failed: {'; '.join(report.cleanup_problems)}", code=3)
    if not report.sustained:
        raise fail(f"{plan.rate:g} orders/s not sustained: {'; '.join(report.problems)}", code=1)


def cleanup_said(error: BaseException, keep: bool) -> str:
    """What became of the rehearsal's vhost and databases after ``error``."""
    notes = getattr(error, "__notes__", [])
    if notes:
        return "; ".join(notes)
    return "the vhost and databases are kept" if keep else "the vhost and databases are removed"


def positive(option: str, value: float) -> float:
    if not value > 0:
        raise fail(f"{option}: must be greater than 0, got {value:g}")
    return value


def replica_counts(given: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in given:
        name, equals, count = item.partition("=")
        if name not in NAMES:
            known = ", ".join(NAMES)
            raise fail(f"--replicas {item}: no worker named {name!r}; choose one of {known}")
        if not equals or not count.isdigit() or int(count) < 1:
            raise fail(f"--replicas {item}: expected {name}=N with N a whole number from 1")
        counts[name] = int(count)
    return counts


def options(**given: Any) -> Any:
    """The rehearsal's settings, the options given overriding the environment's; a bad one is
    named with both its option and its variable."""
    from ..rehearse.settings import RehearsalSettings

    try:
        return RehearsalSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "*"
            where = f"--{name.replace('_', '-')} (ORDERFLOW_REHEARSAL_{name.upper()})"
            problems.append(f"{where}: {problem['msg']}")
        raise fail("; ".join(problems)) from None
