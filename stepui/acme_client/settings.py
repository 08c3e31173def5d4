"""The saved way a managed certificate is obtained over ACME, and running it again.

``ca issue NAME --acme`` stores these settings with the managed certificate so that
``ca renew`` goes through the same server, challenge and options without being told again.
EAB credentials are not stored: they are only needed once, to create the account.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from stepui.acme_client.accounts import load_account, open_client
from stepui.acme_client.errors import AcmeError
from stepui.acme_client.flow import Obtained, SuggestedWindow, cert_id, obtain, suggested_window
from stepui.acme_client.protocol import AcmeClient
from stepui.acme_client.solvers import Dns01Solver, Http01Solver, Solver, TlsAlpn01Solver
from stepui.pki.keys import PrivateKey

if TYPE_CHECKING:
    from cryptography import x509

    from stepui.authority import Authority


@dataclass(frozen=True)
class AcmeSettings:
    directory: str
    sans: list[str]
    challenge: str = "http-01"
    http_port: int = 80
    tls_port: int = 443
    bind: str = ""  # address the responders listen on; empty: all interfaces
    dns_hook: str | None = None
    ca_bundle: str | None = None  # a file; None: this CA's roots for its own server, else system
    own_server: bool = False
    profile: str | None = None
    key_type: str = "ec-p256"
    contact: list[str] = field(default_factory=list)

    def to_method(self) -> dict[str, Any]:
        return {"kind": "acme", **asdict(self)}

    @classmethod
    def from_method(cls, method: dict[str, Any]) -> AcmeSettings:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in method.items() if k in known})

    def verify(self, authority: Authority) -> ssl.SSLContext | bool:
        """What to trust for the server's TLS: --ca-bundle, this CA's roots, or the system."""
        if self.ca_bundle:
            try:
                return ssl.create_default_context(cafile=self.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise AcmeError(f"acme: cannot use --ca-bundle {self.ca_bundle}: {exc}") from exc
        if self.own_server:
            roots = authority.roots_pem().decode()
            if not roots:
                raise AcmeError("acme: this CA has no root yet to trust its own server with")
            return ssl.create_default_context(cadata=roots)
        return True

    def solver(self, prompt: Callable[[str, str], None] | None = None) -> Solver:
        if self.challenge == "http-01":
            return Http01Solver(self.http_port, self.bind)
        if self.challenge == "tls-alpn-01":
            return TlsAlpn01Solver(self.tls_port, self.bind)
        if self.challenge == "dns-01":
            return Dns01Solver(self.dns_hook, prompt)
        raise AcmeError(f"acme: unknown challenge type {self.challenge!r}")

    def client(self, authority: Authority, eab: tuple[str, str] | None = None) -> AcmeClient:
        return open_client(
            authority.home,
            self.directory,
            verify=self.verify(authority),
            eab=eab,
            contact=tuple(self.contact),
        )

    def obtain(
        self,
        authority: Authority,
        key: PrivateKey,
        *,
        eab: tuple[str, str] | None = None,
        replacing: x509.Certificate | None = None,
        prompt: Callable[[str, str], None] | None = None,
    ) -> Obtained:
        """One order with these settings; ``replacing`` is sent as ARI ``replaces`` when the
        server offers renewalInfo (RFC 9773 §5)."""
        with self.client(authority, eab) as client:
            replaces = None
            if replacing is not None and "renewalInfo" in client.directory:
                replaces = cert_id(replacing)
            return obtain(
                client,
                self.sans,
                self.solver(prompt),
                key,
                profile=self.profile,
                replaces=replaces,
            )

    def window(self, authority: Authority, cert: x509.Certificate) -> SuggestedWindow | None:
        """The server's suggested renewal window (no account needed), or None."""
        account = load_account(authority.home, self.directory)
        with AcmeClient(self.directory, account.jwk, verify=self.verify(authority)) as client:
            return suggested_window(client, cert)
