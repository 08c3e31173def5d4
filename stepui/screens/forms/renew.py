"""Renew one or many certificates, optionally with a new key and revoking the old ones."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label

from stepui.screens.forms.base import FormScreen, field
from stepui.screens.forms.bulk import BulkResult, run_bulk


class RenewForm(FormScreen):
    TITLE = "Renew"
    SUBMIT = "Renew"

    def __init__(self, serials: list[str]) -> None:
        super().__init__()
        self.serials = serials

    def fields(self) -> Iterable[Widget]:
        names = ", ".join(s[:10] for s in self.serials[:4])
        more = f" and {len(self.serials) - 4} more" if len(self.serials) > 4 else ""
        yield Label(f"{len(self.serials)} certificate(s): {names}{more}")
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

        return run_bulk(self.serials, renew, self.progress)

    def success(self, result: BulkResult) -> str:
        return result.summary("renewed")
