"""stepui.pki.crl: reason codes, and CRLs that verify with the CA key and with openssl."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepui.errors import BadInput
from stepui.pki.crl import REASONS, RevokedEntry, build_crl, reason_code, reason_name
from stepui.pki.issue import authority_key_identifier

from .pki_fixtures import NOW, make_ca, pem


@pytest.mark.parametrize(
    ("given", "code"),
    (
        (0, 0),
        ("1", 1),
        (10, 10),
        ("keyCompromise", 1),
        ("key-compromise", 1),
        ("KEY_COMPROMISE", 1),
        ("cACompromise", 2),
        ("superseded", 4),
        ("cessation-of-operation", 5),
        ("certificateHold", 6),
        ("removeFromCRL", 8),
        ("aACompromise", 10),
    ),
)
def test_reason_by_name_or_code(given: str | int, code: int) -> None:
    assert reason_code(given) == code


@pytest.mark.parametrize("bad", (7, "7", 11, "-1", "compromised", ""))
def test_bad_reasons_are_refused(bad: str | int) -> None:
    with pytest.raises(BadInput):
        reason_code(bad)


def test_reason_names_round_trip() -> None:
    for name, code in REASONS.items():
        assert reason_name(code) == name
        assert reason_code(name) == code


@pytest.fixture(scope="module")
def ca():
    return make_ca("CRL CA")


def test_crl_builds_and_verifies(ca) -> None:
    entries = [
        RevokedEntry(0x1234, NOW - timedelta(hours=2), 0),
        RevokedEntry(0xABCDEF, NOW - timedelta(hours=1), 1),
        RevokedEntry(2**127 + 5, NOW, 4),
    ]
    crl = build_crl(ca, entries, this_update=NOW, next_update=NOW + timedelta(hours=24), number=7)
    assert crl.is_signature_valid(ca.key.public_key())
    assert not crl.is_signature_valid(make_ca("Other").key.public_key())
    assert crl.issuer == ca.certificate.subject
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + timedelta(hours=24)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki == authority_key_identifier(ca.certificate)
    assert len(crl) == 3
    unspecified = crl.get_revoked_certificate_by_serial_number(0x1234)
    assert unspecified is not None
    with pytest.raises(x509.ExtensionNotFound):  # RFC 5280 5.3.1: no reasonCode for 0
        unspecified.extensions.get_extension_for_class(x509.CRLReason)
    compromised = crl.get_revoked_certificate_by_serial_number(0xABCDEF)
    assert compromised.revocation_date_utc == NOW - timedelta(hours=1)
    reason = compromised.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    superseded = crl.get_revoked_certificate_by_serial_number(2**127 + 5)
    assert superseded.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.superseded
    )
    assert crl.get_revoked_certificate_by_serial_number(0x999) is None


def test_empty_crl(ca) -> None:
    crl = build_crl(ca, [], this_update=NOW, next_update=NOW + timedelta(hours=1), number=1)
    assert len(crl) == 0 and crl.is_signature_valid(ca.key.public_key())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")
def test_openssl_verifies_the_crl(tmp_path: Path) -> None:
    root = make_ca("Root for CRL")
    inter = make_ca("Inter for CRL", signer=root, key_type="ec-p384")
    crl = build_crl(
        inter,
        [RevokedEntry(0x42, NOW, 1)],
        this_update=NOW,
        next_update=NOW + timedelta(days=1),
        number=1,
    )
    (tmp_path / "ca.pem").write_bytes(pem(inter.certificate, root.certificate))
    (tmp_path / "crl.der").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    result = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-noout",
            "-text",
            "-verify",
            "-CAfile",
            "ca.pem",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stderr + result.stdout
    assert "Serial Number: 42" in result.stdout
    assert "Key Compromise" in result.stdout
    (tmp_path / "wrong.pem").write_bytes(pem(root.certificate))
    wrong = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-noout",
            "-verify",
            "-CAfile",
            "wrong.pem",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "verify OK" not in wrong.stderr + wrong.stdout
