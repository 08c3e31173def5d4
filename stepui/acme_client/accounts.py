"""One ACME account per server, kept in ``secrets/acme/<sha256 of the directory URL>.json``.

The file holds the account's private JWK and, once registered, its URL (the ``kid``), so the
account is created once and every later order, renewal and revocation reuses it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import josepy
from cryptography.hazmat.primitives.asymmetric import ec

from stepui.acme_client.errors import AcmeError
from stepui.acme_client.protocol import AcmeClient
from stepui.fsutil import PRIVATE_MODE, SECRET_DIR_MODE, ensure_dir, write_atomic


@dataclass
class Account:
    directory_url: str
    jwk: josepy.JWK
    url: str | None
    path: Path

    def save(self) -> None:
        data = {"directory": self.directory_url, "key": self.jwk.to_json(), "account": self.url}
        ensure_dir(self.path.parent, SECRET_DIR_MODE)
        write_atomic(self.path, (json.dumps(data, indent=2) + "\n").encode(), PRIVATE_MODE)


def account_path(home: Path, directory_url: str) -> Path:
    digest = hashlib.sha256(directory_url.encode()).hexdigest()
    return home / "secrets" / "acme" / f"{digest}.json"


def load_account(home: Path, directory_url: str) -> Account:
    """The saved account for this server, or a new EC P-256 key not yet registered."""
    path = account_path(home, directory_url)
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        return Account(directory_url, josepy.JWKEC(key=key), None, path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        jwk = josepy.JWK.from_json(data["key"])
    except (OSError, ValueError, KeyError, josepy.errors.DeserializationError) as exc:
        raise AcmeError(f"acme: cannot read the account file {path}: {exc}") from exc
    return Account(directory_url, jwk, data.get("account"), path)


def open_client(
    home: Path,
    directory_url: str,
    *,
    verify: object = True,
    eab: tuple[str, str] | None = None,
    contact: tuple[str, ...] = (),
    poll_timeout: float = 180.0,
) -> AcmeClient:
    """A client signed in with this server's account, registering it on first use (and again
    if the server no longer knows it, e.g. a test server that restarted)."""
    account = load_account(home, directory_url)
    client = AcmeClient(
        directory_url, account.jwk, verify=verify, kid=account.url, poll_timeout=poll_timeout
    )
    try:
        if account.url is None:
            account.url = client.register(contact=contact, eab=eab)
            account.save()
        else:
            try:
                client.register(only_existing=True)
            except AcmeError as exc:
                if exc.acme_type != "accountDoesNotExist":
                    raise
                account.url = client.register(contact=contact, eab=eab)
                account.save()
    except BaseException:
        client.close()
        raise
    return client
