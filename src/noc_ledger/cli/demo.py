"""``noc-ledger demo``: the whole story in a few seconds, on the embedded default.

A virtual-assets authority issues No Objection Certificates to two exchanges; a partner
bank verifies one offline (AML registration permitted, a fiat exchange not); the authority
upgrades that NOC to a licence (the same question now passes, the old NOC shows as
superseded); the other exchange's NOC is suspended, then revoked; a bundle whose status
is too old gives "can't tell"; a tampered bundle is rejected.

It uses the library directly — a :class:`~noc_ledger.ledger.ledger.Ledger` on a
:class:`~noc_ledger.ledger.sqlite.SqliteStore` in DIR, the ledger's published trust policy,
its bundles, :func:`~noc_ledger.verify.explain_bundle` — with a simulated clock, and writes
the bundles and the trust policy into DIR so the user can re-run ``noc-ledger verify`` on
them. The firms, the authority, the bank and their LEIs are fictional test data; the keys
are fresh and written unencrypted (demo only).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from noc_ledger import codec, signing
from noc_ledger.bundle import Bundle
from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError, Output
from noc_ledger.cli.ledgerdir import (
    CONFIG,
    LOG_KEY_FILE,
    ROOT_KEY_FILE,
    Config,
    KeyInfo,
    issuing_key_file,
)
from noc_ledger.cli.verifier import (
    format_time,
    status_summary,
    verdict_headline,
    verification_report,
)
from noc_ledger.events import KeyEvent, KeyEventKind, ReasonCode, StatusEvent, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.logstate import Authority
from noc_ledger.model import (
    NOC_DISCLAIMER_CODE,
    NOC_DISCLAIMER_TEXT,
    Certificate,
    Edge,
    EdgeKind,
    Instrument,
    Issuer,
    LegalNotice,
    Subject,
    check_lei,
)
from noc_ledger.policy import parse_policy
from noc_ledger.scope import Grant, Limit, Query, Scope, Territory

__all__ = [
    "EXPECTED_VERDICTS",
    "lei_with_check_digits",
    "presentation_argvs",
    "register",
    "run_demo",
]

#: The verdict each verification step of the story must reach, in order.
EXPECTED_VERDICTS: Final = (
    "valid",
    "out-of-scope",
    "valid",
    "superseded",
    "suspended",
    "revoked",
    "stale",
    "invalid",
)

# The simulated clock starts here: 2026-01-05T09:00:00Z.
START: Final = 1_767_603_600
HOUR: Final = 3_600
DAY: Final = 86_400
MAX_STATUS_AGE: Final = 3 * DAY

AUTHORITY_NAME: Final = "Virtual Assets Regulatory Authority (demo)"
JURISDICTION: Final = "AE-DU"
ORIGIN: Final = "demo.vara.example/noc-ledger"
BANK: Final = "Gulf Partner Bank (demo)"
BANK_AUDIENCE: Final = "bank.example"
DEMO_NONCE: Final = "6e6f632d6c65646765722064656d6f21"
ALL_CUSTOMERS: Final = ("institutional", "professional", "retail")
HERE: Final = Territory((JURISDICTION,))

DATABASE: Final = "ledger.db"
POLICY_FILE: Final = "trust.policy"


def lei_with_check_digits(base: str) -> str:
    """An ISO 17442 LEI from its first 18 characters: the ISO 7064 MOD 97-10 check digits
    appended (letters count as 10..35, and the whole number must be 1 modulo 97)."""
    digits = "".join(str(int(c, 36)) for c in base + "00")
    lei = f"{base}{98 - int(digits) % 97:02d}"
    check_lei(lei)
    return lei


# Fictional 18-character prefixes ("DEMO" marks them as test data).
BINANCE_LEI: Final = lei_with_check_digits("9845DEMOBINANCEFZE")
HTX_LEI: Final = lei_with_check_digits("9845DEMOHTXMEFZE00")

AML: Final = Query("prep.aml_registration", "retail", JURISDICTION)
FIAT: Final = Query("va.exchange.fiat", "retail", JURISDICTION)


class SimulatedClock:
    """The only clock the demo's ledger reads; the story moves it forward."""

    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def set(self, when: int) -> None:
        if when < self.now:
            raise ValueError("the simulated clock only moves forward")
        self.now = when


