"""A hand-rolled ACME client (httpx + josepy) for requests the ``acme`` library cannot express:
custom order fields, other signature algorithms, and deliberately broken JWS."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import josepy
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tests.acme_fixtures import AcmeEnv

JOSE = "application/jose+json"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(key: Any) -> dict[str, Any]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    return (
        josepy.JWK.load(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        .public_key()
        .to_json()
    )


def default_alg(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[key.curve.name]


def sign_bytes(key: Any, alg: str, message: bytes) -> bytes:
    """Sign as JWS ``alg`` would, with whatever key is given (mismatches on purpose too)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if isinstance(key, rsa.RSAPrivateKey):
        if alg == "PS256":
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), hashes.SHA256.digest_size)
            return key.sign(message, pss, hashes.SHA256())
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    signer = {"ES256": josepy.ES256, "ES384": josepy.ES384, "ES512": josepy.ES512}.get(
        alg, josepy.ES256
    )
    return signer.sign(key, message)


class RawClient:
    def __init__(self, env: AcmeEnv, key: Any = None, alg: str | None = None) -> None:
        self.env = env
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.alg = alg or default_alg(self.key)
        self.http = env.http()
        self.directory = self.http.get(env.server.directory).json()
        self.kid: str | None = None

    def close(self) -> None:
        self.http.close()

    def nonce(self) -> str:
        return self.http.head(self.directory["newNonce"]).headers["Replay-Nonce"]

    def protected(self, to: str, *, use_jwk: bool | None = None, **changes: Any) -> dict:
        """The usual header for a request to ``to``; ``changes`` override (None drops)."""
        header: dict[str, Any] = {"alg": self.alg, "nonce": self.nonce(), "url": to}
        if use_jwk or (use_jwk is None and self.kid is None):
            header["jwk"] = public_jwk(self.key)
        else:
            header["kid"] = self.kid
        header.update(changes)
        return {k: v for k, v in header.items() if v is not None}

    def jws(self, protected: dict, payload: bytes) -> dict[str, str]:
        protected_b64 = b64(json.dumps(protected).encode())
        payload_b64 = b64(payload)
        signature = sign_bytes(self.key, self.alg, f"{protected_b64}.{payload_b64}".encode())
        return {"protected": protected_b64, "payload": payload_b64, "signature": b64(signature)}

    def post(
        self, url: str, payload: Any = None, *, use_jwk: bool | None = None, **changes: Any
    ) -> httpx.Response:
        """POST ``payload`` (JSON; None for POST-as-GET) signed with the usual header."""
        data = b"" if payload is None else json.dumps(payload).encode()
        body = self.jws(self.protected(url, use_jwk=use_jwk, **changes), data)
        return self.send(url, json.dumps(body))

    def send(self, url: str, body: str | bytes, content_type: str = JOSE) -> httpx.Response:
        return self.http.post(url, content=body, headers={"Content-Type": content_type})

    def register(self) -> str:
        response = self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True})
        assert response.status_code == 201, response.text
        self.kid = response.headers["Location"]
        return self.kid
