"""The ``orderflow`` command: run workers, act as a channel or an operator, run the demo."""

from __future__ import annotations

import json
import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from shared import health, heap, logs
from shared.settings import Settings

from ..cluster.registry import NAMES, UnknownWorker, build
from .aftersales import order_exchange, order_resend, order_return, return_app
from .back_office import payment_app, stock_app
from .documents import documents_app
from .parking import parking_app
from .rehearse import rehearse
from .report import report_app
from .review import review_app
from .stuck import order_stuck
from .support import (
    Wait,
    act,
    check_order,
    checked_worker,
    console,
    fail,
    load_settings,
    real_broker_settings,
    valid,
    worker_settings_checked,
)
from .topology import topology_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
order_app = typer.Typer(no_args_is_help=True, help="Look at orders.")
app.add_typer(order_app, name="order")
app.add_typer(stock_app, name="stock")
app.add_typer(payment_app, name="payment")


def configure_logging(settings: Settings, level: str | None) -> None:
    """Every line of this process as the log settings say (``--log-level`` overriding theirs)."""
    chosen = settings.logs
    levels = get_args(logs.LogLevel)
    if level is not None and level.lower() not in levels:
        raise fail(f"--log-level: {level!r} is not one of {', '.join(levels)}")
    logs.configure(chosen.log_format, level or chosen.log_level, chosen.replica)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


LogLevel = Annotated[
    str | None,
    typer.Option(help="debug, info, warning, error or critical [default: ORDERFLOW_LOG_LEVEL]"),
]
MetricsPort = Annotated[
    int | None, typer.Option(help="Serve /metrics, /healthz and /readyz on this port.")
]


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(NAMES)}.")],
    metrics_port: MetricsPort = None,
    log_level: LogLevel = None,
) -> None:
    """Run one worker in this process until SIGTERM or Ctrl-C."""
    settings = load_settings()
    configure_logging(settings, log_level)
    try:
        with worker_settings_checked():
            service = build(name)
    except UnknownWorker as error:
        raise fail(str(error)) from None
    health.serve(settings.metrics_port if metrics_port is None else metrics_port)
    built = checked_worker(service, settings)
    heap.settle()
    built.run(stop_on_signals())


@app.command()
def run(
    metrics_port: MetricsPort = None,
    log_level: LogLevel = None,
) -> None:
    """Run every worker in this process, one thread each, until SIGTERM or Ctrl-C."""
    from ..cluster.embedded import Cluster

    settings = load_settings()
    configure_logging(settings, log_level)
    health.serve(settings.metrics_port if metrics_port is None else metrics_port)
    stop = stop_on_signals()
    with worker_settings_checked():
        threads = Cluster(settings).run_threads(stop)
    console.print(f"running {len(threads)} workers on {settings.broker_url.split('@')[-1]}")
    stop.wait()
    for thread in threads:
        thread.join()


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="JSON: one order object, or a list of them.")],
) -> None:
    """Publish order.submit commands exactly as an upstream sales channel would."""
    from ..cluster.channel import ChannelPublisher, submit_envelope

    orders = read_orders(file)
    settings = real_broker_settings(
        "no worker would ever see this order", instead=" or run `orderflow demo`"
    )
    with ChannelPublisher(settings) as channel:
        envelopes = [submit_envelope(order) for order in orders]
        channel.send(envelopes)
    for envelope in envelopes:
        console.print(f"submitted {envelope.subject} as message {envelope.id}")