def _issuer() -> Issuer:
    return Issuer(AUTHORITY_NAME, JURISDICTION)


def _noc(number: str, name: str, lei: str, holder: bytes, at: int) -> Certificate:
    return Certificate(
        instrument=Instrument.NOC,
        number=number,
        issuer=_issuer(),
        subject=Subject(legal_name=name, lei=lei, holder_keys=(holder,)),
        issued_at=at,
        valid_from=at,
        valid_until=at + 180 * DAY,
        scope=Scope(
            (
                Grant("prep.aml_registration", ALL_CUSTOMERS, HERE),
                Grant("prep.local_incorporation", ALL_CUSTOMERS, HERE),
                Grant("prep.licence_application", ALL_CUSTOMERS, HERE),
            )
        ),
        conditions=("Apply for an operating licence within 180 days.",),
        legal_notices=(LegalNotice(NOC_DISCLAIMER_CODE, NOC_DISCLAIMER_TEXT),),
    )


def _licence(noc: Certificate, at: int) -> Certificate:
    return Certificate(
        instrument=Instrument.LICENCE,
        number="VARA-DEMO/LIC/2026/0001",
        issuer=_issuer(),
        subject=noc.subject,
        issued_at=at,
        valid_from=at,
        valid_until=at + 365 * DAY,
        scope=Scope(
            (
                Grant(
                    "va.exchange",
                    ("retail",),
                    HERE,
                    limits=(Limit("per_transaction", "AED", 1_000_000),),
                ),
            )
        ),
        conditions=("Report client-money reconciliations to the authority every month.",),
        edges=(Edge(EdgeKind.UPGRADES, noc.id),),
    )


def _tamper(data: bytes, legal_name: str) -> bytes:
    """A forgery: the bundle's certificate with another holder's name, the authority's
    original signature kept (re-wrapped around the edited payload)."""
    bundle = Bundle.from_cbor(data)
    envelope = signing.decode_sign1(bundle.certificate.entry)
    cert = Certificate.from_cbor(envelope.payload)
    forged = dataclasses.replace(
        cert, subject=dataclasses.replace(cert.subject, legal_name=legal_name)
    )
    entry = codec.encode(
        codec.Tag(
            codec.COSE_SIGN1_TAG, [envelope.protected, {}, forged.to_cbor(), envelope.signature]
        )
    )
    certificate = dataclasses.replace(bundle.certificate, entry=entry)
    return dataclasses.replace(bundle, certificate=certificate).to_cbor()


def _query_argv(query: Query) -> list[str]:
    return [
        "--activity",
        query.activity,
        "--customer-type",
        query.customer_type,
        "--territory",
        query.territory,
    ]


