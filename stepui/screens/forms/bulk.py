"""Run one Authority action over several certificates, with progress, collecting refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from textual.widgets import Label

from stepui.errors import StepuiError
from stepui.screens.forms.base import FormScreen


@dataclass
class BulkResult:
    done: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def summary(self, verb: str) -> str:
        text = f"{verb} {len(self.done)} of {len(self.done) + len(self.refused)}"
        if self.refused:
            serial, message = self.refused[0]
            text += f"; refused {serial}: {message}"
        return text


def run_bulk(
    serials: list[str],
    action: Callable[[str], object],
    progress: Callable[[int, int], None],
) -> BulkResult:
    """A single certificate re-raises its refusal (the form stays open); in bulk, a refusal
    is recorded and the rest go on."""
    result = BulkResult()
    for number, serial in enumerate(serials, 1):
        try:
            action(serial)
        except StepuiError as exc:
            if len(serials) == 1:
                raise
            result.refused.append((serial, exc.message))
        else:
            result.done.append(serial)
        progress(number, len(serials))
    return result


class BulkForm(FormScreen):
    """A form that runs one Authority action over the certificates marked in the table (or the
    one under the cursor). Subclasses give DONE, the verb of the summary ("renewed")."""

    DONE: ClassVar[str] = "done"

    def __init__(self, serials: list[str]) -> None:
        super().__init__()
        self.serials = serials

    def selection(self) -> Label:
        """Which certificates the form acts on: the first four serials (shortened) and a count."""
        names = ", ".join(s[:10] for s in self.serials[:4])
        more = f" and {len(self.serials) - 4} more" if len(self.serials) > 4 else ""
        return Label(f"{len(self.serials)} certificate(s): {names}{more}")

    def run_each(self, action: Callable[[str], object]) -> BulkResult:
        """Call from ``perform``: ``action`` for each serial, with progress."""
        return run_bulk(self.serials, action, self.progress)

    def success(self, result: BulkResult) -> str:
        return result.summary(self.DONE)
