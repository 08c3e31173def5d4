"""``stepui --serve`` operated as a platform team would: real processes on loopback, real
clients (certbot's ``acme`` library, ``openssl``), and what the operator sees (exit codes, one
error line, JSON logs without secrets, signals, backup/restore, revocation through CRL and OCSP).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import josepy
import pytest
from acme import client, errors, messages
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stepui.authority.eab import add_key
from stepui.authority.service import Authority
from tests.acme_fixtures import make_csr
from tests.acme_raw import b64, public_jwk, sign_bytes
from tests.pebble import free_port
from tests.support.cli import ok, stepui
from tests.support.dns_server import DNSServer
from tests.support.responders import HTTP01Responder

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60
PASSWORD = "probe pass phrase"


@dataclass
class Served:
    """A running ``stepui --serve`` and every stderr line it wrote so far."""

    process: subprocess.Popen[str]
    home: Path
    base_url: str
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def root(self) -> Path:
        return self.home / "certs" / "root_ca.crt"

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/acme/acme/directory"

    def read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if "ACME directory" in line:
                self.ready.set()
        self.ready.set()
        self.done.set()

    def http(self) -> httpx.Client:
        verify = ssl.create_default_context(cafile=str(self.root))
        return httpx.Client(verify=verify, timeout=TIMEOUT)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=TIMEOUT)
        self.done.wait(TIMEOUT)
        return code


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPUI_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def run_serve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``stepui --serve`` expected to refuse at once."""
    return subprocess.run(
        [sys.executable, "-m", "stepui", "--serve", "--home", str(home), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        env=environment(),
        timeout=TIMEOUT,
    )


def launch(home: Path, *args: str, address: str | None = None, scheme: str = "https") -> Served:
    """Start ``stepui --serve`` on a free loopback port and wait for its directory line."""
    port = free_port()
    address = address or f"127.0.0.1:{port}"
    host = address.rpartition(":")[0].strip("[]")
    url_host = f"[{host}]" if ":" in host else host
    process = subprocess.Popen(
        [sys.executable, "-m", "stepui", "--serve", "--home", str(home), "--address", address]
        + list(args),
        cwd=REPO,
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, home, f"{scheme}://{url_host}:{address.rpartition(':')[2]}")
    threading.Thread(target=served.read, daemon=True).start()
    assert served.ready.wait(TIMEOUT), "the server did not start"
    assert process.poll() is None, "".join(served.lines)
    return served


@pytest.fixture
def served_list() -> Iterator[list[Served]]:
    """Servers a test starts; killed at the end whatever happened."""
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(TIMEOUT)


def new_home(path: Path, *, password: str | None = PASSWORD) -> Path:
    authority = Authority.open(path, password=lambda: password.encode() if password else None)
    authority.init("Probe", passwordless=password is None)
    authority.close()
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return new_home(tmp_path / "home", password=None)


def password_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "password.txt"
    path.write_text(text)
    path.chmod(0o600)
    return path


def one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stepui: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# -- addresses, passwords, workers: one line and non-zero, or serving correctly ----------------
@pytest.mark.parametrize("form", ["[::1]:{port}", "::1:{port}"])
def test_ipv6_address_forms_serve_with_bracketed_urls(
    home: Path, served_list: list[Served], form: str
) -> None:
    port = free_port()
    served = launch(home, address=form.format(port=port))
    served_list.append(served)
    assert served.base_url == f"https://[::1]:{port}"
    with served.http() as http:
        directory = http.get(served.directory_url).json()
    assert directory["newNonce"] == f"https://[::1]:{port}/acme/acme/new-nonce"
    # Certificates issued while serving (its own first) point at this address for their CRL.
    own = x509.load_pem_x509_certificate((home / "certs" / "server.crt").read_bytes())
    points = own.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value.startswith(f"https://[::1]:{port}/crl/")
    assert served.stop() == 0


@pytest.mark.parametrize(
    "address", ["127.0.0.1:70000", "127.0.0.1:-1", "127.0.0.1:", "127.0.0.1", "[::1]:65536"]
)
def test_a_bad_address_is_one_line(home: Path, address: str) -> None:
    one_error_line(run_serve(home, "--address", address), "--address", address)


@pytest.mark.parametrize("workers", ["0", "-1", "1000"])
def test_worker_counts_out_of_range_are_refused(home: Path, workers: str) -> None:
    port = free_port()
    result = run_serve(home, "--address", f"127.0.0.1:{port}", "--workers", workers)
    one_error_line(result, "--workers", workers)


def test_password_files(tmp_path: Path, served_list: list[Served]) -> None:
    home = new_home(tmp_path / "home")
    port = free_port()
    address = ("--address", f"127.0.0.1:{port}")
    wrong = password_file(tmp_path, "not the password\n")
    line = one_error_line(run_serve(home, *address, "--password-file", str(wrong)))
    assert "password" in line.lower()
    missing = tmp_path / "missing.txt"
    one_error_line(run_serve(home, *address, "--password-file", str(missing)), str(missing))
    empty = password_file(tmp_path, "\n")
    one_error_line(run_serve(home, *address, "--password-file", str(empty)), "empty")
    right = password_file(tmp_path, PASSWORD + "\n")  # as `echo pw > file` writes it
    served = launch(home, "--password-file", str(right))
    served_list.append(served)
    with served.http() as http:
        assert http.get(f"{served.base_url}/health").json() == {"status": "ok"}
    assert served.stop() == 0


# -- one platform team's day, through the real process with JSON logs ---------------------------
@dataclass
class Names:
    """The DNS server the validator asks and the http-01 responder it reaches."""

    dns: DNSServer
    http01: HTTP01Responder

    def flags(self) -> tuple[str, ...]:
        return (
            "--acme-http-port",
            str(self.http01.port),
            "--resolver",
            f"127.0.0.1:{self.dns.port}",
        )


@pytest.fixture
def names() -> Iterator[Names]:
    dns = DNSServer(zones=("test.",)).start()
    http01 = HTTP01Responder().start()
    yield Names(dns, http01)
    http01.stop()
    dns.stop()


def acme_client(
    served: Served, key: josepy.JWK | None = None, *, keep_alive: bool = False
) -> client.ClientV2:
    """certbot's client; without ``keep_alive`` each request closes its connection, so a stop
    need not wait for idle ones."""
    key = key or josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(key, alg=josepy.ES256, verify_ssl=str(served.root))
    if not keep_alive:
        net.session.headers["Connection"] = "close"
    return client.ClientV2(client.ClientV2.get_directory(served.directory_url, net), net)


def register(acme: client.ClientV2, eab: Any = None) -> messages.RegistrationResource:
    binding = None
    if eab is not None:
        binding = messages.ExternalAccountBinding.from_data(
            account_public_key=acme.net.key.public_key(),
            kid=eab.kid,
            hmac_key=eab.hmac_key,
            directory=acme.directory,
        )
    return acme.new_account(
        messages.NewRegistration.from_data(
            terms_of_service_agreed=True, external_account_binding=binding
        )
    )


def obtain(
    acme: client.ClientV2, names: Names, name: str
) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """newOrder, http-01, finalize: the full chain PEM and the certificate's key."""
    names.dns.add_a(name, "127.0.0.1")
    csr, key = make_csr(name)
    order = acme.new_order(csr)
    challb = next(c for c in order.authorizations[0].body.challenges if c.chall.typ == "http-01")
    response, validation = challb.chall.response_and_validation(acme.net.key)
    names.http01.set_token(challb.chall.encode("token"), validation)
    acme.answer_challenge(challb, response)
    deadline = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=TIMEOUT)
    return acme.poll_and_finalize(order, deadline).fullchain_pem, key


