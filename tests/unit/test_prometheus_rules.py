"""The alert rules and the Prometheus configuration, checked by Prometheus' own promtool: the
rules load, their unit tests (deploy/prometheus/alerts.test.yml) pass, and the configuration the
compose file mounts is valid. Without promtool the tests skip, except in CI (CI=true), where
.ci/run installs Debian's ``prometheus`` package and a missing promtool is a failure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.required import required

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        required("promtool is missing (Debian: apt-get install prometheus)")
    return found


@pytest.mark.parametrize(
    "command",
    [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
        ["check", "config", "prometheus.yml"],
    ],
    ids=" ".join,
)
def test_promtool_accepts_the_rules_their_tests_and_the_config(command: list[str]) -> None:
    result = subprocess.run(
        [promtool(), *command], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


ALERT = re.compile(r"^\s*- alert: (\S+)$", re.MULTILINE)
CASE = re.compile(r"alertname: (\S+)\n\s*exp_alerts:(?P<none> \[\])?")


def test_every_alert_has_a_case_that_fires_and_one_that_must_not() -> None:
    alerts = set(ALERT.findall((PROMETHEUS / "alerts.yml").read_text()))
    cases = CASE.finditer((PROMETHEUS / "alerts.test.yml").read_text())
    fires: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        (silent if case["none"] else fires).add(case[1])
    assert alerts, "no alert found in alerts.yml"
    assert alerts - fires == set(), "no test case in which these fire"
    assert alerts - silent == set(), "no test case in which these must not fire"
    assert (fires | silent) - alerts == set(), "tests name alerts that do not exist"


def test_every_volume_the_compose_file_mounts_from_deploy_exists() -> None:
    volumes = re.findall(r"\./(deploy/[^:\s\"\]]+):/", (ROOT / "docker-compose.yml").read_text())
    assert {"deploy/prometheus", "deploy/grafana/dashboards"} <= set(volumes)
    assert [path for path in volumes if not (ROOT / path).exists()] == []
