"""A JWS carried inside a request's payload: keyChange's (RFC 8555 §7.3.5) and External Account
Binding's (§7.3.4).

Both are parsed by :func:`server.jws.parse_flattened` with the same strictness as an outer
request (no unprotected header, no ``b64``/``crit``, unpadded base64url), but they carry no
nonce (the outer request spent one) and their ``url`` must be the outer request's. What differs
(the key: ``jwk`` or ``kid``; the algorithm: signature or MAC) is checked by the caller.
"""

from __future__ import annotations

from server.jws import Flattened
from server.problems import Problem


def check_nonce_and_url(inner: Flattened, what: str, url: str) -> None:
    """No nonce of its own, and the same url as the outer request."""
    if "nonce" in inner.protected:
        raise Problem("malformed", f"{what} must not carry a nonce")
    if inner.protected.get("url") != url:
        raise Problem("malformed", f"{what}'s url is not the outer request's url {url!r}")
