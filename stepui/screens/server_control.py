"""The embedded ACME server: started by ``server.serve.serve`` in an async worker on the app's
own event loop, stopped through its shutdown trigger; its events and log lines are kept here
so the panel can show them whenever it is opened."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepui.events import Event

if TYPE_CHECKING:
    from stepui.app import StepuiApp

ROUTED_LOGGERS = ("hypercorn", "quart", "stepui")
KEPT_LINES = 2000
COUNTED = {
    "acme.account.created": "accounts",
    "acme.order.created": "orders",
    "acme.certificate.issued": "issued",
    "acme.challenge.failed": "failed validations",
}


@dataclass(frozen=True)
class LogLine:
    kind: str  # request | log | event
    text: str
    style: str = ""


class LogRouter(logging.Handler):
    """While the app runs, every log record (Hypercorn, Quart, stepui) goes to the panel and
    none reaches the terminal, which Textual owns: root handlers writing to the process's own
    stdout or stderr (``stepui``'s logging.basicConfig) are set aside until the app ends."""

    def __init__(self, sink: Callable[[logging.LogRecord], None]) -> None:
        super().__init__(logging.INFO)
        self.sink = sink
        self._saved: list[tuple[logging.Logger, int, bool]] = []
        self._terminal: list[logging.Handler] = []

    def install(self) -> None:
        root = logging.getLogger()
        self._terminal = [
            handler
            for handler in root.handlers
            if isinstance(handler, logging.StreamHandler)
            and handler.stream in (sys.__stderr__, sys.__stdout__)
        ]
        for handler in self._terminal:
            root.removeHandler(handler)
        root.addHandler(self)
        for name in ROUTED_LOGGERS:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level, logger.propagate))
            logger.setLevel(logging.INFO)
            logger.propagate = True

    def remove(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        for handler in self._terminal:
            root.addHandler(handler)
        self._terminal.clear()
        for logger, level, propagate in self._saved:
            logger.setLevel(level)
            logger.propagate = propagate
        self._saved.clear()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink(record)
        except Exception:  # the app is shutting down: drop the line, never print it
            pass


class ServerController:
    def __init__(self, app: StepuiApp) -> None:
        self.app = app
        self.running = False
        self.url = ""
        self.counters: Counter[str] = Counter()
        self.lines: deque[LogLine] = deque(maxlen=KEPT_LINES)
        self.listeners: list[Callable[[LogLine | None], None]] = []
        self._stop: asyncio.Event | None = None
        self._worker: Any = None

    # -- life cycle ------------------------------------------------------------------------
    def start(self, address: str | None = None, *, insecure_http: bool = False) -> None:
        if self.running or self._worker is not None:
            return
        self._stop = asyncio.Event()
        self._worker = self.app.run_worker(
            self._serve(address, insecure_http), group="acme-server", exit_on_error=False
        )

    async def _serve(self, address: str | None, insecure_http: bool) -> None:
        from server.serve import serve  # Quart and Hypercorn load only when serving

        assert self._stop is not None
        try:
            await serve(
                self.app.authority,
                address=address,
                insecure_http=insecure_http,
                shutdown_trigger=self._stop.wait,
                logger=logging.getLogger("stepui.server"),
                ready=self._ready,
            )
        except Exception as exc:  # a port in use, a bad address: say so in the panel
            self._add(LogLine("log", f"server failed: {exc}", "red"))
            self.app.notify(f"ACME server failed: {exc}", severity="error")
        finally:
            self.running = False
            self._worker = None
            self._add(LogLine("log", "server stopped", "dim"))

    def _ready(self, base: str) -> None:
        from server.serve import directory_url

        if not base.startswith("http"):
            base = f"https://{base}"
        self.running = True
        self.url = directory_url(self.app.authority, base=base)
        self._add(LogLine("log", f"serving {self.url}", "bold"))

    def planned_url(self, address: str | None = None) -> str:
        """The directory URL the server will have on ``address`` (the configured one, which
        honours ``external_url``, when None or unchanged)."""
        from server.serve import directory_url

        config = self.app.authority.config
        base = None if address in (None, "", config.server_address) else f"https://{address}"
        return directory_url(self.app.authority, base=base)

    async def stop(self) -> None:
        """Graceful: the shutdown trigger lets Hypercorn finish in-flight requests."""
        worker = self._worker
        if self._stop is not None:
            self._stop.set()
        if worker is not None:
            await worker.wait()

    # -- what the panel shows ----------------------------------------------------------------
    def _add(self, line: LogLine | None) -> None:
        if line is not None:
            self.lines.append(line)
        for listener in list(self.listeners):
            listener(line)

    def handle(self, event: Event) -> None:
        """Called on the loop for every Authority/server event (see ``AuthorityEvent``)."""
        data = event.data
        if event.kind == "log":
            self._add(LogLine("log", data["text"], data.get("style", "")))
        elif event.kind == "acme.request":
            status = int(data.get("status", 0))
            style = "red" if status >= 500 else "yellow" if status >= 400 else ""
            text = (
                f"{data.get('method', ''):<6} {status} {data.get('latency_ms', 0):>6.1f}ms "
                f"{data.get('path', '')} {data.get('account') or ''}"
            )
            self._add(LogLine("request", text.rstrip(), style))
        elif event.kind in COUNTED:
            self.counters[COUNTED[event.kind]] += 1
            self._add(None)

    def log_record(self, record: logging.LogRecord) -> None:
        """From the LogRouter, in whatever thread logged."""
        style = "dim"
        if record.levelno >= logging.WARNING:
            style = "red" if record.levelno >= logging.ERROR else "yellow"
        text = f"{record.name}: {record.getMessage()}"
        self.app.post_event(Event("log", {"text": text, "style": style}))
