"""The relying party's commands: ``verify``, ``present``, ``verify-presentation``, ``show``.

Everything here is offline: a bundle (or presentation file) and the verifier's trust policy
are all it reads. The verification itself is the library's (spec/verification.md §3,
spec/bundle.md §4.5); this module parses flags, reads files and the clock, and prints the
verdict with every step's reason. ``verify`` exits 0 only for ``valid`` and with the status
of :data:`noc_ledger.cli.common.EXIT` for every other verdict.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import textwrap
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from noc_ledger import signing
from noc_ledger.bundle import Bundle
from noc_ledger.checkpoint import decode_checkpoint_note
from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError, Output
from noc_ledger.errors import CertificateStatusError, DecodeError, NocLedgerError, PolicyError
from noc_ledger.events import CertStatus, KeyEvent, KeyStatus, StatusEvent
from noc_ledger.model import Certificate, certificate_id
from noc_ledger.note import decode_note
from noc_ledger.policy import TrustPolicy, parse_policy
from noc_ledger.presentation import (
    MAX_NONCE_SIZE,
    MIN_NONCE_SIZE,
    Presentation,
    PresentationFile,
    present,
    verify_presentation,
)
from noc_ledger.scope import Amount, Grant, Query, Scope
from noc_ledger.verify import Explanation, Step, explain_bundle, verdict_of
from noc_ledger.vocabulary import DEFAULT_VOCABULARY_ID, load_vocabulary

__all__ = [
    "VERDICT_MEANING",
    "format_time",
    "parse_time",
    "register",
    "verification_report",
]

#: One line per verdict (spec/verification.md §2), shown under the verdict.
VERDICT_MEANING: Final[Mapping[str, str]] = {
    "valid": "the certificate may be relied on for what was asked",
    "out-of-scope": "in force, but it does not permit what was asked",
    "not-yet-valid": "the time asked about is before its validity starts",
    "expired": "its validity had ended",
    "suspended": "suspended (wholly, or every grant that would permit the query)",
    "revoked": "revoked (final)",
    "superseded": "replaced by a successor certificate",
    "ended": "surrendered or lapsed",
    "stale": "can't tell: the status data is older than the trust policy allows",
    "not-covered": "can't tell: the checkpoint predates the certificate",
    "invalid": "the evidence does not verify: do not rely on it",
}

_INSTRUMENT_NAMES: Final[Mapping[str, str]] = {
    "noc": "No Objection Certificate",
    "in_principle_approval": "In-principle approval",
    "provisional_licence": "Provisional licence",
    "licence": "Licence",
    "registration": "Registration",
}

_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_TIME_LIMIT: Final = 1 << 63
_KEY_FILE_LIMIT: Final = 64 << 10
_POLICY_FILE_LIMIT: Final = 1 << 20
_UNVERIFIED: Final = (
    "UNVERIFIED: `show` only decodes; it checks no signature, proof or status. "
    "Use `noc-ledger verify` to rely on anything shown here."
)


# ---------------------------------------------------------------------------------------
# Small parsers and formatters (the CLI is where text becomes values)


def parse_time(text: str, *, flag: str = "--at") -> int:
    """POSIX seconds from RFC 3339 (with ``Z`` or an offset) or a decimal number of seconds.

    Raises:
        CommandError: anything else, in one line.
    """
    value = text.strip()
    if value.isdigit() and value.isascii():
        seconds = int(value)
    elif _RFC3339.fullmatch(value):
        iso = value[:-1] + "+00:00" if value[-1] in "Zz" else value
        iso = iso[:10] + "T" + iso[11:]
        # Python reads at most 6 fractional digits; the fraction is dropped anyway.
        iso = re.sub(r"\.\d+", "", iso)
        try:
            seconds = int(datetime.fromisoformat(iso).timestamp())
        except (ValueError, OverflowError) as exc:
            raise CommandError(f"{flag}: {text!r} is not a valid time: {exc}") from None
    else:
        raise CommandError(
            f"{flag}: {text!r} is neither RFC 3339 (e.g. 2026-01-05T09:00:00Z) "
            "nor POSIX seconds (e.g. 1767603600)"
        )
    if not 0 <= seconds < _TIME_LIMIT:
        raise CommandError(f"{flag}: {text!r} is outside the supported range of times")
    return seconds


def format_time(seconds: int) -> str:
    """RFC 3339 UTC for a POSIX time (the raw number if it is beyond year 9999)."""
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return str(seconds)


def _duration(seconds: int) -> str:
    """``40 days 2 hours`` (at most the two largest units; seconds below a minute)."""
    if seconds < 60:
        return f"{seconds} s"
    parts = []
    rest = seconds
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return " ".join(parts[:2])


def _at(args: argparse.Namespace) -> int:
    return common.now() if args.at is None else parse_time(args.at)


def _nonce(text: str) -> bytes:
    try:
        nonce = bytes.fromhex(text)
    except ValueError:
        raise CommandError(f"--nonce: {text!r} is not hexadecimal") from None
    if not MIN_NONCE_SIZE <= len(nonce) <= MAX_NONCE_SIZE:
        raise CommandError(
            f"--nonce: {len(nonce)} bytes; a nonce is {MIN_NONCE_SIZE} to {MAX_NONCE_SIZE} bytes "
            f"({2 * MIN_NONCE_SIZE} to {2 * MAX_NONCE_SIZE} hex digits)"
        )
    return nonce


def _audience(text: str) -> str:
    if not text or text != text.strip() or len(text) > 256 or not text.isprintable():
        raise CommandError("--audience: 1 to 256 printable characters, no surrounding spaces")
    return text


def _load_policy(path: str) -> TrustPolicy:
    data = common.read_bytes(path, what="trust policy", limit=_POLICY_FILE_LIMIT)
    try:
        return parse_policy(data)
    except PolicyError as exc:
        raise CommandError(f"trust policy {path}: {exc}") from None


def _add_query_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "scope query",
        _wrap(
            "What the relying party asks (spec/certificate.md §6). Without --activity the "
            "verdict only says whether the certificate is in force."
        ),
    )
    group.add_argument(
        "--activity", help="activity id from the vocabulary, e.g. prep.aml_registration"
    )
    group.add_argument(
        "--customer-type", help="retail, professional or institutional (with --activity)"
    )
    group.add_argument(
        "--territory", help="ISO 3166 country or subdivision, e.g. AE or AE-DU (with --activity)"
    )
    group.add_argument("--product", help="product token, e.g. category:privacy")
    group.add_argument(
        "--amount", metavar="VALUE", help="a whole amount, compared with the grants' limits"
    )
    group.add_argument("--unit", help="the amount's unit: ISO 4217 code (AED) or a token")
    group.add_argument("--metric", help="the limit metric (default per_transaction)")


def _query(args: argparse.Namespace) -> Query | None:
    """The scope query the flags ask, checked against the vocabulary so that a typo is a
    usage error rather than a verdict."""
    extra = [
        flag
        for flag, value in (
            ("--customer-type", args.customer_type),
            ("--territory", args.territory),
            ("--product", args.product),
            ("--amount", args.amount),
            ("--unit", args.unit),
            ("--metric", args.metric),
        )
        if value is not None
    ]
    if args.activity is None:
        if extra:
            raise CommandError(f"{extra[0]} is part of a query: give --activity too")
        return None
    if args.customer_type is None or args.territory is None:
        raise CommandError("a query needs --activity, --customer-type and --territory")
    vocabulary = load_vocabulary(DEFAULT_VOCABULARY_ID)
    try:
        vocabulary.get(args.activity)
    except NocLedgerError:
        raise CommandError(
            f"--activity: {args.activity!r} is not an activity of {vocabulary.id} "
            "(e.g. prep.aml_registration, va.exchange.fiat, va.custody)"
        ) from None
    if args.customer_type not in vocabulary.customer_types:
        known = ", ".join(sorted(vocabulary.customer_types))
        raise CommandError(f"--customer-type: {args.customer_type!r} is not one of {known}")
    amount = None
    if args.amount is not None:
        if args.unit is None:
            raise CommandError("--amount needs --unit")
        if not (args.amount.isdigit() and args.amount.isascii()):
            raise CommandError(f"--amount: {args.amount!r} is not a whole non-negative number")
        try:
            amount = Amount(int(args.amount), args.unit, args.metric or "per_transaction")
        except NocLedgerError as exc:
            raise CommandError(f"--amount/--unit/--metric: {exc}") from None
    elif args.unit is not None or args.metric is not None:
        raise CommandError("--unit and --metric describe --amount: give --amount too")
    try:
        return Query(args.activity, args.customer_type, args.territory, args.product, amount)
    except NocLedgerError as exc:
        raise CommandError(f"query: {exc}") from None


def _query_dict(query: Query | None) -> dict[str, Any] | None:
    if query is None:
        return None
    out: dict[str, Any] = {
        "activity": query.activity,
        "customer_type": query.customer_type,
        "territory": query.territory,
    }
    if query.product is not None:
        out["product"] = query.product
    if query.amount is not None:
        out["amount"] = {
            "value": query.amount.value,
            "unit": query.amount.unit,
            "metric": query.amount.metric,
        }
    return out


def _activity_label(activity: str, vocabulary_id: str = DEFAULT_VOCABULARY_ID) -> str:
    try:
        return load_vocabulary(vocabulary_id).get(activity).label
    except NocLedgerError:
        return activity


def _query_words(query: dict[str, Any]) -> str:
    words = (
        f"{_activity_label(query['activity'])} ({query['activity']}) "
        f"for {query['customer_type']} clients in {query['territory']}"
    )
    if "product" in query:
        words += f", product {query['product']}"
    if "amount" in query:
        a = query["amount"]
        words += f", {a['value']:,} {a['unit']} ({a['metric'].replace('_', ' ')})"
    return words


# ---------------------------------------------------------------------------------------
# Plain-words renderings of the model (shared by verify, show and the demo)


def _hex(data: bytes) -> str:
    return data.hex()


def grant_dict(grant: Grant, vocabulary_id: str) -> dict[str, Any]:
    """A grant as data, with the vocabulary's label for its activity."""
    out: dict[str, Any] = {
        "activity": grant.activity,
        "label": _activity_label(grant.activity, vocabulary_id),
        "customer_types": list(grant.customer_types),
        "territory": {
            "include": list(grant.territory.include),
            "exclude": list(grant.territory.exclude),
        },
    }
    if grant.excluded_activities:
        out["excluded_activities"] = [
            {"activity": a, "label": _activity_label(a, vocabulary_id)}
            for a in grant.excluded_activities
        ]
    if grant.products_allowed:
        out["products_allowed"] = list(grant.products_allowed)
    if grant.products_denied:
        out["products_denied"] = list(grant.products_denied)
    if grant.limits:
        out["limits"] = [
            {"metric": lim.metric, "unit": lim.unit, "maximum": lim.maximum} for lim in grant.limits
        ]
    if grant.conditions_precedent:
        out["conditions_precedent"] = list(grant.conditions_precedent)
    return out


