"""Strict flattened-JWS verification (RFC 8555 §6.2–6.5), nonces and account lookup.

Checks run cheapest first and refuse anything a lenient parser would let through: the general
serialization (``signatures``), an unprotected ``header``, ``b64: false``/``crit`` (RFC 7797),
detached payloads, padded or non-base64url text, duplicate JSON members, MAC or ``none``
algorithms, an ``alg`` that does not fit the key, private key material in ``jwk``, a ``url``
that is not the request's, and a nonce that is unknown, spent or stale.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import josepy
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from server.problems import Problem
from stepui.pki.keys import MIN_RSA_BITS
from stepui.store.acme import Account, AcmeStore

ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA")
_EC_CURVES = {"ES256": ("secp256r1", 32), "ES384": ("secp384r1", 48), "ES512": ("secp521r1", 66)}
_EC_HASHES = {"ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def b64url_decode(text: Any, what: str) -> bytes:
    """Unpadded base64url only (RFC 7515 §2); anything else is ``malformed``."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise Problem("malformed", f"{what} is not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def parse_json_object(data: bytes | str, what: str) -> dict[str, Any]:
    """A JSON object without duplicate members, else ``malformed``; also refused: nesting too
    deep for the parser, and strings that are not Unicode text (a lone surrogate escape such as
    ``"\\ud800"``, which I-JSON, RFC 7493 §2.1, forbids and SQLite cannot store)."""
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if b"\\u" in raw or not raw.isascii():  # ASCII without escapes holds no surrogate
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise Problem("malformed", f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise Problem("malformed", f"{what} is nested too deeply") from None
    if not isinstance(value, dict):
        raise Problem("malformed", f"{what} is not a JSON object")
    return value


@dataclass(frozen=True)
class AccountKey:
    """A verified public JWK: the key, its canonical JSON and its RFC 7638 thumbprint."""

    key: PublicKey
    jwk_json: str
    thumbprint: str


@lru_cache(maxsize=4096)
def load_jwk_text(text: str) -> AccountKey:
    """Parse a stored JWK once per process (accounts sign every request with the same key)."""
    return load_jwk(json.loads(text))


def load_jwk(jwk: Any) -> AccountKey:
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kty"), str):
        raise Problem("malformed", "jwk is not a JSON Web Key object")
    if _PRIVATE_MEMBERS & set(jwk):
        raise Problem("badPublicKey", "jwk holds private key material; send the public key only")
    kty = jwk["kty"]
    try:
        if kty == "OKP":
            return _load_okp(jwk)
        if kty not in ("EC", "RSA"):
            raise Problem("badPublicKey", f"key type {kty!r} is not supported (EC, RSA, OKP)")
        parsed = josepy.JWK.from_json(jwk)
        key = parsed.key.public_numbers().public_key()
        public = parsed.to_json()
        thumbprint = parsed.thumbprint()
    except (josepy.errors.DeserializationError, ValueError, TypeError, KeyError) as exc:
        raise Problem("badPublicKey", f"jwk is not a valid {kty} public key: {exc}") from None
    except AttributeError:  # josepy decodes members with str methods: a number or list member
        raise Problem("badPublicKey", f"jwk is not a valid {kty} public key") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise Problem("badPublicKey", f"RSA keys must have at least {MIN_RSA_BITS} bits")
    canonical = json.dumps(public, sort_keys=True, separators=(",", ":"))
    return AccountKey(key, canonical, b64url_encode(thumbprint))


def _load_okp(jwk: dict[str, Any]) -> AccountKey:
    if jwk.get("crv") != "Ed25519":
        raise Problem("badPublicKey", "OKP keys must use the Ed25519 curve")
    raw = b64url_decode(jwk.get("x"), "jwk x")
    if len(raw) != 32:
        raise Problem("badPublicKey", "an Ed25519 key is 32 bytes")
    key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    public = {"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}
    canonical = json.dumps(public, sort_keys=True, separators=(",", ":"))
    return AccountKey(key, canonical, b64url_encode(hashlib.sha256(canonical.encode()).digest()))


@dataclass(frozen=True)
class Flattened:
    """A flattened JWS (RFC 7515 §7.2.2) taken apart: nothing about its key, nonce or url is
    checked and its signature is not yet verified."""

    protected: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> Any:
        return self.protected.get("alg")

    def payload_json(self, what: str) -> dict[str, Any]:
        return parse_json_object(self.payload, what)


def parse_flattened(document: Any, what: str) -> Flattened:
    """The one JWS shape ACME allows (RFC 8555 §6.2), for a request and for the JWS inside
    keyChange and EAB alike: flattened, no unprotected header, no detached payload, no
    ``b64``/``crit``, unpadded base64url."""
    if not isinstance(document, dict):
        raise Problem("malformed", f"{what} is not a JWS object")
    if "signatures" in document:
        raise Problem("malformed", f"{what} must be flattened JSON, not the general serialization")
    if "header" in document:
        raise Problem("malformed", f"{what} must not have an unprotected header")
    unknown = set(document) - {"protected", "payload", "signature"}
    if unknown:
        raise Problem("malformed", f"{what} has unexpected members: {', '.join(sorted(unknown))}")
    for member in ("protected", "payload", "signature"):
        if not isinstance(document.get(member), str):
            raise Problem("malformed", f"{what} has no {member} (detached payloads are refused)")
    protected_b64, payload_b64 = document["protected"], document["payload"]
    protected = parse_json_object(b64url_decode(protected_b64, f"{what} protected"), what)
    if "b64" in protected or "crit" in protected:
        raise Problem("malformed", f"{what}: the b64 and crit header parameters are not supported")
    return Flattened(
        protected=protected,
        payload=b64url_decode(payload_b64, f"{what} payload"),
        signing_input=f"{protected_b64}.{payload_b64}".encode("ascii"),
        signature=b64url_decode(document["signature"], f"{what} signature"),
    )


@dataclass(frozen=True)
class Jws:
    """A request's JWS, structurally valid, with the header members every request needs."""

    parts: Flattened
    nonce: str
    url: str
    jwk: dict[str, Any] | None
    kid: str | None


def parse(body: bytes) -> Jws:
    parts = parse_flattened(parse_json_object(body, "the request body"), "the JWS")
    protected, alg = parts.protected, parts.alg
    if alg not in ALGORITHMS:
        raise Problem(
            "badSignatureAlgorithm",
            f"algorithm {alg!r} is not supported",
            extra={"algorithms": list(ALGORITHMS)},
        )
    nonce, url = protected.get("nonce"), protected.get("url")
    if not isinstance(nonce, str) or not nonce:
        raise Problem("badNonce", "the JWS has no nonce")
    if not _B64URL.fullmatch(nonce):  # RFC 8555 §6.5.1: a nonce is base64url
        raise Problem("badNonce", "the JWS nonce is not base64url")
    if not isinstance(url, str):
        raise Problem("malformed", "the JWS protected header has no url")
    jwk, kid = protected.get("jwk"), protected.get("kid")
    if (jwk is None) == (kid is None):
        raise Problem("malformed", "the JWS must carry exactly one of jwk and kid")
    if kid is not None and not isinstance(kid, str):
        raise Problem("malformed", "kid must be a string")
    return Jws(parts=parts, nonce=nonce, url=url, jwk=jwk, kid=kid)


def verify_signature(jws: Flattened, key: PublicKey) -> None:
    """Check that ``alg`` fits the key (type and curve) and that the signature verifies."""
    alg = jws.alg
    try:
        if alg in _EC_CURVES:
            curve, size = _EC_CURVES[alg]
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve:
                raise _mismatch(alg)
            if len(jws.signature) != 2 * size:
                raise Problem("malformed", f"an {alg} signature is {2 * size} bytes")
            der = encode_dss_signature(
                int.from_bytes(jws.signature[:size], "big"),
                int.from_bytes(jws.signature[size:], "big"),
            )
            key.verify(der, jws.signing_input, ec.ECDSA(_EC_HASHES[alg]()))
        elif alg in ("RS256", "PS256"):
            if not isinstance(key, rsa.RSAPublicKey):
                raise _mismatch(alg)
            pad = (
                padding.PKCS1v15()
                if alg == "RS256"
                # RFC 7518 §3.5 fixes the salt at the hash size, but josepy (certbot) signs
                # with the maximum; any salt is as safe, so accept both.
                else padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
            )
            key.verify(jws.signature, jws.signing_input, pad, hashes.SHA256())
        else:
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise _mismatch(alg)
            key.verify(jws.signature, jws.signing_input)
    except InvalidSignature:
        raise Problem("malformed", "the JWS signature does not verify") from None


def _mismatch(alg: str) -> Problem:
    return Problem(
        "badSignatureAlgorithm",
        f"algorithm {alg} does not match the key's type or curve",
        extra={"algorithms": list(ALGORITHMS)},
    )


@dataclass(frozen=True)
class Verified:
    """An authenticated request: its payload, the signing key and (for kid) the account."""

    payload: bytes
    key: AccountKey
    account: Account | None
    jwk_signed: bool

    def json(self) -> dict[str, Any]:
        if self.payload == b"":
            raise Problem("malformed", "this request needs a JSON payload, not POST-as-GET")
        return parse_json_object(self.payload, "the JWS payload")

    def require_post_as_get(self) -> None:
        if self.payload != b"":
            raise Problem("malformed", "POST-as-GET requires an empty payload")


def authenticate(
    store: AcmeStore,
    body: bytes,
    *,
    url: str,
    account_prefix: str,
    provisioner: str,
    now: datetime,
    allow_jwk: bool,
    on_nonce: Callable[[str], None],
) -> Verified:
    """Verify one request; ``on_nonce`` receives the fresh nonce minted when the request's
    nonce is spent, so that every answer (errors too) can carry it."""
    jws = parse(body)
    account = None
    if jws.jwk is not None:
        if not allow_jwk:
            raise Problem("malformed", "this request must be signed with kid, not jwk")
        key = load_jwk(jws.jwk)
    else:
        assert jws.kid is not None
        if not jws.kid.startswith(account_prefix):
            raise Problem("accountDoesNotExist", "kid is not an account URL of this directory")
        account = store.account(jws.kid[len(account_prefix) :])
        if account is None or account.provisioner != provisioner:
            raise Problem("accountDoesNotExist", f"no account {jws.kid}")
        key = load_jwk_text(account.jwk)
    verify_signature(jws.parts, key.key)
    if jws.url != url:
        raise Problem("unauthorized", f"the JWS url {jws.url!r} is not the request URL {url!r}")
    good, fresh = store.consume_nonce(jws.nonce, now)
    on_nonce(fresh)
    if not good:
        raise Problem("badNonce", "the nonce is unknown, already used or expired")
    if account is not None and account.status != "valid":
        raise Problem("unauthorized", f"account {account.id} is {account.status}", status=401)
    return Verified(jws.parts.payload, key, account, jws.jwk is not None)


def key_thumbprint(key: object) -> str | None:
    """The RFC 7638 thumbprint a JWK of this public key would have (None: not a JWK type)."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _load_okp({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}).thumbprint
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            return b64url_encode(josepy.JWKEC(key=key).thumbprint())
        if isinstance(key, rsa.RSAPublicKey):
            return b64url_encode(josepy.JWKRSA(key=key).thumbprint())
    except josepy.errors.Error:  # a curve JOSE has no name for: no account can have it
        return None
    return None
