"""The ACME server panel: start/stop on an address, the directory URL, counters, the
provisioners, and the live request and log view."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Input, RichLog, Static

from stepui.screens.base import WorkbenchScreen
from stepui.screens.server_control import LogLine
from stepui.widgets.status import STATE_STYLES


class ServerScreen(WorkbenchScreen):
    MODE = "server"
    HELP = """\
# ACME server

The RFC 8555 server runs inside this app (same event loop): clients such as certbot, lego or
Caddy reach it at the directory URL. Its request log and Hypercorn's messages appear below.

- `s` starts the server on the address in the field, `S` stops it (quitting stops it too)
- `c` clears the log
"""
    BINDINGS = [
        Binding("s", "start", "Start", id="server.start", tooltip="Start on the address"),
        Binding("S", "stop", "Stop", id="server.stop", tooltip="Stop gracefully"),
        Binding("c", "clear", "Clear log", id="server.clear"),
    ]

    def body(self) -> Iterable[Widget]:
        with Horizontal(id="server-controls"):
            yield Input(self.authority.config.server_address, id="address")
            yield Button("Start", id="start", variant="success")
            yield Button("Stop", id="stop", variant="error")
        yield Static(id="server-status")
        yield Static(id="provisioners")
        yield RichLog(id="server-log", max_lines=2000, wrap=False, markup=False)

    @property
    def controller(self):  # noqa: ANN201 - the app's ServerController
        return self.workbench.server

    def on_mount(self) -> None:
        super().on_mount()
        log = self.query_one(RichLog)
        for line in self.controller.lines:
            log.write(Text(line.text, style=line.style))
        if not self.controller.lines:
            log.write(Text("requests and server messages appear here", style="dim italic"))
        self.controller.listeners.append(self._on_line)
        self._show_status()
        self.query_one("#provisioners", Static).update(self._provisioners())
        log.focus()

    def on_unmount(self) -> None:
        if self._on_line in self.controller.listeners:
            self.controller.listeners.remove(self._on_line)

    def _on_line(self, line: LogLine | None) -> None:
        if line is not None:
            self.query_one(RichLog).write(Text(line.text, style=line.style))
        self._show_status()

    def _show_status(self) -> None:
        controller = self.controller
        text = Text()
        if controller.running:
            text.append("● running ", style=f"bold {STATE_STYLES['valid']}")
            text.append("· directory ", style="dim")
            text.append(controller.url, style="bold underline")
        else:
            address = self.query_one("#address", Input).value.strip()
            text.append("○ stopped ", style="bold")
            text.append("· s starts it at ", style="dim")
            text.append(controller.planned_url(address or None), style="bold")
        counts = " · ".join(
            f"{name} {controller.counters[name]}"
            for name in ("accounts", "orders", "issued", "failed validations")
        )
        text.append(f"\n{counts}")
        self.query_one("#server-status", Static).update(text)
        self.query_one("#start", Button).disabled = controller.running
        self.query_one("#stop", Button).disabled = not controller.running

    def _provisioners(self) -> Text:
        text = Text("provisioners: ", style="dim")
        for name, provisioner in self.authority.config.provisioners.items():
            text.append(f"{name}", style="bold")
            text.append(f" ({provisioner.template}, {' '.join(provisioner.challenges)})  ")
        return text

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "address" and not self.controller.running:
            self._show_status()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.run_worker(self.action_stop())

    def action_start(self) -> None:
        self.controller.start(self.query_one("#address", Input).value.strip() or None)

    async def action_stop(self) -> None:
        await self.controller.stop()
        self._show_status()

    def action_clear(self) -> None:
        self.query_one(RichLog).clear()
