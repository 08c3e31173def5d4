"""Shared fixtures and test-session settings, one section per area."""

import os
from pathlib import Path

from pytest_textual_snapshot import SVGImageExtension

from tests.acme_fixtures import acme_authority, acme_env  # noqa: F401  (ACME server fixtures)

# TUI: animations off for stable pictures; snapshot SVGs live in the top-level snapshots/ folder.
os.environ["TEXTUAL_ANIMATIONS"] = "none"
SVGImageExtension.dirname = classmethod(  # type: ignore[method-assign]
    lambda cls, *, test_location: str(
        Path(__file__).parent.parent / "snapshots" / test_location.basename
    )
)
