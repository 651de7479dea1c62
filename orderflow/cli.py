"""The ``orderflow`` command: run workers, act as a channel or an operator, run the demo."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from shared import metrics
from shared.envelope import describe
from shared.settings import Settings
from shared.worker import Worker

from .workers import NAMES, UnknownWorker, build

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
order_app = typer.Typer(no_args_is_help=True, help="Look at orders.")
stock_app = typer.Typer(no_args_is_help=True, help="Operator actions on stock.")
app.add_typer(order_app, name="order")
app.add_typer(stock_app, name="stock")
console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise fail(
            f"settings: {describe(error)} (from ORDERFLOW_* environment variables)"
        ) from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


LogLevel = Annotated[str, typer.Option(help="Logging level.")]


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(NAMES)}.")],
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics on this port.")] = None,
    log_level: LogLevel = "info",
) -> None:
    """Run one worker in this process until SIGTERM or Ctrl-C."""
    configure_logging(log_level)
    settings = load_settings()
    try:
        service = build(name)
    except UnknownWorker as error:
        raise fail(str(error)) from None
    except ValidationError as error:
        raise fail(
            f"{name} settings: {describe(error)} (from ORDERFLOW_{name.upper()}_*)"
        ) from None
    metrics.serve(settings.metrics_port if metrics_port is None else metrics_port)
    Worker(service, settings).run(stop_on_signals())


@app.command()
def run(
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics on this port.")] = None,
    log_level: LogLevel = "info",
) -> None:
    """Run every worker in this process, one thread each, until SIGTERM or Ctrl-C."""
    from .embedded import Cluster

    configure_logging(log_level)
    settings = load_settings()
    metrics.serve(settings.metrics_port if metrics_port is None else metrics_port)
    stop = stop_on_signals()
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
    from .channel import ChannelPublisher, submit_envelope

    settings = load_settings()
    if not settings.on_real_broker:
        raise fail(
            "ORDERFLOW_BROKER_URL is memory://, which lives inside one process, so no worker "
            "would ever see this order. Point it at RabbitMQ (amqp://...) or run `orderflow demo`."
        )
    orders = read_orders(file)
    with ChannelPublisher(settings) as channel:
        envelopes = [submit_envelope(order) for order in orders]
        channel.submit(envelopes)
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
    from .views import OrderNotFound, render_order

    try:
        render_order(console, load_settings(), order_id)
    except OrderNotFound as error:
        raise fail(str(error), code=1) from None


@stock_app.command("set")
def stock_set(
    sku: Annotated[str, typer.Argument(help="The SKU, e.g. MUG-BLUE.")],
    quantity: Annotated[int, typer.Argument(help="The on-hand count after a stock take.")],
    location: Annotated[str | None, typer.Option(help="Bin location, e.g. A-01-02.")] = None,
    weight_grams: Annotated[int | None, typer.Option(help="Weight of one unit in grams.")] = None,
) -> None:
    """Set a SKU's on-hand quantity; the difference is recorded in stock's ledger."""
    from .operations import StockRefused, set_stock

    try:
        item = set_stock(load_settings(), sku, quantity, location, weight_grams)
    except StockRefused as error:
        raise fail(str(error)) from None
    console.print(
        f"{item.sku}: {item.on_hand} on hand, {item.reserved} reserved, at {item.location}"
    )


contracts_app = typer.Typer(no_args_is_help=True, help="The published message contract.")
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("export")
def contracts_export() -> None:
    """Regenerate contracts/ (AsyncAPI and JSON Schemas) from the code."""
    from .contracts import export

    for path in export():
        console.print(f"wrote {path}")


@app.command()
def demo(
    orders: Annotated[
        int, typer.Option(help="Extra happy-path orders on top of the scenarios.")
    ] = 6,
) -> None:
    """Run the whole saga in this process on the in-memory broker and SQLite."""
    from .demo import run_demo

    run_demo(console, extra_orders=orders)
