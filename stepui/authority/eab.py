"""External Account Binding keys (RFC 8555 §7.3.4): created, listed and removed by the operator
(``stepui ca eab ...``), checked by the ACME server's newAccount.

A key is a random key ID and a random 256-bit HMAC key, both base64url; it belongs to one
provisioner and binds at most one account. The operator hands both to the account's owner, who
gives them to the ACME client (``--eab-kid``/``--eab-hmac-key``).
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

from stepui.errors import BadInput, NotFound
from stepui.store.eab import EabKey

if TYPE_CHECKING:
    from stepui.authority.service import Authority

HMAC_KEY_BYTES = 32


def _random_b64url(size: int) -> str:
    """``size`` random bytes, base64url, never starting with "-": the operator passes both
    values on command lines (``--eab-kid``, ``--eab-hmac-key``, ``stepui ca eab remove``),
    where a leading dash reads as an option."""
    while True:
        text = base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


def add_key(
    authority: Authority, provisioner: str, reference: str | None = None, *, actor: str = "cli"
) -> EabKey:
    """A new key for ``provisioner``; the returned record holds the HMAC key, which the caller
    shows once to the operator."""
    if provisioner not in authority.config.provisioners:
        raise NotFound(f"unknown provisioner {provisioner!r}")
    if reference is not None and not reference.strip():
        raise BadInput("--reference must not be empty")
    kid = _random_b64url(16)
    hmac_key = _random_b64url(HMAC_KEY_BYTES)
    now = authority.clock()
    with authority.store.transaction():
        key = authority.store.eab.add(kid, provisioner, reference, hmac_key, now)
        authority.store.ca.audit(
            now, actor, "eab.add", kid, {"provisioner": provisioner, "reference": reference}
        )
    authority.events.publish("eab.added", kid=kid, provisioner=provisioner)
    return key


def keys(authority: Authority, provisioner: str | None = None) -> list[EabKey]:
    if provisioner is not None and provisioner not in authority.config.provisioners:
        raise NotFound(f"unknown provisioner {provisioner!r}")
    return authority.store.eab.keys(provisioner)


def find_key(authority: Authority, key: str, provisioner: str | None = None) -> EabKey:
    """By key ID, or by reference (within ``provisioner`` when given; unique otherwise)."""
    found = authority.store.eab.key(key)
    if found is not None and provisioner in (None, found.provisioner):
        return found
    named = [k for k in keys(authority, provisioner) if k.reference == key]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise BadInput(f"several provisioners have an EAB key named {key!r}; give --provisioner")
    raise NotFound(f"no EAB key {key!r}")


def remove_key(
    authority: Authority, key: str, provisioner: str | None = None, *, actor: str = "cli"
) -> EabKey:
    """Remove an unused key so nobody can bind it any more (a bound account stays bound)."""
    found = find_key(authority, key, provisioner)
    with authority.store.transaction():
        authority.store.eab.remove(found.kid)
        authority.store.ca.audit(
            authority.clock(), actor, "eab.remove", found.kid, {"provisioner": found.provisioner}
        )
    return found
