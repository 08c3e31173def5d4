"""The one error model every face maps: CLI to a line and an exit code, the ACME server to an
RFC 7807 problem document, the TUI to a notification.

Each error carries a human message and the ACME problem type (the part after
``urn:ietf:params:acme:error:``) that describes it best, so no face inspects message strings.
"""

from __future__ import annotations


class StepuiError(Exception):
    """Base of every refusal the core makes on purpose."""

    acme_type: str = "serverInternal"
    http_status: int = 500
    exit_code: int = 1

    def __init__(self, message: str, *, acme_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if acme_type is not None:
            self.acme_type = acme_type


class BadInput(StepuiError):
    """Malformed input: a subject, SAN, PEM, CSR, config value or form field."""

    acme_type = "malformed"
    http_status = 400
    exit_code = 2


class BadCSR(BadInput):
    """A CSR that cannot be parsed, whose signature fails, or that asks for the wrong names."""

    acme_type = "badCSR"


class PolicyRefused(StepuiError):
    """Well-formed input that the CA's policy, name constraints or template refuses."""

    acme_type = "rejectedIdentifier"
    http_status = 400
    exit_code = 3


class NotFound(StepuiError):
    """An unknown CA, certificate, template or provisioner."""

    acme_type = "malformed"
    http_status = 404
    exit_code = 4


class Conflict(StepuiError):
    """The action would overwrite or contradict existing state (an existing CA, a revoked cert)."""

    acme_type = "malformed"
    http_status = 409
    exit_code = 5


class WrongPassword(StepuiError):
    """A CA key could not be decrypted with the password given."""

    acme_type = "serverInternal"
    http_status = 500
    exit_code = 6
