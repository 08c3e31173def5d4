"""ACME Renewal Information (RFC 9773): the suggested renewal window of a certificate, and the
certificate identifier (CertID) that renewalInfo and newOrder's ``replaces`` name it by.

The window is the fifth sixth of the certificate's lifetime (from 2/3 to 5/6: inside the last
third, leaving the final sixth to retry in); a revoked certificate should be replaced now.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from cryptography import x509

from server.context import Acme, Reply
from server.jws import b64url_decode, b64url_encode
from server.problems import Problem
from stepui.pki.timespec import rfc3339
from stepui.store import CertificateRecord

MAX_RETRY_AFTER = timedelta(hours=6)
MIN_RETRY_AFTER = timedelta(minutes=1)
REVOKED_WINDOW = timedelta(minutes=1)  # ends now: a client's random pick is already due


def parse_cert_id(cert_id: str) -> tuple[bytes, int]:
    """(authority key identifier, serial) from ``base64url(AKI).base64url(serial DER bytes)``."""
    aki_text, dot, serial_text = cert_id.partition(".")
    if not dot or not aki_text or not serial_text:
        raise Problem("malformed", f"{cert_id!r} is not a CertID (AKI.serial, RFC 9773 §4.1)")
    aki = b64url_decode(aki_text, "the CertID's key identifier")
    serial = b64url_decode(serial_text, "the CertID's serial")
    if serial[0] & 0x80 or (len(serial) > 1 and serial[0] == 0 and not serial[1] & 0x80):
        raise Problem("malformed", "the CertID's serial is not a positive DER INTEGER's content")
    return aki, int.from_bytes(serial, "big")


def _aki(record: CertificateRecord) -> bytes | None:
    cert = x509.load_pem_x509_certificate(record.pem.encode())
    try:
        return cert.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier
        ).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def cert_id_of(record: CertificateRecord) -> str | None:
    """The CertID that names this certificate (what an order's ``replaces`` shows)."""
    aki = _aki(record)
    if aki is None:
        return None
    serial = int(record.serial, 16)
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")  # DER INTEGER content
    return f"{b64url_encode(aki)}.{b64url_encode(serial_bytes)}"


def find_certificate(acme: Acme, cert_id: str) -> CertificateRecord | None:
    """The certificate this CA issued with that serial, if its AKI is the CertID's."""
    aki, serial = parse_cert_id(cert_id)
    record = acme.authority.store.ca.certificate(format(serial, "x"))
    if record is None or record.ca_id is None:
        return None
    return record if _aki(record) == aki else None


def suggested_window(record: CertificateRecord, now: datetime) -> tuple[datetime, datetime]:
    if record.status == "revoked":
        return now - REVOKED_WINDOW, now
    seconds = (record.not_after - record.not_before).total_seconds()
    start = record.not_before + timedelta(seconds=math.ceil(seconds * 2 / 3))
    end = record.not_before + timedelta(seconds=math.floor(seconds * 5 / 6))
    return start, max(end, start + timedelta(seconds=1))


def retry_after(record: CertificateRecord) -> int:
    """How long a client should wait before asking again: a twelfth of the lifetime, within
    a minute and six hours (a short-lived certificate gets asked about often enough)."""
    twelfth = (record.not_after - record.not_before) / 12
    return int(min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, twelfth)).total_seconds())


def renewal_info(acme: Acme, cert_id: str) -> Reply:
    record = find_certificate(acme, cert_id)
    if record is None:
        raise Problem("malformed", f"no certificate {cert_id} was issued here", status=404)
    start, end = suggested_window(record, acme.authority.clock())
    return Reply(
        200,
        {"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}},
        {"Retry-After": str(retry_after(record))},
    )