def key_change(served: Served, acme: client.ClientV2) -> client.ClientV2:
    """Roll the account over to a new key with the acme library's JWS code."""
    new_key = josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    url = acme.directory["keyChange"]
    payload = {"account": acme.net.account.uri, "oldKey": acme.net.key.public_key().to_json()}
    inner = acme_jws.JWS.sign(
        json.dumps(payload).encode(), key=new_key, alg=josepy.ES256, nonce=None, url=url
    )
    assert acme.net.post(url, inner).status_code == 200
    rolled = acme_client(served, new_key, keep_alive=True)
    rolled.net.account = acme.net.account
    return rolled


def secret_d(key: Any) -> str:
    """The private scalar as it would appear in a JWK (base64url)."""
    return josepy.json_util.encode_b64jose(key.private_numbers().private_value.to_bytes(32, "big"))


def require_eab(home: Path) -> Authority:
    authority = Authority.open(home)
    config = authority.config
    provisioner = dataclasses.replace(config.provisioners["acme"], require_eab=True)
    authority.save_config(config.with_changes(provisioners={"acme": provisioner}))
    return authority


def test_a_day_of_acme_leaves_no_secret_in_json_logs_and_revocation_reaches_crl_and_ocsp(
    tmp_path: Path, names: Names, served_list: list[Served]
) -> None:
    home = new_home(tmp_path / "home")
    authority = require_eab(home)
    eab = add_key(authority, "acme", "ci-runner")
    authority.close()
    pw = password_file(tmp_path, PASSWORD + "\n")
    served = launch(home, "--password-file", str(pw), "--log-format", "json", *names.flags())
    served_list.append(served)

    acme = acme_client(served, keep_alive=True)
    register(acme, eab)
    pem, leaf_key = obtain(acme, names, "day.test")
    rolled = key_change(served, acme)
    leaf = x509.load_pem_x509_certificate(pem.encode())
    rolled.revoke(josepy.ComparableX509(leaf) if hasattr(josepy, "ComparableX509") else leaf, 1)

    # The certificate names where its CRL is: this server, at the port it listens on.
    ca_id = Authority.open(home).authority().id
    crl_url = f"{served.base_url}/crl/{ca_id}.crl"
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [p.full_name[0].value for p in points] == [crl_url]

    files = tmp_path / "files"
    files.mkdir()
    (files / "leaf.pem").write_text(pem)
    chain = x509.load_pem_x509_certificates(pem.encode())
    (files / "issuer.pem").write_bytes(chain[1].public_bytes(serialization.Encoding.PEM))
    with served.http() as http:
        (files / "ca.crl").write_bytes(http.get(crl_url).content)
    crl = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            files / "ca.crl",
            "-noout",
            "-text",
            "-CAfile",
            files / "issuer.pem",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert crl.returncode == 0, crl.stderr
    assert "verify OK" in crl.stdout + crl.stderr
    assert f"{leaf.serial_number:X}" in crl.stdout.replace(":", "").upper()
    ocsp = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            files / "issuer.pem",
            "-cert",
            files / "leaf.pem",
            "-url",
            f"{served.base_url}/ocsp",
            "-CAfile",
            served.root,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert ocsp.returncode == 0, ocsp.stderr
    assert f"{files / 'leaf.pem'}: revoked" in ocsp.stdout, ocsp.stdout + ocsp.stderr
    assert "Response verify OK" in ocsp.stderr

    assert served.stop() == 0, "".join(served.lines[-5:])
    log = "".join(served.lines)
    entries = [json.loads(line) for line in served.lines]  # every line is one JSON object
    # The acme library's sessions still hold idle keep-alive TLS connections: the stop is
    # forced after server.serve.STOP_DEADLINE, and still a clean one (exit 0, "stopped").
    assert "stopped" in [entry["message"] for entry in entries]
    events = {entry.get("event") for entry in entries}
    assert {"acme.certificate.issued", "acme.certificate.revoked"} <= events
    for secret in (
        "PRIVATE KEY",
        eab.hmac_key,
        secret_d(acme.net.key.key),
        secret_d(rolled.net.key.key),
        secret_d(leaf_key),
        '"signature"',
        '"protected"',
    ):
        assert secret not in log, secret


