"""A current certbot (>= 4.0, from PyPI in ``.venv-certbot``; Debian's 2.1 predates all three)
against ``stepui --serve``: ACME profiles (``--required-profile``), External Account Binding,
and ACME Renewal Information (RFC 9773) deciding ``certbot renew``.

What certbot 5.8 does with ARI (certbot/_internal/renewal.py ``should_autorenew``, acme/client.py
``renewal_time``), which the ARI tests follow:

- Only ``certbot renew`` asks (never ``certonly``), with an unauthenticated GET of
  ``renewalInfo/<CertID>``. It picks a uniform random moment in the suggestedWindow and renews
  when now is past it; ARI's answer comes before OCSP and before the lifetime default.
- It saves ``ari_retry_after`` (now + the reply's Retry-After) in the lineage's renewal conf and
  does not ask again before then; meanwhile it falls back to half the lifetime for certificates
  under ten days. A test that wants a second answer sooner therefore drops that saved time, which
  is exactly the state certbot is in once Retry-After has passed.
- It never sends ``replaces`` in newOrder: a renewal's order replaces nothing, and the tests
  say so, so that the day certbot starts sending it the assertion points here.

The tests are the steps of one certbot installation's life and run in file order.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from stepui.acme_client.flow import cert_id
from stepui.authority.models import IssueRequest
from tests.interop.conftest import CLIENT_TIMEOUT, REPO, Interop, serial_of, stepui

PROFILED = "modern"  # offers the profile "shortlived"
BOUND = "bound"  # requires External Account Binding
SHORT_LIFETIME = timedelta(hours=6)
# certbot's saved "do not ask renewalInfo before" time, in the lineage's renewal conf (configobj)
RETRY_AFTER = re.compile(r"^ari_retry_after = \S+\n", re.MULTILINE)
BACKDATE = IssueRequest.backdate  # notBefore is set this far back, for clients' clock skew


def modern_certbot() -> Path | None:
    """``STEPUI_MODERN_CERTBOT`` (set by .ci/run), else the repository's ``.venv-certbot``."""
    configured = os.environ.get("STEPUI_MODERN_CERTBOT")
    candidate = Path(configured) if configured else REPO / ".venv-certbot" / "bin" / "certbot"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


CERTBOT = modern_certbot()
pytestmark = pytest.mark.skipif(
    CERTBOT is None, reason="no certbot >= 4.0 (.ci/run installs one in .venv-certbot)"
)


@pytest.fixture(scope="module")
def interop_setup() -> list[tuple[str, ...]]:
    return [
        ("ca", "provisioner", "add", PROFILED, "--profile", "shortlived=tls-server:6h:six hours"),
        ("ca", "provisioner", "add", BOUND, "--require-eab"),
    ]


