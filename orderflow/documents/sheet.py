"""A page being written top to bottom: text in any script at a cursor, rows of columns, and a new
page when the cursor reaches the bottom margin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Literal

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from .fonts import runs, width

Align = Literal["left", "right"]
MARGIN = 15 * mm


@dataclass(frozen=True)
class Column:
    """Where a column's text starts (left) or ends (right), from the left margin."""

    at: float
    align: Align = "left"


class Sheet:
    def __init__(self, title: str, size: tuple[float, float] = A4, margin: float = MARGIN) -> None:
        self.buffer = BytesIO()
        self.canvas = Canvas(self.buffer, pagesize=size, pageCompression=1)
        self.canvas.setTitle(title)
        self.width, self.height = size
        self.margin = margin
        self.y = self.height - margin

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = 10,
        bold: bool = False,
        align: Align = "left",
    ) -> None:
        """``text`` at (x, y), each run in the font that has its glyphs."""
        if align == "right":
            x -= width(text, size, bold)
        for run in runs(text, bold):
            self.canvas.setFont(run.font, size)
            self.canvas.drawString(x, y, run.text)
            x += self.canvas.stringWidth(run.text, run.font, size)

    def line(self, text: str, size: float = 10, bold: bool = False, align: Align = "left") -> None:
        """One line at the cursor, which moves down past it."""
        self.room(size * 1.5)
        x = self.width - self.margin if align == "right" else self.margin
        self.text(x, self.y - size, text, size, bold, align)
        self.y -= size * 1.5

    def row(
        self, columns: Sequence[Column], cells: Sequence[str], size: float = 10, bold: bool = False
    ) -> None:
        self.room(size * 1.6)
        for column, cell in zip(columns, cells, strict=True):
            self.text(self.margin + column.at, self.y - size, cell, size, bold, column.align)
        self.y -= size * 1.6

    def rule(self) -> None:
        self.room(4 * mm)
        self.y -= 1.5 * mm
        self.canvas.line(self.margin, self.y, self.width - self.margin, self.y)
        self.y -= 2.5 * mm

    def space(self, height: float = 4 * mm) -> None:
        self.y -= height

    def room(self, height: float) -> None:
        """A new page if ``height`` does not fit above the bottom margin."""
        if self.y - height < self.margin:
            self.canvas.showPage()
            self.y = self.height - self.margin

    def pdf(self) -> bytes:
        self.canvas.save()
        return self.buffer.getvalue()
