"""The interop harness: a real ``stepui --serve`` in a subprocess, a test DNS server, and helpers
that run real ACME clients (certbot, lego) against it and look at what they left behind.

One server per test module: the tests of a module are the steps of one client's life
(obtain, renew, revoke) and share its accounts, certificates and the server's database.
Failures carry the client's output and the tail of the server's log, since the two halves of
an ACME exchange live in different processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.support.dns_server import DNSServer

REPO = Path(__file__).resolve().parents[2]
HOOKS = Path(__file__).resolve().parent / "hooks"
ZONE = "interop.test."
HOSTS = ("www", "tls", "dns")  # A 127.0.0.1 for each <host>.interop.test
START_TIMEOUT = 90.0  # seconds for `stepui --serve` to answer /health on a loaded machine
STOP_TIMEOUT = 30.0
CLIENT_TIMEOUT = 150.0
LOG_TAIL = 4000  # characters of the server log quoted in a failure


def free_port() -> int:
    """A TCP port the OS just handed out on 127.0.0.1 (free for both clients and the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """The environment of every child: no STEPUI_* of the developer's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith("STEPUI_")}


def stepui_env() -> dict[str, str]:
    """For ``python -m stepui``: the repository importable. Not for the clients: certbot is a
    Python program too, and the repo's top-level packages are none of its business."""
    env = clean_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def stepui(home: Path, *args: str) -> str:
    """``python -m stepui --home HOME ARGS`` to success; its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "stepui", "--home", str(home), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=stepui_env(),
        cwd=home.parent,
        timeout=CLIENT_TIMEOUT,
    )
    assert result.returncode == 0, f"stepui {' '.join(args)}: {result.stderr}"
    return result.stdout


def fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex()


def serial_of(cert_path: Path) -> int:
    return x509.load_pem_x509_certificate(cert_path.read_bytes()).serial_number


@dataclass
class Interop:
    """A running ``stepui --serve`` with its home, DNS server and challenge ports."""

    home: Path
    base_url: str
    dns_server: DNSServer
    http_port: int
    tls_port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/acme/acme/directory"

    @property
    def root(self) -> Path:
        return self.home / "certs" / "root_ca.crt"

    @property
    def dns_address(self) -> str:
        host, port = self.dns_server.address
        return f"{host}:{port}"

    def client_env(self, **extra: str) -> dict[str, str]:
        """For clients and their hooks: where the test DNS server is, and which Python to use."""
        env = clean_env()
        env["STEPUI_TEST_DNS"] = self.dns_address
        env["INTEROP_PYTHON"] = sys.executable
        env.update(extra)
        return env

    def server_log(self) -> str:
        return tail(self.log_path)

    def run(
        self, args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = CLIENT_TIMEOUT
    ) -> str:
        """Run a client to success; on failure the message holds its output and the server's."""
        try:
            result = subprocess.run(
                args,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            output = b"".join(_bytes(part) for part in (exc.stdout, exc.stderr))
            pytest.fail(
                f"{args[0]} timed out after {timeout:.0f}s\n--- output ---\n"
                f"{output.decode(errors='replace')}\n--- server log ---\n{self.server_log()}"
            )
        output = result.stdout + result.stderr
        assert result.returncode == 0, (
            f"{' '.join(args)}\nexit {result.returncode}\n--- output ---\n{output[-LOG_TAIL:]}"
            f"\n--- server log ---\n{self.server_log()}"
        )
        return output

    def stored(self, cert_path: Path) -> dict:
        """The store's row for this certificate file (``cert list --json``), plus its requester,
        and revocation reason, which only the database records."""
        wanted = fingerprint(cert_path)
        listed = json.loads(stepui(self.home, "cert", "list", "--json"))
        rows = [row for row in listed if row["fingerprint"] == wanted]
        assert len(rows) == 1, f"{cert_path} is not in the store once: {rows}\n{self.server_log()}"
        row = rows[0]
        connection = sqlite3.connect(f"file:{self.home / 'stepui.db'}?mode=ro", uri=True)
        try:
            row["requester"], row["revocation_reason"] = connection.execute(
                "SELECT requester, revocation_reason FROM certificates WHERE serial = ?",
                (row["serial"],),
            ).fetchone()
        finally:
            connection.close()
        return row

    def assert_issued(self, cert: Path, chain: Path, sans: set[str]) -> dict:
        """``cert`` verifies to the root through ``chain``, and the store has it, valid, issued
        for exactly these names to an ACME account (requester ``acme:<account>``)."""
        openssl_verify(self.root, cert, chain)
        row = self.stored(cert)
        assert row["status"] == "valid", row
        assert set(row["sans"]) == sans, row
        assert row["requester"].startswith("acme:"), row
        return row

    def txt_gone(self, fqdn: str) -> bool:
        """The client's cleanup withdrew its dns-01 record: the name is gone from the test DNS."""
        host, port = self.dns_server.address
        query = dns.message.make_query(fqdn, "TXT")
        reply = dns.query.udp(query, host, port=port, timeout=5)
        return reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer

    def fetch(self, path: str) -> bytes:
        """GET over HTTPS, trusting only the CA's root."""
        context = ssl.create_default_context(cafile=str(self.root))
        with urllib.request.urlopen(f"{self.base_url}{path}", context=context, timeout=30) as reply:
            return reply.read()

    def crl_serials(self, ca_id: str, tmp: Path) -> set[int]:
        """Serials that the CA's published CRL lists, as ``openssl crl`` reads them."""
        crl = tmp / f"{ca_id}.crl"
        crl.write_bytes(self.fetch(f"/crl/{ca_id}.crl"))
        text = openssl("crl", "-inform", "DER", "-in", str(crl), "-noout", "-text")
        return {
            int(line.split(":", 1)[1].strip(), 16)
            for line in text.splitlines()
            if line.strip().startswith("Serial Number:")
        }


def tail(log: Path) -> str:
    """The end of the server's log (stdout and stderr), to quote in a failure."""
    return log.read_text(errors="replace")[-LOG_TAIL:] if log.exists() else ""


def _bytes(data: bytes | str | None) -> bytes:
    """TimeoutExpired keeps what the child wrote as bytes even when text=True was asked."""
    return data.encode() if isinstance(data, str) else data or b""


def openssl(*args: str) -> str:
    result = subprocess.run(
        ["openssl", *args], capture_output=True, text=True, timeout=CLIENT_TIMEOUT
    )
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def openssl_verify(root: Path, cert: Path, chain: Path) -> None:
    """The leaf (first certificate of ``cert``) chains to ``root`` through ``chain``."""
    output = openssl("verify", "-CAfile", str(root), "-untrusted", str(chain), str(cert))
    assert output.strip() == f"{cert}: OK", output


def _wait_healthy(process: subprocess.Popen[bytes], base_url: str, root: Path, log: Path) -> None:
    context = ssl.create_default_context(cafile=str(root))
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"stepui --serve exited {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{base_url}/health", context=context, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"stepui --serve not healthy after {START_TIMEOUT:.0f}s:\n{tail(log)}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, and the server must finish gracefully (exit 0)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"stepui --serve ignored SIGTERM for {STOP_TIMEOUT:.0f}s:\n{tail(log)}")
    assert process.returncode == 0, f"stepui --serve exited {process.returncode}:\n{tail(log)}"


@pytest.fixture(scope="module")
def interop_setup() -> list[tuple[str, ...]]:
    """``stepui`` commands run on the fresh CA before it is served (the server reads its
    provisioners once, at start); a test module overrides this to add its own."""
    return []


@pytest.fixture(scope="module")
def interop(
    tmp_path_factory: pytest.TempPathFactory, interop_setup: list[tuple[str, ...]]
) -> Iterator[Interop]:
    """A fresh passwordless CA served by ``stepui --serve`` on free loopback ports."""
    tmp = tmp_path_factory.mktemp("interop")
    home = tmp / "home"
    stepui(home, "ca", "init", "Test", "--no-password")
    for args in interop_setup:
        stepui(home, *args)
    port, http_port, tls_port = free_port(), free_port(), free_port()
    log_path = tmp / "server.log"
    with DNSServer(zones=(ZONE,)) as dns_server:
        for host in HOSTS:
            dns_server.add_a(f"{host}.{ZONE}", "127.0.0.1")
        command = [
            sys.executable, "-m", "stepui", "--serve", "--home", str(home),
            "--address", f"127.0.0.1:{port}",
            "--acme-http-port", str(http_port),
            "--acme-tls-port", str(tls_port),
            "--resolver", f"{dns_server.host}:{dns_server.port}",
            "--validation-timeout", "20s",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=stepui_env(), cwd=tmp,
            )  # fmt: skip
        base_url = f"https://127.0.0.1:{port}"
        try:
            _wait_healthy(process, base_url, home / "certs" / "root_ca.crt", log_path)
            yield Interop(home, base_url, dns_server, http_port, tls_port, process, log_path)
            _stop(process, log_path)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
