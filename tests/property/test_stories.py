"""Property: every story of ``orderflow.scenarios`` ends as it says, whichever stories share the
saga and whatever messages are delivered again on the way.

Each example plays a few stories together in one process on a manual clock, on the terms the
stories are told in, exactly as the demo does; between the moves and the jumps of the clock,
messages already sent (the workers' announcements, the world's commands) arrive again under the
same id. Then every story must have ended as it says, nothing may be parked, and the four
invariants must hold.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.operator.audit import audit
from orderflow.scenarios import STORIES
from orderflow.scenarios.stage import Stage, play_in_virtual_time
from orderflow.scenarios.story import Story, departures
from shared.clock import ManualClock
from tests.property.test_saga_invariants import (
    Redeliver,
    Saga,
    embedded_cluster,
    parked,
    redeliveries,
    stock_the_shelves,
)

pytestmark = pytest.mark.property


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stories=st.lists(st.sampled_from(STORIES), min_size=1, max_size=4, unique_by=lambda s: s.key),
    echoes=st.lists(redeliveries(st.just("anyone"), max_size=4), max_size=12),
)
def test_every_story_ends_as_it_says_whatever_is_delivered_again(
    monkeypatch: pytest.MonkeyPatch, stories: list[Story], echoes: list[Redeliver]
) -> None:
    with embedded_cluster(monkeypatch, stories_terms=True) as (cluster, chosen):
        stock_the_shelves(cluster)
        dbs = WorkerDatabases(chosen)
        try:
            assert isinstance(cluster.clock, ManualClock)
            with ChannelPublisher(chosen) as channel:
                saga = Saga(cluster, cluster.clock, channel, [])
                stage = play_with_echoes(saga, dbs, stories, echoes)
            assert stage.missed() == []
            assert departures(dbs, stories) == {}
            assert audit(dbs).violations == []
        finally:
            dbs.dispose()
        assert parked(chosen) == {}


def play_with_echoes(
    saga: Saga, dbs: WorkerDatabases, stories: Sequence[Story], echoes: Sequence[Redeliver]
) -> Stage:
    """Submit the stories' orders and play them as the demo does; after each move or jump of the
    clock, one round of the workers, then the next echo, then the workers until they are idle."""
    waiting = list(echoes)
    saga.send(*(submit_envelope(s.submission) for s in stories for _ in range(s.submissions)))
    saga.cluster.pump()

    def between(_: str | None) -> None:
        saga.cluster.step()
        if waiting:
            echo = waiting.pop(0)
            saga.redeliver(echo.source, echo.picks)
        saga.cluster.pump()

    stage = Stage.of(stories)
    play_in_virtual_time(stage, saga.cluster, lambda sent: saga.send(*sent), dbs, between)
    return stage
