"""The real lego (Debian's /usr/bin/lego) against ``stepui --serve``: http-01, tls-alpn-01,
dns-01 through the exec provider (a wildcard included), renewal and revocation.

The tests are the steps of one lego installation's life (one account) and run in file order.
No IP identifier: lego 4.9 orders ``-d 127.0.0.1`` as an ``ip`` identifier but puts the address
in its CSR as a dNSName, which RFC 8738 forbids and the server refuses (badCSR); with ``--csr``
it orders the CSR's common name as a ``dns`` identifier instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop.conftest import HOOKS, Interop, serial_of

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
    """lego saved the bundle (leaf first), its issuer file and the key, and the certificate is
    the CA's, for ``sans``."""
    issuer = cert.with_name(cert.name.replace(".crt", ".issuer.crt"))
    for path in (cert, issuer, cert.with_suffix(".key")):
        assert path.is_file(), f"{path} missing"
    return interop.assert_issued(cert, issuer, sans)


@dataclass(frozen=True)
class Order:
    """What lego is asked for, and with which of its solvers."""

    domains: tuple[str, ...]
    solver: Callable[[Lego], tuple[str, ...]]

    def args(self, lego: Lego) -> list[str]:
        return [*self.solver(lego), *(arg for domain in self.domains for arg in ("-d", domain))]

    @property
    def sans(self) -> set[str]:
        return {f"DNS:{domain}" for domain in self.domains}


ORDERS = {
    "http-01": Order(("www.interop.test",), Lego.http),
    "tls-alpn-01": Order(("tls.interop.test",), Lego.tls),
    "dns-01+wildcard": Order(("dns.interop.test", "*.interop.test"), Lego.dns),
}


@pytest.mark.parametrize("kind", ORDERS)
def test_obtain(interop: Interop, lego: Lego, kind: str) -> None:
    order = ORDERS[kind]
    lego(*order.args(lego), "run")
    assert_issued(interop, lego.certificate(order.domains[0]), order.sans)
    for domain in order.domains:
        assert interop.txt_gone(f"_acme-challenge.{domain.removeprefix('*.')}.")


@pytest.mark.parametrize("kind", ORDERS)
def test_renew_issues_a_new_certificate(interop: Interop, lego: Lego, kind: str) -> None:
    """Leaves live 24 h, so ``--days 100`` (renew when fewer days remain) always renews."""
    order = ORDERS[kind]
    cert = lego.certificate(order.domains[0])
    before = serial_of(cert)
    lego(*order.args(lego), "renew", "--days", "100", "--no-random-sleep")
    after = serial_of(cert)
    assert after != before
    row = assert_issued(interop, cert, order.sans)
    assert int(row["serial"], 16) == after


def test_revoke(interop: Interop, lego: Lego, tmp_path: Path) -> None:
    cert = lego.certificate("www.interop.test")
    lego("-d", "www.interop.test", "revoke", "--reason", str(KEY_COMPROMISE), "--keep")
    row = interop.stored(cert)
    assert row["status"] == "revoked"
    assert row["revocation_reason"] == KEY_COMPROMISE
    assert serial_of(cert) in interop.crl_serials(row["ca"], tmp_path)
