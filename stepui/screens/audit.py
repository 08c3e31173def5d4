"""The audit log: who did what to which CA or certificate, newest first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stepui.screens.base import TableScreen
from stepui.widgets.fit_table import FitColumn, FitTable

AUDIT_ROWS = 500


class AuditScreen(TableScreen):
    MODE = "audit"
    COLUMNS = (
        FitColumn("When", 16),
        FitColumn("Actor", 5),
        FitColumn("Action", 10),
        FitColumn("Target", 10),
        FitColumn("Detail", 12),
    )
    HELP = """\
# Audit log

Every change the Authority made (CA created, certificate issued, renewed, revoked, CRL
generated, template added), newest first. `enter` on a certificate entry opens it.
"""

    def rows(self) -> Iterable[tuple[Sequence[str], str]]:
        for entry in self.authority.audit_log(limit=AUDIT_ROWS):
            detail = ", ".join(f"{k}={v}" for k, v in entry.detail.items() if v not in (None, ""))
            cells = (f"{entry.at:%Y-%m-%d %H:%M}", entry.actor, entry.action, entry.target, detail)
            yield cells, f"{entry.id}:{entry.action}:{entry.target}"

    def on_data_table_row_selected(self, event: FitTable.RowSelected) -> None:
        """enter (the table's own key) or a click on an entry: a certificate opens."""
        _, action, target = (event.row_key.value or "::").split(":", 2)
        if action.startswith("cert."):
            self.workbench.open_certificate(target)
