"""Reusable widgets of the workbench: they render what the Authority returns."""
