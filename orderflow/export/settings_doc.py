"""Every setting, described from the settings classes themselves: the runtime's
(``shared/settings.py``) and each worker's (``services/<worker>/settings.py``).

``orderflow settings`` prints them; ``docs/settings.md`` is written from the same rows by
``orderflow contracts export`` and compared with the code by a test, so neither can drift.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.settings import LogSettings, RetryPolicy, Settings

from ..cluster.registry import NAMES
from ..rehearse.settings import RehearsalSettings

UNITS = {"_seconds": "seconds", "_days": "days", "_grams": "grams", "_percent": "percent"}


@dataclass(frozen=True)
class Setting:
    section: str
    env: str
    type: str
    default: str
    format: str
    meaning: str


def settings_classes() -> Iterator[tuple[str, type[BaseSettings]]]:
    """The runtime's settings, then each worker's, in the order an order meets the workers."""
    yield "runtime", Settings
    yield "runtime", RetryPolicy
    yield "runtime", LogSettings
    for name in NAMES:
        if importlib.util.find_spec(f"services.{name}.settings") is None:
            continue  # a worker with no settings of its own (reporting)
        module = importlib.import_module(f"services.{name}.settings")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ):
                yield name, value
    yield "rehearsal", RehearsalSettings


def every_setting() -> list[Setting]:
    return [
        describe(section, cls, name, field)
        for section, cls in settings_classes()
        for name, field in cls.model_fields.items()
        if not _is_block(field.annotation)
    ]


def _is_block(annotation: Any) -> bool:
    """A block of settings nested in another (the retry policy): its settings are its own rows."""
    return isinstance(annotation, type) and issubclass(annotation, BaseSettings)


def describe(section: str, cls: type[BaseSettings], name: str, field: FieldInfo) -> Setting:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return Setting(
        section=section,
        env=(prefix + name).upper(),
        type=type_name(field.annotation),
        default=shown_default(field),
        format=format_of(name, field),
        meaning=field.description or "",
    )


def type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is Literal:
        return "str"
    if origin is not None:
        inner = ", ".join(type_name(arg) for arg in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def shown_default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Path | Enum):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, list | dict):
        return json.dumps(_plain(value), separators=(", ", ": "), ensure_ascii=False)
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value.value if isinstance(value, Enum) else value


def format_of(name: str, field: FieldInfo) -> str:
    """How to write the value in the environment, with its unit and bounds."""
    extra = field.json_schema_extra
    explicit = extra.get("format") if isinstance(extra, dict) else None
    parts = [str(explicit) if explicit else _natural_format(name, field.annotation)]
    parts += _bounds(field)
    return "; ".join(part for part in parts if part)


def _natural_format(name: str, annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _natural_format(name, args[0])
    if origin in (Union, types.UnionType):
        real = [arg for arg in args if arg is not type(None)]
        return _natural_format(name, real[0]) if len(real) == 1 else ""
    unit = next((unit for suffix, unit in UNITS.items() if name.endswith(suffix)), "")
    if origin is list:
        return f"JSON list of {_element(name, _bare(args[0]), unit, plural=True)}"
    if origin is dict:
        keys, values = _element(name, args[0], ""), _element(name, args[1], unit)
        return "JSON object" + (f", {keys} to {values}" if keys and values else "")
    if origin is Literal:
        return "one of " + ", ".join(str(arg) for arg in args)
    return _element(name, annotation, unit) if unit or isinstance(annotation, type) else ""


def _bare(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _element(name: str, annotation: Any, unit: str, plural: bool = False) -> str:
    s = "s" if plural else ""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return ("each " if plural else "") + "one of " + ", ".join(str(m.value) for m in annotation)
    if unit:
        return unit if annotation is int or unit != "seconds" else "seconds (decimals allowed)"
    if "currencies" in name:
        return f"ISO 4217 code{s}"
    if "countr" in name:
        return f"ISO 3166-1 alpha-2 code{s}"
    if annotation is bool:
        return "true or false"
    if annotation is Path:
        return "a path"
    if name.endswith("_url"):
        return "URL"
    return ""


def _bounds(field: FieldInfo) -> list[str]:
    symbols = {Ge: ("≥", "ge"), Gt: (">", "gt"), Le: ("≤", "le"), Lt: ("<", "lt")}
    found = []
    for constraint in field.metadata:
        for kind, (symbol, attribute) in symbols.items():
            if isinstance(constraint, kind):
                found.append(f"{symbol} {getattr(constraint, attribute)}")
    return [" and ".join(found)] if found else []


def seconds_hint(setting: Setting) -> str:
    """A long default in seconds, in days or hours too (``1209600`` → ``14 days``)."""
    if "seconds" not in setting.format or not setting.default.replace(".", "").isdigit():
        return ""
    seconds = float(setting.default)
    for unit, size in (("day", 86400), ("hour", 3600)):
        if seconds >= size and seconds % size == 0:
            count = timedelta(seconds=seconds) // timedelta(seconds=size)
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return ""


def markdown() -> str:
    """``docs/settings.md``: generated, and compared with the checked-in page by a test."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `orderflow contracts export` from the settings classes; edit the",
        "     classes' field descriptions, not this file. `orderflow settings` prints the",
        "     same. -->",
        "",
        "Every setting is an environment variable, read once when a worker starts. Lists and",
        "objects are JSON (`ORDERFLOW_PAYMENT_REMINDER_OFFSETS_SECONDS='[20, 40]'`); durations",
        "are seconds and may have decimals; money is integer minor units of the order's",
        "currency (cents for EUR, none for JPY); a worker refuses to start with a value it cannot",
        "read, naming the setting. The runtime settings apply to every worker; each worker's own",
        "have its name in the prefix.",
    ]
    current = None
    for setting in every_setting():
        if setting.section != current:
            current = setting.section
            lines += ["", f"## {section_title(current)}", ""]
            lines += ["| variable | type | default | format | meaning |", "|---|---|---|---|---|"]
        default = f"`{setting.default}`"
        hint = seconds_hint(setting)
        if hint:
            default += f" ({hint})"
        cells = [f"`{setting.env}`", f"`{setting.type}`", default, setting.format]
        cells.append(setting.meaning)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def section_title(section: str) -> str:
    if section == "runtime":
        return "Runtime (every worker)"
    if section == "rehearsal":
        return "Command: orderflow rehearse"
    return f"Worker: {section}"


def print_settings(console: Console) -> None:
    for section in dict.fromkeys(setting.section for setting in every_setting()):
        title = section_title(section)
        table = Table(
            title=title[0].lower() + title[1:], title_justify="left", show_lines=False, expand=True
        )
        table.add_column("variable", no_wrap=True)
        for column in ("type", "default", "format", "meaning"):
            table.add_column(column, overflow="fold")
        for setting in every_setting():
            if setting.section == section:
                default = setting.default
                hint = seconds_hint(setting)
                default += f" ({hint})" if hint else ""
                cells = (setting.env, setting.type, default, setting.format, setting.meaning)
                table.add_row(*(escape(cell) for cell in cells))
        console.print(table)
