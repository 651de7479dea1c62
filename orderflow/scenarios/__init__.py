"""One saga world: the catalogue, the outside world's moves and the stories told with them.

A story is an order, what customers, the bank and the warehouse do to it (``world.Move``), and
how it must end (``story.Ending``). Each is written once, then demoed (``orderflow demo``),
played end to end on RabbitMQ and PostgreSQL (``tests/e2e/test_saga_paths.py``) and fuzzed
(``tests/property``).
"""

from __future__ import annotations

from . import aftersales, changing, paying, placing, reviewing
from .story import Story

STORIES: list[Story] = [
    *placing.STORIES,
    *paying.STORIES,
    *reviewing.STORIES,
    *changing.STORIES,
    *aftersales.STORIES,
]
