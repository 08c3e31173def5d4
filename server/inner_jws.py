"""A JWS carried inside a request's payload: keyChange's (RFC 8555 §7.3.5) and External Account
Binding's (§7.3.4).

Both are flattened JWS objects with the same strictness as an outer request (no unprotected
header, no ``b64``/``crit``, unpadded base64url), but they carry no nonce (the outer request
spent one) and their ``url`` must be the outer request's. What differs (the key: ``jwk`` or
``kid``; the algorithm: signature or MAC) is checked by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.jws import b64url_decode, parse_json_object
from server.problems import Problem


@dataclass(frozen=True)
class InnerJws:
    alg: Any
    protected: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    def payload_json(self, what: str) -> dict[str, Any]:
        return parse_json_object(self.payload, what)


def parse_inner(value: Any, what: str) -> InnerJws:
    """The structure of an inner JWS; nothing about its key, signature, nonce or url yet."""
    if not isinstance(value, dict):
        raise Problem("malformed", f"{what} is not a JWS object")
    if "signatures" in value or "header" in value:
        raise Problem("malformed", f"{what} must be a flattened JWS with no unprotected header")
    unknown = set(value) - {"protected", "payload", "signature"}
    if unknown:
        raise Problem("malformed", f"{what} has unexpected members: {', '.join(sorted(unknown))}")
    for member in ("protected", "payload", "signature"):
        if not isinstance(value.get(member), str):
            raise Problem("malformed", f"{what} has no {member}")
    protected_b64, payload_b64 = value["protected"], value["payload"]
    protected = parse_json_object(b64url_decode(protected_b64, what), what)
    if "b64" in protected or "crit" in protected:
        raise Problem("malformed", f"{what}: the b64 and crit header parameters are not supported")
    return InnerJws(
        alg=protected.get("alg"),
        protected=protected,
        payload=b64url_decode(payload_b64, f"{what} payload"),
        signing_input=f"{protected_b64}.{payload_b64}".encode("ascii"),
        signature=b64url_decode(value["signature"], f"{what} signature"),
    )


def check_nonce_and_url(inner: InnerJws, what: str, url: str) -> None:
    """No nonce of its own, and the same url as the outer request."""
    if "nonce" in inner.protected:
        raise Problem("malformed", f"{what} must not carry a nonce")
    if inner.protected.get("url") != url:
        raise Problem("malformed", f"{what}'s url is not the outer request's url {url!r}")
