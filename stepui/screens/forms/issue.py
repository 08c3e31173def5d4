"""Issue a certificate: subject, SANs (validated as typed), template, CA, key type, lifetime
and where the certificate and key files go."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.widget import Widget
from textual.widgets import Input, Select

from stepui.authority.models import Issued, IssueRequest
from stepui.pki.keys import KEY_TYPES
from stepui.pki.names import parse_san, parse_subject
from stepui.pki.timespec import parse_duration
from stepui.screens.forms.base import CoreValidator, FormScreen, ca_options, field


class IssueForm(FormScreen):
    TITLE = "Issue a certificate"
    SUBMIT = "Issue"

    def fields(self) -> Iterable[Widget]:
        authority = self.authority
        templates = [(t.name, t.name) for t in authority.templates() if not t.is_ca]
        cas = ca_options(authority)
        default_ca = authority.config.default_ca
        yield from field(
            "Subject",
            Input(
                placeholder="CN=web.internal",
                id="subject",
                validators=[CoreValidator(parse_subject)],
            ),
        )
        yield from field(
            "SANs (DNS:, IP:, email:, URI:; space or comma separated)",
            Input(
                placeholder="web.internal 10.0.0.5",
                id="sans",
                validators=[CoreValidator(parse_san, split=True)],
            ),
        )
        yield from field(
            "Template", Select(templates, value="tls-server", allow_blank=False, id="template")
        )
        yield from field(
            "CA",
            Select(
                cas,
                value=default_ca if default_ca in dict(cas).values() else Select.BLANK,
                allow_blank=not cas,
                id="ca",
            ),
        )
        yield from field(
            "Key type",
            Select([(k, k) for k in KEY_TYPES], value="ec-p256", allow_blank=False, id="key_type"),
        )
        yield from field(
            "Lifetime (empty: the template's default)",
            Input(placeholder="24h", id="lifetime", validators=[CoreValidator(parse_duration)]),
        )
        yield from field(
            "Write certificate and key to (empty: database only)",
            Input(str(authority.home / "issued"), id="out_dir"),
        )

    def perform(self) -> Issued:
        value = {i.id: i.value.strip() for i in self.query(Input)}
        ca = self.query_one("#ca", Select).value
        request = IssueRequest(
            subject=value["subject"] or None,
            sans=value["sans"].replace(",", " ").split(),
            template=str(self.query_one("#template", Select).value),
            ca=None if ca is Select.BLANK else str(ca),
            key_type=str(self.query_one("#key_type", Select).value),
            lifetime=parse_duration(value["lifetime"]) if value["lifetime"] else None,
            requester="tui",
        )
        out_dir = Path(value["out_dir"]).expanduser() if value["out_dir"] else None
        return self.authority.issue(request, out_dir=out_dir)

    def success(self, result: Issued) -> str:
        return f"issued {result.serial} ({result.record.subject or ' '.join(result.record.sans)})"
