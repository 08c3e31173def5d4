"""What every main screen shares: the screen bar on top, the footer, help text, and a reload
when the Authority reports a change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from stepui.authority.service import Authority
from stepui.widgets.navbar import NavBar

if TYPE_CHECKING:
    from stepui.app import StepuiApp


class WorkbenchScreen(Screen[None]):
    """A main screen (an App mode). Subclasses give MODE, HELP and the body widgets."""

    MODE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""

    @property
    def workbench(self) -> StepuiApp:
        return self.app  # type: ignore[return-value]

    @property
    def authority(self) -> Authority:
        return self.workbench.authority

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.body()
        yield Footer()

    def body(self) -> Iterable[Widget]:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.watch(self.app, "data_version", lambda _: self.reload(), init=False)

    def reload(self) -> None:
        """Re-read from the Authority after an event; the default screen has nothing to do."""
