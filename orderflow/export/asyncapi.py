"""The published contract: JSON Schemas of every message and an AsyncAPI document, generated from
the code (the contracts registry, the envelope, the topology and the choreography: who publishes
and who consumes each message), and the generated pages of ``docs/`` (settings, the simulated
third parties).

``orderflow contracts export`` writes them under ``contracts/`` and ``docs/``, and redraws the
choreography map of the README and ``docs/architecture.md``; a test fails when the files checked
in differ from what the code generates, so the published contract cannot drift.

The document is AsyncAPI 3.0, whose operations say plainly which way a message goes, from
orderflow's side: it ``receive``s what the channels, operators, banks and carriers send in (in
either CloudEvents content mode), and ``send``s the events its workers announce. (AsyncAPI 2's
``publish`` and ``subscribe`` named them from the other side, and were read the wrong way round.)
The AMQP properties and headers of each message are read off the wire (``asyncapi_wire``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from shared import binary_mode
from shared.contracts import REGISTRY, Channel, Message
from shared.envelope import CONTENT_TYPE, Envelope
from shared.topology import CHANNEL_EVENTS, Topology, channel_binding_key, channel_routing_key

from ..cluster.users import SENDERS
from . import asyncapi_wire, doubles, settings_doc, wire_doc
from .asyncapi_guide import NAMESPACE, UNKNOWN_CHANNEL, guide, vocabularies
from .choreography import CHANNEL_QUEUES, Flow, flows
from .choreography_map import mermaid, splice

REPOSITORY = Path(__file__).resolve().parents[2]
ROOT = REPOSITORY / "contracts"
DOCS = REPOSITORY / "docs"
ASYNCAPI = "3.0.0"
AMQP_BINDING = "0.3.0"
BINARY_HEADERS = "cloudEventsBinaryHeaders"
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


def _action_id(action: str, type_name: str) -> str:
    """``receiveOrderSubmit``, ``sendOrderPlaced``: the action, then the type in camel case."""
    name = operation_id(type_name)
    return action + name[0].upper() + name[1:]


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)}


def binary_name(type_name: str) -> str:
    """The id of a received message's CloudEvents binary-mode form."""
    return f"{type_name}.binary"


def receives(flow: Flow) -> bool:
    """Whether someone outside orderflow sends it in (a channel, an operator, a bank, a carrier):
    an operation orderflow ``receive``s."""
    return any(party in SENDERS for party in flow.publishers)


def sends(flow: Flow) -> bool:
    """Whether one of orderflow's workers publishes it: an operation orderflow ``send``s."""
    return any(party not in SENDERS for party in flow.publishers)


def _listed(flow: Flow, outside: bool) -> str:
    return ", ".join(p for p in flow.publishers if (p in SENDERS) == outside)


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: every channel (a routing key on one of the exchanges), and
    each operation from orderflow's side: ``receive`` for what others send in, ``send`` for
    what its workers announce."""
    topology = Topology(NAMESPACE, quorum=True, delivery_limit=20)
    travelling = flows()
    wires = asyncapi_wire.sent(flow.contract for flow in travelling)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for flow in travelling:
        contract, type_name = flow.contract, flow.contract.type
        forms = [type_name, binary_name(type_name)] if receives(flow) else [type_name]
        channels[type_name] = {
            "address": type_name,
            "description": summary(contract),
            "messages": {form: _ref("components", "messages", form) for form in forms},
            "bindings": {"amqp": _exchange_binding(topology, contract)},
            "x-kind": contract.kind,
            "x-producers": list(flow.publishers),
            "x-consumers": [c for c in flow.consumers if c != CHANNEL_QUEUES],
        }
        refs = [_ref("channels", type_name, "messages", form) for form in forms]
        if receives(flow):
            operations[_action_id("receive", type_name)] = {
                "action": "receive",
                "channel": _ref("channels", type_name),
                "summary": f"Sent in by {_listed(flow, outside=True)}: {summary(contract)}",
                "messages": refs,
                "bindings": {"amqp": _received_binding(wires[type_name])},
            }
        if sends(flow):
            operations[_action_id("send", type_name)] = {
                "action": "send",
                "channel": _ref("channels", type_name),
                "summary": f"Announced by {_listed(flow, outside=False)}: {summary(contract)}",
                "messages": refs[:1],
                "bindings": {"amqp": _sent_binding(contract, wires[type_name])},
            }
    _add_channel_queues(channels, operations, topology, travelling)
    messages = {}
    for flow in travelling:
        messages[flow.contract.type] = message(flow.contract, wires[flow.contract.type])
        if receives(flow):
            messages[binary_name(flow.contract.type)] = binary_message(flow.contract)
    return {
        "asyncapi": ASYNCAPI,
        "id": "urn:orderflow:contract",
        "info": {
            "title": "orderflow",
            "version": "1",
            "description": guide(),
            "externalDocs": {
                "description": "The simulated payment gateway's test tokens and the simulated "
                "carrier's addresses.",
                "url": "../docs/test-doubles.md",
            },
        },
        "servers": {
            "rabbitmq": {
                "host": "{host}:{port}",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "The deployment's RabbitMQ broker.",
                "variables": {"host": {"default": "localhost"}, "port": {"default": "5672"}},
            }
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": {
                "envelope": {"$ref": "schemas/envelope.json"},
                BINARY_HEADERS: asyncapi_wire.binary_headers(),
                **vocabularies(),
            },
        },
    }


def _received_binding(wire: asyncapi_wire.Wire) -> dict[str, Any]:
    """How to send it in: persistent, ``mandatory`` (an unroutable message comes back to its
    sender instead of vanishing); orderflow acks it once its effects are committed."""
    return {
        "deliveryMode": wire.properties.get("delivery_mode", 2),
        "mandatory": True,
        "ack": True,
        "bindingVersion": AMQP_BINDING,
    }


def _sent_binding(contract: type[Message], wire: asyncapi_wire.Wire) -> dict[str, Any]:
    binding: dict[str, Any] = {
        "deliveryMode": wire.properties.get("delivery_mode", 1),
        "timestamp": "timestamp" in wire.properties,
        "bindingVersion": AMQP_BINDING,
    }
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


def _add_channel_queues(
    channels: dict[str, Any],
    operations: dict[str, Any],
    topology: Topology,
    travelling: list[Flow],
) -> None:
    """The routing keys under which a channel hears about its own orders, one channel each,
    with the queue it binds for them and who publishes each, and orderflow's ``send`` to it."""
    parameter = {
        "description": "The channel that submitted the order (`data.channel` of its "
        f"order.submit), or `{UNKNOWN_CHANNEL}` for a submit that named none of them.",
        "enum": [*(str(c) for c in Channel), UNKNOWN_CHANNEL],
    }
    queue = topology.channel_queue("{channel}")
    producers = {flow.contract: flow.publishers for flow in travelling}
    for contract in CHANNEL_EVENTS:
        address = channel_routing_key("{channel}", contract.type)
        channels[address] = {
            "address": address,
            "description": f"A copy of {contract.type} for the queue of the order's channel: "
            f"{summary(contract)}",
            "parameters": {"channel": parameter},
            "messages": {contract.type: _ref("components", "messages", contract.type)},
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
        operations[_action_id("send", f"channel.{contract.type}")] = {
            "action": "send",
            "channel": _ref("channels", address),
            "summary": f"The copy of {contract.type} for the order's channel, routed by the "
            "BCC header of the one publish.",
            "messages": [_ref("channels", address, "messages", contract.type)],
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING}},
        }


