"""The URL shape of one provisioner, as step-ca spells it: ``/acme/<provisioner>/...``.

The base (scheme and host) is ``server.external_url`` when configured (behind a proxy), else
what the client used; the JWS ``url`` must equal the URL built here for the request.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Urls:
    base: str  # scheme://host[:port], no trailing slash
    provisioner: str

    @property
    def prefix(self) -> str:
        return f"{self.base}/acme/{self.provisioner}"

    @property
    def directory(self) -> str:
        return f"{self.prefix}/directory"

    @property
    def new_nonce(self) -> str:
        return f"{self.prefix}/new-nonce"

    @property
    def new_account(self) -> str:
        return f"{self.prefix}/new-account"

    @property
    def new_order(self) -> str:
        return f"{self.prefix}/new-order"

    @property
    def revoke_cert(self) -> str:
        return f"{self.prefix}/revoke-cert"

    @property
    def key_change(self) -> str:
        return f"{self.prefix}/key-change"

    @property
    def renewal_info(self) -> str:
        return f"{self.prefix}/renewal-info"

    @property
    def account_prefix(self) -> str:
        return f"{self.prefix}/account/"

    def account(self, account_id: str) -> str:
        return f"{self.account_prefix}{account_id}"

    def orders(self, account_id: str) -> str:
        return f"{self.account_prefix}{account_id}/orders"

    def order(self, order_id: str) -> str:
        return f"{self.prefix}/order/{order_id}"

    def finalize(self, order_id: str) -> str:
        return f"{self.prefix}/order/{order_id}/finalize"

    def authz(self, authz_id: str) -> str:
        return f"{self.prefix}/authz/{authz_id}"

    def challenge(self, challenge_id: str) -> str:
        return f"{self.prefix}/challenge/{challenge_id}"

    def certificate(self, serial: str, chain: int = 0) -> str:
        url = f"{self.prefix}/certificate/{serial}"
        return f"{url}/{chain}" if chain else url

    def index_link(self) -> str:
        return f'<{self.directory}>;rel="index"'
