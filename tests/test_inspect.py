"""stepui.pki.inspect on real certificates, CSRs and CRLs built here with cryptography.

The chain is a root (RSA 2048), an intermediate (EC P-256) carrying every CA extension stepui
issues, and a leaf (Ed25519 key) carrying every SAN kind and some extensions nobody decodes.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from stepui.errors import BadCSR, BadInput
from stepui.pki import inspect

NOT_BEFORE = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
NOT_AFTER = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
LEAF_SERIAL = 0x1234_5678_9ABC_DEF0_1122_3344_5566_7788
UPN = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
UNKNOWN = ObjectIdentifier("1.3.6.1.4.1.99999.1")
ACME_ID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def _name(cn: str, org: str = "MyOrg") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _builder(subject: x509.Name, issuer: x509.Name, key, serial: int) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
    )


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment"]
    names += ["key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


@pytest.fixture(scope="module")
def pki():
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = _name("MyOrg Root CA")
    root = (
        _builder(root_name, root_name, root_key.public_key(), 1)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("MyOrg Intermediate CA")
    ca = (
        _builder(ca_name, root_name, ca_key.public_key(), 0xCA)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[
                    x509.DNSName(".corp.example"),
                    x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
                ],
                excluded_subtrees=[x509.DNSName("bad.corp.example")],
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier("http://ocsp.myorg.local"),
                    ),
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier("http://pki.myorg.local/root.crt"),
                    ),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier("http://pki.myorg.local/ca.crl")],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CertificatePolicies(
                [
                    x509.PolicyInformation(
                        ObjectIdentifier("1.3.6.1.4.1.99999.2.1"),
                        ["https://pki.myorg.local/cps", x509.UserNotice(None, "Internal use")],
                    ),
                    x509.PolicyInformation(ObjectIdentifier("2.23.140.1.2.1"), None),
                ]
            ),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )

    leaf_key = ed25519.Ed25519PrivateKey.generate()
    leaf = (
        _builder(_name("api.myorg.local"), ca_name, leaf_key.public_key(), LEAF_SERIAL)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("api.myorg.local"),
                    x509.IPAddress(ipaddress.ip_address("10.0.0.5")),
                    x509.IPAddress(ipaddress.ip_address("fd00::5")),
                    x509.RFC822Name("ops@myorg.local"),
                    x509.UniformResourceIdentifier("spiffe://myorg.local/api"),
                    x509.DirectoryName(_name("Directory Entry")),
                    x509.RegisteredID(ObjectIdentifier("1.2.3.4")),
                    x509.OtherName(UPN, b"\x0c\x10user@myorg.local"),
                ]
            ),
            critical=False,
        )
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [
                    ExtendedKeyUsageOID.SERVER_AUTH,
                    ExtendedKeyUsageOID.CLIENT_AUTH,
                    ObjectIdentifier("1.3.6.1.4.1.99999.3"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.UnrecognizedExtension(ACME_ID, b"\x04\x02\xab\xcd"), critical=True)
        .add_extension(x509.UnrecognizedExtension(UNKNOWN, b"\x05\x00"), critical=False)
        .add_extension(x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return {"root": root, "ca": ca, "ca_key": ca_key, "leaf": leaf, "root_key": root_key}


def _pem(obj) -> bytes:
    return obj.public_bytes(serialization.Encoding.PEM)


def _der(obj) -> bytes:
    return obj.public_bytes(serialization.Encoding.DER)


def _csr(key, *, tamper: bool = False) -> x509.CertificateSigningRequest:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web.myorg.local")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("web.myorg.local")]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    if not tamper:
        return csr
    der = bytearray(_der(csr))
    der[-1] ^= 0x01  # the last byte belongs to the signature BIT STRING
    return x509.load_der_x509_csr(bytes(der))


@pytest.fixture(scope="module")
def crl(pki):
    def revoked(serial: int, reason: x509.ReasonFlags) -> x509.RevokedCertificate:
        return (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
            .add_extension(x509.CRLReason(reason), critical=False)
            .add_extension(x509.InvalidityDate(datetime(2026, 2, 27, tzinfo=UTC)), critical=False)
            .build()
        )

    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki["ca"].subject)
        .last_update(datetime(2026, 3, 2, tzinfo=UTC))
        .next_update(datetime(2026, 3, 3, tzinfo=UTC))
        .add_revoked_certificate(revoked(0xABCDEF, x509.ReasonFlags.key_compromise))
        .add_revoked_certificate(revoked(0x42, x509.ReasonFlags.superseded))
        .add_extension(x509.CRLNumber(7), critical=False)
        .add_extension(
            x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier("http://pki.myorg.local/ca.crl")],
                relative_name=None,
                only_contains_user_certs=True,
                only_contains_ca_certs=False,
                only_some_reasons=None,
                indirect_crl=False,
                only_contains_attribute_certs=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(pki["ca_key"].public_key()), False
        )
        .sign(pki["ca_key"], hashes.SHA256())
    )


def _json_only(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_only(item) for item in value)
    return value is None or isinstance(value, str | int | bool)


# --- certificates -------------------------------------------------------------------------------


def test_leaf_text_decodes_every_san_kind_and_unknown_extensions(pki):
    text = inspect.certificate_text(pki["leaf"])
    assert f"Serial Number: {LEAF_SERIAL} ({hex(LEAF_SERIAL)})" in text
    assert "Version: 3 (0x2)" in text
    assert "Signature Algorithm: ECDSA-SHA256" in text
    assert "Issuer: CN=MyOrg Intermediate CA,O=MyOrg,C=US" in text
    assert "Subject: CN=api.myorg.local,O=MyOrg,C=US" in text
    assert "Not Before: 2026-01-01T08:00:00Z" in text
    assert "Not After : 2026-12-03T16:00:00Z" in text
    assert "Algorithm: Ed25519" in text
    for san in (
        "DNS:api.myorg.local",
        "IP Address:10.0.0.5",
        "IP Address:fd00::5",
        "email:ops@myorg.local",
        "URI:spiffe://myorg.local/api",
        "DirName:CN=Directory Entry,O=MyOrg,C=US",
        "Registered ID:1.2.3.4",
        "othername:1.3.6.1.4.1.311.20.2.3:user@myorg.local",
    ):
        assert san in text
    assert "Key Usage: critical\n                Digital Signature" in text
    for usage in ("Server Authentication", "Client Authentication", "1.3.6.1.4.1.99999.3"):
        assert usage in text
    assert "ACME Identifier: critical\n                04:02:ab:cd" in text
    assert "1.3.6.1.4.1.99999.1:\n                05:00" in text
    assert "status_request (5)" in text
    assert f"SHA-256: {inspect.fingerprint(pki['leaf'])}" in text
    assert f"SHA-1: {inspect.fingerprint(pki['leaf'], 'sha1')}" in text


def test_ca_text_decodes_constraints_access_and_policies(pki):
    text = inspect.certificate_text(pki["ca"])
    assert (
        "Basic Constraints: critical\n                CA: TRUE\n                Path length: 0"
        in text
    )
    assert "Certificate Sign\n                CRL Sign" in text
    assert "Name Constraints: critical" in text
    assert "Permitted:\n                    DNS:.corp.example" in text
    assert "IP Address:10.0.0.0/8" in text
    assert "Excluded:\n                    DNS:bad.corp.example" in text
    assert "OCSP - URI:http://ocsp.myorg.local" in text
    assert "CA Issuers - URI:http://pki.myorg.local/root.crt" in text
    assert "Full name:\n                    URI:http://pki.myorg.local/ca.crl" in text
    assert "Policy: 1.3.6.1.4.1.99999.2.1" in text
    assert "CPS:\n                    https://pki.myorg.local/cps" in text
    assert "Internal use" in text
    assert "Policy: 2.23.140.1.2.1" in text
    ski = pki["ca"].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert f"Subject Key Identifier:\n                {ski.hex(':')}" in text
    root_ski = pki["root"].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert f"KeyID: {root_ski.digest.hex(':')}" in text
    assert "Curve: P-256" in text
    point = (
        pki["ca"]
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    assert point[:16].hex(":") in text  # the key bytes, wrapped at 16 bytes a line


def test_rsa_root_text_shows_modulus_and_exponent(pki):
    text = inspect.certificate_text(pki["root"])
    assert "Signature Algorithm: SHA256-RSA" in text
    assert "Size: 2048" in text and "Exponent: 65537" in text
    modulus = pki["root"].public_key().public_numbers().n.to_bytes(256, "big")
    assert "Modulus:\n                " + modulus[:16].hex(":") in text
    assert "Path length: 1" in text


def test_ca_without_path_length_shows_no_path_length():
    key = ec.generate_private_key(ec.SECP384R1())
    name = _name("Unlimited CA")
    cert = (
        _builder(name, name, key.public_key(), 5)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA384())
    )
    text = inspect.certificate_text(cert)
    assert "CA: TRUE" in text and "Path length" not in text
    assert "ECDSA-SHA384" in text
    assert inspect.certificate_short(cert).startswith("X.509v3 Root CA Certificate (ECDSA P-384)")


def test_less_common_extensions_are_decoded_or_shown_as_hex():
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Misc")
    template = x509.MSCertificateTemplate(ObjectIdentifier("1.3.6.1.4.1.311.21.8.1"), 100, 2)
    cert = (
        _builder(name, name, key.public_key(), 9)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.InhibitAnyPolicy(0), critical=True)
        .add_extension(
            x509.PolicyConstraints(require_explicit_policy=1, inhibit_policy_mapping=None), True
        )
        .add_extension(x509.IssuerAlternativeName([x509.DNSName("ca.myorg.local")]), critical=False)
        .add_extension(template, critical=False)
        .sign(key, hashes.SHA256())
    )
    text = inspect.certificate_text(cert)
    assert "OCSP No Check:\n                present" in text
    assert "Inhibit Any Policy: critical\n                Skip certs: 0" in text
    assert "Require explicit policy: 1" in text and "Inhibit policy mapping" not in text
    assert "Issuer Alternative Name:\n                DNS:ca.myorg.local" in text
    assert f"MSCertificateTemplate:\n                {template.public_bytes().hex(':')}" in text
    assert inspect.certificate_short(cert).startswith("X.509v3 Certificate (ECDSA P-256)")


def test_short_form(pki):
    short = inspect.certificate_short(pki["leaf"]).splitlines()
    serial = str(LEAF_SERIAL)
    assert short[0] == f"X.509v3 TLS Certificate (Ed25519) [Serial: {serial[:4]}...{serial[-4:]}]"
    assert short[1:] == [
        "  Subject: api.myorg.local",
        "  Issuer: MyOrg Intermediate CA",
        "  Valid from: 2026-01-01T08:00:00Z to: 2026-12-03T16:00:00Z",
    ]
    assert "Root CA Certificate (RSA 2048) [Serial: 1]" in inspect.certificate_short(pki["root"])
    assert "Intermediate CA Certificate (ECDSA P-256)" in inspect.certificate_short(pki["ca"])


def test_dict_is_json_and_structured(pki):
    data = inspect.certificate_dict(pki["ca"])
    assert _json_only(data)
    assert json.loads(json.dumps(data)) == data
    assert data["serial_number"] == "202" and data["serial_hex"] == "0xca"
    assert data["public_key"]["curve"] == "P-256"
    by_name = {ext["name"]: ext for ext in data["extensions"]}
    assert by_name["Basic Constraints"] == {
        "name": "Basic Constraints",
        "oid": "2.5.29.19",
        "critical": True,
        "value": {"ca": True, "path_length": 0},
    }
    assert by_name["Name Constraints"]["value"] == {
        "permitted": ["DNS:.corp.example", "IP Address:10.0.0.0/8"],
        "excluded": ["DNS:bad.corp.example"],
    }
    assert by_name["CRL Distribution Points"]["value"][0]["full_name"] == [
        "URI:http://pki.myorg.local/ca.crl"
    ]
    leaf = inspect.certificate_dict(pki["leaf"])
    assert _json_only(leaf)
    assert leaf["serial_number"] == str(LEAF_SERIAL)
    assert "IP Address:10.0.0.5" in leaf["sans"]
    assert leaf["kind"] == "TLS Certificate"


def test_text_shows_every_extension_of_the_dict(pki):
    for cert in (pki["root"], pki["ca"], pki["leaf"]):
        text = inspect.certificate_text(cert)
        for ext in inspect.certificate_dict(cert)["extensions"]:
            critical = " critical" if ext["critical"] else ""
            assert f"{ext['name']}:{critical}\n" in text


def test_serial_and_fingerprint_agree_with_openssl(pki, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    path = tmp_path / "leaf.pem"
    path.write_bytes(_pem(pki["leaf"]))
    out = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-serial", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    serial = next(line for line in out if line.startswith("serial="))
    fp = next(line for line in out if "Fingerprint=" in line)
    data = inspect.certificate_dict(pki["leaf"])
    assert int(serial.split("=", 1)[1], 16) == int(data["serial_number"])
    assert fp.split("=", 1)[1] == data["fingerprints"]["sha256"]


def test_fingerprint(pki):
    der = _der(pki["leaf"])
    assert inspect.fingerprint(pki["leaf"]) == hashlib.sha256(der).digest().hex(":").upper()
    assert inspect.fingerprint(pki["leaf"], "SHA1") == hashlib.sha1(der).digest().hex(":").upper()
    with pytest.raises(BadInput, match="unknown fingerprint algorithm"):
        inspect.fingerprint(pki["leaf"], "md4")


def test_key_description():
    assert inspect.key_description(ec.generate_private_key(ec.SECP256R1()).public_key()) == (
        "ECDSA P-256"
    )
    assert inspect.key_description(ec.generate_private_key(ec.SECP384R1()).public_key()) == (
        "ECDSA P-384"
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert inspect.key_description(rsa_key.public_key()) == "RSA 2048"
    assert inspect.key_description(ed25519.Ed25519PrivateKey.generate().public_key()) == "Ed25519"
    assert inspect.key_description(ed448.Ed448PrivateKey.generate().public_key()) == "Ed448"


# --- CSRs and CRLs ------------------------------------------------------------------------------


def test_csr_text_and_dict():
    csr = _csr(ec.generate_private_key(ec.SECP256R1()))
    text = inspect.csr_text(csr)
    assert "Subject: CN=web.myorg.local" in text
    assert "Requested Extensions:" in text and "DNS:web.myorg.local" in text
    assert "Basic Constraints: critical\n                CA: FALSE" in text
    assert "Signature Algorithm: ECDSA-SHA256" in text
    assert "Signature: valid" in text
    data = inspect.csr_dict(csr)
    assert _json_only(data)
    assert data["signature_valid"] is True and data["sans"] == ["DNS:web.myorg.local"]
    assert data["public_key"]["curve"] == "P-256"


def test_tampered_csr_signature_is_reported_invalid():
    csr = _csr(ed25519.Ed25519PrivateKey.generate(), tamper=True)
    assert "Signature: INVALID" in inspect.csr_text(csr)
    assert inspect.csr_dict(csr)["signature_valid"] is False
    assert "[Signature: INVALID]" in inspect.summarize(csr, fmt="short")


def test_crl_text_and_dict(crl, pki):
    text = inspect.crl_text(crl)
    assert "Issuer: CN=MyOrg Intermediate CA,O=MyOrg,C=US" in text
    assert "This Update: 2026-03-02T00:00:00Z" in text
    assert "Next Update: 2026-03-03T00:00:00Z" in text
    assert "CRL Number:\n            7" in text
    ski = pki["ca"].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert f"KeyID: {ski.hex(':')}" in text
    assert "Serial Number: 0xabcdef (11259375)" in text
    assert "Serial Number: 0x42 (66)" in text
    assert "Revocation Date: 2026-03-01T12:00:00Z" in text
    assert "Key Compromise" in text and "Superseded" in text
    assert "Invalidity Date:\n                    2026-02-27T00:00:00Z" in text
    assert "Issuing Distribution Point: critical" in text
    assert "Only contains user certs: TRUE" in text
    data = inspect.crl_dict(crl)
    assert _json_only(data)
    assert data["crl_number"] == 7
    reasons = {entry["serial_hex"]: entry["reason"] for entry in data["revoked"]}
    assert reasons == {"0xabcdef": "Key Compromise", "0x42": "Superseded"}
    assert inspect.summarize(crl, fmt="short").splitlines()[0] == "X.509v2 CRL [Number: 7]"


# --- loading ------------------------------------------------------------------------------------


def test_load_any_accepts_pem_and_der_of_each_kind(pki, crl):
    csr = _csr(ec.generate_private_key(ec.SECP256R1()))
    assert inspect.load_any(_pem(pki["leaf"])) == pki["leaf"]
    assert inspect.load_any(_der(pki["leaf"])) == pki["leaf"]
    assert inspect.load_any(_pem(csr)) == csr
    assert inspect.load_any(_der(csr)) == csr
    new_label = _pem(csr).replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    assert inspect.load_any(new_label) == csr
    assert inspect.load_any(_pem(crl)) == crl
    assert inspect.load_any(_der(crl)) == crl


def test_load_any_reads_the_first_inspectable_block(pki):
    bundle = _pem(pki["leaf"]) + _pem(pki["ca"])
    assert inspect.load_any(b"leaf and chain\n" + bundle) == pki["leaf"]
    key = pki["ca_key"].private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert inspect.load_any(key + _pem(pki["ca"])) == pki["ca"]


def test_load_any_reads_openssl_trusted_certificate(pki):
    trusted = _der(pki["root"]) + b"\x30\x03\x0c\x01a"  # certificate followed by trust settings
    body = base64.encodebytes(trusted)
    pem = b"-----BEGIN TRUSTED CERTIFICATE-----\n" + body + b"-----END TRUSTED CERTIFICATE-----\n"
    assert inspect.load_any(pem) == pki["root"]


def _bad_inputs(pki) -> dict[str, bytes]:
    key_pem = pki["ca_key"].private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_der = pki["ca_key"].private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = _pem(pki["leaf"])
    public_pem = (
        pki["ca_key"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    lines = cert_pem.splitlines(keepends=True)
    return {
        "empty": b"",
        "whitespace": b"  \n\t",
        "text": b"hello, this is not a certificate\n",
        "binary": bytes(range(1, 200)),
        "sequence garbage": b"\x30\x82\x01\x00" + bytes(50),
        "private key pem": key_pem,
        "private key der": key_der,
        "public key pem": public_pem,
        "truncated pem": b"".join(lines[: len(lines) // 2]),
        "cut body": b"".join(lines[:3] + lines[-1:]),
        "bad base64": cert_pem.replace(lines[2], b"!!!!not base64!!!!\n"),
        "unknown label": b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
    }


def test_load_any_refuses_bad_input_with_distinct_reasons(pki):
    messages = {}
    for case, data in _bad_inputs(pki).items():
        with pytest.raises(BadInput) as caught:
            inspect.load_any(data)
        messages[case] = caught.value.message
    assert "empty" in messages["empty"]
    assert messages["whitespace"] == messages["empty"]
    assert "no PEM block" in messages["text"]
    assert "neither PEM nor DER" in messages["binary"]
    assert "not a valid DER" in messages["sequence garbage"]
    assert "private key (PRIVATE KEY)" in messages["private key pem"]
    assert "DER private key" in messages["private key der"]
    assert "public key" in messages["public key pem"]
    assert "truncated PEM" in messages["truncated pem"]
    assert "not a valid certificate" in messages["cut body"]
    assert "not valid base64" in messages["bad base64"]
    assert "unsupported PEM block 'FOO'" in messages["unknown label"]
    distinct = {case: msg for case, msg in messages.items() if case != "whitespace"}
    assert len(set(distinct.values())) == len(distinct)


def test_a_broken_csr_block_is_a_bad_csr():
    pem = b"-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(BadCSR, match="not a valid CSR"):
        inspect.load_any(pem)


def test_load_certificates_reads_a_bundle_in_order(pki, crl):
    bundle = _pem(pki["leaf"]) + _pem(crl) + _pem(pki["ca"]) + _pem(pki["root"])
    assert inspect.load_certificates(bundle) == [pki["leaf"], pki["ca"], pki["root"]]
    assert inspect.load_certificates(_der(pki["root"])) == [pki["root"]]
    for data in (b"", _pem(crl), _der(crl)):
        with pytest.raises(BadInput, match="no certificate found"):
            inspect.load_certificates(data)


# --- summarize ----------------------------------------------------------------------------------


def test_summarize_dispatches_by_type_and_format(pki, crl):
    csr = _csr(ec.generate_private_key(ec.SECP256R1()))
    leaf = pki["leaf"]
    assert inspect.summarize(leaf) == inspect.certificate_text(leaf)
    assert inspect.summarize(leaf, fmt="short") == inspect.certificate_short(leaf)
    assert json.loads(inspect.summarize(leaf, fmt="json")) == inspect.certificate_dict(leaf)
    assert inspect.summarize(csr) == inspect.csr_text(csr)
    assert json.loads(inspect.summarize(csr, fmt="json")) == inspect.csr_dict(csr)
    assert inspect.summarize(crl) == inspect.crl_text(crl)
    assert json.loads(inspect.summarize(crl, fmt="json")) == inspect.crl_dict(crl)
    assert "\n  " in inspect.summarize(leaf, fmt="json")  # indented for people
    with pytest.raises(BadInput, match="unknown format"):
        inspect.summarize(leaf, fmt="yaml")