def _grant_lines(g: Mapping[str, Any], number: int) -> list[str]:
    lines = [f"  {number}. {g['label']} ({g['activity']})"]
    lines.append(f"     for {', '.join(g['customer_types'])} clients")
    where = ", ".join(g["territory"]["include"])
    if g["territory"]["exclude"]:
        where += " except " + ", ".join(g["territory"]["exclude"])
    lines.append(f"     in {where}")
    if "excluded_activities" in g:
        names = ", ".join(f"{e['label']} ({e['activity']})" for e in g["excluded_activities"])
        lines.append(f"     but not: {names}")
    if "products_allowed" in g:
        lines.append(f"     products: only {', '.join(g['products_allowed'])}")
    elif "products_denied" in g:
        lines.append(f"     products: all except {', '.join(g['products_denied'])}")
    else:
        lines.append("     products: all")
    for lim in g.get("limits", ()):
        metric = lim["metric"].replace("_", " ")
        lines.append(f"     limit: at most {lim['maximum']:,} {lim['unit']} ({metric})")
    for c in g.get("conditions_precedent", ()):
        lines.append(f"     condition precedent: {c}")
    return lines


def scope_dict(scope: Scope) -> dict[str, Any]:
    return {
        "vocabulary": scope.vocabulary_id,
        "grants": [grant_dict(g, scope.vocabulary_id) for g in scope.grants],
    }


