"""The stage the stories play on: each story's moves are armed when its order is ready and
carried out once their delay has passed, in virtual time (the demo, the fuzzer) or real time
(the end-to-end test, its delays shrunk by ``pace``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.clock import ManualClock
from shared.contracts import Message
from shared.envelope import Envelope, wrap

from ..cluster.channel import submit_envelope
from ..cluster.databases import WorkerDatabases
from ..cluster.embedded import Cluster
from .story import Story, orders_by_key
from .world import Move, Snapshot


def as_told(delay: timedelta) -> timedelta:
    return delay


@dataclass
class Stage:
    moves: list[tuple[tuple[str, str], Move]]
    pace: Callable[[timedelta], timedelta] = as_told
    """How long a move's delay takes here."""
    armed: dict[int, datetime] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    log: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls, stories: Sequence[Story], pace: Callable[[timedelta], timedelta] = as_told
    ) -> Stage:
        return cls([(story.key, move) for story in stories for move in story.moves], pace)

    @property
    def waiting(self) -> list[int]:
        return [n for n in range(len(self.moves)) if n not in self.done]

    def act(self, dbs: WorkerDatabases, now: datetime) -> list[Envelope]:
        """Arm what became ready; return the commands of every move that is due."""
        orders = orders_by_key(dbs)
        keys = {self.moves[n][0] for n in self.waiting} & orders.keys()
        timelines = dbs.timelines([orders[key].id for key in keys])
        due: list[Envelope] = []
        for n in self.waiting:
            key, move = self.moves[n]
            if key not in keys:
                continue
            snap = Snapshot(orders[key], timelines[orders[key].id])
            if n not in self.armed and move.ready(snap):
                self.armed[n] = now + self.pace(move.after)
            if n in self.armed and self.armed[n] <= now:
                self.done.add(n)
                self.log.append(_named(key, move))
                due += [_envelope(c, move.actor, now) for c in move.commands(snap, now)]
        return due

    def next_due(self) -> datetime | None:
        return min((self.armed[n] for n in self.waiting if n in self.armed), default=None)

    def missed(self) -> list[str]:
        """The moves whose moment never came."""
        return [_named(*self.moves[n]) for n in self.waiting]


def play_in_virtual_time(
    stage: Stage,
    cluster: Cluster,
    send: Callable[[Sequence[Envelope]], None],
    dbs: WorkerDatabases,
    between: Callable[[str | None], None],
    max_steps: int = 10_000,
) -> None:
    """Play the stage's moves and the workers' timers on the cluster's manual clock until
    nothing is left to do: after each move (``between`` is given what was done) or jump of the
    clock (given None), ``between`` lets the workers work."""
    clock = cluster.clock
    assert isinstance(clock, ManualClock), "virtual time needs a ManualClock"
    for _ in range(max_steps):
        commands = stage.act(dbs, clock.now())
        if commands:
            send(commands)
            between(stage.log[-1])
            continue
        due = min(
            (d for d in (cluster.next_timer(), stage.next_due()) if d is not None), default=None
        )
        if due is None:
            return
        clock.advance(max(due - clock.now(), timedelta(0)))
        between(None)
    raise RuntimeError(f"the stories are still busy after {max_steps:,} steps")


def _named(key: tuple[str, str], move: Move) -> str:
    return f"{move.actor}: {move.what} ({key[0]}:{key[1]})"


def _envelope(command: Message | Mapping[str, object], actor: str, now: datetime) -> Envelope:
    if isinstance(command, Message):
        return wrap(command, source=f"world.{actor}", now=now)
    return submit_envelope(command)
