"""Every `noc-ledger` command through the installed console script, as users run it.

Issue 5's "done means": the real executable (not :func:`noc_ledger.cli.main` in-process),
every command in human and ``--json`` mode, the documented exit statuses (``verify``: one per
verdict), and the error paths — a bad request file (TOML and JSON), a wrong passphrase, an
unknown certificate, a tampered bundle, a stale bundle, missing files, usage errors — each
one line on stderr with no traceback, and a failed issuance writing nothing.

The script is the one installed beside this interpreter (``bin/noc-ledger`` of the venv; CI
installs the package non-editable into a fresh venv). If it is not there the tests FAIL: the
console script is what is under test. One scenario (the module-scoped ``world`` fixture)
drives every command once or more and records what each printed; the tests below check the
records, so that each command starts a process only a few times.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import json
import os
import re
import select
import shutil
import subprocess
import sys
import termios
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from noc_ledger import signing

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "spec" / "requests.md"
SCRIPT = Path(sys.executable).parent / "noc-ledger"
#: Generous: a loaded CI machine; a hang is what this catches, not slowness.
TIMEOUT = 120
PASSPHRASE = "console script passphrase"
ORIGIN = "console.vara.example/noc-ledger"
AUTHORITY = "Virtual Assets Regulatory Authority"
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
NONCE = "00112233445566778899aabbccddeeff"
AUDIENCE = "bank.example"
AML = ["--activity", "prep.aml_registration", "--customer-type", "retail", "--territory", "AE"]
FIAT = ["--activity", "va.exchange.fiat", "--customer-type", "retail", "--territory", "AE"]
# Times asked about (the bulk NOCs are valid 2026-01-01 to 2026-10-01; events are
# effective 2026-02-01; the checkpoints are signed "now", which may be later: a time asked
# before a checkpoint's own time is not stale).
AT_BEFORE = "2025-12-01T00:00:00Z"
AT_IN_FORCE = "2026-03-01T00:00:00Z"
AT_AFTER_UPGRADE = "2026-05-01T00:00:00Z"
AT_EXPIRED = "2026-10-15T00:00:00Z"
AT_FAR_FUTURE = "2100-01-01T00:00:00Z"
EFFECTIVE = "2026-02-01T00:00:00Z"

#: The documented exit statuses (`noc-ledger --help`).
EXIT = {
    "valid": 0,
    "error": 1,
    "usage": 2,
    "out-of-scope": 10,
    "not-yet-valid": 11,
    "expired": 12,
    "suspended": 13,
    "revoked": 14,
    "superseded": 15,
    "ended": 16,
    "stale": 20,
    "not-covered": 21,
    "invalid": 30,
}


# ---------------------------------------------------------------------------------------
# Running the console script


def console_script() -> Path:
    """The installed `noc-ledger`; a test fails (never skips) without it."""
    if not SCRIPT.is_file():
        pytest.fail(
            f"the console script {SCRIPT} is not installed beside {sys.executable}: "
            "install the package into this environment (pip install .) to test it"
        )
    return SCRIPT


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        """stdout as exactly one JSON object."""
        value = json.loads(self.out)  # one document: trailing data raises
        assert isinstance(value, dict), self.out
        return value


#: Every (sub)command started through the script, e.g. "init", "key rotate".
DRIVEN: set[str] = set()
_KEY_COMMANDS = {"delegate", "rotate", "revoke", "list"}


def cli(
    *args: str | Path,
    passphrase: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Run:
    """Run the console script with no terminal (stdin /dev/null) and neither passphrase
    nor PIN in the environment unless given."""
    argv = tuple(str(a) for a in args)
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOC_LEDGER_PASSPHRASE", "NOC_LEDGER_PKCS11_PIN")
    }
    if passphrase is not None:
        environment["NOC_LEDGER_PASSPHRASE"] = passphrase
    environment.update(env or {})
    done = subprocess.run(
        [str(console_script()), *argv],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    run = Run(argv, done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in run.out + run.err, run
    if argv and not argv[0].startswith("-"):
        sub = argv[1] if argv[0] == "key" and len(argv) > 1 else None
        DRIVEN.add(f"key {sub}" if sub in _KEY_COMMANDS else argv[0])
    return run


def ok_json(*args: str | Path, **kw: Any) -> dict[str, Any]:
    """A successful command with --json: status 0, one JSON object, nothing on stderr."""
    run = cli(*args, "--json", **kw)
    assert run.code == 0, run
    assert run.err == "", run
    return run.json()


def ok_human(*args: str | Path, **kw: Any) -> str:
    """A successful command in human mode: status 0, text (not JSON), nothing on stderr."""
    run = cli(*args, **kw)
    assert run.code == 0, run
    assert run.err == "", run
    assert run.out.strip() and not run.out.lstrip().startswith("{"), run
    return run.out


def one_line(run: Run, code: int) -> str:
    """The failed run exited ``code`` with exactly one line on stderr; returns it."""
    assert run.code == code, run
    lines = run.err.splitlines()
    assert len(lines) == 1 and run.err.endswith("\n"), run
    assert lines[0].startswith("noc-ledger: "), run
    return lines[0]


def error(*args: str | Path, code: int = 1, **kw: Any) -> str:
    """A failing command in human mode: one line on stderr, nothing on stdout."""
    run = cli(*args, **kw)
    line = one_line(run, code)
    assert run.out == "", run
    return line


def error_json(*args: str | Path, code: int = 1, **kw: Any) -> str:
    """A failing command with --json: one line on stderr, and one JSON object on stdout
    that names the error and the status."""
    run = cli(*args, "--json", **kw)
    line = one_line(run, code)
    obj = run.json()
    assert set(obj) == {"error", "exit"} and obj["exit"] == code, obj
    assert line == f"noc-ledger: {obj['error']}", (line, obj)
    return line


# ---------------------------------------------------------------------------------------
# Requests, from the examples of spec/requests.md §7


def _spec_blocks() -> list[str]:
    text = SPEC.read_text(encoding="utf-8")
    return [
        b for _, b in re.findall(r"```(toml|json)\n(.*?)```", text[text.index("## 7.") :], re.S)
    ]


BLOCKS = _spec_blocks()
NOC_TOML, LICENCE_JSON = BLOCKS[0], BLOCKS[1]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def noc(number: int, *, holder: bytes | None = None, **changes: Any) -> dict[str, Any]:
    """The spec's NOC as a JSON object, numbered, valid 2026-01-01 to 2026-10-01."""
    value: dict[str, Any] = _plain(tomllib.loads(NOC_TOML))
    value["number"] = f"CON/NOC/2026/{number:04d}"
    value["valid_until"] = "2026-10-01T00:00:00Z"
    if holder is not None:
        value["subject"]["holder_keys"] = [base64.b64encode(holder).decode()]
    value.update(changes)
    return value


