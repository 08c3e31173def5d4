"""Create a root or an intermediate CA (RSA keys take a while: the form runs in a thread)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Input, Select

from stepui.errors import BadInput
from stepui.pki.keys import KEY_TYPES
from stepui.pki.timespec import parse_duration
from stepui.screens.forms.base import CoreValidator, FormScreen, ca_options, field
from stepui.store import AuthorityRecord


def _path_len(text: str) -> int:
    if not text.isdigit():
        raise BadInput("the path length is a whole number, 0 or more")
    return int(text)


class NewAuthorityForm(FormScreen):
    TITLE = "New CA"
    SUBMIT = "Create"

    def fields(self) -> Iterable[Widget]:
        yield from field(
            "Kind",
            Select(
                [("intermediate", "intermediate"), ("root", "root")],
                value="intermediate",
                allow_blank=False,
                id="kind",
            ),
        )
        yield from field("Name", Input(placeholder="Payments Intermediate CA", id="name"))
        parents = ca_options(self.authority)
        yield from field("Parent (intermediates)", Select(parents, id="parent"))
        yield from field(
            "Key type",
            Select([(k, k) for k in KEY_TYPES], value="ec-p256", allow_blank=False, id="key_type"),
        )
        yield from field(
            "Lifetime", Input("3650d", id="validity", validators=[CoreValidator(parse_duration)])
        )
        yield from field(
            "Path length (empty: the most the parent allows)",
            Input(id="path_len", validators=[CoreValidator(_path_len)]),
        )

    def perform(self) -> AuthorityRecord:
        parent = self.query_one("#parent", Select).value
        path_len = self.query_one("#path_len", Input).value.strip()
        return self.authority.new_authority(
            str(self.query_one("#kind", Select).value),
            self.query_one("#name", Input).value.strip(),
            parent=None if parent is Select.BLANK else str(parent),
            key_type=str(self.query_one("#key_type", Select).value),
            validity=parse_duration(self.query_one("#validity", Input).value),
            path_len=int(path_len) if path_len else None,
            actor="tui",
        )

    def success(self, result: AuthorityRecord) -> str:
        return f"created {result.kind} CA {result.name} ({result.id})"
