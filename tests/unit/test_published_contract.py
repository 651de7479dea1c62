"""The contract checked in under contracts/ (and the generated pages of docs/, and the map the
README and docs/architecture.md draw) are exactly what the code generates, and the contract tells
a channel what it needs without reading the code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from orderflow.export.asyncapi import (
    DOCS,
    MAPPED_PAGES,
    ROOT,
    asyncapi,
    redrawn_pages,
    rendered,
    rendered_docs,
    schemas,
)
from orderflow.export.asyncapi_guide import accepted_currencies, guide, missing_meanings
from orderflow.export.choreography import flows
from orderflow.export.choreography_map import MERMAID_BLOCK, mermaid
from orderflow.export.settings_doc import every_setting
from services.intake.settings import IntakeSettings
from services.intake.status import TERMINAL, WAITING
from shared.contracts import REGISTRY
from tests.asyncapi_schema import official_schema

REPOSITORY = ROOT.parent
SENTENCE_END = re.compile(r"[.!?][)\"'`]?$")


def stale(root: Path, files: dict[Path, str]) -> list[str]:
    return [
        str(path)
        for path, text in files.items()
        if not (root / path).exists() or (root / path).read_text() != text
    ]


def test_the_checked_in_contract_matches_the_code() -> None:
    assert stale(ROOT, rendered()) == [], (
        "contracts/ is stale: run `./dev contracts export` and commit the result"
    )


def test_the_generated_docs_match_the_code() -> None:
    assert stale(DOCS, rendered_docs()) == [], (
        "docs/ is stale: run `./dev contracts export` and commit the result"
    )


def test_the_readme_and_the_architecture_page_draw_the_map_the_code_has() -> None:
    drawn = f"```mermaid\n{mermaid(flows())}```\n"

    for page in MAPPED_PAGES:
        assert MERMAID_BLOCK.findall((REPOSITORY / page).read_text()) == [drawn], (
            f"{page}'s map is stale: run `./dev contracts export` and commit the result"
        )
    assert stale(REPOSITORY, redrawn_pages()) == []


def test_every_subscribed_message_has_a_channel_with_its_consumers() -> None:
    channels = asyncapi()["channels"]

    assert channels["order.submit"]["x-kind"] == "command"
    assert channels["order.placed"]["x-consumers"] == [
        "stock",
        "payment",
        "shipping",
        "aftersales",
        "notifier",
        "reporting",
    ]
    assert "order.completion_due" not in channels


def test_every_channel_names_who_publishes_it_and_who_consumes_it() -> None:
    channels = asyncapi()["channels"]

    assert channels["order.submit"]["x-producers"] == ["sales channels"]
    assert channels["order.placed"]["x-producers"] == ["intake"]
    assert channels["notification.sent"]["x-producers"] == ["notifier"]
    assert channels["notification.sent"]["x-consumers"] == []
    heard = channels["channel.{channel}.order.placed"]
    assert (heard["x-producers"], heard["x-consumers"]) == (["intake"], ["channel queues"])
    assert [name for name, channel in channels.items() if not channel["x-producers"]] == []


def test_orderflow_receives_what_others_send_in_and_sends_what_its_workers_announce() -> None:
    document = asyncapi()
    channels, operations = document["channels"], document["operations"]

    actions = {
        (operation["action"], operation["channel"]["$ref"].removeprefix("#/channels/"))
        for operation in operations.values()
    }
    for type_name, contract in REGISTRY.items():
        if contract.kind == "timer":
            assert type_name not in channels
            continue
        expected = "receive" if contract.kind == "command" else "send"
        assert {a for a, channel in actions if channel == type_name} == {expected}, type_name
    for received in ("order.submit", "carrier.tracking_update", "payment.notification"):
        assert ("receive", received) in actions
    assert ("send", "channel.{channel}.order.placed") in actions
    submit = operations["receiveOrderSubmit"]
    assert channels["order.submit"]["bindings"]["amqp"]["exchange"]["name"] == "orderflow.commands"
    assert submit["bindings"]["amqp"]["deliveryMode"] == 2
    assert operations["sendOrderPlaced"]["bindings"]["amqp"]["deliveryMode"] == 2


def test_the_document_is_valid_against_the_official_asyncapi_schema() -> None:
    document = json.loads((ROOT / "asyncapi.json").read_text())
    validator = Draft7Validator(official_schema(document["asyncapi"]))

    problems = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
        for error in validator.iter_errors(document)
    ]
    assert problems == []
    wrong = {**document, "operations": {"x": {"action": "publish", "channel": {}}}}
    assert not validator.is_valid(wrong)  # the schema does hold the document to 3.0


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves_and_operations_name_their_channels_messages() -> None:
    """What the schema cannot check: the references land, in the document or under contracts/,
    and an operation's messages are its channel's."""
    document = asyncapi()

    for ref in refs(document):
        if ref.startswith("#/"):
            resolve(document, ref)
        else:
            assert (ROOT / ref).exists(), ref
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name
            resolve(document, message["$ref"])


def descriptions(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                yield f"{where}/{key}", value
            else:
                yield from descriptions(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from descriptions(value, f"{where}/{index}")


def test_no_description_stops_mid_sentence() -> None:
    documents = {"asyncapi": asyncapi(), **schemas()}
    cut = [
        (where, text[-40:])
        for name, document in documents.items()
        for where, text in descriptions(document, name)
        if not SENTENCE_END.search(text.strip())
    ]
    assert cut == []


def test_every_message_that_travels_is_described() -> None:
    messages = asyncapi()["components"]["messages"]

    undescribed = [name for name, message in messages.items() if not message.get("description")]
    assert undescribed == []
    assert "order.completion_due" not in messages


def test_a_message_is_its_envelope_with_the_contract_as_data() -> None:
    placed = asyncapi()["components"]["messages"]["order.placed"]

    envelope, specific = placed["payload"]["allOf"]
    assert envelope == {"$ref": "schemas/envelope.json"}
    assert specific["properties"]["data"] == {"$ref": "schemas/order.placed.json"}
    assert placed["contentType"] == "application/cloudevents+json"
    assert "message_id" in schemas()["envelope"]["properties"]["id"]["description"]


def test_the_contract_names_the_currencies_intake_accepts_by_default() -> None:
    default = IntakeSettings.model_fields["accepted_currencies"].get_default(
        call_default_factory=True
    )

    assert accepted_currencies() == sorted(default)
    for currency in default:
        assert f"`{currency}`" in guide()


def test_the_vocabularies_come_from_the_enums_and_every_value_has_a_meaning() -> None:
    vocabularies = asyncapi()["components"]["schemas"]

    assert missing_meanings() == {}, (
        "give each new value a meaning in orderflow/export/asyncapi_guide.py"
    )
    statuses = vocabularies["OrderStatus"]
    assert set(statuses["x-terminal"]) == set(TERMINAL)
    assert set(statuses["x-waiting"]) == set(WAITING)
    reasons = {entry["const"] for entry in vocabularies["CancelReason"]["oneOf"]}
    assert "out_of_stock" in reasons


def test_a_channel_is_told_where_its_answers_come_from() -> None:
    channels = asyncapi()["channels"]

    answer = channels["channel.{channel}.order.placed"]
    assert answer["x-queue"]["name"] == "orderflow.channel.{channel}"
    assert answer["x-queue"]["bindingKey"] == "channel.{channel}.#"
    assert "web" in answer["parameters"]["channel"]["enum"]
    bcc = asyncapi()["operations"]["sendOrderRejected"]["bindings"]["amqp"]["bcc"]
    assert bcc == ["channel.{channel}.order.rejected"]


def test_every_setting_has_a_meaning() -> None:
    undescribed = [setting.env for setting in every_setting() if not setting.meaning]
    assert undescribed == []


def test_every_setting_the_documentation_names_exists() -> None:
    known = {setting.env for setting in every_setting()}
    test_only = ("ORDERFLOW_TEST_", "ORDERFLOW_SOAK_", "ORDERFLOW_BENCH_")
    pages = [REPOSITORY / "README.md", *DOCS.glob("*.md"), ROOT / "asyncapi.json"]
    named = {
        (page.name, name)
        for page in pages
        for name in re.findall(r"ORDERFLOW_[A-Z_]*[A-Z]", page.read_text())
        if not name.startswith(test_only)
    }
    assert sorted(entry for entry in named if entry[1] not in known) == []


def test_the_asyncapi_document_is_json_with_readable_text() -> None:
    text = (ROOT / "asyncapi.json").read_text()
    assert json.loads(text)["asyncapi"] == "3.0.0"
    assert "\\u2265" not in text
