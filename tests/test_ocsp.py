"""The OCSP responder: the real server's /ocsp route queried by the real ``openssl ocsp``, plus
GET requests, error statuses and delegated responder certificates."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from server.app import create_app
from stepui.authority import Authority, IssueRequest
from stepui.authority.ocsp import OcspResponder
from stepui.pki import ocsp as pki_ocsp
from stepui.pki.issue import build_certificate, new_serial
from stepui.pki.keys import generate_key
from stepui.pki.templates import BUILTIN_TEMPLATES

from .support.served_app import ServedApp

TIMEOUT = 60


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT
    )


class Site:
    """A CA whose server runs on a loopback port, and files openssl reads."""

    def __init__(self, authority: Authority, served: ServedApp, files: Path) -> None:
        self.authority, self.served, self.files = authority, served, files
        self.root = files / "root.pem"
        self.issuer = files / "issuer.pem"
        self.root.write_text(authority.root().cert_pem)
        self.issuer.write_text(authority.authority().cert_pem)

    def leaf(self, name: str, revoke: str | None = None) -> Path:
        issued = self.authority.issue(IssueRequest(sans=[f"DNS:{name}.test"], name=name))
        if revoke:
            self.authority.revoke(issued.serial, revoke)
        path = self.files / f"{name}.pem"
        path.write_bytes(pem(issued.certificate))
        return path

    def query(self, cert: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
        """``openssl ocsp`` exactly as an operator runs it: URL from the certificate's AIA."""
        url = openssl("x509", "-in", cert, "-noout", "-ocsp_uri").stdout.strip()
        return openssl(
            "ocsp",
            *extra,  # a CertID digest must come before -cert
            "-issuer",
            self.issuer,
            "-cert",
            cert,
            "-url",
            url,
            "-CAfile",
            self.root,
            "-timeout",
            str(TIMEOUT),
        )


def open_site(tmp_path: Path, **config: object) -> Iterator[Site]:
    authority = Authority.open(tmp_path / "ca")
    authority.init("OCSP Test", passwordless=True)
    with ServedApp(create_app(authority)) as served:
        authority.save_config(
            authority.config.with_changes(ocsp_url=f"{served.url}/ocsp", **config)
        )
        files = tmp_path / "files"
        files.mkdir()
        yield Site(authority, served, files)
    authority.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from open_site(tmp_path)


@pytest.fixture
def delegated_site(tmp_path: Path) -> Iterator[Site]:
    yield from open_site(tmp_path, ocsp_delegated=True)


def test_issued_certificates_carry_the_ocsp_url(site: Site) -> None:
    cert = x509.load_pem_x509_certificate(site.leaf("aia").read_bytes())
    access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [a.access_location.value for a in access] == [f"{site.served.url}/ocsp"]


def test_good_certificate_over_post_with_nonce(site: Site) -> None:
    result = site.query(site.leaf("good"))
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert ": good" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr  # the nonce came back


def test_revoked_certificate_with_reason_and_time(site: Site) -> None:
    cert = site.leaf("gone", revoke="keyCompromise")
    result = site.query(cert)
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert ": revoked" in result.stdout
    assert "Reason: keyCompromise" in result.stdout
    assert "Revocation Time:" in result.stdout


def test_sha256_certificate_ids_are_answered(site: Site) -> None:
    result = site.query(site.leaf("modern"), "-sha256")
    assert result.returncode == 0, result.stderr
    assert ": good" in result.stdout


