"""RFC 7807 problem documents with the ``urn:ietf:params:acme:error:*`` types (RFC 8555 §6.7).

Handlers raise :class:`Problem`; core refusals (:class:`stepui.errors.StepuiError`) are mapped by
their ``acme_type`` and ``http_status``, never by their wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stepui.errors import StepuiError

ACME_ERROR = "urn:ietf:params:acme:error:"
PROBLEM_CONTENT_TYPE = "application/problem+json"

# The status RFC 8555 (and Boulder, in practice) uses for each type; core errors carry a
# status of their own that fits the CLI's view (e.g. a Conflict is 409) but not always ACME's.
STATUS_BY_TYPE = {
    "accountDoesNotExist": 400,
    "alreadyRevoked": 400,
    "badCSR": 400,
    "badNonce": 400,
    "badPublicKey": 400,
    "badRevocationReason": 400,
    "badSignatureAlgorithm": 400,
    "caa": 403,
    "compound": 400,
    "connection": 400,
    "dns": 400,
    "externalAccountRequired": 401,
    "incorrectResponse": 400,
    "invalidContact": 400,
    "orderNotReady": 403,
    "rateLimited": 429,
    "rejectedIdentifier": 400,
    "serverInternal": 500,
    "tls": 400,
    "unauthorized": 403,
    "unsupportedContact": 400,
    "unsupportedIdentifier": 400,
    "userActionRequired": 403,
    "invalidProfile": 400,
}


@dataclass(eq=False)  # exceptions compare and hash by identity
class Problem(Exception):
    """An ACME error answer. ``kind`` is the short type (``badNonce``)."""

    kind: str
    detail: str
    status: int | None = None
    subproblems: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.kind}: {self.detail}")
        if self.status is None:
            self.status = STATUS_BY_TYPE.get(self.kind, 400)

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": ACME_ERROR + self.kind,
            "detail": self.detail,
            "status": self.status,
        }
        if self.subproblems:
            body["subproblems"] = self.subproblems
        body.update(self.extra)
        return body

    @classmethod
    def from_error(cls, error: StepuiError) -> Problem:
        kind = error.acme_type
        status = STATUS_BY_TYPE.get(kind, error.http_status)
        if kind == "malformed" and error.http_status in (404, 409):
            status = error.http_status
        return cls(kind, error.message, status)


def subproblem(kind: str, detail: str, identifier: tuple[str, str]) -> dict[str, Any]:
    """One entry of ``subproblems`` (RFC 8555 §6.7.1), naming the identifier that failed."""
    return {
        "type": ACME_ERROR + kind,
        "detail": detail,
        "identifier": {"type": identifier[0], "value": identifier[1]},
    }


def combined(problems: list[tuple[tuple[str, str], Problem]]) -> Problem:
    """One problem for several failing identifiers: their common type, else ``compound``."""
    if len(problems) == 1:
        identifier, problem = problems[0]
        problem.subproblems = [subproblem(problem.kind, problem.detail, identifier)]
        return problem
    kinds = {p.kind for _, p in problems}
    kind = kinds.pop() if len(kinds) == 1 else "compound"
    detail = "; ".join(p.detail for _, p in problems)
    return Problem(
        kind,
        f"{len(problems)} identifiers were refused: {detail}",
        subproblems=[subproblem(p.kind, p.detail, i) for i, p in problems],
    )
