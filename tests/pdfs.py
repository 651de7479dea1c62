"""Reading back a rendered PDF as a person and a scanner would: its text (pdftotext, Debian's
poppler-utils) and the barcodes on its pages (rasterised by pdftoppm, decoded by zbarimg from
Debian's zbar-tools)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.required import required

SPACES = str.maketrans({"\N{NO-BREAK SPACE}": " ", "\N{NARROW NO-BREAK SPACE}": " "})


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        required(f"{name} is not installed (Debian: apt-get install {package})")
    return found


def text(pdf: Path) -> str:
    """The PDF's text in reading order, columns kept on their line, no-break spaces as spaces."""
    done = subprocess.run(
        [tool("pdftotext", "poppler-utils"), "-layout", str(pdf), "-"],
        capture_output=True,
        check=True,
        text=True,
    )
    return done.stdout.translate(SPACES)


def barcodes(pdf: Path, work: Path) -> list[str]:
    """Every barcode zbar finds on the PDF's pages rendered at 300 dpi, as ``TYPE:data``."""
    prefix = work / pdf.stem
    subprocess.run(
        [tool("pdftoppm", "poppler-utils"), "-r", "300", "-gray", "-png", str(pdf), str(prefix)],
        check=True,
    )
    pages = sorted(work.glob(f"{pdf.stem}*.png"))
    done = subprocess.run(
        [tool("zbarimg", "zbar-tools"), "--quiet", *map(str, pages)],
        capture_output=True,
        text=True,
    )
    return done.stdout.splitlines()
