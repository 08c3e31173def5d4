"""Renew one or many certificates, optionally with a new key and revoking the old ones."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.widget import Widget
from textual.widgets import Checkbox, Input

from stepui.screens.forms.base import field
from stepui.screens.forms.bulk import BulkForm, BulkResult


class RenewForm(BulkForm):
    TITLE = "Renew"
    SUBMIT = "Renew"
    DONE = "renewed"

    def fields(self) -> Iterable[Widget]:
        yield self.selection()
        yield Checkbox("Revoke the old certificate (superseded)", id="revoke_old")
        yield Checkbox("New key (rekey)", id="rekey")
        yield from field(
            "Write new certificates to (empty: database only)",
            Input(str(self.authority.home / "issued"), id="out_dir"),
        )

    def perform(self) -> BulkResult:
        revoke_old = self.query_one("#revoke_old", Checkbox).value
        rekey = self.query_one("#rekey", Checkbox).value
        text = self.query_one("#out_dir", Input).value.strip()
        out_dir = Path(text).expanduser() if text else None

        def renew(serial: str) -> None:
            self.authority.renew(serial, rekey=rekey, out_dir=out_dir, actor="tui")
            if revoke_old:
                self.authority.revoke(serial, "superseded", actor="tui")

        return self.run_each(renew)