def licence(number: int) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(LICENCE_JSON)
    value["number"] = f"CON/LIC/2026/{number:04d}"
    return value


def write_json(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def write_jsonl(path: Path, values: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    return path


def log_size(directory: Path) -> int:
    return int(ok_json("log", directory)["size"])


# ---------------------------------------------------------------------------------------
# The scenario


@dataclass
class World:
    root: Path
    dir: Path
    runs: dict[str, Run] = field(default_factory=dict)
    json: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def ok(self, name: str, *args: str | Path, **kw: Any) -> dict[str, Any]:
        result = ok_json(*args, **kw)
        self.json[name] = result
        return result

    def human(self, name: str, *args: str | Path, **kw: Any) -> str:
        out = ok_human(*args, **kw)
        self.runs[name] = Run(tuple(map(str, args)), 0, out, "")
        return out

    def verify_all(self, cases: list[tuple[str, str, list[str]]]) -> None:
        """Run `verify` in both modes for each (name, bundle, flags); the runs read only
        their own files, so they go side by side on the machine's cores."""
        jobs: dict[str, list[str | Path]] = {}
        for name, bundle, extra in cases:
            argv: list[str | Path] = ["verify", self.files[bundle], "--trust", self.files["policy"]]
            jobs[name] = [*argv, *extra]
            jobs[f"{name} --json"] = [*argv, *extra, "--json"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            runs = dict(zip(jobs, pool.map(lambda argv: cli(*argv), jobs.values()), strict=True))
        self.runs.update(runs)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("console")
    w = World(root, root / "ledger")
    d = w.dir
    holder = signing.Ed25519Signer.generate()
    w.files["holder-key"] = root / "holder.pem"
    w.files["holder-key"].write_bytes(signing.encode_private_key(holder, PASSPHRASE.encode()))

    # init: --json here (unencrypted keys: the passphrase has its own tests), human below.
    w.ok("init", "init", d, *INIT, "--unsafe-no-passphrase")
    w.human("init human", "init", root / "other", *INIT, "--unsafe-no-passphrase")

    # issue: one TOML request (human), one JSON request (--json), a JSON-lines bulk and a
    # directory bulk.
    toml_request = root / "noc.toml"
    toml_request.write_text(NOC_TOML, encoding="utf-8")
    w.human("issue toml", "issue", d, toml_request)
    w.ids["noc1"] = w.runs["issue toml"].out.split()[0]
    w.ok("issue json", "issue", d, write_json(root / "v.json", noc(2, holder=holder.public_key)))
    w.ids["valid"] = w.json["issue json"]["id"]
    names = [
        "suspended",
        "reinstated",
        "revoked",
        "revoked-h",
        "surrendered",
        "surrendered-h",
        "lapsed",
        "lapsed-h",
        "expired-ev",
        "expired-ev-h",
        "suspend-h",
        "reinstate-h",
        "up-h",
        "vary",
        "vary-h",
        "renew",
        "renew-h",
        "correct",
        "correct-h",
    ]
    bulk = [noc(10 + i, issued_at=f"2026-01-01T00:00:{i:02d}Z") for i in range(len(names))]
    w.ok("issue jsonl", "issue", d, write_jsonl(root / "bulk.jsonl", bulk), "--batch", "7")
    for name, item in zip(names, w.json["issue jsonl"]["certificates"], strict=True):
        w.ids[name] = item["id"]
    folder = root / "requests"
    write_json(folder / "a.json", noc(40))
    (folder / "b.toml").write_text(NOC_TOML.replace("0001", "0041"), encoding="utf-8")
    w.human("issue dir", "issue", d, folder)

    # The lifecycle commands, each in both modes, effective 2026-02-01.
    ids = w.ids
    reason = ["--reason", "aml-cft-failure", "--effective", EFFECTIVE]
    w.ok("suspend", "suspend", d, ids["suspended"], *reason)
    w.human("suspend human", "suspend", d, ids["suspend-h"], *reason, "--reason-text", "audit")
    w.ok(
        "suspend grant",
        "suspend",
        d,
        ids["reinstated"],
        *reason,
        "--grant",
        "prep.aml_registration",
    )
    w.ok(
        "reinstate",
        "reinstate",
        d,
        ids["reinstated"],
        "--grant",
        "prep.aml_registration",
        "--effective",
        "2026-02-15T00:00:00Z",
    )
    w.human(
        "reinstate human", "reinstate", d, ids["suspend-h"], "--effective", "2026-02-15T00:00:00Z"
    )
    w.ok(
        "revoke",
        "revoke",
        d,
        ids["revoked"],
        "--reason",
        "false-information",
        "--effective",
        EFFECTIVE,
    )
    w.human("revoke human", "revoke", d, ids["revoked-h"], "--reason", "other")
    for kind in ("surrender", "lapse", "expire"):
        key = {"surrender": "surrendered", "lapse": "lapsed", "expire": "expired-ev"}[kind]
        w.ok(kind, kind, d, ids[key], "--effective", EFFECTIVE)
        w.human(f"{kind} human", kind, d, ids[f"{key}-h"])

    # The successor commands, each in both modes.
    w.ok("upgrade", "upgrade", d, ids["noc1"], write_json(root / "lic1.json", licence(1)))
    ids["licence"] = w.json["upgrade"]["id"]
    w.human("upgrade human", "upgrade", d, ids["up-h"], write_json(root / "lic2.json", licence(2)))
    for n, kind in enumerate(("vary", "renew", "correct")):
        w.ok(
            kind,
            kind,
            d,
            ids[kind],
            write_json(
                root / f"{kind}.json",
                noc(60 + n, issued_at="2026-01-20T00:00:00Z", valid_from="2026-01-20T00:00:00Z"),
            ),
        )
        w.human(
            f"{kind} human",
            kind,
            d,
            ids[f"{kind}-h"],
            write_json(
                root / f"{kind}-h.json",
                noc(70 + n, issued_at="2026-01-20T00:00:00Z", valid_from="2026-01-20T00:00:00Z"),
            ),
        )

    # Reading.
    w.ok("checkpoint", "checkpoint", d)
    w.human("checkpoint human", "checkpoint", d)
    w.files["note"] = root / "checkpoint.note"
    w.ok("checkpoint -o", "checkpoint", d, "-o", w.files["note"])
    w.ok("log", "log", d)
    w.human("log human", "log", d, "--start", "1", "--limit", "3")
    w.ok("status", "status", d, ids["suspended"])
    w.human("status human", "status", d, ids["reinstated"])
    w.ok("status key", "status", d, w.json["init"]["issuing_key_id"])
    w.ok("trust", "trust", d, "-o", root / "policy.txt")
    w.files["policy"] = root / "policy.txt"
    w.human("trust human", "trust", d, "-o", root / "policy-h.txt", "--max-status-age", "3600")

    # Bundles, one per verdict.
    for name, cert in (
        ("valid", "valid"),
        ("suspended", "suspended"),
        ("reinstated", "reinstated"),
        ("revoked", "revoked"),
        ("ended", "surrendered"),
        ("superseded", "noc1"),
        ("licence", "licence"),
    ):
        w.files[name] = root / f"{name}.bundle"
        w.ok(f"bundle {name}", "bundle", d, ids[cert], "-o", w.files[name])
    w.files["early"] = root / "early.bundle"
    w.human("bundle human", "bundle", d, ids["valid"], "-o", w.files["early"], "--size", "3")
    tampered = bytearray(w.files["valid"].read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    w.files["tampered"] = root / "tampered.bundle"
    w.files["tampered"].write_bytes(bytes(tampered))

    # verify: every verdict the scenario can reach, both modes.
    w.verify_all(
        [
            ("valid", "valid", ["--at", AT_IN_FORCE]),
            ("valid aml", "valid", ["--at", AT_IN_FORCE, *AML]),
            ("out-of-scope", "valid", ["--at", AT_IN_FORCE, *FIAT]),
            ("not-yet-valid", "valid", ["--at", AT_BEFORE]),
            ("expired", "valid", ["--at", AT_EXPIRED]),
            ("suspended", "suspended", ["--at", AT_IN_FORCE]),
            ("reinstated", "reinstated", ["--at", AT_IN_FORCE, *AML]),
            ("revoked", "revoked", ["--at", AT_IN_FORCE]),
            ("ended", "ended", ["--at", AT_IN_FORCE]),
            ("superseded", "superseded", ["--at", AT_AFTER_UPGRADE]),
            ("licence", "licence", ["--at", AT_AFTER_UPGRADE]),
            ("stale", "valid", ["--at", AT_FAR_FUTURE]),
            ("invalid", "tampered", ["--at", AT_IN_FORCE]),
        ]
    )

    # Holder-bound presentations, both modes.
    w.files["presentation"] = root / "p.cbor"
    present: list[str | Path] = [
        "present",
        w.files["valid"],
        "--key",
        w.files["holder-key"],
        "--audience",
        AUDIENCE,
    ]
    present += ["--nonce", NONCE, "--at", AT_IN_FORCE]
    w.ok("present", *present, "-o", w.files["presentation"], passphrase=PASSPHRASE)
    w.human("present human", *present, "-o", root / "p2.cbor", passphrase=PASSPHRASE)
    check: list[str | Path] = [
        "verify-presentation",
        w.files["presentation"],
        "--trust",
        w.files["policy"],
    ]
    check += ["--audience", AUDIENCE, "--nonce", NONCE, "--max-age", "600"]
    w.runs["verify-presentation"] = cli(*check, "--at", "2026-03-01T00:05:00Z", *AML)
    w.runs["verify-presentation --json"] = cli(*check, "--at", "2026-03-01T00:05:00Z", "--json")
    w.runs["verify-presentation too old"] = cli(*check, "--at", "2026-03-02T00:00:00Z", "--json")

    # show: a bundle, the policy, the presentation.
    w.ok("show bundle", "show", w.files["valid"])
    w.human("show human", "show", w.files["valid"])
    w.ok("show policy", "show", w.files["policy"])
    w.ok("show presentation", "show", w.files["presentation"])

    # Keys, on a copy (a rotation would change what later issuance signs with).
    keys = root / "keys-ledger"
    shutil.copytree(d, keys)
    w.files["keys-ledger"] = keys
    w.ok("key delegate", "key", "delegate", keys, "--label", "second")
    w.human("key delegate human", "key", "delegate", keys, "--label", "third", "--make-current")
    w.ok("key rotate", "key", "rotate", keys, "--revoke-old", "--reason", "other")
    w.human("key rotate human", "key", "rotate", keys)
    w.ok(
        "key revoke",
        "key",
        "revoke",
        keys,
        w.json["key delegate"]["key_id"][:16],
        "--reason",
        "other",
    )
    w.human(
        "key revoke human",
        "key",
        "revoke",
        keys,
        w.json["key rotate"]["key_id"],
        "--reason",
        "key-compromise",
        "--invalidate-from",
        str(w.json["key rotate"]["delegated_index"] + 1),
    )
    w.ok("key list", "key", "list", keys)
    w.human("key list human", "key", "list", keys)
    # The demo, both modes.
    w.ok("demo", "demo", root / "demo")
    w.human("demo human", "demo", root / "demo-h")
    return w


# ---------------------------------------------------------------------------------------
# The scenario's records: every command, both modes


ISSUE5_COMMANDS = {
    "init",
    "issue",
    "upgrade",
    "vary",
    "renew",
    "correct",
    "revoke",
    "suspend",
    "reinstate",
    "surrender",
    "lapse",
    "expire",
    "key delegate",
    "key rotate",
    "key revoke",
    "key list",
    "checkpoint",
    "bundle",
    "trust",
    "log",
    "status",
    "verify",
    "present",
    "verify-presentation",
    "show",
    "demo",
}


def _help_commands(text: str) -> set[str]:
    """The subcommands a `--help` lists (argparse: four-space indent, name, help)."""
    block = text.split("positional arguments:")[1].split("options:", maxsplit=1)[0]
    return {m.group(1) for m in re.finditer(r"^    ([a-z][a-z-]*)\b", block, re.M)}


def test_every_command_in_help_was_driven(world: World) -> None:
    top = _help_commands(ok_human("--help"))
    keys = _help_commands(ok_human("key", "--help"))
    listed = (top - {"key"}) | {f"key {k}" for k in keys}
    # Issue 5's commands: all still offered, and all driven by the scenario. (Commands of
    # the read path and the witness have their own tests.)
    assert listed >= ISSUE5_COMMANDS, sorted(ISSUE5_COMMANDS - listed)
    missing = ISSUE5_COMMANDS - DRIVEN
    assert not missing, f"not driven through the console script: {sorted(missing)}"


def test_init_json_fields(world: World) -> None:
    init = world.json["init"]
    assert init["origin"] == ORIGIN and init["authority"] == AUTHORITY
    assert init["jurisdiction"] == "AE-DU" and init["encrypted"] is False
    assert init["size"] == 1 and init["pkcs11"] is None
    assert re.fullmatch(r"[0-9a-f]{64}", init["root_key_id"])
    assert init["log_key"].startswith(ORIGIN + "+")
    assert init["issuing_valid_from"] == 1_735_689_600  # 2025-01-01T00:00:00Z
    assert (world.dir / "ledger.json").is_file() and (world.dir / "ledger.db").is_file()
    human = world.runs["init human"].out
    assert "created a ledger in" in human and "NOT encrypted" in human


def test_issue_outputs(world: World) -> None:
    single = world.json["issue json"]
    assert single["count"] == 1 and single["duplicates"] == 0
    assert single["id"] == single["certificates"][0]["id"]
    assert single["certificates"][0]["instrument"] == "noc"
    bulk = world.json["issue jsonl"]
    assert bulk["count"] == 19 and [c["source"] for c in bulk["certificates"]][:2] == [
        f"{world.root / 'bulk.jsonl'}:1",
        f"{world.root / 'bulk.jsonl'}:2",
    ]
    # One index per certificate, in request order, after the two single issuances.
    assert [c["index"] for c in bulk["certificates"]] == list(range(3, 22))
    assert "id" not in bulk  # only for a single request (spec/requests.md §6)
    toml = world.runs["issue toml"].out
    assert re.fullmatch(r"[0-9a-f]{64}  index 1  VARA/NOC/2026/0001\n", toml), toml
    folder = world.runs["issue dir"].out.splitlines()
    assert folder[0].endswith("CON/NOC/2026/0040") and folder[1].endswith("VARA/NOC/2026/0041")
    assert folder[2] == "2 issued, 0 already in the log; log size 24"


def test_issue_again_is_idempotent(world: World, tmp_path: Path) -> None:
    directory = tmp_path / "copy"
    shutil.copytree(world.dir, directory)
    before = log_size(directory)
    again = ok_json("issue", directory, world.root / "bulk.jsonl")
    assert again["duplicates"] == again["count"] == 19
    assert log_size(directory) == before


def test_lifecycle_commands(world: World) -> None:
    j = world.json
    assert j["suspend"]["event"] == "suspend" and j["suspend"]["record"]["state"] == "suspended"
    assert j["suspend"]["record"]["reason"] == "aml-cft-failure"
    assert j["suspend grant"]["record"]["suspended"] == ["prep.aml_registration"]
    assert (
        j["reinstate"]["record"]["suspended"] == []
        and j["reinstate"]["record"]["state"] == "active"
    )
    assert j["revoke"]["record"]["state"] == "revoked"
    assert j["revoke"]["effective_at"] == 1_769_904_000  # EFFECTIVE
    assert j["surrender"]["record"]["state"] == "surrendered"
    assert j["lapse"]["record"]["state"] == "lapsed"
    assert j["expire"]["record"]["state"] == "expired"
    for kind, state in (
        ("suspend", "suspended"),
        ("reinstate", "active"),
        ("revoke", "revoked"),
        ("surrender", "surrendered"),
        ("lapse", "lapsed"),
        ("expire", "expired"),
    ):
        out = world.runs[f"{kind} human"].out
        assert f"{kind} of " in out and f"state: {state}" in out, out
    sizes = [j[k]["size"] for k in ("suspend", "suspend grant", "reinstate", "revoke")]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4


def test_successor_commands(world: World) -> None:
    j = world.json
    assert j["upgrade"]["edge"] == "upgrades" and j["upgrade"]["predecessor"] == world.ids["noc1"]
    assert j["upgrade"]["predecessor_state"] == "superseded"
    assert j["upgrade"]["certificates"][0]["instrument"] == "licence"
    for kind in ("vary", "renew", "correct"):
        assert j[kind]["action"] == kind and j[kind]["edge"] == "supersedes"
        assert j[kind]["predecessor_state"] == "superseded"
        out = world.runs[f"{kind} human"].out
        assert f"{world.ids[kind + '-h']} is now superseded" in out
    assert "is now superseded" in world.runs["upgrade human"].out


def test_reading_commands(world: World) -> None:
    j = world.json
    cp = j["checkpoint"]
    assert cp["origin"] == ORIGIN and cp["size"] == j["log"]["size"]
    assert cp["note"].startswith(f"{ORIGIN}\n{cp['size']}\n")
    assert world.runs["checkpoint human"].out == cp["note"]
    assert world.files["note"].read_text() == j["checkpoint -o"]["note"]
    entries = j["log"]["entries"]
    assert len(entries) == j["log"]["size"] and [e["index"] for e in entries] == list(
        range(len(entries))
    )
    assert entries[0]["kind"] == "key-event" and entries[1]["kind"] == "certificate"
    lines = world.runs["log human"].out.splitlines()
    assert len(lines) == 4 and lines[0].split()[0] == "1" and lines[-1].startswith("log size")
    status = j["status"]
    assert status["kind"] == "certificate" and status["state"] == "suspended"
    assert status["certificate"]["number"] == "CON/NOC/2026/0010"
    assert [h["state"] for h in status["history"]] == ["active"]
    assert j["status key"]["kind"] == "key" and j["status key"]["current"] is True
    assert "history" in world.runs["status human"].out
    assert j["trust"]["origin"] == ORIGIN and j["trust"]["max_status_age"] == 86_400
    assert (world.root / "policy-h.txt").read_text().count("3600") == 1


def test_bundle_outputs(world: World) -> None:
    for name in ("valid", "suspended", "revoked", "ended", "superseded", "licence"):
        b = world.json[f"bundle {name}"]
        assert b["bytes"] == world.files[name].stat().st_size
        assert b["checkpoint_size"] == world.json["log"]["size"]
    assert "checkpoint size 3" in world.runs["bundle human"].out


VERDICTS = [
    ("valid", "valid"),
    ("valid aml", "valid"),
    ("out-of-scope", "out-of-scope"),
    ("not-yet-valid", "not-yet-valid"),
    ("expired", "expired"),
    ("suspended", "suspended"),
    ("reinstated", "valid"),
    ("revoked", "revoked"),
    ("ended", "ended"),
    ("superseded", "superseded"),
    ("licence", "valid"),
    ("stale", "stale"),
    ("invalid", "invalid"),
]


@pytest.mark.parametrize(("name", "verdict"), VERDICTS)
def test_verify_exit_status_per_verdict(world: World, name: str, verdict: str) -> None:
    human = world.runs[name]
    machine = world.runs[f"{name} --json"]
    assert human.code == machine.code == EXIT[verdict], (human, machine)
    # A verdict is an answer, not an error: stderr stays empty.
    assert human.err == machine.err == ""
    report = machine.json()
    for key in ("verdict", "meaning", "exit", "at", "at_utc", "query", "cert_id"):
        assert key in report
    for key in ("certificate", "legal_notices", "reasons", "details", "bundle"):
        assert key in report
    assert report["verdict"] == verdict and report["exit"] == EXIT[verdict]
    assert human.out.startswith(verdict.upper() + " — "), human.out
    assert "reasons (spec/verification.md §3):" in human.out
    if verdict == "invalid":
        assert report["certificate"] is None
        assert any(not r["ok"] for r in report["reasons"])
    elif verdict != "stale":  # stale: freshness is checked before the certificate
        assert report["certificate"]["id"] == report["cert_id"]


def test_verify_details(world: World) -> None:
    revoked = world.runs["revoked --json"].json()
    assert revoked["details"]["reason"] == "false-information"
    assert revoked["details"]["since_utc"] == EFFECTIVE
    superseded = world.runs["superseded --json"].json()
    assert superseded["details"]["successor"] == world.ids["licence"]
    stale = world.runs["stale --json"].json()
    assert stale["details"]["checkpoint"]["age"] > stale["details"]["max_status_age"]
    assert "can't tell" in world.runs["stale"].out
    aml = world.runs["valid aml --json"].json()
    assert aml["query"]["activity"] == "prep.aml_registration"
    assert [g["activity"] for g in aml["details"]["permitted_by"]] == ["prep.aml_registration"]
    assert "not-an-operating-licence" in world.runs["valid"].out


def test_presentations(world: World) -> None:
    present = world.json["present"]
    assert present["audience"] == AUDIENCE and present["nonce"] == NONCE
    assert world.files["presentation"].stat().st_size == present["bytes"]
    assert "wrote presentation file" in world.runs["present human"].out
    good = world.runs["verify-presentation"]
    assert good.code == 0 and good.err == "" and good.out.startswith("VALID")
    report = world.runs["verify-presentation --json"].json()
    assert report["verdict"] == "valid" and report["presentation"]["age"] == 300
    old = world.runs["verify-presentation too old"]
    assert old.code == EXIT["invalid"] and old.json()["verdict"] == "invalid"


def test_show(world: World) -> None:
    bundle = world.json["show bundle"]
    assert bundle["kind"] == "bundle" and bundle["verified"] is False
    assert bundle["certificate"]["id"] == world.ids["valid"]
    assert world.json["show policy"]["kind"] == "policy"
    assert world.json["show presentation"]["bundle_digest_matches"] is True
    assert world.runs["show human"].out.startswith("UNVERIFIED")


def test_key_commands(world: World) -> None:
    j = world.json
    delegated = j["key delegate"]
    assert delegated["label"] == "second" and delegated["current"] is False
    assert delegated["state"] == "delegated" and delegated["file"].startswith("keys/issuing-")
    rotated = j["key rotate"]
    assert rotated["current"] is True and rotated["revoked"] is not None
    assert j["key revoke"]["state"] == "revoked"
    assert "revoked" in world.runs["key revoke human"].out
    listed = j["key list"]
    # init's key; "second" (revoked); "third" (made current, revoked by the rotation);
    # the rotation's (revoked after a compromise); the last rotation's (current).
    assert len(listed["keys"]) == 5
    assert [k["state"] for k in listed["keys"]] == [
        "delegated",
        "revoked",
        "revoked",
        "revoked",
        "delegated",
    ]
    assert listed["issuing_key"] == listed["keys"][-1]["key_id"]
    assert listed["keys"][3]["invalidate_from"] == rotated["delegated_index"] + 1
    assert len(world.runs["key list human"].out.splitlines()) == 5
    assert "current issuing key" in world.runs["key delegate human"].out


def test_demo(world: World) -> None:
    demo = world.json["demo"]
    assert demo["ok"] is True and demo["verdicts"] == demo["expected"]
    assert Path(demo["trust_policy"]).is_file()
    assert "Re-run any check yourself" in world.runs["demo human"].out


def test_python_dash_m_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "noc_ledger", "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert re.fullmatch(r"noc-ledger \d+\.\d+\.\d+\S*\n", done.stdout), done.stdout
    assert ok_human("--version") == done.stdout


# ---------------------------------------------------------------------------------------
# Error paths: one line on stderr, no traceback, a documented status, nothing written


@pytest.fixture(scope="module")
def scratch(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the scenario's ledger for the error tests, which must change nothing:
    its log size stays :data:`SCRATCH_SIZE` (checked with `log` after every error)."""
    path = tmp_path_factory.mktemp("scratch") / "ledger"
    shutil.copytree(world.dir, path)
    assert log_size(path) == SCRATCH_SIZE
    return path


#: The scenario's log size: the delegation, 23 issuances, 13 status events, 8 successors.
SCRATCH_SIZE = 45


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger whose key files are encrypted with PASSPHRASE."""
    path = tmp_path_factory.mktemp("encrypted") / "ledger"
    assert ok_json("init", path, *INIT, passphrase=PASSPHRASE)["encrypted"] is True
    return path


def test_wrong_passphrase(encrypted: Path, tmp_path: Path) -> None:
    request = write_json(tmp_path / "noc.json", noc(90))
    before = log_size(encrypted)
    line = error("issue", encrypted, request, passphrase="not the passphrase")
    assert "wrong passphrase" in line and "issuing" in line
    line = error_json("issue", encrypted, request, passphrase="not the passphrase")
    assert "wrong passphrase" in line
    # No passphrase and no terminal to ask on: says where to give it.
    assert "NOC_LEDGER_PASSPHRASE" in error("issue", encrypted, request)
    assert "wrong passphrase" in error("key", "rotate", encrypted, passphrase="not the passphrase")
    assert log_size(encrypted) == before
    assert sorted(p.name for p in (encrypted / "keys").iterdir()) == sorted(
        ["root.pem", "log.pem", next(encrypted.glob("keys/issuing-*")).name]
    )
    # The right passphrase works: what failed was the passphrase.
    assert ok_json("issue", encrypted, request, passphrase=PASSPHRASE)["index"] == before


def test_init_short_passphrase_leaves_nothing(tmp_path: Path) -> None:
    line = error("init", tmp_path / "new", *INIT, passphrase="short")
    assert "passphrase" in line
    assert not (tmp_path / "new").exists()


def _toml(old: str, new: str) -> str:
    assert old in NOC_TOML
    return NOC_TOML.replace(old, new)


BAD_TOML = [
    pytest.param(
        _toml('lei = "529900T8BM49AURSDO55"', 'lei = "529900T8BM49AURSDO56"'),
        "subject.lei: check digits do not verify",
        id="lei",
    ),
    pytest.param(_toml("[subject]", "[subjekt]"), "subjekt: unknown field", id="unknown"),
    pytest.param(
        _toml('activity = "prep.aml_registration"', 'activity = "va.custody"'),
        "scope.grants[0].activity: a NOC grants preparatory activities only",
        id="noc-operating",
    ),
    pytest.param(
        _toml("issued_at = 2026-01-01T00:00:00Z", "issued_at = 2026-01-01T00:00:00"),
        "issued_at: a date-time must be in UTC",
        id="local-time",
    ),
    pytest.param(
        _toml('valid_until = "2026-07-01T00:00:00Z"', 'valid_until = "2025-07-01T00:00:00Z"'),
        "valid_until: must be after valid_from",
        id="until-before-from",
    ),
    pytest.param(
        _toml('valid_until = "2026-07-01T00:00:00Z"', "valid_until = 1.5"),
        "numbers are integers",
        id="float",
    ),
    pytest.param(_toml('number = "', "number = "), "invalid TOML", id="syntax"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TOML)
def test_bad_toml_request(scratch: Path, tmp_path: Path, text: str, message: str) -> None:
    request = tmp_path / "request.toml"
    request.write_text(text, encoding="utf-8")
    line = error("issue", scratch, request)
    assert line.startswith(f"noc-ledger: {request}: ") and message in line, line
    assert log_size(scratch) == SCRATCH_SIZE


def _json_without(name: str) -> dict[str, Any]:
    value = noc(91)
    del value[name]
    return value


BAD_JSON = [
    pytest.param(json.dumps({**noc(91), "subjekt": {}}), "subjekt: unknown field", id="unknown"),
    pytest.param(
        json.dumps(_json_without("number")), "number: required field is missing", id="missing"
    ),
    pytest.param(json.dumps({**noc(91), "valid_from": 1.5}), "numbers are integers", id="float"),
    pytest.param(
        json.dumps({**noc(91), "instrument": "permit"}),
        "instrument: 'permit' is not one of",
        id="instrument",
    ),
    pytest.param(
        json.dumps({**noc(91), "subject": {**noc(91)["subject"], "holder_keys": ["zz"]}}),
        "subject.holder_keys[0]: neither 64 hex digits nor base64",
        id="holder-key",
    ),
    pytest.param(
        json.dumps(noc(91)).replace('{"instrument"', '{"number": "x", "instrument"'),
        "duplicate key 'number'",
        id="duplicate",
    ),
    pytest.param(json.dumps(noc(91))[:-1], "invalid JSON at line 1", id="syntax"),
]


@pytest.mark.parametrize(("text", "message"), BAD_JSON)
def test_bad_json_request(scratch: Path, tmp_path: Path, text: str, message: str) -> None:
    request = tmp_path / "request.json"
    request.write_text(text, encoding="utf-8")
    line = error("issue", scratch, request)
    assert line.startswith(f"noc-ledger: {request}: ") and message in line, line
    assert log_size(scratch) == SCRATCH_SIZE


def test_bad_request_with_json_is_one_object(scratch: Path, tmp_path: Path) -> None:
    request = write_json(tmp_path / "request.json", {**noc(91), "subjekt": {}})
    assert "subjekt: unknown field (nothing was written)" in error_json("issue", scratch, request)


def _numbers_in_log(directory: Path) -> set[str]:
    """The certificate numbers in the log; the log's size is still SCRATCH_SIZE."""
    log = ok_json("log", directory)
    assert log["size"] == SCRATCH_SIZE
    entries = log["entries"]
    return {e["summary"].split(":")[0].split()[-1] for e in entries if e["kind"] == "certificate"}


def test_bulk_json_lines_stops_at_the_invalid_line(scratch: Path, tmp_path: Path) -> None:
    requests = [noc(100 + i) for i in range(5)]
    requests[2]["subject"]["lei"] = "529900T8BM49AURSDO56"
    bulk = write_jsonl(tmp_path / "bulk.jsonl", requests)
    line = error("issue", scratch, bulk)
    assert f"{bulk}:3: subject.lei: check digits do not verify" in line, line
    assert "(nothing was written)" in line
    assert not {f"CON/NOC/2026/{100 + i:04d}" for i in range(5)} & _numbers_in_log(scratch)


def test_bulk_refused_by_the_log_rules_writes_nothing(scratch: Path, tmp_path: Path) -> None:
    # Line 2 is a valid request, but its edge points at no certificate of the log: the
    # log's own rules (step 3 of spec/requests.md §5) refuse it before anything is written.
    requests = [noc(110), noc(111, edges=[{"kind": "supersedes", "target": ZERO_ID}]), noc(112)]
    bulk = write_jsonl(tmp_path / "bulk.jsonl", requests)
    line = error("issue", scratch, bulk)
    assert f"{bulk}:2: the log would refuse it" in line and "(nothing was written)" in line
    assert "CON/NOC/2026/0110" not in _numbers_in_log(scratch)


def test_bulk_directory_stops_at_the_invalid_file(scratch: Path, tmp_path: Path) -> None:
    folder = tmp_path / "requests"
    write_json(folder / "01.json", noc(120))
    (folder / "02.toml").write_text(NOC_TOML.replace("0001", "0121"), encoding="utf-8")
    write_json(folder / "03.json", {**noc(122), "colour": "blue"})
    write_json(folder / "04.json", noc(123))
    line = error("issue", scratch, folder)
    assert f"{folder / '03.json'}: colour: unknown field (nothing was written)" in line, line
    assert not {"CON/NOC/2026/0120", "VARA/NOC/2026/0121"} & _numbers_in_log(scratch)
    # A file of another kind in the directory is refused too, before anything is read.
    (folder / "03.json").unlink()
    (folder / "notes.txt").write_text("not a request", encoding="utf-8")
    assert "notes.txt: not a request file" in error("issue", scratch, folder)
    assert log_size(scratch) == SCRATCH_SIZE


UNKNOWN = [
    ["revoke", "{dir}", ZERO_ID, "--reason", "other"],
    ["suspend", "{dir}", ZERO_ID, "--reason", "other"],
    ["reinstate", "{dir}", ZERO_ID],
    ["surrender", "{dir}", ZERO_ID],
    ["lapse", "{dir}", ZERO_ID],
    ["expire", "{dir}", ZERO_ID],
    ["bundle", "{dir}", ZERO_ID, "-o", "{tmp}/x.bundle"],
    ["upgrade", "{dir}", ZERO_ID, "{tmp}/lic.json"],
    ["vary", "{dir}", ZERO_ID, "{tmp}/lic.json"],
    ["renew", "{dir}", ZERO_ID, "{tmp}/lic.json"],
    ["correct", "{dir}", ZERO_ID, "{tmp}/lic.json"],
]


def test_unknown_certificate(scratch: Path, tmp_path: Path) -> None:
    write_json(tmp_path / "lic.json", licence(9))
    for argv in UNKNOWN:
        line = error(*(a.format(dir=scratch, tmp=tmp_path) for a in argv))
        assert f"no certificate {ZERO_ID} in this ledger" in line, line
    assert not (tmp_path / "x.bundle").exists()
    assert log_size(scratch) == SCRATCH_SIZE


def test_unknown_or_malformed_ids(scratch: Path) -> None:
    assert "no certificate or key" in error("status", scratch, ZERO_ID)
    assert "no certificate or key" in error_json("status", scratch, ZERO_ID)
    assert "expected 64 hex digits" in error("revoke", scratch, "abc", "--reason", "other")
    assert "no issuing key" in error("key", "revoke", scratch, "deadbeef", "--reason", "other")


def test_tampered_and_garbage_evidence(world: World, tmp_path: Path) -> None:
    # Tampered and truncated bundles are invalid evidence (exit 30), not errors.
    truncated = tmp_path / "truncated.bundle"
    truncated.write_bytes(world.files["valid"].read_bytes()[:100])
    for bundle in (world.files["tampered"], truncated):
        run = cli("verify", bundle, "--trust", world.files["policy"], "--at", AT_IN_FORCE)
        assert run.code == EXIT["invalid"] and run.err == "" and run.out.startswith("INVALID")
    # A tampered trust policy is the relying party's own file: an error, not a verdict.
    policy = tmp_path / "policy.txt"
    policy.write_bytes(world.files["policy"].read_bytes().replace(b"log", b"lag", 1))
    line = error("verify", world.files["valid"], "--trust", policy, "--at", AT_IN_FORCE)
    assert f"trust policy {policy}" in line
    # The holder signs the bytes it holds; a presentation of a tampered bundle carries the
    # bundle's verdict.
    p = tmp_path / "p"
    args: list[str | Path] = ["--key", world.files["holder-key"], "--audience", AUDIENCE]
    args += ["--nonce", NONCE]
    ok_json("present", world.files["tampered"], *args, "-o", p, passphrase=PASSPHRASE)
    run = cli(
        "verify-presentation",
        p,
        "--trust",
        world.files["policy"],
        "--audience",
        AUDIENCE,
        "--nonce",
        NONCE,
        "--max-age",
        "600",
        "--at",
        AT_IN_FORCE,
        "--json",
    )
    assert run.code == EXIT["invalid"] and run.err == "" and run.json()["verdict"] == "invalid"


def test_stale_bundle_is_cant_tell(world: World) -> None:
    run = world.runs["stale --json"]
    assert run.code == 20 and run.json()["verdict"] == "stale"
    # The same bundle inside the policy's maximum age of its checkpoint is valid.
    assert world.runs["valid"].code == 0


def test_missing_files(world: World, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    policy, bundle = world.files["policy"], world.files["valid"]
    assert "cannot read bundle" in error("verify", missing, "--trust", policy)
    assert "cannot read bundle" in error_json("verify", missing, "--trust", policy)
    assert "cannot read trust policy" in error("verify", bundle, "--trust", missing)
    assert "cannot read file" in error("show", missing)
    assert "does not exist" in error("issue", world.dir, missing)
    assert "is not a directory" in error("log", missing)
    assert "is not a ledger directory" in error("log", tmp_path)
    assert "cannot read root scope file" in error(
        "init", tmp_path / "new", *INIT, "--unsafe-no-passphrase", "--root-scope", missing
    )
    assert not (tmp_path / "new").exists()
    assert "cannot read holder key file" in error(
        "present",
        bundle,
        "--key",
        missing,
        "--audience",
        AUDIENCE,
        "--nonce",
        NONCE,
        "-o",
        tmp_path / "p",
    )
    assert "cannot read presentation file" in error(
        "verify-presentation",
        missing,
        "--trust",
        policy,
        "--audience",
        AUDIENCE,
        "--nonce",
        NONCE,
        "--max-age",
        "60",
    )
    # A directory where a file is expected.
    assert "cannot read bundle" in error("verify", tmp_path, "--trust", policy)
    assert "init makes a new ledger in an empty directory" in error(
        "init", world.dir, *INIT, "--unsafe-no-passphrase"
    )


USAGE = [
    pytest.param([], "the following arguments are required: COMMAND", id="no-command"),
    pytest.param(["frobnicate"], "invalid choice: 'frobnicate'", id="unknown-command"),
    pytest.param(["init", "x"], "required: --origin", id="init-missing"),
    pytest.param(["revoke", "d", ZERO_ID], "required: --reason", id="revoke-reason"),
    pytest.param(
        ["revoke", "d", ZERO_ID, "--reason", "whim"], "argument --reason", id="bad-choice"
    ),
    pytest.param(["issue", "d", "r", "--batch", "x"], "invalid int value: 'x'", id="bad-int"),
    pytest.param(["log", "d", "--colour"], "unrecognized arguments: --colour", id="unknown-flag"),
    pytest.param(["key"], "required: KEY_COMMAND", id="key-no-subcommand"),
    pytest.param(["verify", "b"], "required: --trust", id="verify-trust"),
    pytest.param(["demo", "a", "b"], "unrecognized arguments: b", id="extra-argument"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE)
def test_usage_errors(argv: list[str], message: str) -> None:
    line = error(*argv, code=EXIT["usage"])
    assert message in line, line
    assert line.endswith("--help`)")


def test_command_errors_with_json_are_one_object(scratch: Path, world: World) -> None:
    assert "--max-status-age" in error_json("trust", scratch, "-o", "x", "--max-status-age", "0")
    assert "--at" in error_json(
        "verify", world.files["valid"], "--trust", world.files["policy"], "--at", "tomorrow"
    )
    assert "--activity" in error_json(
        "verify",
        world.files["valid"],
        "--trust",
        world.files["policy"],
        "--customer-type",
        "retail",
    )


# ---------------------------------------------------------------------------------------
# Bugs found while driving the script (each fixed, each with its test)


def test_closed_stdout_keeps_the_status(world: World) -> None:
    """`noc-ledger verify … | head -1` (the reader closes the pipe early) used to exit 0
    whatever the verdict: a broken pipe was reported as success. The status is now the
    command's own, and stderr stays quiet."""
    policy = ["--trust", str(world.files["policy"])]
    cases = [
        (["verify", str(world.files["tampered"]), *policy, "--at", AT_IN_FORCE], 30),
        (["verify", str(world.files["valid"]), *policy, "--at", AT_FAR_FUTURE, "--json"], 20),
        (["verify", str(world.files["revoked"]), *policy, "--at", AT_IN_FORCE], 14),
        (["log", str(world.dir)], 0),
    ]
    for argv, code in cases:
        child = subprocess.Popen(
            [str(console_script()), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()  # before the child has started: every write finds it closed
        try:
            err = child.stderr.read()
            assert child.wait(timeout=TIMEOUT) == code, (argv, err)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert err == b"", (argv, err)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_reads_are_bounded_for_devices_and_long_lines(world: World, tmp_path: Path) -> None:
    """Reading a file trusted stat's size, so a device (/dev/zero) was read forever; and a
    JSON-lines file was read a whole line before the line limit applied."""
    endless = tmp_path / "endless.jsonl"
    endless.symlink_to("/dev/zero")
    assert "is more than 16777216 bytes" in error("show", "/dev/zero")
    assert "is more than 1048576 bytes" in error("issue", world.dir, "/dev/zero")
    assert f"{endless}:1: line longer than 1048576 bytes" in error("issue", world.dir, endless)
    assert "is more than 16777216 bytes" in error(
        "verify", "/dev/zero", "--trust", world.files["policy"]
    )


def test_an_error_after_progress_starts_its_own_line(scratch: Path, tmp_path: Path) -> None:
    """On a terminal, `issue` shows progress on stderr without a newline; an error in the
    middle of a bulk run used to be glued to the end of that progress line."""
    requests = [noc(200 + i) for i in range(251)]
    requests[250]["subject"]["lei"] = "529900T8BM49AURSDO56"
    bulk = write_jsonl(tmp_path / "bulk.jsonl", requests)
    controller, terminal = os.openpty()
    try:
        child = subprocess.Popen(
            [str(console_script()), "issue", str(scratch), str(bulk)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
        )
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert child.wait(timeout=TIMEOUT) == 1
        assert child.stdout is not None
        assert child.stdout.read() == b""
        child.stdout.close()
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    shown = b"".join(chunks).decode()
    assert "checking requests: 200/251" in shown, shown
    where = shown.index("noc-ledger: ")
    assert shown[where - 1] == "\n", shown
    assert f"{bulk}:251: subject.lei" in shown[where:]
    assert log_size(scratch) == SCRATCH_SIZE


def on_terminal(
    argv: list[str | Path], answers: list[tuple[str, bytes]], env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Run the script on a new pseudo-terminal as its controlling terminal (where getpass
    prompts), answering each prompt (text to wait for, bytes to type) in order; returns
    the status and everything the terminal showed. The answer is typed only once its
    prompt is shown: getpass discards input typed before it (TCSAFLUSH)."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOC_LEDGER_PASSPHRASE", "NOC_LEDGER_PKCS11_PIN")
    }
    environment.update(env or {})
    controller, terminal = os.openpty()

    def take_terminal() -> None:  # in the child, after setsid (start_new_session)
        import fcntl

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    deadline = time.monotonic() + TIMEOUT  # a bound against a hang, not a speed test
    shown = b""
    try:
        child = subprocess.Popen(
            [str(console_script()), *(str(a) for a in argv)],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=environment,
            start_new_session=True,
            preexec_fn=take_terminal,  # noqa: PLW1509 - single-threaded test process
        )
        os.close(terminal)
        terminal = -1
        pending = list(answers)
        cursor = 0  # where the next prompt is looked for: after the previous one
        while True:
            if pending:
                found = shown.find(pending[0][0].encode(), cursor)
                if found >= 0:
                    cursor = found + len(pending[0][0].encode())
                    os.write(controller, pending.pop(0)[1])
            left = deadline - time.monotonic()
            assert left > 0, f"no end, or no prompt {pending[:1]}: {shown!r}"
            ready, _, _ = select.select([controller], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child has closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        code = child.wait(timeout=TIMEOUT)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    text = shown.decode("utf-8", "replace").replace("\r\n", "\n")
    assert "Traceback" not in text, text
    return code, text


def test_passphrase_prompts_on_a_terminal(world: World, tmp_path: Path) -> None:
    """Passphrases typed at the prompt; Ctrl-D at a prompt used to end in a traceback
    (EOFError out of getpass) in `present`."""
    directory = tmp_path / "ledger"
    typed = PASSPHRASE.encode() + b"\n"
    code, shown = on_terminal(
        ["init", directory, *INIT, "--json"],
        [("passphrase for the new keys: ", typed), ("again: ", typed)],
    )
    assert code == 0, shown
    assert json.loads(shown[shown.index("{") :])["encrypted"] is True
    code, shown = on_terminal(
        ["init", tmp_path / "other", *INIT],
        [("passphrase for the new keys: ", typed), ("again: ", b"something else\n")],
    )
    assert code == 1 and "noc-ledger: the passphrases differ" in shown, shown
    assert not (tmp_path / "other").exists()
    request = write_json(tmp_path / "noc.json", noc(300))
    code, shown = on_terminal(
        ["issue", directory, request], [("passphrase for the keys in", b"wrong words\n")]
    )
    assert code == 1 and "wrong passphrase" in shown, shown
    code, shown = on_terminal(
        ["issue", directory, request], [("passphrase for the keys in", typed)]
    )
    assert code == 0 and "index 1" in shown, shown
    present: list[str | Path] = [
        "present",
        world.files["valid"],
        "--key",
        world.files["holder-key"],
    ]
    present += ["--audience", AUDIENCE, "--nonce", NONCE, "-o", tmp_path / "p"]
    code, shown = on_terminal(present, [("passphrase for", b"\x04")])  # Ctrl-D
    assert code == 1 and "noc-ledger: no passphrase given" in shown, shown
    assert not (tmp_path / "p").exists()
    code, shown = on_terminal(present, [("passphrase for", typed)])
    assert code == 0 and "wrote presentation file" in shown, shown


def test_a_terminal_without_unicode(world: World) -> None:
    """Human output and --help have dashes and arrows; on a terminal whose encoding lacks
    them (PYTHONIOENCODING=ascii stands for one) they used to end in UnicodeEncodeError:
    a traceback for `verify` and `--help`, "internal error" for the regulator's commands."""
    ascii_only = {"PYTHONIOENCODING": "ascii"}
    run = cli("--help", env=ascii_only)
    assert run.code == 0 and "a NOC \\u2192 licence" in run.out, run
    run = cli(
        "verify",
        world.files["valid"],
        "--trust",
        world.files["policy"],
        "--at",
        AT_IN_FORCE,
        env=ascii_only,
    )
    assert run.code == 0 and run.out.startswith("VALID \\u2014 "), run
    run = cli(
        "verify",
        world.files["revoked"],
        "--trust",
        world.files["policy"],
        "--at",
        AT_IN_FORCE,
        env=ascii_only,
    )
    assert run.code == EXIT["revoked"] and run.out.startswith("REVOKED \\u2014 "), run
    run = cli("log", world.dir, "--limit", "1", env=ascii_only)
    assert run.code == 0 and "\\u2013" in run.out and run.err == "", run
    # JSON is ASCII anyway, and the same as on any terminal.
    run = cli("status", world.dir, world.ids["noc1"], "--json", env=ascii_only)
    assert run.code == 0 and run.json() == world_status(world)


def world_status(world: World) -> dict[str, Any]:
    return ok_json("status", world.dir, world.ids["noc1"])


def test_a_failed_demo_prints_one_json_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`demo --json` printed its summary and then, if the story went wrong, a second JSON
    object with the error. In-process (the story cannot be made to fail from outside): an
    expectation it cannot meet stands for a regression of the library."""
    from noc_ledger.cli import demo, main

    monkeypatch.setattr(demo, "EXPECTED_VERDICTS", ("valid",))
    with pytest.raises(SystemExit) as exc:
        main(["demo", str(tmp_path / "demo"), "--json"])
    assert exc.value.code == EXIT["error"]
    captured = capsys.readouterr()
    obj = json.loads(captured.out)  # exactly one document
    assert obj["exit"] == 1 and "did not reach the expected verdicts" in obj["error"]
    assert captured.err.count("\n") == 1
