"""Revoke one or many certificates with a reason, after an explicit confirmation."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Checkbox, Select

from stepui.pki.crl import REASONS
from stepui.screens.forms.base import field
from stepui.screens.forms.bulk import BulkForm, BulkResult


class RevokeForm(BulkForm):
    TITLE = "Revoke"
    SUBMIT = "Revoke"
    DONE = "revoked"

    def fields(self) -> Iterable[Widget]:
        yield self.selection()
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
        return self.run_each(lambda serial: self.authority.revoke(serial, reason, actor="tui"))
