"""Cross-sign a CA's key and subject with another CA, so clients of either root trust it."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from textual.widget import Widget
from textual.widgets import Select

from stepui.screens.forms.base import FormScreen, ca_options, field


class CrossSignForm(FormScreen):
    TITLE = "Cross-sign a CA"
    SUBMIT = "Cross-sign"

    def fields(self) -> Iterable[Widget]:
        yield from field(
            "CA to cross-sign", Select(ca_options(self.authority, signing=False), id="subject_ca")
        )
        yield from field("Signed by", Select(ca_options(self.authority), id="by"))

    def perform(self) -> x509.Certificate:
        subject, by = (
            self.query_one("#subject_ca", Select).value,
            self.query_one("#by", Select).value,
        )
        return self.authority.cross_sign(
            "" if subject is Select.BLANK else str(subject),
            "" if by is Select.BLANK else str(by),
            actor="tui",
        )

    def success(self, result: x509.Certificate) -> str:
        return f"cross-signed: serial {result.serial_number:x}"
