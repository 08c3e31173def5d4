"""First run and unlock: offer a local development CA on an empty data dir, or ask once for
the password of an existing CA."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from stepui.authority.models import IssueRequest
from stepui.errors import StepuiError

DEV_SANS = ("DNS:localhost", "IP:127.0.0.1", "IP:::1")


def trust_text(home: Path, root: Path) -> str:
    """How to trust the dev root on this machine: stepui's own installer first (the Debian
    trust store and NSS databases), the system's own commands as the alternative. ``--home``
    is spelled out because sudo does not keep the data dir."""
    path = shlex.quote(str(root))
    if sys.platform == "darwin":
        return (
            "Trust the root on this machine:\n  sudo security add-trusted-cert -d -r trustRoot "
            f"-k /Library/Keychains/System.keychain {path}"
        )
    return (
        "Trust the root on this machine (--dry-run shows the changes first):\n"
        f"  sudo stepui --home {shlex.quote(str(home))} cert install --trust\n"
        "or by hand:\n"
        f"  sudo cp {path} \\\n      /usr/local/share/ca-certificates/\n"
        "  sudo update-ca-certificates"
    )


class FirstRunScreen(ModalScreen[bool]):
    """Dismissed with True once the dev CA and the localhost certificate exist."""

    BINDINGS = [Binding("escape", "app.quit", "Quit", id="setup.quit")]

    def compose(self) -> ComposeResult:
        home = self.app.authority.home  # type: ignore[attr-defined]
        with Vertical(classes="form", id="first-run"):
            yield Label("Welcome to stepui", classes="form-title")
            # Scrolls when long paths wrap, so that the buttons stay on a 24-line screen.
            with VerticalScroll(classes="form-body", can_focus=False):
                yield Static(
                    f"There is no CA in [b]{home}[/b] yet.\n\n"
                    "Create a [b]local development CA[/b]? Its keys are stored [b]without a "
                    "password[/b]: use it on your own machine only, never for production.\n"
                    "A certificate for localhost, 127.0.0.1 and ::1 is issued with it.",
                    id="first-run-text",
                )
            yield Label("Name", classes="field-label")
            yield Input("Local Development", id="ca-name")
            with Horizontal(classes="form-buttons"):
                yield Button("Create dev CA", variant="primary", id="create")
                yield Button("Quit", id="quit")
                # Its own button, not "Create" relabelled: a Button ignores presses for a
                # moment after one (its "-active" effect), so a relabelled button swallowed
                # an enter or a click that came right after the CA was made.
                yield Button("Continue", variant="primary", id="continue")

    created = False
    working = False

    def on_mount(self) -> None:
        self.query_one("#continue").display = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "continue":
            self.dismiss(True)
        elif event.button.id == "create" and not self.working:
            self.working = True
            self._create(self.query_one("#ca-name", Input).value)
        elif event.button.id == "quit":
            self.app.exit(0)

    def on_input_submitted(self) -> None:
        self.query_one("#create", Button).press()

    @work(thread=True, exclusive=True)
    def _create(self, name: str) -> None:
        authority = self.app.authority  # type: ignore[attr-defined]
        try:
            root, _ = authority.init(name.strip(), passwordless=True, actor="tui")
            issued = authority.issue(
                IssueRequest(
                    subject="CN=localhost", sans=DEV_SANS, name="localhost", requester="tui"
                ),
                out_dir=authority.home / "certs",
                key_dir=authority.home / "secrets",  # certs/ holds public PEMs only
            )
        except StepuiError as exc:
            self.app.call_from_thread(self._refused, exc)
            return
        certs = authority.home / "certs"
        self.app.call_from_thread(
            self._show_result,
            {
                "home": authority.home,
                "root": certs / "root_ca.crt",
                "cert": certs / "localhost.crt",
                "key": authority.home / "secrets" / "localhost.key",
                "serial": issued.serial,
                "root_name": root.name,
            },
        )

    def _refused(self, error: StepuiError) -> None:
        self.working = False
        self.notify(error.message, title="Refused", severity="error")

    def _show_result(self, result: dict[str, Any]) -> None:
        self.query_one("#first-run-text", Static).update(
            f"Created [b]{escape(result['root_name'])}[/b] (development, no password).\n\n"
            + escape(
                f"Root certificate:  {result['root']}\n"
                f"localhost cert:    {result['cert']}\n"
                f"localhost key:     {result['key']} (0600)\n\n"
                + trust_text(result["home"], result["root"])
            )
        )
        for widget in self.query(".field-label, #ca-name, #create, #quit"):
            widget.display = False
        self.created = True
        button = self.query_one("#continue", Button)
        button.display = True
        button.focus()


class PasswordScreen(ModalScreen[bool]):
    """Asks once; the key is decrypted in a thread to check the password before going on."""

    BINDINGS = [Binding("escape", "app.quit", "Quit", id="password.quit")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="form", id="password-form"):
            yield Label("Unlock the CA", classes="form-title")
            yield Static("The CA keys are encrypted. Password:")
            yield Input(password=True, id="password")
            with Horizontal(classes="form-buttons"):
                yield Button("Unlock", variant="primary", id="unlock")
                yield Button("Quit", id="quit")

    def on_input_submitted(self) -> None:
        self.query_one("#unlock", Button).press()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        password = self.query_one("#password", Input).value
        if event.button.id == "unlock" and password:
            self._check(password)
        elif event.button.id == "unlock":
            self.notify("type the CA password", severity="warning")
        else:
            self.app.exit(0)

    @work(thread=True, exclusive=True)
    def _check(self, password: str) -> None:
        app = self.app
        app.password_box.value = password.encode()  # type: ignore[attr-defined]
        try:
            authority = app.authority  # type: ignore[attr-defined]
            authority.signer(authority.authority().id)
        except StepuiError as exc:
            app.call_from_thread(self.notify, exc.message, severity="error")
            return
        app.call_from_thread(self.dismiss, True)
