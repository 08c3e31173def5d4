"""Revoke one or many certificates with a reason, after an explicit confirmation."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Checkbox, Label, Select

from stepui.pki.crl import REASONS
from stepui.screens.forms.base import FormScreen, field
from stepui.screens.forms.bulk import BulkResult, run_bulk


class RevokeForm(FormScreen):
    TITLE = "Revoke"
    SUBMIT = "Revoke"

    def __init__(self, serials: list[str]) -> None:
        super().__init__()
        self.serials = serials

    def fields(self) -> Iterable[Widget]:
        names = ", ".join(s[:10] for s in self.serials[:4])
        more = f" and {len(self.serials) - 4} more" if len(self.serials) > 4 else ""
        yield Label(f"{len(self.serials)} certificate(s): {names}{more}")
        reasons = [(name, name) for name in REASONS if name != "removeFromCRL"]
        yield from field(
            "Reason", Select(reasons, value=reasons[0][1], allow_blank=False, id="reason")
        )
        yield Checkbox("Yes, revoke: this cannot be undone", id="confirm")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#confirm").focus()

    def action_submit(self) -> None:
        if not self.query_one("#confirm", Checkbox).value:
            self.notify("tick the confirmation first", severity="warning")
            self.query_one("#confirm").focus()
            return
        super().action_submit()

    def perform(self) -> BulkResult:
        reason = str(self.query_one("#reason", Select).value)
        return run_bulk(
            self.serials,
            lambda serial: self.authority.revoke(serial, reason, actor="tui"),
            self.progress,
        )

    def success(self, result: BulkResult) -> str:
        return result.summary("revoked")
