"""Who publishes each message that travels and who consumes it, read from the code: each worker's
bootstrap (its handler table and its ``publishes``, in ``orderflow/registry.py``'s order), the
channel queues of ``shared/topology.py``, and who sends the commands from outside (``SENDERS``,
in ``orderflow/cluster/users.py``, where they are also the broker's users).

``orderflow contracts map`` prints it as text or Mermaid; the AsyncAPI document, the README and
``docs/architecture.md`` show it, and tests keep them equal to what the code says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.contracts import REGISTRY, Message
from shared.service import Service
from shared.topology import CHANNEL_EVENTS

from ..cluster.registry import NAMES, build
from ..cluster.users import SENDERS

CHANNEL_QUEUES = "channel queues"
"""Each sales channel's queue, which hears intake's ``CHANNEL_EVENTS`` about its own orders."""
PARTNERS = "partners"
"""Nobody in orderflow consumes it: an event for partners, who bind its type on the events
exchange."""


@dataclass(frozen=True)
class Flow:
    contract: type[Message]
    publishers: tuple[str, ...]
    consumers: tuple[str, ...]

    @property
    def heard_by(self) -> tuple[str, ...]:
        return self.consumers or (PARTNERS,)


def services() -> dict[str, Service]:
    return {name: build(name) for name in NAMES}


def flows(workers: Mapping[str, Service] | None = None) -> list[Flow]:
    """Every message that travels (timers stay inside their worker), by type."""
    workers = workers if workers is not None else services()
    found = []
    for type_name in sorted(REGISTRY):
        contract = REGISTRY[type_name]
        if contract.kind == "timer":
            continue
        senders = [sender for sender, sent in SENDERS.items() if contract in sent]
        publishers = [name for name, service in workers.items() if contract in service.publishes]
        consumers = [name for name, service in workers.items() if contract in service.handlers]
        if contract in CHANNEL_EVENTS:
            consumers.append(CHANNEL_QUEUES)
        found.append(Flow(contract, (*senders, *publishers), tuple(consumers)))
    return found


def parties() -> list[str]:
    """Everyone on the map, senders first, then the workers in the order an order meets them."""
    return [*SENDERS, *NAMES, CHANNEL_QUEUES, PARTNERS]
