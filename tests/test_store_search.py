"""Substring search over subjects and SANs: certificates issued one by one are indexed by the
next search, bulk imports at once, and the index never misses or repeats a row."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepui.authority import Authority, IssueRequest


@pytest.fixture
def ca(tmp_path: Path):
    authority = Authority.open(tmp_path)
    authority.init("Search", passwordless=True)
    yield authority
    authority.close()


def _indexed_upto(authority: Authority) -> int:
    return authority.store.db.query_one("SELECT indexed_upto FROM search_progress")[0]


def test_single_issuance_is_found_by_the_next_search(ca: Authority) -> None:
    before = _indexed_upto(ca)
    first = ca.issue(IssueRequest(subject="CN=alpha.search.test"))
    ca.issue(IssueRequest(subject="CN=beta.search.test", sans=["DNS:beta.search.test"]))
    assert _indexed_upto(ca) == before  # issuing does not touch the index
    assert [r.serial for r in ca.certificates(search="alpha.sea")] == [first.serial]
    assert ca.count(search="search.test") == 2
    assert _indexed_upto(ca) == before + 2
    third = ca.issue(IssueRequest(subject="CN=gamma.search.test"))
    assert [r.serial for r in ca.certificates(search="gamma")] == [third.serial]
    assert ca.count(search="search.test") == 3  # each row indexed once


def test_bulk_import_is_indexed_in_the_same_transaction(ca: Authority) -> None:
    issued = [ca.issue(IssueRequest(subject=f"CN=bulk{i}.search.test")) for i in range(3)]
    other = Authority.open(ca.home.parent / "other")
    other.init("Other", passwordless=True)
    try:
        other.import_certificates("".join(i.record.pem for i in issued).encode())
        assert (
            _indexed_upto(other)
            == other.store.db.query_one("SELECT max(rowid) FROM certificates")[0]
        )
        assert other.count(search="bulk1.search") == 1
    finally:
        other.close()
