"""stepui.pki.formats: certificates and keys as people have them (PEM, DER, PKCS#12)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from stepui.errors import BadInput, WrongPassword
from stepui.pki.formats import load_bundle
from stepui.pki.keys import private_key_pem, same_key

from .pki_fixtures import make_ca, make_leaf, pem


@pytest.fixture(scope="module")
def chain():
    root = make_ca("Fmt Root")
    inter = make_ca("Fmt Inter", signer=root)
    leaf, key = make_leaf(inter, ["a.example"], subject="CN=a")
    return root, inter, leaf, key


def test_pem_bundle_keeps_order_and_has_no_key(chain) -> None:
    root, inter, leaf, _ = chain
    bundle = load_bundle(pem(leaf, inter.certificate, root.certificate))
    assert bundle.certificates == [leaf, inter.certificate, root.certificate]
    assert bundle.key is None


def test_der_certificate(chain) -> None:
    root = chain[0]
    bundle = load_bundle(root.certificate.public_bytes(serialization.Encoding.DER))
    assert bundle.certificates == [root.certificate] and bundle.key is None


@pytest.mark.parametrize("password", (None, b"pw"))
def test_pem_certificate_and_key(chain, password: bytes | None) -> None:
    _, inter, leaf, key = chain
    data = pem(leaf) + private_key_pem(key, password) + pem(inter.certificate)
    bundle = load_bundle(data, password)
    assert bundle.certificates == [leaf, inter.certificate]
    assert bundle.key is not None and same_key(bundle.key, leaf.public_key())


def test_pem_encrypted_key_without_password(chain) -> None:
    _, _, leaf, key = chain
    with pytest.raises(WrongPassword):
        load_bundle(pem(leaf) + private_key_pem(key, b"pw"), None)


def _p12(chain, password: bytes | None) -> bytes:
    _, inter, leaf, key = chain
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"a", key, leaf, [inter.certificate], encryption)


def test_pkcs12_without_password(chain) -> None:
    _, inter, leaf, key = chain
    bundle = load_bundle(_p12(chain, None))
    assert bundle.certificates == [leaf, inter.certificate]
    assert same_key(bundle.key, key)


def test_pkcs12_with_password(chain) -> None:
    _, inter, leaf, key = chain
    data = _p12(chain, b"secret")
    bundle = load_bundle(data, b"secret")
    assert bundle.certificates[0] == leaf and same_key(bundle.key, key)
    with pytest.raises(WrongPassword, match="wrong password"):
        load_bundle(data, b"nope")
    with pytest.raises(WrongPassword, match="give its password"):
        load_bundle(data, None)


@pytest.mark.parametrize(
    "data",
    (
        b"",
        b"  \n",
        b"not a certificate",
        b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n",
    ),
)
def test_garbage_is_bad_input(data: bytes) -> None:
    with pytest.raises(BadInput):
        load_bundle(data)
