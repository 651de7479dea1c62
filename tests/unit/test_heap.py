"""The worker's garbage-collector settings (``shared.heap``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared import heap


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_settling_freezes_the_start_up_heap_and_collects_the_young_less_often() -> None:
    gc.unfreeze()
    kept = [object() for _ in range(10)]

    heap.settle()

    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (heap.YOUNG_ALLOCATIONS, heap.OLDER_EVERY, heap.OLDER_EVERY)
    assert gc.get_count()[0] < heap.YOUNG_ALLOCATIONS
