"""The regulator's commands (noc_ledger.cli.admin): init, issue, lifecycle, keys, reading,
and that every error is one line and a status, never a traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from noc_ledger import signing
from noc_ledger.cli import main
from noc_ledger.errors import KeyFileError
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.policy import parse_policy
from noc_ledger.verify import verify_bundle

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "spec" / "requests.md"
PASSPHRASE = "correct horse battery"
ORIGIN = "vara.example/noc-ledger"
AUTHORITY = "Virtual Assets Regulatory Authority"
T_VERIFY = 1_780_272_000  # 2026-06-01T00:00:00Z: inside the licence example's validity
INIT = [
    "--origin",
    ORIGIN,
    "--authority",
    AUTHORITY,
    "--jurisdiction",
    "AE-DU",
    "--issuing-valid-from",
    "2025-01-01T00:00:00Z",
    "--issuing-valid-until",
    "2040-01-01T00:00:00Z",
]
ZERO_ID = "00" * 32


def _spec_blocks() -> list[tuple[str, str]]:
    text = SPEC.read_text(encoding="utf-8")
    examples = text[text.index("## 7. Examples") :]
    return re.findall(r"```(toml|json)\n(.*?)```", examples, re.S)


BLOCKS = _spec_blocks()
NOC_TOML = BLOCKS[0][1]
LICENCE_JSON = BLOCKS[1][1]
SCOPE_TOML = BLOCKS[2][1]


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """Run `noc-ledger` in-process: (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ok(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> dict[str, Any]:
    """Run a command with --json, expect success, return its JSON object."""
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert isinstance(result, dict)
    return result


def fails(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> str:
    """Run a command, expect exit 1 with one clean line on stderr; return that line."""
    code, out, err = run(capsys, *argv)
    assert code == 1, (out, err)
    assert "Traceback" not in err + out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("noc-ledger: "), err
    return lines[0]


# ---------------------------------------------------------------------------------------
# Fixtures: one ledger made once, copied for every test (key encryption is slow on purpose)


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOC_LEDGER_PASSPHRASE", PASSPHRASE)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ledger"
    old = os.environ.get("NOC_LEDGER_PASSPHRASE")
    os.environ["NOC_LEDGER_PASSPHRASE"] = PASSPHRASE
    try:
        assert main(["init", str(path), *INIT]) == 0
    finally:
        if old is None:
            del os.environ["NOC_LEDGER_PASSPHRASE"]
        else:
            os.environ["NOC_LEDGER_PASSPHRASE"] = old
    return path


@pytest.fixture
def ledger(template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "ledger"
    shutil.copytree(template, path)
    capsys.readouterr()
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def noc_toml(number: int = 1, **replace: str) -> str:
    text = NOC_TOML.replace("VARA/NOC/2026/0001", f"VARA/NOC/2026/{number:04d}")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def licence(**changes: Any) -> dict[str, Any]:
    value = json.loads(LICENCE_JSON)
    assert isinstance(value, dict)
    value.update(changes)
    return value


def size(capsys: pytest.CaptureFixture[str], ledger: Path) -> int:
    return int(ok(capsys, "log", ledger)["size"])


def issue_noc(capsys: pytest.CaptureFixture[str], ledger: Path, number: int = 1) -> str:
    request = write(ledger.parent / f"noc-{number}.toml", noc_toml(number))
    return str(ok(capsys, "issue", ledger, request)["id"])


# ---------------------------------------------------------------------------------------
# init


def test_init_layout_modes_and_encrypted_keys(template: Path) -> None:
    assert sorted(p.name for p in template.iterdir()) == ["keys", "ledger.db", "ledger.json"]
    assert stat.S_IMODE((template / "keys").stat().st_mode) == 0o700
    config = json.loads((template / "ledger.json").read_text())
    assert config["format"] == "noc-ledger-dir/1"
    assert config["origin"] == ORIGIN and config["authority"] == AUTHORITY
    assert config["jurisdiction"] == "AE-DU" and config["encrypted"] is True
    # Default root scope: everything in the vocabulary for the jurisdiction's country.
    grants = config["root_scope"]["grants"]
    assert sorted(g["activity"] for g in grants) == ["prep", "va"]
    assert all(g["territory"] == {"include": ["AE"]} for g in grants)
    issuing = config["keys"][0]
    assert config["issuing_key"] == issuing["key_id"]
    key_files = sorted(p.name for p in (template / "keys").iterdir())
    assert key_files == sorted(["root.pem", "log.pem", Path(issuing["file"]).name])
    for name in key_files:
        path = template / "keys" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = path.read_bytes()
        assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(KeyFileError):
            signing.decode_private_key_unsafe_unencrypted(data)
        with pytest.raises(KeyFileError):
            signing.decode_private_key(data, b"not the passphrase")
        signer = signing.decode_private_key(data, PASSPHRASE.encode())
        if name == "root.pem":
            assert signer.public_key == signing_key(config["root_public_key"])
        if name == "log.pem":
            assert signer.public_key == signing_key(config["log_public_key"])


def signing_key(b64: str) -> bytes:
    import base64

    return base64.b64decode(b64)


def test_init_json_output_and_first_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ok(capsys, "init", tmp_path / "new", *INIT)
    assert result["size"] == 1 and result["encrypted"] is True
    assert result["log_key"].startswith(f"{ORIGIN}+")
    log = ok(capsys, "log", tmp_path / "new")
    assert [e["kind"] for e in log["entries"]] == ["key-event"]
    assert log["entries"][0]["id"] == result["issuing_key_id"]


def test_init_unsafe_no_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOC_LEDGER_PASSPHRASE")
    path = tmp_path / "demo"
    result = ok(capsys, "init", path, *INIT, "--unsafe-no-passphrase")
    assert result["encrypted"] is False
    for key in (path / "keys").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        data = key.read_bytes()
        assert data.startswith(b"-----BEGIN PRIVATE KEY-----")
        signing.decode_private_key_unsafe_unencrypted(data)
    # No passphrase is needed (none is available: no variable, no terminal).
    request = write(tmp_path / "noc.toml", noc_toml())
    assert ok(capsys, "issue", path, request)["index"] == 1


def test_init_with_root_scope_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scope = write(tmp_path / "scope.toml", SCOPE_TOML)
    path = tmp_path / "noc-only"
    ok(capsys, "init", path, *INIT, "--root-scope", scope)
    config = json.loads((path / "ledger.json").read_text())
    assert [g["activity"] for g in config["root_scope"]["grants"]] == ["prep"]
    # A licence is outside this root's scope: refused by the log's rules, nothing written.
    request = write(tmp_path / "licence.json", json.dumps(licence()))
    line = fails(capsys, "issue", path, request)
    assert "ScopeError" in line and "nothing was written" in line
    assert size(capsys, path) == 1


def test_init_refuses_a_non_empty_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "full" / "something.txt", "x")
    assert "not empty" in fails(capsys, "init", tmp_path / "full", *INIT)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["something.txt"]


def test_init_short_passphrase_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOC_LEDGER_PASSPHRASE", "short")
    (tmp_path / "empty").mkdir()
    assert "at least 8 bytes" in fails(capsys, "init", tmp_path / "empty", *INIT)
    assert list((tmp_path / "empty").iterdir()) == []
    assert "--origin" in fails(capsys, "init", tmp_path / "x", *INIT[2:], "--origin", "a b")
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------------------
# passphrases


def test_wrong_passphrase_is_one_line_and_writes_nothing(
    ledger: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    request = write(ledger.parent / "noc.toml", noc_toml())
    monkeypatch.setenv("NOC_LEDGER_PASSPHRASE", "not the passphrase")
    line = fails(capsys, "issue", ledger, request)
    assert "wrong passphrase" in line
    assert size(capsys, ledger) == 1


def test_reading_needs_no_passphrase(
    ledger: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_id = issue_noc(capsys, ledger)
    monkeypatch.delenv("NOC_LEDGER_PASSPHRASE")
    assert ok(capsys, "status", ledger, cert_id)["state"] == "active"
    assert ok(capsys, "log", ledger)["size"] == 2
    ok(capsys, "checkpoint", ledger)
    ok(capsys, "bundle", ledger, cert_id, "-o", ledger.parent / "b.cbor")
    ok(capsys, "trust", ledger, "-o", ledger.parent / "policy.txt")
    # Writing does need it, and says where it comes from.
    assert "NOC_LEDGER_PASSPHRASE" in fails(capsys, "revoke", ledger, cert_id, "--reason", "other")


# ---------------------------------------------------------------------------------------
# issue


def test_issue_the_spec_examples_toml_and_json(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noc = write(ledger.parent / "noc.toml", NOC_TOML)
    result = ok(capsys, "issue", ledger, noc)
    assert result["index"] == 1 and result["count"] == 1 and result["duplicates"] == 0
    assert re.fullmatch(r"[0-9a-f]{64}", result["id"])
    status = ok(capsys, "status", ledger, result["id"])
    assert status["certificate"]["instrument"] == "noc"
    assert status["certificate"]["valid_until"] == 1_782_864_000  # "2026-07-01T00:00:00Z"
    lic = write(ledger.parent / "licence.json", LICENCE_JSON)
    result2 = ok(capsys, "issue", ledger, lic)
    assert result2["index"] == 2
    # Human output: the id and the index.
    code, out, _ = run(capsys, "issue", ledger, noc)
    assert code == 0 and result["id"] in out and "index 1" in out and "already" in out


def test_issue_adds_the_noc_disclaimer(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from noc_ledger.model import NOC_DISCLAIMER_CODE, Certificate

    cert_id = issue_noc(capsys, ledger)
    status = ok(capsys, "status", ledger, cert_id)
    assert status["certificate"]["instrument"] == "noc"
    bundle = ledger.parent / "noc.bundle"
    ok(capsys, "bundle", ledger, cert_id, "-o", bundle)
    from noc_ledger.bundle import Bundle

    entry = Bundle.from_cbor(bundle.read_bytes()).certificate.entry
    cert = Certificate.from_cbor(signing.decode_sign1(entry).payload)
    assert cert.legal_notice(NOC_DISCLAIMER_CODE) is not None


INVALID_REQUESTS = [
    pytest.param(
        {"AURSDO55": "AURSDO56"}, "subject.lei: check digits do not verify", id="lei-check"
    ),
    pytest.param({'number = "VARA': 'numero = "VARA'}, "numero: unknown field", id="unknown"),
    pytest.param(
        {'instrument = "noc"': 'instrument = "permit"'}, "instrument: 'permit'", id="instrument"
    ),
    pytest.param(
        {'valid_until = "2026-07-01T00:00:00Z"': 'valid_until = "2025-07-01T00:00:00Z"'},
        "valid_until: must be after valid_from",
        id="validity",
    ),
    pytest.param(
        {"issued_at = 2026-01-01T00:00:00Z": "issued_at = 2026-01-01T00:00:00+04:00"},
        "issued_at: a date-time must be in UTC",
        id="non-utc",
    ),
    pytest.param(
        {"issued_at = 2026-01-01T00:00:00Z": 'issued_at = "yesterday"'},
        "issued_at: 'yesterday' is not an RFC 3339",
        id="time-text",
    ),
    pytest.param(
        {"issued_at = 2026-01-01T00:00:00Z": "issued_at = 1.5"},
        "numbers are integers",
        id="float",
    ),
    pytest.param(
        {'"example-exchange.ae"': '"Example.AE"'}, "subject.domains[0]: domain", id="domain"
    ),
    pytest.param(
        {'holder_keys = ["jOXn': 'holder_keys = ["AAAA", "jOXn'},
        "subject.holder_keys[0]: an Ed25519 public key is 32 bytes",
        id="holder-key",
    ),
    pytest.param(
        {'scheme = "ae-ded-licence"': 'scheme = "AE DED"'},
        "subject.identifiers[0]",
        id="identifier",
    ),
    pytest.param(
        {'activity = "prep.aml_registration"': 'activity = "va.custody"'},
        "scope.grants[0].activity: a NOC grants preparatory activities only",
        id="noc-operating",
    ),
    pytest.param(
        {'activity = "prep.aml_registration"': 'activity = "prep.nothing"'},
        "scope.grants[0]: unknown activity",
        id="activity",
    ),
    pytest.param(
        {'territory = { include = ["AE"] }': 'territory = { include = ["UAE"] }'},
        "scope.grants[0].territory",
        id="territory",
    ),
    pytest.param(
        {'customer_types = ["institutional", "professional", "retail"]': "customer_types = 3"},
        "scope.grants[0].customer_types: expected a list of strings",
        id="customer-types",
    ),
    pytest.param({"[subject]": "[subjekt]"}, "subjekt: unknown field", id="subject-typo"),
    pytest.param({"instrument = ": "instrument = = "}, "invalid TOML", id="toml-syntax"),
]


@pytest.mark.parametrize(("replace", "message"), INVALID_REQUESTS)
def test_validation_errors_name_the_field(
    ledger: Path, capsys: pytest.CaptureFixture[str], replace: dict[str, str], message: str
) -> None:
    text = NOC_TOML
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    request = write(ledger.parent / "bad.toml", text)
    line = fails(capsys, "issue", ledger, request)
    assert f"{request}: " in line and message in line, line
    assert size(capsys, ledger) == 1


INVALID_JSON = [
    pytest.param(lambda v: v.update(extra=1), "extra: unknown field", id="unknown"),
    pytest.param(
        lambda v: v["scope"]["grants"][0]["limits"][0].update(maximum="1000000"),
        "scope.grants[0].limits[0].maximum: expected an integer",
        id="limit",
    ),
    pytest.param(
        lambda v: v["scope"]["grants"][0].update(products_allowed=["asset:btc"]),
        "scope.grants[0]: grant: give products allowed or products denied, not both",
        id="products",
    ),
    pytest.param(
        lambda v: v.update(valid_from="2026-04-01T00:00:00.5Z"),
        "valid_from: '2026-04-01T00:00:00.5Z' is not an RFC 3339",
        id="fraction",
    ),
    pytest.param(
        lambda v: v.update(edges=[{"kind": "supersedes", "target": "xyz"}]),
        "edges[0].target: expected a certificate id",
        id="edge",
    ),
    pytest.param(lambda v: v.pop("subject"), "subject: required field is missing", id="subject"),
    pytest.param(
        lambda v: v["subject"].pop("legal_name"),
        "subject.legal_name: required field is missing",
        id="legal-name",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), INVALID_JSON)
def test_json_validation_errors_name_the_field(
    ledger: Path, capsys: pytest.CaptureFixture[str], mutate: Any, message: str
) -> None:
    value = licence()
    mutate(value)
    request = write(ledger.parent / "bad.json", json.dumps(value))
    line = fails(capsys, "issue", ledger, request)
    assert message in line, line


def test_json_duplicate_keys_and_syntax(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dup = write(ledger.parent / "dup.json", '{"number": "a", "number": "b"}')
    assert "duplicate key 'number'" in fails(capsys, "issue", ledger, dup)
    broken = write(ledger.parent / "broken.json", '{"number": ')
    assert "invalid JSON at line 1" in fails(capsys, "issue", ledger, broken)


# -- bulk ------------------------------------------------------------------------------


def test_bulk_from_a_directory(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = ledger.parent / "requests"
    for n in range(1, 8):
        write(folder / f"{n:02d}.toml", noc_toml(n))
    write(folder / "08.json", json.dumps(licence()))
    write(folder / ".hidden.toml", "not a request")
    result = ok(capsys, "issue", ledger, folder, "--batch", "3")
    assert result["count"] == 8 and result["size"] == 9
    assert [c["index"] for c in result["certificates"]] == list(range(1, 9))
    assert result["certificates"][0]["source"].endswith("01.toml")
    # Again: nothing new (issued_at is given, so the payloads are the same).
    again = ok(capsys, "issue", ledger, folder)
    assert again["duplicates"] == 8 and again["size"] == 9


def test_bulk_from_json_lines(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.dumps(licence(number=f"VARA/LIC/2026/{n:04d}")) for n in range(1, 6)]
    request = write(
        ledger.parent / "bulk.jsonl", "\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:])
    )
    result = ok(capsys, "issue", ledger, request, "--batch", "2")
    assert result["count"] == 5 and [c["source"] for c in result["certificates"]][2] == (
        f"{request}:4"
    )
    ids = {c["id"] for c in result["certificates"]}
    log = ok(capsys, "log", ledger)
    assert {e["id"] for e in log["entries"] if e["kind"] == "certificate"} == ids


def test_bulk_directory_with_an_invalid_request_writes_nothing(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = ledger.parent / "requests"
    for n in range(1, 6):
        write(folder / f"{n:02d}.toml", noc_toml(n))
    write(folder / "03.toml", noc_toml(3, AURSDO55="AURSDO56"))
    line = fails(capsys, "issue", ledger, folder, "--batch", "1")
    assert "03.toml: subject.lei: check digits do not verify" in line
    assert "nothing was written" in line
    assert size(capsys, ledger) == 1


def test_bulk_json_lines_with_an_invalid_line_writes_nothing(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = [licence(number=f"VARA/LIC/2026/{n:04d}") for n in range(1, 6)]
    values[2]["subject"]["domains"] = ["not a domain"]
    request = write(ledger.parent / "bulk.jsonl", "\n".join(json.dumps(v) for v in values))
    line = fails(capsys, "issue", ledger, request, "--batch", "1")
    assert f"{request}:3: subject.domains[0]" in line
    assert size(capsys, ledger) == 1


def test_bulk_refused_by_the_log_rules_writes_nothing(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Valid on its own, refused by the log: an edge to a certificate not in the log.
    values = [licence(number=f"VARA/LIC/2026/{n:04d}") for n in range(1, 5)]
    values[3]["edges"] = [{"kind": "supersedes", "target": ZERO_ID}]
    request = write(ledger.parent / "bulk.jsonl", "\n".join(json.dumps(v) for v in values))
    line = fails(capsys, "issue", ledger, request, "--batch", "1")
    assert f"{request}:4: the log would refuse it: TransitionError" in line
    assert size(capsys, ledger) == 1


def test_bulk_line_edge_to_an_earlier_request_of_the_same_run(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The log check sees the earlier requests of the run, as the log will.
    from noc_ledger.cli.admin import parse_request
    from noc_ledger.model import Issuer

    first = licence()
    first_id = parse_request(first, issuer=Issuer(AUTHORITY, "AE-DU"), now=0).id.hex()
    second = licence(
        number="VARA/LIC/2026/0001-A",
        issued_at="2026-05-01T00:00:00Z",
        valid_from="2026-05-01T00:00:00Z",
        edges=[{"kind": "supersedes", "target": first_id}],
    )
    request = write(
        ledger.parent / "bulk.jsonl", json.dumps(first) + "\n" + json.dumps(second) + "\n"
    )
    result = ok(capsys, "issue", ledger, request, "--batch", "1")
    assert result["certificates"][0]["id"] == first_id
    assert ok(capsys, "status", ledger, first_id)["state"] == "superseded"


# ---------------------------------------------------------------------------------------
# lifecycle


def test_every_status_event(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lic = ok(capsys, "issue", ledger, write(ledger.parent / "l.json", LICENCE_JSON))["id"]
    r = ok(
        capsys, "suspend", ledger, lic, "--reason", "breach-of-conditions", "--grant", "va.custody"
    )
    assert r["event"] == "suspend" and r["record"]["state"] == "active"
    assert r["record"]["suspended"] == ["va.custody"]
    r = ok(capsys, "reinstate", ledger, lic, "--grant", "va.custody")
    assert r["record"]["suspended"] == []
    r = ok(capsys, "suspend", ledger, lic, "--reason", "aml-cft-failure", "--reason-text", "Probe")
    assert r["record"]["state"] == "suspended" and r["record"]["reason"] == "aml-cft-failure"
    r = ok(capsys, "reinstate", ledger, lic)
    assert r["record"]["state"] == "active"
    r = ok(capsys, "revoke", ledger, lic, "--reason", "false-information")
    assert r["record"]["state"] == "revoked"
    status = ok(capsys, "status", ledger, lic)
    assert [h["state"] for h in status["history"]] == ["active"] * 3 + ["suspended", "active"]
    # Revocation is final.
    assert "TransitionError" in fails(capsys, "reinstate", ledger, lic)

    for number, command, state in (
        (2, "surrender", "surrendered"),
        (3, "lapse", "lapsed"),
        (4, "expire", "expired"),
    ):
        cert_id = issue_noc(capsys, ledger, number)
        r = ok(capsys, command, ledger, cert_id, "--effective", "2026-02-01T00:00:00Z")
        assert r["record"]["state"] == state and r["record"]["since"] == 1_769_904_000
    # Human output.
    cert_id = issue_noc(capsys, ledger, 5)
    code, out, _ = run(capsys, "suspend", ledger, cert_id, "--reason", "other")
    assert code == 0 and "logged at index" in out and "state: suspended" in out


def test_event_errors(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert_id = issue_noc(capsys, ledger)
    line = fails(capsys, "suspend", ledger, cert_id, "--reason", "other", "--grant", "va.custody")
    assert "no grants for ['va.custody']" in line
    line = fails(
        capsys,
        "revoke",
        ledger,
        cert_id,
        "--reason",
        "other",
        "--effective",
        "2025-01-01T00:00:00Z",
    )
    assert "effective before the certificate was issued" in line
    assert "not suspended" in fails(capsys, "reinstate", ledger, cert_id)
    # --reason is required for suspend and revoke (a usage error, status 2).
    code, _, err = run(capsys, "revoke", ledger, cert_id)
    assert code == 2 and "--reason" in err


def test_successor_commands(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    noc_id = ok(capsys, "issue", ledger, write(ledger.parent / "noc.toml", NOC_TOML))["id"]
    lic_file = write(ledger.parent / "licence.json", LICENCE_JSON)
    up = ok(capsys, "upgrade", ledger, noc_id, lic_file)
    assert up["edge"] == "upgrades" and up["predecessor"] == noc_id
    assert up["predecessor_state"] == "superseded"
    noc_status = ok(capsys, "status", ledger, noc_id)
    assert noc_status["state"] == "superseded" and noc_status["successor"] == up["id"]
    lic_status = ok(capsys, "status", ledger, up["id"])
    assert lic_status["certificate"]["edges"] == [{"kind": "upgrades", "target": noc_id}]

    previous = up["id"]
    for n, command in enumerate(("vary", "renew", "correct"), start=1):
        request = write(
            ledger.parent / f"{command}.json",
            json.dumps(
                licence(
                    number=f"VARA/LIC/2026/0001-{n}",
                    issued_at=f"2026-0{4 + n}-01T00:00:00Z",
                    valid_from=f"2026-0{4 + n}-01T00:00:00Z",
                )
            ),
        )
        result = ok(capsys, command, ledger, previous, request)
        assert result["action"] == command and result["edge"] == "supersedes"
        assert ok(capsys, "status", ledger, previous)["successor"] == result["id"]
        previous = result["id"]
    # The edge must fit (events.md §4.3): a superseding certificate keeps the instrument.
    line = fails(capsys, "vary", ledger, previous, write(ledger.parent / "n.toml", noc_toml(9)))
    assert "keeps the instrument" in line and "nothing was written" in line
    # A superseded certificate cannot be superseded again.
    noc_again = write(ledger.parent / "noc-12.toml", noc_toml(12))
    assert "already superseded" in fails(capsys, "renew", ledger, noc_id, noc_again)
    # One request only.
    folder = ledger.parent / "two"
    write(folder / "a.toml", noc_toml(10))
    write(folder / "b.toml", noc_toml(11))
    assert "takes one request" in fails(capsys, "correct", ledger, previous, folder)


# ---------------------------------------------------------------------------------------
# keys


def key_ids(capsys: pytest.CaptureFixture[str], ledger: Path) -> dict[str, dict[str, Any]]:
    return {k["key_id"]: k for k in ok(capsys, "key", "list", ledger)["keys"]}


def test_key_delegate_rotate_revoke(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = ok(capsys, "key", "list", ledger)["issuing_key"]
    scope = write(ledger.parent / "scope.toml", SCOPE_TOML)
    d = ok(
        capsys,
        "key",
        "delegate",
        ledger,
        "--scope",
        scope,
        "--label",
        "NOC desk",
        "--valid-from",
        "2025-06-01T00:00:00Z",
    )
    assert d["state"] == "delegated" and d["current"] is False and d["label"] == "NOC desk"
    key_file = ledger / d["file"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert ok(capsys, "key", "list", ledger)["issuing_key"] == first

    # Rotate, revoking the old key in the same transaction.
    r = ok(capsys, "key", "rotate", ledger, "--revoke-old", "--valid-from", "2025-06-01T00:00:00Z")
    assert r["previous"] == first and r["revoked"] == first and r["current"] is True
    keys = key_ids(capsys, ledger)
    assert keys[first]["state"] == "revoked" and keys[first]["invalidate_from"] == r["index"] + 1
    # New certificates are signed by the new key.
    cert_id = issue_noc(capsys, ledger)
    log = ok(capsys, "log", ledger)["entries"]
    assert log[-1]["id"] == cert_id and log[-1]["signed_by"] == r["key_id"]

    # Delegate, make current, and revoke by prefix with --invalidate-from.
    d2 = ok(
        capsys, "key", "delegate", ledger, "--make-current", "--valid-from", "2025-06-01T00:00:00Z"
    )
    assert d2["current"] is True
    second = issue_noc(capsys, ledger, 2)
    second_index = ok(capsys, "status", ledger, second)["issued_index"]
    rv = ok(
        capsys,
        "key",
        "revoke",
        ledger,
        d2["key_id"][:12],
        "--reason",
        "key-compromise",
        "--invalidate-from",
        str(second_index),
    )
    assert rv["state"] == "revoked" and rv["invalidate_from"] == second_index
    key_status = ok(capsys, "status", ledger, d2["key_id"])
    assert key_status["kind"] == "key" and key_status["invalidate_from"] == second_index
    # It was the current key: issuing now needs a rotation.
    assert "no current issuing key" in fails(
        capsys, "issue", ledger, write(ledger.parent / "x.toml", noc_toml(3))
    )
    ok(capsys, "key", "rotate", ledger, "--valid-from", "2025-06-01T00:00:00Z")
    issue_noc(capsys, ledger, 3)


def test_key_errors(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in (ledger / "keys").iterdir())
    saudi = write(
        ledger.parent / "saudi.toml",
        SCOPE_TOML.replace('include = ["AE"]', 'include = ["SA"]'),
    )
    assert "ScopeError" in fails(capsys, "key", "delegate", ledger, "--scope", saudi)
    # The refused key's file was removed again; the config is unchanged.
    assert sorted(p.name for p in (ledger / "keys").iterdir()) == before
    assert len(key_ids(capsys, ledger)) == 1
    assert "no issuing key" in fails(
        capsys, "key", "revoke", ledger, "deadbeef", "--reason", "other"
    )
    assert "hex digits" in fails(capsys, "key", "revoke", ledger, "xyz", "--reason", "other")
    line = fails(capsys, "key", "delegate", ledger, "--valid-until", "soon")
    assert "--valid-until: 'soon'" in line
    first = next(iter(key_ids(capsys, ledger)))
    assert "invalidate-from" in fails(
        capsys, "key", "revoke", ledger, first, "--reason", "other", "--invalidate-from", "0"
    )


# ---------------------------------------------------------------------------------------
# reading: checkpoint, bundle, trust, log, status


def test_reading_commands_json(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    noc_id = ok(capsys, "issue", ledger, write(ledger.parent / "noc.toml", NOC_TOML))["id"]
    cp = ok(capsys, "checkpoint", ledger)
    assert cp["origin"] == ORIGIN and cp["size"] == 2
    assert cp["note"].startswith(f"{ORIGIN}\n2\n")
    out = ledger.parent / "checkpoint.txt"
    assert ok(capsys, "checkpoint", ledger, "-o", out)["file"] == str(out)
    assert out.read_text() == cp["note"]

    log = ok(capsys, "log", ledger)
    assert log["size"] == 2
    assert [(e["index"], e["kind"]) for e in log["entries"]] == [
        (0, "key-event"),
        (1, "certificate"),
    ]
    assert (
        log["entries"][1]["id"] == noc_id and "VARA/NOC/2026/0001" in log["entries"][1]["summary"]
    )
    assert ok(capsys, "log", ledger, "--start", "1", "--limit", "5")["entries"][0]["index"] == 1

    status = ok(capsys, "status", ledger, noc_id)
    assert status["kind"] == "certificate" and status["state"] == "active"
    assert status["issued_index"] == 1 and status["history"] == []

    bundle = ledger.parent / "noc.bundle"
    b = ok(capsys, "bundle", ledger, noc_id, "-o", bundle)
    assert b["bytes"] == bundle.stat().st_size and b["index"] == 1 and b["checkpoint_size"] == 2

    policy = ledger.parent / "policy.txt"
    t = ok(capsys, "trust", ledger, "-o", policy, "--max-status-age", "3600")
    assert t["max_status_age"] == 3600 and policy.read_text() == t["policy"]
    assert "max-status-age 3600" in t["policy"]

    # Human forms.
    for argv in (["log", ledger], ["status", ledger, noc_id], ["checkpoint", ledger]):
        code, text, _ = run(capsys, *argv)
        assert code == 0 and text


def test_bundle_verifies_against_the_published_policy(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noc_id = ok(capsys, "issue", ledger, write(ledger.parent / "noc.toml", NOC_TOML))["id"]
    lic_id = ok(
        capsys, "upgrade", ledger, noc_id, write(ledger.parent / "licence.json", LICENCE_JSON)
    )["id"]
    policy_file = ledger.parent / "policy.txt"
    ok(capsys, "trust", ledger, "-o", policy_file, "--max-status-age", "3600")
    policy = parse_policy(policy_file.read_bytes())
    bundle_file = ledger.parent / "licence.bundle"
    ok(capsys, "bundle", ledger, lic_id, "-o", bundle_file)
    verified = verify_bundle(bundle_file.read_bytes(), policy, at=T_VERIFY)
    assert verified.certificate_id.hex() == lic_id
    assert verified.certificate.number == "VARA/LIC/2026/0001"
    # A bundle at an earlier checkpoint size is written too (and predates nothing it needs).
    older = ledger.parent / "older.bundle"
    ok(capsys, "bundle", ledger, lic_id, "-o", older, "--size", "3")
    verify_bundle(older.read_bytes(), policy, at=T_VERIFY)


# ---------------------------------------------------------------------------------------
# errors: one line, a status, never a traceback


def _error_cases(ledger: Path, tmp: Path) -> list[tuple[list[str | Path], str]]:
    empty = tmp / "empty"
    empty.mkdir()
    junk = tmp / "junk"
    write(junk / "README.txt", "not a request")
    binary = tmp / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    broken = tmp / "broken"
    shutil.copytree(ledger, broken)
    (broken / "ledger.json").write_text("{not json")
    no_db = tmp / "no-db"
    shutil.copytree(ledger, no_db)
    (no_db / "ledger.db").unlink()
    noc = write(tmp / "noc.toml", NOC_TOML)
    return [
        (["issue", ledger, tmp / "missing.toml"], "does not exist"),
        (["issue", ledger, empty], "holds no request"),
        (["issue", ledger, junk], "not a request file"),
        (["issue", ledger, binary], "not UTF-8"),
        (["issue", ledger, noc, "--batch", "0"], "--batch"),
        (["issue", tmp / "nowhere", noc], "is not a directory"),
        (["issue", empty, noc], "not a ledger directory"),
        (["issue", broken, noc], "ledger.json: invalid JSON"),
        (["issue", no_db, noc], "ledger.db is missing"),
        (["status", ledger, "zz"], "expected 64 hex digits"),
        (["status", ledger, ZERO_ID], "no certificate or key"),
        (["bundle", ledger, ZERO_ID, "-o", tmp / "b"], "no certificate"),
        (["bundle", ledger, "12", "-o", tmp / "b"], "expected 64 hex digits"),
        (["revoke", ledger, ZERO_ID, "--reason", "other"], "no certificate"),
        (["upgrade", ledger, ZERO_ID, noc], "no certificate"),
        (["checkpoint", ledger, "-o", tmp], "cannot write"),
        (["trust", ledger, "-o", tmp], "cannot write"),
        (["trust", ledger, "-o", tmp / "p", "--witness", "garbage"], "DecodeError"),
        (["trust", ledger, "-o", tmp / "p", "--max-status-age", "0"], "--max-status-age"),
        (["trust", ledger, "-o", tmp / "p", "--quorum", "w1"], "PolicyError"),
        (["log", ledger, "--start", "-1"], "--start"),
        (["init", ledger, *INIT], "not empty"),
        (["init", tmp / "new", *INIT[:4], "--jurisdiction", "Dubai"], "--jurisdiction"),
        (["init", tmp / "new2", *INIT, "--root-scope", tmp / "none.toml"], "cannot read"),
        (
            ["init", tmp / "new3", *INIT, "--issuing-valid-until", "2024-01-01T00:00:00Z"],
            "valid until must be after",
        ),
        (["key", "delegate", ledger, "--scope", binary], "not UTF-8"),
        (["key", "rotate", broken], "ledger.json"),
    ]


def test_no_traceback_on_any_error(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp = tmp_path / "cases"
    tmp.mkdir()
    for argv, message in _error_cases(ledger, tmp):
        line = fails(capsys, *argv)
        assert message in line, (argv, line)
        # With --json the error is one JSON object on stdout as well.
        code, out, err = run(capsys, *argv, "--json")
        assert code == 1 and "Traceback" not in err
        assert json.loads(out) == {"error": line.removeprefix("noc-ledger: "), "exit": 1}
    assert size(capsys, ledger) == 1


# ---------------------------------------------------------------------------------------
# the real command


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), e.get("PYTHONPATH", "")])
    e.pop("NOC_LEDGER_PASSPHRASE", None)
    yield e


def test_console_script_and_python_dash_m(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "ledger"
    done = subprocess.run(
        [sys.executable, "-m", "noc_ledger", "init", str(path), *INIT, "--json"],
        env={**env, "NOC_LEDGER_PASSPHRASE": PASSPHRASE},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["size"] == 1
    script = Path(sys.executable).parent / "noc-ledger"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "noc_ledger"]
    request = write(tmp_path / "noc.toml", NOC_TOML)
    done = subprocess.run(
        [*command, "issue", str(path), str(request)],
        env={**env, "NOC_LEDGER_PASSPHRASE": PASSPHRASE},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "index 1" in done.stdout, done.stderr
    cert_id = done.stdout.split()[0]
    # No passphrase and no terminal: a clear line, no traceback, status 1.
    done = subprocess.run(
        [*command, "revoke", str(path), cert_id, "--reason", "other"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("noc-ledger: ")
    done = subprocess.run(
        [*command, "log", str(path), "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and json.loads(done.stdout)["size"] == 2


def test_spec_examples_are_valid_toml_and_json() -> None:
    assert [kind for kind, _ in BLOCKS][:3] == ["toml", "json", "toml"]
    tomllib.loads(NOC_TOML)
    json.loads(LICENCE_JSON)


# ---------------------------------------------------------------------------------------
# id prefixes: read-only commands take a unique prefix, signing commands the full id


def test_read_only_commands_take_a_unique_id_prefix(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noc_id = ok(capsys, "issue", ledger, write(ledger.parent / "noc.toml", NOC_TOML))["id"]
    for prefix in (noc_id[:8], noc_id[:9].upper(), noc_id[:40]):
        assert ok(capsys, "status", ledger, prefix)["id"] == noc_id
    bundle_file = ledger.parent / "noc.bundle"
    assert ok(capsys, "bundle", ledger, noc_id[:12], "-o", bundle_file)["id"] == noc_id
    # Too short, not hex, or matching nothing: one line, exit 1, nothing written.
    other = "0" * 8 if not noc_id.startswith("0" * 8) else "f" * 8
    for bad, message in (
        (noc_id[:7], "expected 64 hex digits, or the first 8 or more"),
        (noc_id[:7] + "g", "expected 64 hex digits"),
        (other, "no certificate or key id in this ledger starts so"),
    ):
        code, out, err = run(capsys, "status", ledger, bad)
        assert code == 1 and out == "" and message in err, (bad, err)
    # The commands that sign an event take the full id only.
    code, _, err = run(capsys, "suspend", ledger, noc_id[:12], "--reason", "other")
    assert code == 1 and "expected 64 hex digits" in err
    assert ok(capsys, "status", ledger, noc_id)["state"] == "active"


def test_an_ambiguous_prefix_is_refused(
    ledger: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    noc_id = ok(capsys, "issue", ledger, write(ledger.parent / "noc.toml", NOC_TOML))["id"]
    # Two ids sharing 8 hex digits cannot be made on purpose; the ledger's answer can.
    monkeypatch.setattr(
        Ledger, "find_ids", lambda self, prefix, limit=2: [bytes(32), bytes(31) + b"\x01"]
    )
    code, out, err = run(capsys, "bundle", ledger, noc_id[:8], "-o", ledger.parent / "x")
    assert code == 1 and out == "" and "several ids start so" in err
    assert not (ledger.parent / "x").exists()
