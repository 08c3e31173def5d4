"""CA private keys on disk: ``secrets/<ca-id>.key``, PKCS#8, mode 0600, encrypted with the CA
password unless the user asked for a passwordless dev CA."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from stepui.errors import Conflict, WrongPassword
from stepui.fsutil import PRIVATE_MODE, SECRET_DIR_MODE, StagedFiles, ensure_dir
from stepui.pki.keys import PrivateKey, load_private_key, private_key_pem

PasswordProvider = Callable[[], bytes | None]


class KeyStore:
    def __init__(self, directory: Path, password: PasswordProvider) -> None:
        self.directory = directory
        self._provider = password
        self._password: bytes | None = None
        self._asked = False

    def password(self) -> bytes | None:
        """Ask the provider once (it may prompt); later calls reuse the answer."""
        if not self._asked:
            self._password = self._provider()
            self._asked = True
        return self._password

    def stage(
        self, files: StagedFiles, ca_id: str, key: PrivateKey, *, encrypt: bool
    ) -> tuple[str, bool]:
        """Stage the key file; returns (file name relative to the secrets dir, encrypted)."""
        password = self.password() if encrypt else None
        if encrypt and not password:
            raise WrongPassword(
                "the CA keys are encrypted: give the password (prompt, --password-file or "
                "STEPUI_PASSWORD), or use --no-password for a local dev CA"
            )
        ensure_dir(self.directory, SECRET_DIR_MODE)
        name = f"{ca_id}.key"
        if self.exists(ca_id):
            raise Conflict(f"{self.directory / name} already exists; a key is never overwritten")
        files.add(self.directory / name, private_key_pem(key, password), PRIVATE_MODE)
        return name, bool(password)

    def exists(self, ca_id: str) -> bool:
        """Whether a key file for this id (or any other file of that name) is already there."""
        return (self.directory / f"{ca_id}.key").exists()

    def load(self, name: str, encrypted: bool) -> PrivateKey:
        data = (self.directory / name).read_bytes()
        password = self.password() if encrypted else None
        if encrypted and not password:
            raise WrongPassword(
                "the CA key is encrypted: give its password (prompt, --password-file or "
                "STEPUI_PASSWORD)"
            )
        try:
            return load_private_key(data, password)
        except WrongPassword:
            self._asked = False
            raise WrongPassword("wrong CA password") from None
