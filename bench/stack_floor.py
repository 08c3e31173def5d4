"""The serving stack's own cost: server CPU per request before any ACME work is done.

stepui's ACME server is Quart on Hypercorn over TLS. This measures what that stack alone costs
per request, to set against the server CPU per flow that bench/acme_load.py prints: a stepui
flow is 5 requests, so 5 x the Quart figure is spent before a JWS is parsed. It serves two
do-nothing apps the way ``stepui --serve`` serves (one process, uvloop where installed, TLS with
an EC P-256 certificate, ALPN h2 and http/1.1; the clients keep HTTP/1.1 connections alive):

- ``asgi``:  a bare ASGI callable under Hypercorn (Hypercorn + h11 + TLS + the event loop);
- ``quart``: one Quart POST route (the above plus Quart's request and response machinery).

Each answers a ~700-byte JOSE-sized POST with a small JSON body and the headers an ACME answer
carries (Replay-Nonce, Link, Location, Cache-Control). C clients send N requests; the server's
utime+stime from /proc, before and after, gives CPU per request. It also times the one piece of
cryptography every ACME POST needs, an ECDSA P-256 signature check.

Run from the repository root:
    python bench/stack_floor.py              # N=4000 requests, C=8
    python bench/stack_floor.py -n 8000 -c 16
Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
BODY = b'{"protected": "%s", "payload": "", "signature": "%s"}' % (b"p" * 300, b"s" * 86)
ANSWER = b'{"status": "valid", "expires": "2026-12-10T00:00:00Z", "identifiers": []}'
HEADERS = [
    (b"content-type", b"application/json"),
    (b"replay-nonce", b"Xy3kd83jdu2-ZkqoeiSbeA"),
    (b"link", b'<https://127.0.0.1/acme/acme/directory>;rel="index"'),
    (b"location", b"https://127.0.0.1/acme/acme/order/Xy3kd83jdu2-ZkqoeiSbeA"),
    (b"cache-control", b"no-store"),
]
STEPUI_REQUESTS_PER_FLOW = 5


# -- the servers (run in a child process) ----------------------------------------------------
async def bare_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


def quart_app() -> Any:
    from quart import Quart, Response, request

    app = Quart("stack_floor")

    @app.post("/acme/acme/order/<name>")
    async def order(name: str) -> Response:
        await request.get_data()
        headers = {key.decode(): value.decode() for key, value in HEADERS[1:]}
        return Response(ANSWER, content_type="application/json", headers=headers)

    return app


def serve(kind: str, port: int, cert: str, key: str) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from server.cli import run_loop

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = cert, key
    config.alpn_protocols = ["h2", "http/1.1"]
    app = bare_asgi if kind == "asgi" else quart_app()
    run_loop(hypercorn_serve(app, config))  # type: ignore[arg-type]


# -- the load --------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def load(base: str, verify: ssl.SSLContext, pid: int, total: int, clients: int) -> float:
    """Server CPU milliseconds per request over ``total`` keep-alive POSTs."""
    url = f"{base}/acme/acme/order/Xy3kd83jdu2-ZkqoeiSbeA"
    headers = {"content-type": "application/jose+json"}
    async with httpx.AsyncClient(verify=verify, limits=httpx.Limits(max_connections=clients)) as c:

        async def client(count: int) -> None:
            for _ in range(count):
                (await c.post(url, content=BODY, headers=headers)).raise_for_status()

        await asyncio.gather(*(client(20) for _ in range(clients)))
        before = cpu_seconds(pid)
        await asyncio.gather(*(client(total // clients) for _ in range(clients)))
        return (cpu_seconds(pid) - before) * 1000 / (total // clients * clients)


def measure(kind: str, tls: tuple[Path, Path, Path], total: int, clients: int) -> float:
    from tests.pebble import free_port

    ca, cert, key = tls
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, __file__, "--serve", kind, str(port), str(cert), str(key)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    verify = ssl.create_default_context(cafile=str(ca))
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base, verify=verify, timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} server did not start") from None
                time.sleep(0.2)
        return asyncio.run(load(base, verify, process.pid, total, clients))
    finally:
        process.terminate()
        process.wait(timeout=30)


def ecdsa_verify_ms(rounds: int = 2000) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    public, data = key.public_key(), BODY
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    started = time.process_time()
    for _ in range(rounds):
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    return (time.process_time() - started) * 1000 / rounds


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=4000, help="timed requests")
    parser.add_argument("-c", "--concurrency", type=int, default=8, help="concurrent clients")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tests.pebble import tls_files

    if args.requests < args.concurrency or args.concurrency < 1:
        parser.error("need at least one client and one request per client")
    print(f"{os.cpu_count()} CPUs; N={args.requests} POSTs, C={args.concurrency}", flush=True)
    with tempfile.TemporaryDirectory(prefix="stack-floor-") as tmp:
        tls = tls_files(Path(tmp))
        for kind, label in (("asgi", "Hypercorn + TLS, bare ASGI"), ("quart", "+ one Quart route")):
            per_request = measure(kind, tls, args.requests, args.concurrency)
            print(
                f"{label:<28} {per_request:6.3f} ms CPU/request   x{STEPUI_REQUESTS_PER_FLOW} "
                f"requests = {per_request * STEPUI_REQUESTS_PER_FLOW:5.2f} ms per stepui flow",
                flush=True,
            )
    verify = ecdsa_verify_ms()
    print(
        f"{'ECDSA P-256 verify':<28} {verify:6.3f} ms CPU/request   x{STEPUI_REQUESTS_PER_FLOW} "
        f"requests = {verify * STEPUI_REQUESTS_PER_FLOW:5.2f} ms per stepui flow"
    )


if __name__ == "__main__":
    main()
