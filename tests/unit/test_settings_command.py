"""``orderflow settings`` lists every setting of the runtime and of each worker, from the
settings classes: variable, type, default, format and meaning."""

from __future__ import annotations

import importlib.util
from decimal import Decimal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.registry import NAMES
from orderflow.export.settings_doc import describe, every_setting, markdown


def test_every_setting_is_listed_with_its_variable_default_and_format() -> None:
    result = CliRunner().invoke(app, ["settings"], env={"COLUMNS": "300"})

    assert result.exit_code == 0, result.output
    for setting in every_setting():
        assert setting.env in result.output
    assert "JSON list of ISO 4217 codes" in result.output
    assert "1209600 (14 days)" in result.output


def test_every_worker_and_the_rehearsal_have_their_settings_in_the_list() -> None:
    sections = {setting.section for setting in every_setting()}
    configurable = {n for n in NAMES if importlib.util.find_spec(f"services.{n}.settings")}

    assert sections == {"runtime", *configurable, "rehearsal"}
    assert set(NAMES) - configurable == {"reporting"}


def test_the_markdown_is_the_generated_page() -> None:
    result = CliRunner().invoke(app, ["settings", "--markdown"])

    assert result.exit_code == 0
    assert result.output == markdown()


def test_formats_come_from_the_types_and_names() -> None:
    found = {setting.env: setting for setting in every_setting()}

    assert (
        found["ORDERFLOW_RETRY_DELAYS_SECONDS"].format == "JSON list of seconds (decimals allowed)"
    )
    assert found["ORDERFLOW_INTAKE_MAX_ORDER_TOTAL"].format == (
        "JSON object: ISO 4217 code to an amount in that currency's units"
    )
    assert found["ORDERFLOW_STOCK_BACKORDER_GRACE_DAYS"].format == "days; ≥ 0 and ≤ 365"
    assert found["ORDERFLOW_NOTIFIER_SMTP_PASSWORD"].default == "unset"
    assert (found["ORDERFLOW_LOG_FORMAT"].default, found["ORDERFLOW_LOG_FORMAT"].format) == (
        "console",
        "one of console, json",
    )
    assert found["ORDERFLOW_LOG_LEVEL"].format == "one of debug, info, warning, error, critical"
    assert found["ORDERFLOW_REPLICA"].default == "unset"


def test_a_per_currency_amount_setting_is_shown_as_json() -> None:
    class Limits(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="X_")
        max_total: dict[str, Decimal] = Field(
            default_factory=lambda: {"EUR": Decimal("500"), "JPY": Decimal("80000")},
            description="per currency",
        )

    setting = describe("x", Limits, "max_total", Limits.model_fields["max_total"])

    assert (setting.env, setting.type) == ("X_MAX_TOTAL", "dict[str, Decimal]")
    assert (setting.default, setting.format) == ('{"EUR": "500", "JPY": "80000"}', "JSON object")
