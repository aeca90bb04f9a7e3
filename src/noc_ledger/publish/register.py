"""The public register: a static HTML site generated from the log (docs/register.md).

:func:`build_register` picks the newest checkpoint signed at or before ``at``, opens it
with the log key of the trust file it publishes, replays every entry up to its size under
the log's rules (:func:`noc_ledger.logstate.apply_entry`: every signature checked over the
bytes as logged) and checks that the entries give the checkpoint's tree root and status
root. Only then does it write, for every certificate, a page with its scope in plain words
and its complete status history, and the offline bundle (:meth:`Ledger.bundle`) against
the same checkpoint — each bundle verified with :class:`noc_ledger.verify.BundleVerifier`
against the published ``trust.txt``, and its verdict required to agree with what the page
says. The HTML is a convenience; the bundle and the trust file are what a reader verifies.

The site is written into a fresh directory beside ``out_dir`` and published by atomically
replacing the symlink ``out_dir`` (``rename(2)``), so a reader sees the old site or the new
one, never half of either. The output depends only on the log, ``at``, the title and the
trust file: a rebuild is byte-identical.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import importlib.resources
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from noc_ledger import merkle, signing, statusmap
from noc_ledger.checkpoint import Checkpoint, decode_checkpoint_note, open_checkpoint
from noc_ledger.errors import (
    DecodeError,
    ModelError,
    NocLedgerError,
    OutOfRangeError,
    PolicyError,
    ScopeError,
    SignatureError,
    StorageError,
    TransitionError,
)
from noc_ledger.events import (
    CertState,
    CertStatus,
    KeyEvent,
    KeyEventKind,
    KeyStatus,
    ReasonCode,
    StatusEvent,
)
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.logstate import apply_entry
from noc_ledger.model import NOC_DISCLAIMER_CODE, Certificate, EdgeKind, Instrument
from noc_ledger.policy import TrustPolicy, parse_policy
from noc_ledger.scope import Grant, Limit, Scope
from noc_ledger.verify import BundleVerifier, Verdict, verdict_of
from noc_ledger.vocabulary import Vocabulary

__all__ = [
    "DEFAULT_MAX_STATUS_AGE",
    "MAX_TITLE",
    "Progress",
    "RegisterReport",
    "build_register",
]

#: Default ``max-status-age`` of the trust file the register publishes: one day.
DEFAULT_MAX_STATUS_AGE: Final = 86_400
#: Longest register title.
MAX_TITLE: Final = 200
#: Entries read from the ledger per call while replaying.
_CHUNK: Final = 1_000
#: Largest trust file accepted.
_MAX_TRUST: Final = 1 << 20

#: ``progress(what, done, total)``: called as the build advances.
Progress = Callable[[str, int, int], None]

# -- words ------------------------------------------------------------------------------

_KIND_SHORT: Final[Mapping[Instrument, str]] = {
    Instrument.NOC: "NOC",
    Instrument.IN_PRINCIPLE_APPROVAL: "In-principle approval",
    Instrument.PROVISIONAL_LICENCE: "Provisional licence",
    Instrument.LICENCE: "Licence",
    Instrument.REGISTRATION: "Registration",
}
_KIND_LONG: Final[Mapping[Instrument, str]] = {
    Instrument.NOC: "No Objection Certificate (NOC)",
    Instrument.IN_PRINCIPLE_APPROVAL: "In-principle approval",
    Instrument.PROVISIONAL_LICENCE: "Provisional licence",
    Instrument.LICENCE: "Licence",
    Instrument.REGISTRATION: "Registration",
}
_REASON: Final[Mapping[ReasonCode, str]] = {
    ReasonCode.AML_CFT_FAILURE: "failure of anti-money-laundering controls (AML/CFT)",
    ReasonCode.BREACH_OF_CONDITIONS: "breach of the certificate's conditions",
    ReasonCode.FALSE_INFORMATION: "false or misleading information",
    ReasonCode.INSOLVENCY: "insolvency",
    ReasonCode.HOLDER_REQUEST: "at the holder's request",
    ReasonCode.CONDITIONS_NOT_MET: "conditions not met",
    ReasonCode.ISSUED_IN_ERROR: "issued in error",
    ReasonCode.KEY_COMPROMISE: "compromise of the authority's signing key",
    ReasonCode.OTHER: "other reason",
}
_EVENT_WORDS: Final[Mapping[str, str]] = {
    "issued": "Issued",
    "suspend": "Suspended",
    "reinstate": "Reinstated",
    "revoke": "Revoked",
    "surrender": "Surrendered",
    "lapse": "Lapsed",
    "expire": "Expired",
    "upgraded": "Upgraded to a successor certificate",
    "superseded": "Superseded by a successor certificate",
}
_METRIC: Final[Mapping[str, str]] = {
    "per_transaction": "per transaction",
    "per_client_daily": "per client per day",
    "per_client_monthly": "per client per month",
    "client_assets_total": "of client assets held in total",
    "client_count": "clients in total",
}
#: Display statuses, in the order the filter offers them, with their label.
_STATUS_LABELS: Final[Mapping[str, str]] = {
    "in-force": "In force",
    "partly-suspended": "In force, partly suspended",
    "not-yet-in-force": "Not yet in force",
    "suspended": "Suspended",
    "superseded": "Superseded",
    "revoked": "Revoked",
    "expired": "Expired",
    "surrendered": "Surrendered",
    "lapsed": "Lapsed",
    "invalid": "Invalid (issuing key revoked)",
}
#: The verdict a bundle must reach at ``at`` for each display status (spec/verification.md
#: §2) unless it is "can't tell" (stale, not covered).
_EXPECTED_VERDICT: Final[Mapping[str, Verdict]] = {
    "in-force": Verdict.VALID,
    "partly-suspended": Verdict.VALID,
    "not-yet-in-force": Verdict.NOT_YET_VALID,
    "suspended": Verdict.SUSPENDED,
    "superseded": Verdict.SUPERSEDED,
    "revoked": Verdict.REVOKED,
    "expired": Verdict.EXPIRED,
    "surrendered": Verdict.ENDED,
    "lapsed": Verdict.ENDED,
    "invalid": Verdict.INVALID,
}
_CANT_TELL: Final = frozenset({Verdict.STALE, Verdict.NOT_COVERED})

# -- the page frame -----------------------------------------------------------------------

_STYLE: Final = """
:root { color-scheme: light; --ink: #1b1b1b; --muted: #4a4a4a; --line: #c8c8c8;
  --accent: #0b4f8a; --warn: #8a1c0b; --ok: #1d5e20; --bg: #ffffff; --soft: #f3f5f8; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem 1.25rem 3rem; color: var(--ink);
  background: var(--bg); font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
a { color: var(--accent); }
a:focus, input:focus, select:focus { outline: 3px solid #f2b705; outline-offset: 2px; }
h1 { font-size: 1.7rem; margin: 0.5rem 0; }
h2 { font-size: 1.3rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin-bottom: 0.25rem; }
.muted { color: var(--muted); }
.notice { background: var(--soft); border-left: 4px solid var(--accent); padding: 0.6rem 1rem; }
.warning { background: #fdf0ee; border-left: 4px solid var(--warn); padding: 0.6rem 1rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: 0.4rem 0.5rem; text-align: left;
  vertical-align: top; }
th { background: var(--soft); }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em;
  overflow-wrap: anywhere; }
td code { overflow-wrap: normal; white-space: nowrap; }
.status { font-weight: 600; }
.status-in-force, .status-partly-suspended { color: var(--ok); }
.status-revoked, .status-suspended, .status-invalid { color: var(--warn); }
.filters { display: flex; flex-wrap: wrap; gap: 1rem; align-items: end; margin: 1rem 0; }
.filters label { display: block; font-weight: 600; }
.filters input, .filters select { font: inherit; padding: 0.3rem; min-width: 16rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.grant { border: 1px solid var(--line); border-radius: 4px; padding: 0.25rem 1rem;
  margin: 0.75rem 0; }
footer { margin-top: 3rem; border-top: 1px solid var(--line); font-size: 0.9rem; }
""".strip()

_SCRIPT: Final = """
(function () {
  "use strict";
  var box = document.getElementById("filters");
  var q = document.getElementById("q");
  var wanted = document.getElementById("status-filter");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(
    document.querySelectorAll("#certificates tbody tr"));
  function apply() {
    var needle = q.value.trim().toLowerCase();
    var status = wanted.value;
    var count = 0;
    rows.forEach(function (row) {
      var match = (!needle || row.textContent.toLowerCase().indexOf(needle) !== -1) &&
        (!status || row.getAttribute("data-status") === status);
      row.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = "Showing " + count + " of " + rows.length + " certificates.";
  }
  q.addEventListener("input", apply);
  wanted.addEventListener("change", apply);
  box.hidden = false;
  apply();
})();
""".strip()


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _csp(script: bool) -> str:
    # Nothing loads from anywhere; the one inline style and (on the index) the one inline
    # script run only because their hashes are listed. No form posts, no <base> rewriting.
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {_csp_hash(_SCRIPT) if script else chr(39) + 'none' + chr(39)}",
            f"style-src {_csp_hash(_STYLE)}",
            "img-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def _e(text: object) -> str:
    """Escape for HTML text and attribute values (quotes included)."""
    return html.escape(str(text), quote=True)


def _page(title: str, body: str, *, script: bool = False) -> bytes:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp(script))}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        body,
    ]
    if script:
        parts.append(f"<script>{_SCRIPT}</script>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts).encode("utf-8")


def _iso(seconds: int) -> str | None:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return None


def _when(seconds: int | None) -> str:
    """A ``<time>`` element: "5 January 2026, 09:00 UTC" with the RFC 3339 form."""
    if seconds is None:
        return "no end date"
    iso = _iso(seconds)
    if iso is None:
        return _e(f"{seconds} seconds after 1970")
    moment = datetime.fromtimestamp(seconds, UTC)
    words = f"{moment.day} {moment:%B %Y, %H:%M} UTC"
    return f'<time datetime="{iso}">{_e(words)}</time>'


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- what the replay collects -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterReport:
    """What :func:`build_register` did.

    ``out_dir`` is the path given, now a symlink to ``site_dir``; ``digest`` is SHA-256
    over every file's path and SHA-256 (the site's identity, also in ``site_dir``'s name);
    ``unchanged`` says the same site was already published; ``verdicts`` maps each
    certificate id (hex) to the verdict its bundle reached at ``at``.
    """

    out_dir: Path
    site_dir: Path
    origin: str
    size: int
    root: bytes
    checkpoint_time: int
    at: int
    certificates: int
    files: int
    digest: bytes
    unchanged: bool
    verdicts: Mapping[str, str]


@dataclass(slots=True)
class _Event:
    """One line of a certificate's history: the entry at ``index`` and what it did."""

    index: int
    kind: str
    effective_at: int
    decided_at: int | None = None
    reason: ReasonCode | None = None
    reason_text: str | None = None
    activities: tuple[str, ...] = ()
    other: bytes | None = None


@dataclass(slots=True)
class _Cert:
    """What the index needs of a certificate, and where to re-read the rest."""

    id: bytes
    index: int
    leaf_hash: bytes
    key_id: bytes
    instrument: Instrument
    number: str
    legal_name: str
    lei: str | None
    valid_from: int
    valid_until: int | None
    edges: tuple[tuple[EdgeKind, bytes], ...]
    events: list[_Event] = field(default_factory=list)
    records: list[CertStatus] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Status:
    code: str
    since: int | None
    detail: str  # HTML
    scheduled: tuple[CertStatus, ...] = ()


class _Replay:
    """A :class:`noc_ledger.logstate.StateView` over the ledger's first ``size`` entries."""

    def __init__(self, ledger: Ledger, size: int) -> None:
        self._ledger = ledger
        self.size = size
        self.certs: dict[bytes, CertStatus] = {}
        self.keys: dict[bytes, KeyStatus] = {}
        self._key_events: dict[int, KeyEvent] = {}
        self.key_revocations: dict[bytes, KeyEvent] = {}

    def cert_status(self, cert_id: bytes) -> CertStatus | None:
        return self.certs.get(cert_id)

    def key_status(self, key_id: bytes) -> KeyStatus | None:
        return self.keys.get(key_id)

    def entry(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise OutOfRangeError(f"entry {index} is beyond the checkpoint ({self.size})")
        return self._ledger.entries(index, index + 1)[0]

    def key_event(self, index: int) -> KeyEvent:
        event = self._key_events.get(index)
        if event is None:
            event = KeyEvent.from_cbor(signing.decode_sign1(self.entry(index)).payload)
            self._key_events[index] = event
        return event


class _TreeRoot:
    """RFC 9162 root of a growing list of leaves, keeping O(log n) hashes: the perfect
    subtrees of the size's binary decomposition, largest first (spec/log.md §3)."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def append(self, leaf_hash: bytes) -> None:
        size, node = 1, leaf_hash
        while self._stack and self._stack[-1][0] == size:
            left = self._stack.pop()[1]
            node, size = merkle.node_hash(left, node), size * 2
        self._stack.append((size, node))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = merkle.node_hash(left, node)
        return node


def _replay(
    ledger: Ledger, checkpoint: Checkpoint, progress: Progress | None
) -> tuple[dict[bytes, _Cert], _Replay]:
    """Apply every entry up to the checkpoint under the log's rules, collecting each
    certificate's history, and check the tree and status roots (spec/revocation.md §6).

    Raises:
        DecodeError, SignatureError, ScopeError, TransitionError, ModelError: an entry
            breaks a rule (naming its index).
        StorageError: the entries do not give the checkpoint's roots.
    """
    view = _Replay(ledger, checkpoint.size)
    tree = _TreeRoot()
    certs: dict[bytes, _Cert] = {}
    for start in range(0, checkpoint.size, _CHUNK):
        end = min(start + _CHUNK, checkpoint.size)
        for offset, entry in enumerate(ledger.entries(start, end)):
            index = start + offset
            try:
                applied = apply_entry(view, entry, index=index, authority=ledger.authority)
            except (DecodeError, SignatureError, ScopeError, TransitionError, ModelError) as exc:
                raise type(exc)(f"entry {index}: {exc}") from None
            if applied.duplicate_of is not None:
                raise StorageError(f"entry {index} repeats entry {applied.duplicate_of}")
            leaf = merkle.leaf_hash(entry)
            tree.append(leaf)
            _collect(view, certs, applied.kind, entry, index, leaf, applied.certificate)
            for key, record in applied.changes.items():
                if isinstance(record, KeyStatus):
                    view.keys[key] = record
                else:
                    view.certs[key] = record
                    if key in certs:
                        certs[key].records.append(record)
        if progress is not None:
            progress("reading the log", end, checkpoint.size)
    # The register shows what the signed checkpoint commits to, nothing else.
    if tree.root() != checkpoint.root:
        raise StorageError(f"the log's first {checkpoint.size} entries do not give its root")
    items = {k: v.to_cbor() for k, v in view.certs.items()}
    items.update((k, v.to_cbor()) for k, v in view.keys.items())
    if statusmap.root_of(items) != checkpoint.status_root:
        raise StorageError("the log's status records do not give its checkpoint's status root")
    return certs, view


def _collect(
    view: _Replay,
    certs: dict[bytes, _Cert],
    kind: str,
    entry: bytes,
    index: int,
    leaf: bytes,
    certificate: Certificate | None,
) -> None:
    """Record what one (already checked) entry means for the certificates' histories."""
    envelope = signing.decode_sign1(entry)
    if kind == "certificate":
        assert certificate is not None  # apply_entry returns it for a certificate
        cert_id = certificate.id
        for edge in certificate.edges:
            target = certs.get(edge.target)
            if target is not None:
                word = "upgraded" if edge.kind is EdgeKind.UPGRADES else "superseded"
                target.events.append(_Event(index, word, certificate.valid_from, other=cert_id))
        certs[cert_id] = _Cert(
            id=cert_id,
            index=index,
            leaf_hash=leaf,
            key_id=envelope.key_id,
            instrument=certificate.instrument,
            number=certificate.number,
            legal_name=certificate.subject.legal_name,
            lei=certificate.subject.lei,
            valid_from=certificate.valid_from,
            valid_until=certificate.valid_until,
            edges=tuple((e.kind, e.target) for e in certificate.edges),
            events=[_Event(index, "issued", certificate.issued_at)],
        )
    elif kind == "status-event":
        event = StatusEvent.from_cbor(envelope.payload)
        target = certs.get(event.certificate_id)
        if target is not None:
            target.events.append(
                _Event(
                    index,
                    str(event.kind),
                    event.effective_at,
                    event.decided_at,
                    event.reason,
                    event.reason_text,
                    event.activities,
                )
            )
    else:
        key_event = KeyEvent.from_cbor(envelope.payload)
        if key_event.kind is KeyEventKind.REVOKE_KEY:
            view.key_revocations[key_event.key_id] = key_event


# -- status in words ----------------------------------------------------------------------


def _link(certs: Mapping[bytes, _Cert], cert_id: bytes, prefix: str) -> str:
    other = certs.get(cert_id)
    if other is None:
        return f"certificate <code>{cert_id.hex()}</code> (not in this register)"
    return (
        f'<a href="{prefix}{cert_id.hex()}.html">{_e(_KIND_SHORT[other.instrument])} '
        f"{_e(other.number)}</a>"
    )


def _reason(reason: ReasonCode | None) -> str:
    return "" if reason is None else _e(_REASON[reason])


def _status(
    cert: _Cert,
    at: int,
    view: _Replay,
    certs: Mapping[bytes, _Cert],
    labels: Callable[[str], str],
    prefix: str,
) -> _Status:
    """The certificate's status at ``at`` in words (spec/events.md §4, §4.4)."""
    key = view.keys.get(cert.key_id)
    if key is not None and not key.may_sign_at(cert.index):
        revocation = view.key_revocations.get(cert.key_id)
        why = _reason(revocation.reason if revocation else None)
        return _Status(
            "invalid",
            None,
            "the authority revoked the key that signed it"
            + (f" ({why})" if why else "")
            + "; do not rely on it",
        )
    past = [r for r in cert.records if r.since <= at]
    scheduled = tuple(r for r in cert.records if r.since > at)
    if not past:
        return _Status("not-yet-in-force", cert.valid_from, "not yet issued", scheduled)
    record = past[-1]
    state = record.state
    if state is CertState.SUPERSEDED:
        successor = record.successor
        detail = "replaced by " + (_link(certs, successor, prefix) if successor else "?")
        return _Status("superseded", record.since, detail, scheduled)
    if state in (CertState.REVOKED, CertState.SURRENDERED, CertState.LAPSED, CertState.EXPIRED):
        why = _reason(record.reason)
        return _Status(str(state), record.since, f"reason: {why}" if why else "", scheduled)
    if cert.valid_until is not None and at >= cert.valid_until:
        return _Status("expired", cert.valid_until, "its validity period ended", scheduled)
    if at < cert.valid_from:
        return _Status("not-yet-in-force", cert.valid_from, "takes effect later", scheduled)
    if state is CertState.SUSPENDED:
        return _Status("suspended", record.since, f"reason: {_reason(record.reason)}", scheduled)
    if record.suspended:
        names = ", ".join(_e(labels(a)) for a in record.suspended)
        return _Status("partly-suspended", record.since, f"suspended for: {names}", scheduled)
    return _Status("in-force", max(record.since, cert.valid_from), "", scheduled)


def _status_html(status: _Status) -> str:
    label = _STATUS_LABELS[status.code]
    text = f'<span class="status status-{status.code}">{_e(label)}</span>'
    if status.since is not None:
        text += f" since {_when(status.since)}"
    if status.detail:
        text += f" — {status.detail}"
    return text


# -- scope in words -----------------------------------------------------------------------


@functools.cache
def _customer_type_labels(vocabulary_id: str, version: int) -> Mapping[str, str]:
    # The vocabulary module keeps only customer-type ids; their labels are in the same
    # packaged file (already validated when the vocabulary was loaded).
    del vocabulary_id  # part of the cache key only
    try:
        resource = importlib.resources.files("noc_ledger.vocabulary").joinpath(
            f"activities-{version}.json"
        )
        document = json.loads(resource.read_bytes())
        return {str(t["id"]): str(t["label"]) for t in document["customer_types"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _limit(limit: Limit) -> str:
    words = _METRIC.get(limit.metric, limit.metric)
    if len(limit.unit) == 3 and limit.unit.isupper():
        return f"at most {_e(limit.unit)} {limit.maximum:,} {_e(words)}"
    if limit.unit == "count":
        return f"at most {limit.maximum:,} {_e(words)}"
    return f"at most {limit.maximum:,} {_e(limit.unit)} {_e(words)}"


def _grant(grant: Grant, vocabulary: Vocabulary, suspended: Sequence[str]) -> str:
    activity = vocabulary.get(grant.activity)
    customer = _customer_type_labels(vocabulary.id, vocabulary.version)
    items = [
        "<li>For: " + ", ".join(_e(customer.get(c, c)) for c in grant.customer_types) + "</li>",
        "<li>Where: "
        + ", ".join(f"<code>{_e(r)}</code>" for r in grant.territory.include)
        + (
            " except " + ", ".join(f"<code>{_e(r)}</code>" for r in grant.territory.exclude)
            if grant.territory.exclude
            else ""
        )
        + " (ISO 3166 codes)</li>",
    ]
    if grant.excluded_activities:
        items.append(
            "<li>Except: "
            + "; ".join(_e(vocabulary.get(a).label) for a in grant.excluded_activities)
            + "</li>"
        )
    if grant.products_allowed:
        items.append(
            "<li>Only these products: "
            + ", ".join(f"<code>{_e(p)}</code>" for p in grant.products_allowed)
            + "</li>"
        )
    elif grant.products_denied:
        items.append(
            "<li>All products except: "
            + ", ".join(f"<code>{_e(p)}</code>" for p in grant.products_denied)
            + "</li>"
        )
    else:
        items.append("<li>Products: no restriction</li>")
    items += [f"<li>Limit: {_limit(lim)}</li>" for lim in grant.limits]
    items += [
        f"<li>Only once this condition is met: {_e(c)}</li>" for c in grant.conditions_precedent
    ]
    mapped = [
        *(f"MiCA {m}" for m in activity.mica),
        *(f"VARA {m}" for m in activity.vara),
        *(f"FATF {m}" for m in activity.fatf),
    ]
    if mapped:
        items.append("<li>Corresponds to: " + "; ".join(_e(m) for m in mapped) + "</li>")
    note = ""
    if grant.activity in suspended:
        note = '<p class="warning">This permission is currently suspended.</p>'
    return (
        '<section class="grant">'
        f"<h3>{_e(activity.label)}</h3>"
        f'<p>{_e(activity.description)} <span class="muted">(<code>{_e(activity.id)}</code>)'
        "</span></p>"
        f"{note}<ul>{''.join(items)}</ul></section>"
    )


def _not_permitted(scope: Scope) -> list[str]:
    """The largest parts of the vocabulary the scope covers nothing of: each activity none
    of whose subtree is covered, whose parent's subtree is partly covered (or that is a
    root), so that a NOC lists "operating virtual-asset activities" once, and a licence for
    exchange lists custody, transfer, … one by one."""
    vocabulary = scope.vocabulary
    covered = scope.activities()

    def untouched(activity_id: str) -> bool:
        return not covered & vocabulary.descendants_or_self(activity_id)

    out = []
    for activity_id in sorted(vocabulary.activities):
        parent = vocabulary.get(activity_id).parent
        if untouched(activity_id) and (parent is None or not untouched(parent)):
            out.append(activity_id)
    return out


def _scope_html(cert: Certificate, suspended: Sequence[str]) -> str:
    vocabulary = cert.scope.vocabulary
    parts = [
        '<h2 id="permits">What this certificate permits</h2>',
        *(_grant(g, vocabulary, suspended) for g in cert.scope.grants),
        '<h2 id="not-permitted">What it does not permit</h2>',
    ]
    if cert.instrument is Instrument.NOC:
        parts.append(
            '<p class="warning"><strong>This is a No Objection Certificate, not an operating '
            "licence.</strong> It permits only the preparatory steps listed above and does "
            "not permit carrying on any virtual-asset activity for clients.</p>"
        )
    missing = _not_permitted(cert.scope)
    if missing:
        parts.append("<p>Anything not listed above, including:</p><ul>")
        parts += [
            f"<li>{_e(vocabulary.get(a).label)} — {_e(vocabulary.get(a).description)}</li>"
            for a in missing
        ]
        parts.append("</ul>")
    else:
        parts.append("<p>Anything outside the territories, clients and limits above.</p>")
    return "\n".join(parts)


# -- pages --------------------------------------------------------------------------------


def _checkpoint_html(checkpoint: Checkpoint, prefix: str) -> str:
    return (
        '<footer><h2>Built from</h2><dl class="facts">'
        f"<dt>Log</dt><dd><code>{_e(checkpoint.origin)}</code></dd>"
        f"<dt>Checkpoint size</dt><dd>{checkpoint.size} entries</dd>"
        f"<dt>Tree root</dt><dd><code>{_b64(checkpoint.root)}</code></dd>"
        f"<dt>Status root</dt><dd><code>{_b64(checkpoint.status_root)}</code></dd>"
        f"<dt>Signed</dt><dd>{_when(checkpoint.time)}</dd>"
        f'</dl><p><a href="{prefix}checkpoint.txt">The signed checkpoint</a> · '
        f'<a href="{prefix}trust.txt">The trust file (trust.txt)</a></p>'
        '<p class="muted">This site is a convenience generated from the log. What can be '
        "verified is each certificate's offline bundle, checked with "
        "<code>noc-ledger verify</code> against the trust file.</p></footer>"
    )


def _index_html(
    title: str,
    rows: Sequence[tuple[_Cert, _Status]],
    checkpoint: Checkpoint,
    at: int,
) -> bytes:
    present = {status.code for _, status in rows}
    options = "".join(
        f'<option value="{code}">{_e(label)}</option>'
        for code, label in _STATUS_LABELS.items()
        if code in present
    )
    body_rows = []
    for cert, status in rows:
        hex_id = cert.id.hex()
        date = _when(status.since) if status.since is not None else ""
        body_rows.append(
            f'<tr data-status="{status.code}">'
            f'<th scope="row"><a href="cert/{hex_id}.html">{_e(cert.legal_name)}</a></th>'
            f"<td><code>{_e(cert.lei or '—')}</code></td>"
            f"<td>{_e(_KIND_SHORT[cert.instrument])}</td>"
            f"<td>{_e(cert.number)}</td>"
            f'<td><span class="status status-{status.code}">'
            f"{_e(_STATUS_LABELS[status.code])}</span>"
            + (f" — {status.detail}" if status.detail else "")
            + f"</td><td>{date}</td></tr>"
        )
    body = (
        f"<header><h1>{_e(title)}</h1>"
        f"<p>Every certificate in the public log <code>{_e(checkpoint.origin)}</code>, with "
        f"its status as at {_when(at)}.</p>"
        '<p class="notice">This page is a convenience. Before relying on a certificate, '
        "download its offline bundle from its page and verify it with "
        '<code>noc-ledger verify BUNDLE --trust trust.txt</code> using <a href="trust.txt">'
        "this register's trust file</a>.</p></header>"
        "<main>"
        '<div class="filters" id="filters" hidden>'
        '<div><label for="q">Search by name, LEI or number</label>'
        '<input type="search" id="q" autocomplete="off"></div>'
        '<div><label for="status-filter">Status</label>'
        f'<select id="status-filter"><option value="">All statuses</option>{options}'
        "</select></div>"
        '<p id="shown" role="status" aria-live="polite"></p></div>'
        '<table id="certificates">'
        f"<caption>Certificates ({len(rows)})</caption>"
        '<thead><tr><th scope="col">Firm</th><th scope="col">LEI</th>'
        '<th scope="col">Kind</th><th scope="col">Number</th><th scope="col">Status</th>'
        '<th scope="col">Since</th></tr></thead>'
        f"<tbody>{''.join(body_rows)}</tbody></table></main>" + _checkpoint_html(checkpoint, "")
    )
    return _page(title, body, script=True)


def _history_html(cert: _Cert, certs: Mapping[bytes, _Cert], labels: Callable[[str], str]) -> str:
    rows = []
    for event in sorted(cert.events, key=lambda e: e.index):
        what = _e(_EVENT_WORDS.get(event.kind, event.kind))
        if event.kind == "issued":
            what += f" as {_e(_KIND_SHORT[cert.instrument])} {_e(cert.number)}"
        if event.other is not None:
            what += ": " + _link(certs, event.other, "")
        if event.activities:
            what += " (only: " + ", ".join(_e(labels(a)) for a in event.activities) + ")"
        reason = _reason(event.reason)
        if event.reason_text:
            reason = (reason + ". " if reason else "") + _e(event.reason_text)
        rows.append(
            f"<tr><td>{event.index}</td><td>{what}</td><td>{_when(event.effective_at)}</td>"
            f"<td>{_when(event.decided_at) if event.decided_at is not None else '—'}</td>"
            f"<td>{reason or '—'}</td></tr>"
        )
    return (
        '<h2 id="history">Status history</h2>'
        "<table><caption>Every log entry about this certificate, oldest first</caption>"
        '<thead><tr><th scope="col">Log index</th><th scope="col">What</th>'
        '<th scope="col">Takes effect</th><th scope="col">Decided</th>'
        '<th scope="col">Reason</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _cert_html(
    title: str,
    cert: _Cert,
    certificate: Certificate,
    status: _Status,
    verdict: Verdict,
    bundle_size: int,
    certs: Mapping[bytes, _Cert],
    checkpoint: Checkpoint,
    at: int,
    labels: Callable[[str], str],
) -> bytes:
    hex_id = cert.id.hex()
    subject = certificate.subject
    record = next((r for r in reversed(cert.records) if r.since <= at), None)
    suspended = record.suspended if record is not None else ()
    facts = [
        ("Legal name", _e(subject.legal_name)),
        ("LEI", f"<code>{_e(subject.lei)}</code>" if subject.lei else "—"),
    ]
    if subject.trading_names:
        facts.append(("Trading names", ", ".join(_e(n) for n in subject.trading_names)))
    if subject.domains:
        facts.append(("Web domains", ", ".join(f"<code>{_e(d)}</code>" for d in subject.domains)))
    facts += [(_e(i.scheme), _e(i.value)) for i in subject.identifiers]
    facts += [
        ("Kind", _e(_KIND_LONG[certificate.instrument])),
        ("Number", _e(certificate.number)),
        ("Issued by", f"{_e(certificate.issuer.name)} ({_e(certificate.issuer.jurisdiction)})"),
        ("Issued", _when(certificate.issued_at)),
        ("Valid from", _when(certificate.valid_from)),
        ("Valid until", _when(certificate.valid_until)),
        ("Certificate id", f"<code>{hex_id}</code>"),
        ("Log index", str(cert.index)),
        ("Signing key id", f"<code>{cert.key_id.hex()}</code>"),
    ]
    related = []
    for kind, target in cert.edges:
        word = "Upgrades" if kind is EdgeKind.UPGRADES else "Supersedes"
        related.append(f"<li>{word} {_link(certs, target, '')}</li>")
    successor = next((r.successor for r in cert.records if r.successor is not None), None)
    if successor is not None:
        related.append(f"<li>Replaced by {_link(certs, successor, '')}</li>")
    scheduled = "".join(
        f"<li>{_e(_STATUS_LABELS.get(str(r.state), str(r.state)))} from {_when(r.since)}"
        f" (log index {r.index})</li>"
        for r in status.scheduled
    )
    conditions = "".join(f"<li>{_e(c)}</li>" for c in certificate.conditions)
    notices = "".join(
        f'<div class="{"warning" if n.code == NOC_DISCLAIMER_CODE else "notice"}">'
        f"<p>{_e(n.text)}</p></div>"
        for n in certificate.legal_notices
    )
    verify_command = f"noc-ledger verify {hex_id}.cbor --trust trust.txt --at {_iso(at) or at}"
    body = (
        '<nav><a href="../index.html">← All certificates</a></nav>'
        f"<header><h1>{_e(subject.legal_name)}</h1>"
        f"<p>{_e(_KIND_LONG[certificate.instrument])} {_e(certificate.number)}</p></header>"
        "<main>"
        f'<p id="status">Status as at {_when(at)}: {_status_html(status)}</p>'
        + (f"<p>Scheduled changes:</p><ul>{scheduled}</ul>" if scheduled else "")
        + '<h2 id="download">Verify it yourself</h2>'
        f'<p><a id="bundle-link" href="../bundles/{hex_id}.cbor" download>'
        f"Download the offline bundle</a> ({bundle_size:,} bytes, CBOR) and "
        '<a id="trust-link" href="../trust.txt" download>the trust file</a>, then run:</p>'
        f"<p><code>{_e(verify_command)}</code></p>"
        f'<p class="muted">When this page was built, the bundle verified as: '
        f"<strong>{_e(str(verdict))}</strong>.</p>"
        '<h2 id="details">Details</h2><dl class="facts">'
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
        + "</dl>"
        + (
            f'<h2 id="related">Related certificates</h2><ul>{"".join(related)}</ul>'
            if related
            else ""
        )
        + _scope_html(certificate, suspended)
        + (f'<h2 id="conditions">Conditions</h2><ul>{conditions}</ul>' if conditions else "")
        + (f'<h2 id="notices">Legal notices</h2>{notices}' if notices else "")
        + _history_html(cert, certs, labels)
        + "</main>"
        + _checkpoint_html(checkpoint, "../")
    )
    return _page(f"{subject.legal_name} — {certificate.number} — {title}", body)


# -- writing the site ---------------------------------------------------------------------


class _SiteWriter:
    """Writes files into a fresh temporary directory beside the target, syncs them all
    before publishing, and keeps the site digest (docs/register.md "Atomic update")."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.parent = out_dir.parent
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            self._current(remove_empty=False)  # refuse a foreign out_dir before any work
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=self.parent))
            os.chmod(self.tmp, 0o755)  # noqa: S103 - a public web site
        except OSError as exc:
            raise StorageError(f"cannot create a directory beside {out_dir}: {exc}") from None
        self._digest = hashlib.sha256()
        self._dirs: set[Path] = {self.tmp}
        self.files = 0

    def write(self, relative: str, data: bytes) -> None:
        path = self.tmp / relative
        try:
            if path.parent not in self._dirs:
                path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                self._dirs.add(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot write {relative}: {exc.strerror or exc}") from None
        # Path and content digest, in the (deterministic) order files are written.
        self._digest.update(relative.encode() + b"\0" + hashlib.sha256(data).digest())
        self.files += 1

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def publish(self) -> tuple[Path, bytes, bool]:
        """Move the finished site into place and swap ``out_dir`` to it atomically.

        Raises:
            StorageError: ``out_dir`` is something other than a symlink this function
                made (or an empty directory), or the file system failed.
        """
        digest = self._digest.digest()
        name = self.out_dir.name
        final = self.parent / f".{name}.site-{digest.hex()[:32]}"
        try:
            # Everything written must be on disk before the rename makes it visible. One
            # sync(2) does for thousands of files what an fsync each would (at ~5 ms a file
            # here); Linux's sync waits for the writes to complete.
            os.sync()
            for directory in sorted(self._dirs, key=lambda p: len(p.parts), reverse=True):
                _fsync_dir(directory)
            previous = self._current(remove_empty=True)
            if final.exists():
                # The same site (same digest) is already there: keep it, drop the copy.
                self.discard()
            else:
                os.rename(self.tmp, final)
            unchanged = previous == final.name
            if not unchanged:
                link = self.parent / f".{name}.link-{secrets.token_hex(8)}"
                # A relative target: the parent directory may be moved or served elsewhere.
                os.symlink(final.name, link)
                os.replace(link, self.out_dir)
            _fsync_dir(self.parent)
        except OSError as exc:
            self.discard()
            raise StorageError(f"cannot publish {self.out_dir}: {exc.strerror or exc}") from None
        self._clean(keep={final.name, previous or ""})
        return final, digest, unchanged

    def _current(self, *, remove_empty: bool) -> str | None:
        """The site directory ``out_dir`` points to now (None if it does not exist).

        Raises:
            StorageError: ``out_dir`` is not a symlink made here, nor absent or empty.
        """
        out = self.out_dir
        if out.is_symlink():
            target = os.readlink(out)
            prefix = f".{out.name}.site-"
            if "/" in target or not target.startswith(prefix):
                raise StorageError(f"{out} is a symlink this register did not make: {target}")
            return target
        if not out.exists():
            return None
        if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
            if remove_empty:
                out.rmdir()  # an empty directory: nothing a reader could see half of
            return None
        raise StorageError(
            f"{out} exists and is not a register published here (it is swapped atomically "
            "as a symlink to a versioned directory): remove it or choose another path"
        )

    def _clean(self, keep: set[str]) -> None:
        # The previous site stays one more round, for readers in the middle of it.
        prefix = f".{self.out_dir.name}.site-"
        for old in self.parent.iterdir():
            if old.name.startswith(prefix) and old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the build ----------------------------------------------------------------------------


def _check_title(title: str) -> str:
    if not isinstance(title, str) or not title or title != title.strip():
        raise ModelError("register title: 1 or more characters, no surrounding spaces")
    if len(title) > MAX_TITLE or not title.isprintable():
        raise ModelError(f"register title: at most {MAX_TITLE} printable characters")
    return title


def _trust(ledger: Ledger, trust: bytes | None, max_status_age: int) -> tuple[bytes, TrustPolicy]:
    own = ledger.trust_policy(max_status_age=max_status_age)
    if trust is None:
        return own, parse_policy(own)
    if len(trust) > _MAX_TRUST:
        raise PolicyError(f"trust file of {len(trust)} bytes exceeds {_MAX_TRUST}")
    policy = parse_policy(trust)
    mine = parse_policy(own)
    if policy.logs.get(ledger.origin) != mine.logs[ledger.origin]:
        raise PolicyError(f"the trust file does not name this log's key for {ledger.origin}")
    if not any(r.public_key == ledger.authority.root_public_key for r in policy.roots):
        raise PolicyError("the trust file does not name this authority's root key")
    return trust, policy


def _choose_checkpoint(ledger: Ledger, at: int) -> tuple[int, bytes]:
    """The newest checkpoint signed at or before ``at`` (its time is only compared here;
    the note is verified by the caller before anything in it is used)."""
    for size in range(ledger.size(), -1, -1):
        try:
            note = ledger.checkpoint_at(size)
        except OutOfRangeError:
            continue
        if decode_checkpoint_note(note).time <= at:
            return size, note
    raise OutOfRangeError(f"the log has no checkpoint signed at or before {at}")


def _labeller(vocabulary: Vocabulary) -> Callable[[str], str]:
    def label(activity: str) -> str:
        try:
            return vocabulary.get(activity).label
        except ModelError:
            return activity

    return label


def build_register(
    ledger: Ledger,
    out_dir: str | os.PathLike[str],
    *,
    title: str,
    at: int,
    max_status_age: int = DEFAULT_MAX_STATUS_AGE,
    trust: bytes | None = None,
    progress: Progress | None = None,
) -> RegisterReport:
    """Build the public register of ``ledger`` as at ``at`` into ``out_dir``.

    The site is built from the newest checkpoint signed at or before ``at``. ``trust`` is
    the trust file to publish (default: :meth:`Ledger.trust_policy` with
    ``max_status_age``); it must name this ledger's log key and root key.

    Raises:
        ModelError: ``title`` is empty, too long or has control characters.
        OutOfRangeError: no checkpoint was signed at or before ``at``.
        PolicyError: ``trust`` is not a valid trust file for this ledger.
        SignatureError, DecodeError: the checkpoint does not open with the trust file's
            log key.
        DecodeError, SignatureError, ScopeError, TransitionError, ModelError: a logged
            entry breaks a rule of the log (naming its index).
        StorageError: the entries do not give the checkpoint's roots; the register and a
            bundle disagree; ``out_dir`` is not a register published here; or writing
            failed. Nothing was published then.
        VerificationError: a bundle does not verify against the trust file.
    """
    title = _check_title(title)
    if type(at) is not int or at < 0:
        raise ModelError("at: a time is a non-negative integer of POSIX seconds")
    trust_bytes, policy = _trust(ledger, trust, max_status_age)
    size, note = _choose_checkpoint(ledger, at)
    # The size and roots come from the checkpoint as verified under the published trust
    # file's log key, nowhere else (GUIDE house rule 2).
    checkpoint = open_checkpoint(
        note, origin=ledger.origin, log_key=policy.logs[ledger.origin]
    ).checkpoint
    if checkpoint.size != size:
        raise StorageError(f"the checkpoint stored at size {size} says {checkpoint.size}")
    certs, view = _replay(ledger, checkpoint, progress)

    writer = _SiteWriter(Path(out_dir))
    try:
        verifier = BundleVerifier(policy)
        rows: list[tuple[_Cert, _Status]] = []
        verdicts: dict[str, str] = {}
        ordered = sorted(certs.values(), key=lambda c: c.index)
        for done, cert in enumerate(ordered, start=1):
            entry = ledger.entries(cert.index, cert.index + 1)[0]
            # Re-read bytes must be the bytes replayed (same leaf hash).
            if merkle.leaf_hash(entry) != cert.leaf_hash:
                raise StorageError(f"entry {cert.index} changed while the register was built")
            certificate = Certificate.from_cbor(signing.decode_sign1(entry).payload)
            labels = _labeller(certificate.scope.vocabulary)
            # Pages in cert/ link to their neighbours by file name; the index via cert/.
            status = _status(cert, at, view, certs, labels, "")
            bundle = ledger.bundle(cert.id, size=checkpoint.size)
            verdict = _check_bundle(verifier, bundle, at, cert, status)
            verdicts[cert.id.hex()] = str(verdict)
            writer.write(f"bundles/{cert.id.hex()}.cbor", bundle)
            writer.write(
                f"cert/{cert.id.hex()}.html",
                _cert_html(
                    title,
                    cert,
                    certificate,
                    status,
                    verdict,
                    len(bundle),
                    certs,
                    checkpoint,
                    at,
                    labels,
                ),
            )
            rows.append((cert, _status(cert, at, view, certs, labels, "cert/")))
            if progress is not None:
                progress("writing pages", done, len(ordered))
        writer.write("index.html", _index_html(title, rows, checkpoint, at))
        writer.write("trust.txt", trust_bytes)
        writer.write("checkpoint.txt", note)
        site, digest, unchanged = writer.publish()
    except BaseException:
        writer.discard()
        raise
    return RegisterReport(
        out_dir=Path(out_dir),
        site_dir=site,
        origin=checkpoint.origin,
        size=checkpoint.size,
        root=checkpoint.root,
        checkpoint_time=checkpoint.time,
        at=at,
        certificates=len(certs),
        files=writer.files,
        digest=digest,
        unchanged=unchanged,
        verdicts=verdicts,
    )


def _check_bundle(
    verifier: BundleVerifier, bundle: bytes, at: int, cert: _Cert, status: _Status
) -> Verdict:
    """Verify a bundle as a reader will, and require its verdict to agree with the page.

    Raises:
        VerificationError (a subclass): it is invalid though the page says otherwise.
        StorageError: its verdict contradicts the status the page shows.
    """
    try:
        verifier.verify(bundle, at=at)
        verdict = Verdict.VALID
    except NocLedgerError as exc:
        verdict = verdict_of(exc)
        if verdict is Verdict.INVALID and status.code != "invalid":
            raise type(exc)(
                f"the bundle of {cert.number} does not verify against the trust file: {exc}"
            ) from None
    expected = _EXPECTED_VERDICT[status.code]
    if verdict not in _CANT_TELL and verdict is not expected:
        raise StorageError(
            f"{cert.number}: the page says {status.code} but its bundle verifies as {verdict}"
        )
    return verdict
