"""The relying party's commands: `verify`, `present`, `verify-presentation`, `show`.

Bundles come from a real ledger (as in tests/test_verify.py); every command runs
in-process through :func:`noc_ledger.cli.main`, as the console script does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from noc_ledger import signing
from noc_ledger.bundle import Bundle
from noc_ledger.cli import main
from noc_ledger.cli.common import EXIT, PASSPHRASE_ENV
from noc_ledger.cli.verifier import format_time, parse_time
from noc_ledger.events import ReasonCode, StatusEvent, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.model import NOC_DISCLAIMER_CODE, NOC_DISCLAIMER_TEXT, sign_certificate
from tests.ledger_story import AUTHORITY, ISSUER, LOG, ORIGIN, ROOT, delegation
from tools.gen_vectors import DAY, HOLDER, T0, sample_licence, sample_noc

PASSPHRASE = "correct horse battery staple"
NONCE = "00112233445566778899aabbccddeeff"
AML = ["--activity", "prep.aml_registration", "--customer-type", "retail", "--territory", "AE"]
FIAT_DU = ["--activity", "va.exchange.fiat", "--customer-type", "retail", "--territory", "AE-DU"]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _noc(number: int, **changes: Any) -> Any:
    return dataclasses.replace(sample_noc(), number=f"VARA/NOC/2026/{number:04d}", **changes)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One ledger, one bundle per verdict, written as files with the trust policy."""
    d = tmp_path_factory.mktemp("verifier")
    clock = Clock()
    ledger = Ledger(MemoryStore(), origin=ORIGIN, authority=AUTHORITY, log_signer=LOG, clock=clock)
    ledger.record_key_event(delegation(ISSUER), ROOT)
    noc = sample_noc()
    short = _noc(2, valid_until=T0 + DAY)
    to_suspend, to_revoke, to_surrender = _noc(3), _noc(4), _noc(5)
    ledger.issue_batch([noc, short, to_suspend, to_revoke, to_surrender], ISSUER)
    files: dict[str, Path] = {}

    def write(name: str, data: bytes) -> None:
        files[name] = d / name
        files[name].write_bytes(data)

    write("policy", ledger.trust_policy(max_status_age=2 * DAY, authority_name="VARA"))
    write("noc", ledger.bundle(noc.id))
    write("short", ledger.bundle(short.id))
    cut = Bundle.from_cbor(ledger.bundle(noc.id))
    write("not-covered", dataclasses.replace(cut, checkpoint=ledger.checkpoint_at(1)).to_cbor())
    flipped = bytearray(files["noc"].read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    write("tampered", bytes(flipped))

    clock.now = T0 + 10
    for cert, kind, reason in (
        (to_suspend, StatusEventKind.SUSPEND, ReasonCode.AML_CFT_FAILURE),
        (to_revoke, StatusEventKind.REVOKE, ReasonCode.FALSE_INFORMATION),
        (to_surrender, StatusEventKind.SURRENDER, None),
    ):
        ledger.record(StatusEvent(kind, cert.id, clock.now, clock.now, reason), ISSUER)
    clock.now = T0 + 20
    licence = dataclasses.replace(sample_licence(), valid_from=T0 + 20)
    ledger.issue(licence, ISSUER)
    write("licence", ledger.bundle(licence.id))
    write("superseded", ledger.bundle(noc.id))
    write("suspended", ledger.bundle(to_suspend.id))
    write("revoked", ledger.bundle(to_revoke.id))
    write("ended", ledger.bundle(to_surrender.id))

    write("holder.pem", signing.encode_private_key(HOLDER, PASSPHRASE.encode()))
    write("holder-plain.pem", signing.encode_private_key_unsafe_unencrypted(HOLDER))
    stranger = signing.Ed25519Signer(b"\x42" * 32)
    write("stranger.pem", signing.encode_private_key_unsafe_unencrypted(stranger))
    write("certificate.cose", sign_certificate(noc, ISSUER))
    write("certificate.cbor", noc.to_cbor())
    write("licence.cose", sign_certificate(licence, ISSUER))
    write("garbage", b"\x00not a bundle\xff" * 7)
    write("key-event", Bundle.from_cbor(files["noc"].read_bytes()).key_chain[0].entry)
    event = StatusEvent(
        StatusEventKind.SUSPEND,
        to_suspend.id,
        T0 + 10,
        T0 + 10,
        ReasonCode.AML_CFT_FAILURE,
        "Pending an inspection.",
        ("prep.aml_registration",),
    )
    write("status-event", event.sign(ISSUER))
    files["licence_id"] = Path(licence.id.hex())
    files["noc_id"] = Path(noc.id.hex())
    return files


def run(argv: Sequence[str | Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `noc-ledger ARGV` in-process: (exit status, stdout, stderr)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def verify_args(world: dict[str, Path], name: str, at: int, *extra: str) -> list[str]:
    return ["verify", str(world[name]), "--trust", str(world["policy"]), "--at", str(at), *extra]


# ---------------------------------------------------------------------------------------
# verify: one exit status per verdict


VERDICT_CASES = [
    ("noc", T0 + 60, AML, "valid"),
    ("noc", T0 + 60, ["--activity", "va.exchange.fiat", "--customer-type", "retail",
                      "--territory", "AE"], "out-of-scope"),
    ("noc", T0 - 1, [], "not-yet-valid"),
    ("short", T0 + DAY + 5, [], "expired"),
    ("suspended", T0 + 30, AML, "suspended"),
    ("revoked", T0 + 30, AML, "revoked"),
    ("superseded", T0 + 30, AML, "superseded"),
    ("ended", T0 + 30, [], "ended"),
    ("noc", T0 + 3 * DAY, AML, "stale"),
    ("not-covered", T0 + 60, [], "not-covered"),
    ("tampered", T0 + 60, [], "invalid"),
    ("licence", T0 + 30, FIAT_DU, "valid"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "at", "query", "verdict"), VERDICT_CASES)
def test_exit_status_per_verdict(
    world: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    name: str,
    at: int,
    query: list[str],
    verdict: str,
) -> None:
    status, out, err = run(verify_args(world, name, at, *query), capsys)
    assert status == EXIT[verdict]
    assert out.splitlines()[0].startswith(verdict.upper() + " — ")
    assert "reasons (spec/verification.md §3):" in out
    assert err == ""


def test_the_documented_statuses() -> None:
    assert [EXIT[v] for v in ("valid", "out-of-scope", "revoked", "superseded", "stale")] == [
        0,
        10,
        14,
        15,
        20,
    ]
    assert EXIT["invalid"] == 30


@pytest.mark.parametrize(("name", "at", "query", "verdict"), VERDICT_CASES)
def test_json_fields(
    world: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    name: str,
    at: int,
    query: list[str],
    verdict: str,
) -> None:
    status, out, _ = run([*verify_args(world, name, at, *query), "--json"], capsys)
    report = json.loads(out)  # exactly one object
    assert report["verdict"] == verdict and report["exit"] == status == EXIT[verdict]
    assert {"verdict", "cert_id", "reasons", "details", "at", "query", "legal_notices"} <= set(
        report
    )
    reasons = report["reasons"]
    assert [r["step"] for r in reasons] == list(range(1, len(reasons) + 1))
    assert all(set(r) == {"step", "name", "ok", "detail"} for r in reasons)
    assert all(r["ok"] for r in reasons[:-1])
    assert reasons[-1]["ok"] is (verdict == "valid")
    if verdict == "valid":
        assert len(reasons) == 14
    if report["cert_id"] is not None:
        assert len(bytes.fromhex(report["cert_id"])) == 32
        assert report["certificate"]["id"] == report["cert_id"]


def test_json_details_of_status_verdicts(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run([*verify_args(world, "revoked", T0 + 30, *AML), "--json"], capsys)
    revoked = json.loads(out)
    assert revoked["details"]["reason"] == "false-information"
    assert revoked["details"]["since"] == T0 + 10
    assert revoked["details"]["since_utc"] == format_time(T0 + 10)
    _, out, _ = run([*verify_args(world, "superseded", T0 + 30, *AML), "--json"], capsys)
    superseded = json.loads(out)
    assert superseded["details"]["successor"] == str(world["licence_id"])
    assert superseded["cert_id"] == str(world["noc_id"])
    _, out, _ = run([*verify_args(world, "noc", T0 + 3 * DAY, *AML), "--json"], capsys)
    stale = json.loads(out)
    assert stale["cert_id"] is None  # the certificate was never reached
    assert stale["details"]["checkpoint"]["age"] == 3 * DAY
    assert stale["details"]["max_status_age"] == 2 * DAY
    _, out, _ = run([*verify_args(world, "noc", T0 + 60, *AML), "--json"], capsys)
    valid = json.loads(out)
    assert [n["code"] for n in valid["legal_notices"]] == [NOC_DISCLAIMER_CODE]
    assert [g["activity"] for g in valid["details"]["permitted_by"]] == ["prep.aml_registration"]
    assert valid["query"] == {
        "activity": "prep.aml_registration",
        "customer_type": "retail",
        "territory": "AE",
    }


def test_human_output_says_why(world: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(verify_args(world, "noc", T0 + 60, *AML), capsys)
    assert NOC_DISCLAIMER_TEXT in out  # the legal rules travel with the verdict
    assert "AML reporting registration" in out
    _, out, _ = run(verify_args(world, "revoked", T0 + 30, *AML), capsys)
    assert "false-information" in out and format_time(T0 + 10) in out
    _, out, _ = run(verify_args(world, "superseded", T0 + 30, *AML), capsys)
    assert str(world["licence_id"]) in out
    _, out, _ = run(verify_args(world, "noc", T0 + 3 * DAY, *AML), capsys)
    assert "can't tell" in out and "refreshed bundle" in out
    _, out, _ = run(verify_args(world, "tampered", T0 + 60), capsys)
    assert "[FAIL]" in out and "not authenticated" in out


def test_amount_against_limits(world: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    within = [*FIAT_DU, "--amount", "5000", "--unit", "AED"]
    above = [*FIAT_DU, "--amount", "2000000", "--unit", "AED"]
    assert run(verify_args(world, "licence", T0 + 30, *within), capsys)[0] == 0
    assert run(verify_args(world, "licence", T0 + 30, *above), capsys)[0] == EXIT["out-of-scope"]
    product = [*FIAT_DU, "--product", "category:privacy"]
    assert run(verify_args(world, "licence", T0 + 30, *product), capsys)[0] == 10


def test_at_accepts_rfc3339_and_posix(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_time("2026-01-01T00:00:00Z") == T0 == parse_time(str(T0))
    assert parse_time("2026-01-01T04:00:00+04:00") == T0
    assert parse_time("2026-01-01t00:00:00.75z") == T0
    args = verify_args(world, "noc", T0 + 60, *AML)
    posix = run([*args, "--json"], capsys)[1]
    args[args.index("--at") + 1] = format_time(T0 + 60)
    rfc = run([*args, "--json"], capsys)[1]
    assert json.loads(posix) == json.loads(rfc)


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01", "-5", ""]
)
def test_bad_at_is_one_line(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    args = verify_args(world, "noc", 0)
    args[args.index("--at") + 1] = value
    status, out, err = run(args, capsys)
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("noc-ledger: --at")


def test_bad_at_with_json_is_one_object(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = verify_args(world, "noc", 0)
    args[args.index("--at") + 1] = "soon"
    status, out, err = run([*args, "--json"], capsys)
    assert status == 1 and json.loads(out)["exit"] == 1 and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("bundle", "policy", "message"),
    [
        ("missing", "policy", "cannot read bundle"),
        ("noc", "missing", "cannot read trust policy"),
        ("noc", "garbage", "trust policy"),
        ("noc", "noc", "trust policy"),
    ],
)
def test_missing_or_garbage_files(
    world: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    bundle: str,
    policy: str,
    message: str,
) -> None:
    paths = {**world, "missing": tmp_path / "nowhere"}
    argv: list[str | Path] = [
        "verify",
        paths[bundle],
        "--trust",
        paths[policy],
        "--at",
        str(T0 + 60),
    ]
    status, out, err = run(argv, capsys)
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_garbage_bundle_is_invalid_evidence(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # spec/verification.md §3 step 1: bytes that do not decode as a bundle are the verdict
    # `invalid`, like any other tampering — not a usage error.
    status, out, err = run(verify_args(world, "garbage", T0 + 60), capsys)
    assert status == EXIT["invalid"] and err == ""
    assert "decode the bundle" in out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--activity", "va.teleport", "--customer-type", "retail", "--territory", "AE"],
         "--activity"),
        (["--activity", "va.custody", "--customer-type", "whales", "--territory", "AE"],
         "--customer-type"),
        (["--activity", "va.custody", "--customer-type", "retail", "--territory", "Dubai"],
         "query"),
        (["--activity", "va.custody"], "--customer-type and --territory"),
        (["--territory", "AE"], "give --activity"),
        ([*FIAT_DU, "--amount", "12"], "--unit"),
        ([*FIAT_DU, "--amount", "1.5", "--unit", "AED"], "--amount"),
        ([*FIAT_DU, "--unit", "AED"], "give --amount"),
    ],
)  # fmt: skip
def test_bad_query_flags(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    status, out, err = run(verify_args(world, "noc", T0 + 60, *flags), capsys)
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1 and message in err


# ---------------------------------------------------------------------------------------
# present / verify-presentation


def present_args(world: dict[str, Path], output: Path, *, bundle: str = "licence") -> list[str]:
    return [
        "present",
        str(world[bundle]),
        "--key",
        str(world["holder.pem"]),
        "--audience",
        "bank.example",
        "--nonce",
        NONCE,
        "--at",
        str(T0 + 30),
        "-o",
        str(output),
    ]


def check_args(world: dict[str, Path], file: Path, **changes: str) -> list[str]:
    options = {"audience": "bank.example", "nonce": NONCE, "max-age": "300", "at": str(T0 + 60)}
    options.update({k.replace("_", "-"): v for k, v in changes.items()})
    argv = ["verify-presentation", str(file), "--trust", str(world["policy"])]
    for key, value in options.items():
        argv += [f"--{key}", value]
    return argv


def test_present_and_verify_round_trip(
    world: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    file = tmp_path / "licence.presentation"
    status, out, err = run([*present_args(world, file), "--json"], capsys)
    assert status == 0 and err == "" and file.is_file()
    made = json.loads(out)
    assert made["holder_key_id"] == HOLDER.key_id.hex() and made["presented_at"] == T0 + 30
    status, out, _ = run([*check_args(world, file), *FIAT_DU, "--json"], capsys)
    report = json.loads(out)
    assert status == 0 and report["verdict"] == "valid"
    assert report["presentation"]["holder_key_id"] == HOLDER.key_id.hex()
    assert report["reasons"][-1] == {
        "step": 15,
        "name": "presentation",
        "ok": True,
        "detail": report["reasons"][-1]["detail"],
    }
    status, out, _ = run(check_args(world, file), capsys)
    assert status == 0 and out.startswith("VALID")


@pytest.mark.parametrize(
    ("presented_at", "changes"),
    [
        (T0 + 30, {"audience": "other.example"}),
        (T0 + 30, {"nonce": "ff" * 16}),
        (T0 + 30, {"max_age": "10"}),  # presented 30 s before the time asked
        (T0 + 60 + 301, {}),  # dated more than 300 s after the time asked
    ],
)
def test_presentation_failures(
    world: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    presented_at: int,
    changes: dict[str, str],
) -> None:
    file = tmp_path / "p"
    argv = present_args(world, file)
    argv[argv.index("--key") + 1] = str(world["holder-plain.pem"])
    argv[argv.index("--at") + 1] = str(presented_at)
    assert run([*argv, "--unsafe-no-passphrase"], capsys)[0] == 0
    status, out, err = run([*check_args(world, file, **changes), "--json"], capsys)
    report = json.loads(out)
    assert status == EXIT["invalid"] and report["verdict"] == "invalid" and err == ""
    assert report["reasons"][-1]["name"] == "presentation"
    assert report["reasons"][-1]["ok"] is False
    assert all(r["ok"] for r in report["reasons"][:-1])


def test_presentation_keeps_the_bundle_verdict(
    world: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    file = tmp_path / "revoked.presentation"
    assert run(present_args(world, file, bundle="revoked"), capsys)[0] == 0
    status, out, _ = run([*check_args(world, file), "--json"], capsys)
    assert status == EXIT["revoked"] and json.loads(out)["verdict"] == "revoked"
    garbage = run(check_args(world, world["garbage"]), capsys)
    assert garbage[0] == EXIT["invalid"]


def test_present_errors_are_one_line(
    world: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file = tmp_path / "p"
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong passphrase")
    cases: list[tuple[list[str], str]] = [
        (present_args(world, file), "holder key"),
    ]
    stranger = present_args(world, file)
    stranger[stranger.index("--key") + 1] = str(world["stranger.pem"])
    cases.append(([*stranger, "--unsafe-no-passphrase"], "not a holder key"))
    short_nonce = present_args(world, file)
    short_nonce[short_nonce.index("--nonce") + 1] = "abcd"
    cases.append((short_nonce, "--nonce"))
    not_hex = present_args(world, file)
    not_hex[not_hex.index("--nonce") + 1] = "zz" * 16
    cases.append((not_hex, "hexadecimal"))
    not_a_bundle = present_args(world, file)
    not_a_bundle[1] = str(world["garbage"])
    not_a_bundle[not_a_bundle.index("--key") + 1] = str(world["holder-plain.pem"])
    cases.append(([*not_a_bundle, "--unsafe-no-passphrase"], "cannot present"))
    for argv, message in cases:
        status, out, err = run(argv, capsys)
        assert status == 1 and out == "", argv
        assert len(err.splitlines()) == 1 and message in err, err
    assert not file.exists()
    monkeypatch.delenv(PASSPHRASE_ENV)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    status, _, err = run(present_args(world, file), capsys)
    assert status == 1 and PASSPHRASE_ENV in err


def test_verify_presentation_flag_errors(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for changes in ({"max_age": "soon"}, {"nonce": "00"}, {"audience": " spaced "}):
        status, out, err = run(check_args(world, world["licence"], **changes), capsys)
        assert status == 1 and out == "" and len(err.splitlines()) == 1


# ---------------------------------------------------------------------------------------
# show


def show(world: dict[str, Path], capsys: pytest.CaptureFixture[str], name: str) -> str:
    status, out, err = run(["show", world[name]], capsys)
    assert status == 0 and err == ""
    return out


def show_json(world: dict[str, Path], capsys: pytest.CaptureFixture[str], name: str) -> Any:
    status, out, _ = run(["show", world[name], "--json"], capsys)
    assert status == 0
    return json.loads(out)


def test_show_certificate_signed_and_payload(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("certificate.cose", "certificate.cbor"):
        out = show(world, capsys, name)
        assert "UNVERIFIED" in out and "noc-ledger verify" in out
        for text in (
            "No Objection Certificate",
            "VARA/NOC/2026/0001",
            "Virtual Assets Regulatory Authority",
            "Example Exchange FZE",
            "529900T8BM49AURSDO55",
            "AML reporting registration (prep.aml_registration)",
            "Local incorporation",
            "Licence application",
            "institutional, professional, retail clients",
            NOC_DISCLAIMER_TEXT,
            "Report progress to the authority every month.",
        ):
            assert text in out, text
    assert "signed COSE_Sign1" in show(world, capsys, "certificate.cose")
    assert "unsigned payload" in show(world, capsys, "certificate.cbor")
    info = show_json(world, capsys, "certificate.cose")
    assert info["kind"] == "certificate" and info["verified"] is False
    assert info["certificate"]["id"] == str(world["noc_id"])


def test_show_licence_in_plain_words(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = show(world, capsys, "licence.cose")
    for text in (
        "Licence (licence)",
        "Exchange against own capital (va.exchange)",
        "professional, retail clients",
        "in AE except AE-AZ",
        "products: all except category:privacy",
        "limit: at most 1,000,000 AED (per transaction)",
        "condition precedent: Appoint a money-laundering reporting officer",
        "Custody and administration (va.custody)",
        f"upgrades certificate {world['noc_id']}",
    ):
        assert text in out, text


def test_show_bundle(world: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = show(world, capsys, "revoked")
    for text in (
        "offline bundle",
        "UNVERIFIED",
        "use verify",
        f"origin       {ORIGIN}",
        "size         10",
        f"time         {format_time(T0 + 20)}",
        "revoked since",
        "reason: false-information",
        "key chain:",
        "issuing key: delegated",
        NOC_DISCLAIMER_TEXT,
    ):
        assert text in out, text
    info = show_json(world, capsys, "superseded")
    assert info["kind"] == "bundle" and info["verified"] is False
    assert info["status"]["certificate"]["state"] == "superseded"
    assert info["status"]["certificate"]["successor"] == str(world["licence_id"])
    assert info["checkpoint"]["origin"] == ORIGIN


def test_show_presentation(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = tmp_path / "p"
    argv = present_args(world, file)
    argv[argv.index("--key") + 1] = str(world["holder-plain.pem"])
    assert run([*argv, "--unsafe-no-passphrase"], capsys)[0] == 0
    status, out, _ = run(["show", file], capsys)
    assert status == 0 and "presentation file" in out and "bank.example" in out
    assert NONCE in out and "UNVERIFIED" in out and "Licence (licence)" in out
    status, out, _ = run(["show", file, "--json"], capsys)
    info = json.loads(out)
    assert info["kind"] == "presentation" and info["bundle_digest_matches"] is True
    assert info["holder_key_id"] == HOLDER.key_id.hex()


def test_show_policy(world: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = show(world, capsys, "policy")
    assert "trust policy" in out and "authority    VARA" in out
    assert f"log          {ORIGIN}" in out and "2 days" in out
    assert "Preparatory activities (prep)" in out
    info = show_json(world, capsys, "policy")
    assert info["kind"] == "policy" and info["max_status_age"] == 2 * DAY
    assert info["quorum"] is None and len(info["roots"]) == 1


def test_show_events(world: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = show(world, capsys, "key-event")
    assert "key event (signed)" in out and "delegate key id" in out
    assert "Operating virtual-asset activities (va)" in out
    assert show_json(world, capsys, "key-event")["kind"] == "key-event"
    out = show(world, capsys, "status-event")
    assert "status event (signed)" in out and "suspend certificate" in out
    assert "aml-cft-failure — Pending an inspection." in out
    assert "grants: prep.aml_registration" in out
    assert show_json(world, capsys, "status-event")["event"]["reason"] == "aml-cft-failure"


def test_show_garbage_and_missing(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for path in (world["garbage"], tmp_path / "nowhere", world["holder-plain.pem"]):
        status, out, err = run(["show", path], capsys)
        assert status == 1 and out == ""
        assert len(err.splitlines()) == 1 and "Traceback" not in err
    broken = tmp_path / "broken.policy"
    broken.write_text("noc-ledger-policy 1\nroot nope\n")
    status, _, err = run(["show", broken], capsys)
    assert status == 1 and "not a valid trust policy" in err


def test_help_documents_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    expected = {
        "verify": ["--trust", "--at", "--activity", "--customer-type", "--territory",
                   "--product", "--amount", "--unit", "--metric", "--json", "30 invalid"],
        "present": ["--key", "--audience", "--nonce", "-o", "--unsafe-no-passphrase",
                    PASSPHRASE_ENV],
        "verify-presentation": ["--trust", "--audience", "--nonce", "--max-age", "--at",
                                "--activity"],
        "show": ["verifies nothing"],
    }  # fmt: skip
    for command, flags in expected.items():
        status, out, _ = run([command, "--help"], capsys)
        assert status == 0
        for flag in flags:
            assert flag in out, (command, flag)
