"""Serve a Quart app with the real Hypercorn on a loopback port, in a thread, for tests that talk
to it with real clients (openssl, httpx). Plain HTTP: OCSP and CRL fetches are HTTP by design."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

START_TIMEOUT = 60


class ServedApp:
    def __init__(self, app: Any) -> None:
        self.app = app
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._fd = listener.detach()  # Hypercorn owns (and closes) the listening socket
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="served-app", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        config = Config()
        config.bind = [f"fd://{self._fd}"]
        config.accesslog = None
        self._started.set()
        await serve(self.app, config, shutdown_trigger=self._stop.wait)

    def __enter__(self) -> ServedApp:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT):
            raise RuntimeError("the test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT)
