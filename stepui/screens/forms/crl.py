"""Generate a fresh CRL for a CA; the Authority writes it to certs/<ca-id>.crl."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from textual.widget import Widget
from textual.widgets import Select

from stepui.screens.forms.base import FormScreen, ca_options, field


class CrlForm(FormScreen):
    TITLE = "Generate a CRL"
    SUBMIT = "Generate"

    def fields(self) -> Iterable[Widget]:
        cas = ca_options(self.authority)
        default = self.authority.config.default_ca
        value = default if default in dict(cas).values() else Select.BLANK
        yield from field("CA", Select(cas, value=value, id="ca"))

    def perform(self) -> tuple[str, x509.CertificateRevocationList]:
        ca = self.query_one("#ca", Select).value
        ca_id = self.authority.authority(None if ca is Select.BLANK else str(ca)).id
        return ca_id, self.authority.crl(ca_id, actor="tui")

    def success(self, result: tuple[str, x509.CertificateRevocationList]) -> str:
        ca_id, crl = result
        return f"CRL with {len(crl)} entries written to {self.authority.crl_path(ca_id)}"
