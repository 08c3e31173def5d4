"""Adversarial inputs an operator or a careless script feeds the CLI, beyond
test_cli_bad_input.py: odd names, absurd times, files of the wrong kind or in the wrong place,
hostile config.json encodings, backups and restores aimed at the wrong target. Each refusal is
one stderr line and a non-zero exit that leaves the data dir, the output dir and the target
untouched; keys keep their modes and never reach the output, even with STEPUI_DEBUG=1."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from tests.support.cli import Setup, files, home_state, ok, openssl, refused, rows, stepui


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    base = tmp_path_factory.mktemp("probes")
    home, inputs = base / "home", base / "inputs"
    inputs.mkdir()
    ok(stepui(home, "ca", "init", "Probe"))
    openssl(
        "req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", str(inputs / "weak.key"),
        "-subj", "/CN=weak.myorg.local", "-out", str(inputs / "weak.csr"),
    )  # fmt: skip
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(inputs / "other.key"), "-subj", "/CN=Other CA", "-days", "30",
        "-addext", "basicConstraints=critical,CA:TRUE", "-out", str(inputs / "other.crt"),
    )  # fmt: skip
    openssl(
        "pkcs8", "-topk8", "-in", str(inputs / "other.key"), "-passout", "pass:secret",
        "-out", str(inputs / "other.enc.key"),
    )  # fmt: skip
    openssl(
        "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", str(inputs / "weak-ca.key"),
        "-subj", "/CN=Weak CA", "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
        "-out", str(inputs / "weak-ca.crt"),
    )  # fmt: skip
    pem = (inputs / "other.crt").read_text()
    (inputs / "other.utf16.crt").write_bytes(pem.encode("utf-16"))
    (inputs / "wrong.pw").write_text("wrong\n")
    (inputs / "file").write_text("I am a file, not a directory\n")
    return Setup(home, inputs)


REFUSALS = {
    "email SAN with two @": (["ca", "issue", "x", "--san", "email:a@b@myorg.local"], ["email"]),
    "IPv6 SAN with a zone": (["ca", "issue", "x", "--san", "IP:fe80::1%eth0"], ["zone"]),
    "lifetime beyond datetime": (
        ["ca", "issue", "x", "--not-after", "99999999999999d"],
        ["--not-after"],
    ),
    "lifetime in non-ASCII digits": (["ca", "issue", "x", "--not-after", "²"], ["--not-after"]),
    "start at the end of time": (
        ["ca", "issue", "x", "--not-before", "9999-12-31T23:59:59Z", "--not-after", "1h"],
        ["9999"],
    ),
    "end before start": (["ca", "issue", "x", "--not-after", "2001-01-01T00:00:00Z"], ["before"]),
    "lifetime 0s": (["ca", "issue", "x", "--not-after", "0s"], ["--not-after"]),
    "lifetime beyond the maximum": (["ca", "issue", "x", "--not-after", "1y"], ["exceeds"]),
    "wildcard alone": (["ca", "issue", "x", "--san", "DNS:*"], ["invalid label"]),
    "IP in octal": (["ca", "issue", "x", "--san", "IP:010.0.0.1"], ["not an IP"]),
    "IP network": (["ca", "issue", "x", "--san", "IP:10.0.0.0/8"], ["not an IP"]),
    "DNS label over 63": (["ca", "issue", "x", "--san", "DNS:" + "a" * 64 + ".local"], ["label"]),
    "CN over 64": (["ca", "issue", "x", "--subject", "CN=" + "a" * 65], ["64"]),
    "RSA 1024 CSR": (["ca", "issue", "x", "--csr", "{inputs}/weak.csr"], ["2048"]),
    "RSA 1024 CA": (
        ["ca", "import", "--cert", "{inputs}/weak-ca.crt", "--key", "{inputs}/weak-ca.key"],
        ["2048"],
    ),
    "unknown option": (["ca", "issue", "x", "--bogus"], ["unrecognized", "--bogus", "--help"]),
    "option value not a choice": (["ca", "issue", "x", "--key-type", "dsa"], ["invalid choice"]),
    "certificate as CSR": (["ca", "issue", "x", "--csr", "{inputs}/other.crt"], ["CSR"]),
    "directory as CSR": (["ca", "issue", "x", "--csr", "{inputs}"], ["directory"]),
    "out dir is a file": (["ca", "issue", "x", "--out", "{inputs}/file"], ["not a directory"]),
    "CA past end": (
        ["ca", "new", "root", "Late", "--not-after", "2001-01-01T00:00:00Z"],
        ["before it starts"],
    ),
    "CRL into a directory": (["ca", "crl", "--out", "{inputs}"], ["is a directory"]),
    "backup into a directory": (["ca", "backup", "{inputs}"], ["is a directory"]),
    "CA key that does not match": (
        ["ca", "import", "--cert", "{inputs}/other.crt", "--key", "{inputs}/weak.key"],
        ["does not match"],
    ),
    "encrypted CA key, wrong password": (
        [
            "ca",
            "import",
            "--cert",
            "{inputs}/other.crt",
            "--key",
            "{inputs}/other.enc.key",
            "--key-password-file",
            "{inputs}/wrong.pw",
        ],
        ["wrong password"],
    ),  # fmt: skip
    "UTF-16 certificate": (["cert", "import", "{inputs}/other.utf16.crt"], ["neither PEM nor DER"]),
    "key as a certificate": (["cert", "inspect", "{inputs}/other.key"], ["private key"]),
    "password file is a directory": (
        ["--password-file", "{inputs}", "ca", "issue", "x", "--san", "DNS:x.local"],
        ["password file"],
    ),
    "restore a directory": (["ca", "restore", "{inputs}", "--force"], ["cannot read backup"]),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_in_one_line_and_nothing_written(setup: Setup, tmp_path: Path, case: str) -> None:
    arguments, words = REFUSALS[case]
    args = [a.format(inputs=setup.inputs) for a in arguments]
    out = tmp_path / "out"
    out.mkdir()
    if args[:2] == ["ca", "issue"] and "--out" not in args:
        args += ["--out", str(out)]
    inputs_before = files(setup.inputs)
    before = home_state(setup.home)
    refused(stepui(setup.home, *args), *words)
    assert home_state(setup.home) == before
    assert files(out) == []
    assert files(setup.inputs) == inputs_before  # no staged temp file left beside a target
    assert files(setup.inputs.parent) == ["home", "inputs"]


CONFIGS = {
    "UTF-16": (json.dumps({}).encode("utf-16"), ["not UTF-8"]),
    "Latin-1": (b'{"default_ca": "caf\xe9"}', ["not UTF-8"]),
    "duration beyond datetime": (
        json.dumps({"leaf": {"max_validity": "99999999999999999d"}}).encode(),
        ["$.leaf.max_validity", "1000y"],
    ),
    "profile template not a string": (
        json.dumps({"provisioners": {"acme": {"profiles": {"p": {"template": 5}}}}}).encode(),
        ["$.provisioners.acme.profiles.p.template", "string"],
    ),
    "port as a string": (json.dumps({"acme": {"http_port": "80"}}).encode(), ["integer"]),
    "JSON array": (b"[1, 2]", ["must be an object"]),
    "empty file": (b"", ["invalid JSON"]),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_bad_config_is_one_line(setup: Setup, tmp_path: Path, case: str) -> None:
    data, words = CONFIGS[case]
    home = tmp_path / "home"
    shutil.copytree(setup.home, home)
    (home / "config.json").write_bytes(data)
    refused(stepui(home, "config", "check"), "config.json", *words)
    refused(stepui(home, "ca", "issue", "x", "--san", "DNS:x.local", "--out", str(tmp_path)))
    assert (home / "config.json").read_bytes() == data
    assert rows(home, "certificates") == 0


def test_home_that_is_a_file_is_refused(setup: Setup) -> None:
    target = setup.inputs / "file"
    before = target.read_text()
    refused(stepui(target, "ca", "list"), "not a directory")
    refused(stepui(target, "ca", "restore", str(setup.inputs / "missing.tar.gz")), "directory")
    assert target.read_text() == before


def test_restore_never_replaces_a_foreign_directory(setup: Setup, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    ok(stepui(setup.home, "ca", "backup", str(archive)))
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("precious")
    for flags in ((), ("--force",)):
        refused(stepui(victim, "ca", "restore", str(archive), *flags), "no stepui data")
    assert files(victim) == ["notes.txt"]
    assert files(tmp_path) == ["b.tar.gz", "victim"]
    truncated = tmp_path / "t.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:2000])
    refused(stepui(tmp_path / "new", "ca", "restore", str(truncated)), "damaged")
    assert not (tmp_path / "new").exists()
    ok(stepui(tmp_path / "new", "ca", "restore", str(archive)))
    assert stat.S_IMODE((tmp_path / "new" / "secrets").stat().st_mode) == 0o700
    for key in (tmp_path / "new" / "secrets").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_password_file_with_crlf_works(setup: Setup, tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_bytes(b"correct horse\r\n")
    home = tmp_path / "home"
    shutil.copytree(setup.home, home)
    ok(stepui(home, "--password-file", str(password), "ca", "crl", "--out", str(tmp_path / "c")))


def test_keys_never_reach_the_output_even_when_debugging(setup: Setup, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(setup.home, home)
    debug = {"STEPUI_DEBUG": "1"}
    result = stepui(home, "ca", "issue", "api", "--san", "DNS:api.myorg.local", env=debug)
    ok(result)
    key = tmp_path / "api.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    secrets = home / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    bodies = [line for line in key.read_text().splitlines() if not line.startswith("-----")]
    for ca_key in secrets.iterdir():
        assert stat.S_IMODE(ca_key.stat().st_mode) == 0o600
        text = ca_key.read_text()
        assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        bodies += [line for line in text.splitlines() if not line.startswith("-----")]
    renewed = stepui(home, "ca", "renew", "api", "--rekey", "--out", str(tmp_path), env=debug)
    ok(renewed)
    shown = result.stdout + result.stderr + renewed.stdout + renewed.stderr
    assert "PRIVATE KEY" not in shown
    assert not any(body in shown for body in bodies)


def test_without_a_default_ca_the_error_names_the_way_out(setup: Setup, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(setup.home, home)
    config = json.loads((home / "config.json").read_text())
    del config["default_ca"]
    (home / "config.json").write_text(json.dumps(config))
    refused(stepui(home, "ca", "issue", "x", "--out", str(tmp_path)), "no default CA", "--ca")
    assert rows(home, "certificates") == 0
