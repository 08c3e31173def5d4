"""The audit log: who did what to which CA or certificate, newest first."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget

from stepui.screens.base import WorkbenchScreen
from stepui.widgets.fit_table import FitColumn, FitTable

AUDIT_ROWS = 500
COLUMNS = (
    FitColumn("When", 16),
    FitColumn("Actor", 5),
    FitColumn("Action", 10),
    FitColumn("Target", 10),
    FitColumn("Detail", 12),
)


class AuditScreen(WorkbenchScreen):
    MODE = "audit"
    HELP = """\
# Audit log

Every change the Authority made (CA created, certificate issued, renewed, revoked, CRL
generated, template added), newest first. `enter` on a certificate entry opens it.
"""

    def body(self) -> Iterable[Widget]:
        yield FitTable(COLUMNS, id="audit-table")

    def on_mount(self) -> None:
        super().on_mount()
        self.reload()
        self.query_one(FitTable).focus()

    def reload(self) -> None:
        rows = []
        for entry in self.authority.audit_log(limit=AUDIT_ROWS):
            detail = ", ".join(f"{k}={v}" for k, v in entry.detail.items() if v not in (None, ""))
            cells = (f"{entry.at:%Y-%m-%d %H:%M}", entry.actor, entry.action, entry.target, detail)
            rows.append((cells, f"{entry.id}:{entry.action}:{entry.target}"))
        self.query_one(FitTable).show(rows)

    def on_data_table_row_selected(self, event: FitTable.RowSelected) -> None:
        """enter (the table's own key) or a click on an entry: a certificate opens."""
        _, action, target = (event.row_key.value or "::").split(":", 2)
        if action.startswith("cert."):
            self.workbench.open_certificate(target)
