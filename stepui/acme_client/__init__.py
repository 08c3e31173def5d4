"""The built-in ACME client (RFC 8555, 8737, 8738, 9773) on josepy and httpx.

``protocol`` speaks the wire (JWS, nonces, Retry-After, problem documents), ``accounts`` keeps
one account key per server in the data dir, ``solvers`` answer challenges (built-in http-01 and
tls-alpn-01 responders, a dns-01 hook), and ``flow`` runs an order from identifiers to chain.
"""

from stepui.acme_client.errors import AcmeError

__all__ = ["AcmeError"]
