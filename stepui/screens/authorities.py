"""The CA hierarchy: roots, intermediates (cross-signed ones under every issuer) and the
certificates each issued, with counts by state."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from stepui.screens.base import WorkbenchScreen
from stepui.widgets.ca_tree import CaTree
from stepui.widgets.cert_table import TableFilter
from stepui.widgets.status import legend, renew_rule


class AuthoritiesScreen(WorkbenchScreen):
    MODE = "authorities"
    HELP = """\
# Authorities

Roots, the intermediates they signed (a cross-signed CA also appears under the CA that
cross-signed it) and the certificates each CA issued, with counts by state.

- `enter` expands a node or opens a certificate; `t` shows a CA's certificates in the table
- `n` creates a root or intermediate, `m` imports a CA or certificates, `s` cross-signs,
  `l` generates a CRL
"""
    BINDINGS = [
        Binding(
            "n", "app.new_authority", "New CA", id="cas.new", tooltip="New root or intermediate"
        ),
        Binding(
            "m", "app.import", "Import", id="cas.import", tooltip="Import a CA or certificates"
        ),
        # Secondary: in `?` help and the command palette, not in the footer (80 columns).
        Binding("s", "app.cross_sign", "Cross-sign", show=False, id="cas.cross_sign"),
        Binding("l", "app.crl", "CRL", show=False, id="cas.crl", tooltip="Generate a CRL"),
    ]

    def body(self) -> Iterable[Widget]:
        yield CaTree(self.authority, id="tree")
        text = legend()
        text.append("  ").append(f"· expiring: {renew_rule(self.authority)}", style="dim")
        yield Static(text, id="legend")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(CaTree).focus()

    def reload(self) -> None:
        self.query_one(CaTree).reload()

    def on_ca_tree_certificate_chosen(self, event: CaTree.CertificateChosen) -> None:
        self.workbench.open_certificate(event.serial)

    def on_ca_tree_issuer_chosen(self, event: CaTree.IssuerChosen) -> None:
        self.workbench.show_certificates(TableFilter(ca_id=event.ca_id))
