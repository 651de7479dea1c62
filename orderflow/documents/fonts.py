"""The fonts documents are set in, embedded in every PDF: customers read Latin, Cyrillic and
Chinese, and no single free font covers all three well.

DejaVu Sans (Debian's fonts-dejavu-core) sets Latin, Cyrillic and Greek; a character it has no
glyph for (Chinese, Japanese) is set in WenQuanYi Micro Hei (fonts-wqy-microhei), the smallest
CJK font Debian packages. A line is cut into runs of one font each, so a Chinese name next to a
Latin street prints in both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FACES = {
    "Sans": (DEJAVU / "DejaVuSans.ttf", 0),
    "Sans-Bold": (DEJAVU / "DejaVuSans-Bold.ttf", 0),
    "CJK": (WQY, 0),
}
PACKAGES = "fonts-dejavu-core and fonts-wqy-microhei"


class FontsMissing(RuntimeError):
    """A font the documents embed is not installed."""


@dataclass(frozen=True)
class Run:
    font: str
    text: str


@cache
def registered() -> dict[str, TTFont]:
    """Every face, registered with reportlab once per process."""
    missing = [str(path) for path, _ in FACES.values() if not path.exists()]
    if missing:
        raise FontsMissing(f"missing {', '.join(missing)}: install Debian's {PACKAGES}")
    fonts = {
        name: TTFont(name, str(path), subfontIndex=index) for name, (path, index) in FACES.items()
    }
    for font in fonts.values():
        pdfmetrics.registerFont(font)
    return fonts


@cache
def _covers(font: str, character: str) -> bool:
    return ord(character) in registered()[font].face.charToGlyph


def runs(text: str, bold: bool = False) -> Iterator[Run]:
    """``text`` cut where the font must change: DejaVu where it has the glyph, else the CJK."""
    registered()
    main = "Sans-Bold" if bold else "Sans"
    start, current = 0, main
    for at, character in enumerate(text):
        font = main if character.isspace() or _covers(main, character) else "CJK"
        if font != current and at > start:
            yield Run(current, text[start:at])
            start = at
        current = font
    if text[start:]:
        yield Run(current, text[start:])


def width(text: str, size: float, bold: bool = False) -> float:
    """How wide ``text`` prints at ``size`` points."""
    return sum(float(pdfmetrics.stringWidth(run.text, run.font, size)) for run in runs(text, bold))
