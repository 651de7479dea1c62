"""What a rehearsal is asked to do, and what its progress display is shown."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .settings import RehearsalSettings


@dataclass(frozen=True)
class Plan:
    rate: float
    duration: float
    replicas: Mapping[str, int] = field(default_factory=dict)
    target: float | None = None
    keep: bool = False
    options: RehearsalSettings = field(default_factory=RehearsalSettings)

    @property
    def orders(self) -> int:
        return max(1, round(self.rate * self.duration))


@dataclass(frozen=True)
class Snapshot:
    """What the progress display shows."""

    phase: str
    elapsed: float
    submitted: int
    completed: int
    depths: Mapping[str, int]


Show = Callable[[Snapshot], None]
