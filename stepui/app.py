"""The Textual workbench: wiring of the injected Authority, the screens, the forms, events and
the embedded ACME server. ``stepui`` with no arguments calls :func:`run_app`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive

from stepui.authority.service import Authority
from stepui.events import Clock, Event
from stepui.passwords import PASSWORD_ENV, read_password_file
from stepui.screens.audit import AuditScreen
from stepui.screens.authorities import AuthoritiesScreen
from stepui.screens.certificates import CertificatesScreen
from stepui.screens.detail import DetailScreen
from stepui.screens.forms.crl import CrlForm
from stepui.screens.forms.cross_sign import CrossSignForm
from stepui.screens.forms.import_ import ImportForm
from stepui.screens.forms.issue import IssueForm
from stepui.screens.forms.new_ca import NewAuthorityForm
from stepui.screens.forms.renew import RenewForm
from stepui.screens.forms.revoke import RevokeForm
from stepui.screens.help import HelpScreen
from stepui.screens.palette import WorkbenchCommands
from stepui.screens.server import ServerScreen
from stepui.screens.server_control import LogRouter, ServerController
from stepui.screens.setup import FirstRunScreen, PasswordScreen
from stepui.screens.templates import TemplatesScreen
from stepui.screens.timeline import TimelineScreen
from stepui.widgets.cert_table import TableFilter

REFRESH_DELAY = 0.1
QUIET_EVENTS = ("log", "acme.request")  # shown in the server panel, no data changed


class PasswordBox:
    """The CA password, typed once (or read from a file or the environment); the Authority's
    password provider reads it when a key is first needed."""

    def __init__(self, value: bytes | None = None) -> None:
        self.value = value

    def __call__(self) -> bytes | None:
        return self.value


class AuthorityEvent(Message):
    """An Authority or server event, delivered on the app's loop whatever thread published."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class StepuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "stepui"
    MODES = {
        "authorities": AuthoritiesScreen,
        "certificates": CertificatesScreen,
        "timeline": TimelineScreen,
        "server": ServerScreen,
        "audit": AuditScreen,
        "templates": TemplatesScreen,
    }
    DEFAULT_MODE = "certificates"
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    BINDINGS = [
        Binding("1", "switch_mode('authorities')", "CAs", show=False, id="nav.authorities"),
        Binding("2", "switch_mode('certificates')", "Certs", show=False, id="nav.certificates"),
        Binding("3", "switch_mode('timeline')", "Timeline", show=False, id="nav.timeline"),
        Binding("4", "switch_mode('server')", "ACME", show=False, id="nav.server"),
        Binding("5", "switch_mode('audit')", "Audit", show=False, id="nav.audit"),
        Binding("6", "switch_mode('templates')", "Templates", show=False, id="nav.templates"),
        Binding("i", "issue", "Issue", id="app.issue", tooltip="Issue a certificate"),
        Binding("f1,question_mark", "help", "Help", id="app.help", tooltip="Help for this screen"),
        Binding("q", "quit", "Quit", show=False, id="app.quit"),
    ]

    data_version = reactive(0)

    def __init__(
        self,
        authority: Authority,
        *,
        clock: Clock | None = None,
        password_box: PasswordBox | None = None,
    ) -> None:
        super().__init__()
        self.authority = authority
        if clock is not None:
            authority.clock = clock
        self.password_box = password_box or PasswordBox()
        self.server = ServerController(self)
        self._logs = LogRouter(self.server.log_record)
        self._unsubscribe: Callable[[], None] | None = None
        self._refresh_pending = False

    # -- life cycle ------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._logs.install()
        self._unsubscribe = self.authority.events.subscribe(self.post_event)
        if not self.authority.initialized:
            self.push_screen(FirstRunScreen())
        elif self.needs_password():
            self.push_screen(PasswordScreen())

    def on_ready(self) -> None:
        """After the first frame: build the timeline screen while the operator reads it, so
        that its first open is a switch, not a compose (Textual builds a mode's screen on the
        first switch; there is no public call to build it earlier)."""
        self.call_after_refresh(self._init_mode, "timeline")

    async def action_quit(self) -> None:
        """Stop the embedded server gracefully before the loop goes away."""
        await self.server.stop()
        self.exit(0)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._logs.remove()

    def post_event(self, event: Event) -> None:
        """Thread-safe: events are published from worker threads and the loop alike."""
        self.post_message(AuthorityEvent(event))

    def needs_password(self) -> bool:
        if self.password_box.value:
            return False
        return any(ca.key_encrypted for ca in self.authority.authorities() if ca.key_file)

    def on_authority_event(self, message: AuthorityEvent) -> None:
        """Feed the server panel at once; coalesce view reloads (bulk work sends many)."""
        self.server.handle(message.event)
        if message.event.kind in QUIET_EVENTS:
            return
        if not self._refresh_pending:
            self._refresh_pending = True
            self.set_timer(REFRESH_DELAY, self._bump_version)

    def _bump_version(self) -> None:
        self._refresh_pending = False
        self.data_version += 1

    # -- navigation ------------------------------------------------------------------------
    def open_certificate(self, serial: str) -> None:
        self.push_screen(DetailScreen(serial))

    def show_certificates(self, table_filter: TableFilter) -> None:
        """Switch to the table and show a subset (from the tree or a timeline bucket)."""

        def apply() -> None:
            screen = self.screen
            if isinstance(screen, CertificatesScreen):
                screen.set_filter(table_filter)

        self.switch_mode("certificates")
        self.call_after_refresh(apply)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    # -- actions (forms) -------------------------------------------------------------------
    def _form(self, screen: Any, on_done: Callable[[Any], None] | None = None) -> None:
        def done(result: Any) -> None:
            if result is not None and on_done is not None:
                on_done(result)

        self.push_screen(screen, done)

    def action_issue(self) -> None:
        self._form(IssueForm())

    def renew(self, serials: list[str], on_done: Callable[[Any], None] | None = None) -> None:
        self._form(RenewForm(serials), on_done)

    def revoke(self, serials: list[str], on_done: Callable[[Any], None] | None = None) -> None:
        self._form(RevokeForm(serials), on_done)

    def action_new_authority(self) -> None:
        self._form(NewAuthorityForm())

    def action_import(self) -> None:
        self._form(ImportForm())

    def action_cross_sign(self) -> None:
        self._form(CrossSignForm())

    def action_crl(self) -> None:
        self._form(CrlForm())

    async def action_server_start(self) -> None:
        self.server.start()

    async def action_server_stop(self) -> None:
        await self.server.stop()


def _read_password(password_file: str | os.PathLike[str] | None) -> bytes | None:
    """As the CLI reads it (a missing or empty file is a BadInput, not a traceback)."""
    if password_file:
        return read_password_file(Path(password_file).expanduser())
    value = os.environ.get(PASSWORD_ENV)
    return value.encode() if value else None


def run_app(home: str | os.PathLike[str] | None = None, password_file: str | None = None) -> int:
    """Open the data dir and run the workbench until the operator quits."""
    box = PasswordBox(_read_password(password_file))
    authority = Authority.open(home, password=box)
    try:
        result = StepuiApp(authority, password_box=box).run()
    finally:
        authority.close()
    return result or 0