def certificate_dict(cert: Certificate, *, cert_id: bytes | None = None) -> dict[str, Any]:
    """A certificate as data, in the words `show` and `verify` print."""
    subject = cert.subject
    return {
        "id": _hex(cert_id if cert_id is not None else cert.id),
        "instrument": str(cert.instrument),
        "instrument_name": _INSTRUMENT_NAMES.get(str(cert.instrument), str(cert.instrument)),
        "number": cert.number,
        "issuer": {"name": cert.issuer.name, "jurisdiction": cert.issuer.jurisdiction},
        "subject": {
            "legal_name": subject.legal_name,
            "lei": subject.lei,
            "identifiers": [{"scheme": i.scheme, "value": i.value} for i in subject.identifiers],
            "trading_names": list(subject.trading_names),
            "domains": list(subject.domains),
            "holder_key_ids": [_hex(signing.key_id(k)) for k in subject.holder_keys],
        },
        "issued_at": cert.issued_at,
        "valid_from": cert.valid_from,
        "valid_until": cert.valid_until,
        "scope": scope_dict(cert.scope),
        "conditions": list(cert.conditions),
        "legal_notices": [{"code": n.code, "text": n.text} for n in cert.legal_notices],
        "edges": [{"kind": str(e.kind), "target": _hex(e.target)} for e in cert.edges],
    }


def _certificate_lines(c: Mapping[str, Any]) -> list[str]:
    s = c["subject"]
    lines = [
        f"  instrument   {c['instrument_name']} ({c['instrument']})",
        f"  number       {c['number']}",
        f"  id           {c['id']}",
        f"  issuer       {c['issuer']['name']} (jurisdiction {c['issuer']['jurisdiction']})",
        f"  subject      {s['legal_name']}",
        f"  LEI          {s['lei'] or '(none)'}",
    ]
    for ident in s["identifiers"]:
        lines.append(f"  identifier   {ident['scheme']}: {ident['value']}")
    if s["trading_names"]:
        lines.append(f"  trading as   {', '.join(s['trading_names'])}")
    if s["domains"]:
        lines.append(f"  domains      {', '.join(s['domains'])}")
    for kid in s["holder_key_ids"]:
        lines.append(f"  holder key   key id {kid}")
    until = format_time(c["valid_until"]) if c["valid_until"] is not None else "no end date"
    lines.append(f"  issued       {format_time(c['issued_at'])}")
    lines.append(f"  valid        from {format_time(c['valid_from'])} until {until} (exclusive)")
    lines.append(f"grants (what it permits; vocabulary {c['scope']['vocabulary']}):")
    for number, g in enumerate(c["scope"]["grants"], start=1):
        lines += _grant_lines(g, number)
    if c["conditions"]:
        lines.append("conditions:")
        lines += [f"  - {text}" for text in c["conditions"]]
    lines += _notice_lines(c["legal_notices"])
    if c["edges"]:
        lines.append("edges:")
        for e in c["edges"]:
            lines.append(f"  {e['kind']} certificate {e['target']}")
    return lines


def _notice_lines(notices: Sequence[Mapping[str, str]]) -> list[str]:
    if not notices:
        return []
    lines = ["legal notices:"]
    for n in notices:
        lines.append(f"  [{n['code']}] {n['text']}")
    return lines


def status_dict(record: CertStatus) -> dict[str, Any]:
    out: dict[str, Any] = {
        "state": str(record.state),
        "since": record.since,
        "index": record.index,
        "issued_index": record.issued_index,
        "issued_at": record.issued_at,
    }
    if record.reason is not None:
        out["reason"] = str(record.reason)
    if record.successor is not None:
        out["successor"] = _hex(record.successor)
    if record.suspended:
        out["suspended_grants"] = list(record.suspended)
    if record.history:
        out["history"] = [
            {"state": str(t.state), "since": t.since, "index": t.index} for t in record.history
        ]
    return out


def _status_lines(s: Mapping[str, Any]) -> list[str]:
    line = f"{s['state']} since {format_time(s['since'])} (set by log entry {s['index']})"
    lines = [f"    {line}"]
    if "reason" in s:
        lines.append(f"    reason: {s['reason']}")
    if "successor" in s:
        lines.append(f"    successor: certificate {s['successor']}")
    if "suspended_grants" in s:
        lines.append(f"    suspended grants: {', '.join(s['suspended_grants'])}")
    for t in s.get("history", ()):
        lines.append(f"    earlier: {t['state']} from {format_time(t['since'])}")
    return lines


# ---------------------------------------------------------------------------------------
# verify


