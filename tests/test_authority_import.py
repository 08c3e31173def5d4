"""Authority: importing CAs and certificates, outside signatures, cross-signing, and the
chains it offers (checked with the openssl CLI as a relying party)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from stepui.authority import Authority, IssueRequest
from stepui.errors import BadInput, Conflict, PolicyRefused, WrongPassword
from stepui.pki.issue import Extras, Signer, build_certificate, load_csr, new_serial
from stepui.pki.keys import private_key_pem, same_key
from stepui.pki.templates import BUILTIN_TEMPLATES

from .pki_fixtures import NOW, make_ca, make_leaf, pem
from .test_authority import PASSWORD, Clock, state

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ca(tmp_path: Path, clock: Clock):
    authority = Authority.open(tmp_path / "home", password=lambda: PASSWORD, clock=clock)
    authority.init("Corp")
    yield authority
    authority.close()


@pytest.fixture(scope="module")
def outside() -> Signer:
    """A CA stepui knows nothing about; path length 2 leaves room for stepui's root and
    intermediate below it."""
    return make_ca("Outside Root", extras=Extras(path_len=2))


def openssl_verify(tmp_path: Path, leaf: x509.Certificate, trusted, untrusted) -> bool:
    (tmp_path / "trusted.pem").write_bytes(pem(*trusted))
    (tmp_path / "untrusted.pem").write_bytes(pem(*untrusted) if untrusted else b"")
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    args = ["openssl", "verify", "-attime", str(int(NOW.timestamp()) + 120)]
    args += ["-CAfile", "trusted.pem"]
    if untrusted:
        args += ["-untrusted", "untrusted.pem"]
    result = subprocess.run(
        [*args, "leaf.pem"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    return result.returncode == 0


# -- import_authority -------------------------------------------------------------------------


def test_import_pem_root_with_key(ca: Authority, outside: Signer) -> None:
    record = ca.import_authority(pem(outside.certificate), private_key_pem(outside.key, None))
    assert record.kind == "root" and record.name == "Outside Root"
    assert record.key_file and record.key_encrypted  # re-encrypted with the CA password
    key_bytes = (ca.home / "secrets" / record.key_file).read_bytes()
    assert key_bytes.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    issued = ca.issue(IssueRequest(sans=["a.example"], ca=record.id))
    issued.certificate.verify_directly_issued_by(outside.certificate)
    assert issued.chain == []
    with pytest.raises(Conflict, match="already imported"):
        ca.import_authority(pem(outside.certificate))


def test_import_der_without_key_cannot_sign(ca: Authority, outside: Signer) -> None:
    der = outside.certificate.public_bytes(serialization.Encoding.DER)
    record = ca.import_authority(der, name="Watched")
    assert record.name == "Watched" and record.key_file is None
    before = state(ca)
    with pytest.raises(PolicyRefused, match="no private key"):
        ca.issue(IssueRequest(sans=["a.example"], ca=record.id))
    assert state(ca) == before


def test_import_pkcs12_intermediate_under_known_parent(ca: Authority, outside: Signer) -> None:
    ca.import_authority(pem(outside.certificate))
    inter = make_ca("Outside Sub", signer=outside)
    p12 = pkcs12.serialize_key_and_certificates(
        b"sub",
        inter.key,
        inter.certificate,
        [outside.certificate],
        serialization.BestAvailableEncryption(b"p12pw"),
    )
    before = state(ca)
    with pytest.raises(WrongPassword):
        ca.import_authority(p12, file_password=b"bad")
    assert state(ca) == before
    record = ca.import_authority(p12, file_password=b"p12pw")
    assert record.kind == "intermediate" and record.parent_id == "outside-root"
    assert ca.chains(record.id) == [[inter.certificate]]


def test_import_refusals_write_nothing(ca: Authority, outside: Signer) -> None:
    leaf, leaf_key = make_leaf(outside, ["a.example"])
    other = make_ca("Other")
    before = state(ca)
    with pytest.raises(BadInput, match="does not match"):
        ca.import_authority(pem(outside.certificate), private_key_pem(other.key, None))
    with pytest.raises(BadInput, match="not a CA"):
        ca.import_authority(pem(leaf), private_key_pem(leaf_key, None))
    with pytest.raises(BadInput):
        ca.import_authority(b"garbage")
    with pytest.raises(WrongPassword):
        ca.import_authority(pem(outside.certificate), private_key_pem(outside.key, b"x"))
    assert state(ca) == before


def test_import_with_a_broken_claimed_issuer(ca: Authority, outside: Signer) -> None:
    ca.import_authority(pem(outside.certificate))
    impostor = Signer(outside.certificate, make_ca("Impostor").key)  # same name, wrong key
    forged = make_ca("Forged Sub", signer=impostor)
    before = state(ca)
    with pytest.raises(BadInput, match="does not verify"):
        ca.import_authority(pem(forged.certificate))
    assert state(ca) == before


# -- outside signatures and cross-signing -------------------------------------------------------


def _sign_csr(csr_pem: bytes, signer: Signer, path_len: int) -> x509.Certificate:
    csr = load_csr(csr_pem)
    return build_certificate(
        subject=csr.subject,
        public_key=csr.public_key(),
        template=BUILTIN_TEMPLATES["intermediate"],
        not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=300),
        serial=new_serial(),
        signer=signer,
        extras=Extras(path_len=path_len),
    )


@needs_openssl
def test_authority_csr_and_import_signed(ca: Authority, outside: Signer, tmp_path: Path) -> None:
    root_id = ca.root().id
    csr_pem = ca.authority_csr(root_id)
    csr = load_csr(csr_pem)
    assert csr.subject == ca.ca_certificate(root_id).subject
    assert same_key(csr.public_key(), ca.ca_certificate(root_id).public_key())
    signed = _sign_csr(csr_pem, outside, path_len=1)
    before = state(ca)
    with pytest.raises(BadInput, match="key"):
        ca.import_signed(ca.authority().id, pem(signed, outside.certificate))
    assert state(ca) == before
    record = ca.import_signed(root_id, pem(signed, outside.certificate))
    assert record.kind == "root"  # not primary: the self-signed certificate stays first
    assert ca.chains(root_id) == [[], [signed]]
    inter = ca.ca_certificate()
    assert ca.chains(ca.authority().id) == [[inter], [inter, signed]]
    issued = ca.issue(IssueRequest(sans=["a.example"]))
    assert issued.alternates == [[inter, signed]]
    assert openssl_verify(tmp_path, issued.certificate, [outside.certificate], [inter, signed])
    root_cert = ca.ca_certificate(root_id)
    assert openssl_verify(tmp_path, issued.certificate, [root_cert], [inter])
    assert not openssl_verify(tmp_path, issued.certificate, [outside.certificate], [inter])


def test_import_signed_as_primary(ca: Authority, outside: Signer) -> None:
    root_id = ca.root().id
    old = ca.ca_certificate(root_id)
    signed = _sign_csr(ca.authority_csr(root_id), outside, path_len=1)
    record = ca.import_signed(root_id, pem(signed, outside.certificate), primary=True)
    assert record.kind == "intermediate" and ca.ca_certificate(root_id) == signed
    assert [] in ca.chains(root_id) and [signed] in ca.chains(root_id)
    issued = ca.issue(IssueRequest(sans=["a.example"], ca=root_id))
    issued.certificate.verify_directly_issued_by(old)  # same key, same subject


@needs_openssl
def test_cross_sign_offers_both_paths(ca: Authority, tmp_path: Path) -> None:
    other_root = ca.new_authority("root", "Other Root")
    other_cert = ca.ca_certificate(other_root.id)
    inter_id = ca.authority().id
    inter = ca.ca_certificate()
    cross = ca.cross_sign(inter_id, other_root.id)
    assert cross.subject == inter.subject and cross.issuer == other_cert.subject
    assert same_key(cross.public_key(), inter.public_key())
    assert cross.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert ca.chains(inter_id) == [[inter], [cross]]
    issued = ca.issue(IssueRequest(sans=["a.example"]))
    assert issued.chain == [inter] and issued.alternates == [[cross]]
    root_cert = ca.ca_certificate(ca.root().id)
    assert openssl_verify(tmp_path, issued.certificate, [root_cert], [inter])
    assert openssl_verify(tmp_path, issued.certificate, [other_cert], [cross])
    assert not openssl_verify(tmp_path, issued.certificate, [other_cert], [inter])
    assert [e.action for e in ca.audit_log(inter_id)][0] == "ca.cross_sign"


def test_cross_sign_refusals(ca: Authority) -> None:
    before = state(ca)
    with pytest.raises(BadInput, match="itself"):
        ca.cross_sign(ca.root().id, ca.root().id)
    with pytest.raises(PolicyRefused, match="path length 0"):
        ca.cross_sign(ca.root().id, ca.authority().id)
    assert state(ca) == before


# -- import_certificates ----------------------------------------------------------------------


def test_import_certificates_skips_known_ones(ca: Authority, outside: Signer) -> None:
    mine = ca.issue(IssueRequest(sans=["mine.example"]))
    theirs, _ = make_leaf(outside, ["theirs.example"], subject="CN=theirs")
    records = ca.import_certificates(pem(mine.certificate, theirs))
    assert [r.serial for r in records] == [format(theirs.serial_number, "x")]
    record = ca.certificate(records[0].serial)
    assert record.source == "imported" and record.ca_id is None
    assert record.sans == ("DNS:theirs.example",) and record.subject == "CN=theirs"
    assert ca.import_certificates(pem(theirs)) == []
    assert [e.action for e in ca.audit_log(record.serial)] == ["cert.import"]


def test_import_certificates_with_a_duplicate_in_one_file(ca: Authority, outside: Signer) -> None:
    theirs, _ = make_leaf(outside, ["dup.example"])
    records = ca.import_certificates(pem(theirs, theirs))
    assert len(records) == 1
    assert ca.count() == 1


def test_import_certificates_links_a_known_issuer(ca: Authority, outside: Signer) -> None:
    ca.import_authority(pem(outside.certificate))
    theirs, _ = make_leaf(outside, ["linked.example"])
    (record,) = ca.import_certificates(pem(theirs))
    assert record.ca_id == "outside-root"
    before = state(ca)
    with pytest.raises(BadInput):
        ca.import_certificates(b"not a certificate")
    assert state(ca) == before
