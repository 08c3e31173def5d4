"""An expiry timeline: a time axis at days/weeks/months/years zoom, certificate lifetimes as
bars when few, a stacked histogram of expiries per bucket when many. "Now" and the renew
windows are marked, and a selected bucket can filter the table.

Counts come from one SQL query over the validity index (``CaStore.not_after_histogram``),
for the visible buckets only; "expiring" means inside a certificate's own renew window, as in
the table and the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from stepui.authority.service import Authority
from stepui.widgets.cert_table import subject_cell
from stepui.widgets.status import STATE_STYLES, STATES, legend, renew_rule, state_of

ZOOMS = {"days": 1, "weeks": 7, "months": 30, "years": 365}
LABEL_FORMATS = {"days": "%m-%d", "weeks": "%m-%d", "months": "%Y-%m", "years": "%Y"}
BLOCKS = " ▁▂▃▄▅▆▇█"
CURSOR = "on #3b4252"
NOW_STYLE = "bold #e5e9f0"
STACK = ("expired", "expiring", "valid", "revoked")  # bottom to top
WIDE = 100  # from this width the legend also spells out the renew rule


def margin_for(width: int) -> int:
    """Room left of the axis for names or counts: a quarter of the width, within reason."""
    return max(10, min(28, width // 4))


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    valid: int  # expiring included
    expiring: int
    expired: int
    revoked: int

    @property
    def total(self) -> int:
        return self.valid + self.expired + self.revoked

    def counts(self) -> dict[str, int]:
        """Disjoint counts per state (valid without the expiring)."""
        return {
            "valid": self.valid - self.expiring,
            "expiring": self.expiring,
            "expired": self.expired,
            "revoked": self.revoked,
        }

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class Timeline(Widget, can_focus=True):
    BINDINGS = [
        Binding("left,h", "move(-1)", "Earlier", show=False, id="timeline.left"),
        Binding("right,l", "move(1)", "Later", show=False, id="timeline.right"),
        Binding("shift+left,H", "pan(-1)", "Pan", show=False, id="timeline.pan_left"),
        Binding("shift+right,L", "pan(1)", "Pan", show=False, id="timeline.pan_right"),
        Binding("z,plus", "zoom(-1)", "Zoom in", id="timeline.zoom_in", tooltip="Shorter buckets"),
        Binding("Z,minus", "zoom(1)", "Zoom out", id="timeline.zoom_out", tooltip="Longer buckets"),
        Binding(
            "enter",
            "choose",
            "Filter",
            id="timeline.choose",
            tooltip="Show this bucket's certificates in the table",
        ),
    ]
    DEFAULT_CSS = "Timeline { height: 1fr; }"

    class BucketChosen(Message):
        def __init__(self, bucket: Bucket) -> None:
            super().__init__()
            self.bucket = bucket

    zoom = reactive("weeks")

    def __init__(self, authority: Authority, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.authority = authority
        self._cache: tuple[tuple[datetime, timedelta, int], list[Bucket]] | None = None
        self.cursor: int | None = None  # a bucket index; None: the bucket holding "now"
        self._marks = (0, -1)  # while rendering: the cursor's and now's bucket index
        self.pan = 0  # in half-axis steps

    def reload(self) -> None:
        self._cache = None
        self.refresh()

    # -- data ------------------------------------------------------------------------------
    @property
    def step(self) -> timedelta:
        return timedelta(days=ZOOMS[self.zoom])

    @property
    def margin(self) -> int:
        return margin_for(self.size.width)

    def columns(self) -> int:
        return max(4, self.size.width - self.margin)

    def start(self, now: datetime) -> datetime:
        """A fifth of the axis lies in the past; buckets start at midnight UTC."""
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - self.step * (self.columns() // 5 - self.pan * (self.columns() // 2))

    def buckets(self) -> list[Bucket]:
        """The visible buckets only, counted in one query and kept until the data, the zoom,
        the pan or the width change."""
        now = self.authority.clock()
        start, step, count = self.start(now), self.step, self.columns()
        key = (start, step, count)
        if self._cache is None or self._cache[0] != key:
            edges = [start + step * i for i in range(count + 1)]
            rows = self.authority.store.ca.not_after_histogram(
                now, edges, self.authority.config.renew_before
            )
            buckets = [Bucket(edges[i], edges[i + 1], **row) for i, row in enumerate(rows)]
            self._cache = (key, buckets)
        return self._cache[1]

    def cursor_index(self) -> int:
        return min(self.columns() - 1, self.columns() // 5 if self.cursor is None else self.cursor)

    # -- rendering -------------------------------------------------------------------------
    def render(self) -> Text:
        now = self.authority.clock()
        buckets = self.buckets()
        now_index = next((i for i, b in enumerate(buckets) if b.contains(now)), -1)
        self._marks = (self.cursor_index(), now_index)
        height = max(2, self.size.height - 4)
        total = sum(b.total for b in buckets)
        if total == 0:
            lines = self._empty(buckets, height)
        elif total <= height:
            lines = self._bars(buckets, height, now)
        else:
            lines = self._histogram(buckets, height)
        lines += [
            self._axis(buckets, now, histogram=total > height),
            self._labels(buckets),
            self._status(buckets),
            self._legend(),
        ]
        for line in lines:
            line.truncate(self.size.width, overflow="ellipsis")
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)

    def _row(self, margin: Text, cells: list[tuple[str, str]], *, plot: bool = True) -> Text:
        """The margin and one cell per bucket. The cursor column gets a background; in a plot
        row an empty cell of the "now" column shows a thin line, so "now" reads as one column.
        Runs of one style become one span (a few dozen per line, not one per cell)."""
        cursor, now = self._marks
        if plot and 0 <= now < len(cells) and cells[now][0] == " ":
            cells[now] = ("┊", NOW_STYLE)
        if 0 <= cursor < len(cells):
            char, style = cells[cursor]
            cells[cursor] = (char, f"{style} {CURSOR}".strip())
        line = margin
        for style, run in groupby(cells, key=lambda cell: cell[1]):
            line.append("".join(char for char, _ in run), style=style)
        return line

    def _margin(self, text: str, *, right: bool = False) -> Text:
        """The part left of the axis: a name cut with … and a gap before the plot, or (right)
        an axis label that ends where the plot starts."""
        width = self.margin
        label = Text(text, style="dim")
        if right:
            label.truncate(width)
            return Text(" " * (width - label.cell_len)) + label  # blanks as their own run
        else:
            label.truncate(width - 1, overflow="ellipsis")
            label.pad_right(width - label.cell_len)
        return label

    def _histogram(self, buckets: list[Bucket], height: int) -> list[Text]:
        """Stacked columns (expired, expiring, valid, revoked from the bottom), in eighths."""
        peak = max(b.total for b in buckets)
        tops = [self._stack_tops(b, peak, height) for b in buckets]
        lines = []
        for row in range(height, 0, -1):
            margin = self._margin(f"{peak:,} ┤" if row == height else "│", right=True)
            floor = (row - 1) * 8
            cells = []
            for stack in tops:
                top = stack[-1][1] if stack else 0
                if top > floor:
                    state = next(s for s, limit in stack if limit > floor)
                    cells.append((BLOCKS[min(8, top - floor)], STATE_STYLES[state]))
                else:
                    cells.append((" ", ""))
            lines.append(self._row(margin, cells))
        return lines

    @staticmethod
    def _stack_tops(bucket: Bucket, peak: int, height: int) -> list[tuple[str, int]]:
        """Each state's upper edge in eighths of a row; a non-empty bucket shows at least one."""
        counts = bucket.counts()
        tops, running = [], 0
        for state in STACK:
            if counts[state]:
                running += counts[state]
                tops.append((state, max(1, round(running / peak * height * 8))))
        return tops

    def _bars(self, buckets: list[Bucket], height: int, now: datetime) -> list[Text]:
        """One line per certificate: its lifetime, the renew window part in the expiring
        colour, the whole bar in the expired or revoked colour when it is."""
        records = self.authority.certificates(
            not_after_from=buckets[0].start, not_after_to=buckets[-1].end, limit=height
        )
        lines = []
        for record in records:
            state = state_of(self.authority, record, now)
            renew_at = self.authority.renew_window(record)
            cells = []
            for bucket in buckets:
                if record.not_before < bucket.end and record.not_after >= bucket.start:
                    shown = state
                    if state in ("valid", "expiring"):
                        shown = "expiring" if bucket.end > renew_at else "valid"
                    cells.append(("━", STATE_STYLES[shown]))
                else:
                    cells.append((" ", ""))
            lines.append(self._row(self._margin(subject_cell(record)), cells))
        return lines + [self._empty_row(len(buckets)) for _ in range(height - len(records))]

    def _empty_row(self, width: int, message: str = "") -> Text:
        """A plot row with nothing drawn, or a message written from the start of the axis."""
        cells = [(char, "italic") for char in message[:width]]
        return self._row(self._margin(""), cells + [(" ", "")] * (width - len(cells)))

    def _empty(self, buckets: list[Bucket], height: int) -> list[Text]:
        if self.authority.count() == 0:
            message = " no certificates yet: press i to issue one"
        else:
            message = " no certificate ends in this range: shift+←/→ pans, Z zooms out"
        lines = [self._empty_row(len(buckets)) for _ in range(height)]
        lines[height // 2] = self._empty_row(len(buckets), message)
        return lines

    def _ticks(self, buckets: list[Bucket]) -> list[int]:
        """Where the date labels go: every few columns, with room for a label and a gap."""
        width = len(buckets[0].start.strftime(LABEL_FORMATS[self.zoom])) + 3
        return list(range(0, len(buckets) - width + 3, width))

    def _axis(self, buckets: list[Bucket], now: datetime, *, histogram: bool) -> Text:
        """─ with ┬ under each date label, ▲ at now, ═ over the buckets up to the last one
        that holds a certificate already inside its renew window."""
        ticks = set(self._ticks(buckets))
        due = [i for i, b in enumerate(buckets) if b.expiring]
        due_end = due[-1] if due else -1
        cells = []
        for i, bucket in enumerate(buckets):
            if bucket.contains(now):
                cells.append(("▲", NOW_STYLE))
            elif bucket.start > now and i <= due_end:
                cells.append(("═", STATE_STYLES["expiring"]))
            else:
                cells.append(("┬" if i in ticks else "─", "dim"))
        return self._row(self._margin("└" if histogram else "", right=True), cells, plot=False)

    def _labels(self, buckets: list[Bucket]) -> Text:
        fmt = LABEL_FORMATS[self.zoom]
        chars = [" "] * len(buckets)
        for i in self._ticks(buckets):
            for j, c in enumerate(buckets[i].start.strftime(fmt)[: len(buckets) - i]):
                chars[i + j] = c
        return self._margin(self.zoom) + Text("".join(chars), style="dim")

    def _status(self, buckets: list[Bucket]) -> Text:
        bucket = buckets[self._marks[0]]
        end = bucket.end - timedelta(seconds=1)
        text = Text(f"{bucket.start:%Y-%m-%d}..{end:%Y-%m-%d}", style="bold")
        text.append("  ").append(f"{bucket.total:,} ending")
        for state, count in bucket.counts().items():
            if count:
                text.append(": " if text.plain.endswith("ending") else ", ")
                text.append(f"{count:,} {state}", style=STATE_STYLES[state])
        return text

    def _legend(self) -> Text:
        text = legend(STATES)
        text.append("  ")
        text.append("▲ now", style=NOW_STYLE)
        text.append("  ")
        text.append("═ due", style=STATE_STYLES["expiring"])
        if self.size.width >= WIDE:
            text.append("  ").append(f"(expiring: in the {renew_rule(self.authority)})", "dim")
        return text

    # -- actions ---------------------------------------------------------------------------
    def watch_zoom(self) -> None:
        self.pan = 0
        self.cursor = None
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.cursor = max(0, min(self.columns() - 1, self.cursor_index() + delta))
        self.refresh()

    def action_pan(self, delta: int) -> None:
        """Panning stops with a bell where the axis would leave the calendar (years 1-9999):
        a held shift+arrow at the years zoom got there in seconds and crashed the render."""
        self.pan += delta
        try:
            self.start(self.authority.clock()) + self.step * (self.columns() + 1)
        except OverflowError:
            self.pan -= delta
            self.app.bell()
            return
        self.refresh()

    def action_zoom(self, delta: int) -> None:
        names = list(ZOOMS)
        self.zoom = names[max(0, min(len(names) - 1, names.index(self.zoom) + delta))]

    def action_choose(self) -> None:
        self.post_message(self.BucketChosen(self.buckets()[self.cursor_index()]))

    def on_click(self, event: events.Click) -> None:
        if event.x >= self.margin:
            self.cursor = min(self.columns() - 1, event.x - self.margin)
            self.refresh()
            if event.chain >= 2:
                self.action_choose()
