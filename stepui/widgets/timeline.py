"""An expiry timeline: a time axis at days/weeks/months/years zoom, certificate lifetimes as
bars when few, a per-bucket histogram of expiries when many; "now" and the renew window are
marked, and a selected bucket can filter the table. Counts come from one SQL GROUP BY."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from stepui.authority.service import Authority
from stepui.widgets.cert_table import subject_cell
from stepui.widgets.status import STATE_STYLES, renew_horizon, state_of

ZOOMS = {"days": 1, "weeks": 7, "months": 30, "years": 365}
LABEL_FORMATS = {"days": "%m-%d", "weeks": "%m-%d", "months": "%Y-%m", "years": "%Y"}
MARGIN = 9
BLOCKS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    valid: int
    expired: int
    revoked: int

    @property
    def total(self) -> int:
        return self.valid + self.expired + self.revoked


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
        self._cache: tuple[tuple, list[Bucket]] | None = None
        self.cursor: int | None = None  # a bucket index; None: the bucket holding "now"
        self.pan = 0  # in half-axis steps

    def reload(self) -> None:
        self._cache = None
        self.refresh()

    # -- data ------------------------------------------------------------------------------
    @property
    def step(self) -> timedelta:
        return timedelta(days=ZOOMS[self.zoom])

    def columns(self) -> int:
        return max(4, self.size.width - MARGIN)

    def start(self, now: datetime) -> datetime:
        """A fifth of the axis lies in the past; buckets start at midnight UTC."""
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - self.step * (self.columns() // 5 - self.pan * (self.columns() // 2))

    def buckets(self) -> list[Bucket]:
        now = self.authority.clock()
        start, step, count = self.start(now), self.step, self.columns()
        key = (start, step, count)
        if self._cache is None or self._cache[0] != key:
            rows = self.authority.store.ca.not_after_histogram(
                self.authority.query(), start, int(step.total_seconds()), count
            )
            buckets = [
                Bucket(start + step * i, start + step * (i + 1), **row)
                for i, row in enumerate(rows)
            ]
            self._cache = (key, buckets)
        return self._cache[1]

    # -- rendering -------------------------------------------------------------------------
    def render(self) -> Text:
        now = self.authority.clock()
        buckets = self.buckets()
        if self.cursor is None:
            self.cursor = self.columns() // 5
        self.cursor = min(self.cursor, len(buckets) - 1)
        plot_height = max(2, self.size.height - 3)
        total = sum(b.total for b in buckets)
        horizon = renew_horizon(self.authority, now)
        if 0 < total <= plot_height:
            lines = self._bars(buckets, plot_height, now)
        else:
            lines = self._histogram(buckets, plot_height, now, horizon)
        lines.append(self._axis(buckets, now, horizon))
        lines.append(self._labels(buckets))
        lines.append(self._status(buckets))
        return Text("\n").join(lines)

    def _column_style(self, index: int, bucket: Bucket, now: datetime, horizon: datetime) -> str:
        if bucket.end <= now:
            style = STATE_STYLES["expired"]
        elif bucket.start < horizon:
            style = STATE_STYLES["expiring"]
        else:
            style = STATE_STYLES["valid"]
        return f"{style} reverse" if index == self.cursor else style

    def _histogram(
        self, buckets: list[Bucket], height: int, now: datetime, horizon: datetime
    ) -> list[Text]:
        peak = max((b.total for b in buckets), default=0) or 1
        lines = []
        for row in range(height, 0, -1):
            label = f"{peak:>{MARGIN - 2},} ┤" if row == height else " " * (MARGIN - 1) + "│"
            line = Text(label, style="dim")
            for i, bucket in enumerate(buckets):
                eighths = round(bucket.total / peak * height * 8)
                fill = max(0, min(8, eighths - (row - 1) * 8))
                if bucket.total and row == 1 and fill == 0:
                    fill = 1
                char = BLOCKS[fill] if fill else " "
                style = self._column_style(i, bucket, now, horizon)
                line.append(char, style=style if fill or i == self.cursor else "")
            lines.append(line)
        return lines

    def _bars(self, buckets: list[Bucket], height: int, now: datetime) -> list[Text]:
        start, end = buckets[0].start, buckets[-1].end
        records = self.authority.certificates(not_after_from=start, not_after_to=end, limit=height)
        lines = []
        for record in records:
            state = state_of(self.authority, record, now)
            line = Text(subject_cell(record)[: MARGIN - 1].ljust(MARGIN), style="dim")
            for i, bucket in enumerate(buckets):
                inside = record.not_before < bucket.end and record.not_after >= bucket.start
                style = STATE_STYLES[state] + (" reverse" if i == self.cursor else "")
                line.append("━" if inside else " ", style=style if inside else "")
            lines.append(line)
        lines += [Text("")] * (height - len(records))
        return lines

    def _axis(self, buckets: list[Bucket], now: datetime, horizon: datetime) -> Text:
        line = Text(" " * (MARGIN - 1) + "└", style="dim")
        for bucket in buckets:
            if bucket.start <= now < bucket.end:
                line.append("▲", style="bold")
            elif now <= bucket.start < horizon:
                line.append("═", style=STATE_STYLES["expiring"])
            else:
                line.append("─", style="dim")
        return line

    def _labels(self, buckets: list[Bucket]) -> Text:
        fmt = LABEL_FORMATS[self.zoom]
        width = len(buckets[0].start.strftime(fmt)) + 2
        chars = [" "] * len(buckets)
        for i in range(0, len(buckets) - width + 1, width * 2):
            for j, c in enumerate(buckets[i].start.strftime(fmt)):
                chars[i + j] = c
        return Text(f"{self.zoom:<{MARGIN}}" + "".join(chars), style="dim")

    def _status(self, buckets: list[Bucket]) -> Text:
        bucket = buckets[self.cursor]
        end = bucket.end - timedelta(seconds=1)
        text = Text(f"{bucket.start:%Y-%m-%d}..{end:%Y-%m-%d} ", style="bold")
        text.append(f"{bucket.total:,} ending")
        for state in ("valid", "expired", "revoked"):
            count = getattr(bucket, state)
            if count:
                text.append(f" {count:,} {state}", style=STATE_STYLES[state])
        text.append("  ▲ now ", style="dim")
        text.append("═ renew window", style=STATE_STYLES["expiring"])
        return text

    # -- actions ---------------------------------------------------------------------------
    def watch_zoom(self) -> None:
        self.pan = 0
        self.refresh()

    def action_move(self, delta: int) -> None:
        current = self.columns() // 5 if self.cursor is None else self.cursor
        self.cursor = max(0, min(self.columns() - 1, current + delta))
        self.refresh()

    def action_pan(self, delta: int) -> None:
        self.pan += delta
        self.refresh()

    def action_zoom(self, delta: int) -> None:
        names = list(ZOOMS)
        self.zoom = names[max(0, min(len(names) - 1, names.index(self.zoom) + delta))]

    def action_choose(self) -> None:
        index = self.columns() // 5 if self.cursor is None else self.cursor
        self.post_message(self.BucketChosen(self.buckets()[index]))

    def on_click(self, event: events.Click) -> None:
        if event.x >= MARGIN:
            self.cursor = min(self.columns() - 1, event.x - MARGIN)
            self.refresh()
            if event.chain >= 2:
                self.action_choose()
