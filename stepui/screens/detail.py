"""One certificate: the inspect view, PEM, chain, fingerprints and its audit history; copy,
export, renew and revoke from here."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from stepui.pki.inspect import certificate_short, certificate_text, fingerprint
from stepui.screens.base import OnWorkbench
from stepui.screens.forms.export import ExportForm
from stepui.widgets.status import STATE_STYLES, state_of


class DetailScreen(OnWorkbench, Screen[None]):
    HELP = """\
# Certificate detail

- `1`-`4` or clicking the tabs switch between Inspect, PEM, Chain and History
- `y` copies the PEM to the clipboard (OSC 52 works over SSH), `e` exports PEM, chain,
  DER or PKCS#12 to a file
- `r` renews, `x` revokes this certificate; `escape` goes back
"""
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="detail.back"),
        Binding("y", "copy", "Copy", id="detail.copy", tooltip="Copy the PEM (OSC 52)"),
        Binding("e", "export", "Export", id="detail.export", tooltip="PEM, chain, DER, PKCS#12"),
        Binding("r", "renew", "Renew", id="detail.renew"),
        Binding("x", "revoke", "Revoke", id="detail.revoke"),
        Binding("1", "tab('inspect')", "Inspect", show=False, id="detail.inspect"),
        Binding("2", "tab('pem')", "PEM", show=False, id="detail.pem"),
        Binding("3", "tab('chain')", "Chain", show=False, id="detail.chain"),
        Binding("4", "tab('history')", "History", show=False, id="detail.history"),
    ]

    def __init__(self, serial: str) -> None:
        super().__init__()
        self.serial = serial

    def _load(self) -> None:
        """The record, its certificate, the chain a server presents (issuing CA first, no
        root) and the root that chain ends at, when this CA has it."""
        authority = self.authority
        self.record = authority.certificate(self.serial)
        self.cert = x509.load_pem_x509_certificate(self.record.pem.encode())
        self.chain = list(authority.chains(self.record.ca_id)[0]) if self.record.ca_id else []
        top = self.chain[-1] if self.chain else self.cert
        roots = [
            x509.load_pem_x509_certificate(a.cert_pem.encode())
            for a in authority.authorities()
            if a.kind == "root"
        ]
        self.roots = [r for r in roots if r.subject == top.issuer and r != top]

    def compose(self) -> ComposeResult:
        self._load()
        record, cert = self.record, self.cert
        yield Static(self._title(), id="detail-title")
        with TabbedContent(initial="inspect"):
            with TabPane("Inspect", id="inspect"), VerticalScroll():
                yield Static(certificate_text(cert), id="inspect-text")
            with TabPane("PEM", id="pem"), VerticalScroll():
                yield Static(record.pem.strip(), id="pem-text")
            with TabPane("Chain", id="chain"), VerticalScroll():
                yield Static(self._chain_text(), id="chain-text")
            with TabPane("History", id="history"):
                yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def _title(self) -> Text:
        authority = self.authority
        now = authority.clock()
        state = state_of(authority, self.record, now)
        text = Text(f" {self.record.serial} ", style="bold", no_wrap=True, overflow="ellipsis")
        text.append(state, style=STATE_STYLES[state])
        days = (self.record.not_after - now).days
        text.append(f"  {days} days left" if days >= 0 else f"  ended {-days} days ago")
        text.append(f"  SHA-256 {fingerprint(self.cert)[:23]}…", style="dim")
        return text

    def _chain_text(self) -> str:
        parts = [certificate_short(c) for c in [self.cert, *self.chain, *self.roots]]
        return "\n\n".join(parts)

    def on_mount(self) -> None:
        table = self.query_one("#history-table", DataTable)
        table.add_columns("When", "Actor", "Action", "Detail")
        for entry in self.authority.audit_log(self.record.serial):
            detail = ", ".join(f"{k}={v}" for k, v in entry.detail.items() if v)
            table.add_row(f"{entry.at:%Y-%m-%d %H:%M}", entry.actor, entry.action, detail)

    def chosen_serials(self) -> list[str]:
        return [self.serial]

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.cert.public_bytes(Encoding.PEM).decode())
        self.notify("PEM copied to the clipboard")

    def action_export(self) -> None:
        self.app.push_screen(ExportForm(self.record.serial, self.cert, self.chain))

    def _refresh_after(self, _result: object) -> None:
        self.app.pop_screen()
        self.workbench.open_certificate(self.record.serial)

    def action_renew(self) -> None:
        self.workbench.renew([self.record.serial])

    def action_revoke(self) -> None:
        self.workbench.revoke([self.record.serial], on_done=self._refresh_after)
