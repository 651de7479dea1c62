"""The report's HTML page in headless Chromium: it must load, show every chart, and leave a
screenshot behind as the test's artifact (``test-artifacts/report.png``, or where
``ORDERFLOW_TEST_ARTIFACTS`` says)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.required import required

REPOSITORY = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def artifacts() -> Path:
    folder = Path(os.environ.get("ORDERFLOW_TEST_ARTIFACTS", REPOSITORY / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    required("headless Chromium is missing (Debian: apt-get install chromium)")


def headless(page: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", *arguments, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def screenshot(page: Path, charts: int) -> Path:
    """The page as Chromium lays it out: every chart's image decoded, a screenshot taken."""
    dom = headless(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('src="data:image/png;base64,') == charts
    shot = artifacts() / "report.png"
    shot.unlink(missing_ok=True)
    taken = headless(page, f"--screenshot={shot}", "--window-size=1400,2600")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == PNG_SIGNATURE
    assert shot.stat().st_size > 20_000, "the screenshot is nearly blank"
    return shot
