"""The published contract: JSON Schemas of every message and an AsyncAPI document, generated from
the code (the contracts registry, the topology and each worker's handler table).

``orderflow contracts export`` writes them under ``contracts/``; a test fails when the files
checked in there differ from what the code generates, so the published contract cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.contracts import REGISTRY
from shared.envelope import Envelope
from shared.topology import Topology

from .workers import NAMES, build

ROOT = Path(__file__).resolve().parents[1] / "contracts"


def schemas() -> dict[str, dict[str, Any]]:
    found = {name: REGISTRY[name].model_json_schema() for name in sorted(REGISTRY)}
    found["envelope"] = Envelope.model_json_schema()
    return found


def asyncapi() -> dict[str, Any]:
    topology = Topology("orderflow", quorum=True, delivery_limit=20)
    subscribers: dict[str, list[str]] = {}
    for name in NAMES:
        for contract in build(name).subscriptions:
            subscribers.setdefault(contract.type, []).append(name)
    channels: dict[str, Any] = {}
    for type_name in sorted(REGISTRY):
        contract = REGISTRY[type_name]
        if contract.kind == "timer":
            continue
        channels[type_name] = {
            "description": (contract.__doc__ or "").strip().split("\n")[0],
            "subscribe": {"message": {"$ref": f"#/components/messages/{type_name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": topology.exchange_for(contract).name, "type": "topic"},
                }
            },
            "x-kind": contract.kind,
            "x-consumers": subscribers.get(type_name, []),
        }
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "orderflow",
            "version": "1",
            "description": "Messages between orderflow's workers, each in a CloudEvents-shaped "
            "envelope (see components.schemas.envelope) whose data is the message below.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "components": {
            "messages": {
                name: {"name": name, "payload": {"$ref": f"schemas/{name}.json"}}
                for name in channels
            },
            "schemas": {"envelope": {"$ref": "schemas/envelope.json"}},
        },
    }


def rendered() -> dict[Path, str]:
    """Every file of the published contract, path to text."""
    files = {Path("asyncapi.json"): _dump(asyncapi())}
    for name, schema in schemas().items():
        files[Path("schemas") / f"{name}.json"] = _dump(schema)
    return files


def export(root: Path = ROOT) -> list[Path]:
    written = []
    for path, text in rendered().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
