"""``stepui --serve --workers 4``: four processes on one port and one SQLite file.

The server runs as a real subprocess with JSON logs; its access log names the process (``pid``)
and the client's source port, so a test can tell which worker answered which connection. Every
request opens its own connection, so requests spread over the workers.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import josepy
import pytest
from acme import client, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stepui.authority.service import Authority
from tests.acme_fixtures import make_csr
from tests.acme_raw import b64, public_jwk, sign_bytes
from tests.pebble import free_port
from tests.support.dns_server import DNSServer
from tests.support.responders import HTTP01Responder

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 120
WORKERS = 4
FLOWS = 12
JOSE = "application/jose+json"


@dataclass
class Served:
    """The running ``stepui --serve --workers`` process and what it logged so far."""

    process: subprocess.Popen[str]
    home: Path
    base_url: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)

    @property
    def root(self) -> Path:
        return self.home / "certs" / "root_ca.crt"

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/acme/acme/directory"

    def read_logs(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append({"message": line.rstrip(), "pid": None})
            ready = [e for e in self.lines if e["message"].startswith("ACME directory")]
            if len(ready) == WORKERS:
                self.started.set()
        self.started.set()

    def access(self) -> list[dict[str, Any]]:
        return [e for e in self.lines if e["message"].startswith("127.0.0.1:")]

    def worker_of(self, local_port: int) -> int:
        """The pid of the worker that served the connection from ``local_port``."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for entry in self.access():
                if entry["message"].startswith(f"127.0.0.1:{local_port} "):
                    return entry["pid"]
            time.sleep(0.05)
        raise AssertionError(f"no access log line for client port {local_port}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=TIMEOUT)


def start(home: Path, dns: DNSServer, http01: HTTP01Responder) -> Served:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPUI_")}
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stepui",
            "--serve",
            "--home",
            str(home),
            "--address",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--log-format",
            "json",
            "--acme-http-port",
            str(http01.port),
            "--resolver",
            f"127.0.0.1:{dns.port}",
        ],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, home, f"https://127.0.0.1:{port}")
    threading.Thread(target=served.read_logs, daemon=True).start()
    assert served.started.wait(TIMEOUT), "the workers did not start"
    assert process.poll() is None, served.lines
    return served


@pytest.fixture
def dns() -> Iterator[DNSServer]:
    server = DNSServer(zones=("test.",)).start()
    yield server
    server.stop()


@pytest.fixture
def http01() -> Iterator[HTTP01Responder]:
    responder = HTTP01Responder().start()
    yield responder
    responder.stop()


@pytest.fixture
def served(tmp_path: Path, dns: DNSServer, http01: HTTP01Responder) -> Iterator[Served]:
    home = tmp_path / "home"
    authority = Authority.open(home)
    authority.init("Workers Test", passwordless=True)
    authority.close()
    served = start(home, dns, http01)
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(TIMEOUT)


# -- a raw client whose every request is its own connection ----------------------------------
@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    local_port: int

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Raw:
    def __init__(self, served: Served) -> None:
        self.served = served
        self.context = ssl.create_default_context(cafile=str(served.root))
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.directory = self.request("GET", served.directory_url).json()
        self.kid: str | None = None

    def request(self, method: str, url: str, body: bytes | None = None) -> Answer:
        parts = urlsplit(url)
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, context=self.context, timeout=TIMEOUT
        )
        try:
            connection.connect()
            assert connection.sock is not None
            local_port = connection.sock.getsockname()[1]
            headers = {"Connection": "close", "Content-Type": JOSE}
            connection.request(method, parts.path, body=body, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read(), local_port)
        finally:
            connection.close()

    def nonce(self) -> tuple[str, int]:
        answer = self.request("HEAD", self.directory["newNonce"])
        return answer.headers["Replay-Nonce"], answer.local_port

    def signed(self, url: str, payload: Any, nonce: str) -> bytes:
        header: dict[str, Any] = {"alg": "ES256", "nonce": nonce, "url": url}
        if self.kid is None:
            header["jwk"] = public_jwk(self.key)
        else:
            header["kid"] = self.kid
        protected = b64(json.dumps(header).encode())
        data = b64(b"" if payload is None else json.dumps(payload).encode())
        signature = sign_bytes(self.key, "ES256", f"{protected}.{data}".encode())
        return json.dumps({"protected": protected, "payload": data, "signature": b64(signature)})

    def post(self, url: str, payload: Any = None, nonce: str | None = None) -> Answer:
        nonce = nonce or self.nonce()[0]
        return self.request("POST", url, self.signed(url, payload, nonce).encode())

    def register(self) -> None:
        answer = self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True})
        assert answer.status == 201, answer.body
        self.kid = answer.headers["Location"]

    def ready_order(self, name: str, http01: HTTP01Responder) -> dict[str, Any]:
        created = self.post(
            self.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
        )
        assert created.status == 201, created.body
        order_url = created.headers["Location"]
        authz = self.post(created.json()["authorizations"][0]).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        thumbprint = josepy.JWKEC(key=self.key.public_key()).thumbprint()
        key_authorization = f"{challenge['token']}.{b64(thumbprint)}"
        http01.set_token(challenge["token"], key_authorization)
        assert self.post(challenge["url"], {}).status == 200
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            order = self.post(order_url).json()
            if order["status"] != "pending":
                break
            time.sleep(0.1)
        assert order["status"] == "ready", order
        return {"url": order_url, **order}


def issued_per_order(home: Path) -> dict[str, int]:
    """For every order: how many certificate rows carry the serial it points to."""
    with sqlite3.connect(home / "stepui.db") as db:
        rows = db.execute(
            "SELECT o.id, count(c.serial) FROM acme_orders o "
            "LEFT JOIN certificates c ON c.serial = o.certificate GROUP BY o.id"
        ).fetchall()
    return dict(rows)