class _Story:
    """Runs the story, printing as it goes and recording each step for ``--json``."""

    def __init__(self, directory: Path, out: Output) -> None:
        self.dir = directory
        self.out = out
        self.clock = SimulatedClock(START)
        self.events: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.files: dict[str, str] = {}
        self.policy_bytes = b""

    # -- output ---------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.out.line(text)

    def event(self, when: int, text: str, *details: str) -> None:
        self.clock.set(when)
        self.events.append({"at": when, "at_utc": format_time(when), "what": text})
        self.say(f"[{format_time(when)}] {text}")
        for line in details:
            self.say(f"    {line}")

    def write(self, name: str, data: bytes, role: str) -> Path:
        path = self.dir / name
        common.write_public(path, data)
        self.files[role] = str(path)
        return path

    def write_key(self, name: str, signer: signing.Ed25519Signer) -> Path:
        path = self.dir / "keys" / name
        common.write_private(path, signing.encode_private_key_unsafe_unencrypted(signer))
        self.files[f"key:{name}"] = str(path)
        return path

    # -- verification -----------------------------------------------------------------

    def verify(
        self, title: str, who: str, bundle: Path, at: int, query: Query | None, expected: str
    ) -> None:
        # The relying party's side: only the bundle file and the published policy file.
        self.clock.set(at)
        policy = parse_policy(common.read_bytes(self.dir / POLICY_FILE, what="trust policy"))
        report = verification_report(bundle.read_bytes(), policy, at=at, query=query)
        argv = [
            "verify",
            str(bundle),
            "--trust",
            str(self.dir / POLICY_FILE),
            "--at",
            format_time(at),
        ]
        if query is not None:
            argv += _query_argv(query)
        number = len(self.steps) + 1
        failing = next((r for r in report["reasons"] if not r["ok"]), None)
        step = {
            "step": number,
            "title": title,
            "who": who,
            "bundle": str(bundle),
            "at": at,
            "at_utc": format_time(at),
            "query": report["query"],
            "verdict": report["verdict"],
            "expected": expected,
            "exit": report["exit"],
            "cert_id": report["cert_id"],
            "reason": failing["detail"] if failing else "every step passed",
            "details": report["details"],
            "argv": argv,
            "command": shlex.join(["noc-ledger", *argv]),
        }
        self.steps.append(step)
        self.say(f"Step {number} [{format_time(at)}] {who}: {title}")
        self.say(f"    bundle {bundle.name}, checked offline against {POLICY_FILE}")
        self.say(f"    → {verdict_headline(report)}")
        for label, text in status_summary(report):
            self.say(f"      {label}: {text}")
        if failing is not None:
            self.say(f"      decided at step {failing['step']} ({failing['name']})")
        if report["verdict"] == "valid":
            for notice in report["legal_notices"]:
                self.say(f"      legal notice [{notice['code']}]: {notice['text']}")
        if report["verdict"] != expected:
            self.say(f"    !! expected {expected}")

    # -- the story --------------------------------------------------------------------

    def run(self) -> None:
        d = self.dir
        self.say("noc-ledger demo: an authority, two exchanges and a bank.")
        self.say("All times below are SIMULATED (a clock the demo moves forward);")
        self.say("the firms, the authority, the bank and their LEIs are fictional test data.")
        self.say(f"directory: {d} (kept)")
        self.say("")

        root, issuing, log = (signing.Ed25519Signer.generate() for _ in range(3))
        binance_holder, htx_holder = (
            signing.Ed25519Signer.generate(),
            signing.Ed25519Signer.generate(),
        )
        # The authority's keys go where a ledger directory keeps them (cli/ledgerdir.py), so
        # that every other command (log, status, tiles, register, …) works on DIR after.
        for name, signer in (
            (Path(ROOT_KEY_FILE).name, root),
            (Path(issuing_key_file(issuing.key_id)).name, issuing),
            (Path(LOG_KEY_FILE).name, log),
            ("binance-holder.pem", binance_holder),
            ("htx-holder.pem", htx_holder),
        ):
            self.write_key(name, signer)
        self.log_public_key = log.public_key
        root_scope = Scope(
            (
                Grant("prep", ALL_CUSTOMERS, Territory(("AE",))),
                Grant("va", ALL_CUSTOMERS, Territory(("AE",))),
            )
        )
        store = SqliteStore(d / DATABASE)
        try:
            ledger = Ledger(
                store,
                origin=ORIGIN,
                authority=Authority(root.public_key, root_scope),
                log_signer=log,
                clock=self.clock,
            )
            self._run(ledger, root, issuing, binance_holder, htx_holder)
        finally:
            store.close()

    def _write_config(
        self,
        ledger: Ledger,
        root: signing.Ed25519Signer,
        issuing: signing.Ed25519Signer,
        delegation: KeyEvent,
    ) -> None:
        """Write ``ledger.json``: DIR is then a ledger directory (unencrypted keys)."""
        assert delegation.valid_until is not None  # set just above
        config = Config(
            origin=ORIGIN,
            authority=AUTHORITY_NAME,
            jurisdiction=JURISDICTION,
            encrypted=False,
            root_public_key=root.public_key,
            log_public_key=self.log_public_key,
            root_scope=ledger.authority.root_scope,
            issuing_key=issuing.key_id,
            keys=[
                KeyInfo(
                    key_id=issuing.key_id,
                    public_key=issuing.public_key,
                    file=issuing_key_file(issuing.key_id),
                    label=delegation.label,
                    valid_from=delegation.effective_at,
                    valid_until=delegation.valid_until,
                )
            ],
        )
        common.write_public(self.dir / CONFIG, config.to_json())

    def _run(
        self,
        ledger: Ledger,
        root: signing.Ed25519Signer,
        issuing: signing.Ed25519Signer,
        binance_holder: signing.Ed25519Signer,
        htx_holder: signing.Ed25519Signer,
    ) -> None:
        d = self.dir
        t = START
        delegation = KeyEvent(
            KeyEventKind.DELEGATE,
            issuing.public_key,
            effective_at=t,
            decided_at=t,
            label="issuing key 2026",
            valid_until=t + 5 * 365 * DAY,
            scope=ledger.authority.root_scope,
        )
        receipt = ledger.record_key_event(delegation, root)
        self._write_config(ledger, root, issuing, delegation)
        self.policy_bytes = ledger.trust_policy(
            max_status_age=MAX_STATUS_AGE, authority_name=AUTHORITY_NAME
        )
        self.write(POLICY_FILE, self.policy_bytes, "trust_policy")
        self.event(
            t,
            f"The {AUTHORITY_NAME} sets up its ledger.",
            f"fresh Ed25519 keys (root, issuing, log, two holders) in {d / 'keys'}: "
            "written UNENCRYPTED — demo only",
            f"ledger: {d / DATABASE} (SQLite), log origin {ORIGIN}",
            f"issuing key delegated by the root key: log entry {receipt.index}",
            f"trust policy published: {d / POLICY_FILE} (status may be at most "
            f"{MAX_STATUS_AGE // DAY} days old)",
        )

        t = START + HOUR
        self.clock.set(t)
        binance_noc = _noc(
            "VARA-DEMO/NOC/2026/0001", "Binance FZE", BINANCE_LEI, binance_holder.public_key, t
        )
        htx_noc = _noc(
            "VARA-DEMO/NOC/2026/0002", "HTX Middle East FZE", HTX_LEI, htx_holder.public_key, t
        )
        receipts = ledger.issue_batch([binance_noc, htx_noc], issuing)
        self.event(
            t,
            "It issues No Objection Certificates to two exchanges:",
            f"{binance_noc.number} to Binance FZE (LEI {BINANCE_LEI}), log entry "
            f"{receipts[0].index}",
            f"{htx_noc.number} to HTX Middle East FZE (LEI {HTX_LEI}), log entry "
            f"{receipts[1].index}",
            f"each permits, in {JURISDICTION}: registering with the AML reporting system, "
            "incorporating a local subsidiary, preparing a licence application",
            f"with the legal notice: {NOC_DISCLAIMER_TEXT}",
        )

        t = START + DAY + HOUR
        self.clock.set(t)
        noc_bundle = self.write(
            "binance-noc.bundle", ledger.bundle(binance_noc.id), "binance_noc_bundle"
        )
        self.event(
            t,
            f"Binance FZE gives its partner bank an offline bundle: {noc_bundle.name}",
            "(the signed NOC, the key chain, Merkle proofs, a signed checkpoint, status proofs)",
        )
        self.say("")
        self.verify(
            "may Binance FZE register with the AML reporting system?",
            BANK,
            noc_bundle,
            t + HOUR,
            AML,
            "valid",
        )
        self.verify(
            "may Binance FZE operate a fiat exchange for retail clients?",
            BANK,
            noc_bundle,
            t + HOUR,
            FIAT,
            "out-of-scope",
        )
        self.say("")

        t = START + 60 * DAY
        self.clock.set(t)
        licence = _licence(binance_noc, t)
        receipt = ledger.issue(licence, issuing)
        licence_bundle = self.write(
            "binance-licence.bundle", ledger.bundle(licence.id), "binance_licence_bundle"
        )
        superseded_bundle = self.write(
            "binance-noc-refreshed.bundle", ledger.bundle(binance_noc.id), "binance_noc_refreshed"
        )
        self.event(
            t,
            f"The authority upgrades Binance FZE's NOC to licence {licence.number} "
            f"(log entry {receipt.index}):",
            f"exchange services for retail clients in {JURISDICTION}, at most AED 1,000,000 per "
            "transaction; the licence names the NOC it upgrades",
            f"bundles: {licence_bundle.name}, and the NOC's refreshed bundle "
            f"{superseded_bundle.name}",
        )
        self.verify(
            "the same question again, on the licence: may it operate a fiat exchange?",
            BANK,
            licence_bundle,
            t + HOUR,
            FIAT,
            "valid",
        )
        self.verify(
            "and the old NOC, refreshed?",
            BANK,
            superseded_bundle,
            t + HOUR,
            AML,
            "superseded",
        )
        self.say("")

        t = START + 90 * DAY
        self.clock.set(t)
        ledger.record(
            StatusEvent(
                StatusEventKind.SUSPEND,
                htx_noc.id,
                t,
                t,
                ReasonCode.AML_CFT_FAILURE,
                "Suspended pending an AML/CFT inspection.",
            ),
            issuing,
        )
        suspended_bundle = self.write(
            "htx-noc-suspended.bundle", ledger.bundle(htx_noc.id), "htx_noc_suspended"
        )
        self.event(
            t,
            f"The authority suspends HTX Middle East FZE's NOC (reason: "
            f"{ReasonCode.AML_CFT_FAILURE}).",
        )
        self.verify(
            "may HTX Middle East FZE register with the AML reporting system?",
            BANK,
            suspended_bundle,
            t + HOUR,
            AML,
            "suspended",
        )

        t = START + 100 * DAY
        self.clock.set(t)
        ledger.record(
            StatusEvent(
                StatusEventKind.REVOKE,
                htx_noc.id,
                t,
                t,
                ReasonCode.FALSE_INFORMATION,
                "The application contained false information.",
            ),
            issuing,
        )
        revoked_bundle = self.write(
            "htx-noc-revoked.bundle", ledger.bundle(htx_noc.id), "htx_noc_revoked"
        )
        fresh_licence = ledger.bundle(licence.id)
        self.event(
            t,
            f"The authority revokes HTX Middle East FZE's NOC (reason: "
            f"{ReasonCode.FALSE_INFORMATION}); revocation is final.",
        )
        self.verify(
            "may HTX Middle East FZE register with the AML reporting system, now?",
            BANK,
            revoked_bundle,
            t + HOUR,
            AML,
            "revoked",
        )
        self.say("")
        self.verify(
            f"a branch still holds {licence_bundle.name} from day 60 (40 days old)",
            BANK,
            licence_bundle,
            t + 2 * HOUR,
            FIAT,
            "stale",
        )
        tampered = self.write(
            "tampered.bundle", _tamper(fresh_licence, "HTX Middle East FZE"), "tampered_bundle"
        )
        self.verify(
            "a forger puts HTX Middle East FZE's name on Binance FZE's fresh licence bundle",
            BANK,
            tampered,
            t + 2 * HOUR,
            FIAT,
            "invalid",
        )


