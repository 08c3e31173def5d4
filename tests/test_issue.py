"""stepui.pki.issue: the RFC 5280 profile of what stepui signs, and CSR loading."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from stepui.errors import BadCSR
from stepui.pki.issue import Extras, Signer, build_certificate, build_csr, load_csr, new_serial
from stepui.pki.keys import generate_key
from stepui.pki.names import parse_sans, parse_subject
from stepui.pki.templates import BUILTIN_TEMPLATES, template_from_dict

from .pki_fixtures import NOW, make_ca, make_leaf, pem


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


@pytest.fixture(scope="module")
def root() -> Signer:
    return make_ca("Test Root")


@pytest.fixture(scope="module")
def intermediate(root: Signer) -> Signer:
    return make_ca("Test Intermediate", signer=root)


def test_root_profile(root: Signer) -> None:
    cert = root.certificate
    assert cert.issuer == cert.subject
    basic = ext(cert, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 1
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign and usage.value.digital_signature
    assert not usage.value.key_encipherment
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    cert.verify_directly_issued_by(cert)


def test_intermediate_profile_links_to_root(root: Signer, intermediate: Signer) -> None:
    cert = intermediate.certificate
    basic = ext(cert, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    root_ski = ext(root.certificate, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == root_ski
    assert cert.issuer == root.certificate.subject
    cert.verify_directly_issued_by(root.certificate)


def test_path_len_extra_overrides_template(root: Signer) -> None:
    cert = make_ca("Deep", signer=root, extras=Extras(path_len=3)).certificate
    assert ext(cert, x509.BasicConstraints).value.path_length == 3


def test_leaf_profile(intermediate: Signer) -> None:
    cert, key = make_leaf(intermediate, ["api.example.org", "IP:10.0.0.1"], subject="CN=api")
    basic = ext(cert, x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_encipherment and not usage.value.key_cert_sign
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = ext(cert, x509.SubjectAlternativeName)
    assert not san.critical
    assert list(san.value) == parse_sans(["api.example.org", "IP:10.0.0.1"])
    issuer_ski = ext(intermediate.certificate, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == issuer_ski
    assert ext(cert, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(
        key.public_key()
    )
    cert.verify_directly_issued_by(intermediate.certificate)
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=1)
    for absent in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        with pytest.raises(x509.ExtensionNotFound):
            ext(cert, absent)


def test_san_is_critical_when_the_subject_is_empty(intermediate: Signer) -> None:
    cert, _ = make_leaf(intermediate, ["api.example.org"])
    assert len(cert.subject) == 0
    assert ext(cert, x509.SubjectAlternativeName).critical


def test_key_encipherment_only_for_rsa(intermediate: Signer) -> None:
    rsa_cert, _ = make_leaf(
        intermediate, ["email:a@example.org"], "email", key=generate_key("rsa-2048")
    )
    ec_cert, _ = make_leaf(intermediate, ["email:a@example.org"], "email")
    assert ext(rsa_cert, x509.KeyUsage).value.key_encipherment
    assert not ext(ec_cert, x509.KeyUsage).value.key_encipherment
    assert ext(ec_cert, x509.KeyUsage).value.digital_signature


def test_urls_and_policies_from_template_and_extras(intermediate: Signer) -> None:
    template = template_from_dict(
        {
            "name": "web",
            "extended_key_usage": ["server_auth", "client_auth"],
            "crl_urls": ["http://crl.example/a.crl"],
            "ca_issuers_urls": ["http://ca.example/ca.crt"],
            "policies": ["2.23.140.1.2.1"],
        }
    )
    key = generate_key()
    cert = build_certificate(
        subject=parse_subject("CN=web"),
        public_key=key.public_key(),
        template=template,
        not_before=NOW,
        not_after=NOW + timedelta(hours=1),
        serial=new_serial(),
        sans=parse_sans(["web.example"]),
        signer=intermediate,
        extras=Extras(
            crl_urls=["http://crl.example/a.crl", "http://crl.example/b.crl"],
            ocsp_urls=["http://ocsp.example"],
        ),
    )
    points = ext(cert, x509.CRLDistributionPoints).value
    assert [p.full_name[0].value for p in points] == [
        "http://crl.example/a.crl",
        "http://crl.example/b.crl",
    ]
    access = {
        (a.access_method, a.access_location.value)
        for a in ext(cert, x509.AuthorityInformationAccess).value
    }
    assert access == {
        (AuthorityInformationAccessOID.OCSP, "http://ocsp.example"),
        (AuthorityInformationAccessOID.CA_ISSUERS, "http://ca.example/ca.crt"),
    }
    policies = ext(cert, x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.23.140.1.2.1"]
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]


def test_name_constraints_are_critical(root: Signer) -> None:
    constraints = x509.NameConstraints([x509.DNSName("corp.example")], None)
    cert = make_ca(
        "Constrained", signer=root, extras=Extras(name_constraints=constraints)
    ).certificate
    nc = ext(cert, x509.NameConstraints)
    assert nc.critical and nc.value == constraints


def test_aki_uses_the_issuers_own_ski() -> None:
    """An imported CA may compute its SKI another way; the AKI must still match it."""
    key = generate_key()
    odd_ski = x509.SubjectKeyIdentifier(b"\x01" * 20)
    subject = parse_subject("CN=Odd Root")
    odd = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(new_serial())
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(True, None), critical=True)
        .add_extension(odd_ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert, _ = make_leaf(Signer(odd, key), ["a.example"])
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == b"\x01" * 20


def test_ed25519_and_p384_signers(root: Signer) -> None:
    for key_type in ("ed25519", "ec-p384"):
        ca = make_ca(f"CA {key_type}", signer=root, key_type=key_type)
        cert, _ = make_leaf(ca, ["a.example"])
        cert.verify_directly_issued_by(ca.certificate)


def test_serials_are_positive_random_and_wide() -> None:
    serials = {new_serial() for _ in range(500)}
    assert len(serials) == 500
    assert all(0 < s < 2**128 for s in serials)
    assert sum(s.bit_length() > 64 for s in serials) == 500
    assert len({s >> 120 for s in serials}) > 100  # the top bits vary too


def test_a_certificate_needs_a_signer() -> None:
    key = generate_key()
    with pytest.raises(ValueError):
        build_certificate(
            subject=parse_subject("CN=x"),
            public_key=key.public_key(),
            template=BUILTIN_TEMPLATES["tls-server"],
            not_before=NOW,
            not_after=NOW + timedelta(hours=1),
            serial=1,
        )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")
def test_openssl_accepts_the_chain(tmp_path: Path, root: Signer, intermediate: Signer) -> None:
    cert, _ = make_leaf(intermediate, ["api.example.org"], subject="CN=api")
    (tmp_path / "root.pem").write_bytes(pem(root.certificate))
    (tmp_path / "inter.pem").write_bytes(pem(intermediate.certificate))
    (tmp_path / "leaf.pem").write_bytes(pem(cert))
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-attime",
            str(int(NOW.timestamp()) + 60),
            "-CAfile",
            "root.pem",
            "-untrusted",
            "inter.pem",
            "-purpose",
            "sslserver",
            "leaf.pem",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_build_csr_and_load_csr_round_trip(intermediate: Signer) -> None:
    data = build_csr(intermediate.certificate.subject, intermediate.key, parse_sans(["a.example"]))
    csr = load_csr(data)
    assert csr.subject == intermediate.certificate.subject
    assert ext(csr, x509.BasicConstraints).value.ca  # type: ignore[arg-type]
    der = csr.public_bytes(serialization.Encoding.DER)
    assert load_csr(der).subject == csr.subject


def test_tampered_csr_is_bad_csr() -> None:
    key = generate_key()
    csr = x509.load_pem_x509_csr(build_csr(parse_subject("CN=a"), key))
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    with pytest.raises(BadCSR, match="does not verify|cannot be parsed"):
        load_csr(bytes(der))
    swapped = bytearray(csr.public_bytes(serialization.Encoding.DER))
    index = bytes(swapped).find(b"\x0c\x01a")  # the CN value "a"
    swapped[index + 2] = ord("b")
    with pytest.raises(BadCSR, match="does not verify"):
        load_csr(bytes(swapped))


@pytest.mark.parametrize(
    "data",
    (
        b"",
        b"garbage",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"\x30\x03\x02\x01\x00",
    ),
)
def test_garbage_csr_is_bad_csr(data: bytes) -> None:
    with pytest.raises(BadCSR) as caught:
        load_csr(data)
    assert caught.value.acme_type == "badCSR"
