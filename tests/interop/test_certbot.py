"""The real certbot (Debian's /usr/bin/certbot) against ``stepui --serve``: http-01 with its
standalone server, dns-01 through manual hooks that publish on the test DNS server (a wildcard
included), forced renewal, and revocation by the account and by the certificate key.

The tests are the steps of one certbot installation's life and run in file order.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop.conftest import HOOKS, Interop, serial_of

pytestmark = pytest.mark.skipif(shutil.which("certbot") is None, reason="certbot not installed")

KEY_COMPROMISE, SUPERSEDED = 1, 4


@dataclass
class Certbot:
    """One certbot installation: its own config/work/logs dirs, non-interactive, trusting only
    the CA's root."""

    interop: Interop
    tmp: Path

    def __call__(self, subcommand: str, *args: str) -> str:
        return self.interop.run(
            [
                "certbot",
                subcommand,
                "--server",
                self.interop.directory_url,
                "--config-dir",
                str(self.tmp / "config"),
                "--work-dir",
                str(self.tmp / "work"),
                "--logs-dir",
                str(self.tmp / "logs"),
                "--non-interactive",
                "--agree-tos",
                "--register-unsafely-without-email",
                *args,
            ],  # fmt: skip
            env=self.interop.client_env(REQUESTS_CA_BUNDLE=str(self.interop.root)),
            cwd=self.tmp,
        )

    def live(self, name: str) -> Path:
        return self.tmp / "config" / "live" / name


@pytest.fixture(scope="module")
def certbot(interop: Interop, tmp_path_factory: pytest.TempPathFactory) -> Certbot:
    return Certbot(interop, tmp_path_factory.mktemp("certbot"))


def assert_issued(interop: Interop, lineage: Path, sans: set[str]) -> dict:
    """certbot saved the lineage's four files and the certificate is the CA's, for ``sans``."""
    for name in ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"):
        assert (lineage / name).is_file(), f"{lineage / name} missing"
    return interop.assert_issued(lineage / "cert.pem", lineage / "chain.pem", sans)


def test_http01_standalone(interop: Interop, certbot: Certbot) -> None:
    certbot(
        "certonly", "--standalone", "--preferred-challenges", "http",
        "--http-01-port", str(interop.http_port), "--http-01-address", "127.0.0.1",
        "-d", "www.interop.test",
    )  # fmt: skip
    assert_issued(interop, certbot.live("www.interop.test"), {"DNS:www.interop.test"})


def test_dns01_manual_hooks_with_wildcard(interop: Interop, certbot: Certbot) -> None:
    hook = HOOKS / "certbot-dns"
    certbot(
        "certonly", "--manual", "--preferred-challenges", "dns",
        "--manual-auth-hook", f"{hook} present", "--manual-cleanup-hook", f"{hook} cleanup",
        "--cert-name", "wildcard", "-d", "dns.interop.test", "-d", "*.interop.test",
    )  # fmt: skip
    assert_issued(interop, certbot.live("wildcard"), {"DNS:dns.interop.test", "DNS:*.interop.test"})
    assert interop.txt_gone("_acme-challenge.dns.interop.test.")
    assert interop.txt_gone("_acme-challenge.interop.test.")


@pytest.mark.parametrize(
    ("lineage", "sans"),
    [
        ("www.interop.test", {"DNS:www.interop.test"}),
        ("wildcard", {"DNS:dns.interop.test", "DNS:*.interop.test"}),
    ],
    ids=["http-01", "dns-01+wildcard"],
)
def test_forced_renewal_issues_a_new_certificate(
    interop: Interop, certbot: Certbot, lineage: str, sans: set[str]
) -> None:
    """Renewal replays what certbot saved: the standalone port, or the manual hooks."""
    cert = certbot.live(lineage) / "cert.pem"
    before = serial_of(cert)
    certbot("renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name", lineage)
    after = serial_of(cert)
    assert after != before
    row = assert_issued(interop, certbot.live(lineage), sans)
    assert int(row["serial"], 16) == after


def test_revoke_by_account_reaches_the_crl(
    interop: Interop, certbot: Certbot, tmp_path: Path
) -> None:
    cert = certbot.live("www.interop.test") / "cert.pem"
    certbot(
        "revoke", "--cert-path", str(cert), "--reason", "keycompromise",
        "--no-delete-after-revoke",
    )  # fmt: skip
    row = interop.stored(cert)
    assert row["status"] == "revoked"
    assert row["revocation_reason"] == KEY_COMPROMISE
    assert serial_of(cert) in interop.crl_serials(row["ca"], tmp_path)


def test_revoke_signed_by_the_certificate_key(
    interop: Interop, certbot: Certbot, tmp_path: Path
) -> None:
    lineage = certbot.live("wildcard")
    certbot(
        "revoke", "--cert-path", str(lineage / "cert.pem"),
        "--key-path", str(lineage / "privkey.pem"), "--reason", "superseded",
        "--no-delete-after-revoke",
    )  # fmt: skip
    row = interop.stored(lineage / "cert.pem")
    assert row["status"] == "revoked"
    assert row["revocation_reason"] == SUPERSEDED
    assert serial_of(lineage / "cert.pem") in interop.crl_serials(row["ca"], tmp_path)