def message(contract: type[Message], wire: asyncapi_wire.Wire) -> dict[str, Any]:
    """A message as it travels in CloudEvents structured mode: the AMQP properties and headers
    the runtime sets (read off the wire), and the body, the envelope with the contract's schema
    as its data."""
    found: dict[str, Any] = {
        "name": contract.type,
        "title": contract.__name__,
        "contentType": wire.properties.get("content_type", CONTENT_TYPE),
        "correlationId": {
            "description": "The order's saga, set by whoever started it; also the AMQP "
            "correlation_id.",
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
        "bindings": {"amqp": _message_binding(wire)},
        "x-kind": contract.kind,
        "x-amqp-properties": asyncapi_wire.amqp_properties(
            wire, "$message.payload#/id", "$message.payload#/correlationid"
        ),
    }
    if wire.headers:
        found["headers"] = asyncapi_wire.headers_schema(wire)
    if description(contract):
        found["summary"] = summary(contract)
        found["description"] = description(contract)
    return found


def _message_binding(wire: asyncapi_wire.Wire) -> dict[str, Any]:
    binding: dict[str, Any] = {"bindingVersion": AMQP_BINDING}
    if "content_encoding" in wire.properties:
        binding["contentEncoding"] = wire.properties["content_encoding"]
    if "type" in wire.properties:
        binding["messageType"] = wire.properties["type"]
    return binding


def binary_message(contract: type[Message]) -> dict[str, Any]:
    """A received message in CloudEvents binary mode: the envelope's attributes in headers, the
    body only the data."""
    return {
        "name": contract.type,
        "title": f"{contract.__name__} (CloudEvents binary mode)",
        "summary": f"{contract.type} as a CloudEvents SDK sends it in binary mode.",
        "description": "The same message as in structured mode, the way the CloudEvents AMQP "
        "binding's binary mode carries it: each envelope attribute in an AMQP header (see "
        "`headers`), the body only the `data`, as JSON, and the AMQP content type the data's "
        f"(`{binary_mode.DATA_CONTENT_TYPE}`). orderflow reads it into the same envelope, so "
        "it is deduplicated, answered and parked exactly like the structured form.",
        "contentType": binary_mode.DATA_CONTENT_TYPE,
        "correlationId": {
            "description": "The order's saga: the correlationid attribute.",
            "location": f"$message.header#/{binary_mode.PREFIXES[1]}correlationid",
        },
        "headers": _ref("components", "schemas", BINARY_HEADERS),
        "payload": {"$ref": f"schemas/{contract.type}.json"},
        "bindings": {"amqp": {"contentEncoding": "utf-8", "bindingVersion": AMQP_BINDING}},
        "x-kind": contract.kind,
    }


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
        Path("wire.md"): wire_doc.markdown(),
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
