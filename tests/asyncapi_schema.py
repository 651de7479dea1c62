"""The official JSON Schema of an AsyncAPI version, from the AsyncAPI initiative's own npm package
(@asyncapi/specs), fetched once with npm into .cache/ (git-ignored) and kept there."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from tests.required import required

SPECS_PACKAGE = "@asyncapi/specs@6.11.1"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "asyncapi-specs"


def official_schema(version: str) -> dict[str, Any]:
    """The schema of AsyncAPI ``version``, self-contained (its definitions inline). Skipped
    where npm cannot fetch it, except in CI, where that fails the test."""
    schema = CACHE / "package" / "schemas" / f"{version}-without-$id.json"
    if not schema.exists():
        _fetch()
    return dict(json.loads(schema.read_text()))


def _fetch() -> None:
    npm = shutil.which("npm")
    problem = "npm is not installed" if npm is None else ""
    if npm is not None:
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "pack", SPECS_PACKAGE, "--pack-destination", str(CACHE), "--silent"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode == 0:
            with tarfile.open(CACHE / done.stdout.strip().splitlines()[-1]) as packed:
                if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
                    packed.extractall(CACHE, filter="data")
                else:
                    packed.extractall(CACHE)
            return
        problem = f"npm pack {SPECS_PACKAGE} failed: {done.stderr.strip()[-500:]}"
    required(f"the official AsyncAPI schema is not at hand: {problem}")
