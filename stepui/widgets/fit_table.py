"""A DataTable whose columns fit the width it has: at 80 columns no horizontal scrollbar, at
120 the room goes to the text that needs it.

Columns are as wide as their widest cell. When that is more than the table has, the column
with the most to spare above its minimum gives one cell, again and again, so long free text
and long names share the cut; cut cells end in "…". The table re-fits when its width or its
rows change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

SCROLLBAR = 2  # kept free for the vertical scrollbar, so a long table does not re-fit


@dataclass(frozen=True)
class FitColumn:
    title: str
    minimum: int  # it may be cut down to this many cells


def fit_widths(columns: Sequence[FitColumn], natural: list[int], room: int) -> list[int]:
    """Widths within ``room`` cells of content (when the minimums allow)."""
    widths = list(natural)
    excess = sum(widths) - room
    while excess > 0:
        slack = [w - c.minimum for w, c in zip(widths, columns, strict=True)]
        widest = max(range(len(widths)), key=slack.__getitem__)
        if slack[widest] <= 0:
            break
        widths[widest] -= 1
        excess -= 1
    return widths


class FitTable(DataTable[Text]):
    """Give the columns once, then ``show(rows)``; each row is (cells, key)."""

    def __init__(self, columns: Sequence[FitColumn], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.fit_columns = tuple(columns)
        self._rows: list[tuple[tuple[str, ...], str | None]] = []
        self._fitted_for: tuple[int, int] | None = None

    def show(self, rows: Sequence[tuple[Sequence[str], str | None]]) -> None:
        """Replace the rows, keeping the cursor on the same row number."""
        self._rows = [(tuple(cells), key) for cells, key in rows]
        self._fitted_for = None
        self._fill()

    def on_resize(self) -> None:
        if self._fitted_for != (self.size.width, len(self._rows)):
            self._fill()

    def _fill(self) -> None:
        if not self.size.width:
            return
        self._fitted_for = (self.size.width, len(self._rows))
        columns = self.fit_columns
        natural = [
            max([len(c.title), *(len(cells[i]) for cells, _ in self._rows)])
            for i, c in enumerate(columns)
        ]
        room = self.size.width - SCROLLBAR - 2 * self.cell_padding * len(columns)
        widths = fit_widths(columns, natural, room)
        cursor = self.cursor_row
        self.clear(columns=True)
        for column, width in zip(columns, widths, strict=True):
            self.add_column(column.title, width=width)
        for cells, key in self._rows:
            self.add_row(*(Text(c, no_wrap=True, overflow="ellipsis") for c in cells), key=key)
        if self._rows:
            self.move_cursor(row=min(cursor, len(self._rows) - 1))
