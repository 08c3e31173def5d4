"""External Account Binding in newAccount (RFC 8555 §7.3.4).

The binding is a JWS MACed with an EAB key the operator issued (``stepui ca eab add``): its
``kid`` is the key ID, its payload the account's public key (the outer ``jwk``), its ``url`` the
newAccount URL, and it has no nonce. A key belongs to one provisioner and binds one account;
the binding itself is recorded when the account is created, in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from server.context import Call
from server.inner_jws import check_nonce_and_url
from server.jws import b64url_decode, load_jwk, parse_flattened
from server.problems import Problem

WHAT = "the externalAccountBinding JWS"
MAC_ALGORITHMS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def check_binding(call: Call, value: Any) -> tuple[str, dict[str, Any]] | None:
    """(key ID, binding) for a valid binding; None when none was sent and none is required."""
    if value is None:
        if call.provisioner.require_eab:
            raise Problem(
                "externalAccountRequired",
                "this provisioner requires External Account Binding (ask the CA operator for "
                "a key ID and HMAC key)",
            )
        return None
    inner = parse_flattened(value, WHAT)
    if not isinstance(inner.alg, str) or inner.alg not in MAC_ALGORITHMS:
        raise Problem(
            "badSignatureAlgorithm",
            f"{WHAT} must use a MAC algorithm (HS256, HS384, HS512), not {inner.alg!r}",
            extra={"algorithms": list(MAC_ALGORITHMS)},
        )
    kid = inner.protected.get("kid")
    if not isinstance(kid, str) or "jwk" in inner.protected:
        raise Problem("malformed", f"{WHAT} must name its key ID in kid (and carry no jwk)")
    key = call.authority.store.eab.key(kid)
    if key is None or key.provisioner != call.provisioner.name:
        raise Problem("unauthorized", f"{WHAT}: no EAB key {kid!r} for this provisioner")
    secret = b64url_decode(key.hmac_key, "the stored EAB key")
    expected = hmac.new(secret, inner.signing_input, MAC_ALGORITHMS[inner.alg]).digest()
    if not hmac.compare_digest(expected, inner.signature):
        raise Problem("unauthorized", f"{WHAT}: the MAC does not verify with EAB key {kid!r}")
    check_nonce_and_url(inner, WHAT, call.urls.new_account)
    bound = load_jwk(inner.payload_json(f"{WHAT} payload"))
    if bound.thumbprint != call.verified.key.thumbprint:
        raise Problem("unauthorized", f"{WHAT}: its payload is not this request's jwk")
    if key.bound_account is not None:
        raise Problem("unauthorized", f"EAB key {kid!r} is already bound to an account")
    return kid, value
