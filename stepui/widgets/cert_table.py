"""A certificate table that scales to 100,000 rows: it asks the Authority for one page of rows
at a time (LIMIT/OFFSET) as they scroll into view and never builds a widget per row."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from stepui.authority.service import Authority
from stepui.store import CertificateRecord
from stepui.widgets.status import STATE_STYLES, state_of

PAGE_SIZE = 100
CACHED_PAGES = 16


@dataclass(frozen=True)
class TableFilter:
    """What the table shows: the `/` search, a state, an issuer, a timeline bucket."""

    search: str = ""
    state: str | None = None  # valid | expiring | expired | revoked
    ca_id: str | None = None
    not_after_from: datetime | None = None
    not_after_to: datetime | None = None

    def query_args(self, authority: Authority) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.search.strip():
            args["search"] = self.search.strip()
        if self.state == "expiring":
            args["renew_before"] = authority.config.renew_before
        elif self.state:
            args["status"] = self.state
        if self.ca_id:
            args["ca_id"] = self.ca_id
        if self.not_after_from:
            args["not_after_from"] = self.not_after_from
        if self.not_after_to:
            args["not_after_to"] = self.not_after_to
        return args

    def describe(self) -> str:
        parts = []
        if self.search.strip():
            parts.append(f"/{self.search.strip()}")
        if self.state:
            parts.append(self.state)
        if self.ca_id:
            parts.append(f"issuer {self.ca_id}")
        if self.not_after_from and self.not_after_to:
            parts.append(f"ends {self.not_after_from:%Y-%m-%d}..{self.not_after_to:%Y-%m-%d}")
        return ", ".join(parts) or "all"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int  # 0: takes the remaining width
    sort: str | None


COLUMNS = (
    Column("mark", "", 1, None),
    Column("serial", "Serial", 10, "serial"),
    Column("subject", "Subject / SANs", 0, "subject"),
    Column("issuer", "Issuer", 12, "ca_id"),
    Column("not_after", "Expires", 10, "not_after"),
    Column("days", "Days", 5, "not_after"),
    Column("status", "Status", 8, "status"),
    Column("requester", "Requester", 9, "requester"),
)
SORTABLE = tuple(c for c in COLUMNS if c.sort and c.key != "days")


def subject_cell(record: CertificateRecord) -> str:
    """The common name (or the first SAN) and how many more names there are."""
    cn = next(
        (part[3:] for part in record.subject.split(",") if part.upper().startswith("CN=")), ""
    )
    names = [s.partition(":")[2] for s in record.sans]
    main = cn or (names[0] if names else record.subject)
    extra = len([n for n in names if n != main])
    return f"{main} +{extra}" if extra else main


class CertificateTable(ScrollView, can_focus=True):
    """Rows come from ``Authority.certificates(limit=, offset=)``; the cursor and the
    multi-selection are kept by serial so they survive reloads."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home,g", "jump(0)", "First", show=False, id="table.first"),
        Binding("end,G", "jump(-1)", "Last", show=False, id="table.last"),
        Binding("space", "toggle_select", "Mark", id="table.select", tooltip="Mark for bulk"),
        Binding("enter", "open", "Open", show=False, id="table.open", tooltip="Certificate detail"),
        Binding(
            "o", "sort_next", "Sort", show=False, id="table.sort", tooltip="Sort by the next column"
        ),
        Binding("O", "sort_reverse", "Reverse", show=False, id="table.reverse"),
    ]
    COMPONENT_CLASSES = {
        "cert-table--header",
        "cert-table--cursor",
        "cert-table--selected",
    }
    DEFAULT_CSS = """
    CertificateTable { height: 1fr; }
    CertificateTable > .cert-table--header { text-style: bold; background: $panel; }
    CertificateTable > .cert-table--cursor { background: $block-cursor-background;
        color: $block-cursor-foreground; }
    CertificateTable > .cert-table--selected { text-style: bold; background: $primary 30%; }
    """

    class Highlighted(Message):
        def __init__(self, table: CertificateTable, record: CertificateRecord | None) -> None:
            super().__init__()
            self.table, self.record = table, record

    class Opened(Message):
        def __init__(self, table: CertificateTable, record: CertificateRecord) -> None:
            super().__init__()
            self.table, self.record = table, record

    class Reloaded(Message):
        """The row count changed (new filter, new data)."""

        def __init__(self, table: CertificateTable, total: int) -> None:
            super().__init__()
            self.table, self.total = table, total

    cursor = reactive(0, always_update=True)
    sort = reactive("not_after")
    descending = reactive(False)

    def __init__(self, authority: Authority, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.authority = authority
        self.filter = TableFilter()
        self.total = 0
        self.selected: set[str] = set()
        self._pages: OrderedDict[int, list[CertificateRecord]] = OrderedDict()
        self._now = authority.clock()

    # -- data ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.reload()

    def set_filter(self, table_filter: TableFilter) -> None:
        self.filter = table_filter
        self.cursor = 0
        self.reload()

    def update_filter(self, **changes: Any) -> None:
        self.set_filter(replace(self.filter, **changes))

    def reload(self) -> None:
        """Count again and forget cached pages: called on a new filter and on every event."""
        self._now = self.authority.clock()
        self._pages.clear()
        self.total = self.authority.count(**self._args())
        self.virtual_size = Size(self.size.width, self.total + 1)
        self.cursor = max(0, min(self.cursor, self.total - 1))
        self.refresh()
        self.post_message(self.Reloaded(self, self.total))

    def _args(self) -> dict[str, Any]:
        return self.filter.query_args(self.authority)

    def record_at(self, index: int) -> CertificateRecord | None:
        if not 0 <= index < self.total:
            return None
        page_number, offset = divmod(index, PAGE_SIZE)
        page = self._pages.get(page_number)
        if page is None:
            page = self.authority.certificates(
                **self._args(),
                sort=self.sort,
                descending=self.descending,
                limit=PAGE_SIZE,
                offset=page_number * PAGE_SIZE,
            )
            self._pages[page_number] = page
            if len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_number)
        return page[offset] if offset < len(page) else None

    @property
    def current(self) -> CertificateRecord | None:
        return self.record_at(self.cursor)

    def chosen(self) -> list[str]:
        """The serials an action applies to: the marked rows, else the row under the cursor."""
        if self.selected:
            return sorted(self.selected)
        record = self.current
        return [record.serial] if record else []

    # -- rendering -------------------------------------------------------------------------
    def _widths(self, width: int) -> list[int]:
        fixed = sum(c.width for c in COLUMNS) + len(COLUMNS) - 1
        return [c.width or max(8, width - fixed) for c in COLUMNS]

    def _cells(self, record: CertificateRecord) -> list[tuple[str, str]]:
        state = state_of(self.authority, record, self._now)
        days = (record.not_after - self._now).days
        return [
            ("*" if record.serial in self.selected else " ", "bold"),
            (record.serial[:10], ""),
            (subject_cell(record), ""),
            (record.ca_id or record.issuer, "dim"),
            (f"{record.not_after:%Y-%m-%d}", ""),
            (str(days), STATE_STYLES[state]),
            (state, STATE_STYLES[state]),
            (record.requester, "dim"),
        ]

    def _line(self, cells: list[tuple[str, str]], width: int, base: Style) -> Strip:
        text = Text(no_wrap=True, overflow="ellipsis", style=base)
        for (value, style), column, size in zip(cells, COLUMNS, self._widths(width), strict=True):
            cell = Text(value.rjust(size) if column.key == "days" else value, style=style)
            cell.truncate(size, overflow="ellipsis", pad=True)
            text.append_text(cell)
            text.append(" ")
        segments = list(text.render(self.app.console))
        return Strip(segments).crop_extend(0, width, base)

    def _header(self, width: int) -> Strip:
        style = self.get_component_rich_style("cert-table--header")
        cells = []
        for column in COLUMNS:
            arrow = ""
            if column.sort == self.sort and column.key != "days":
                arrow = " v" if self.descending else " ^"
            cells.append((column.title + arrow, ""))
        return self._line(cells, width, style)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header(width)
        index = self.scroll_offset.y + y - 1
        record = self.record_at(index)
        base = self.rich_style
        if record is None:
            if index == 0 and self.total == 0:
                message = f" no certificates match ({self.filter.describe()}): escape clears"
                if self.filter == TableFilter():
                    message = " no certificates yet: press i to issue one"
                return Strip([Segment(message, base + Style(dim=True))]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if index == self.cursor and self.has_focus:
            base = base + self.get_component_rich_style("cert-table--cursor")
        elif index == self.cursor:
            base = base + Style(reverse=True)
        elif record.serial in self.selected:
            base = base + self.get_component_rich_style("cert-table--selected")
        return self._line(self._cells(record), width, base)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.total + 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- cursor and actions ----------------------------------------------------------------
    def watch_cursor(self, cursor: int) -> None:
        rows = max(1, self.scrollable_content_region.height - 1)
        if cursor < self.scroll_offset.y:
            self.scroll_to(y=cursor, animate=False, immediate=True)
        elif cursor >= self.scroll_offset.y + rows:
            self.scroll_to(y=cursor - rows + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Highlighted(self, self.current))

    def watch_sort(self) -> None:
        self.reload()

    def watch_descending(self) -> None:
        self.reload()

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(self.total - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        self.cursor = max(0, self.total - 1) if where < 0 else 0

    def action_toggle_select(self) -> None:
        record = self.current
        if record is None:
            return
        self.selected.symmetric_difference_update({record.serial})
        self.action_cursor(1)
        self.refresh()

    def clear_selection(self) -> None:
        self.selected.clear()
        self.refresh()

    def action_open(self) -> None:
        record = self.current
        if record is not None:
            self.post_message(self.Opened(self, record))

    def action_sort_next(self) -> None:
        keys = [c.sort for c in SORTABLE]
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)] if self.sort in keys else keys[0]

    def action_sort_reverse(self) -> None:
        self.descending = not self.descending

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = 0
            for column, size in zip(COLUMNS, self._widths(self.size.width), strict=True):
                if x <= event.x < x + size + 1 and column.sort:
                    if column.sort == self.sort:
                        self.descending = not self.descending
                    else:
                        self.sort = column.sort
                x += size + 1
            return
        index = self.scroll_offset.y + event.y - 1
        if 0 <= index < self.total:
            self.cursor = index
            if event.chain >= 2:
                self.action_open()
