"""The ACME wire: flattened JWS over httpx, nonces, Retry-After and problem documents.

One :class:`AcmeClient` talks to one directory with one account key. Every POST carries a fresh
nonce (taken from the last answer's ``Replay-Nonce`` or from newNonce); a ``badNonce`` refusal is
retried with the nonce that came with it, as RFC 8555 §6.5 asks clients to do. Polling waits as
long as the server's ``Retry-After`` says, else with a growing backoff, up to a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import josepy
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from stepui.acme_client.errors import AcmeError

log = logging.getLogger(__name__)

BAD_NONCE_RETRIES = 10
MAX_RETRY_AFTER = 60.0
USER_AGENT = "stepui-acme-client"


def b64(data: bytes) -> str:
    """base64url without padding (RFC 8555 §6.1)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _algorithm(jwk: josepy.JWK) -> tuple[str, josepy.JWASignature]:
    if isinstance(jwk, josepy.JWKEC):
        size = jwk.key.curve.key_size
        return {256: ("ES256", josepy.ES256), 384: ("ES384", josepy.ES384)}[size]
    if isinstance(jwk, josepy.JWKRSA):
        return "RS256", josepy.RS256
    raise AcmeError(f"acme: unsupported account key type {type(jwk).__name__}")


def jwk_for(key: Any) -> josepy.JWK:
    """A JWK for a cryptography private key (EC or RSA: what ACME servers accept)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return josepy.JWKEC(key=key)
    if isinstance(key, rsa.RSAPrivateKey):
        return josepy.JWKRSA(key=key)
    raise AcmeError(f"acme: cannot sign ACME requests with a {type(key).__name__}")


def jws(
    jwk: josepy.JWK, payload: Any, url: str, *, nonce: str | None, kid: str | None
) -> dict[str, str]:
    """A flattened JWS: ``kid`` when given, else the public ``jwk``; ``payload=None`` is the
    empty POST-as-GET payload."""
    alg_name, alg = _algorithm(jwk)
    protected: dict[str, Any] = {"alg": alg_name, "url": url}
    if nonce is not None:
        protected["nonce"] = nonce
    if kid is not None:
        protected["kid"] = kid
    else:
        protected["jwk"] = jwk.public_key().to_partial_json()
    encoded_protected = b64(json.dumps(protected, separators=(",", ":")).encode())
    encoded_payload = "" if payload is None else b64(json.dumps(payload).encode())
    signature = alg.sign(jwk.key, f"{encoded_protected}.{encoded_payload}".encode())
    return {"protected": encoded_protected, "payload": encoded_payload, "signature": b64(signature)}


def eab_binding(jwk: josepy.JWK, url: str, key_id: str, hmac_key: str) -> dict[str, str]:
    """External Account Binding (§7.3.4): the account's public JWK MACed with the EAB key."""
    protected = b64(json.dumps({"alg": "HS256", "kid": key_id, "url": url}).encode())
    payload = b64(json.dumps(jwk.public_key().to_partial_json()).encode())
    try:
        secret = b64decode(hmac_key.strip())
    except ValueError as exc:
        raise AcmeError("acme: --eab-hmac is not base64url") from exc
    mac = hmac.new(secret, f"{protected}.{payload}".encode(), hashlib.sha256).digest()
    return {"protected": protected, "payload": payload, "signature": b64(mac)}


def thumbprint(jwk: josepy.JWK) -> str:
    """RFC 7638 thumbprint, base64url: the second half of every key authorization."""
    return b64(jwk.thumbprint())


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), capped."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


@dataclass
class Resource:
    """An ACME object and where it lives."""

    url: str
    body: dict[str, Any]
    response: httpx.Response

    @property
    def status(self) -> str:
        return str(self.body.get("status", ""))


