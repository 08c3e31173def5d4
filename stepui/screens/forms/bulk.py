"""Run one Authority action over several certificates, with progress, collecting refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stepui.errors import StepuiError


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
