"""``stepui --serve`` (server.cli) as a real process, and server.serve's own TLS certificate:
issued by the CA, presented with its chain, renewed in place while serving."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from server import serve as serve_module
from stepui.authority.service import Authority
from tests.acme_fixtures import AcmeEnv, RunningServer

REPO = Path(__file__).resolve().parent.parent
SERVE = "import sys, server.cli; sys.exit(server.cli.main(sys.argv[1:]))"
TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("STEPUI_PASSWORD", None)
    return subprocess.Popen(
        [sys.executable, "-c", SERVE, "--serve", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.fixture
def ca_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    authority = Authority.open(home)
    authority.init("Serve Test", passwordless=True)
    authority.close()
    yield home


def served_certificate(host: str, port: int) -> x509.Certificate:
    """The leaf a new handshake gets (not verified: the tests move the CA's clock)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


def test_cli_serves_until_sigterm_with_json_logs(ca_home: Path) -> None:
    port = free_port()
    process = run_cli(
        "--home", str(ca_home), "--address", f"127.0.0.1:{port}", "--log-format", "json"
    )
    lines = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(json.loads(line))
            if "ACME directory" in lines[-1]["message"]:
                break
        root = ca_home / "certs" / "root_ca.crt"
        context = ssl.create_default_context(cafile=str(root))
        health = httpx.get(f"https://127.0.0.1:{port}/health", verify=context, timeout=TIMEOUT)
        assert health.json() == {"status": "ok"}
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    lines += [json.loads(line) for line in rest.splitlines()]
    assert lines[-1]["message"] == "stopped"
    assert any(entry["message"].startswith("127.0.0.1:") for entry in lines)  # access log
    assert all({"time", "level", "message"} <= set(entry) for entry in lines)


def test_cli_one_line_when_the_port_is_taken(ca_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        process = run_cli("--home", str(ca_home), "--address", f"127.0.0.1:{port}")
        _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode != 0
    errors = [line for line in stderr.splitlines() if line.startswith("stepui: error:")]
    assert errors == [f"stepui: error: cannot listen on 127.0.0.1:{port}: address already in use"]


def test_cli_one_line_without_a_ca(tmp_path: Path) -> None:
    process = run_cli("--home", str(tmp_path / "empty"))
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode != 0
    assert stderr.strip().splitlines() == [
        "stepui: error: no CA yet: run 'stepui ca init NAME' first"
    ]


def test_server_never_imports_textual() -> None:
    code = (
        "import sys, server.cli, server.serve, server.app\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'textual'], 'textual'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=TIMEOUT)


@pytest.fixture
def fast_renewal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_module, "CHECK_INTERVAL", 0.1)


def test_server_certificate_is_renewed_while_serving(fast_renewal: None, acme_env: AcmeEnv) -> None:
    host, port = "127.0.0.1", int(acme_env.server.base_url.rsplit(":", 1)[1])
    first = served_certificate(host, port)
    files = serve_module.ServerCertificate.of(acme_env.authority)
    assert files.key_path.stat().st_mode & 0o777 == 0o600
    assert x509.load_pem_x509_certificates(files.cert_path.read_bytes())[0] == first
    acme_env.clock.advance(timedelta(hours=17))
    deadline = time.monotonic() + TIMEOUT
    current = first
    while current == first and time.monotonic() < deadline:
        time.sleep(0.2)
        current = served_certificate(host, port)
    assert current != first
    assert current.not_valid_before_utc > first.not_valid_before_utc
    leaf, *chain = x509.load_pem_x509_certificates(files.cert_path.read_bytes())
    assert leaf == current
    root = x509.load_pem_x509_certificate(acme_env.root.read_bytes())
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(acme_env.clock())
        .build_server_verifier(x509.IPAddress(ipaddress.ip_address(host)))
    )
    verifier.verify(leaf, chain)  # leaf + intermediate: a client trusting the root connects


def test_insecure_http_mode(acme_authority: Authority, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        server = RunningServer(acme_authority, insecure_http=True).start()
    # Certificates would point their CRL at https on this plain server: the operator is told.
    assert "server.external_url" in caplog.text
    try:
        assert server.base_url.startswith("http://")
        response = httpx.get(f"{server.base_url}/health", timeout=TIMEOUT)
        assert response.json() == {"status": "ok"}
        directory = httpx.get(server.directory, timeout=TIMEOUT).json()
        assert directory["newNonce"].startswith(server.base_url)
    finally:
        server.stop()
