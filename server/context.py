"""What every ACME handler works with: the shared server state (:class:`Acme`), one request's
view of it (:class:`Call`) and the answer a handler gives (:class:`Reply`).

Handlers are plain functions of a Call, free of Quart, so the web layer (``server.app``) is the
only place that knows about HTTP frameworks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.jws import Verified
from server.problems import Problem
from server.urls import Urls
from server.validation import ValidationSettings
from stepui.authority.service import Authority
from stepui.config import Provisioner, parse_address
from stepui.events import Events
from stepui.store.acme import Account, AcmeStore

log = logging.getLogger("stepui.server")


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    content_type: str = "application/json"


class Acme:
    """Server-wide state shared by all requests of one process (nothing here is ACME state:
    that lives in the database)."""

    def __init__(self, authority: Authority, events: Events) -> None:
        self.authority = authority
        self.store: AcmeStore = authority.store.acme
        self.events = events
        self._tasks: set[asyncio.Task[None]] = set()

    def provisioner(self, name: str) -> Provisioner:
        provisioner = self.authority.config.provisioners.get(name)
        if provisioner is None:
            raise Problem("malformed", f"no ACME provisioner {name!r}", status=404)
        return provisioner

    def validation_settings(self) -> ValidationSettings:
        config = self.authority.config
        return ValidationSettings(
            http_port=config.acme_http_port,
            tls_port=config.acme_tls_port,
            resolver=parse_address(config.acme_resolver) if config.acme_resolver else None,
            timeout=config.validation_timeout.total_seconds(),
        )

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run work past the request that started it, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class Call:
    """One authenticated ACME request."""

    acme: Acme
    provisioner: Provisioner
    urls: Urls
    now: datetime
    verified: Verified
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def account(self) -> Account:
        account = self.verified.account
        if account is None:
            raise Problem("malformed", "this request must be signed with kid (an account URL)")
        return account

    @property
    def store(self) -> AcmeStore:
        return self.acme.store

    @property
    def authority(self) -> Authority:
        return self.acme.authority

    def owned(self, owner_id: str, what: str) -> None:
        """Objects belong to the account that created them; anyone else gets 403."""
        if owner_id != self.account.id:
            raise Problem("unauthorized", f"this {what} belongs to another account")
