"""The rules a log applies to each entry (spec/events.md §5), as pure functions.

The ledger runs :func:`apply_entry` inside its write transaction before appending; an
auditor runs the same function over the entries alone (:func:`replay`). One definition of
the rules therefore serves both, and an auditor recomputes exactly the state — and so the
status-map root (spec/revocation.md §6) — that the log committed to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from noc_ledger import signing
from noc_ledger.errors import (
    DecodeError,
    ModelError,
    ScopeError,
    SignatureError,
    TransitionError,
)
from noc_ledger.events import (
    CertStatus,
    KeyEvent,
    KeyEventKind,
    KeyStatus,
    StatusEvent,
    apply_key_event,
    apply_status_event,
    apply_supersession,
    initial_status,
)
from noc_ledger.model import Certificate, EdgeKind, Instrument, certificate_id
from noc_ledger.scope import Scope, check_within, is_within

__all__ = [
    "Applied",
    "Authority",
    "MemoryState",
    "StateView",
    "apply_entry",
    "decode_key_event",
    "replay",
]

#: spec/log.md §2 rule 2.
MAX_ENTRY_SIZE = 65_535
_CT = signing.CONTENT_TYPES
_STAGED = (Instrument.NOC, Instrument.IN_PRINCIPLE_APPROVAL, Instrument.PROVISIONAL_LICENCE)
_STAGE_ORDER = {
    Instrument.NOC: 0,
    Instrument.IN_PRINCIPLE_APPROVAL: 1,
    Instrument.PROVISIONAL_LICENCE: 2,
    Instrument.LICENCE: 3,
    Instrument.REGISTRATION: 3,
}


@dataclass(frozen=True, slots=True)
class Authority:
    """What the log takes as given: the authority root key and the largest scope the root
    may delegate (the same values a verifier's trust policy holds)."""

    root_public_key: bytes
    root_scope: Scope


class StateView(Protocol):
    """The log state before an entry: statuses so far and earlier entries."""

    def cert_status(self, cert_id: bytes) -> CertStatus | None: ...

    def key_status(self, key_id: bytes) -> KeyStatus | None: ...

    def entry(self, index: int) -> bytes: ...

    def key_event(self, index: int) -> KeyEvent:
        """The decoded key event logged at ``index`` (entries never change, so a view may
        cache this)."""
        ...


def decode_key_event(entry: bytes) -> KeyEvent:
    """The payload of a logged key-event entry (already verified when it was appended)."""
    return KeyEvent.from_cbor(signing.decode_sign1(entry).payload)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one entry does. ``changes`` maps certificate ids and key ids to their new
    records. ``duplicate_of`` is set (and ``changes`` empty) when the entry re-submits a
    certificate already logged: the log then appends nothing (spec/events.md §5 rule 4)."""

    kind: str
    subject: bytes
    changes: Mapping[bytes, CertStatus | KeyStatus]
    duplicate_of: int | None = None
    certificate: Certificate | None = None


@lru_cache(maxsize=1024)
def _within(inner: Scope, outer: Scope) -> bool:
    # Scopes are frozen values and the subset rule (spec/scope.md) is a pure function of
    # them: an authority issues many certificates of the same scope under one delegation,
    # so each (scope, delegated scope) pair is decided once.
    return is_within(inner, outer)


@lru_cache(maxsize=256)
def _key_id(public_key: bytes) -> bytes:
    # A log has few signing keys and every entry names one: the thumbprint (a CBOR encode
    # and a SHA-256) is computed once per key, not once per entry.
    return signing.key_id(public_key)


def _verify(envelope: signing.Sign1, content_type: str, public_key: bytes) -> None:
    """What :func:`signing.verify_sign1` checks (spec/signing.md §2.4), on the envelope
    :func:`apply_entry` already decoded from the entry (strictly: its ``protected`` and
    ``payload`` are the exact bytes received), so the entry is not decoded twice.

    Raises:
        SignatureError: wrong content type, a kid that does not name ``public_key``, or a
            signature that does not verify.
    """
    if envelope.content_type != content_type:
        raise SignatureError(
            f"COSE_Sign1: content type is {envelope.content_type!r}, expected {content_type!r}"
        )
    if envelope.key_id != _key_id(public_key):
        raise SignatureError("COSE_Sign1: kid does not match the verification key")
    signing.verify_ed25519(public_key, envelope.to_be_signed(), envelope.signature)


def _delegation(view: StateView, key_id: bytes, index: int) -> tuple[KeyEvent, KeyStatus]:
    """The delegation of ``key_id`` and its record, checked to allow signing at ``index``
    (spec/events.md §3.3)."""
    record = view.key_status(key_id)
    if record is None:
        raise SignatureError(f"key {key_id.hex()[:16]}… was never delegated")
    if not record.may_sign_at(index):
        raise SignatureError(f"key {key_id.hex()[:16]}… may not sign at log index {index}")
    return view.key_event(record.delegated_index), record


def _in_window(event: KeyEvent, at: int, what: str) -> None:
    assert event.valid_until is not None  # a delegation always has one
    if not event.effective_at <= at < event.valid_until:
        raise SignatureError(f"{what} {at} is outside the signing key's validity window")


def _apply_key_event(
    view: StateView, envelope: signing.Sign1, index: int, authority: Authority
) -> Applied:
    _verify(envelope, _CT["key-event"], authority.root_public_key)
    event = KeyEvent.from_cbor(envelope.payload)
    if event.kind is KeyEventKind.DELEGATE:
        assert event.scope is not None
        check_within(event.scope, authority.root_scope, what="delegated scope")
    key_id = event.key_id
    record = apply_key_event(view.key_status(key_id), event, index=index)
    return Applied("key-event", key_id, {key_id: record})


def _check_edge(predecessor: Certificate, successor: Certificate, kind: EdgeKind) -> None:
    # spec/events.md §4.3.
    if kind is EdgeKind.UPGRADES:
        if predecessor.instrument not in _STAGED:
            raise TransitionError(f"a {predecessor.instrument} cannot be upgraded")
        if _STAGE_ORDER[successor.instrument] <= _STAGE_ORDER[predecessor.instrument]:
            raise TransitionError(
                f"an upgrade goes to a later instrument, not {predecessor.instrument} → "
                f"{successor.instrument}"
            )
    elif successor.instrument is not predecessor.instrument:
        raise TransitionError("a superseding certificate keeps the instrument")
    if predecessor.subject.lei is not None and successor.subject.lei != predecessor.subject.lei:
        raise TransitionError("a successor certificate keeps the subject's LEI")


def _apply_certificate(
    view: StateView,
    envelope: signing.Sign1,
    index: int,
    built: Certificate | None,
) -> Applied:
    delegation, _ = _delegation(view, envelope.key_id, index)
    _verify(envelope, _CT["certificate"], delegation.public_key)
    if built is not None and built.to_cbor() == envelope.payload:
        # The caller built this Certificate (its constructor checked every model rule) and
        # the payload is byte for byte its deterministic encoding, so decoding the payload
        # would rebuild the same value and re-encode the same bytes (spec/certificate.md
        # §3.1). Any other payload is decoded and checked in full.
        cert = built
    else:
        cert = Certificate.from_cbor(envelope.payload)
    cert_id = certificate_id(envelope.payload)
    existing = view.cert_status(cert_id)
    if existing is not None:
        return Applied(
            "certificate", cert_id, {}, duplicate_of=existing.issued_index, certificate=cert
        )
    _in_window(delegation, cert.issued_at, "issued at")
    assert delegation.scope is not None
    if not _within(cert.scope, delegation.scope):
        check_within(cert.scope, delegation.scope, what="certificate scope")  # raises
    changes: dict[bytes, CertStatus | KeyStatus] = {}
    for edge in cert.edges:
        previous = view.cert_status(edge.target)
        if previous is not None:
            predecessor = Certificate.from_cbor(
                signing.decode_sign1(view.entry(previous.issued_index)).payload
            )
            _check_edge(predecessor, cert, edge.kind)
        changes[edge.target] = apply_supersession(
            previous, successor=cert_id, effective_at=cert.valid_from, index=index
        )
    changes[cert_id] = initial_status(index=index, issued_at=cert.issued_at)
    return Applied("certificate", cert_id, changes, certificate=cert)


def _apply_status_event(view: StateView, envelope: signing.Sign1, index: int) -> Applied:
    delegation, _ = _delegation(view, envelope.key_id, index)
    _verify(envelope, _CT["status-event"], delegation.public_key)
    event = StatusEvent.from_cbor(envelope.payload)
    _in_window(delegation, event.decided_at, "decided at")
    current = view.cert_status(event.certificate_id)
    if event.activities and current is not None:
        # spec/events.md §4.2: a grant suspension names grants of this certificate.
        cert = Certificate.from_cbor(signing.decode_sign1(view.entry(current.issued_index)).payload)
        unknown = set(event.activities) - {g.activity for g in cert.scope.grants}
        if unknown:
            raise TransitionError(f"the certificate has no grants for {sorted(unknown)}")
    record = apply_status_event(current, event, index=index)
    return Applied("status-event", event.certificate_id, {event.certificate_id: record})


def apply_entry(
    view: StateView,
    entry: bytes,
    *,
    index: int,
    authority: Authority,
    certificate: Certificate | None = None,
) -> Applied:
    """Check ``entry`` as the entry at ``index`` and say what it changes (spec/events.md §5).

    ``certificate`` (optional) is the :class:`Certificate` a writer built and signed into
    ``entry``: if the entry's payload is exactly ``certificate.to_cbor()`` it stands for
    the decoded payload (the same value, already validated on construction); otherwise it
    is ignored and the payload is decoded. Every other check runs either way.

    Raises:
        DecodeError: the entry is too long, not a canonical COSE_Sign1, or its payload is
            malformed.
        SignatureError: bad signature, unknown or undelegated key, a key not allowed to
            sign at ``index``, or a time outside the key's validity window.
        ScopeError: a certificate or delegation exceeds the scope it must lie within.
        TransitionError: the state machine refuses the event.
        ModelError: a payload breaks a rule of the model.
    """
    if not isinstance(entry, bytes) or len(entry) > MAX_ENTRY_SIZE:
        raise DecodeError(f"an entry is bytes of at most {MAX_ENTRY_SIZE}")
    envelope = signing.decode_sign1(entry)
    if envelope.content_type == _CT["key-event"]:
        return _apply_key_event(view, envelope, index, authority)
    if envelope.content_type == _CT["certificate"]:
        return _apply_certificate(view, envelope, index, certificate)
    if envelope.content_type == _CT["status-event"]:
        return _apply_status_event(view, envelope, index)
    raise SignatureError(f"a {envelope.content_type} is not a log entry")


@dataclass
class MemoryState:
    """A :class:`StateView` held in dictionaries, filled by :func:`replay`."""

    entries: list[bytes] = field(default_factory=list)
    certs: dict[bytes, CertStatus] = field(default_factory=dict)
    keys: dict[bytes, KeyStatus] = field(default_factory=dict)
    key_events: dict[int, KeyEvent] = field(default_factory=dict)

    def key_event(self, index: int) -> KeyEvent:
        if index not in self.key_events:
            self.key_events[index] = decode_key_event(self.entries[index])
        return self.key_events[index]

    def cert_status(self, cert_id: bytes) -> CertStatus | None:
        return self.certs.get(cert_id)

    def key_status(self, key_id: bytes) -> KeyStatus | None:
        return self.keys.get(key_id)

    def entry(self, index: int) -> bytes:
        return self.entries[index]

    def status_items(self) -> dict[bytes, bytes]:
        """The status map's contents (spec/revocation.md §6): every certificate's and
        every key's record, by id."""
        items = {k: v.to_cbor() for k, v in self.certs.items()}
        items.update((k, v.to_cbor()) for k, v in self.keys.items())
        return items


def replay(entries: Iterable[bytes], authority: Authority) -> MemoryState:
    """Re-apply every rule to ``entries`` from index 0, as an auditor does.

    Raises:
        DecodeError, SignatureError, ScopeError, TransitionError, ModelError: the first
            entry that breaks a rule, with its index in the message. A duplicate
            certificate entry is itself an error here: a log never appends one.
    """
    state = MemoryState()
    for index, entry in enumerate(entries):
        try:
            applied = apply_entry(state, entry, index=index, authority=authority)
        except (DecodeError, SignatureError, ScopeError, TransitionError, ModelError) as exc:
            raise type(exc)(f"entry {index}: {exc}") from None
        if applied.duplicate_of is not None:
            raise TransitionError(
                f"entry {index}: certificate already logged at {applied.duplicate_of}"
            )
        state.entries.append(entry)
        for key, record in applied.changes.items():
            if isinstance(record, KeyStatus):
                state.keys[key] = record
            else:
                state.certs[key] = record
    return state
