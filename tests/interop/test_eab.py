"""External Account Binding with the real clients against ``stepui --serve``: a provisioner
``eab`` that requires it, keys from ``stepui ca eab add --json``, and lego (``--eab --kid
--hmac``) and certbot (``--eab-kid --eab-hmac-key``) registering with them.

Profiles are not exercised here: lego 4.9 and certbot 2.1 (Debian's) have no option to ask for
one (lego gained ``--profile`` in 4.20, certbot ``--preferred-profile`` in 4.0); they are tested
with certbot's ``acme`` library and stepui's own client in ``tests/test_acme_profiles.py``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import Interop, stepui

PROVISIONER = "eab"
PROFILES = "shortlived=tls-server:6h:six hours"


@pytest.fixture(scope="module")
def interop_setup() -> list[tuple[str, ...]]:
    return [("ca", "provisioner", "add", PROVISIONER, "--require-eab", "--profile", PROFILES)]


def directory(interop: Interop) -> str:
    return f"{interop.base_url}/acme/{PROVISIONER}/directory"


def new_key(interop: Interop, reference: str) -> dict[str, str]:
    out = stepui(interop.home, "ca", "eab", "add", PROVISIONER, "--reference", reference, "--json")
    return json.loads(out)


def bound_account(interop: Interop, kid: str) -> str | None:
    connection = sqlite3.connect(f"file:{interop.home / 'stepui.db'}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT bound_account FROM acme_eab_keys WHERE kid = ?", (kid,)
        ).fetchone()[0]
    finally:
        connection.close()


def test_directory_requires_eab(interop: Interop) -> None:
    meta = json.loads(interop.fetch(f"/acme/{PROVISIONER}/directory"))["meta"]
    assert meta["externalAccountRequired"] is True
    assert meta["profiles"] == {"shortlived": "six hours"}


@pytest.mark.skipif(shutil.which("lego") is None, reason="lego not installed")
def test_lego_with_eab(interop: Interop, tmp_path: Path) -> None:
    key = new_key(interop, "lego")

    def lego(*args: str) -> str:
        return interop.run(
            [
                "lego",
                "--server",
                directory(interop),
                "--email",
                "ops@interop.test",
                "--accept-tos",
                "--path",
                str(tmp_path),
                *args,
                "--http",
                "--http.port",
                f"127.0.0.1:{interop.http_port}",
                "-d",
                "www.interop.test",
                "run",
            ],  # fmt: skip
            env=interop.client_env(LEGO_CA_CERTIFICATES=str(interop.root)),
            cwd=tmp_path,
        )

    lego("--eab", "--kid", key["kid"], "--hmac", key["hmac_key"])
    cert = tmp_path / "certificates" / "www.interop.test.crt"
    issuer = tmp_path / "certificates" / "www.interop.test.issuer.crt"
    interop.assert_issued(cert, issuer, {"DNS:www.interop.test"})
    assert bound_account(interop, key["kid"]) is not None


@pytest.mark.skipif(shutil.which("certbot") is None, reason="certbot not installed")
def test_certbot_with_eab_and_refused_without(interop: Interop, tmp_path: Path) -> None:
    key = new_key(interop, "certbot")

    def certbot(config: str, *args: str) -> list[str]:
        return [
            "certbot", "certonly", "--server", directory(interop),
            "--config-dir", str(tmp_path / config), "--work-dir", str(tmp_path / "work"),
            "--logs-dir", str(tmp_path / "logs"), "--non-interactive", "--agree-tos",
            "--register-unsafely-without-email", "--standalone",
            "--preferred-challenges", "http", "--http-01-port", str(interop.http_port),
            "--http-01-address", "127.0.0.1", "-d", "www.interop.test", *args,
        ]  # fmt: skip

    env = interop.client_env(REQUESTS_CA_BUNDLE=str(interop.root))
    without = subprocess.run(
        certbot("plain"), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=150
    )
    assert without.returncode != 0
    assert "external account" in (without.stdout + without.stderr).lower()

    interop.run(
        certbot("bound", "--eab-kid", key["kid"], "--eab-hmac-key", key["hmac_key"]),
        env=env,
        cwd=tmp_path,
    )
    lineage = tmp_path / "bound" / "live" / "www.interop.test"
    interop.assert_issued(lineage / "cert.pem", lineage / "chain.pem", {"DNS:www.interop.test"})
    assert bound_account(interop, key["kid"]) is not None

    # The same key again, for a second certbot (a new account key): refused.
    reused = subprocess.run(
        certbot("again", "--eab-kid", key["kid"], "--eab-hmac-key", key["hmac_key"]),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=150,
    )
    assert reused.returncode != 0
    assert "already bound" in (reused.stdout + reused.stderr)
