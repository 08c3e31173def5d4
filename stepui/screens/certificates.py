"""The certificates table with its `/` filter, state and issuer filters and bulk actions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input, Static

from stepui.screens.base import WorkbenchScreen
from stepui.widgets.cert_table import CertificateTable, TableFilter
from stepui.widgets.status import STATES

SEARCH_DELAY = 0.15


class CertificatesScreen(WorkbenchScreen):
    MODE = "certificates"
    HELP = """\
# Certificates

Every certificate the CA knows, one page at a time from the database.

- `/` filters over serial, subject and SANs; `escape` clears the filters
- `f` cycles the state filter (valid, expiring, expired, revoked), `c` the issuing CA
- `o` sorts by the next column, `O` reverses; clicking a column title sorts too
- `space` marks rows; `r` renews and `x` revokes the marked rows (or the row under the cursor)
- `enter` opens the detail of a certificate
"""
    BINDINGS = [
        Binding("slash", "search", "Filter", id="certs.search", tooltip="Filter over every field"),
        Binding("f", "cycle_state", "State", id="certs.state", tooltip="Filter by state"),
        Binding(
            "c",
            "cycle_issuer",
            "Issuer",
            show=False,  # secondary: in `?` help and the palette; the footer fits 80 columns
            id="certs.issuer",
            tooltip="Filter by issuing CA",
        ),
        Binding("r", "renew", "Renew", id="certs.renew", tooltip="Renew marked or current"),
        Binding("x", "revoke", "Revoke", id="certs.revoke", tooltip="Revoke marked or current"),
        Binding("escape", "clear", "Clear", show=False, id="certs.clear"),
    ]

    def body(self) -> Iterable[Widget]:
        yield Input(placeholder="filter: serial, subject, SAN…", id="search")
        yield CertificateTable(self.authority, id="table")
        yield Static(id="summary")

    @property
    def table(self) -> CertificateTable:
        return self.query_one(CertificateTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#search").display = False
        self.table.focus()

    def reload(self) -> None:
        self.table.reload()

    def set_filter(self, table_filter: TableFilter) -> None:
        """Used by other screens (tree, timeline) to show a subset here."""
        search = self.query_one("#search", Input)
        search.value = table_filter.search
        search.display = bool(table_filter.search)
        self.table.set_filter(table_filter)

    def filter_bucket(self, start: datetime, end: datetime) -> None:
        self.table.update_filter(not_after_from=start, not_after_to=end)

    def _summary(self) -> None:
        table = self.table
        noun = "certificate" if table.total == 1 else "certificates"
        parts = [f"{table.total:,} {noun}", table.filter.describe()]
        if table.selected:
            parts.append(f"{len(table.selected)} marked")
        sort = table.sort.replace("_", " ") + (" desc" if table.descending else "")
        parts.append(f"sort {sort}")
        self.query_one("#summary", Static).update(" · ".join(parts))

    def on_certificate_table_reloaded(self, event: CertificateTable.Reloaded) -> None:
        self._summary()

    def on_certificate_table_highlighted(self, event: CertificateTable.Highlighted) -> None:
        self._summary()

    def on_certificate_table_opened(self, event: CertificateTable.Opened) -> None:
        self.workbench.open_certificate(event.record.serial)

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self.set_timer(SEARCH_DELAY, self._apply_search, name="search")

    def _apply_search(self) -> None:
        value = self.query_one("#search", Input).value
        if value != self.table.filter.search:
            self.table.update_filter(search=value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self._apply_search()
            self.table.focus()

    def action_cycle_state(self) -> None:
        order = [None, *STATES]
        current = order.index(self.table.filter.state)
        self.table.update_filter(state=order[(current + 1) % len(order)])

    def action_cycle_issuer(self) -> None:
        order = [None, *(ca.id for ca in self.authority.authorities())]
        current = order.index(self.table.filter.ca_id) if self.table.filter.ca_id in order else 0
        self.table.update_filter(ca_id=order[(current + 1) % len(order)])

    def action_clear(self) -> None:
        search = self.query_one("#search", Input)
        search.value = ""
        search.display = False
        self.table.clear_selection()
        self.table.set_filter(TableFilter())
        self.table.focus()

    def chosen_serials(self) -> list[str]:
        """What renew/revoke apply to (the command palette asks too)."""
        return self.table.chosen()

    def action_renew(self) -> None:
        serials = self.table.chosen()
        if serials:
            self.workbench.renew(serials, on_done=lambda _: self.table.clear_selection())

    def action_revoke(self) -> None:
        serials = self.table.chosen()
        if serials:
            self.workbench.revoke(serials, on_done=lambda _: self.table.clear_selection())
