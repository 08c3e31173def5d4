"""The audit log: who did what to which CA or certificate, newest first."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable

from stepui.screens.base import WorkbenchScreen

AUDIT_ROWS = 500


class AuditScreen(WorkbenchScreen):
    MODE = "audit"
    HELP = """\
# Audit log

Every change the Authority made (CA created, certificate issued, renewed, revoked, CRL
generated, template added), newest first. `enter` on a certificate entry opens it.
"""
    BINDINGS = [Binding("enter", "open", "Open", id="audit.open", tooltip="Open the target")]

    def body(self) -> Iterable[Widget]:
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(DataTable)
        table.add_columns("When", "Actor", "Action", "Target", "Detail")
        self.reload()
        table.focus()

    def reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for entry in self.authority.audit_log(limit=AUDIT_ROWS):
            detail = ", ".join(f"{k}={v}" for k, v in entry.detail.items() if v not in (None, ""))
            table.add_row(
                f"{entry.at:%Y-%m-%d %H:%M}",
                entry.actor,
                entry.action,
                entry.target[:16],
                detail,
                key=f"{entry.id}:{entry.action}:{entry.target}",
            )

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        _, action, target = key.split(":", 2)
        if action.startswith("cert."):
            self.workbench.open_certificate(target)