@dataclass
class Certbot:
    """One certbot installation: its own config/work/logs dirs, non-interactive, trusting only
    the CA's root, getting certificates for www.interop.test with its http-01 standalone server."""

    interop: Interop
    tmp: Path

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)

    def command(self, subcommand: str, provisioner: str, *args: str) -> list[str]:
        return [
            str(CERTBOT), subcommand,
            "--server", f"{self.interop.base_url}/acme/{provisioner}/directory",
            "--config-dir", str(self.tmp / "config"), "--work-dir", str(self.tmp / "work"),
            "--logs-dir", str(self.tmp / "logs"),
            "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
            *args,
        ]  # fmt: skip

    def certonly(self, provisioner: str, name: str, *args: str) -> list[str]:
        return self.command(
            "certonly", provisioner, "--cert-name", name, "--standalone",
            "--preferred-challenges", "http", "--http-01-port", str(self.interop.http_port),
            "--http-01-address", "127.0.0.1", "-d", "www.interop.test", *args,
        )  # fmt: skip

    @property
    def env(self) -> dict[str, str]:
        return self.interop.client_env(REQUESTS_CA_BUNDLE=str(self.interop.root))

    def __call__(self, args: list[str]) -> str:
        """Run to success (the harness quotes both sides on failure); the output."""
        return self.interop.run(args, env=self.env, cwd=self.tmp)

    def refused(self, args: list[str]) -> str:
        """Run, and it must fail; its output."""
        result = subprocess.run(
            args, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=self.env,
            cwd=self.tmp, timeout=CLIENT_TIMEOUT,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode != 0, (
            f"{' '.join(args)} succeeded\n--- output ---\n{output}"
            f"\n--- server log ---\n{self.interop.server_log()}"
        )
        return output

    def cert(self, name: str) -> Path:
        return self.tmp / "config" / "live" / name / "cert.pem"

    def certificate(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert(name).read_bytes())

    def renewal_conf(self, name: str) -> Path:
        return self.tmp / "config" / "renewal" / f"{name}.conf"


@pytest.fixture(scope="module")
def certbot(interop: Interop, tmp_path_factory: pytest.TempPathFactory) -> Certbot:
    return Certbot(interop, tmp_path_factory.mktemp("certbot-modern"))


def order_of(interop: Interop, serial: str) -> dict:
    """The ACME order that produced this certificate: its profile and replaces."""
    connection = sqlite3.connect(f"file:{interop.home / 'stepui.db'}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute(
            "SELECT profile, replaces FROM acme_orders WHERE certificate = ?", (serial,)
        ).fetchall()
    finally:
        connection.close()
    assert len(rows) == 1, f"{len(rows)} orders for {serial}\n{interop.server_log()}"
    return dict(rows[0])


def requests_to(interop: Interop, method: str, path: str) -> list[str]:
    """The server's access-log lines for ``METHOD /acme/PATH...``, in order (the whole log, not
    a tail)."""
    pattern = re.compile(rf'"{method} /acme/{re.escape(path)}')
    log = interop.log_path.read_text(errors="replace")
    return [line for line in log.splitlines() if pattern.search(line)]


def with_server_log(interop: Interop, output: str) -> str:
    return f"{output}\n--- server log ---\n{interop.server_log()}"


def renew_asking_renewal_info(interop: Interop, certbot: Certbot, name: str) -> str:
    """``certbot renew`` of one lineage, which must GET renewalInfo for its certificate exactly
    once, and get it (200); certbot's output."""
    path = f"{PROFILED}/renewal-info/{cert_id(certbot.certificate(name))}"
    asked = len(requests_to(interop, "GET", path))
    output = certbot(
        certbot.command("renew", PROFILED, "--cert-name", name, "--no-random-sleep-on-renew")
    )
    new = requests_to(interop, "GET", path)[asked:]
    assert len(new) == 1 and '" 200 ' in new[0], (
        f"GET {path}: {new}\n{with_server_log(interop, output)}"
    )
    return output


def issued(interop: Interop, cert: Path) -> dict:
    return interop.assert_issued(cert, cert.with_name("chain.pem"), {"DNS:www.interop.test"})


def test_required_profile_sets_the_lifetime(interop: Interop, certbot: Certbot) -> None:
    output = certbot(certbot.certonly(PROFILED, "short", "--required-profile", "shortlived"))
    cert = certbot.certificate("short")
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == BACKDATE + SHORT_LIFETIME, f"{lifetime}\n{with_server_log(interop, output)}"
    row = issued(interop, certbot.cert("short"))
    assert order_of(interop, row["serial"])["profile"] == "shortlived", row


def test_unknown_required_profile_is_refused(interop: Interop, certbot: Certbot) -> None:
    """certbot prints the problem's detail; its type is in certbot's debug log (a fresh
    letsencrypt.log each run), where the acme library raised it."""
    output = certbot.refused(certbot.certonly(PROFILED, "unknown", "--required-profile", "nope"))
    assert "unknown profile 'nope'" in output, with_server_log(interop, output)
    debug_log = (certbot.tmp / "logs" / "letsencrypt.log").read_text()
    raised = "acme.messages.Error: urn:ietf:params:acme:error:invalidProfile"
    assert raised in debug_log, f"{output}\n--- certbot log ---\n{debug_log[-4000:]}"
    assert not certbot.cert("unknown").exists()


def test_eab_binds_the_account_and_is_required(interop: Interop, certbot: Certbot) -> None:
    """Without a key certbot stops on the directory's ``externalAccountRequired`` before it
    asks newAccount (the server's own refusal is tested in tests/test_acme_eab.py)."""
    key = json.loads(stepui(interop.home, "ca", "eab", "add", BOUND, "--json"))
    # Config dirs of their own: each registers a new account, bound or not.
    unbound = Certbot(interop, certbot.tmp / "unbound")
    output = unbound.refused(unbound.certonly(BOUND, "unbound"))
    assert "requires external account binding" in output, with_server_log(interop, output)
    assert requests_to(interop, "POST", f"{BOUND}/new-account") == []

    bound = Certbot(interop, certbot.tmp / "bound")
    bound(
        bound.certonly(BOUND, "bound", "--eab-kid", key["kid"], "--eab-hmac-key", key["hmac_key"])
    )
    issued(interop, bound.cert("bound"))
    connection = sqlite3.connect(f"file:{interop.home / 'stepui.db'}?mode=ro", uri=True)
    try:
        (account,) = connection.execute(
            "SELECT bound_account FROM acme_eab_keys WHERE kid = ?", (key["kid"],)
        ).fetchone()
    finally:
        connection.close()
    assert account is not None, f"EAB key {key['kid']} bound to no account"


def test_renew_asks_renewal_info_and_keeps_a_certificate_not_due(
    interop: Interop, certbot: Certbot
) -> None:
    """A fresh 24 h certificate: the window opens at 2/3 of its life, so no renewal."""
    certbot(certbot.certonly(PROFILED, "ari"))
    row = issued(interop, certbot.cert("ari"))
    assert order_of(interop, row["serial"])["profile"] is None, "certbot asked for no profile"
    output = renew_asking_renewal_info(interop, certbot, "ari")
    assert serial_of(certbot.cert("ari")) == int(row["serial"], 16), output
    assert "not yet due" in output.lower(), output
    conf = certbot.renewal_conf("ari").read_text()
    assert RETRY_AFTER.search(conf), f"certbot saved no ari_retry_after\n{conf}"


def test_revoked_certificate_is_renewed_on_renewal_info(interop: Interop, certbot: Certbot) -> None:
    """Revoked through stepui, the certificate's window moves to now; certbot, once its saved
    Retry-After has passed (dropped here), asks again and renews. It sends no ``replaces``."""
    old = interop.stored(certbot.cert("ari"))
    stepui(interop.home, "ca", "revoke", old["serial"])
    conf = certbot.renewal_conf("ari")
    text, dropped = RETRY_AFTER.subn("", conf.read_text())
    assert dropped == 1, text
    conf.write_text(text)

    output = renew_asking_renewal_info(interop, certbot, "ari")
    renewed = serial_of(certbot.cert("ari")) != int(old["serial"], 16)
    assert renewed, f"not renewed\n{with_server_log(interop, output)}"
    new = issued(interop, certbot.cert("ari"))
    first = certbot.tmp / "config" / "archive" / "ari" / "cert1.pem"
    assert interop.stored(first)["status"] == "revoked"
    assert new["replaces"] is None, new
    assert order_of(interop, new["serial"])["replaces"] is None
