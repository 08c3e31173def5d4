"""ACME load: complete issuance flows against stepui --serve and against Pebble, same run.

Each flow is newOrder -> authorization -> http-01 challenge -> (poll) -> finalize -> (poll) ->
certificate download, EC P-256, with account keys, certificate keys and CSRs made before the
clock starts. C concurrent clients (one account each, HTTP/1.1 keep-alive, nonces taken from
the previous answer) share N flows. The client polls every --poll seconds, or sooner when the
server's Retry-After says so, and skips a poll when an answer already shows the state it waits
for (a challenge answered ``valid``, a finalize answered ``valid``).

Printed per server: flows/s, p50/p95 flow latency, requests per flow, the server's CPU time
per flow (utime+stime of the server's process tree from /proc, measured around the timed
flows) and its peak memory (proportional set size, so forked workers' shared pages count
once). On a 2-core machine this generator competes with the server for CPU: server CPU per
flow is the figure to compare.

Run from the repository root:
    python bench/acme_load.py                      # N=200 flows, C=8, both servers
    python bench/acme_load.py -n 400 -c 8 -c 64    # several concurrency levels
    python bench/acme_load.py --workers 2          # stepui with 2 worker processes
Only loopback addresses are used. Pebble is Debian's /usr/bin/pebble with
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

REPO = Path(__file__).resolve().parent.parent
JOSE = "application/jose+json"
TICKS = os.sysconf("SC_CLK_TCK")
ZONE = "bench.test"
START_TIMEOUT = 60.0
FLOW_TIMEOUT = 60.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# -- the server's process tree, from /proc ---------------------------------------------------
def tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def memory_mb(pid: int) -> float:
    """Proportional set size of the tree: shared pages are split between the sharers."""
    total = 0
    for member in tree(pid):
        try:
            text = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total / 1024


# -- the http-01 responder -------------------------------------------------------------------
class Responder:
    """Answers ``GET /.well-known/acme-challenge/<token>`` from memory, one request per
    connection (what both validators send)."""

    def __init__(self) -> None:
        self.answers: dict[str, bytes] = {}
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            path = head.split(b" ", 2)[1].decode("latin-1")
            body = self.answers.get(path.rsplit("/", 1)[-1])
            status = b"200 OK" if body is not None else b"404 Not Found"
            body = body or b""
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: text/plain\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, TimeoutError, IndexError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


# -- the client ------------------------------------------------------------------------------
@dataclass
class Stats:
    requests: int = 0
    latencies: list[float] = field(default_factory=list)


class Account:
    def __init__(self, directory: dict[str, Any], http: httpx.AsyncClient, stats: Stats) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.jwk = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }
        canonical = json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()
        digest = hashes.Hash(hashes.SHA256())
        digest.update(canonical)
        self.thumbprint = b64(digest.finalize())
        self.directory = directory
        self.http = http
        self.stats = stats
        self.kid: str | None = None
        self.nonces: list[str] = []

    def _jws(self, url: str, payload: Any, nonce: str) -> bytes:
        header: dict[str, Any] = {"alg": "ES256", "nonce": nonce, "url": url}
        if self.kid is None:
            header["jwk"] = self.jwk
        else:
            header["kid"] = self.kid
        protected = b64(json.dumps(header).encode())
        body = b64(b"" if payload is None else json.dumps(payload).encode())
        der = self.key.sign(f"{protected}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return json.dumps(
            {"protected": protected, "payload": body, "signature": signature}
        ).encode()

    async def _nonce(self) -> str:
        if self.nonces:
            return self.nonces.pop()
        self.stats.requests += 1
        answer = await self.http.head(self.directory["newNonce"])
        return answer.headers["Replay-Nonce"]

    async def post(self, url: str, payload: Any = None) -> httpx.Response:
        for _ in range(3):
            body = self._jws(url, payload, await self._nonce())
            self.stats.requests += 1
            answer = await self.http.post(url, content=body, headers={"Content-Type": JOSE})
            if "Replay-Nonce" in answer.headers:
                self.nonces.append(answer.headers["Replay-Nonce"])
            if answer.status_code != 400 or b"badNonce" not in answer.content:
                return answer
        raise RuntimeError(f"{url}: badNonce three times")

    async def register(self) -> None:
        answer = await self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True})
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"newAccount: {answer.status_code} {answer.text}")
        self.kid = answer.headers["Location"]


def _wait(answer: httpx.Response, poll: float) -> float:
    try:
        return min(poll, float(answer.headers.get("Retry-After", poll)))
    except ValueError:
        return poll


def _ok(answer: httpx.Response, what: str) -> dict[str, Any]:
    if answer.status_code >= 300:
        raise RuntimeError(f"{what}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


async def flow(account: Account, responder: Responder, name: str, csr: str, poll: float) -> None:
    """One issuance with as few requests as the server's answers allow."""
    created = await account.post(
        account.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
    )
    order = _ok(created, "newOrder")
    order_url = created.headers["Location"]
    authz_url = order["authorizations"][0]
    authz = _ok(await account.post(authz_url), "authorization")
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    responder.answers[challenge["token"]] = f"{challenge['token']}.{account.thumbprint}".encode()
    answer = await account.post(challenge["url"], {})
    status = _ok(answer, "challenge")["status"]
    while status not in ("valid", "invalid"):
        await asyncio.sleep(_wait(answer, poll))
        answer = await account.post(authz_url)
        status = _ok(answer, "authorization poll")["status"]
    if status == "invalid":
        raise RuntimeError(f"{name}: validation failed: {answer.text[:300]}")
    responder.answers.pop(challenge["token"], None)
    answer = await account.post(order["finalize"], {"csr": csr})
    order = _ok(answer, "finalize")
    while order["status"] != "valid":
        if order["status"] == "invalid":
            raise RuntimeError(f"{name}: order invalid: {order}")
        await asyncio.sleep(_wait(answer, poll))
        answer = await account.post(order_url)
        order = _ok(answer, "order poll")
    answer = await account.post(order["certificate"])
    if answer.status_code != 200 or b"BEGIN CERTIFICATE" not in answer.content:
        raise RuntimeError(f"{name}: certificate download: {answer.status_code}")


