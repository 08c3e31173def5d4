"""ACME failures as one readable line, typed in the core's error model."""

from __future__ import annotations

from typing import Any

from stepui.errors import StepuiError

ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:"


class AcmeError(StepuiError):
    """The server refused (its problem document, on one line) or could not be reached."""

    exit_code = 7

    def __init__(
        self, message: str, *, acme_type: str | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, acme_type=acme_type)
        self.problem = problem or {}

    @classmethod
    def from_problem(cls, problem: dict[str, Any], *, context: str = "") -> AcmeError:
        """``acme: urn:…:rejectedIdentifier: detail (subproblems: …)``: the server's words."""
        kind = str(problem.get("type") or "about:blank")
        detail = " ".join(str(problem.get("detail") or "").split())
        subproblems = [
            f"{_identifier(sub)}: {sub.get('detail', '')}".strip()
            for sub in problem.get("subproblems") or ()
            if isinstance(sub, dict)
        ]
        text = f"acme: {context + ': ' if context else ''}{kind}"
        if detail:
            text += f": {detail}"
        if subproblems:
            text += f" ({'; '.join(subproblems)})"
        short = kind.removeprefix(ACME_ERROR_PREFIX) if kind.startswith(ACME_ERROR_PREFIX) else None
        return cls(text, acme_type=short, problem=problem)


def _identifier(sub: dict[str, Any]) -> str:
    identifier = sub.get("identifier") or {}
    return str(identifier.get("value") or sub.get("type") or "")
