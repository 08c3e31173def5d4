"""Shared fixtures. Sections per area; append, don't rewrite."""

# -- ACME server (tests/test_acme_*.py) --------------------------------------------------------
from tests.acme_fixtures import acme_authority, acme_env  # noqa: F401