def make_csrs(names: list[str]) -> list[str]:
    csrs = []
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        csrs.append(b64(csr.public_bytes(serialization.Encoding.DER)))
    return csrs


@dataclass
class Result:
    server: str
    concurrency: int
    flows: int
    seconds: float
    requests: int
    latencies: list[float]
    cpu: float
    memory: float

    @property
    def rate(self) -> float:
        return self.flows / self.seconds

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[q - 1] * 1000

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.flows

    @property
    def per_flow(self) -> float:
        return self.requests / self.flows


async def load(
    server: str,
    directory_url: str,
    verify: ssl.SSLContext,
    pid: int,
    responder: Responder,
    names: list[str],
    csrs: list[str],
    concurrency: int,
    poll: float,
) -> Result:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(FLOW_TIMEOUT)
    async with httpx.AsyncClient(verify=verify, limits=limits, timeout=timeout) as http:
        directory = (await http.get(directory_url)).json()
        stats = Stats()
        accounts = [Account(directory, http, stats) for _ in range(concurrency)]
        await asyncio.gather(*(a.register() for a in accounts))
        warm = concurrency
        await asyncio.gather(
            *(flow(a, responder, names[i], csrs[i], poll) for i, a in enumerate(accounts))
        )
        queue = list(range(warm, len(names)))
        peak = memory_mb(pid)

        async def client(account: Account) -> None:
            while queue:
                index = queue.pop(0)
                started = time.perf_counter()
                await flow(account, responder, names[index], csrs[index], poll)
                stats.latencies.append(time.perf_counter() - started)

        async def sample() -> None:
            nonlocal peak
            while True:
                await asyncio.sleep(0.25)
                peak = max(peak, memory_mb(pid))

        stats.requests = 0
        sampler = asyncio.create_task(sample())
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*(client(a) for a in accounts))
        seconds, cpu = time.perf_counter() - wall0, cpu_seconds(pid) - cpu0
        sampler.cancel()
        peak = max(peak, memory_mb(pid))
    flows = len(names) - warm
    return Result(server, concurrency, flows, seconds, stats.requests, stats.latencies, cpu, peak)


