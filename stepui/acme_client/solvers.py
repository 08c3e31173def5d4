"""Challenge solvers: how this client proves control of an identifier.

A solver starts what it needs for the order (``open``), publishes each challenge
(``present``), withdraws it (``cleanup``) and stops (``close``). http-01 and tls-alpn-01 use the
built-in responders; dns-01 calls a hook with lego's exec-provider contract
(``HOOK present|cleanup <fqdn> <value>``) or asks a person to publish the record.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from stepui.acme_client.errors import AcmeError
from stepui.acme_client.protocol import b64
from stepui.acme_client.responders import Http01Responder, TlsAlpn01Responder

log = logging.getLogger(__name__)

HOOK_TIMEOUT = 300


@dataclass(frozen=True)
class Challenge:
    identifier_type: str  # dns | ip
    identifier: str  # without "*." for a wildcard
    token: str
    key_authorization: str


class Solver:
    challenge_type: str = ""

    def open(self) -> None:
        """Start listening (before any challenge is presented)."""

    def present(self, challenge: Challenge) -> None:
        raise NotImplementedError

    def cleanup(self, challenge: Challenge) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop listening (after the order is done, whatever happened)."""


class Http01Solver(Solver):
    challenge_type = "http-01"

    def __init__(self, port: int = 80, host: str = "") -> None:
        self.responder = Http01Responder(port, host)

    def open(self) -> None:
        self.responder.start()

    def present(self, challenge: Challenge) -> None:
        self.responder.add(challenge.token, challenge.key_authorization)

    def cleanup(self, challenge: Challenge) -> None:
        self.responder.remove(challenge.token)

    def close(self) -> None:
        self.responder.stop()


class TlsAlpn01Solver(Solver):
    challenge_type = "tls-alpn-01"

    def __init__(self, port: int = 443, host: str = "") -> None:
        self.responder = TlsAlpn01Responder(port, host)

    def open(self) -> None:
        self.responder.start()

    def present(self, challenge: Challenge) -> None:
        self.responder.add(
            challenge.identifier_type, challenge.identifier, challenge.key_authorization
        )

    def cleanup(self, challenge: Challenge) -> None:
        self.responder.remove(challenge.identifier_type, challenge.identifier)

    def close(self) -> None:
        self.responder.stop()


def dns_record(challenge: Challenge) -> tuple[str, str]:
    """The TXT record dns-01 asks for (RFC 8555 §8.4): FQDN with the final dot, and value."""
    digest = hashlib.sha256(challenge.key_authorization.encode("ascii")).digest()
    return f"_acme-challenge.{challenge.identifier.rstrip('.')}.", b64(digest)


class Dns01Solver(Solver):
    """``hook`` is a command line; without one, ``prompt`` shows the record to a person and
    returns once it is published."""

    challenge_type = "dns-01"

    def __init__(
        self, hook: str | None = None, prompt: Callable[[str, str], None] | None = None
    ) -> None:
        if hook is None and prompt is None:
            raise AcmeError("acme: dns-01 needs --dns-hook CMD (or a terminal to ask on)")
        self.hook, self.prompt = hook, prompt

    def _run(self, action: str, fqdn: str, value: str) -> None:
        assert self.hook is not None
        command = [*shlex.split(self.hook), action, fqdn, value]
        log.info("dns-01: %s %s", action, fqdn)
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=HOOK_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AcmeError(f"acme: dns hook {action} {fqdn} failed: {exc}") from exc
        if result.returncode != 0:
            why = " ".join((result.stderr or result.stdout).split())[:300]
            raise AcmeError(
                f"acme: dns hook {action} {fqdn} exited {result.returncode}"
                + (f": {why}" if why else "")
            )

    def present(self, challenge: Challenge) -> None:
        fqdn, value = dns_record(challenge)
        if self.hook is not None:
            self._run("present", fqdn, value)
        else:
            assert self.prompt is not None
            self.prompt(fqdn, value)

    def cleanup(self, challenge: Challenge) -> None:
        if self.hook is None:
            return
        fqdn, value = dns_record(challenge)
        try:
            self._run("cleanup", fqdn, value)
        except AcmeError as exc:
            log.warning("%s", exc.message)
