"""Import a CA (certificate, optional key, PEM/DER/PKCS#12) or certificates issued elsewhere."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.widget import Widget
from textual.widgets import Input, Select

from stepui.errors import BadInput
from stepui.screens.forms.base import CoreValidator, FormScreen, field


def _file(text: str) -> Path:
    """A file to read: an empty or directory path would otherwise read '.' and fail with an
    OS message that names no field."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise BadInput(f"no file at {text}")
    return path


class ImportForm(FormScreen):
    TITLE = "Import"
    SUBMIT = "Import"

    def fields(self) -> Iterable[Widget]:
        kinds = [
            ("a CA (root or intermediate)", "ca"),
            ("certificates into the inventory", "certs"),
        ]
        yield from field("What", Select(kinds, value="ca", allow_blank=False, id="what"))
        yield from field(
            "Certificate file",
            Input(
                placeholder="/path/ca.crt",
                id="cert",
                validators=[CoreValidator(_file, optional=False)],
            ),
        )
        yield from field(
            "Key file (CA only, optional)", Input(id="key", validators=[CoreValidator(_file)])
        )
        yield from field("File password (encrypted key or PKCS#12)", Input(password=True, id="pw"))
        yield from field("Name (CA only, optional)", Input(id="name"))

    def perform(self) -> str:
        value = {i.id: i.value.strip() for i in self.query(Input)}
        cert = _file(value["cert"]).read_bytes()
        if self.query_one("#what", Select).value == "certs":
            records = self.authority.import_certificates(cert, actor="tui")
            return f"imported {len(records)} certificate(s)"
        key = _file(value["key"]).read_bytes() if value["key"] else None
        record = self.authority.import_authority(
            cert,
            key,
            file_password=value["pw"].encode() or None,
            name=value["name"] or None,
            actor="tui",
        )
        return f"imported {record.kind} CA {record.name} ({record.id})"

    def success(self, result: str) -> str:
        return result
