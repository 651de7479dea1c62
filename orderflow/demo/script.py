"""The demo's script: submit every story's order, then let the stage play the outside world's
moves and the clock jump to each next timer, with a progress bar, until nothing is left."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from services.intake.model import TERMINAL
from services.intake.store import IntakeUnitOfWork
from shared.clock import ManualClock
from shared.settings import Settings

from ..cluster.channel import ChannelPublisher, submit_envelope
from ..cluster.databases import WorkerDatabases
from ..cluster.embedded import Cluster
from ..operator.views import when
from ..scenarios.stage import Stage, play_in_virtual_time
from ..scenarios.story import Story


def play(
    console: Console,
    cluster: Cluster,
    clock: ManualClock,
    settings: Settings,
    dbs: WorkerDatabases,
    stories: Sequence[Story],
) -> list[str]:
    """Submit every order, then play the stage and the timers until nothing is left to do.
    Returns the moves whose moment never came."""
    submissions = [s.submission for s in stories for _ in range(s.submissions)]
    stage = Stage.of(stories)
    start = clock.now()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with ChannelPublisher(settings) as channel, Progress(*columns, console=console) as progress:
        submitted = progress.add_task("submitted        ", total=len(submissions))
        acted = progress.add_task("scripted moves   ", total=len(stage.moves))
        finished = progress.add_task("settled          ", total=len(stories))

        def advance() -> None:
            cluster.pump()
            progress.update(finished, completed=_settled(cluster))
            _describe(progress, finished, "settled", clock.now(), start)

        for submission in submissions:
            channel.send([submit_envelope(submission)])
            progress.advance(submitted)
            advance()
            time.sleep(0.08)

        def between(moved: str | None) -> None:
            if moved is not None:
                progress.update(acted, completed=len(stage.done))
                _describe(progress, acted, moved, clock.now(), start)
            advance()
            if moved is None:
                time.sleep(0.02)

        play_in_virtual_time(stage, cluster, channel.send, dbs, between)
    return stage.missed()


def _describe(progress: Progress, task: TaskID, what: str, now: datetime, start: datetime) -> None:
    moment = when(now, start) if now > start else "+0s"
    progress.update(task, description=f"{what[:48]:<48} {moment:>7}")


def _settled(cluster: Cluster) -> int:
    sessions = cluster["intake"].sessions
    assert sessions is not None
    with sessions() as session:
        counts = IntakeUnitOfWork(session).orders.counts_by_status()
    return sum(n for status, n in counts.items() if status in TERMINAL)
