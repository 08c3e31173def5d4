"""What every main screen shares: the screen bar on top, the footer, help text, and a reload
when the Authority reports a change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from stepui.authority.service import Authority
from stepui.widgets.fit_table import FitColumn, FitTable
from stepui.widgets.navbar import NavBar

if TYPE_CHECKING:
    from stepui.app import StepuiApp


class OnWorkbench:
    """Mixed into a screen (before Textual's class) of the workbench App: the App and the
    Authority it was given, typed."""

    @property
    def workbench(self) -> StepuiApp:
        return self.app  # type: ignore[attr-defined,no-any-return]

    @property
    def authority(self) -> Authority:
        return self.workbench.authority


class WorkbenchScreen(OnWorkbench, Screen[None]):
    """A main screen (an App mode). Subclasses give MODE, HELP and the body widgets."""

    MODE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""

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


class TableScreen(WorkbenchScreen):
    """A main screen that is one table (id ``<MODE>-table``), filled from the Authority when
    shown and again after every change. Subclasses give COLUMNS and ``rows()``."""

    COLUMNS: ClassVar[Sequence[FitColumn]] = ()

    def body(self) -> Iterable[Widget]:
        yield FitTable(self.COLUMNS, id=f"{self.MODE}-table")

    def on_mount(self) -> None:
        super().on_mount()
        self.reload()
        self.query_one(FitTable).focus()

    def reload(self) -> None:
        self.query_one(FitTable).show(list(self.rows()))

    def rows(self) -> Iterable[tuple[Sequence[str], str | None]]:
        """(cells, row key) for each row, in the order shown."""
        raise NotImplementedError
