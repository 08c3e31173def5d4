"""stepui: a private certificate authority for internal networks."""

__version__ = "0.1.0"