def read_orders(file: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(file.read_text())
    except OSError as error:
        raise fail(f"{file}: cannot read it: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise fail(
            f"{file}: not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    orders = data if isinstance(data, list) else [data]
    for index, order in enumerate(orders):
        if not isinstance(order, dict):
            where = f"[{index}]" if isinstance(data, list) else "the document"
            raise fail(f"{file}: {where} must be a JSON object, got {type(order).__name__}")
    return orders


@order_app.command("show")
def order_show(
    order_id: Annotated[str, typer.Argument(help="The order id intake assigned.")],
) -> None:
    """An order's status and its timeline across every worker."""
    from ..operator.views import OrderNotFound, render_order

    try:
        render_order(console, load_settings(), order_id)
    except OrderNotFound as error:
        raise fail(str(error), code=1) from None


@order_app.command("cancel")
def order_cancel(
    order_id: Annotated[str, typer.Argument(help="The order to cancel.")],
    reason: Annotated[str, typer.Option(help="Why the customer cancels (recorded).")],
    wait: Wait = 15,
) -> None:
    """Ask to cancel an order; the warehouse intercepts it unless it has left."""
    from shared.contracts import OrderCancel

    command = valid(OrderCancel, order_id=order_id, reason=reason.strip())
    check_order(order_id, "cancel")
    act(
        command,
        {
            "fulfillment.cancelled": "cancelled: the warehouse stopped it",
            "fulfillment.cancel_refused": "refused: the parcels have left; offer a return",
        },
        wait,
        refused={"fulfillment.cancel_refused"},
    )


@order_app.command("change-address")
def order_change_address(
    order_id: Annotated[str, typer.Argument(help="The order to redirect.")],
    line1: Annotated[str, typer.Option(help="Street and number.")],
    city: Annotated[str, typer.Option()],
    postal_code: Annotated[str, typer.Option()],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2, e.g. DE.")],
    line2: Annotated[str | None, typer.Option()] = None,
    pickup_point_id: Annotated[str | None, typer.Option()] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    wait: Wait = 15,
) -> None:
    """Change the delivery address; shipping accepts it until the parcels are booked."""
    from shared.contracts import OrderChangeAddress

    address = {
        "line1": line1,
        "line2": line2,
        "city": city,
        "postal_code": postal_code,
        "country": country,
    }
    command = valid(
        OrderChangeAddress,
        order_id=order_id,
        address=address,
        pickup_point_id=pickup_point_id,
        reason=reason,
    )
    check_order(order_id, "change the address")
    act(
        command,
        {
            "shipment.address_changed": "changed",
            "shipment.address_change_refused": "refused",
        },
        wait,
        refused={"shipment.address_change_refused"},
    )


order_app.command("return")(order_return)
order_app.command("exchange")(order_exchange)
order_app.command("resend")(order_resend)
order_app.command("stuck")(order_stuck)
app.add_typer(return_app, name="return")
app.add_typer(parking_app, name="parking")
app.add_typer(review_app, name="review")
app.add_typer(report_app, name="report")
app.add_typer(topology_app, name="topology")
app.add_typer(documents_app, name="documents")
app.command()(rehearse)


contracts_app = typer.Typer(no_args_is_help=True, help="The published message contract.")
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("export")
def contracts_export() -> None:
    """Regenerate contracts/ (AsyncAPI, JSON Schemas), the generated docs/ and the pages' maps."""
    from ..export.asyncapi import export

    for path in export():
        console.print(f"wrote {path}")


class MapFormat(StrEnum):
    TEXT = "text"
    MERMAID = "mermaid"


@contracts_app.command("map")
def contracts_map(
    drawn_as: Annotated[
        MapFormat, typer.Option("--format", help="Text, or a Mermaid flowchart.")
    ] = MapFormat.TEXT,
) -> None:
    """The choreography: who publishes each message and who consumes it, read from the code."""
    from ..export.choreography import flows
    from ..export.choreography_map import mermaid, text

    print((mermaid if drawn_as is MapFormat.MERMAID else text)(flows()), end="")


@app.command("settings")
def settings_list(
    markdown: Annotated[bool, typer.Option(help="Print docs/settings.md instead.")] = False,
) -> None:
    """Every setting: environment variable, type, default, format and meaning."""
    from ..export.settings_doc import markdown as settings_markdown
    from ..export.settings_doc import print_settings

    if markdown:
        print(settings_markdown(), end="")
    else:
        print_settings(console)


@app.command()
def demo(
    orders: Annotated[
        int, typer.Option(help="Extra happy-path orders on top of the scenarios.")
    ] = 6,
) -> None:
    """Run the whole saga in this process on the in-memory broker and SQLite."""
    from ..demo import run_demo

    run_demo(console, extra_orders=orders)
