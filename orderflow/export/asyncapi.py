"""The published contract: JSON Schemas of every message and an AsyncAPI document, generated from
the code (the contracts registry, the envelope, the topology and the choreography: who publishes
and who consumes each message), and the generated pages of ``docs/`` (settings, the simulated
third parties).

``orderflow contracts export`` writes them under ``contracts/`` and ``docs/``, and redraws the
choreography map of the README and ``docs/architecture.md``; a test fails when the files checked
in differ from what the code generates, so the published contract cannot drift.

In AsyncAPI 2.6 an operation is named from the other side's point of view: a command that the
channels, carriers, banks or operators send to orderflow is a ``publish`` operation, an event
orderflow announces is one they ``subscribe`` to.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from shared.contracts import REGISTRY, Channel, Message
from shared.envelope import CONTENT_TYPE, Envelope
from shared.topology import CHANNEL_EVENTS, Topology, channel_binding_key, channel_routing_key

from . import doubles, settings_doc
from .asyncapi_guide import NAMESPACE, UNKNOWN_CHANNEL, guide, vocabularies
from .choreography import CHANNEL_QUEUES, Flow, flows
from .choreography_map import mermaid, splice

REPOSITORY = Path(__file__).resolve().parents[2]
ROOT = REPOSITORY / "contracts"
DOCS = REPOSITORY / "docs"
AMQP_BINDING = "0.2.0"
MAPPED_PAGES = (Path("README.md"), Path("docs/architecture.md"))


def schemas() -> dict[str, dict[str, Any]]:
    found = {name: REGISTRY[name].model_json_schema() for name in sorted(REGISTRY)}
    found["envelope"] = Envelope.model_json_schema()
    return found


def description(contract: type[Message]) -> str:
    """The contract's docstring, whole, as one paragraph per blank-line-separated part."""
    text = contract.__doc__ if "__doc__" in vars(contract) else None
    paragraphs = re.split(r"\n\s*\n", (text or "").strip())
    return "\n\n".join(" ".join(part.split()) for part in paragraphs if part.strip())


def summary(contract: type[Message]) -> str:
    """The first paragraph of the contract's docstring."""
    return description(contract).split("\n\n")[0]


def operation_id(type_name: str) -> str:
    first, *rest = re.split(r"[._]", type_name)
    return first + "".join(part.title() for part in rest)