def acme_certificates(home: Path) -> int:
    with sqlite3.connect(home / "stepui.db") as db:
        return db.execute(
            "SELECT count(*) FROM certificates WHERE requester LIKE 'acme:%'"
        ).fetchone()[0]


def assert_no_server_errors(served: Served) -> None:
    statuses = [e["message"].split('" ')[1].split()[0] for e in served.access()]
    assert "500" not in statuses and "503" not in statuses
    assert not [e for e in served.lines if e.get("level") == "error" or "error" in e], served.lines


# -- the tests -------------------------------------------------------------------------------
def flow(served: Served, http01: HTTP01Responder, name: str) -> str:
    """newAccount, newOrder, http-01, finalize, download with certbot's acme library."""
    key = josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(
        key, alg=josepy.ES256, verify_ssl=str(served.root), user_agent="workers-test"
    )
    net.session.headers["Connection"] = "close"
    try:
        acme = client.ClientV2(client.ClientV2.get_directory(served.directory_url, net), net)
        acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
        csr, _ = make_csr(name)
        order = acme.new_order(csr)
        challb = next(
            c for c in order.authorizations[0].body.challenges if c.chall.typ == "http-01"
        )
        response, validation = challb.chall.response_and_validation(key)
        http01.set_token(challb.chall.encode("token"), validation)
        acme.answer_challenge(challb, response)
        deadline = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=TIMEOUT)
        done = acme.poll_and_finalize(order, deadline)
        return done.fullchain_pem
    finally:
        net.session.close()


def test_concurrent_flows_issue_one_certificate_per_order(
    served: Served, dns: DNSServer, http01: HTTP01Responder
) -> None:
    names = [f"w{i}.test" for i in range(FLOWS)]
    for name in names:
        dns.add_a(name, "127.0.0.1")
    with ThreadPoolExecutor(FLOWS) as pool:
        chains = list(pool.map(lambda name: flow(served, http01, name), names))
    for name, chain in zip(names, chains, strict=True):
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [name]
    per_order = issued_per_order(served.home)
    assert len(per_order) == FLOWS and set(per_order.values()) == {1}
    assert acme_certificates(served.home) == FLOWS
    assert len({e["pid"] for e in served.access()}) > 1  # the work was shared
    assert_no_server_errors(served)


def test_nonces_travel_between_workers_and_are_spent_once(served: Served) -> None:
    raw = Raw(served)
    raw.register()
    assert raw.kid is not None

    def use_one(_: int) -> tuple[str, int, Answer]:
        nonce, issued_on = raw.nonce()
        return nonce, issued_on, raw.post(raw.kid, None, nonce)

    with ThreadPoolExecutor(8) as pool:
        used = list(pool.map(use_one, range(32)))
    assert [answer.status for _, _, answer in used] == [200] * len(used), [
        a.body for _, _, a in used if a.status != 200
    ]
    crossed = [
        1
        for _, issued_on, a in used
        if served.worker_of(issued_on) != served.worker_of(a.local_port)
    ]
    assert crossed  # a nonce minted by one worker was accepted by another

    with ThreadPoolExecutor(8) as pool:
        replays = list(pool.map(lambda u: (u[2], raw.post(raw.kid, None, u[0])), used))
    for _, replay in replays:
        assert replay.status == 400
        assert replay.json()["type"] == "urn:ietf:params:acme:error:badNonce"
    assert any(
        served.worker_of(first.local_port) != served.worker_of(replay.local_port)
        for first, replay in replays
    )  # refused by a worker other than the one that accepted it
    assert_no_server_errors(served)


def at_once(raw: Raw, url: str, bodies: list[bytes]) -> list[Answer]:
    """POST each body on its own connection, all released together by a barrier."""
    barrier = threading.Barrier(len(bodies))

    def send(body: bytes) -> Answer:
        barrier.wait(TIMEOUT)
        return raw.request("POST", url, body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_concurrent_finalizes_of_one_order_issue_one_certificate(
    served: Served, dns: DNSServer, http01: HTTP01Responder
) -> None:
    raw = Raw(served)
    raw.register()
    for attempt in range(4):
        name = f"race{attempt}.test"
        dns.add_a(name, "127.0.0.1")
        order = raw.ready_order(name, http01)
        csr, _ = make_csr(name)
        der = x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER)
        payload = {"csr": base64.urlsafe_b64encode(der).rstrip(b"=").decode()}
        bodies = [raw.signed(order["finalize"], payload, raw.nonce()[0]).encode() for _ in "ab"]
        answers = at_once(raw, order["finalize"], bodies)
        statuses = sorted(a.status for a in answers)
        assert statuses == [200, 403], [a.body for a in answers]
        refused = next(a for a in answers if a.status == 403).json()
        assert refused["type"] == "urn:ietf:params:acme:error:orderNotReady"
        assert next(a for a in answers if a.status == 200).json()["status"] == "valid"
    per_order = issued_per_order(served.home)
    assert len(per_order) == 4 and set(per_order.values()) == {1}
    assert acme_certificates(served.home) == 4
    assert_no_server_errors(served)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_worker_cleanly(served: Served, signum: int) -> None:
    raw = Raw(served)
    raw.register()
    workers = {e["pid"] for e in served.lines if e["message"].startswith("ACME directory")}
    assert len(workers) == WORKERS
    assert served.stop(signum) == 0
    time.sleep(0.5)  # the reader thread drains the last lines
    assert served.lines[-1]["message"] == "stopped"
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert_no_server_errors(served)