def _certificate_of(data: bytes) -> tuple[Certificate, bytes]:
    entry = Bundle.from_cbor(data).certificate.entry
    payload = signing.decode_sign1(entry).payload
    return Certificate.from_cbor(payload), certificate_id(payload)


def _passed(steps: Sequence[Step], name: str) -> bool:
    return any(s.name == name and s.ok for s in steps)


def _details(explanation: Explanation, data: bytes, policy: TrustPolicy, at: int) -> dict[str, Any]:
    details: dict[str, Any] = {}
    error = explanation.error
    if isinstance(error, CertificateStatusError):
        for key, value in error.details.items():
            details[key] = value
        # The effective time in words, besides the number.
        if isinstance(details.get("since"), int):
            details["since_utc"] = format_time(details["since"])
        for key in ("valid_from", "valid_until"):
            if isinstance(details.get(key), int):
                details[f"{key}_utc"] = format_time(details[key])
    if _passed(explanation.steps, "open the checkpoint"):
        # The checkpoint's log signature verified (step 2): its fields are authentic.
        cp = decode_checkpoint_note(Bundle.from_cbor(data).checkpoint)
        details["checkpoint"] = {
            "origin": cp.origin,
            "size": cp.size,
            "time": cp.time,
            "time_utc": format_time(cp.time),
            "age": at - cp.time,
        }
        details["max_status_age"] = policy.max_status_age
    if error is not None:
        details["message"] = str(error)
        details["error"] = type(error).__name__
    return details


def verification_report(
    data: bytes, policy: TrustPolicy, *, at: int, query: Query | None
) -> dict[str, Any]:
    """Verify a bundle (spec/verification.md §3) and describe the outcome as data: the
    verdict, its exit status, every step's reason, the details a relying party needs
    (reason, effective time, successor, checkpoint age), and — once the certificate's
    signature has verified — the certificate with its legal notices."""
    explanation = explain_bundle(data, policy, at=at, query=query)
    verdict = str(explanation.verdict)
    report: dict[str, Any] = {
        "verdict": verdict,
        "meaning": VERDICT_MEANING[verdict],
        "exit": common.EXIT[verdict],
        "at": at,
        "at_utc": format_time(at),
        "query": _query_dict(query),
        "cert_id": None,
        "certificate": None,
        "legal_notices": [],
        "reasons": [
            {"step": s.number, "name": s.name, "ok": s.ok, "detail": s.detail}
            for s in explanation.steps
        ],
        "details": _details(explanation, data, policy, at),
    }
    if _passed(explanation.steps, "certificate signature"):
        # Step 8 verified the certificate entry with the delegated key: what it says is the
        # authority's, whatever a later step concluded.
        cert, cert_id = _certificate_of(data)
        report["cert_id"] = _hex(cert_id)
        report["certificate"] = certificate_dict(cert, cert_id=cert_id)
        report["legal_notices"] = report["certificate"]["legal_notices"]
    result = explanation.result
    if result is not None:
        vocabulary_id = result.certificate.scope.vocabulary_id
        report["details"]["status"] = status_dict(result.status)
        report["details"]["witnesses"] = list(result.witnesses)
        if result.evaluation is not None:
            report["details"]["permitted_by"] = [
                grant_dict(g, vocabulary_id) for g in result.evaluation.grants
            ]
            report["details"]["conditions_precedent"] = list(result.evaluation.conditions_precedent)
    return report


def verdict_headline(report: Mapping[str, Any]) -> str:
    """``VERDICT — meaning``, e.g. ``REVOKED — revoked (final)``."""
    return f"{report['verdict'].upper()} — {report['meaning']}"