class AcmeClient:
    """One directory, one account key; ``kid`` is set once the account is known."""

    def __init__(
        self,
        directory_url: str,
        jwk: josepy.JWK,
        *,
        verify: Any = True,
        timeout: float = 30.0,
        poll_timeout: float = 180.0,
        sleep: Callable[[float], None] = time.sleep,
        kid: str | None = None,
    ) -> None:
        self.directory_url = directory_url
        self.jwk = jwk
        self.kid = kid
        self.poll_timeout = poll_timeout
        self.sleep = sleep
        self.http = httpx.Client(verify=verify, timeout=timeout, headers={"User-Agent": USER_AGENT})
        self._directory: dict[str, Any] | None = None
        self._nonce: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AcmeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------
    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise AcmeError(f"acme: cannot reach {url}: {_reason(exc)}") from exc
        nonce = response.headers.get("Replay-Nonce")
        if nonce:
            self._nonce = nonce
        return response

    @property
    def directory(self) -> dict[str, Any]:
        if self._directory is None:
            response = self._send("GET", self.directory_url)
            self._directory = _json(self._checked(response, "directory"))
            if "newNonce" not in self._directory or "newOrder" not in self._directory:
                raise AcmeError(f"acme: {self.directory_url} is not an ACME directory")
        return self._directory

    def endpoint(self, name: str) -> str:
        url = self.directory.get(name)
        if not isinstance(url, str):
            raise AcmeError(f"acme: the server's directory offers no {name}")
        return url

    def _fresh_nonce(self) -> str:
        if self._nonce is None:
            self._checked(self._send("HEAD", self.endpoint("newNonce")), "newNonce")
            if self._nonce is None:
                raise AcmeError("acme: newNonce answered without a Replay-Nonce")
        nonce, self._nonce = self._nonce, None
        return nonce

    def _checked(self, response: httpx.Response, context: str) -> httpx.Response:
        if response.is_success:
            return response
        raise _problem_error(response, context)

    def post(
        self,
        url: str,
        payload: Any = None,
        *,
        use_jwk: bool = False,
        key: josepy.JWK | None = None,
        context: str = "",
    ) -> httpx.Response:
        """A signed POST (``payload=None``: POST-as-GET); retries ``badNonce``. ``key`` signs
        with another key than the account's (revocation by the certificate key), as a jwk."""
        for attempt in range(BAD_NONCE_RETRIES + 1):
            body = jws(
                key or self.jwk,
                payload,
                url,
                nonce=self._fresh_nonce(),
                kid=None if use_jwk or key is not None else self.kid,
            )
            response = self._send(
                "POST", url, json=body, headers={"Content-Type": "application/jose+json"}
            )
            if response.is_success:
                return response
            error = _problem_error(response, context)
            if error.acme_type != "badNonce" or attempt == BAD_NONCE_RETRIES:
                raise error
            log.info("acme: badNonce from %s, retrying with a fresh nonce", url)
        raise AssertionError("unreachable")

    def fetch(self, url: str, context: str = "") -> Resource:
        response = self.post(url, context=context)
        return Resource(url, _json(response), response)

    def poll(self, url: str, *, done: Iterable[str], context: str, start: float = 0.5) -> Resource:
        """POST-as-GET ``url`` until its status is in ``done``; Retry-After wins over the
        backoff (0.5 s doubling to 8 s); gives up after ``poll_timeout`` seconds."""
        finished = set(done)
        deadline = time.monotonic() + self.poll_timeout
        delay = start
        while True:
            resource = self.fetch(url, context)
            if resource.status in finished:
                return resource
            if time.monotonic() >= deadline:
                raise AcmeError(
                    f"acme: {context}: still {resource.status!r} after "
                    f"{self.poll_timeout:.0f}s ({url})"
                )
            wait = retry_after(resource.response)
            self.sleep(delay if wait is None else wait)
            delay = min(delay * 2, 8.0)

    # -- resources -------------------------------------------------------------------------
    def register(
        self,
        *,
        contact: Iterable[str] = (),
        eab: tuple[str, str] | None = None,
        only_existing: bool = False,
    ) -> str:
        """newAccount with this key (the same key again returns the same account)."""
        url = self.endpoint("newAccount")
        payload: dict[str, Any] = {"termsOfServiceAgreed": True}
        contacts = list(contact)
        if contacts:
            payload["contact"] = contacts
        if only_existing:
            payload = {"onlyReturnExisting": True}
        elif eab is not None:
            payload["externalAccountBinding"] = eab_binding(self.jwk, url, *eab)
        elif (self.directory.get("meta") or {}).get("externalAccountRequired"):
            raise AcmeError(
                "acme: this server requires External Account Binding: give --eab-kid and "
                "--eab-hmac",
                acme_type="externalAccountRequired",
            )
        response = self.post(url, payload, use_jwk=True, context="newAccount")
        location = response.headers.get("Location")
        if not location:
            raise AcmeError("acme: newAccount answered without the account URL (Location)")
        self.kid = location
        return location

    def new_order(
        self,
        identifiers: list[dict[str, str]],
        *,
        profile: str | None = None,
        replaces: str | None = None,
    ) -> Resource:
        payload: dict[str, Any] = {"identifiers": identifiers}
        if profile:
            profiles = (self.directory.get("meta") or {}).get("profiles") or {}
            if profile not in profiles:
                known = ", ".join(sorted(profiles)) or "none"
                raise AcmeError(
                    f"acme: the server offers no profile {profile!r} (offered: {known})",
                    acme_type="invalidProfile",
                )
            payload["profile"] = profile
        if replaces:
            payload["replaces"] = replaces
        response = self.post(self.endpoint("newOrder"), payload, context="newOrder")
        location = response.headers.get("Location")
        if not location:
            raise AcmeError("acme: newOrder answered without the order URL (Location)")
        return Resource(location, _json(response), response)

    def respond(self, challenge_url: str) -> None:
        """Tell the server the challenge is ready (POST ``{}``)."""
        self.post(challenge_url, {}, context="challenge")

    def finalize(self, order: Resource, csr_der: bytes) -> Resource:
        url = order.body.get("finalize")
        if not isinstance(url, str):
            raise AcmeError("acme: the order has no finalize URL")
        response = self.post(url, {"csr": b64(csr_der)}, context="finalize")
        return Resource(order.url, _json(response), response)

    def certificate(self, url: str) -> bytes:
        """The PEM chain (leaf first) at a certificate URL, by POST-as-GET."""
        response = self.post(url, context="certificate")
        if b"-----BEGIN CERTIFICATE-----" not in response.content:
            kind = response.headers.get("Content-Type", "?")
            raise AcmeError(f"acme: {url} did not answer with a PEM chain (got {kind})")
        return response.content

    def revoke(self, cert_der: bytes, reason: int, *, key_jwk: josepy.JWK | None = None) -> None:
        """revokeCert as this account, or signed by the certificate's own key (``key_jwk``)."""
        payload = {"certificate": b64(cert_der), "reason": reason}
        self.post(self.endpoint("revokeCert"), payload, key=key_jwk, context="revokeCert")

    def renewal_info(self, cert_id: str) -> Resource | None:
        """RFC 9773 renewalInfo (unauthenticated GET), or None when the server has none."""
        base = self.directory.get("renewalInfo")
        if not isinstance(base, str):
            return None
        url = f"{base.rstrip('/')}/{cert_id}"
        response = self._checked(self._send("GET", url), "renewalInfo")
        return Resource(url, _json(response), response)


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise AcmeError(
            f"acme: {response.request.url} answered {response.status_code} with non-JSON"
        ) from exc
    if not isinstance(body, dict):
        raise AcmeError(f"acme: {response.request.url} answered a JSON {type(body).__name__}")
    return body


def _problem_error(response: httpx.Response, context: str) -> AcmeError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "type" in body:
        return AcmeError.from_problem(body, context=context)
    snippet = " ".join(response.text.split())[:200]
    return AcmeError(
        f"acme: {context + ': ' if context else ''}HTTP {response.status_code} from "
        f"{response.request.url}{': ' + snippet if snippet else ''}",
        acme_type=None,
    )
