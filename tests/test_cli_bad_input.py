"""Every class of bad input: one stderr line naming the problem, a non-zero exit, and nothing
written (no database row, no file in the output directory, no key in secrets/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Setup, files, home_state, ok, openssl, refused, stepui


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    base = tmp_path_factory.mktemp("bad")
    home, inputs = base / "home", base / "inputs"
    inputs.mkdir()
    ok(stepui(home, "ca", "init", "Bad"))
    ok(stepui(home, "ca", "new", "intermediate", "Corp", "--permitted-dns", ".corp.example"))
    ok(stepui(home, "ca", "policy", "bad-intermediate-ca", "--deny-dns", "blocked.myorg.local"))
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(inputs / "k.key"), "-subj", "/CN=sig.myorg.local",
        "-out", str(inputs / "good.csr"),
    )  # fmt: skip
    pem = (inputs / "good.csr").read_text().splitlines()
    body = pem[-2]  # last base64 line: part of the signature
    pem[-2] = body[:-6] + ("AAAA" if body[-6:-2] != "AAAA" else "BBBB") + body[-2:]
    (inputs / "badsig.csr").write_text("\n".join(pem) + "\n")
    (inputs / "garbage.csr").write_text("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n")
    (inputs / "truncated.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJ\n")
    (inputs / "notpem.txt").write_text("hello, I am not a certificate\n")
    (inputs / "wrong.pw").write_text("not the password\n")
    return Setup(home, inputs)


CASES = {
    "malformed subject": (["ca", "issue", "x", "--subject", "CN=a,XX=b"], ["subject"]),
    "subject without =": (["ca", "issue", "x", "--subject", "api.myorg.local"], ["KEY=VALUE"]),
    "malformed DNS SAN": (["ca", "issue", "x", "--san", "DNS:bad..name"], ["invalid label"]),
    "malformed IP SAN": (["ca", "issue", "x", "--san", "IP:10.0.0.300"], ["not an IP"]),
    "malformed email SAN": (["ca", "issue", "x", "--san", "email:nobody"], ["email"]),
    "unparseable CSR": (["ca", "issue", "x", "--csr", "{inputs}/garbage.csr"], ["CSR"]),
    "CSR with a bad signature": (["ca", "issue", "x", "--csr", "{inputs}/badsig.csr"], ["CSR"]),
    "truncated PEM to import": (["ca", "import", "--cert", "{inputs}/truncated.pem"], ["PEM"]),
    "text that is not PEM": (["cert", "import", "{inputs}/notpem.txt"], ["no PEM block"]),
    "wrong password": (
        ["--password-file", "{inputs}/wrong.pw", "ca", "issue", "x", "--san", "DNS:a.local"],
        ["wrong CA password"],
    ),
    "name denied by policy": (["ca", "issue", "x", "--san", "DNS:blocked.myorg.local"], ["denied"]),
    "name outside name constraints": (
        ["ca", "issue", "x", "--san", "DNS:www.other.example", "--ca", "corp"],
        ["outside", "permitted"],
    ),
    "SAN type the template forbids": (
        ["ca", "issue", "x", "--san", "email:ops@myorg.local"],
        ["does not allow"],
    ),
    "unknown template": (["ca", "issue", "x", "--template", "nope"], ["unknown template"]),
    "unknown CA": (["ca", "issue", "x", "--ca", "nope"], ["unknown CA"]),
    "bad lifetime": (["ca", "issue", "x", "--not-after", "soon"], ["lifetime", "RFC 3339"]),
    "lifetime over the maximum": (["ca", "issue", "x", "--not-after", "400d"], ["400d", "exceeds"]),
    "naive not-before": (["ca", "issue", "x", "--not-before", "2030-01-01T00:00"], ["offset"]),
    "name escaping the out dir": (["ca", "issue", "../escape"], ["plain file name"]),
    "missing input file": (["ca", "issue", "x", "--csr", "{inputs}/absent.csr"], ["cannot read"]),
    "unknown certificate serial": (["ca", "revoke", "abcdef"], ["no certificate"]),
    "unknown CA for a CRL": (["ca", "crl", "nope"], ["unknown CA"]),
    "bad name constraint": (
        ["ca", "new", "intermediate", "X", "--permitted-ip", "10.0.0.0/99"],
        ["CIDR"],
    ),
    "bad policy rule": (["ca", "policy", "corp", "--allow-ip", "ten"], ["not a valid ip rule"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_writes_nothing(setup: Setup, tmp_path: Path, case: str) -> None:
    arguments, words = CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    args = [a.format(inputs=setup.inputs) for a in arguments]
    if "issue" in args:
        args += ["--out", str(out)]
    before = home_state(setup.home)
    refused(stepui(setup.home, *args), *words)
    assert home_state(setup.home) == before
    assert files(out) == []
    assert files(tmp_path) == ["out"]