# -- the servers -----------------------------------------------------------------------------
def wait_until_up(url: str, verify: ssl.SSLContext, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            httpx.get(url, verify=verify, timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def start_stepui(
    work: Path, http_port: int, dns_port: int, workers: int
) -> tuple[subprocess.Popen[bytes], str, ssl.SSLContext]:
    from stepui.authority.service import Authority
    from tests.pebble import free_port

    home = work / "stepui"
    authority = Authority.open(home)
    authority.init("Bench", passwordless=True)
    authority.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPUI_")}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "stepui", "--serve", "--home", str(home)]
    command += ["--address", f"127.0.0.1:{port}", "--workers", str(workers)]
    command += ["--acme-http-port", str(http_port), "--resolver", f"127.0.0.1:{dns_port}"]
    log = (work / "stepui.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    verify = ssl.create_default_context(cafile=str(home / "certs" / "root_ca.crt"))
    base = f"https://127.0.0.1:{port}"
    wait_until_up(f"{base}/health", verify, process)
    return process, f"{base}/acme/acme/directory", verify


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def run(args: argparse.Namespace, work: Path) -> list[Result]:
    from tests.pebble import Pebble, free_port
    from tests.support.dns_server import DNSServer

    results: list[Result] = []
    dns = DNSServer(zones=(f"{ZONE}.",)).start()
    responder = Responder()
    try:
        http_port = free_port()
        await responder.start(http_port)
        for concurrency in args.concurrency:
            names = [f"f{i}.c{concurrency}.{ZONE}" for i in range(args.flows + concurrency)]
            for name in names:
                dns.add_a(name, "127.0.0.1")
            csrs = make_csrs(names)
            if "pebble" in args.servers:
                pebble = Pebble(work / f"pebble-{concurrency}", dns.port)
                pebble.directory.mkdir()
                pebble.start()
                try:
                    await responder.stop()
                    await responder.start(pebble.http_port)
                    assert pebble.process is not None
                    results.append(
                        await load(
                            "pebble",
                            pebble.url,
                            pebble.tls(),
                            pebble.process.pid,
                            responder,
                            names,
                            csrs,
                            concurrency,
                            args.poll,
                        )
                    )
                finally:
                    pebble.stop()
                print_result(results[-1])
            if "stepui" in args.servers:
                work_c = work / f"stepui-{concurrency}"
                work_c.mkdir()
                process, url, verify = start_stepui(
                    work_c, responder_port(responder), dns.port, args.workers
                )
                try:
                    results.append(
                        await load(
                            "stepui" if args.workers == 1 else f"stepui x{args.workers}",
                            url,
                            verify,
                            process.pid,
                            responder,
                            names,
                            csrs,
                            concurrency,
                            args.poll,
                        )
                    )
                finally:
                    stop(process)
                print_result(results[-1])
    finally:
        await responder.stop()
        dns.stop()
    return results


def responder_port(responder: Responder) -> int:
    assert responder.server is not None
    return responder.server.sockets[0].getsockname()[1]


HEADER = (
    f"{'server':<12}{'C':>4}{'flows':>7}{'flows/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
    f"{'req/flow':>10}{'CPU ms/flow':>13}{'peak MB':>9}"
)


def print_result(r: Result) -> None:
    print(
        f"{r.server:<12}{r.concurrency:>4}{r.flows:>7}{r.rate:>9.1f}{r.percentile(50):>9.0f}"
        f"{r.percentile(95):>9.0f}{r.per_flow:>10.2f}{r.cpu_ms:>13.2f}{r.memory:>9.0f}",
        flush=True,
    )


def print_ratios(results: list[Result]) -> None:
    for concurrency in sorted({r.concurrency for r in results}):
        pebble = next(
            (r for r in results if r.concurrency == concurrency and r.server == "pebble"), None
        )
        ours = next(
            (r for r in results if r.concurrency == concurrency and r.server != "pebble"), None
        )
        if pebble is None or ours is None:
            continue
        print(
            f"C={concurrency}: {ours.server}/pebble  flows/s x{ours.rate / pebble.rate:.2f}  "
            f"CPU/flow x{ours.cpu_ms / pebble.cpu_ms:.2f}  "
            f"requests/flow x{ours.per_flow / pebble.per_flow:.2f}  "
            f"p50 x{ours.percentile(50) / pebble.percentile(50):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--flows", type=int, default=200, help="timed flows (default 200)")
    parser.add_argument(
        "-c",
        "--concurrency",
        type=int,
        action="append",
        help="concurrent clients; repeat for several levels (default 8)",
    )
    parser.add_argument("--workers", type=int, default=1, help="stepui worker processes")
    parser.add_argument("--poll", type=float, default=0.05, help="longest poll interval, seconds")
    parser.add_argument(
        "--servers", default="pebble,stepui", help="comma-separated: pebble, stepui"
    )
    args = parser.parse_args()
    args.concurrency = args.concurrency or [8]
    args.servers = set(args.servers.split(","))
    if args.flows < 20 or min(args.concurrency) < 1:
        parser.error("need at least 20 flows and 1 client")
    sys.path.insert(0, str(REPO))
    print(f"{os.cpu_count()} CPUs; N={args.flows} timed flows after C warm-up flows", flush=True)
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="acme-load-") as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    print_ratios(results)


if __name__ == "__main__":
    main()
