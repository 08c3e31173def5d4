"""Roots, the intermediates under each CA that signed them (a cross-signed CA appears under
every issuer), and the certificates each CA issued, loaded only when a node is expanded."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from stepui.authority.service import Authority
from stepui.store import AuthorityRecord
from stepui.widgets.cert_table import subject_cell
from stepui.widgets.status import STATE_STYLES, STATES, state_of

CHILD_LIMIT = 25


@dataclass(frozen=True)
class NodeData:
    kind: str  # ca | certs (the lazily loaded list) | cert | more
    key: str  # CA id or certificate serial


def counts_text(counts: dict[str, int]) -> Text:
    """ "  12 valid · 3 expiring · 1 expired": each count in its state's colour, zeros left out
    (valid counts only those not yet in their renew window)."""
    shown = dict(counts)
    shown["valid"] = counts.get("valid", 0) - counts.get("expiring", 0)
    parts = [
        Text(f"{shown[state]:,} {state} ", style=STATE_STYLES[state])
        for state in STATES
        if shown.get(state)
    ]
    if not parts:
        return Text("")
    text = Text("  ").append_text(Text("· ", style="dim").join(parts))
    text.rstrip()
    return text


class CaTree(Tree[NodeData]):
    BINDINGS = [
        Binding("enter", "select_cursor", "Open", id="tree.open", tooltip="Open or expand"),
        Binding(
            "t",
            "show_in_table",
            "In table",
            id="tree.table",
            tooltip="Show this CA's certificates in the table",
        ),
    ]

    class CertificateChosen(Message):
        def __init__(self, serial: str) -> None:
            super().__init__()
            self.serial = serial

    class IssuerChosen(Message):
        """Show every certificate of this CA in the certificates table."""

        def __init__(self, ca_id: str) -> None:
            super().__init__()
            self.ca_id = ca_id

    def __init__(self, authority: Authority, *, id: str | None = None) -> None:
        super().__init__("Authorities", id=id)
        self.authority = authority
        self.show_root = False
        self.guide_depth = 3

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.clear()
        now = self.authority.clock()
        counts = self.authority.store.ca.counts_by_ca(now, self.authority.config.renew_before)
        cas = self.authority.authorities()
        children: dict[str | None, list[tuple[AuthorityRecord, bool]]] = {}
        known = {ca.id for ca in cas}
        for ca in cas:
            parent = ca.parent_id if ca.parent_id in known else None
            children.setdefault(parent, []).append((ca, False))
        by_id = {ca.id: ca for ca in cas}
        for chain in self.authority.store.ca.chains():
            if chain.kind == "cross" and chain.issuer_id in known:
                children.setdefault(chain.issuer_id, []).append((by_id[chain.authority_id], True))

        def add(node: TreeNode[NodeData], parent: str | None, depth: int) -> None:
            for ca, cross in children.get(parent, []):
                label = Text(ca.name, style="bold" if ca.kind == "root" else "")
                if cross:
                    label.append(" ").append("(cross-signed)", style="italic")
                if ca.not_after <= now or ca.status != "active":
                    word = "expired" if ca.not_after <= now else ca.status
                    label.append(" ").append(word, style=STATE_STYLES["expired"])
                ca_counts = counts.get(ca.id, {})
                label.append_text(counts_text(ca_counts))
                child = node.add(label, NodeData("ca", ca.id), expand=depth < 2)
                if not cross and depth < 8:
                    add(child, ca.id, depth + 1)
                total = sum(ca_counts.values()) - ca_counts.get("expiring", 0)
                if total and not cross:
                    certs = child.add(f"{total} certificates", NodeData("certs", ca.id))
                    certs.allow_expand = True

        add(self.root, None, 0)
        self.root.expand()

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        node = event.node
        if node.data is None or node.data.kind != "certs" or node.children:
            return
        now = self.authority.clock()
        total = self.authority.count(ca_id=node.data.key)
        for record in self.authority.certificates(
            ca_id=node.data.key, sort="created_at", descending=True, limit=CHILD_LIMIT
        ):
            state = state_of(self.authority, record, now)
            label = Text.assemble(
                subject_cell(record),
                "  ",
                (record.serial[:8], "dim"),
                " ",
                (state, STATE_STYLES[state]),
            )
            node.add_leaf(label, NodeData("cert", record.serial))
        if total > CHILD_LIMIT:
            node.add_leaf(
                Text(f"{total - CHILD_LIMIT} more: enter shows all in the table", style="dim"),
                NodeData("more", node.data.key),
            )

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        data = event.node.data
        if data is None:
            return
        if data.kind == "cert":
            self.post_message(self.CertificateChosen(data.key))
        elif data.kind == "more":
            self.post_message(self.IssuerChosen(data.key))

    def action_show_in_table(self) -> None:
        node = self.cursor_node
        if node is not None and node.data is not None and node.data.kind in ("ca", "certs", "more"):
            self.post_message(self.IssuerChosen(node.data.key))