def asyncapi() -> dict[str, Any]:
    topology = Topology(NAMESPACE, quorum=True, delivery_limit=20)
    travelling = flows()
    channels: dict[str, Any] = {}
    for flow in travelling:
        contract, type_name = flow.contract, flow.contract.type
        channels[type_name] = {
            "description": summary(contract),
            _operation(contract): {
                "operationId": operation_id(type_name),
                "bindings": {"amqp": _operation_binding(contract)},
                "message": {"$ref": f"#/components/messages/{type_name}"},
            },
            "bindings": {"amqp": _exchange_binding(topology, contract)},
            "x-kind": contract.kind,
            "x-producers": list(flow.publishers),
            "x-consumers": [c for c in flow.consumers if c != CHANNEL_QUEUES],
        }
    channels.update(channel_queues(topology, travelling))
    return {
        "asyncapi": "2.6.0",
        "id": "urn:orderflow:contract",
        "info": {
            "title": "orderflow",
            "version": "1",
            "description": guide(),
        },
        "servers": {
            "rabbitmq": {
                "url": "{host}:{port}",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "The deployment's RabbitMQ broker.",
                "variables": {"host": {"default": "localhost"}, "port": {"default": "5672"}},
            }
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "components": {
            "messages": {
                name: message(REGISTRY[name])
                for name in sorted(REGISTRY)
                if REGISTRY[name].kind != "timer"
            },
            "schemas": {"envelope": {"$ref": "schemas/envelope.json"}, **vocabularies()},
        },
        "externalDocs": {
            "description": "The simulated payment gateway's test tokens and the simulated "
            "carrier's addresses.",
            "url": "../docs/test-doubles.md",
        },
    }


def _operation(contract: type[Message]) -> str:
    return "publish" if contract.kind == "command" else "subscribe"


def _operation_binding(contract: type[Message]) -> dict[str, Any]:
    binding: dict[str, Any] = {"deliveryMode": 2, "bindingVersion": AMQP_BINDING}
    if contract.kind == "command":
        binding["mandatory"] = True
    else:
        binding["ack"] = True
    if contract in CHANNEL_EVENTS:
        binding["bcc"] = [channel_routing_key("{channel}", contract.type)]
    return binding


def _exchange_binding(topology: Topology, contract: type[Message]) -> dict[str, Any]:
    return {
        "is": "routingKey",
        "exchange": {
            "name": topology.exchange_for(contract).name,
            "type": "topic",
            "durable": True,
            "autoDelete": False,
            "vhost": "/",
        },
        "bindingVersion": AMQP_BINDING,
    }


def channel_queues(topology: Topology, travelling: list[Flow]) -> dict[str, Any]:
    """The routing keys under which a channel hears about its own orders, one channel item each,
    with the queue it binds for them and who publishes each."""
    parameter = {
        "description": "The channel that submitted the order (`data.channel` of its "
        f"order.submit), or `{UNKNOWN_CHANNEL}` for a submit that named none of them.",
        "schema": {"type": "string", "enum": [*(str(c) for c in Channel), UNKNOWN_CHANNEL]},
    }
    queue = topology.channel_queue("{channel}")
    producers = {flow.contract: flow.publishers for flow in travelling}
    found = {}
    for contract in CHANNEL_EVENTS:
        found[channel_routing_key("{channel}", contract.type)] = {
            "description": f"A copy of {contract.type} for the queue of the order's channel: "
            f"{summary(contract)}",
            "parameters": {"channel": parameter},
            "subscribe": {
                "operationId": operation_id(f"channel.{contract.type}"),
                "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING}},
                "message": {"$ref": f"#/components/messages/{contract.type}"},
            },
            "bindings": {"amqp": _exchange_binding(topology, contract)},
            "x-kind": "event",
            "x-producers": list(producers[contract]),
            "x-consumers": [CHANNEL_QUEUES],
            "x-queue": {
                "name": queue.name,
                "bindingKey": channel_binding_key("{channel}"),
                "durable": True,
                "arguments": queue.queue_arguments,
                "declaredBy": "the channel",
            },
        }
    return found


def message(contract: type[Message]) -> dict[str, Any]:
    """A message as it travels: the envelope, with the contract's schema as its data."""
    found: dict[str, Any] = {
        "name": contract.type,
        "title": contract.__name__,
        "contentType": CONTENT_TYPE,
        "correlationId": {
            "description": "The order's saga, set by whoever started it.",
            "location": "$message.payload#/correlationid",
        },
        "payload": {
            "allOf": [
                {"$ref": "schemas/envelope.json"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": contract.type},
                        "schemaversion": {"const": contract.schema_version},
                        "data": {"$ref": f"schemas/{contract.type}.json"},
                    },
                },
            ]
        },
        "bindings": {"amqp": {"contentEncoding": "utf-8", "bindingVersion": AMQP_BINDING}},
        "x-kind": contract.kind,
    }
    if description(contract):
        found["summary"] = summary(contract)
        found["description"] = description(contract)
    return found


def rendered() -> dict[Path, str]:
    """Every file of the published contract, path (under ``contracts/``) to text."""
    files = {Path("asyncapi.json"): _dump(asyncapi())}
    for name, schema in schemas().items():
        files[Path("schemas") / f"{name}.json"] = _dump(schema)
    return files


def rendered_docs() -> dict[Path, str]:
    """The generated pages of ``docs/``, path (under ``docs/``) to text."""
    return {
        Path("settings.md"): settings_doc.markdown(),
        Path("test-doubles.md"): doubles.markdown(),
    }


def redrawn_pages(repository: Path = REPOSITORY) -> dict[Path, str]:
    """The pages that show the choreography map (path under the repository to text), each with
    its ``mermaid`` block drawn from the code."""
    diagram = mermaid(flows())
    return {page: splice((repository / page).read_text(), diagram) for page in MAPPED_PAGES}


def export(root: Path = ROOT, docs: Path = DOCS, repository: Path = REPOSITORY) -> list[Path]:
    written = []
    pages = redrawn_pages(repository)
    for base, files in ((root, rendered()), (docs, rendered_docs()), (repository, pages)):
        for path, text in files.items():
            target = base / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(target)
    return written


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