def test_unrecorded_serial_is_unknown(site: Site) -> None:
    signer = site.authority.signer(site.authority.authority().id)
    now = site.authority.clock()
    stray = build_certificate(
        subject=x509.Name.from_rfc4514_string("CN=stray.test"),
        public_key=generate_key().public_key(),
        template=BUILTIN_TEMPLATES["tls-server"],
        not_before=now,
        not_after=now + timedelta(hours=1),
        serial=new_serial(),
        signer=signer,
    )
    path = site.files / "stray.pem"
    path.write_bytes(pem(stray))
    result = openssl(
        "ocsp", "-issuer", site.issuer, "-cert", path, "-url", f"{site.served.url}/ocsp",
        "-CAfile", site.root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ": unknown" in result.stdout


def test_sub_ca_status_is_answered_by_its_root(site: Site) -> None:
    result = openssl(
        "ocsp", "-issuer", site.root, "-cert", site.issuer, "-url", f"{site.served.url}/ocsp",
        "-CAfile", site.root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ": good" in result.stdout


def test_foreign_issuer_is_unauthorized(site: Site, tmp_path: Path) -> None:
    other = Authority.open(tmp_path / "other")
    other.init("Other", passwordless=True)
    issued = other.issue(IssueRequest(sans=["DNS:elsewhere.test"]))
    cert, issuer = tmp_path / "foreign.pem", tmp_path / "foreign-ca.pem"
    cert.write_bytes(pem(issued.certificate))
    issuer.write_text(other.authority().cert_pem)
    other.close()
    result = openssl(
        "ocsp", "-issuer", issuer, "-cert", cert, "-url", f"{site.served.url}/ocsp",
        "-CAfile", site.root,
    )  # fmt: skip
    assert "Responder Error: unauthorized" in result.stdout + result.stderr


def request_for(cert_path: Path, issuer_path: Path, nonce: bytes | None = None) -> bytes:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    issuer = x509.load_pem_x509_certificate(issuer_path.read_bytes())
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def test_get_request_in_the_url(site: Site) -> None:
    cert = site.leaf("viaget", revoke="superseded")
    der = request_for(cert, site.issuer, nonce=b"0123456789abcdef")
    encoded = quote(base64.b64encode(der).decode(), safe="")
    reply = httpx.get(f"{site.served.url}/ocsp/{encoded}", timeout=TIMEOUT)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/ocsp-response"
    response = ocsp.load_der_ocsp_response(reply.content)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.superseded
    assert response.serial_number == x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"0123456789abcdef"
    issuer = x509.load_pem_x509_certificate(site.issuer.read_bytes())
    issuer.public_key().verify(
        response.signature,
        response.tbs_response_bytes,
        ec.ECDSA(response.signature_hash_algorithm),
    )


@pytest.mark.parametrize("path", ["/ocsp/bm90IGFuIE9DU1AgcmVxdWVzdA%3D%3D", "/ocsp/%%%"])
def test_malformed_get_is_malformed_request(site: Site, path: str) -> None:
    reply = httpx.get(site.served.url + path, timeout=TIMEOUT)
    response = ocsp.load_der_ocsp_response(reply.content)
    assert response.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_malformed_post_is_malformed_request(site: Site) -> None:
    reply = httpx.post(
        f"{site.served.url}/ocsp",
        content=b"\x30\x03\x02\x01\x01",
        headers={"content-type": "application/ocsp-request"},
        timeout=TIMEOUT,
    )
    assert reply.headers["content-type"] == "application/ocsp-response"
    response = ocsp.load_der_ocsp_response(reply.content)
    assert response.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_delegated_responder_verifies_and_is_reused(delegated_site: Site) -> None:
    site = delegated_site
    good, gone = site.leaf("good"), site.leaf("gone", revoke="cessationOfOperation")
    first, second = site.query(good), site.query(gone)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "Response verify OK" in first.stderr and "Response verify OK" in second.stderr
    assert ": good" in first.stdout and ": revoked" in second.stdout

    responses = [
        ocsp.load_der_ocsp_response(
            httpx.post(
                f"{site.served.url}/ocsp",
                content=request_for(path, site.issuer),
                headers={"content-type": "application/ocsp-request"},
                timeout=TIMEOUT,
            ).content
        )
        for path in (good, gone)
    ]
    signers = [r.certificates[0] for r in responses]
    assert signers[0] == signers[1]
    responder = signers[0]
    issuer = x509.load_pem_x509_certificate(site.issuer.read_bytes())
    responder.verify_directly_issued_by(issuer)
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert responses[0].responder_key_hash == (
        x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
    )
    assert responses[0].next_update_utc <= responder.not_valid_after_utc


def test_delegated_responder_is_replaced_after_half_its_life(tmp_path: Path) -> None:
    authority = Authority.open(tmp_path / "ca")
    authority.init("Clock", passwordless=True)
    start = authority.clock()
    moments = [start]
    authority.clock = lambda: moments[-1]
    authority.save_config(authority.config.with_changes(ocsp_delegated=True))
    responder = OcspResponder(authority)
    ca_id = authority.authority().id
    first = responder.responder(ca_id).certificate
    moments.append(start + timedelta(hours=6))
    assert responder.responder(ca_id).certificate == first
    moments.append(start + timedelta(hours=13))
    renewed = responder.responder(ca_id).certificate
    assert renewed != first
    assert renewed.not_valid_before_utc > first.not_valid_before_utc
    audit = [e.action for e in authority.audit_log(ca_id)]
    assert audit.count("ocsp.responder") == 2
    authority.close()


def test_issuer_key_hash_matches_openssl(site: Site) -> None:
    """The hand-rolled SubjectPublicKeyInfo walk agrees with what openssl puts in requests."""
    cert = site.leaf("hashes")
    request_file = site.files / "req.der"
    made = openssl(
        "ocsp", "-sha256", "-issuer", site.issuer, "-cert", cert, "-reqout", request_file,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    cert_id = pki_ocsp.parse_request(request_file.read_bytes())
    issuer = x509.load_pem_x509_certificate(site.issuer.read_bytes())
    assert pki_ocsp.issuer_hashes(issuer, hashes.SHA256()) == (
        cert_id.issuer_name_hash,
        cert_id.issuer_key_hash,
    )
