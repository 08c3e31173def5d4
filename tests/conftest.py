"""Shared fixtures. Sections per area; append, don't rewrite."""

# -- ACME server (tests/test_acme_*.py) --------------------------------------------------------
from tests.acme_fixtures import acme_authority, acme_env  # noqa: F401

# -- TUI (tests/test_tui_*.py) -----------------------------------------------------------------
# Snapshot SVGs live in the top-level snapshots/ folder; animations off for stable pictures.
import os  # noqa: E402
from pathlib import Path  # noqa: E402

from pytest_textual_snapshot import SVGImageExtension  # noqa: E402

os.environ["TEXTUAL_ANIMATIONS"] = "none"
SVGImageExtension.dirname = classmethod(  # type: ignore[method-assign]
    lambda cls, *, test_location: str(
        Path(__file__).parent.parent / "snapshots" / test_location.basename
    )
)
