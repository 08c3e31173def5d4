"""The command palette (ctrl+p): every workbench action, offered according to the state
(start or stop the server, renew/revoke only where there is a certificate to act on)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from stepui.widgets.cert_table import TableFilter
from stepui.widgets.navbar import SCREENS
from stepui.widgets.status import STATES

if TYPE_CHECKING:
    from stepui.app import StepuiApp


class WorkbenchCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: StepuiApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, Callable[[], object], str]] = [
            (f"Go to {label}", partial(app.switch_mode, mode), f"key {key}")
            for key, mode, label in SCREENS
        ]
        commands += [
            ("Issue a certificate", app.action_issue, "the issue form"),
            ("New root or intermediate CA", app.action_new_authority, ""),
            ("Import a CA or certificates", app.action_import, "PEM, DER, PKCS#12"),
            ("Cross-sign a CA", app.action_cross_sign, ""),
            ("Generate a CRL", app.action_crl, ""),
            ("Help for this screen", app.action_help, "F1 or ?"),
        ]
        commands += [
            (
                f"Show {state} certificates",
                partial(app.show_certificates, TableFilter(state=state)),
                "filter the table",
            )
            for state in STATES
        ]
        commands.append(
            ("Show all certificates", partial(app.show_certificates, TableFilter()), "")
        )
        if app.server.running:
            commands.append(("Stop the ACME server", app.action_server_stop, app.server.url))
        else:
            commands.append(("Start the ACME server", app.action_server_start, ""))
        chosen = getattr(app.screen, "chosen_serials", lambda: [])()
        if chosen:
            commands += [
                (f"Renew {len(chosen)} certificate(s)", partial(app.renew, chosen), ""),
                (f"Revoke {len(chosen)} certificate(s)", partial(app.revoke, chosen), ""),
            ]
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
