"""Private keys: generate, serialise (encrypted PKCS#8 at rest), load, and describe.

EC P-256 is the default, as in smallstep's CA: small, fast and accepted everywhere.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

from stepui.errors import BadCSR, BadInput, WrongPassword

PrivateKey = CertificateIssuerPrivateKeyTypes
PublicKey = CertificatePublicKeyTypes

KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519")
DEFAULT_KEY_TYPE = "ec-p256"
MIN_RSA_BITS = 2048


def generate_key(key_type: str = DEFAULT_KEY_TYPE) -> PrivateKey:
    """Generate a key; RSA takes long enough that interactive callers run this in a thread."""
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa-") and key_type in KEY_TYPES:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise BadInput(f"unknown key type {key_type!r}: choose one of {', '.join(KEY_TYPES)}")


def key_type_of(key: PrivateKey | PublicKey) -> str:
    """Name a key in the same vocabulary as ``--key-type``."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}.get(
            public.curve.name, f"ec-{public.curve.name}"
        )
    if isinstance(public, rsa.RSAPublicKey):
        return f"rsa-{public.key_size}"
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public, ed448.Ed448PublicKey):
        return "ed448"
    raise BadInput(f"unsupported key algorithm {type(public).__name__}")


def signature_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    """The digest a CA key signs with; Ed25519/Ed448 sign without a separate digest."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def private_key_pem(key: PrivateKey, password: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available scheme when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_private_key(data: bytes, password: bytes | None) -> PrivateKey:
    """Load a PEM or DER private key, encrypted or not, with errors that say which it was."""
    if not data.strip():
        raise BadInput("the key file is empty")
    loaders = (
        (serialization.load_pem_private_key,)
        if b"-----BEGIN" in data
        else (serialization.load_der_private_key,)
    )
    encrypted = b"ENCRYPTED" in data
    for loader in loaders:
        try:
            key: PrivateKeyTypes = loader(data, password=password or None)
        except TypeError as exc:
            if "encrypted" in str(exc).lower() or encrypted:
                if password:
                    raise WrongPassword(
                        "the key is not encrypted but a password was given"
                    ) from exc
                raise WrongPassword("the key is encrypted: give its password") from exc
            raise BadInput(f"cannot read the private key: {exc}") from exc
        except ValueError as exc:
            if password and (encrypted or b"-----BEGIN" not in data):
                raise WrongPassword("wrong password for the private key") from exc
            raise BadInput("the data is not a valid PEM or DER private key") from exc
        if not isinstance(
            key,
            ec.EllipticCurvePrivateKey
            | rsa.RSAPrivateKey
            | ed25519.Ed25519PrivateKey
            | ed448.Ed448PrivateKey,
        ):
            raise BadInput(f"unsupported private key type {type(key).__name__}")
        return key
    raise BadInput("the data is not a private key")


def public_key_der(key: PrivateKey | PublicKey) -> bytes:
    """SubjectPublicKeyInfo DER: the form in which two keys are compared."""
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_key(a: PrivateKey | PublicKey, b: PrivateKey | PublicKey) -> bool:
    return public_key_der(a) == public_key_der(b)


def check_public_key(key: PublicKey, *, csr: bool) -> None:
    """Refuse keys too weak to sign or be certified (RSA under 2048 bits) and curves that
    TLS clients don't verify; a CA being imported gets the same rule as a CSR."""
    error = BadCSR if csr else BadInput
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise error(
            f"RSA keys must be at least {MIN_RSA_BITS} bits (got {key.key_size})",
            acme_type="badCSR" if csr else None,
        )
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        raise error(f"unsupported elliptic curve {key.curve.name}")
