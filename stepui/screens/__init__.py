"""The workbench's screens: one module per screen, forms under ``forms``."""