def presentation_argvs(directory: Path) -> tuple[list[str], list[str]]:
    """``present`` and ``verify-presentation`` on the licence bundle, at simulated times
    when it is fresh: Binance FZE proves to the bank that it holds the licence. The nonce
    is fixed here; a real verifier draws a fresh random one for every exchange."""
    licence = str(directory / "binance-licence.bundle")
    output = str(directory / "binance-licence.presentation")
    at = START + 60 * DAY + HOUR
    present = [
        "present",
        licence,
        "--key",
        str(directory / "keys" / "binance-holder.pem"),
        "--unsafe-no-passphrase",
        "--audience",
        BANK_AUDIENCE,
        "--nonce",
        DEMO_NONCE,
        "--at",
        format_time(at),
        "-o",
        output,
    ]
    check = [
        "verify-presentation",
        output,
        "--trust",
        str(directory / POLICY_FILE),
        "--audience",
        BANK_AUDIENCE,
        "--nonce",
        DEMO_NONCE,
        "--max-age",
        "300",
        "--at",
        format_time(at + 60),
        *_query_argv(FIAT),
    ]
    return present, check


def run_demo(directory: Path, out: Output) -> dict[str, Any]:
    """Run the story in ``directory`` (which must be new or empty); return the summary."""
    started = time.monotonic()
    story = _Story(directory, out)
    story.run()
    elapsed = time.monotonic() - started
    summary: dict[str, Any] = {
        "directory": str(directory),
        "simulated_times": True,
        "keys_unencrypted": True,
        "trust_policy": str(directory / POLICY_FILE),
        "database": str(directory / DATABASE),
        "events": story.events,
        "steps": story.steps,
        "verdicts": [s["verdict"] for s in story.steps],
        "expected": list(EXPECTED_VERDICTS),
        "ok": [s["verdict"] for s in story.steps] == list(EXPECTED_VERDICTS),
        "files": story.files,
        "seconds": round(elapsed, 3),
    }
    present, check = presentation_argvs(directory)
    summary["presentation_commands"] = [
        shlex.join(["noc-ledger", *present]),
        shlex.join(["noc-ledger", *check]),
    ]
    out.line("")
    out.line("Re-run any check yourself (the --at times are the simulated ones):")
    for step in story.steps:
        out.line(f"  {step['command']}")
        out.line(f"      # expect {step['verdict']} (exit {step['exit']})")
    out.line("Holder-bound: Binance FZE proves to the bank that it holds the licence")
    out.line("(the nonce is fixed here; a real verifier picks a fresh random one each time):")
    for command in summary["presentation_commands"]:
        out.line(f"  {command}")
    policy = shlex.quote(str(directory / POLICY_FILE))
    out.line("Look inside a file (show verifies nothing):")
    out.line(f"  noc-ledger show {shlex.quote(str(directory / 'binance-licence.bundle'))}")
    out.line(f"  noc-ledger show {policy}")
    d = shlex.quote(str(directory))
    out.line("DIR is a ledger directory (with unencrypted demo keys): every command works on it:")
    out.line(f"  noc-ledger log {d}")
    out.line(f"  noc-ledger tiles {d}            # publish the log as C2SP tiles in DIR/tiles")
    out.line(f"  noc-ledger audit {d}/tiles --trust {policy}")
    out.line(f"  noc-ledger register {d} -o {d}/site --at 2026-04-15T12:00:00Z")
    out.line("")
    out.line(f"Done in {elapsed:.2f} s (wall clock). Files are in {directory}.")
    return summary


