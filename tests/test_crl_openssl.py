"""CRLs end to end: ``stepui ca crl`` output, the server's /crl/<ca-id>.crl and the CRL
distribution point in issued certificates, all judged by the real ``openssl crl`` and
``openssl verify -crl_check``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from server.app import create_app
from stepui.authority import Authority, IssueRequest
from stepui.events import utc_now

from .support.cli import stepui
from .support.served_app import ServedApp

TIMEOUT = 60


def run_openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT
    )


class Files:
    def __init__(self, authority: Authority, directory: Path) -> None:
        self.authority, self.dir = authority, directory
        directory.mkdir(exist_ok=True)
        self.root = directory / "root.pem"
        self.issuer = directory / "issuer.pem"
        self.root.write_text(authority.root().cert_pem)
        self.issuer.write_text(authority.authority().cert_pem)

    def leaf(self, name: str) -> tuple[str, Path]:
        issued = self.authority.issue(IssueRequest(sans=[f"DNS:{name}.test"], name=name))
        path = self.dir / f"{name}.pem"
        path.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
        return issued.serial, path

    def crl_pem(self, der: bytes) -> Path:
        path = self.dir / "crl.pem"
        crl = x509.load_der_x509_crl(der)
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return path

    def verify(self, leaf: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
        return run_openssl(
            "verify", "-crl_check", "-CAfile", self.root, "-untrusted", self.issuer, *extra, leaf
        )


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[Authority]:
    authority = Authority.open(tmp_path / "ca")
    authority.init("CRL Test", passwordless=True)
    yield authority
    authority.close()


def test_crl_is_signed_by_its_ca_and_lists_revocations(authority: Authority, tmp_path: Path):
    files = Files(authority, tmp_path / "files")
    good_serial, good = files.leaf("good")
    bad_serial, bad = files.leaf("bad")
    authority.revoke(bad_serial, "keyCompromise")
    crl = files.crl_pem(authority.current_crl())

    checked = run_openssl("crl", "-in", crl, "-CAfile", files.issuer, "-noout")
    assert checked.returncode == 0 and "verify OK" in checked.stderr, checked.stderr
    text = run_openssl("crl", "-in", crl, "-noout", "-text").stdout
    assert bad_serial.upper() in text.replace(":", "").upper()
    assert good_serial.upper() not in text.replace(":", "").upper()
    assert "Key Compromise" in text

    revoked = files.verify(bad, "-CRLfile", crl)
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr
    accepted = files.verify(good, "-CRLfile", crl)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_crl_signed_by_another_ca_fails_verification(authority: Authority, tmp_path: Path):
    files = Files(authority, tmp_path / "files")
    crl = files.crl_pem(authority.current_crl())
    checked = run_openssl("crl", "-in", crl, "-CAfile", files.root, "-noout")
    assert checked.returncode != 0
    assert "verify OK" not in checked.stderr


def test_regenerated_on_revocation_unless_configured_off(authority: Authority, tmp_path: Path):
    files = Files(authority, tmp_path / "files")
    ca_id = authority.authority().id
    serial, _ = files.leaf("first")
    before = x509.load_der_x509_crl(authority.current_crl())
    authority.revoke(serial)
    after = x509.load_der_x509_crl(authority.crl_path(ca_id).read_bytes())
    assert after.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    number = after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    authority.save_config(authority.config.with_changes(crl_regenerate_on_revoke=False))
    second, _ = files.leaf("second")
    authority.revoke(second)
    stale = x509.load_der_x509_crl(authority.crl_path(ca_id).read_bytes())
    assert stale.get_revoked_certificate_by_serial_number(int(second, 16)) is None


def test_next_update_follows_config_and_stale_crls_are_replaced(tmp_path: Path) -> None:
    moments = []
    authority = Authority.open(tmp_path / "ca", clock=lambda: moments[-1])
    moments.append(utc_now().replace(microsecond=0))
    authority.init("Clock", passwordless=True)
    authority.save_config(authority.config.with_changes(crl_next_update=timedelta(hours=6)))
    first = x509.load_der_x509_crl(authority.current_crl())
    assert first.next_update_utc - first.last_update_utc == timedelta(hours=6)
    moments.append(moments[0] + timedelta(hours=1))
    assert x509.load_der_x509_crl(authority.current_crl()) == first
    moments.append(moments[0] + timedelta(hours=7))
    fresh = x509.load_der_x509_crl(authority.current_crl())
    assert fresh.last_update_utc == moments[-1]
    authority.close()


def test_cli_writes_der_by_default_and_pem_on_request(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert stepui(home, "ca", "init", "Cli", "--no-password", password=None).returncode == 0
    der_file, pem_file = tmp_path / "ca.crl", tmp_path / "ca.crl.pem"
    made = stepui(home, "ca", "crl", "--out", str(der_file), password=None)
    assert made.returncode == 0, made.stderr
    made = stepui(home, "ca", "crl", "--pem", "--out", str(pem_file), password=None)
    assert made.returncode == 0, made.stderr
    assert der_file.read_bytes()[:1] == b"\x30"
    assert pem_file.read_text().startswith("-----BEGIN X509 CRL-----")
    issuer = tmp_path / "issuer.pem"
    issuer.write_bytes(
        run_openssl("x509", "-in", home / "certs/intermediate_ca.crt").stdout.encode()
    )
    for path, form in ((der_file, "DER"), (pem_file, "PEM")):
        checked = run_openssl("crl", "-inform", form, "-in", path, "-CAfile", issuer, "-noout")
        assert "verify OK" in checked.stderr, checked.stderr


def test_served_crl_at_the_distribution_point(authority: Authority, tmp_path: Path) -> None:
    """openssl follows the certificate's CRL distribution point to the real server."""
    with ServedApp(create_app(authority)) as served:
        authority.save_config(authority.config.with_changes(external_url=served.url))
        files = Files(authority, tmp_path / "files")
        good_serial, good = files.leaf("good")
        bad_serial, bad = files.leaf("bad")
        authority.revoke(bad_serial, "superseded")
        cert = x509.load_pem_x509_certificate(good.read_bytes())
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        url = points[0].full_name[0].value
        assert url == f"{served.url}/crl/{authority.authority().id}.crl"

        reply = httpx.get(url, timeout=TIMEOUT)
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/pkix-crl"
        served_crl = x509.load_der_x509_crl(reply.content)
        assert served_crl.get_revoked_certificate_by_serial_number(int(bad_serial, 16))
        assert served_crl.get_revoked_certificate_by_serial_number(int(good_serial, 16)) is None

        revoked = files.verify(bad, "-crl_download")
        assert "certificate revoked" in revoked.stdout + revoked.stderr
        accepted = files.verify(good, "-crl_download")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        missing = httpx.get(f"{served.url}/crl/no-such-ca.crl", timeout=TIMEOUT)
        assert missing.status_code == 404


def test_no_distribution_point_when_crls_are_disabled(authority: Authority, tmp_path: Path):
    authority.save_config(authority.config.with_changes(crl_enabled=False))
    _, leaf = Files(authority, tmp_path / "files").leaf("plain")
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
