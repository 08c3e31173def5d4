"""stepui.pki.keys: every key type, encrypted PKCS#8 at rest, and errors that say what is wrong."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519

from stepui.errors import BadInput, WrongPassword
from stepui.pki import keys

FAST_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "ed25519")


@pytest.mark.parametrize("key_type", FAST_TYPES)
def test_every_key_type_generates_and_names_itself(key_type: str) -> None:
    key = keys.generate_key(key_type)
    assert keys.key_type_of(key) == key_type
    assert keys.key_type_of(key.public_key()) == key_type


def test_rsa_3072_is_offered_and_unknown_types_are_refused() -> None:
    assert "rsa-3072" in keys.KEY_TYPES and "rsa-4096" in keys.KEY_TYPES
    for bad in ("rsa-1024", "rsa-", "ec-p521", "dsa"):
        with pytest.raises(BadInput, match="unknown key type"):
            keys.generate_key(bad)


def test_key_type_of_other_curves_and_ed448() -> None:
    assert keys.key_type_of(ec.generate_private_key(ec.SECP521R1())) == "ec-p521"
    assert keys.key_type_of(ed448.Ed448PrivateKey.generate()) == "ed448"


def test_default_key_type_is_p256() -> None:
    key = keys.generate_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"


@pytest.mark.parametrize("key_type", ("ec-p256", "ed25519"))
def test_encrypted_pkcs8_round_trip(key_type: str) -> None:
    key = keys.generate_key(key_type)
    pem = keys.private_key_pem(key, b"s3cret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = keys.load_private_key(pem, b"s3cret")
    assert keys.same_key(loaded, key)


def test_unencrypted_pem_and_der_round_trip() -> None:
    key = keys.generate_key("ec-p384")
    pem = keys.private_key_pem(key, None)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert keys.same_key(keys.load_private_key(pem, None), key)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert keys.same_key(keys.load_private_key(der, None), key)


def test_traditional_ec_pem_loads() -> None:
    key = keys.generate_key("ec-p256")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert b"BEGIN EC PRIVATE KEY" in pem
    assert keys.same_key(keys.load_private_key(pem, None), key)


def test_wrong_password_is_wrong_password() -> None:
    pem = keys.private_key_pem(keys.generate_key(), b"right")
    with pytest.raises(WrongPassword, match="wrong password"):
        keys.load_private_key(pem, b"wrong")


def test_password_mismatches_have_distinct_messages() -> None:
    key = keys.generate_key()
    with pytest.raises(WrongPassword) as given:
        keys.load_private_key(keys.private_key_pem(key, None), b"unneeded")
    with pytest.raises(WrongPassword) as missing:
        keys.load_private_key(keys.private_key_pem(key, b"pw"), None)
    assert "not encrypted" in given.value.message
    assert "encrypted: give its password" in missing.value.message
    assert given.value.message != missing.value.message


@pytest.mark.parametrize(
    "data",
    (
        b"",
        b"   \n",
        b"hello, not a key",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"\x30\x03\x02\x01\x00",
    ),
)
def test_garbage_is_bad_input(data: bytes) -> None:
    with pytest.raises(BadInput) as caught:
        keys.load_private_key(data, None)
    assert not isinstance(caught.value, WrongPassword)


def test_signature_hash_follows_the_key() -> None:
    assert keys.signature_hash(keys.generate_key("ed25519")) is None
    assert keys.signature_hash(keys.generate_key("ec-p384")).name == "sha384"
    assert keys.signature_hash(keys.generate_key("ec-p256")).name == "sha256"


def test_same_key_compares_public_halves() -> None:
    a, b = keys.generate_key(), keys.generate_key()
    assert keys.same_key(a, a.public_key())
    assert not keys.same_key(a, b)
    assert isinstance(keys.generate_key("ed25519"), ed25519.Ed25519PrivateKey)
