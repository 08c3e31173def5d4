"""The ``stepui`` command line end to end: real subprocesses, a real SQLite file, and the real
``openssl`` to verify what was issued."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from stepui.cli import wants_server
from tests.support.cli import files, ok, on_terminal, openssl, refused, rows, stepui


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One encrypted CA shared by the tests that only add to it."""
    path = tmp_path_factory.mktemp("cli") / "home"
    ok(stepui(path, "ca", "init", "Acme", "--organization", "Acme Inc", "--country", "US"))
    return path


def certs(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def issue(home: Path, out: Path, name: str, *args: str) -> Path:
    ok(stepui(home, "ca", "issue", name, "--out", str(out), *args))
    return out / f"{name}.crt"


# -- ca init -------------------------------------------------------------------------------
def test_init_writes_encrypted_keys_with_private_modes(home: Path) -> None:
    assert (home / "certs" / "root_ca.crt").exists()
    assert (home / "certs" / "intermediate_ca.crt").exists()
    secrets = home / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    keys = list(secrets.glob("*.key"))
    assert len(keys) == 2
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert b"ENCRYPTED" in key.read_bytes()
    root = certs(home / "certs" / "root_ca.crt")[0]
    assert root.subject.rfc4514_string() == "O=Acme Inc,C=US,CN=Acme Root CA"


def test_reinit_is_refused_without_force(home: Path) -> None:
    before = files(home / "secrets"), rows(home, "authorities")
    root = (home / "certs" / "root_ca.crt").read_text()
    refused(stepui(home, "ca", "init", "Again"), "already exists", "--force")
    assert (files(home / "secrets"), rows(home, "authorities")) == before
    assert (home / "certs" / "root_ca.crt").read_text() == root


def test_init_force_makes_new_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(stepui(home, "ca", "init", "First", "--no-password"))
    ok(stepui(home, "ca", "init", "Second", "--no-password", "--force"))
    root = certs(home / "certs" / "root_ca.crt")[0]
    assert "Second Root CA" in root.subject.rfc4514_string()
    assert rows(home, "authorities") == 4


def test_init_without_password_warns_and_keeps_plain_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = stepui(home, "ca", "init", "Dev", "--no-password", password=None)
    ok(result)
    assert "dev CA" in result.stderr and "UNENCRYPTED" in result.stderr
    for key in (home / "secrets").glob("*.key"):
        assert b"ENCRYPTED" not in key.read_bytes()
    ok(stepui(home, "ca", "issue", "svc", "--out", str(tmp_path), password=None))
    assert files(tmp_path) == ["home", "svc.crt", "svc.key"]


def test_init_on_a_terminal_asks_the_password_twice(tmp_path: Path) -> None:
    home = tmp_path / "home"
    answers = [(b"CA password: ", b"typed\n"), (b"Repeat the password: ", b"typos\n")]
    code, shown = on_terminal(home, "ca", "init", "Tty", answers=answers)
    assert code == 2 and "do not match" in shown
    assert files(home / "secrets") == []
    answers = [(b"CA password: ", b"typed\n"), (b"Repeat the password: ", b"typed\n")]
    code, shown = on_terminal(home, "ca", "init", "Tty", answers=answers)
    assert code == 0, shown
    assert "typed" not in shown  # no echo
    ok(stepui(home, "ca", "issue", "svc", "--out", str(tmp_path), password="typed"))
    code, shown = on_terminal(home, "ca", "issue", "tty", "--out", str(tmp_path),
                              answers=[(b"CA password: ", b"typed\n")])  # fmt: skip
    assert code == 0, shown
    assert (tmp_path / "tty.key").exists()


def test_init_without_any_password_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    refused(stepui(home, "ca", "init", "Acme", password=None), "--no-password")
    assert files(home / "secrets") == []
    assert rows(home, "authorities") == 0


def test_password_file_and_wrong_password(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    secret = tmp_path / "pw.txt"
    secret.write_text("s3cret\n")
    ok(stepui(home, "ca", "init", "Acme", "--password-file", str(secret), password=None))
    ok(
        stepui(
            home, "ca", "issue", "a", "--san", "DNS:a.local", "--out", str(out), password="s3cret"
        )
    )
    good = ok(stepui(home, "--password-file", str(secret), "ca", "issue", "b", "--out", str(out)))
    assert "DNS:b" in good
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope\n")
    before = rows(home, "certificates")
    refused(
        stepui(home, "--password-file", str(wrong), "ca", "issue", "c", "--out", str(out)),
        "wrong CA password",
    )
    assert rows(home, "certificates") == before
    assert files(out) == ["a.crt", "a.key", "b.crt", "b.key"]


# -- issuance ------------------------------------------------------------------------------
def test_issued_chain_verifies_with_openssl_and_has_the_right_extensions(
    home: Path, tmp_path: Path
) -> None:
    crt = issue(
        home,
        tmp_path,
        "api",
        "--subject",
        "CN=api.myorg.local",
        "--san",
        "DNS:api.myorg.local",
        "--san",
        "IP:10.0.0.5",
        "--template",
        "tls-server",
        "--not-after",
        "48h",
    )
    key = tmp_path / "api.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    root_file, inter_file = home / "certs" / "root_ca.crt", home / "certs" / "intermediate_ca.crt"
    out = openssl("verify", "-CAfile", str(root_file), "-untrusted", str(inter_file), str(crt))
    assert out.stdout.strip().endswith("OK")
    openssl("x509", "-in", str(crt), "-noout")  # the leaf comes first in the file
    leaf, *chain = certs(crt)
    root, inter = certs(root_file)[0], certs(inter_file)[0]
    assert chain == [inter]
    for ca, path_len in ((root, 1), (inter, 0)):
        basic = ext(ca, x509.BasicConstraints)
        assert basic.critical and basic.value.ca and basic.value.path_length == path_len
        usage = ext(ca, x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign
    assert not ext(leaf, x509.BasicConstraints).value.ca
    assert ext(leaf, x509.KeyUsage).value.digital_signature
    ski = ext(inter, x509.SubjectKeyIdentifier).value.digest
    assert ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == ski
    root_ski = ext(root, x509.SubjectKeyIdentifier).value.digest
    assert ext(inter, x509.AuthorityKeyIdentifier).value.key_identifier == root_ski
    assert ExtendedKeyUsageOID.SERVER_AUTH in ext(leaf, x509.ExtendedKeyUsage).value
    sans = ext(leaf, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["api.myorg.local"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    points = ext(leaf, x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value.endswith("/crl/acme-intermediate-ca.crl")
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 47 * 3600 < lifetime.total_seconds() <= 48 * 3600 + 120
    private = key.read_text()
    assert "PRIVATE KEY" in private and "ENCRYPTED" not in private


def test_cn_becomes_the_only_san(home: Path, tmp_path: Path) -> None:
    leaf = certs(issue(home, tmp_path, "web", "--subject", "CN=web.myorg.local,O=MyOrg"))[0]
    sans = ext(leaf, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web.myorg.local"]


def test_name_defaults_to_the_subject(home: Path, tmp_path: Path) -> None:
    leaf = certs(issue(home, tmp_path, "db.myorg.local"))[0]
    assert leaf.subject.rfc4514_string() == "CN=db.myorg.local"


def test_issue_from_an_openssl_csr_writes_no_key(home: Path, tmp_path: Path) -> None:
    csr = tmp_path / "req.csr"
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(tmp_path / "own.key"), "-subj", "/CN=csr.myorg.local",
        "-addext", "subjectAltName=DNS:csr.myorg.local", "-out", str(csr),
    )  # fmt: skip
    out = tmp_path / "out"
    issue(home, out, "fromcsr", "--csr", str(csr))
    assert files(out) == ["fromcsr.crt"]
    leaf = certs(out / "fromcsr.crt")[0]
    own = openssl("pkey", "-in", str(tmp_path / "own.key"), "-pubout").stdout
    assert openssl("x509", "-in", str(out / "fromcsr.crt"), "-noout", "-pubkey").stdout == own
    sans = ext(leaf, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["csr.myorg.local"]


def test_tampered_csr_is_refused_as_bad_csr(home: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    csr_file = tmp_path / "req.csr"
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(tmp_path / "k.key"), "-subj", "/CN=good.myorg.local", "-out", str(csr_file),
    )  # fmt: skip
    der = bytearray(
        x509.load_pem_x509_csr(csr_file.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    position = der.index(b"good.myorg.local")
    der[position : position + 4] = b"evil"  # same length: still parses, signature breaks
    tampered = tmp_path / "tampered.der"
    tampered.write_bytes(bytes(der))
    before = rows(home, "certificates")
    out = tmp_path / "out"
    refused(stepui(home, "ca", "issue", "t", "--csr", str(tampered), "--out", str(out)), "CSR")
    assert rows(home, "certificates") == before
    assert files(out) == []


def test_batch_reports_bad_lines_and_issues_the_rest(home: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch.csv"
    batch.write_text(
        "name,subject,sans,template,validity\n"
        "one,CN=one.myorg.local,,tls-server,72h\n"
        "two,CN=two,DNS:two.myorg.local;IP:10.2.0.1,,\n"
        "three,CN=three,DNS:bad..name,,\n"
        "four,,DNS:four.myorg.local DNS:4.myorg.local,no-such-template,\n"
        "five,CN=five.myorg.local,,,1y\n"
    )
    out = tmp_path / "out"
    before = rows(home, "certificates")
    result = stepui(home, "ca", "issue", "--batch", str(batch), "--out", str(out))
    assert result.returncode != 0
    assert "issued 2, failed 3" in result.stderr
    assert "line 4: " in result.stderr and "bad..name" in result.stderr
    assert "line 5: " in result.stderr and "no-such-template" in result.stderr
    assert "line 6: " in result.stderr and "exceeds the maximum" in result.stderr
    assert files(out) == ["one.crt", "one.key", "two.crt", "two.key"]
    assert rows(home, "certificates") == before + 2
    leaf = certs(out / "two.crt")[0]
    names = ext(leaf, x509.SubjectAlternativeName).value
    assert len(list(names)) == 2


def test_batch_json_lines(home: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch.jsonl"
    lines = [
        {"name": "j1", "subject": "CN=j1.myorg.local", "validity": "72h"},
        {"name": "j2", "sans": ["DNS:j2.myorg.local", "IP:10.3.0.2"]},
        {"name": "j1", "subject": "CN=again.myorg.local"},
        "not an object",
    ]
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n{broken\n")
    out = tmp_path / "out"
    result = stepui(home, "ca", "issue", "--batch", str(batch), "--out", str(out))
    assert result.returncode == 1
    assert "issued 2, failed 3" in result.stderr
    assert "line 3: name 'j1' already used on line 1" in result.stderr
    assert "line 4: not a JSON object" in result.stderr
    assert "line 6: not valid JSON" in result.stderr
    assert files(out) == ["j1.crt", "j1.key", "j2.crt", "j2.key"]
    leaf = certs(out / "j1.crt")[0]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 71 * 3600 < lifetime.total_seconds() <= 72 * 3600 + 120


def test_batch_with_a_bad_header_issues_nothing(home: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch.csv"
    batch.write_text("host,subject\na,CN=a\n")
    before = rows(home, "certificates")
    refused(stepui(home, "ca", "issue", "--batch", str(batch), "--out", str(tmp_path)), "header")
    assert rows(home, "certificates") == before


# -- CA tree: new, constraints, policy, cross-sign -----------------------------------------
def test_name_constraints_and_policy_tree(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    ok(stepui(home, "ca", "init", "Tree"))
    ok(
        stepui(
            home, "ca", "new", "intermediate", "Corp Issuing", "--permitted-dns", ".corp.example",
            "--permitted-ip", "10.0.0.0/8", "--not-after", "5y",
        )
    )  # fmt: skip
    refused(
        stepui(home, "ca", "issue", "x", "--san", "DNS:www.other.example", "--ca", "corp-issuing"),
        "outside",
        "permitted",
    )
    ok(stepui(home, "ca", "policy", "corp-issuing", "--deny-dns", "secret.corp.example"))
    refused(
        stepui(
            home, "ca", "issue", "s", "--san", "DNS:secret.corp.example", "--ca", "Corp Issuing"
        ),
        "denied",
    )
    crt = issue(home, out, "ok", "--san", "DNS:www.corp.example", "--ca", "corp-issuing")
    assert files(out) == ["ok.crt", "ok.key"]
    assert rows(home, "certificates") == 1
    inter = certs(crt)[1]
    constraints = ext(inter, x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees[0].value == ".corp.example"
    untrusted = tmp_path / "inter.pem"
    untrusted.write_bytes(crt.read_bytes().split(b"-----END CERTIFICATE-----\n", 1)[1])
    openssl(
        "verify", "-CAfile", str(home / "certs" / "root_ca.crt"), "-untrusted", str(untrusted),
        str(crt),
    )  # fmt: skip
    listing = json.loads(ok(stepui(home, "ca", "list", "--json")))
    assert [c["name"] for c in listing[0]["children"]] == ["Tree Intermediate CA", "Corp Issuing"]
    policy = json.loads(ok(stepui(home, "ca", "policy", "corp-issuing")))
    assert policy["deny"] == {"dns": ["secret.corp.example"]}
    cleared = json.loads(ok(stepui(home, "ca", "policy", "corp-issuing", "--clear")))
    assert cleared == {"allow": {}, "deny": {}}
    refused(stepui(home, "ca", "new", "intermediate", "Sub", "--parent", "corp-issuing"), "path")


def test_cross_signed_intermediate_verifies_against_the_second_root(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    ok(stepui(home, "ca", "init", "Main"))
    ok(stepui(home, "ca", "new", "root", "Partner Root"))
    cross = tmp_path / "cross.crt"
    ok(stepui(home, "ca", "cross-sign", "main-intermediate-ca", "--by", "partner-root", "--out",
              str(cross)))  # fmt: skip
    partner = tmp_path / "partner.crt"
    partner.write_text(ok(stepui(home, "ca", "root", "partner-root")))
    leaf = issue(home, out, "svc", "--san", "DNS:svc.main.local")
    openssl("verify", "-CAfile", str(partner), "-untrusted", str(cross), str(leaf))
    openssl(
        "verify", "-CAfile", str(home / "certs" / "root_ca.crt"), "-untrusted",
        str(home / "certs" / "intermediate_ca.crt"), str(leaf),
    )  # fmt: skip
    cross_cert = certs(cross)[0]
    assert ext(cross_cert, x509.BasicConstraints).value.path_length == 0
    listing = json.loads(ok(stepui(home, "ca", "list", "--json")))
    partner_node = next(n for n in listing if n["id"] == "partner-root")
    assert [(c["id"], c["via"]) for c in partner_node["children"]] == [
        ("main-intermediate-ca", "cross")
    ]
    text = ok(stepui(home, "ca", "list"))
    assert "cross-signed" in text and "Partner Root" in text


# -- import, csr, import-signed ------------------------------------------------------------
def _openssl_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, crt = directory / f"{name}.key", directory / f"{name}.crt"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-passout", "pass:filepw", "-keyout", str(key), "-subj", f"/CN={name}", "-days", "3650",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", str(crt),
    )  # fmt: skip
    return crt, key


def test_import_openssl_ca_in_pem_der_and_pkcs12(tmp_path: Path) -> None:
    home = tmp_path / "home"
    filepw = tmp_path / "filepw"
    filepw.write_text("filepw\n")
    crt, key = _openssl_ca(tmp_path, "Imported PEM")
    ok(stepui(home, "ca", "import", "--cert", str(crt), "--key", str(key),
              "--key-password-file", str(filepw)))  # fmt: skip
    stored = (home / "secrets" / "imported-pem.key").read_bytes()
    assert b"ENCRYPTED" in stored
    crt2, key2 = _openssl_ca(tmp_path, "Imported DER")
    der = tmp_path / "ca.der"
    openssl("x509", "-in", str(crt2), "-outform", "DER", "-out", str(der))
    ok(stepui(home, "ca", "import", "--cert", str(der), "--name", "Der CA"))
    crt3, key3 = _openssl_ca(tmp_path, "Imported P12")
    p12 = tmp_path / "ca.p12"
    openssl("pkcs12", "-export", "-in", str(crt3), "-inkey", str(key3), "-passin", "pass:filepw",
            "-passout", "pass:filepw", "-out", str(p12))  # fmt: skip
    ok(stepui(home, "ca", "import", "--cert", str(p12), "--key-password-file", str(filepw)))
    listing = {n["name"]: n for n in json.loads(ok(stepui(home, "ca", "list", "--json")))}
    assert listing["Imported PEM"]["has_key"] and listing["Imported P12"]["has_key"]
    assert not listing["Der CA"]["has_key"]
    # The imported CA signs, and the chain verifies with openssl.
    leaf = issue(home, tmp_path / "out", "leaf", "--san", "DNS:leaf.local", "--ca", "imported-p12")
    openssl("verify", "-CAfile", str(crt3), str(leaf))
    # A key that does not match is refused and nothing is stored.
    crt4, _ = _openssl_ca(tmp_path, "Mismatch")
    before = files(home / "secrets")
    refused(
        stepui(home, "ca", "import", "--cert", str(crt4), "--key", str(key),
               "--key-password-file", str(filepw)),
        "does not match",
    )  # fmt: skip
    assert files(home / "secrets") == before
    assert rows(home, "authorities") == 3


def test_csr_signed_outside_and_imported_back(tmp_path: Path) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside"
    ok(stepui(home, "ca", "init", "Inside"))
    ok(stepui(outside, "ca", "init", "Outside", "--no-password"))
    csr = tmp_path / "inside.csr"
    ok(stepui(home, "ca", "csr", "inside-intermediate-ca", "--out", str(csr)))
    openssl("req", "-in", str(csr), "-noout", "-verify")
    signed = tmp_path / "signed.crt"
    extensions = tmp_path / "ext.cnf"
    extensions.write_text(
        "basicConstraints=critical,CA:TRUE,pathlen:0\n"
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(outside / "certs" / "root_ca.crt"),
        "-CAkey", str(outside / "secrets" / "outside-root-ca.key"), "-CAcreateserial",
        "-days", "365", "-extfile", str(extensions), "-out", str(signed),
    )  # fmt: skip
    wrong = outside / "certs" / "intermediate_ca.crt"
    refused(stepui(home, "ca", "import-signed", "inside-intermediate-ca", "--cert", str(wrong)),
            "not for")  # fmt: skip
    ok(stepui(home, "ca", "import-signed", "inside-intermediate-ca", "--cert", str(signed)))
    leaf = issue(home, tmp_path / "out", "svc", "--san", "DNS:svc.inside.local")
    openssl(
        "verify", "-CAfile", str(outside / "certs" / "root_ca.crt"), "-untrusted", str(signed),
        str(leaf),
    )  # fmt: skip


# -- inventory ------------------------------------------------------------------------------
def test_list_and_inspect(home: Path, tmp_path: Path) -> None:
    crt = issue(home, tmp_path, "inspected", "--san", "DNS:inspect.myorg.local")
    leaf = certs(crt)[0]
    serial = format(leaf.serial_number, "x")
    listed = json.loads(ok(stepui(home, "cert", "list", "--search", "inspect.myorg", "--json")))
    assert [c["serial"] for c in listed] == [serial]
    assert listed[0]["status"] == "valid" and listed[0]["sans"] == ["DNS:inspect.myorg.local"]
    table = ok(stepui(home, "cert", "list", "--issuer", "acme-intermediate-ca", "--limit", "500"))
    assert serial in table
    assert ok(stepui(home, "cert", "list", "--status", "revoked", "--search", "inspect.myorg")) == (
        "no certificates match\n"
    )
    text = ok(stepui(home, "cert", "inspect", str(crt)))
    assert str(leaf.serial_number) in text and "inspect.myorg.local" in text
    by_serial = json.loads(ok(stepui(home, "cert", "inspect", serial, "--json")))
    assert by_serial["serial_number"] == str(leaf.serial_number)
    assert by_serial["sans"] == ["DNS:inspect.myorg.local"]
    short = ok(stepui(home, "cert", "inspect", str(crt), "--short"))
    assert len(short.splitlines()) == 4
    tree = json.loads(ok(stepui(home, "ca", "list", "--json")))
    assert tree[0]["name"] == "Acme Root CA"
    assert tree[0]["children"][0]["name"] == "Acme Intermediate CA"
    assert tree[0]["children"][0]["key_type"] == "ec-p256"


def test_cert_import_of_an_openssl_certificate(home: Path, tmp_path: Path) -> None:
    crt, _ = _openssl_ca(tmp_path, "Elsewhere")
    result = ok(stepui(home, "cert", "import", str(crt)))
    assert "1 certificate(s) imported" in result
    serial = format(certs(crt)[0].serial_number, "x")
    listed = json.loads(ok(stepui(home, "cert", "list", "--search", serial, "--json")))
    assert listed[0]["source"] == "imported" and listed[0]["ca"] is None
    again = ok(stepui(home, "cert", "import", str(crt)))
    assert "0 certificate(s) imported" in again


def test_revoke_crl_and_renew(home: Path, tmp_path: Path) -> None:
    crt = issue(home, tmp_path, "short-lived", "--san", "DNS:renew.myorg.local")
    serial = format(certs(crt)[0].serial_number, "x")
    renewed = ok(stepui(home, "ca", "renew", serial, "--out", str(tmp_path / "renewed")))
    new_serial = renewed.split()[1]
    assert new_serial != serial
    assert files(tmp_path / "renewed") == ["short-lived.crt"]  # same key: no new key file
    ok(stepui(home, "ca", "renew", new_serial, "--rekey", "--out", str(tmp_path / "rekeyed")))
    assert files(tmp_path / "rekeyed") == ["short-lived.crt", "short-lived.key"]
    assert "keyCompromise" in ok(stepui(home, "ca", "revoke", serial, "--reason", "keyCompromise"))
    refused(stepui(home, "ca", "revoke", serial), "already revoked")
    der = tmp_path / "ca.crl"
    ok(stepui(home, "ca", "crl", "--out", str(der)))
    crl = x509.load_der_x509_crl(der.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    pem = ok(stepui(home, "ca", "crl", "acme-intermediate-ca", "--pem"))
    assert x509.load_pem_x509_crl(pem.encode()).get_revoked_certificate_by_serial_number(
        int(serial, 16)
    )
    openssl("crl", "-in", str(der), "-inform", "DER", "-noout",
            "-CAfile", str(home / "certs" / "intermediate_ca.crt"))  # fmt: skip
    refused(stepui(home, "ca", "renew", serial), "revoked")


def test_root_prints_the_init_root(home: Path) -> None:
    assert ok(stepui(home, "ca", "root")) == (home / "certs" / "root_ca.crt").read_text()
    refused(stepui(home, "ca", "root", "acme-intermediate-ca"), "not a root")


# -- templates, provisioners, config ------------------------------------------------------
def test_templates(home: Path, tmp_path: Path) -> None:
    body = tmp_path / "t.json"
    body.write_text(json.dumps({"name": "web-short", "extended_key_usage": ["server_auth"],
                                "allowed_san_types": ["dns"], "max_validity": "72h"}))  # fmt: skip
    ok(stepui(home, "ca", "template", "add", str(body)))
    names = [t["name"] for t in json.loads(ok(stepui(home, "ca", "template", "list", "--json")))]
    assert "tls-server" in names and "web-short" in names
    assert "web-short" in ok(stepui(home, "ca", "template", "list"))
    shown = json.loads(ok(stepui(home, "ca", "template", "show", "web-short")))
    assert shown["max_validity"] == "3d"
    refused(
        stepui(home, "ca", "issue", "long", "--san", "DNS:l.local", "--template", "web-short",
               "--not-after", "5d", "--out", str(tmp_path / "o")),
        "exceeds",
    )  # fmt: skip
    issue(home, tmp_path / "o", "ok", "--san", "DNS:ok.local", "--template", "web-short")
    ok(stepui(home, "ca", "template", "remove", "web-short"))
    refused(stepui(home, "ca", "template", "show", "web-short"), "unknown template")
    refused(stepui(home, "ca", "template", "remove", "tls-server"), "built in")
    body.write_text("{not json")
    refused(stepui(home, "ca", "template", "add", str(body)), "JSON")


def test_provisioners(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(stepui(home, "ca", "init", "Prov", "--no-password"))
    added = ok(stepui(home, "ca", "provisioner", "add", "internal", "--ca", "prov-intermediate-ca",
                      "--default-validity", "24h", "--max-validity", "720h", "--challenge",
                      "http-01", "--challenge", "dns-01", "--allow-dns", ".corp.example",
                      "--require-eab"))  # fmt: skip
    assert "/acme/internal/directory" in added
    config = json.loads((home / "config.json").read_text())
    internal = config["provisioners"]["internal"]
    assert internal["challenges"] == ["http-01", "dns-01"]
    assert internal["policy"]["allow"] == {"dns": [".corp.example"]}
    assert internal["max_validity"] == "30d" and internal["require_eab"] is True
    names = [p["name"] for p in json.loads(ok(stepui(home, "ca", "provisioner", "list", "--json")))]
    assert names == ["acme", "internal"]
    before = (home / "config.json").read_text()
    refused(stepui(home, "ca", "provisioner", "add", "internal"), "already exists")
    refused(
        stepui(home, "ca", "provisioner", "add", "bad", "--default-validity", "soon"),
        "$.provisioners.bad.default_validity",
    )
    refused(stepui(home, "ca", "provisioner", "add", "bad", "--ca", "nope"), "unknown CA")
    assert (home / "config.json").read_text() == before
    ok(stepui(home, "ca", "provisioner", "remove", "internal"))
    assert "internal" not in ok(stepui(home, "ca", "provisioner", "list"))
    refused(stepui(home, "ca", "provisioner", "remove", "internal"), "unknown provisioner")


def test_config_show_and_check(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(stepui(home, "ca", "init", "Conf", "--no-password"))
    shown = json.loads(ok(stepui(home, "config", "show")))
    assert shown["default_ca"] == "conf-intermediate-ca"
    assert shown["leaf"]["default_validity"] == "1d"
    assert ok(stepui(home, "config", "check")).startswith("OK")
    config = json.loads((home / "config.json").read_text())
    config["leaf"]["max_validity"] = "forever"
    (home / "config.json").write_text(json.dumps(config))
    refused(stepui(home, "config", "check"), "$.leaf.max_validity")
    config["leaf"]["max_validity"] = "90d"
    config["provisioners"]["acme"]["ca"] = "ghost"
    (home / "config.json").write_text(json.dumps(config))
    refused(stepui(home, "config", "check"), "$.provisioners.acme.ca", "ghost")


# -- process-level behaviour ---------------------------------------------------------------
def test_ca_commands_do_not_import_the_ui_or_server_stacks(home: Path) -> None:
    result = stepui(home, "ca", "list", python_flags=("-X", "importtime"))
    assert result.returncode == 0
    modules = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
    assert "stepui" in modules  # the check sees our imports at all
    for heavy in ("textual", "quart", "hypercorn", "httpx", "josepy"):
        assert heavy not in modules


def test_version_and_usage_errors(tmp_path: Path) -> None:
    assert ok(stepui(tmp_path / "h", "--version")).startswith("stepui ")
    usage = stepui(tmp_path / "h", "ca", "issue", "x", "--key-type", "dsa-1024")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    assert not (tmp_path / "h").exists()


def test_serve_is_recognised_before_any_command() -> None:
    assert wants_server(["--serve"])
    assert wants_server(["--home", "ca", "--password-file", "f", "--serve", "--port", "1"])
    assert not wants_server(["ca", "issue", "--serve"])
    assert not wants_server([])


def test_commands_without_a_key_need_no_password(home: Path) -> None:
    listing = stepui(home, "ca", "list", password=None)
    assert ok(listing).startswith("Acme Root CA")
