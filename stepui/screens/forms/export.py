"""Export a certificate as PEM, PEM with its chain, DER or PKCS#12 (certificates only: the
CA never keeps a leaf's private key)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, pkcs12
from textual.widget import Widget
from textual.widgets import Input, Select

from stepui.fsutil import write_atomic
from stepui.screens.forms.base import FormScreen, field

FORMATS = {"pem": ".crt", "chain": ".chain.pem", "der": ".der", "p12": ".p12"}


def export_bytes(fmt: str, cert: x509.Certificate, chain: list[x509.Certificate]) -> bytes:
    if fmt == "pem":
        return cert.public_bytes(Encoding.PEM)
    if fmt == "chain":
        return b"".join(c.public_bytes(Encoding.PEM) for c in [cert, *chain])
    if fmt == "der":
        return cert.public_bytes(Encoding.DER)
    return pkcs12.serialize_key_and_certificates(None, None, cert, chain or None, NoEncryption())


class ExportForm(FormScreen):
    TITLE = "Export certificate"
    SUBMIT = "Export"

    def __init__(self, serial: str, cert: x509.Certificate, chain: list[x509.Certificate]):
        super().__init__()
        self.serial, self.cert, self.chain = serial, cert, chain

    def fields(self) -> Iterable[Widget]:
        options = [("PEM", "pem"), ("PEM + chain", "chain"), ("DER", "der"), ("PKCS#12", "p12")]
        yield from field("Format", Select(options, value="pem", allow_blank=False, id="format"))
        yield from field("File", Input(str(Path.cwd() / f"{self.serial}.crt"), id="path"))

    def on_select_changed(self, event: Select.Changed) -> None:
        path_input = self.query_one("#path", Input)
        stem = Path(path_input.value).name.split(".")[0] or self.serial
        path_input.value = str(Path(path_input.value).parent / (stem + FORMATS[str(event.value)]))

    def perform(self) -> Path:
        path = Path(self.query_one("#path", Input).value.strip()).expanduser()
        fmt = str(self.query_one("#format", Select).value)
        write_atomic(path, export_bytes(fmt, self.cert, self.chain))
        return path

    def success(self, result: Path) -> str:
        return f"written {result}"
