"""The real lego (Debian's /usr/bin/lego) against ``stepui --serve``: http-01, tls-alpn-01,
dns-01 through the exec provider (a wildcard included), renewal and revocation.

The tests are the steps of one lego installation's life (one account) and run in file order.
No IP identifier: lego 4.9 orders ``-d 127.0.0.1`` as an ``ip`` identifier but puts the address
in its CSR as a dNSName, which RFC 8738 forbids and the server refuses (badCSR); with ``--csr``
it orders the CSR's common name as a ``dns`` identifier instead.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop.conftest import HOOKS, Interop, openssl_verify, serial_of

pytestmark = pytest.mark.skipif(shutil.which("lego") is None, reason="lego not installed")

KEY_COMPROMISE = 1


@dataclass
class Lego:
    """One lego installation: its own --path, one account, trusting only the CA's root."""

    interop: Interop
    path: Path

    def __call__(self, *args: str) -> str:
        """``lego GLOBAL-OPTIONS ARGS`` where ARGS holds the domains, solvers and the command."""
        interop = self.interop
        return interop.run(
            [
                "lego",
                "--server",
                interop.directory_url,
                "--email",
                "ops@interop.test",
                "--accept-tos",
                "--path",
                str(self.path),
                *args,
            ],  # fmt: skip
            env=interop.client_env(
                LEGO_CA_CERTIFICATES=str(interop.root),
                EXEC_PATH=str(HOOKS / "lego-dns"),
                EXEC_POLLING_INTERVAL="1",
                EXEC_PROPAGATION_TIMEOUT="60",
                EXEC_SEQUENCE_INTERVAL="1",  # between the two names; 60 s by default
            ),
            cwd=self.path,
        )

    def http(self) -> tuple[str, ...]:
        return ("--http", "--http.port", f"127.0.0.1:{self.interop.http_port}")

    def tls(self) -> tuple[str, ...]:
        return ("--tls", "--tls.port", f"127.0.0.1:{self.interop.tls_port}")

    def dns(self) -> tuple[str, ...]:
        return ("--dns", "exec", "--dns.resolvers", self.interop.dns_address, "--dns.disable-cp")

    def certificate(self, first_domain: str) -> Path:
        """The leaf-then-issuer bundle lego writes, named after the first domain."""
        return self.path / "certificates" / f"{first_domain.replace('*', '_')}.crt"


@pytest.fixture(scope="module")
def lego(interop: Interop, tmp_path_factory: pytest.TempPathFactory) -> Lego:
    return Lego(interop, tmp_path_factory.mktemp("lego"))


def assert_issued(interop: Interop, cert: Path, sans: set[str]) -> dict:
    """lego's bundle and key are saved, the bundle verifies to the root through the issuer
    file, and the store has it, issued for these names to an ACME account."""
    issuer = cert.with_name(cert.name.replace(".crt", ".issuer.crt"))
    assert cert.is_file() and issuer.is_file(), f"{cert} or {issuer} missing"
    assert cert.with_suffix(".key").is_file()
    openssl_verify(interop.root, cert, issuer)
    row = interop.stored(cert)
    assert row["status"] == "valid"
    assert set(row["sans"]) == sans
    assert row["requester"].startswith("acme:"), row
    return row


def test_http01(interop: Interop, lego: Lego) -> None:
    lego(*lego.http(), "-d", "www.interop.test", "run")
    assert_issued(interop, lego.certificate("www.interop.test"), {"DNS:www.interop.test"})


def test_tls_alpn01(interop: Interop, lego: Lego) -> None:
    lego(*lego.tls(), "-d", "tls.interop.test", "run")
    assert_issued(interop, lego.certificate("tls.interop.test"), {"DNS:tls.interop.test"})


def test_dns01_exec_with_wildcard(interop: Interop, lego: Lego) -> None:
    lego(*lego.dns(), "-d", "dns.interop.test", "-d", "*.interop.test", "run")
    assert_issued(
        interop,
        lego.certificate("dns.interop.test"),
        {"DNS:dns.interop.test", "DNS:*.interop.test"},
    )
    assert interop.txt_gone("_acme-challenge.dns.interop.test.")
    assert interop.txt_gone("_acme-challenge.interop.test.")


def test_renew_issues_a_new_certificate(interop: Interop, lego: Lego) -> None:
    """Leaves live 24 h, so ``--days 100`` (renew when fewer days remain) always renews."""
    cert = lego.certificate("www.interop.test")
    before = serial_of(cert)
    lego(*lego.http(), "-d", "www.interop.test", "renew", "--days", "100", "--no-random-sleep")
    after = serial_of(cert)
    assert after != before
    row = assert_issued(interop, cert, {"DNS:www.interop.test"})
    assert int(row["serial"], 16) == after


def test_revoke(interop: Interop, lego: Lego, tmp_path: Path) -> None:
    cert = lego.certificate("www.interop.test")
    lego("-d", "www.interop.test", "revoke", "--reason", str(KEY_COMPROMISE), "--keep")
    row = interop.stored(cert)
    assert row["status"] == "revoked"
    assert row["revocation_reason"] == KEY_COMPROMISE
    assert serial_of(cert) in interop.crl_serials(row["ca"], tmp_path)
