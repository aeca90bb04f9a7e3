"""The regulator's commands: `init`, `issue`, the lifecycle events, successors, `key …`,
`checkpoint`, `bundle`, `trust`, `log`, `status`.

Every command works on a ledger directory (:mod:`noc_ledger.cli.ledgerdir`), takes
``--json`` to print exactly one JSON object, and reports a problem as one line with exit
status 1 (2 for a usage error). Request files follow spec/requests.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import functools
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from noc_ledger import _fields, signing
from noc_ledger.bundle import Bundle
from noc_ledger.checkpoint import decode_checkpoint_note
from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError, Output
from noc_ledger.cli.ledgerdir import (
    LOG_KEY_FILE,
    MIN_ID_PREFIX,
    ROOT_KEY_FILE,
    TOKEN_ROLES,
    FieldError,
    KeyInfo,
    LedgerDir,
    Obj,
    at_field,
    decode_text,
    default_root_scope,
    format_time,
    get_passphrase,
    issuing_key_file,
    load_document,
    load_scope,
    parse_json,
    parse_scope,
    parse_time,
    resolve_id,
    scope_to_json,
    token_key_label,
)
from noc_ledger.cli.ledgerdir import create as create_directory
from noc_ledger.errors import ModelError, NocLedgerError, TokenError
from noc_ledger.events import (
    CertStatus,
    KeyEvent,
    KeyEventKind,
    KeyStatus,
    ReasonCode,
    StatusEvent,
    StatusEventKind,
)
from noc_ledger.ledger.ledger import Ledger, Receipt
from noc_ledger.logstate import apply_entry, decode_key_event
from noc_ledger.model import (
    NOC_DISCLAIMER_CODE,
    NOC_DISCLAIMER_TEXT,
    Certificate,
    Edge,
    EdgeKind,
    Identifier,
    Instrument,
    Issuer,
    LegalNotice,
    Subject,
    certificate_id,
    check_lei,
    sign_certificate,
)
from noc_ledger.note import Verifier, decode_verifier_key

__all__ = ["Request", "parse_request", "read_requests", "register"]

#: Default validity of a delegated issuing key.
DEFAULT_KEY_DAYS: Final = 730
#: Default for `trust --max-status-age`: one day.
DEFAULT_MAX_STATUS_AGE: Final = 86_400
#: Default number of certificates per transaction in `issue`.
DEFAULT_BATCH: Final = 500
#: Longest line of a JSON-lines request file.
MAX_LINE: Final = 1 << 20
_REQUEST_SUFFIXES: Final = {".toml": "toml", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_HEX_ID: Final = re.compile(r"[0-9a-fA-F]{64}")
_REASONS: Final = [str(r) for r in ReasonCode]
_REASON_LIST: Final = ", ".join(_REASONS)
_DAY: Final = 86_400
#: spec/requests.md §3 and §3.1: the fields a request and its subject may have.
_REQUEST_FIELDS: Final = (
    "instrument",
    "number",
    "subject",
    "issued_at",
    "valid_from",
    "valid_until",
    "scope",
    "conditions",
    "legal_notices",
    "edges",
)
_SUBJECT_FIELDS: Final = (
    "legal_name",
    "lei",
    "identifiers",
    "trading_names",
    "domains",
    "holder_keys",
)

Func = Callable[[argparse.Namespace, Output], int]


# ---------------------------------------------------------------------------------------
# Small helpers


def _guarded(func: Func) -> Func:
    """Let only the errors `run_guarded` reports leave a command: anything else becomes
    one line too, never a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace, out: Output) -> int:
        try:
            return func(args, out)
        except (CommandError, NocLedgerError, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(common.EXIT["error"]) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise CommandError(f"{where}{exc.strerror or exc}") from None
        except Exception as exc:
            raise CommandError(
                f"internal error ({type(exc).__name__}: {exc}); please report this bug"
            ) from None

    return run


def parse_id(text: str, what: str) -> bytes:
    """A 32-byte id written as 64 hex digits.

    Raises:
        CommandError: otherwise.
    """
    value = text.strip()
    if not _HEX_ID.fullmatch(value):
        raise CommandError(f"{what} {text!r}: expected 64 hex digits")
    return bytes.fromhex(value)


def _time_flag(value: str | None, flag: str, default: int) -> int:
    return default if value is None else parse_time(value, flag)


def _progress(out: Output, done: int, total: int, what: str) -> None:
    # A line per hundred is plenty on a terminal, and cheap for a million.
    if done == total or done % 100 == 0:
        out.progress(done, total, what)


def _short(data: bytes) -> str:
    return data.hex()[:16] + "…"


# ---------------------------------------------------------------------------------------
# Requests (spec/requests.md)


@dataclass(frozen=True, slots=True)
class Request:
    """One request as read: where it came from (for messages) and its parsed document."""

    label: str
    value: object


def _holder_key(value: object, path: str) -> bytes:
    if not isinstance(value, str):
        raise FieldError(path, "expected a string (64 hex digits or base64)")
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return bytes.fromhex(value)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(path, "neither 64 hex digits nor base64") from None
    if len(raw) != signing.PUBLIC_KEY_SIZE:
        raise FieldError(path, f"an Ed25519 public key is 32 bytes, not {len(raw)}")
    return raw


def _subject(value: object) -> Subject:
    s = Obj(value, "subject", _SUBJECT_FIELDS)
    legal_name = s.text("legal_name")
    with at_field(s.at("legal_name")):
        _fields.text(legal_name, "legal name")
    lei = s.opt_text("lei")
    if lei is not None:
        try:
            check_lei(lei)
        except ModelError as exc:
            raise FieldError(s.at("lei"), str(exc).split(": ", 1)[-1]) from None
    identifiers = []
    for i, item in enumerate(s.items("identifiers")):
        io = Obj(item, f"{s.at('identifiers')}[{i}]", ("scheme", "value"))
        scheme, ident = io.text("scheme"), io.text("value")
        with at_field(io.path):
            identifiers.append(Identifier(scheme, ident))
    names = s.texts("trading_names")
    for i, name in enumerate(names):
        with at_field(f"{s.at('trading_names')}[{i}]"):
            _fields.text(name, "trading name")
    domains = s.texts("domains")
    for i, domain in enumerate(domains):
        with at_field(f"{s.at('domains')}[{i}]"):
            Subject(legal_name, domains=(domain,))
    keys = tuple(
        _holder_key(k, f"{s.at('holder_keys')}[{i}]") for i, k in enumerate(s.items("holder_keys"))
    )
    with at_field("subject"):
        return Subject(
            legal_name=legal_name,
            lei=lei,
            identifiers=tuple(identifiers),
            trading_names=names,
            domains=domains,
            holder_keys=keys,
        )


def _instrument(o: Obj) -> Instrument:
    text = o.text("instrument")
    try:
        return Instrument(text)
    except ValueError:
        choices = ", ".join(str(i) for i in Instrument)
        raise FieldError("instrument", f"{text!r} is not one of {choices}") from None


def _edges(o: Obj, extra: Edge | None, command: str) -> tuple[Edge, ...]:
    edges: list[Edge] = []
    for i, item in enumerate(o.items("edges")):
        eo = Obj(item, f"edges[{i}]", ("kind", "target"))
        kind_text = eo.text("kind")
        target_text = eo.text("target")
        try:
            kind = EdgeKind(kind_text)
        except ValueError:
            raise FieldError(
                eo.at("kind"), f"{kind_text!r} is not upgrades or supersedes"
            ) from None
        if not _HEX_ID.fullmatch(target_text):
            raise FieldError(eo.at("target"), "expected a certificate id (64 hex digits)")
        edges.append(Edge(kind, bytes.fromhex(target_text)))
    if extra is not None:
        same = [e for e in edges if e.kind is extra.kind]
        if same and same[0].target != extra.target:
            raise FieldError(
                "edges",
                f"`{command}` adds the {extra.kind} edge to CERT_ID itself; this request "
                f"names another target",
            )
        if not same:
            edges.append(extra)
    kinds = [e.kind for e in edges]
    if len(set(kinds)) != len(kinds):
        raise FieldError("edges", "at most one edge of each kind")
    return tuple(edges)


def parse_request(
    value: object,
    *,
    issuer: Issuer,
    now: int,
    extra_edge: Edge | None = None,
    command: str = "issue",
) -> Certificate:
    """A certificate from a request document (spec/requests.md).

    ``issuer`` comes from the ledger directory; ``now`` is the default ``issued_at``;
    ``extra_edge`` is the edge a successor command (upgrade, vary, renew, correct) adds.

    Raises:
        FieldError: the first field at fault, e.g. ``subject.lei: check digits do not
            verify (ISO 7064 MOD 97-10)``.
    """
    o = Obj(value, "", _REQUEST_FIELDS)
    instrument = _instrument(o)
    number = o.text("number")
    with at_field("number"):
        _fields.text(number, "certificate number", max_len=64)
    subject = _subject(o.need("subject"))
    issued_at = o.opt_time("issued_at")
    valid_from = o.time("valid_from")
    valid_until = o.opt_time("valid_until")
    if valid_until is not None and valid_until <= valid_from:
        raise FieldError("valid_until", "must be after valid_from")
    scope = parse_scope(o.need("scope"), "scope")
    if instrument is Instrument.NOC:
        vocabulary = scope.vocabulary
        for i, grant in enumerate(scope.grants):
            covered = vocabulary.covered(grant.activity, grant.excluded_activities)
            operating = sorted(a for a in covered if not vocabulary.is_preparatory(a))
            if operating:
                raise FieldError(
                    f"scope.grants[{i}].activity",
                    f"a NOC grants preparatory activities only, not {operating[0]!r}",
                )
    conditions = o.texts("conditions")
    for i, condition in enumerate(conditions):
        with at_field(f"conditions[{i}]"):
            _fields.text(condition, "condition", max_len=4096, multiline=True)
    notices: list[LegalNotice] = []
    for i, item in enumerate(o.items("legal_notices")):
        no = Obj(item, f"legal_notices[{i}]", ("code", "text"))
        code, text = no.text("code"), no.text("text")
        with at_field(no.path):
            notices.append(LegalNotice(code, text))
    if len({n.code for n in notices}) != len(notices):
        raise FieldError("legal_notices", "a code appears twice")
    # spec/requests.md §3.6: a NOC gets its disclaimer if the request leaves it out.
    if instrument is Instrument.NOC and all(n.code != NOC_DISCLAIMER_CODE for n in notices):
        notices.append(LegalNotice(NOC_DISCLAIMER_CODE, NOC_DISCLAIMER_TEXT))
    edges = _edges(o, extra_edge, command)
    if instrument is Instrument.NOC and any(e.kind is EdgeKind.UPGRADES for e in edges):
        raise FieldError("edges", "a NOC cannot upgrade another certificate")
    with at_field("request"):
        cert = Certificate(
            instrument=instrument,
            number=number,
            issuer=issuer,
            subject=subject,
            issued_at=now if issued_at is None else issued_at,
            valid_from=valid_from,
            valid_until=valid_until,
            scope=scope,
            conditions=conditions,
            legal_notices=tuple(notices),
            edges=edges,
        )
        cert.to_cbor()  # the size limit of spec/certificate.md §3
    return cert


def _jsonl(path: Path, label: str) -> Iterator[Request]:
    try:
        with path.open("rb") as f:
            # readline with a limit: a line is never read whole before its length is known.
            for number, raw in enumerate(iter(lambda: f.readline(MAX_LINE + 1), b""), start=1):
                where = f"{label}:{number}"
                if len(raw) > MAX_LINE:
                    raise CommandError(f"{where}: line longer than {MAX_LINE} bytes")
                text = decode_text(raw, where).strip()
                if text:
                    yield Request(where, parse_json(text, where))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_file(path: Path, label: str, kind: str | None) -> Iterator[Request]:
    if kind == "jsonl":
        yield from _jsonl(path, label)
    else:
        yield Request(label, load_document(path, what="request file"))


def read_requests(path: str | Path) -> list[Request]:
    """The requests in ``path``: one TOML or JSON file, a JSON-lines file (``.jsonl``,
    ``.ndjson``: one request per non-blank line), or a directory of such files (taken in
    name order; hidden files and subdirectories are skipped, any other file is an error).

    Raises:
        CommandError: unreadable, a syntax error (naming file and line), a file of another
            kind in a directory, or no request at all.
    """
    p = Path(path)
    if not p.exists():
        raise CommandError(f"REQUEST {p} does not exist")
    requests: list[Request] = []
    if p.is_dir():
        try:
            children = sorted(c for c in p.iterdir() if not c.name.startswith("."))
        except OSError as exc:
            raise CommandError(f"cannot read {p}: {exc.strerror or exc}") from None
        for child in children:
            if child.is_dir():
                continue
            kind = _REQUEST_SUFFIXES.get(child.suffix.lower())
            if kind is None:
                raise CommandError(f"{child}: not a request file (.toml, .json, .jsonl or .ndjson)")
            requests.extend(_read_file(child, str(child), kind))
    else:
        requests.extend(_read_file(p, str(p), _REQUEST_SUFFIXES.get(p.suffix.lower())))
    if not requests:
        raise CommandError(f"REQUEST {p} holds no request")
    return requests


# ---------------------------------------------------------------------------------------
# Issuing: validate everything, then write in batches


class _Preview:
    """logstate.StateView over the ledger plus the entries not yet written: the log's own
    rules applied to a whole bulk before its first write."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.base = ledger.size()
        self.pending: list[bytes] = []
        self.certs: dict[bytes, CertStatus] = {}
        self.keys: dict[bytes, KeyStatus] = {}
        self._key_events: dict[int, KeyEvent] = {}

    def cert_status(self, cert_id: bytes) -> CertStatus | None:
        found = self.certs.get(cert_id)
        return found if found is not None else self.ledger.status(cert_id)

    def key_status(self, key_id: bytes) -> KeyStatus | None:
        found = self.keys.get(key_id)
        return found if found is not None else self.ledger.key_status(key_id)

    def entry(self, index: int) -> bytes:
        if index >= self.base:
            return self.pending[index - self.base]
        return self.ledger.entries(index, index + 1)[0]

    def key_event(self, index: int) -> KeyEvent:
        if index not in self._key_events:
            self._key_events[index] = decode_key_event(self.entry(index))
        return self._key_events[index]

    def apply(self, entry: bytes) -> None:
        applied = apply_entry(
            self, entry, index=self.base + len(self.pending), authority=self.ledger.authority
        )
        if applied.duplicate_of is not None:
            return
        self.pending.append(entry)
        for key, record in applied.changes.items():
            if isinstance(record, KeyStatus):
                self.keys[key] = record
            else:
                self.certs[key] = record


@dataclass(frozen=True, slots=True)
class _Issued:
    request: Request
    certificate: Certificate
    receipt: Receipt


def _issue_all(
    d: LedgerDir,
    requests: Sequence[Request],
    out: Output,
    *,
    batch: int,
    extra_edge: Edge | None = None,
    command: str = "issue",
) -> list[_Issued]:
    now = common.now()
    issuer = Issuer(d.config.authority, d.config.jurisdiction)
    total = len(requests)
    certificates: list[Certificate] = []
    for i, request in enumerate(requests):
        try:
            certificates.append(
                parse_request(
                    request.value, issuer=issuer, now=now, extra_edge=extra_edge, command=command
                )
            )
        except CommandError as exc:
            raise CommandError(f"{request.label}: {exc} (nothing was written)") from None
        _progress(out, i + 1, total, "checking requests")
    issuing = d.issuing_signer()
    ledger = d.ledger(sign=True)
    signed: list[bytes] = []
    preview = _Preview(ledger)
    for i, (request, cert) in enumerate(zip(requests, certificates, strict=True)):
        try:
            entry = sign_certificate(cert, issuing)
            preview.apply(entry)
        except NocLedgerError as exc:
            raise CommandError(
                f"{request.label}: the log would refuse it: {type(exc).__name__}: {exc} "
                "(nothing was written)"
            ) from None
        signed.append(entry)
        _progress(out, i + 1, total, "checking against the log")
    receipts: list[Receipt] = []
    for start in range(0, total, batch):
        try:
            receipts.extend(ledger.submit(signed[start : start + batch]))
        except NocLedgerError as exc:
            # Only a concurrent writer can get here: everything was checked above.
            raise CommandError(
                f"{requests[start].label} and the rest of its batch were refused "
                f"({type(exc).__name__}: {exc}); the {start} requests before it were written"
            ) from None
        out.progress(len(receipts), total, "issuing")
    return [_Issued(r, c, rc) for r, c, rc in zip(requests, certificates, receipts, strict=True)]


def _issued_json(item: _Issued) -> dict[str, Any]:
    return {
        "id": item.receipt.id.hex(),
        "index": item.receipt.index,
        "number": item.certificate.number,
        "instrument": str(item.certificate.instrument),
        "source": item.request.label,
        "duplicate": item.receipt.duplicate,
    }


def _report_issued(out: Output, issued: list[_Issued], extra: dict[str, Any] | None = None) -> int:
    size = issued[-1].receipt.size
    certificates = [_issued_json(i) for i in issued]
    duplicates = sum(1 for i in issued if i.receipt.duplicate)
    result: dict[str, Any] = {
        "certificates": certificates,
        "count": len(issued),
        "duplicates": duplicates,
        "size": size,
        **(extra or {}),
    }
    if len(issued) == 1:
        result.update(id=certificates[0]["id"], index=certificates[0]["index"])

    def human() -> None:
        for c in certificates:
            note = " (already in the log)" if c["duplicate"] else ""
            out.line(f"{c['id']}  index {c['index']}  {c['number']}{note}")
        if len(issued) > 1:
            new = len(issued) - duplicates
            out.line(f"{new} issued, {duplicates} already in the log; log size {size}")

    out.result(result, human)
    return common.EXIT["ok"]


# ---------------------------------------------------------------------------------------
# Commands


@_guarded
def cmd_init(args: argparse.Namespace, out: Output) -> int:
    now = common.now()
    if args.root_scope is not None:
        root_scope = load_scope(args.root_scope, what="root scope file")
    else:
        with at_field("--jurisdiction"):
            root_scope = default_root_scope(args.jurisdiction)
    valid_from = _time_flag(args.issuing_valid_from, "--issuing-valid-from", now)
    valid_until = _time_flag(
        args.issuing_valid_until, "--issuing-valid-until", valid_from + DEFAULT_KEY_DAYS * _DAY
    )
    token: tuple[str, str] | None = None
    roles: list[str] = []
    if (args.pkcs11_module is None) != (args.token_label is None):
        raise CommandError("--pkcs11-module and --token-label go together")
    if args.pkcs11_module is not None:
        token = (args.pkcs11_module, args.token_label)
        roles = [r.strip() for r in args.pkcs11_keys.split(",") if r.strip()]
    elif args.pkcs11_keys != _DEFAULT_HSM_ROLES:
        raise CommandError("--pkcs11-keys needs --pkcs11-module and --token-label")
    passphrase: bytes | None = None
    # A passphrase only for keys written to files: with every key in the token there is
    # none to encrypt (a key file written later asks for one then).
    if not args.unsafe_no_passphrase and not set(TOKEN_ROLES) <= set(roles):
        passphrase = get_passphrase("passphrase for the new keys: ", confirm=True)
    d = create_directory(
        args.dir,
        origin=args.origin,
        authority=args.authority,
        jurisdiction=args.jurisdiction,
        root_scope=root_scope,
        passphrase=passphrase,
        issuing_label=args.issuing_label,
        issuing_valid_from=valid_from,
        issuing_valid_until=valid_until,
        now=now,
        encrypted=not args.unsafe_no_passphrase,
        pkcs11=token,
        token_roles=roles,
        store=args.store,
    )
    with d:
        config = d.config
        issuing = config.keys[0]
        log_key = Verifier.for_key(config.origin, config.log_public_key).encode()
        result = {
            "dir": str(d.path),
            "origin": config.origin,
            "authority": config.authority,
            "jurisdiction": config.jurisdiction,
            "encrypted": config.encrypted,
            "root_key_id": signing.key_id(config.root_public_key).hex(),
            "log_key": log_key,
            "issuing_key_id": issuing.key_id.hex(),
            "issuing_valid_from": issuing.valid_from,
            "issuing_valid_until": issuing.valid_until,
            "root_scope": scope_to_json(config.root_scope),
            "size": d.ledger().size(),
            "pkcs11": None if config.pkcs11 is None else config.pkcs11.to_json(),
            "issuing_key_location": issuing.location,
            "store": config.store,
        }
        root_where = _root_location(d)
        log_where = _log_location(d)

    def human() -> None:
        out.line(f"created a ledger in {d.path}")
        out.line(f"  origin       {config.origin}")
        out.line(f"  authority    {config.authority} ({config.jurisdiction})")
        out.line(f"  root key     {result['root_key_id']}  {root_where}")
        out.line(f"  log key      {log_key}  {log_where}")
        out.line(
            f"  issuing key  {issuing.key_id.hex()}  {issuing.location}  "
            f"{format_time(issuing.valid_from)} – {format_time(issuing.valid_until)}"
        )
        if config.pkcs11 is not None:
            out.line(
                f"  keys in the PKCS#11 token {config.pkcs11.token_label!r} "
                f"({config.pkcs11.module}) never leave it; ledger.json names them"
            )
        if config.store is not None:
            out.line(f"  log in       {config.store} (PostgreSQL)")
        if config.encrypted:
            out.line("  key files are encrypted with the passphrase (mode 0600)")
        else:
            out.line("  WARNING: key files are NOT encrypted (--unsafe-no-passphrase)")
        out.line(f"publish the trust policy: noc-ledger trust {d.path} -o policy.txt")

    out.result(result, human)
    return common.EXIT["ok"]


def _root_location(d: LedgerDir) -> str:
    token = d.config.pkcs11
    if token is not None and token.root_key_label is not None:
        return f"PKCS#11 token key {token.root_key_label!r}"
    return ROOT_KEY_FILE


def _log_location(d: LedgerDir) -> str:
    token = d.config.pkcs11
    if token is not None and token.log_key_label is not None:
        return f"PKCS#11 token key {token.log_key_label!r}"
    return LOG_KEY_FILE


def _batch(value: int) -> int:
    if value < 1:
        raise CommandError("--batch must be at least 1")
    return value


@_guarded
def cmd_issue(args: argparse.Namespace, out: Output) -> int:
    batch = _batch(args.batch)
    requests = read_requests(args.request)
    with LedgerDir.open(args.dir) as d:
        issued = _issue_all(d, requests, out, batch=batch)
    return _report_issued(out, issued)


_SUCCESSOR_EDGE: Final = {
    "upgrade": EdgeKind.UPGRADES,
    "vary": EdgeKind.SUPERSEDES,
    "renew": EdgeKind.SUPERSEDES,
    "correct": EdgeKind.SUPERSEDES,
}


def _successor(command: str) -> Func:
    @_guarded
    def run(args: argparse.Namespace, out: Output) -> int:
        predecessor = parse_id(args.cert_id, "CERT_ID")
        requests = read_requests(args.request)
        if len(requests) != 1:
            raise CommandError(
                f"`{command}` takes one request, {args.request} holds {len(requests)}"
            )
        edge = Edge(_SUCCESSOR_EDGE[command], predecessor)
        with LedgerDir.open(args.dir) as d:
            if d.ledger().status(predecessor) is None:
                raise CommandError(f"no certificate {predecessor.hex()} in this ledger")
            issued = _issue_all(d, requests, out, batch=1, extra_edge=edge, command=command)
            record = d.ledger().status(predecessor)
        extra = {
            "action": command,
            "edge": str(edge.kind),
            "predecessor": predecessor.hex(),
            "predecessor_state": None if record is None else str(record.state),
        }
        code = _report_issued(out, issued, extra)
        if record is not None:
            out.line(f"{predecessor.hex()} is now {record.state}")
        return code

    return run


def _event(kind: StatusEventKind) -> Func:
    @_guarded
    def run(args: argparse.Namespace, out: Output) -> int:
        cert_id = parse_id(args.cert_id, "CERT_ID")
        now = common.now()
        effective = _time_flag(args.effective, "--effective", now)
        reason = None if args.reason is None else ReasonCode(args.reason)
        event = StatusEvent(
            kind,
            cert_id,
            effective_at=effective,
            decided_at=now,
            reason=reason,
            reason_text=args.reason_text,
            activities=tuple(getattr(args, "grant", None) or ()),
        )
        with LedgerDir.open(args.dir) as d:
            ledger = d.ledger()
            if ledger.status(cert_id) is None:
                raise CommandError(f"no certificate {cert_id.hex()} in this ledger")
            issuing = d.issuing_signer()
            receipt = d.ledger(sign=True).record(event, issuing)
            record = d.ledger().status(cert_id)
        assert record is not None
        result = {
            "id": cert_id.hex(),
            "event": str(kind),
            "index": receipt.index,
            "size": receipt.size,
            "effective_at": effective,
            "record": _record_json(record),
        }

        def human() -> None:
            grants = f" (grants: {', '.join(event.activities)})" if event.activities else ""
            out.line(f"{kind}{grants} of {cert_id.hex()} logged at index {receipt.index}")
            out.line(f"state: {_state_text(record)} since {format_time(record.since)}")

        out.result(result, human)
        return common.EXIT["ok"]

    return run


def _state_text(record: CertStatus) -> str:
    text = str(record.state)
    if record.suspended:
        text += f" (suspended grants: {', '.join(record.suspended)})"
    if record.reason is not None:
        text += f", reason {record.reason}"
    if record.successor is not None:
        text += f", successor {record.successor.hex()}"
    return text


def _record_json(record: CertStatus) -> dict[str, Any]:
    return {
        "state": str(record.state),
        "since": record.since,
        "index": record.index,
        "issued_index": record.issued_index,
        "issued_at": record.issued_at,
        "reason": None if record.reason is None else str(record.reason),
        "successor": None if record.successor is None else record.successor.hex(),
        "suspended": list(record.suspended),
        "history": [
            {"state": str(t.state), "since": t.since, "index": t.index} for t in record.history
        ],
    }


def _certificate_json(cert: Certificate) -> dict[str, Any]:
    return {
        "instrument": str(cert.instrument),
        "number": cert.number,
        "issuer": cert.issuer.name,
        "jurisdiction": cert.issuer.jurisdiction,
        "legal_name": cert.subject.legal_name,
        "lei": cert.subject.lei,
        "issued_at": cert.issued_at,
        "valid_from": cert.valid_from,
        "valid_until": cert.valid_until,
        "activities": [g.activity for g in cert.scope.grants],
        "edges": [{"kind": str(e.kind), "target": e.target.hex()} for e in cert.edges],
    }


# -- keys ------------------------------------------------------------------------------


def _key_store(d: LedgerDir, args: argparse.Namespace) -> str:
    """Where a new issuing key goes: --key-store, else where the current one is."""
    if args.key_store is not None:
        if args.key_store == "pkcs11":
            d.token()  # the directory must have one
        return str(args.key_store)
    current = None if d.config.issuing_key is None else d.config.key(d.config.issuing_key)
    if current is not None and current.pkcs11_label is not None:
        return "pkcs11"
    return "file"


def _new_delegation(
    d: LedgerDir, args: argparse.Namespace, now: int
) -> tuple[signing.Signer, KeyInfo, KeyEvent]:
    """The new key (generated now, in the token or in memory), its entry for ledger.json
    and its delegation. Call it after the root key has been opened: a key is generated in
    the token only once everything that could refuse it before logging has been checked."""
    if args.scope is not None:
        scope = load_scope(args.scope, what="scope file")
    else:
        scope = d.config.root_scope
    valid_from = _time_flag(args.valid_from, "--valid-from", now)
    valid_until = _time_flag(
        args.valid_until, "--valid-until", valid_from + DEFAULT_KEY_DAYS * _DAY
    )
    label = args.label or f"issuing key {format_time(now)[:10]}"
    store = _key_store(d, args)
    signer: signing.Signer
    token_label: str | None = None
    if store == "pkcs11":
        token_label = token_key_label(d.config.origin, "issuing")
        signer = d.generate_token_key(token_label)
    else:
        signer = signing.Ed25519Signer.generate()
    try:
        event = KeyEvent(
            KeyEventKind.DELEGATE,
            signer.public_key,
            effective_at=valid_from,
            decided_at=now,
            label=label,
            valid_until=valid_until,
            scope=scope,
        )
    except BaseException:
        _discard_key(d, signer, None)  # e.g. --valid-until not after --valid-from
        raise
    info = KeyInfo(
        signer.key_id,
        signer.public_key,
        None if token_label is not None else issuing_key_file(signer.key_id),
        label,
        valid_from,
        valid_until,
        token_label,
    )
    return signer, info, event


def _log_key_events(
    d: LedgerDir, events: list[KeyEvent], new: tuple[signing.Signer, KeyInfo] | None
) -> list[Receipt]:
    """Write the new key's file (if it is not in the token), then log the events signed by
    the root, in one transaction; the file is removed again, or the key destroyed in the
    token, if that fails."""
    try:
        root = d.root_signer()
        ledger = d.ledger(sign=True)
        if new is not None and new[1].file is not None:
            assert isinstance(new[0], signing.Ed25519Signer)
            d.write_key(new[1].file, new[0])
        return ledger.submit([e.sign(root) for e in events])
    except BaseException:
        if new is not None:
            _discard_key(d, new[0], new[1].file)
        raise


def _discard_key(d: LedgerDir, signer: signing.Signer, file: str | None) -> None:
    """Undo a new key that was not delegated: its file removed, or its pair destroyed in
    the token (a key nobody delegated must not linger in custody)."""
    if file is not None:
        (d.path / file).unlink(missing_ok=True)
        return
    from noc_ledger.hsm import Pkcs11Signer  # noqa: PLC0415 - python-pkcs11 is optional

    if isinstance(signer, Pkcs11Signer):
        with contextlib.suppress(TokenError):
            signer.destroy()


def _key_json(d: LedgerDir, info: KeyInfo) -> dict[str, Any]:
    record = d.ledger().key_status(info.key_id)
    return {
        "key_id": info.key_id.hex(),
        "file": info.file,
        "pkcs11_label": info.pkcs11_label,
        "label": info.label,
        "valid_from": info.valid_from,
        "valid_until": info.valid_until,
        "current": info.key_id == d.config.issuing_key,
        "state": None if record is None else str(record.state),
        "delegated_index": None if record is None else record.delegated_index,
        "revoked_index": None if record is None else record.revoked_index,
        "invalidate_from": None if record is None else record.invalidate_from,
    }


def _key_line(k: dict[str, Any]) -> str:
    mark = "*" if k["current"] else " "
    state = k["state"] or "not in the log"
    if k["revoked_index"] is not None:
        state += f" at index {k['revoked_index']} (invalid from {k['invalidate_from']})"
    return (
        f"{mark} {k['key_id']}  {state}  {format_time(k['valid_from'])} – "
        f"{format_time(k['valid_until'])}  {k['label'] or ''}"
    )


@_guarded
def cmd_key_delegate(args: argparse.Namespace, out: Output) -> int:
    now = common.now()
    with LedgerDir.open(args.dir) as d:
        d.root_signer()  # first: a wrong passphrase or PIN must not leave a new key behind
        signer, info, event = _new_delegation(d, args, now)
        receipts = _log_key_events(d, [event], (signer, info))
        d.config.keys.append(info)
        if args.make_current:
            d.config.issuing_key = info.key_id
        d.save()
        result = {**_key_json(d, info), "index": receipts[0].index, "size": receipts[0].size}

    def human() -> None:
        out.line(f"delegated {info.key_id.hex()} at index {receipts[0].index} ({info.location})")
        if args.make_current:
            out.line("it is now the current issuing key")

    out.result(result, human)
    return common.EXIT["ok"]


@_guarded
def cmd_key_rotate(args: argparse.Namespace, out: Output) -> int:
    now = common.now()
    with LedgerDir.open(args.dir) as d:
        old = d.config.issuing_key
        d.root_signer()  # first: a wrong passphrase or PIN must not leave a new key behind
        revocations: list[KeyEvent] = []
        revoked: KeyInfo | None = None
        if args.revoke_old and old is not None:
            revoked = d.config.key(old)
            assert revoked is not None
            record = d.ledger().key_status(old)
            if record is not None and record.revoked_index is None:
                # An orderly retirement: invalid from the revocation's own index, which
                # follows the delegation in the same transaction.
                own_index = d.ledger().size() + 1
                revocations.append(
                    KeyEvent(
                        KeyEventKind.REVOKE_KEY,
                        revoked.public_key,
                        effective_at=now,
                        decided_at=now,
                        reason=ReasonCode(args.reason),
                        invalidate_from=own_index,
                    )
                )
            else:
                revoked = None
        # Generated last: nothing may fail between making a key and logging it but the log.
        signer, info, event = _new_delegation(d, args, now)
        receipts = _log_key_events(d, [event, *revocations], (signer, info))
        d.config.keys.append(info)
        d.config.issuing_key = info.key_id
        d.save()
        result = {
            **_key_json(d, info),
            "index": receipts[0].index,
            "size": receipts[-1].size,
            "previous": None if old is None else old.hex(),
            "revoked": None if revoked is None else revoked.key_id.hex(),
        }

    def human() -> None:
        out.line(f"new issuing key {info.key_id.hex()} delegated at index {receipts[0].index}")
        if revoked is not None:
            out.line(
                f"revoked the previous key {revoked.key_id.hex()} at index {receipts[1].index}"
            )
        elif old is not None:
            out.line(f"the previous key {old.hex()} stays delegated (use --revoke-old to end it)")

    out.result(result, human)
    return common.EXIT["ok"]


@_guarded
def cmd_key_revoke(args: argparse.Namespace, out: Output) -> int:
    now = common.now()
    with LedgerDir.open(args.dir) as d:
        info = d.config.find_key(args.key_id)
        own_index = d.ledger().size()
        invalidate_from = own_index if args.invalidate_from is None else args.invalidate_from
        if invalidate_from < 0:
            raise CommandError("--invalidate-from is a log index (0 or more)")
        event = KeyEvent(
            KeyEventKind.REVOKE_KEY,
            info.public_key,
            effective_at=now,
            decided_at=now,
            reason=ReasonCode(args.reason),
            invalidate_from=invalidate_from,
        )
        receipts = _log_key_events(d, [event], None)
        was_current = d.config.issuing_key == info.key_id
        if was_current:
            d.config.issuing_key = None
            d.save()
        result = {**_key_json(d, info), "index": receipts[0].index, "size": receipts[0].size}

    def human() -> None:
        out.line(
            f"revoked {info.key_id.hex()} at index {receipts[0].index}; what it signed from "
            f"index {invalidate_from} on is invalid"
        )
        if was_current:
            out.line("it was the current issuing key: run `noc-ledger key rotate` to issue again")

    out.result(result, human)
    return common.EXIT["ok"]


@_guarded
def cmd_key_list(args: argparse.Namespace, out: Output) -> int:
    with LedgerDir.open(args.dir) as d:
        keys = [_key_json(d, k) for k in d.config.keys]
        current = None if d.config.issuing_key is None else d.config.issuing_key.hex()

    def human() -> None:
        for k in keys:
            out.line(_key_line(k))

    out.result({"issuing_key": current, "keys": keys}, human)
    return common.EXIT["ok"]


# -- reading ---------------------------------------------------------------------------


@_guarded
def cmd_checkpoint(args: argparse.Namespace, out: Output) -> int:
    with LedgerDir.open(args.dir) as d:
        note = d.ledger().checkpoint()
    if args.output is not None:
        common.write_public(args.output, note)
    cp = decode_checkpoint_note(note)
    result = {
        "origin": cp.origin,
        "size": cp.size,
        "root": base64.b64encode(cp.root).decode(),
        "status_root": base64.b64encode(cp.status_root).decode(),
        "time": cp.time,
        "note": note.decode("utf-8"),
        "file": args.output,
    }

    def human() -> None:
        if args.output is not None:
            out.line(f"wrote the checkpoint of size {cp.size} to {args.output}")
        else:
            out.line(note.decode("utf-8").rstrip("\n"))

    out.result(result, human)
    return common.EXIT["ok"]


@_guarded
def cmd_bundle(args: argparse.Namespace, out: Output) -> int:
    with LedgerDir.open(args.dir) as d:
        ledger = d.ledger()
        cert_id = resolve_id(ledger, args.cert_id, "CERT_ID")
        if ledger.status(cert_id) is None:
            raise CommandError(f"no certificate {cert_id.hex()} in this ledger")
        data = ledger.bundle(cert_id, size=args.size)
    common.write_public(args.output, data)
    decoded = Bundle.from_cbor(data)
    size = decode_checkpoint_note(decoded.checkpoint).size
    result = {
        "id": cert_id.hex(),
        "file": args.output,
        "bytes": len(data),
        "index": decoded.certificate.index,
        "checkpoint_size": size,
    }
    out.result(
        result,
        lambda: out.line(
            f"wrote the bundle of {cert_id.hex()} ({len(data)} bytes, checkpoint size {size}) "
            f"to {args.output}"
        ),
    )
    return common.EXIT["ok"]


@_guarded
def cmd_trust(args: argparse.Namespace, out: Output) -> int:
    if args.max_status_age < 1:
        raise CommandError("--max-status-age must be at least 1 second")
    witnesses = [decode_verifier_key(w) for w in args.witness or ()]
    with LedgerDir.open(args.dir) as d:
        policy = d.ledger().trust_policy(
            max_status_age=args.max_status_age,
            authority_name=d.config.authority,
            witnesses=witnesses,
            quorum=args.quorum,
        )
        origin = d.config.origin
    common.write_public(args.output, policy)
    result = {
        "file": args.output,
        "origin": origin,
        "max_status_age": args.max_status_age,
        "witnesses": [w.name for w in witnesses],
        "quorum": args.quorum,
        "policy": policy.decode("utf-8"),
    }
    out.result(result, lambda: out.line(f"wrote the trust policy for {origin} to {args.output}"))
    return common.EXIT["ok"]


def _describe(index: int, entry: bytes) -> dict[str, Any]:
    """One log entry for `log`: kind, the id it concerns, a one-line summary."""
    envelope = signing.decode_sign1(entry)
    ct = envelope.content_type
    base: dict[str, Any] = {"index": index, "signed_by": envelope.key_id.hex()}
    if ct == signing.CONTENT_TYPES["certificate"]:
        cert = Certificate.from_cbor(envelope.payload)
        edges = "".join(f", {e.kind} {_short(e.target)}" for e in cert.edges)
        return {
            **base,
            "kind": "certificate",
            "event": str(cert.instrument),
            "id": certificate_id(envelope.payload).hex(),
            "summary": f"{cert.instrument} {cert.number}: {cert.subject.legal_name}{edges}",
        }
    if ct == signing.CONTENT_TYPES["status-event"]:
        ev = StatusEvent.from_cbor(envelope.payload)
        parts = [f"{ev.kind} effective {format_time(ev.effective_at)}"]
        if ev.activities:
            parts.append(f"grants {', '.join(ev.activities)}")
        if ev.reason is not None:
            parts.append(f"reason {ev.reason}")
        return {
            **base,
            "kind": "status-event",
            "event": str(ev.kind),
            "id": ev.certificate_id.hex(),
            "summary": ", ".join(parts),
        }
    kev = KeyEvent.from_cbor(envelope.payload)
    if kev.kind is KeyEventKind.DELEGATE:
        summary = (
            f"delegate {kev.label or 'key'} {format_time(kev.effective_at)} – "
            f"{format_time(kev.valid_until)}"
        )
    else:
        summary = f"revoke-key, reason {kev.reason}, invalid from index {kev.invalidate_from}"
    return {
        **base,
        "kind": "key-event",
        "event": str(kev.kind),
        "id": kev.key_id.hex(),
        "summary": summary,
    }


@_guarded
def cmd_log(args: argparse.Namespace, out: Output) -> int:
    if args.start < 0 or (args.limit is not None and args.limit < 0):
        raise CommandError("--start and --limit are 0 or more")
    with LedgerDir.open(args.dir) as d:
        ledger = d.ledger()
        size = ledger.size()
        start = min(args.start, size)
        end = size if args.limit is None else min(size, start + args.limit)
        entries: list[dict[str, Any]] = []
        for lo in range(start, end, 1000):
            hi = min(end, lo + 1000)
            for offset, entry in enumerate(ledger.entries(lo, hi)):
                entries.append(_describe(lo + offset, entry))
            out.progress(hi - start, end - start, "reading the log")

    def human() -> None:
        for e in entries:
            out.line(f"{e['index']:>7}  {e['kind']:<12}  {e['id'][:16]}  {e['summary']}")
        out.line(f"log size {size}")

    out.result({"size": size, "start": start, "entries": entries}, human)
    return common.EXIT["ok"]


@_guarded
def cmd_status(args: argparse.Namespace, out: Output) -> int:
    with LedgerDir.open(args.dir) as d:
        ledger = d.ledger()
        wanted = resolve_id(ledger, args.id, "ID")
        record = ledger.status(wanted)
        if record is None:
            key_record = ledger.key_status(wanted)
            if key_record is None:
                raise CommandError(f"no certificate or key {wanted.hex()} in this ledger")
            info = d.config.key(wanted)
            key_result = {
                "id": wanted.hex(),
                "kind": "key",
                "state": str(key_record.state),
                "delegated_index": key_record.delegated_index,
                "revoked_index": key_record.revoked_index,
                "invalidate_from": key_record.invalidate_from,
                "label": None if info is None else info.label,
                "current": wanted == d.config.issuing_key,
            }
            out.result(
                key_result,
                lambda: out.line(
                    f"key {wanted.hex()}: {key_record.state}, delegated at index "
                    f"{key_record.delegated_index}"
                    + (
                        ""
                        if key_record.revoked_index is None
                        else f", revoked at {key_record.revoked_index} (invalid from "
                        f"{key_record.invalidate_from})"
                    )
                ),
            )
            return common.EXIT["ok"]
        entry = ledger.entries(record.issued_index, record.issued_index + 1)[0]
        cert = Certificate.from_cbor(signing.decode_sign1(entry).payload)
    result = {
        "id": wanted.hex(),
        "kind": "certificate",
        "certificate": _certificate_json(cert),
        **_record_json(record),
    }

    def human() -> None:
        out.line(f"{cert.instrument} {cert.number}: {cert.subject.legal_name}")
        out.line(f"  id         {wanted.hex()}")
        out.line(f"  issued     {format_time(cert.issued_at)} at index {record.issued_index}")
        out.line(f"  valid      {format_time(cert.valid_from)} – {format_time(cert.valid_until)}")
        out.line(f"  state      {_state_text(record)}")
        out.line(f"             since {format_time(record.since)}, set at index {record.index}")
        if record.history:
            out.line("  history")
            for t in record.history:
                out.line(f"    {format_time(t.since)}  {t.state}  (index {t.index})")

    out.result(result, human)
    return common.EXIT["ok"]


# ---------------------------------------------------------------------------------------
# Registration

_ISSUE_HELP: Final = """\
REQUEST is a request file (.toml or .json, spec/requests.md), a JSON-lines file (.jsonl or
.ndjson: one request per non-blank line), or a directory of such files (in name order;
hidden files and subdirectories are skipped, any other file is an error).

All or nothing: every request is first read, checked against the schema, signed and checked
against the log's own rules (delegated scope, key validity, edges), before anything is
written. If request k is invalid the command stops there, names its file (and line), and
writes nothing at all: no certificate, no checkpoint. Only then are the
certificates logged, BATCH per transaction with one checkpoint each. The single exception is
a concurrent writer changing the log between the check and the write: then the batches
before the refused one stay written, and the error says how many requests that was.

Prints each certificate's id and log index. A request identical to a certificate already in
the log (same payload, including issued_at) is not logged again: its original index is
reported. Set issued_at in bulk requests so that re-running an import is idempotent."""

_SUCCESSOR_HELP: Final = {
    "upgrade": "issue the next stage of CERT_ID (a NOC → licence, …) with an 'upgrades' edge",
    "vary": "issue a varied version of CERT_ID (same instrument) with a 'supersedes' edge",
    "renew": "issue a renewal of CERT_ID (same instrument) with a 'supersedes' edge",
    "correct": "issue a corrected version of CERT_ID (same instrument) with a 'supersedes' edge",
}

_EVENT_HELP: Final = {
    StatusEventKind.REVOKE: "revoke a certificate (final)",
    StatusEventKind.SUSPEND: "suspend a certificate, or some of its grants with --grant",
    StatusEventKind.REINSTATE: "end a suspension (of the whole certificate, or --grant ones)",
    StatusEventKind.SURRENDER: "record that the holder surrendered a certificate (final)",
    StatusEventKind.LAPSE: "record that a certificate lapsed (final)",
    StatusEventKind.EXPIRE: "record that a certificate expired (final)",
}

_TIME_HELP: Final = "RFC 3339 UTC (2026-01-01T00:00:00Z) or POSIX seconds"
_DEFAULT_HSM_ROLES: Final = "root,issuing"


def _parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print one JSON object")
    return parent


def _add(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    func: Func,
    help_text: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        parents=[_parent()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def _dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="the ledger directory")


def _delegation_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label", help="a label for the key, logged with its delegation")
    parser.add_argument(
        "--key-store",
        choices=("file", "pkcs11"),
        help="generate the key in a key file, or in the directory's PKCS#11 token (PIN from "
        f"${common.PIN_ENV} or a prompt); default: where the current issuing key is",
    )
    parser.add_argument(
        "--scope",
        metavar="FILE",
        help="the key's maximum scope, a TOML/JSON file {vocabulary?, grants} "
        "(spec/requests.md §4; default: the root scope)",
    )
    parser.add_argument("--valid-from", metavar="TIME", help=f"default now; {_TIME_HELP}")
    parser.add_argument(
        "--valid-until", metavar="TIME", help=f"default {DEFAULT_KEY_DAYS} days after --valid-from"
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the regulator's commands to the `noc-ledger` parser."""
    p = _add(
        subparsers,
        "init",
        cmd_init,
        "create a new ledger directory",
        "Create a ledger in DIR (absent or empty): a new authority root key, log key and a\n"
        "delegated issuing key in keys/*.pem (PKCS#8, passphrase-encrypted, mode 0600), the\n"
        "SQLite log ledger.db with the delegation as entry 0, and ledger.json.\n"
        "The passphrase comes from $NOC_LEDGER_PASSPHRASE or a prompt (at least 8 bytes).",
    )
    _dir(p)
    p.add_argument("--origin", required=True, help="the log's origin, e.g. vara.example/noc-ledger")
    p.add_argument(
        "--authority", required=True, help="the authority's name, as certificates show it"
    )
    p.add_argument(
        "--jurisdiction", required=True, help="ISO 3166-1 alpha-2 or 3166-2 code, e.g. AE-DU"
    )
    p.add_argument(
        "--root-scope",
        metavar="FILE",
        help="the largest scope the root may delegate, TOML/JSON {vocabulary?, grants}; "
        "default: every top-level activity of the vocabulary for every customer type in "
        "the jurisdiction's country",
    )
    p.add_argument("--issuing-label", default="issuing key 1", help="label of the issuing key")
    p.add_argument("--issuing-valid-from", metavar="TIME", help=f"default now; {_TIME_HELP}")
    p.add_argument(
        "--issuing-valid-until",
        metavar="TIME",
        help=f"default {DEFAULT_KEY_DAYS} days after --issuing-valid-from",
    )
    p.add_argument(
        "--unsafe-no-passphrase",
        action="store_true",
        help="write UNENCRYPTED key files (demos and tests only)",
    )
    p.add_argument(
        "--store",
        metavar="URI",
        help="keep the log in PostgreSQL instead of ledger.db: postgresql://user@host/dbname "
        "(no password: libpq reads $PGPASSWORD or ~/.pgpass; docs/postgres.md)",
    )
    hsm = p.add_argument_group(
        "keys in a PKCS#11 token (HSM)",
        "Generate keys inside a PKCS#11 token instead of key files; they never leave it, and\n"
        "ledger.json records only the module, token label and key labels. Every later\n"
        "command signs through the token. The user PIN comes from "
        f"${common.PIN_ENV} or a prompt.",
    )
    hsm.add_argument(
        "--pkcs11-module", metavar="PATH", help="the PKCS#11 library, e.g. libsofthsm2.so"
    )
    hsm.add_argument("--token-label", metavar="LABEL", help="the token's label (CKA_LABEL)")
    hsm.add_argument(
        "--pkcs11-keys",
        metavar="KEYS",
        default=_DEFAULT_HSM_ROLES,
        help=f"which keys go in the token, comma-separated among {', '.join(TOKEN_ROLES)} "
        f"(default {_DEFAULT_HSM_ROLES}; the others are key files)",
    )

    p = _add(subparsers, "issue", cmd_issue, "issue certificates from request files", _ISSUE_HELP)
    _dir(p)
    p.add_argument(
        "request", metavar="REQUEST", help="a request file, JSON-lines file or directory"
    )
    p.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"certificates per transaction (default {DEFAULT_BATCH})",
    )

    for command, text in _SUCCESSOR_HELP.items():
        p = _add(
            subparsers,
            command,
            _successor(command),
            text,
            f"{text[0].upper()}{text[1:]}.\nREQUEST is one request file (spec/requests.md); "
            "the command adds the edge to CERT_ID. Nothing is written if it is refused.",
        )
        _dir(p)
        p.add_argument("cert_id", metavar="CERT_ID", help="the predecessor's id (64 hex digits)")
        p.add_argument("request", metavar="REQUEST", help="the successor's request file")

    for kind, text in _EVENT_HELP.items():
        p = _add(subparsers, str(kind), _event(kind), text)
        _dir(p)
        p.add_argument(
            "cert_id",
            metavar="CERT_ID",
            help="the certificate id, all 64 hex digits (what is signed is what you typed)",
        )
        p.add_argument(
            "--reason",
            choices=_REASONS,
            metavar="CODE",
            required=kind in (StatusEventKind.SUSPEND, StatusEventKind.REVOKE),
            help=f"reason code (spec/events.md §2.2): {_REASON_LIST}",
        )
        p.add_argument("--reason-text", metavar="TEXT", help="the reason, for people")
        p.add_argument(
            "--effective", metavar="TIME", help=f"when it takes effect (default now); {_TIME_HELP}"
        )
        if kind in (StatusEventKind.SUSPEND, StatusEventKind.REINSTATE):
            p.add_argument(
                "--grant",
                action="append",
                metavar="ACTIVITY",
                help="only the grant for this activity (repeatable)",
            )

    key = subparsers.add_parser(
        "key", help="manage issuing keys", description="Delegate, rotate, revoke and list keys."
    )
    keys = key.add_subparsers(dest="key_command", metavar="KEY_COMMAND", required=True)
    p = _add(
        keys,
        "delegate",
        cmd_key_delegate,
        "delegate a new issuing key",
        "Generate an issuing key (keys/issuing-<id>.pem) and log its delegation, signed by\n"
        "the authority root key. It becomes the current issuing key with --make-current.",
    )
    _dir(p)
    _delegation_flags(p)
    p.add_argument("--make-current", action="store_true", help="issue with it from now on")
    p = _add(
        keys,
        "rotate",
        cmd_key_rotate,
        "delegate a new issuing key and make it the current one",
        "Delegate a new issuing key and make it the current one. With --revoke-old, the\n"
        "previous current key is revoked in the same transaction (an orderly retirement:\n"
        "what it signed before stays valid).",
    )
    _dir(p)
    _delegation_flags(p)
    p.add_argument("--revoke-old", action="store_true", help="revoke the previous issuing key")
    p.add_argument(
        "--reason",
        choices=_REASONS,
        metavar="CODE",
        default="other",
        help=f"reason for --revoke-old (default other): {_REASON_LIST}",
    )
    p = _add(
        keys,
        "revoke",
        cmd_key_revoke,
        "revoke an issuing key",
        "Revoke a delegated issuing key. Certificates and events it signed that are logged at\n"
        "index --invalidate-from or later are invalid (default: the revocation's own index,\n"
        "an orderly retirement; after a compromise give the first index you distrust).",
    )
    _dir(p)
    p.add_argument("key_id", metavar="KEY_ID", help="the key id (hex, or a unique prefix of 8+)")
    p.add_argument("--reason", choices=_REASONS, metavar="CODE", required=True, help=_REASON_LIST)
    p.add_argument("--invalidate-from", type=int, metavar="INDEX", help="first invalid log index")
    p = _add(keys, "list", cmd_key_list, "list the issuing keys and their state in the log")
    _dir(p)

    p = _add(subparsers, "checkpoint", cmd_checkpoint, "print (or save) the latest checkpoint")
    _dir(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the signed note to FILE")

    p = _add(subparsers, "bundle", cmd_bundle, "write the offline bundle of a certificate")
    _dir(p)
    p.add_argument(
        "cert_id",
        metavar="CERT_ID",
        help=f"the certificate id (64 hex digits, or a unique prefix of {MIN_ID_PREFIX} or more)",
    )
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the bundle file")
    p.add_argument("--size", type=int, help="at the checkpoint of this size (default latest)")

    p = _add(
        subparsers,
        "trust",
        cmd_trust,
        "write the trust policy to publish for this ledger",
        "Write the trust policy (spec/policy.md) relying parties need: the root key and\n"
        "root scope, the log key under its origin, witnesses and quorum, max status age.",
    )
    _dir(p)
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the policy file")
    p.add_argument(
        "--max-status-age",
        type=int,
        default=DEFAULT_MAX_STATUS_AGE,
        metavar="SECONDS",
        help="how old status may be before verifiers say can't tell "
        f"(default {DEFAULT_MAX_STATUS_AGE})",
    )
    p.add_argument(
        "--witness", action="append", metavar="VKEY", help="a witness verifier key (repeatable)"
    )
    p.add_argument("--quorum", metavar="NAME", help="the witness whose cosignature is required")

    p = _add(subparsers, "log", cmd_log, "list log entries: index, kind, id, summary")
    _dir(p)
    p.add_argument("--start", type=int, default=0, metavar="INDEX", help="first index (default 0)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N entries")

    p = _add(
        subparsers,
        "status",
        cmd_status,
        "show a certificate's status record and history (or a key's record)",
    )
    _dir(p)
    p.add_argument(
        "id",
        metavar="CERT_ID",
        help="a certificate id (or an issuing key id): 64 hex digits, or a unique prefix of "
        f"{MIN_ID_PREFIX} or more",
    )