def _directory(arg: str | None) -> Path:
    if arg is None:
        return Path(tempfile.mkdtemp(prefix="noc-ledger-demo-"))
    path = Path(arg)
    if path.exists():
        if not path.is_dir():
            raise CommandError(f"{path} exists and is not a directory")
        try:
            if any(path.iterdir()):
                raise CommandError(f"{path} is not empty: the demo needs a new or empty directory")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    else:
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise CommandError(f"cannot create {path}: {exc.strerror or exc}") from None
    return path.resolve()


def _cmd_demo(args: argparse.Namespace, out: Output) -> int:
    directory = _directory(args.dir)
    summary = run_demo(directory, out)
    if not summary["ok"]:
        # Before the summary is printed: with --json, the error is the one object.
        raise CommandError(f"the story did not reach the expected verdicts: {summary['verdicts']}")
    out.result(summary)
    return common.EXIT["ok"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo``."""
    p = subparsers.add_parser(
        "demo",
        help="run the whole story (issue, verify, upgrade, suspend, revoke) in seconds",
        description=(
            "Run a worked example on the embedded SQLite store in DIR: an authority issues "
            "NOCs to two exchanges, a bank verifies one offline, the NOC is upgraded to a "
            "licence, the other is suspended then revoked, and stale and tampered bundles "
            "are refused. Times are simulated; keys are fresh and written UNENCRYPTED "
            "(demo only). The bundles and the trust policy stay in DIR for `noc-ledger "
            "verify`."
        ),
    )
    p.add_argument(
        "dir",
        metavar="DIR",
        nargs="?",
        help="a new or empty directory (default: a new temporary directory, kept)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.set_defaults(func=_cmd_demo)
