"""How a rehearsal looks on a terminal: a live table while it runs, the report's tables after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .plan import Plan, Show, Snapshot
from .report import Report, WorkerFigures


@contextmanager
def live_progress(console: Console, plan: Plan) -> Iterator[Show]:
    """A ``Show`` that redraws the progress table in place (on a terminal; elsewhere the last
    state is printed when the rehearsal ends). Only a terminal gets Live's refresh thread, and
    nothing else the process prints is routed through Live: a Ctrl-C that lands while one thread
    holds Live's lock must not leave the cleanup waiting for it."""
    terminal = console.is_terminal
    with Live(
        console=console,
        refresh_per_second=4,
        transient=False,
        auto_refresh=terminal,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as live:

        def show(snapshot: Snapshot) -> None:
            live.update(progress_table(snapshot, plan))

        yield show


def progress_table(snapshot: Snapshot, plan: Plan) -> Group:
    head = Text.assemble(
        (f"{snapshot.phase}", "bold"),
        f"  {snapshot.elapsed:5.1f} s of {plan.duration:g} s   ",
        f"sent {snapshot.submitted} of {plan.orders}   completed {snapshot.completed}",
    )
    depths = Table(title=None, box=None, pad_edge=False)
    for name in snapshot.depths:
        depths.add_column(name, justify="right")
    if snapshot.depths:
        depths.add_row(*(str(depth) for depth in snapshot.depths.values()))
    return Group(head, Text("messages ready per worker queue:", style="dim"), depths)


def render(console: Console, report: Report) -> None:
    verdict = "[green]sustained[/]" if report.sustained else "[bold red]NOT sustained[/]"
    console.print(
        f"rehearsal {report.id}: offered {report.offered_rate:g} orders/s for "
        f"{report.duration_s:g} s, completed {report.completed} of {report.submitted} at "
        f"{report.sustained_rate:.2f}/s: {verdict}"
    )
    if report.latency_ms:
        lat = report.latency_ms
        console.print(
            f"submit to completed: p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms"
        )
    console.print(worker_table(report))
    console.print(
        "[dim]done: messages handled a second while sending; growth: of the ready messages in "
        "its queue; crit.: critical time, a message's wait from announced to taken up; cap.: "
        "messages a second one replica handles, measured where saturated, elsewhere at most "
        "what its CPU allows (≤); use: offered load over capacity; need: replicas for the "
        "target[/]"
    )
    if report.bottleneck:
        console.print(f"bottleneck: [bold]{report.bottleneck}[/]; {ceilings(report)}")
    console.print(
        f"for {report.target_rate:g} orders/s the workers need about {report.cores_needed:.1f} "
        f"CPU cores at {report.headroom:.0%} headroom (RabbitMQ and PostgreSQL not counted)"
    )
    for problem in report.problems:
        console.print(f"[red]- {problem}[/]")
    if report.kept:
        console.print(f"kept for inspection: vhost {report.vhost}, databases and logs in")
        console.print(f"{report.workdir}; remove them with:")
        for line in report.cleanup_commands:
            console.print(f"  {escape(line)}")


COLUMNS = [
    "worker",
    "repl.",
    "msgs\n/order",
    "done\n/s",
    "growth\n/s",
    "peak\nready",
    "crit.\np99 ms",
    "CPU\nms/ord",
    "cap.\n/repl.",
    "use",
    "need",
]


def ceilings(report: Report) -> str:
    """What limits the rate with the replicas started: the busiest worker, or the host's cores
    they all share, whichever comes first."""
    said = []
    if report.ceiling_rate:
        said.append(f"the replicas started keep up with about {report.ceiling_rate:.1f} orders/s")
    if report.host_ceiling_rate:
        said.append(
            f"this host's {report.host_cores} cores with about {report.host_ceiling_rate:.1f}"
        )
    return " and ".join(said) or "nothing measured to go on"


def worker_table(report: Report) -> Table:
    title = f"per worker; need: replicas for {report.target_rate:g} orders/s at "
    table = Table(
        title=title + f"{report.headroom:.0%} headroom",
        box=box.SIMPLE_HEAD,
        padding=0,
        show_edge=False,
    )
    for column in COLUMNS:
        table.add_column(
            column, justify="left" if column == "worker" else "right", no_wrap=column == "worker"
        )
    for name, worker in report.workers.items():
        style = "bold red" if worker.saturated else "bold" if name == report.bottleneck else ""
        table.add_row(*row(name, worker), style=style)
    return table


def row(name: str, w: WorkerFigures) -> list[str]:
    capacity = "-"
    if w.capacity_per_replica is not None:
        mark = "" if w.capacity_measured else "≤"
        capacity = f"{mark}{w.capacity_per_replica:.0f}"
    return [
        name,
        str(w.replicas),
        f"{w.messages_per_order:.1f}",
        f"{w.handled_per_s:.0f}",
        f"{w.queue_growth_per_s:+.0f}",
        str(w.peak_ready),
        "-" if w.critical_p99_ms is None else f"{w.critical_p99_ms:.0f}",
        f"{w.cpu_ms_per_order:.1f}",
        capacity,
        "-" if w.utilisation is None else f"{w.utilisation:.0%}",
        "-" if w.replicas_needed is None else str(w.replicas_needed),
    ]