# -- signals and processes ----------------------------------------------------------------------
def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody reaps (PID 1 here may not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def worker_pids(served: Served, count: int) -> set[int]:
    pids = {json.loads(line)["pid"] for line in served.lines if "ACME directory" in line}
    deadline = time.monotonic() + TIMEOUT
    while len(pids) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = {json.loads(line)["pid"] for line in served.lines if "ACME directory" in line}
    assert len(pids) == count, served.lines
    return pids


def wait_gone(pids: set[int]) -> set[int]:
    """The pids still running after a generous wait."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not all(gone(pid) for pid in pids):
        time.sleep(0.1)
    return {pid for pid in pids if not gone(pid)}


def test_sighup_stops_a_single_server_gracefully(home: Path, served_list: list[Served]) -> None:
    served = launch(home, "--log-format", "json")
    served_list.append(served)
    assert served.stop(signal.SIGHUP) == 0  # not the default "killed by SIGHUP" (-1)
    assert json.loads(served.lines[-1])["message"] == "stopped"


def test_sighup_to_the_parent_stops_every_worker(home: Path, served_list: list[Served]) -> None:
    served = launch(home, "--log-format", "json", "--workers", "2")
    served_list.append(served)
    workers = worker_pids(served, 2)
    assert served.stop(signal.SIGHUP) == 0
    assert wait_gone(workers) == set()


def test_workers_stop_when_the_parent_is_killed(home: Path, served_list: list[Served]) -> None:
    served = launch(home, "--log-format", "json", "--workers", "2")
    served_list.append(served)
    workers = worker_pids(served, 2)
    try:
        served.process.kill()  # SIGKILL: nothing can be passed on
        served.process.wait(TIMEOUT)
        assert wait_gone(workers) == set()  # no orphan keeps the port and serves on
    finally:
        for pid in workers:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


# -- behind a proxy, and the plain endpoints ----------------------------------------------------
def jws(key: ec.EllipticCurvePrivateKey, url: str, nonce: str, payload: Any, kid: str = "") -> str:
    header: dict[str, Any] = {"alg": "ES256", "nonce": nonce, "url": url}
    header.update({"kid": kid} if kid else {"jwk": public_jwk(key)})
    protected = b64(json.dumps(header).encode())
    data = b64(b"" if payload is None else json.dumps(payload).encode())
    signature = sign_bytes(key, "ES256", f"{protected}.{data}".encode())
    return json.dumps({"protected": protected, "payload": data, "signature": b64(signature)})


def links(response: httpx.Response) -> list[str]:
    return [part.split(">")[0].lstrip("<") for part in response.headers.get_list("Link")]


def test_insecure_http_writes_only_the_external_url(home: Path, served_list: list[Served]) -> None:
    external = "https://acme.proxy.test"
    authority = Authority.open(home)
    authority.save_config(authority.config.with_changes(external_url=external + "/"))
    authority.close()
    served = launch(home, "--insecure-http", scheme="http")
    served_list.append(served)
    local = served.base_url
    key = ec.generate_private_key(ec.SECP256R1())
    with httpx.Client(timeout=TIMEOUT) as http:
        directory = http.get(served.directory_url).json()
        urls = [v for v in directory.values() if isinstance(v, str)]
        assert urls and all(url.startswith(f"{external}/acme/acme/") for url in urls), directory

        def post(url: str, payload: Any, kid: str = "") -> httpx.Response:
            nonce = http.head(url.replace(external, local)).headers["Replay-Nonce"]
            body = jws(key, url, nonce, payload, kid)
            headers = {"Content-Type": "application/jose+json"}
            return http.post(url.replace(external, local), content=body, headers=headers)

        nonce = http.head(directory["newNonce"].replace(external, local))
        assert links(nonce) == [directory["newNonce"].replace("new-nonce", "directory")]
        account = post(directory["newAccount"], {"termsOfServiceAgreed": True})
        assert account.status_code == 201, account.text
        kid = account.headers["Location"]
        order = post(
            directory["newOrder"], {"identifiers": [{"type": "dns", "value": "p.test"}]}, kid
        )
        assert order.status_code == 201, order.text
        written = [kid, order.headers["Location"], *links(account), *links(order)]
        written += [*order.json()["authorizations"], order.json()["finalize"]]
        assert all(url.startswith(f"{external}/acme/acme/") for url in written), written
        assert local not in account.text + order.text
    assert served.stop() == 0


def test_health_and_the_pem_bundles_answer_get_and_head(
    home: Path, served_list: list[Served]
) -> None:
    served = launch(home)
    served_list.append(served)
    with served.http() as http:
        health = http.get(f"{served.base_url}/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert health.headers["Content-Type"].startswith("application/json")
        for path, file in (
            ("roots.pem", "root_ca.crt"),
            ("intermediates.pem", "intermediate_ca.crt"),
        ):
            got = http.get(f"{served.base_url}/{path}")
            assert got.status_code == 200
            assert got.headers["Content-Type"] == "application/pem-certificate-chain"
            expected = x509.load_pem_x509_certificates((home / "certs" / file).read_bytes())
            assert x509.load_pem_x509_certificates(got.content) == expected
            head = http.head(f"{served.base_url}/{path}")
            assert (head.status_code, head.content) == (200, b"")
            assert head.headers["Content-Length"] == str(len(got.content))
    assert served.stop() == 0


def test_idle_connections_do_not_stop_others_being_served(
    home: Path, served_list: list[Served]
) -> None:
    """A slowloris-style client: many connections that never send a byte (TLS handshake never
    started) and some that stop mid-request; a normal client is still served."""
    served = launch(home)
    served_list.append(served)
    port = int(served.base_url.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            idle.append(sock)
        context = ssl.create_default_context(cafile=str(served.root))
        for _ in range(20):  # TLS done, then half a request line, then silence
            tls = context.wrap_socket(
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT),
                server_hostname="127.0.0.1",
            )
            tls.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            idle.append(tls)
        with served.http() as http:
            for _ in range(5):
                assert http.get(f"{served.base_url}/health").json() == {"status": "ok"}
    finally:
        for sock in idle:
            sock.close()
    assert served.stop() == 0


# -- two servers on one home, backup under load, restore and serve from it ---------------------
def integrity(home: Path) -> str:
    with sqlite3.connect(home / "stepui.db") as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def test_two_servers_one_home_backup_under_load_then_serve_the_restore(
    tmp_path: Path, home: Path, names: Names, served_list: list[Served]
) -> None:
    first = launch(home, *names.flags())
    served_list.append(first)
    second = launch(home, *names.flags())
    served_list.append(second)
    account_key = josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    acme = acme_client(first, account_key)
    account = register(acme)
    obtain(acme, names, "before.test")

    issued: list[str] = []
    failures: list[BaseException] = []

    def load() -> None:
        try:
            for index in range(2):  # bounded: two flows on each server
                for served in (first, second):
                    issued.append(
                        obtain(acme_client_registered(served), names, f"l{index}.test")[0]
                    )
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    def acme_client_registered(served: Served) -> client.ClientV2:
        other = acme_client(served)
        register(other)
        return other

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    archive = tmp_path / "backup.tar.gz"
    backups = 0
    while worker.is_alive() and backups < 3:  # bounded in count, taken while flows run
        ok(stepui(home, "ca", "backup", str(archive), password=None))
        backups += 1
    worker.join(TIMEOUT * 2)
    assert not worker.is_alive() and failures == [] and len(issued) == 4
    assert first.stop() == 0 and second.stop() == 0
    assert integrity(home) == "ok"

    restored = tmp_path / "restored"
    ok(stepui(restored, "ca", "restore", str(archive), password=None))
    assert integrity(restored) == "ok"
    again = launch(restored, *names.flags())
    served_list.append(again)
    returning = acme_client(again, account_key)
    with pytest.raises(errors.ConflictError) as existing:  # the acme library's "200: exists"
        returning.new_account(messages.NewRegistration.from_data(only_return_existing=True))
    assert existing.value.location.rsplit("/", 1)[1] == account.uri.rsplit("/", 1)[1]
    returning.net.account = messages.RegistrationResource(
        uri=existing.value.location, body=messages.Registration()
    )
    assert "BEGIN CERTIFICATE" in obtain(returning, names, "after.test")[0]
    assert again.stop() == 0


def test_sigterm_during_finalizes_leaves_each_order_issued_and_recorded_or_untouched(
    home: Path, names: Names, served_list: list[Served]
) -> None:
    served = launch(home, *names.flags())
    served_list.append(served)
    acme = acme_client(served)
    register(acme)
    ready = []
    for index in range(4):
        name = f"f{index}.test"
        names.dns.add_a(name, "127.0.0.1")
        order = acme.new_order(make_csr(name)[0])
        challb = next(
            c for c in order.authorizations[0].body.challenges if c.chall.typ == "http-01"
        )
        response, validation = challb.chall.response_and_validation(acme.net.key)
        names.http01.set_token(challb.chall.encode("token"), validation)
        acme.answer_challenge(challb, response)
        deadline = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=TIMEOUT)
        ready.append(acme.poll_authorizations(order, deadline))

    def finalize(order: messages.OrderResource) -> None:
        with contextlib.suppress(Exception):  # refused or cut off by the stop: both fine
            acme_client_for(order).begin_finalization(order)

    def acme_client_for(order: messages.OrderResource) -> client.ClientV2:
        other = acme_client(served, acme.net.key)
        other.net.account = acme.net.account
        return other

    threads = [threading.Thread(target=finalize, args=(o,), daemon=True) for o in ready]
    for thread in threads:
        thread.start()
    assert served.stop() == 0
    for thread in threads:
        thread.join(TIMEOUT)
    with sqlite3.connect(home / "stepui.db") as db:
        orders = db.execute("SELECT status, certificate FROM acme_orders").fetchall()
        recorded = {
            row[0]
            for row in db.execute("SELECT serial FROM certificates WHERE requester LIKE 'acme:%'")
        }
    assert len(orders) == 4
    assert {status for status, _ in orders} <= {"ready", "valid"}, orders
    assert {serial for status, serial in orders if status == "valid"} == recorded
    assert all(serial is None for status, serial in orders if status == "ready")
    assert integrity(home) == "ok"