def status_summary(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, text)`` pairs that say why: reason, effective time, successor,
    checkpoint age, the grants that permit the query."""
    d = report["details"]
    lines: list[tuple[str, str]] = []
    verdict = report["verdict"]
    if "reason" in d:
        lines.append(("reason", str(d["reason"])))
    if verdict in ("revoked", "suspended", "superseded", "ended", "expired") and "since" in d:
        lines.append(("effective", str(d["since_utc"])))
    if "successor" in d:
        lines.append(("successor", f"certificate {d['successor']}"))
    if "suspended" in d:
        lines.append(("suspended", ", ".join(map(str, d["suspended"]))))
    if verdict == "stale" and "checkpoint" in d:
        cp = d["checkpoint"]
        lines.append(
            (
                "status age",
                f"signed {cp['time_utc']}, {_duration(cp['age'])} before the time asked; "
                f"the policy allows {_duration(d['max_status_age'])}: get a refreshed bundle",
            )
        )
    if verdict == "valid" and d.get("permitted_by"):
        labels = ", ".join(f"{g['label']} ({g['activity']})" for g in d["permitted_by"])
        lines.append(("permitted by", labels))
    if verdict not in ("valid", "stale") and "message" in d and not lines:
        lines.append(("why", str(d["message"])))
    return lines


def _print_report(report: Mapping[str, Any], out: Output) -> None:
    out.line(verdict_headline(report))
    cert = report["certificate"]
    if cert is not None:
        out.line(f"  certificate  {cert['number']} ({cert['instrument_name']}), id {cert['id']}")
        subject = cert["subject"]
        lei = f", LEI {subject['lei']}" if subject["lei"] else ""
        out.line(f"  holder       {subject['legal_name']}{lei}")
        out.line(f"  issuer       {cert['issuer']['name']} ({cert['issuer']['jurisdiction']})")
    else:
        out.line(
            "  certificate  (not authenticated: see the reasons; `noc-ledger show` decodes it)"
        )
    out.line(f"  asked at     {report['at_utc']}")
    if report["query"] is not None:
        out.line(f"  question     may it: {_query_words(report['query'])}?")
    else:
        out.line("  question     is it in force? (no scope query given)")
    for label, text in status_summary(report):
        out.line(f"  {label:<12} {text}")
    out.line("reasons (spec/verification.md §3):")
    for r in report["reasons"]:
        mark = "ok  " if r["ok"] else "FAIL"
        out.line(f"  [{mark}] {r['step']:>2}. {r['name']}: {r['detail']}")
    d = report["details"]
    for c in d.get("conditions_precedent", ()):
        out.line(f"condition precedent: {c}")
    if cert is not None:
        for line in _notice_lines(cert["legal_notices"]):
            out.line(line)
        if cert["conditions"]:
            out.line("conditions of the certificate:")
            for text in cert["conditions"]:
                out.line(f"  - {text}")


def _cmd_verify(args: argparse.Namespace, out: Output) -> int:
    query = _query(args)
    at = _at(args)
    policy = _load_policy(args.trust)
    data = common.read_bytes(args.bundle, what="bundle")
    report = verification_report(data, policy, at=at, query=query)
    report["bundle"] = args.bundle
    out.result(report, lambda: _print_report(report, out))
    return int(report["exit"])


# ---------------------------------------------------------------------------------------
# present / verify-presentation


def _cmd_present(args: argparse.Namespace, out: Output) -> int:
    audience = _audience(args.audience)
    nonce = _nonce(args.nonce)
    at = _at(args)
    bundle = common.read_bytes(args.bundle, what="bundle")
    key_data = common.read_bytes(args.key, what="holder key file", limit=_KEY_FILE_LIMIT)
    try:
        if args.unsafe_no_passphrase:
            holder = signing.decode_private_key_unsafe_unencrypted(key_data)
        else:
            passphrase = common.read_passphrase(f"passphrase for {args.key}: ")
            holder = signing.decode_private_key(key_data, passphrase)
    except NocLedgerError as exc:
        raise CommandError(f"holder key {args.key}: {exc}") from None
    try:
        data = present(bundle, holder, audience=audience, nonce=nonce, at=at)
    except NocLedgerError as exc:
        raise CommandError(f"cannot present {args.bundle}: {exc}") from None
    common.write_public(args.output, data)
    result = {
        "output": args.output,
        "bytes": len(data),
        "audience": audience,
        "nonce": nonce.hex(),
        "presented_at": at,
        "presented_at_utc": format_time(at),
        "holder_key_id": _hex(holder.key_id),
    }

    def human() -> None:
        out.line(f"wrote presentation file {args.output} ({len(data)} bytes)")
        out.line(f"  for audience {audience!r}, nonce {nonce.hex()}, at {format_time(at)}")
        out.line(f"  signed by holder key id {holder.key_id.hex()}")

    out.result(result, human)
    return common.EXIT["ok"]


def _cmd_verify_presentation(args: argparse.Namespace, out: Output) -> int:
    query = _query(args)
    at = _at(args)
    audience = _audience(args.audience)
    nonce = _nonce(args.nonce)
    if not (args.max_age.isdigit() and args.max_age.isascii()) or int(args.max_age) >= _TIME_LIMIT:
        raise CommandError(f"--max-age: {args.max_age!r} is not a whole number of seconds")
    max_age = int(args.max_age)
    policy = _load_policy(args.trust)
    data = common.read_bytes(args.file, what="presentation file")
    try:
        received = PresentationFile.from_cbor(data)
    except NocLedgerError as exc:
        # spec/bundle.md §4.5 step 1: a file that does not decode is invalid evidence.
        report: dict[str, Any] = {
            "verdict": "invalid",
            "meaning": VERDICT_MEANING["invalid"],
            "exit": common.EXIT["invalid"],
            "at": at,
            "at_utc": format_time(at),
            "query": _query_dict(query),
            "cert_id": None,
            "certificate": None,
            "legal_notices": [],
            "reasons": [
                {"step": 1, "name": "decode the presentation file", "ok": False, "detail": str(exc)}
            ],
            "details": {"message": str(exc), "error": type(exc).__name__},
        }
    else:
        report = verification_report(received.bundle, policy, at=at, query=query)
        # The presentation's own steps (§4.5 steps 3-11) count only once the bundle's
        # verdict is valid: its verdict stands otherwise.
        if report["verdict"] == "valid":
            try:
                verified = verify_presentation(
                    data,
                    policy,
                    at=at,
                    audience=audience,
                    nonce=nonce,
                    max_age=max_age,
                    query=query,
                )
            except NocLedgerError as exc:
                verdict = str(verdict_of(exc))
                report.update(
                    verdict=verdict, meaning=VERDICT_MEANING[verdict], exit=common.EXIT[verdict]
                )
                report["details"]["message"] = str(exc)
                report["details"]["error"] = type(exc).__name__
                step = {"step": 15, "name": "presentation", "ok": False, "detail": str(exc)}
            else:
                age = at - verified.presented_at
                report["presentation"] = {
                    "holder_key_id": _hex(verified.holder_key_id),
                    "audience": audience,
                    "presented_at": verified.presented_at,
                    "presented_at_utc": format_time(verified.presented_at),
                    "age": age,
                }
                step = {
                    "step": 15,
                    "name": "presentation",
                    "ok": True,
                    "detail": (
                        f"signed by holder key {verified.holder_key_id.hex()[:16]}… for "
                        f"{audience!r} with the expected nonce, {age} s before the time asked "
                        f"(at most {max_age} s)"
                    ),
                }
            report["reasons"].append(step)
    report["presentation_file"] = args.file
    out.result(report, lambda: _print_report(report, out))
    return int(report["exit"])


# ---------------------------------------------------------------------------------------
# show


def _bundle_dict(data: bytes) -> dict[str, Any]:
    bundle = Bundle.from_cbor(data)
    out: dict[str, Any] = {"kind": "bundle", "verified": False, "bytes": len(data)}
    envelope = signing.decode_sign1(bundle.certificate.entry)
    cert = Certificate.from_cbor(envelope.payload)
    out["certificate"] = certificate_dict(cert, cert_id=certificate_id(envelope.payload))
    out["certificate"]["index"] = bundle.certificate.index
    out["certificate"]["signed_by_key_id"] = _hex(envelope.key_id)
    links = []
    for link in bundle.key_chain:
        item: dict[str, Any] = {"index": link.index}
        try:
            event = KeyEvent.from_cbor(signing.decode_sign1(link.entry).payload)
            item.update(_key_event_dict(event))
        except NocLedgerError as exc:
            item["undecodable"] = str(exc)
        links.append(item)
    out["key_chain"] = links
    cp = decode_checkpoint_note(bundle.checkpoint)
    out["checkpoint"] = {
        "origin": cp.origin,
        "size": cp.size,
        "time": cp.time,
        "time_utc": format_time(cp.time),
        "root": base64.b64encode(cp.root).decode(),
        "signatures": [s.name for s in decode_note(bundle.checkpoint).signatures],
    }
    cert_status = bundle.certificate_status.value
    key_status = bundle.key_status.value
    out["status"] = {
        "certificate": None
        if cert_status is None
        else status_dict(CertStatus.from_cbor(cert_status)),
        "issuing_key": None
        if key_status is None
        else _key_status_dict(KeyStatus.from_cbor(key_status)),
    }
    return out


def _key_event_dict(event: KeyEvent) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event": str(event.kind),
        "key_id": _hex(event.key_id),
        "label": event.label,
        "effective_at": event.effective_at,
        "valid_until": event.valid_until,
    }
    if event.scope is not None:
        item["scope"] = scope_dict(event.scope)
    if event.reason is not None:
        item["reason"] = str(event.reason)
    if event.invalidate_from is not None:
        item["invalidate_from"] = event.invalidate_from
    return item


def _key_status_dict(record: KeyStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"state": str(record.state), "delegated_index": record.delegated_index}
    if record.invalidate_from is not None:
        out["invalidate_from"] = record.invalidate_from
    if record.revoked_index is not None:
        out["revoked_index"] = record.revoked_index
    return out


def _presentation_dict(data: bytes) -> dict[str, Any]:
    received = PresentationFile.from_cbor(data)
    envelope = signing.decode_sign1(received.presentation)
    if envelope.content_type != signing.CONTENT_TYPES["presentation"]:
        raise DecodeError("the presentation part is not a presentation")
    payload = Presentation.from_cbor(envelope.payload)
    digest = hashlib.sha256(received.bundle).digest()
    return {
        "kind": "presentation",
        "verified": False,
        "audience": payload.audience,
        "nonce": payload.nonce.hex(),
        "presented_at": payload.presented_at,
        "presented_at_utc": format_time(payload.presented_at),
        "holder_key_id": _hex(envelope.key_id),
        "bundle_digest_matches": payload.bundle_digest == digest,
        "bundle": _bundle_dict(received.bundle),
    }


def _policy_dict(policy: TrustPolicy) -> dict[str, Any]:
    return {
        "kind": "policy",
        "authority": policy.authority,
        "roots": [
            {
                "public_key": base64.b64encode(r.public_key).decode(),
                "key_id": _hex(signing.key_id(r.public_key)),
                "scope": scope_dict(r.scope),
            }
            for r in policy.roots
        ],
        "logs": [{"origin": origin, "key_id": _hex(v.key_id)} for origin, v in policy.logs.items()],
        "witnesses": [
            {"name": name, "key_id": _hex(v.key_id)} for name, v in policy.witnesses.items()
        ],
        "groups": [
            {"name": g.name, "threshold": g.threshold, "members": list(g.members)}
            for g in policy.groups.values()
        ],
        "quorum": policy.quorum,
        "max_status_age": policy.max_status_age,
    }


def _signed_dict(data: bytes) -> dict[str, Any]:
    envelope = signing.decode_sign1(data)
    kinds = {v: k for k, v in signing.CONTENT_TYPES.items()}
    kind = kinds[envelope.content_type]
    out: dict[str, Any] = {
        "signed": True,
        "verified": False,
        "signed_by_key_id": _hex(envelope.key_id),
    }
    if kind == "certificate":
        cert = Certificate.from_cbor(envelope.payload)
        out.update(kind="certificate", certificate=certificate_dict(cert))
    elif kind == "status-event":
        event = StatusEvent.from_cbor(envelope.payload)
        out.update(
            kind="status-event",
            event={
                "event": str(event.kind),
                "certificate_id": _hex(event.certificate_id),
                "effective_at": event.effective_at,
                "decided_at": event.decided_at,
                "reason": None if event.reason is None else str(event.reason),
                "reason_text": event.reason_text,
                "activities": list(event.activities),
            },
        )
    elif kind == "key-event":
        out.update(kind="key-event", event=_key_event_dict(KeyEvent.from_cbor(envelope.payload)))
    else:
        payload = Presentation.from_cbor(envelope.payload)
        out.update(
            kind="signed-presentation",
            presentation={
                "audience": payload.audience,
                "nonce": payload.nonce.hex(),
                "presented_at": payload.presented_at,
                "bundle_digest": payload.bundle_digest.hex(),
            },
        )
    return out


def _detect(data: bytes) -> dict[str, Any]:
    """Decode whatever the file is; the first decoder that accepts it wins (the formats
    cannot be confused: a policy is text, a bundle a map with key 0, a presentation file
    an array of two byte strings, a signed document tag 18, a payload a map)."""
    if data.startswith(b"noc-ledger-policy"):
        try:
            return _policy_dict(parse_policy(data))
        except PolicyError as exc:
            raise CommandError(f"not a valid trust policy: {exc}") from None
    problems: list[str] = []
    for what, decoder in (
        ("bundle", _bundle_dict),
        ("presentation file", _presentation_dict),
        ("signed document", _signed_dict),
        ("certificate payload", _payload_dict),
    ):
        try:
            return decoder(data)
        except NocLedgerError as exc:
            problems.append(f"{what}: {exc}")
    raise CommandError(
        "not a certificate, bundle, presentation file or trust policy "
        f"(as a bundle: {problems[0].partition(': ')[2]})"
    )


def _payload_dict(data: bytes) -> dict[str, Any]:
    cert = Certificate.from_cbor(data)
    return {
        "kind": "certificate",
        "signed": False,
        "verified": False,
        "certificate": certificate_dict(cert),
    }


def _show_human(info: Mapping[str, Any], out: Output, path: str) -> None:
    kind = info["kind"]
    if kind == "policy":
        _show_policy(info, out, path)
        return
    out.line(_UNVERIFIED)
    if kind == "certificate":
        signed = "signed COSE_Sign1" if info["signed"] else "unsigned payload"
        out.line(f"{path}: certificate ({signed})")
        if info["signed"]:
            out.line(f"  signed by    key id {info['signed_by_key_id']}")
        for line in _certificate_lines(info["certificate"]):
            out.line(line)
    elif kind == "bundle":
        out.line(f"{path}: offline bundle ({info['bytes']} bytes)")
        _show_bundle(info, out)
    elif kind == "presentation":
        out.line(f"{path}: presentation file")
        out.line(f"  audience     {info['audience']}")
        out.line(f"  nonce        {info['nonce']}")
        out.line(f"  presented at {info['presented_at_utc']}")
        out.line(f"  holder key   key id {info['holder_key_id']}")
        matches = "yes" if info["bundle_digest_matches"] else "NO"
        out.line(
            f"  over the bundle it carries: {matches} (digest compared, signature not checked)"
        )
        out.line("the bundle it carries:")
        _show_bundle(info["bundle"], out)
    elif kind == "status-event":
        e = info["event"]
        out.line(f"{path}: status event (signed), signed by key id {info['signed_by_key_id']}")
        out.line(f"  {e['event']} certificate {e['certificate_id']}")
        out.line(
            f"  effective {format_time(e['effective_at'])}, decided {format_time(e['decided_at'])}"
        )
        if e["reason"]:
            out.line(
                f"  reason: {e['reason']}" + (f" — {e['reason_text']}" if e["reason_text"] else "")
            )
        if e["activities"]:
            out.line(f"  grants: {', '.join(e['activities'])}")
    elif kind == "key-event":
        out.line(f"{path}: key event (signed), signed by key id {info['signed_by_key_id']}")
        _show_key_event(info["event"], out)
    else:
        p = info["presentation"]
        out.line(f"{path}: signed presentation (without its bundle)")
        out.line(
            f"  audience {p['audience']}, nonce {p['nonce']}, at {format_time(p['presented_at'])}"
        )
        out.line(f"  holder key id {info['signed_by_key_id']}")


def _show_key_event(e: Mapping[str, Any], out: Output) -> None:
    label = f" ({e['label']})" if e.get("label") else ""
    out.line(f"  {e['event']} key id {e['key_id']}{label}")
    if e.get("valid_until") is not None:
        out.line(
            f"  valid from {format_time(e['effective_at'])} until {format_time(e['valid_until'])}"
        )
    else:
        out.line(f"  effective {format_time(e['effective_at'])}")
    if "reason" in e:
        out.line(f"  reason: {e['reason']}")
    if "invalidate_from" in e:
        out.line(f"  certificates logged from index {e['invalidate_from']} on are invalid")
    if "scope" in e:
        out.line("  delegated scope:")
        for number, g in enumerate(e["scope"]["grants"], start=1):
            for line in _grant_lines(g, number):
                out.line("  " + line)


def _show_bundle(info: Mapping[str, Any], out: Output) -> None:
    cert = info["certificate"]
    out.line(
        f"certificate (log index {cert['index']}, signed by key id {cert['signed_by_key_id']}):"
    )
    for line in _certificate_lines(cert):
        out.line(line)
    out.line("key chain:")
    for link in info["key_chain"]:
        out.line(f" at log index {link['index']}:")
        if "undecodable" in link:
            out.line(f"  (does not decode: {link['undecodable']})")
        else:
            _show_key_event(link, out)
    cp = info["checkpoint"]
    out.line("checkpoint (UNVERIFIED):")
    out.line(f"  origin       {cp['origin']}")
    out.line(f"  size         {cp['size']}")
    out.line(f"  time         {cp['time_utc']}")
    out.line(f"  signatures   {', '.join(cp['signatures'])}")
    out.line("status records (UNVERIFIED — as the bundle claims them; use verify):")
    status = info["status"]
    if status["certificate"] is None:
        out.line("  certificate: no record (absent)")
    else:
        out.line("  certificate:")
        for line in _status_lines(status["certificate"]):
            out.line(line)
    key = status["issuing_key"]
    if key is None:
        out.line("  issuing key: no record (absent)")
    else:
        extra = ""
        if "invalidate_from" in key:
            extra = f", certificates from index {key['invalidate_from']} on invalid"
        out.line(
            f"  issuing key: {key['state']} (delegated at index {key['delegated_index']}{extra})"
        )


def _show_policy(info: Mapping[str, Any], out: Output, path: str) -> None:
    out.line(f"{path}: trust policy (parsed; a policy is trusted as you hold it)")
    if info["authority"]:
        out.line(f"  authority    {info['authority']}")
    for root in info["roots"]:
        out.line(f"  root key     {root['public_key']} (key id {root['key_id']})")
        out.line(f"  which may grant at most (vocabulary {root['scope']['vocabulary']}):")
        for number, g in enumerate(root["scope"]["grants"], start=1):
            for line in _grant_lines(g, number):
                out.line("  " + line)
    for log in info["logs"]:
        out.line(f"  log          {log['origin']} (note key id {log['key_id']})")
    for w in info["witnesses"]:
        out.line(f"  witness      {w['name']} (note key id {w['key_id']})")
    for g in info["groups"]:
        out.line(f"  group        {g['name']}: {g['threshold']} of {', '.join(g['members'])}")
    quorum = info["quorum"] or "none (no witness required)"
    out.line(f"  quorum       {quorum}")
    out.line(
        f"  status age   at most {info['max_status_age']} s "
        f'({_duration(info["max_status_age"])}); older status data is "can\'t tell"'
    )


def _cmd_show(args: argparse.Namespace, out: Output) -> int:
    data = common.read_bytes(args.file, what="file")
    info = _detect(data)
    info["file"] = args.file
    out.result(info, lambda: _show_human(info, out, args.file))
    return common.EXIT["ok"]


# ---------------------------------------------------------------------------------------
# Registration


_VERIFY_EPILOG = """exit status: 0 valid; 10 out-of-scope, 11 not-yet-valid, 12 expired,
13 suspended, 14 revoked, 15 superseded, 16 ended, 20 stale (can't tell), 21 not-covered
(can't tell), 30 invalid; 1 error (unreadable file, bad policy, bad flag value).
Times: RFC 3339 (2026-01-05T09:00:00Z) or POSIX seconds."""


def _wrap(text: str) -> str:
    return textwrap.fill(text, 88)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _at_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--at",
        metavar="TIME",
        help=f"{what}: RFC 3339 (2026-01-05T09:00:00Z) or POSIX seconds; default now",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify``, ``present``, ``verify-presentation`` and ``show``."""
    raw = argparse.RawDescriptionHelpFormatter

    p = subparsers.add_parser(
        "verify",
        help="verify a bundle offline against a trust policy",
        description=_wrap(
            "Verify an offline bundle against your trust policy, at a time and optionally for "
            "a scope query. Prints the verdict, the reason of every step, and the "
            "certificate's legal notices. Reads no network and no clock except for the "
            "default --at."
        ),
        epilog=_VERIFY_EPILOG,
        formatter_class=raw,
    )
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle file")
    p.add_argument("--trust", metavar="FILE", required=True, help="the trust policy file")
    _at_flag(p, "the time asked about")
    _add_query_flags(p)
    _json_flag(p)
    p.set_defaults(func=_cmd_verify)

    p = subparsers.add_parser(
        "present",
        help="sign a holder-bound presentation of a bundle for one verifier",
        description=_wrap(
            "As the certificate's holder, sign a presentation of BUNDLE for a verifier's "
            "audience and nonce (spec/bundle.md §4) and write the presentation file. The "
            "holder key is a PKCS#8 PEM file, passphrase-encrypted (the passphrase comes "
            f"from a prompt or ${common.PASSPHRASE_ENV})."
        ),
        formatter_class=raw,
    )
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle file, sent exactly as is")
    p.add_argument("--key", metavar="HOLDER_KEY_FILE", required=True, help="holder key (PKCS#8)")
    p.add_argument("--audience", required=True, help="the verifier's identifier, as it asks")
    p.add_argument("--nonce", metavar="HEX", required=True, help="the verifier's nonce (hex)")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="presentation file")
    p.add_argument(
        "--unsafe-no-passphrase",
        action="store_true",
        help="the key file is not encrypted (demos and tests only)",
    )
    _at_flag(p, "the time of presentation")
    _json_flag(p)
    p.set_defaults(func=_cmd_present)

    p = subparsers.add_parser(
        "verify-presentation",
        help="verify a presentation file: the bundle, the holder's signature, audience, nonce",
        description=_wrap(
            "Verify a presentation file offline (spec/bundle.md §4.5): the bundle's verdict "
            "first (as `verify`), then that a holder key of the certificate signed it for "
            "your audience and nonce, at most --max-age seconds before the time asked."
        ),
        epilog=_VERIFY_EPILOG,
        formatter_class=raw,
    )
    p.add_argument("file", metavar="FILE", help="the presentation file")
    p.add_argument("--trust", metavar="POLICY", required=True, help="the trust policy file")
    p.add_argument("--audience", required=True, help="your identifier, as you asked for it")
    p.add_argument("--nonce", metavar="HEX", required=True, help="the nonce you issued (hex)")
    p.add_argument(
        "--max-age",
        metavar="SECONDS",
        required=True,
        help="how old the presentation may be (you remember nonces at least this long)",
    )
    _at_flag(p, "the time asked about")
    _add_query_flags(p)
    _json_flag(p)
    p.set_defaults(func=_cmd_verify_presentation)

    p = subparsers.add_parser(
        "show",
        help="describe a certificate, bundle, presentation file or trust policy (no verification)",
        description=_wrap(
            "Describe FILE in plain words: a certificate (signed COSE_Sign1 or payload), a "
            "bundle, a presentation file, a status or key event, or a trust policy; the kind "
            "is detected. `show` verifies nothing: use `noc-ledger verify`."
        ),
        formatter_class=raw,
    )
    p.add_argument("file", metavar="FILE")
    _json_flag(p)
    p.set_defaults(func=_cmd_show)
