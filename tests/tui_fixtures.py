"""Build the workbench over a real data dir with fixture data whose pictures never change.

Stable pictures need three things: a frozen clock (injected into the Authority), serials from a
counter, and key material derived from fixed numbers. The CA keys are Ed25519, whose signatures
are deterministic, so every certificate, PEM and fingerprint is byte-for-byte the same on every
run. ``cryptography`` cannot seed its key generator, hence the two patched module attributes
while the fixture data is created (and only then).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from stepui.app import PasswordBox, StepuiApp
from stepui.authority.models import IssueRequest
from stepui.authority.service import Authority
from stepui.pki.keys import generate_key

FROZEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class Clock:
    """A clock tests set by hand."""

    def __init__(self, now: datetime = FROZEN) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# Where the Authority makes keys and serials (the service, or its parts once split).
KEY_USERS = ("stepui.authority.service", "stepui.authority.cas", "stepui.authority.issuance")


@contextmanager
def fixed_key_material() -> Iterator[None]:
    serials = itertools.count(0x5E0000)
    numbers = itertools.count(1)

    def key(key_type: str = "ec-p256"):
        number = next(numbers)
        if key_type == "ed25519":
            return ed25519.Ed25519PrivateKey.from_private_bytes(number.to_bytes(32, "big"))
        if key_type == "ec-p256":
            return ec.derive_private_key(10**30 + number, ec.SECP256R1())
        return generate_key(key_type)

    with ExitStack() as stack:
        present = [name for name in KEY_USERS if importlib.util.find_spec(name) is not None]
        for module in map(importlib.import_module, present):
            for name, fake in (("generate_key", key), ("new_serial", lambda: next(serials))):
                if hasattr(module, name):
                    stack.enter_context(mock.patch.object(module, name, fake))
        yield


# (common name, extra SANs, lifetime, days before FROZEN it was issued, revoked)
FIXTURE_CERTS = [
    ("web.internal", ["www.internal"], timedelta(days=90), 10, False),
    ("api.internal", ["10.0.0.5"], timedelta(days=90), 80, False),
    ("db.internal", [], timedelta(days=30), 29, False),
    ("mail.internal", ["smtp.internal", "imap.internal"], timedelta(days=60), 5, False),
    ("old.internal", [], timedelta(days=30), 45, False),
    ("legacy.internal", [], timedelta(days=14), 40, False),
    ("vpn.internal", ["vpn2.internal"], timedelta(days=90), 20, True),
    ("grafana.internal", [], timedelta(days=1), 0, False),
    ("git.internal", [], timedelta(days=90), 60, False),
    ("ci.internal", ["runner.internal"], timedelta(days=45), 12, False),
    ("ldap.internal", [], timedelta(days=90), 88, True),
    ("proxy.internal", [], timedelta(days=7), 3, False),
]


def seed(authority: Authority, clock: Clock) -> None:
    """A dev CA (root + intermediate) and a dozen certificates in every state."""
    with fixed_key_material():
        clock.now = FROZEN - timedelta(days=100)
        authority.init("Example", passwordless=True, key_type="ed25519", actor="fixture")
        for cn, sans, lifetime, age, revoked in FIXTURE_CERTS:
            clock.now = FROZEN - timedelta(days=age)
            issued = authority.issue(
                IssueRequest(
                    subject=f"CN={cn}",
                    sans=[cn, *sans],
                    lifetime=lifetime,
                    requester="fixture" if age % 3 else "acme",
                )
            )
            if revoked:
                authority.revoke(issued.serial, "keyCompromise", actor="fixture")
    clock.now = FROZEN


def open_authority(home: Path, clock: Clock, password: PasswordBox | None = None) -> Authority:
    return Authority.open(home, password=password or PasswordBox(), clock=clock)


def build_app(home: Path, *, seeded: bool = True, clock: Clock | None = None) -> StepuiApp:
    """The app over ``home``; seeded with the fixture CA and certificates unless told not to."""
    clock = clock or Clock()
    box = PasswordBox()
    authority = open_authority(home, clock, box)
    if seeded:
        seed(authority, clock)
    return StepuiApp(authority, password_box=box)
