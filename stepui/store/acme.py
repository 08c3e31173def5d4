"""The ACME server's state: nonces, accounts, orders, authorizations and challenges.

Everything lives in the database (not in process memory) so that several server processes can
share one file. Each state change is one transaction, and every transition is a conditional
UPDATE (``... WHERE status = 'pending'``) so that two processes racing on the same object
cannot both win.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stepui.errors import Conflict
from stepui.store.db import Database
from stepui.store.eab import bind
from stepui.store.records import from_db_time, to_db_time

NONCE_LIFETIME = timedelta(hours=1)
NONCE_PRUNE_EVERY = 500


def new_id() -> str:
    """128 random bits, base64url: object ids in URLs and nonces."""
    return secrets.token_urlsafe(16)


def new_token() -> str:
    """256 random bits for challenge tokens (RFC 8555 §8.1 asks for at least 128)."""
    return secrets.token_urlsafe(32)


def _time(text: str | None) -> datetime | None:
    return from_db_time(text) if text else None


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


@dataclass(frozen=True)
class Account:
    id: str
    provisioner: str
    thumbprint: str  # base64url SHA-256 JWK thumbprint (RFC 7638)
    jwk: str  # the public JWK as canonical JSON text
    status: str
    contact: tuple[str, ...]
    terms_agreed: bool
    created_at: datetime
    eab_key_id: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Account:
        return cls(
            id=row["id"],
            provisioner=row["provisioner"],
            thumbprint=row["thumbprint"],
            jwk=row["jwk"],
            status=row["status"],
            contact=tuple(json.loads(row["contact"])),
            terms_agreed=bool(row["terms_agreed"]),
            created_at=from_db_time(row["created_at"]),
            eab_key_id=row["eab_key_id"],
        )


@dataclass(frozen=True)
class Challenge:
    id: str
    authz_id: str
    type: str
    token: str
    status: str
    validated: datetime | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Challenge:
        return cls(
            id=row["id"],
            authz_id=row["authz_id"],
            type=row["type"],
            token=row["token"],
            status=row["status"],
            validated=_time(row["validated"]),
            error=_json(row["error"]),
        )


@dataclass(frozen=True)
class Authorization:
    id: str
    order_id: str
    account_id: str
    identifier_type: str
    identifier_value: str
    wildcard: bool
    status: str
    expires: datetime
    challenges: tuple[Challenge, ...] = ()

    @classmethod
    def from_row(cls, row: sqlite3.Row, challenges: Sequence[Challenge] = ()) -> Authorization:
        return cls(
            id=row["id"],
            order_id=row["order_id"],
            account_id=row["account_id"],
            identifier_type=row["identifier_type"],
            identifier_value=row["identifier_value"],
            wildcard=bool(row["wildcard"]),
            status=row["status"],
            expires=from_db_time(row["expires"]),
            challenges=tuple(challenges),
        )


@dataclass(frozen=True)
class Order:
    id: str
    account_id: str
    status: str
    identifiers: tuple[tuple[str, str], ...]  # (type, value), in the client's order
    expires: datetime
    created_at: datetime
    not_before: datetime | None = None
    not_after: datetime | None = None
    error: dict[str, Any] | None = None
    certificate: str | None = None  # hex serial once issued
    profile: str | None = None
    replaces: str | None = None
    authz_ids: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: sqlite3.Row, authz: Sequence[sqlite3.Row] = ()) -> Order:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            status=row["status"],
            identifiers=tuple((t, v) for t, v in json.loads(row["identifiers"])),
            expires=from_db_time(row["expires"]),
            created_at=from_db_time(row["created_at"]),
            not_before=_time(row["not_before"]),
            not_after=_time(row["not_after"]),
            error=_json(row["error"]),
            certificate=row["certificate"],
            profile=row["profile"],
            replaces=row["replaces"],
            authz_ids=tuple(a["id"] for a in authz),
        )


@dataclass(frozen=True)
class NewAuthorization:
    """What newOrder asks the store to create for one identifier."""

    identifier_type: str
    identifier_value: str
    wildcard: bool
    challenge_types: tuple[str, ...]
    id: str = field(default_factory=new_id)


class AcmeStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._issued = 0

    # -- nonces ------------------------------------------------------------------------------
    def new_nonce(self, now: datetime) -> str:
        nonce = new_id()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO acme_nonces (nonce, created_at) VALUES (?, ?)",
                (nonce, to_db_time(now)),
            )
            self._prune(conn, now)
        return nonce

    def consume_nonce(self, nonce: str, now: datetime) -> tuple[bool, str]:
        """Spend ``nonce`` and mint the next one in the same transaction: (was it good, next)."""
        fresh = new_id()
        with self.db.transaction() as conn:
            row = conn.execute(
                "DELETE FROM acme_nonces WHERE nonce = ? RETURNING created_at", (nonce,)
            ).fetchone()
            conn.execute(
                "INSERT INTO acme_nonces (nonce, created_at) VALUES (?, ?)",
                (fresh, to_db_time(now)),
            )
            self._prune(conn, now)
        good = row is not None and from_db_time(row[0]) > now - NONCE_LIFETIME
        return good, fresh

    def _prune(self, conn: sqlite3.Connection, now: datetime) -> None:
        self._issued += 1
        if self._issued % NONCE_PRUNE_EVERY == 0:
            conn.execute(
                "DELETE FROM acme_nonces WHERE created_at < ?", (to_db_time(now - NONCE_LIFETIME),)
            )

    # -- accounts ----------------------------------------------------------------------------
    def account(self, account_id: str) -> Account | None:
        row = self.db.query_one("SELECT * FROM acme_accounts WHERE id = ?", (account_id,))
        return Account.from_row(row) if row else None

    def account_by_key(self, provisioner: str, thumbprint: str) -> Account | None:
        row = self.db.query_one(
            "SELECT * FROM acme_accounts WHERE provisioner = ? AND thumbprint = ?",
            (provisioner, thumbprint),
        )
        return Account.from_row(row) if row else None

    def key_in_use(self, thumbprint: str) -> bool:
        """Whether any account, on any provisioner, has this key (RFC 8555 §11.1)."""
        row = self.db.query_one(
            "SELECT 1 FROM acme_accounts WHERE thumbprint = ? LIMIT 1", (thumbprint,)
        )
        return row is not None

    def create_account(
        self,
        provisioner: str,
        thumbprint: str,
        jwk: str,
        contact: Sequence[str],
        terms_agreed: bool,
        now: datetime,
        eab: tuple[str, dict[str, Any]] | None = None,
    ) -> tuple[Account, bool]:
        """(account, created); a concurrent creation with the same key returns the winner's.
        ``eab`` (key ID, binding JWS) binds that EAB key to the new account in the same
        transaction, or refuses the account when the key is bound already."""
        account_id = new_id()
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO acme_accounts (id, provisioner, thumbprint, jwk, status, "
                "contact, terms_agreed, eab_key_id, created_at) "
                "VALUES (?, ?, ?, ?, 'valid', ?, ?, ?, ?)",
                (
                    account_id,
                    provisioner,
                    thumbprint,
                    jwk,
                    json.dumps(list(contact)),
                    int(terms_agreed),
                    eab[0] if eab else None,
                    to_db_time(now),
                ),
            )
            created = cursor.rowcount == 1
            if created and eab is not None:
                bind(conn, eab[0], account_id, eab[1], now)
        account = self.account_by_key(provisioner, thumbprint)
        assert account is not None
        return account, created

    def change_key(self, account_id: str, old_thumbprint: str, thumbprint: str, jwk: str) -> bool:
        """Roll the account over to a new key (RFC 8555 §7.3.5), only while it still has the old
        key and no account anywhere has the new one."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE acme_accounts SET thumbprint = ?, jwk = ? WHERE id = ? AND thumbprint = ? "
                "AND NOT EXISTS (SELECT 1 FROM acme_accounts WHERE thumbprint = ?)",
                (thumbprint, jwk, account_id, old_thumbprint, thumbprint),
            )
            return cursor.rowcount == 1

    def account_with_key(self, thumbprint: str) -> Account | None:
        """The account, on any provisioner, that has this key."""
        row = self.db.query_one(
            "SELECT * FROM acme_accounts WHERE thumbprint = ? LIMIT 1", (thumbprint,)
        )
        return Account.from_row(row) if row else None

    def update_account(
        self, account_id: str, *, contact: Sequence[str] | None = None, status: str | None = None
    ) -> Account:
        with self.db.transaction() as conn:
            if contact is not None:
                conn.execute(
                    "UPDATE acme_accounts SET contact = ? WHERE id = ?",
                    (json.dumps(list(contact)), account_id),
                )
            if status is not None:
                conn.execute(
                    "UPDATE acme_accounts SET status = ? WHERE id = ?", (status, account_id)
                )
            if status == "deactivated":
                conn.execute(
                    "UPDATE acme_authorizations SET status = 'deactivated' "
                    "WHERE account_id = ? AND status IN ('pending', 'valid')",
                    (account_id,),
                )
        account = self.account(account_id)
        assert account is not None
        return account

    # -- orders ------------------------------------------------------------------------------
    def create_order(
        self,
        account_id: str,
        identifiers: Sequence[tuple[str, str]],
        authorizations: Sequence[NewAuthorization],
        *,
        expires: datetime,
        now: datetime,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        profile: str | None = None,
        replaces: str | None = None,
    ) -> Order:
        order_id = new_id()
        expires_text = to_db_time(expires)
        with self.db.transaction() as conn:
            if replaces is not None and _replaced(conn, replaces, now):
                raise Conflict(
                    f"certificate {replaces} has already been replaced",
                    acme_type="alreadyReplaced",
                )
            conn.execute(
                "INSERT INTO acme_orders (id, account_id, status, identifiers, not_before, "
                "not_after, expires, profile, replaces, created_at) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    account_id,
                    json.dumps([list(i) for i in identifiers]),
                    to_db_time(not_before) if not_before else None,
                    to_db_time(not_after) if not_after else None,
                    expires_text,
                    profile,
                    replaces,
                    to_db_time(now),
                ),
            )
            conn.executemany(
                "INSERT INTO acme_authorizations (id, order_id, account_id, identifier_type, "
                "identifier_value, wildcard, status, expires, position) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                [
                    (
                        a.id,
                        order_id,
                        account_id,
                        a.identifier_type,
                        a.identifier_value,
                        int(a.wildcard),
                        expires_text,
                        position,
                    )
                    for position, a in enumerate(authorizations)
                ],
            )
            conn.executemany(
                "INSERT INTO acme_challenges (id, authz_id, type, token, status, position) "
                "VALUES (?, ?, ?, ?, 'pending', ?)",
                [
                    (new_id(), a.id, kind, new_token(), position)
                    for a in authorizations
                    for position, kind in enumerate(a.challenge_types)
                ],
            )
        return Order(
            id=order_id,
            account_id=account_id,
            status="pending",
            identifiers=tuple(identifiers),
            expires=from_db_time(expires_text),
            created_at=now,
            not_before=not_before,
            not_after=not_after,
            profile=profile,
            replaces=replaces,
            authz_ids=tuple(a.id for a in authorizations),
        )

    def order(self, order_id: str) -> Order | None:
        row = self.db.query_one("SELECT * FROM acme_orders WHERE id = ?", (order_id,))
        if row is None:
            return None
        authz = self.db.query(
            "SELECT id, status FROM acme_authorizations WHERE order_id = ? ORDER BY position",
            (order_id,),
        )
        return Order.from_row(row, authz)

    def order_ids(
        self, account_id: str, *, after: int = 0, limit: int = 100
    ) -> tuple[list[str], int | None]:
        """One page of the account's orders that are not invalid: (ids, next cursor)."""
        rows = self.db.query(
            "SELECT rowid, id FROM acme_orders WHERE account_id = ? AND status != 'invalid' "
            "AND rowid > ? ORDER BY rowid LIMIT ?",
            (account_id, after, limit + 1),
        )
        cursor = rows[limit - 1]["rowid"] if len(rows) > limit else None
        return [r["id"] for r in rows[:limit]], cursor

    def transition_order(
        self,
        order_id: str,
        from_status: str,
        to_status: str,
        *,
        certificate: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Move an order between states only if it is still in ``from_status``."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE acme_orders SET status = ?, certificate = COALESCE(?, certificate), "
                "error = COALESCE(?, error) WHERE id = ? AND status = ?",
                (
                    to_status,
                    certificate,
                    json.dumps(error) if error else None,
                    order_id,
                    from_status,
                ),
            )
            return cursor.rowcount == 1

    # -- authorizations and challenges -------------------------------------------------------
    def authorization(self, authz_id: str) -> Authorization | None:
        row = self.db.query_one("SELECT * FROM acme_authorizations WHERE id = ?", (authz_id,))
        if row is None:
            return None
        challenges = self.db.query(
            "SELECT * FROM acme_challenges WHERE authz_id = ? ORDER BY position", (authz_id,)
        )
        return Authorization.from_row(row, [Challenge.from_row(c) for c in challenges])

    def challenge(self, challenge_id: str) -> tuple[Challenge, Authorization] | None:
        row = self.db.query_one(
            "SELECT authz_id FROM acme_challenges WHERE id = ?", (challenge_id,)
        )
        authz = self.authorization(row["authz_id"]) if row else None
        if authz is None:
            return None
        challenge = next(c for c in authz.challenges if c.id == challenge_id)
        return challenge, authz

    def start_challenge(self, challenge_id: str, authz_id: str) -> bool:
        """pending → processing, only while its authorization is still pending."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE acme_challenges SET status = 'processing' WHERE id = ? "
                "AND status = 'pending' AND EXISTS (SELECT 1 FROM acme_authorizations "
                "WHERE id = ? AND status = 'pending')",
                (challenge_id, authz_id),
            )
            return cursor.rowcount == 1

    def finish_challenge(
        self,
        challenge: Challenge,
        order_id: str,
        now: datetime,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Record a validation outcome and carry it up: challenge, authorization, order."""
        valid = error is None
        error_text = json.dumps(error) if error else None
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE acme_challenges SET status = ?, validated = ?, error = ? "
                "WHERE id = ? AND status = 'processing'",
                (
                    "valid" if valid else "invalid",
                    to_db_time(now) if valid else None,
                    error_text,
                    challenge.id,
                ),
            )
            conn.execute(
                "UPDATE acme_authorizations SET status = ? WHERE id = ? AND status = 'pending'",
                ("valid" if valid else "invalid", challenge.authz_id),
            )
            if valid:
                conn.execute(
                    "UPDATE acme_orders SET status = 'ready' WHERE id = ? AND status = 'pending' "
                    "AND NOT EXISTS (SELECT 1 FROM acme_authorizations "
                    "WHERE order_id = ? AND status != 'valid')",
                    (order_id, order_id),
                )
            else:
                conn.execute(
                    "UPDATE acme_orders SET status = 'invalid', error = ? "
                    "WHERE id = ? AND status = 'pending'",
                    (error_text, order_id),
                )

    def deactivate_authorization(self, authz: Authorization) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE acme_authorizations SET status = 'deactivated' "
                "WHERE id = ? AND status IN ('pending', 'valid')",
                (authz.id,),
            )
            if cursor.rowcount != 1:
                return False
            conn.execute(
                "UPDATE acme_orders SET status = 'invalid' "
                "WHERE id = ? AND status IN ('pending', 'ready')",
                (authz.order_id,),
            )
            return True

    def authorized_values(self, account_id: str, values: Sequence[str], now: datetime) -> set[str]:
        """Which identifier values the account holds a valid, unexpired authorization for."""
        if not values:
            return set()
        marks = ", ".join("?" * len(values))
        rows = self.db.query(
            f"SELECT DISTINCT identifier_value FROM acme_authorizations WHERE account_id = ? "
            f"AND status = 'valid' AND expires > ? AND identifier_value IN ({marks})",
            (account_id, to_db_time(now), *values),
        )
        return {r[0] for r in rows}


def _replaced(conn: sqlite3.Connection, serial: str, now: datetime) -> bool:
    """RFC 9773 §5: a certificate is replaced once an order that is not invalid (nor expired
    before finalizing) names it in ``replaces``, or a certificate records it as replaced."""
    row = conn.execute(
        "SELECT 1 FROM acme_orders WHERE replaces = ? AND (status IN ('processing', 'valid') "
        "OR (status IN ('pending', 'ready') AND expires > ?)) "
        "UNION ALL SELECT 1 FROM certificates WHERE replaces = ? LIMIT 1",
        (serial, to_db_time(now), serial),
    ).fetchone()
    return row is not None
