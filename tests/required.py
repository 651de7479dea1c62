"""What a test needs from the machine: where it is missing the test is skipped, except in CI
(CI=true), where .ci/run provides everything and a missing tool or service is a failure."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def required(what: str) -> NoReturn:
    """Skip, or in CI fail: ``what`` (a sentence saying what is missing and how to get it)."""
    if in_ci():
        pytest.fail(f"{what}; CI needs it (.ci/run provides it)")
    pytest.skip(what)
