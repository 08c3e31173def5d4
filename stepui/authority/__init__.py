"""The CA service every face calls."""

from stepui.authority.models import Issued, IssueRequest
from stepui.authority.service import Authority, serial_hex

__all__ = ["Authority", "IssueRequest", "Issued", "serial_hex"]
