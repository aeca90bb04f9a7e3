"""spec/events.md §5: the rules a log applies to each entry, via the pure replay."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from noc_ledger import signing
from noc_ledger.errors import ScopeError, SignatureError, TransitionError
from noc_ledger.events import (
    CertState,
    KeyEvent,
    KeyEventKind,
    ReasonCode,
    StatusEvent,
    StatusEventKind,
)
from noc_ledger.logstate import Authority, MemoryState, apply_entry, replay
from noc_ledger.model import Edge, EdgeKind, Instrument, sign_certificate
from noc_ledger.scope import Grant, Scope, Territory
from tools.gen_vectors import T0, sample_licence, sample_noc

ROOT = signing.Ed25519Signer(hashlib.sha256(b"root").digest())
ISSUER = signing.Ed25519Signer(hashlib.sha256(b"issuer").digest())
ISSUER2 = signing.Ed25519Signer(hashlib.sha256(b"issuer 2").digest())
EVERYTHING = Scope(
    (
        Grant("prep", ("institutional", "professional", "retail"), Territory(("AE",))),
        Grant("va", ("institutional", "professional", "retail"), Territory(("AE",))),
    )
)
AUTHORITY = Authority(ROOT.public_key, EVERYTHING)
YEAR = 365 * 86_400


def delegate(key: signing.Ed25519Signer, scope: Scope = EVERYTHING, start: int = T0 - 1) -> bytes:
    return KeyEvent(
        KeyEventKind.DELEGATE, key.public_key, start, start, "issuing", start + YEAR, scope
    ).sign(ROOT)


def status(kind: StatusEventKind, cert_id: bytes, at: int, **kw: object) -> bytes:
    if kind in (StatusEventKind.SUSPEND, StatusEventKind.REVOKE):
        kw.setdefault("reason", ReasonCode.BREACH_OF_CONDITIONS)
    return StatusEvent(kind, cert_id, at, at, **kw).sign(ISSUER)  # type: ignore[arg-type]


def run(entries: list[bytes]) -> MemoryState:
    return replay(entries, AUTHORITY)


def test_story() -> None:
    noc = sample_noc()
    lic = sample_licence()
    entries = [
        delegate(ISSUER),
        sign_certificate(noc, ISSUER),
        sign_certificate(lic, ISSUER),
    ]
    state = run(entries)
    assert state.certs[noc.id].state is CertState.SUPERSEDED
    assert state.certs[noc.id].successor == lic.id
    assert state.certs[lic.id].state is CertState.ACTIVE and state.certs[lic.id].issued_index == 2
    entries.append(status(StatusEventKind.SUSPEND, lic.id, T0 + 100 * 86_400))
    entries.append(status(StatusEventKind.REVOKE, lic.id, T0 + 101 * 86_400))
    state = run(entries)
    assert state.certs[lic.id].state is CertState.REVOKED
    assert len(state.status_items()) == 3  # two certificates and one key


def test_undelegated_key_refused() -> None:
    with pytest.raises(SignatureError, match="never delegated"):
        run([sign_certificate(sample_noc(), ISSUER)])


def test_key_event_must_be_signed_by_root() -> None:
    forged = KeyEvent(
        KeyEventKind.DELEGATE, ISSUER.public_key, T0, T0, None, T0 + YEAR, EVERYTHING
    ).sign(ISSUER)
    with pytest.raises(SignatureError):
        run([forged])


def test_scope_beyond_delegation_refused() -> None:
    prep_only = Scope(
        (Grant("prep", ("institutional", "professional", "retail"), Territory(("AE",))),)
    )
    with pytest.raises(ScopeError):
        run([delegate(ISSUER, prep_only), sign_certificate(sample_licence(), ISSUER)])
    # and a delegation beyond the root's scope
    wider = Scope((Grant("va", ("retail",), Territory(("SA",))),))
    with pytest.raises(ScopeError):
        run([delegate(ISSUER, wider)])


def test_signing_window() -> None:
    late = dataclasses.replace(
        sample_noc(), issued_at=T0 + 2 * YEAR, valid_from=T0 + 2 * YEAR, valid_until=None
    )
    with pytest.raises(SignatureError, match="validity window"):
        run([delegate(ISSUER), sign_certificate(late, ISSUER)])


def test_revoked_key_invalidates_from_index() -> None:
    noc = sample_noc()
    other = dataclasses.replace(noc, number="VARA/NOC/2026/0002")
    revoke = KeyEvent(
        KeyEventKind.REVOKE_KEY,
        ISSUER.public_key,
        T0,
        T0,
        reason=ReasonCode.KEY_COMPROMISE,
        invalidate_from=2,
    ).sign(ROOT)
    base = [delegate(ISSUER), sign_certificate(noc, ISSUER), revoke]
    state = run(base)
    assert state.keys[ISSUER.key_id].invalidate_from == 2
    with pytest.raises(SignatureError, match="may not sign"):
        run([*base, sign_certificate(other, ISSUER)])
    # A new key (rotation) carries on.
    run([*base, delegate(ISSUER2), sign_certificate(other, ISSUER2)])


def test_duplicate_certificate_is_idempotent_in_apply_but_refused_in_replay() -> None:
    entries = [delegate(ISSUER), sign_certificate(sample_noc(), ISSUER)]
    state = run(entries)
    applied = apply_entry(
        state, sign_certificate(sample_noc(), ISSUER), index=2, authority=AUTHORITY
    )
    assert applied.duplicate_of == 1 and not applied.changes
    with pytest.raises(TransitionError):
        run([*entries, entries[1]])


def test_upgrade_rules() -> None:
    noc = sample_noc()
    lic = sample_licence()
    # A licence cannot be "upgraded" to a NOC-like successor, and superseding keeps the instrument.
    bad_kind = dataclasses.replace(
        lic, instrument=Instrument.REGISTRATION, edges=(Edge(EdgeKind.SUPERSEDES, noc.id),)
    )
    with pytest.raises(TransitionError, match="keeps the instrument"):
        run([delegate(ISSUER), sign_certificate(noc, ISSUER), sign_certificate(bad_kind, ISSUER)])
    with pytest.raises(TransitionError, match="predecessor is not in the log"):
        run([delegate(ISSUER), sign_certificate(lic, ISSUER)])
    revoked_first = [
        delegate(ISSUER),
        sign_certificate(noc, ISSUER),
        status(StatusEventKind.REVOKE, noc.id, T0 + 1),
        sign_certificate(lic, ISSUER),
    ]
    with pytest.raises(TransitionError, match="already revoked"):
        run(revoked_first)


def test_status_event_for_unknown_certificate() -> None:
    with pytest.raises(TransitionError, match="no such certificate"):
        run([delegate(ISSUER), status(StatusEventKind.LAPSE, b"\x01" * 32, T0)])


def test_presentation_is_not_an_entry() -> None:
    p = signing.sign1(ISSUER, content_type=signing.CONTENT_TYPES["presentation"], payload=b"\xa0")
    with pytest.raises(SignatureError, match="not a log entry"):
        run([p])


def test_grant_suspension_must_name_a_grant() -> None:
    noc = sample_noc()
    base = [delegate(ISSUER), sign_certificate(noc, ISSUER)]
    ok = status(StatusEventKind.SUSPEND, noc.id, T0 + 1, activities=("prep.aml_registration",))
    state = run([*base, ok])
    assert state.certs[noc.id].suspended == ("prep.aml_registration",)
    bad = status(StatusEventKind.SUSPEND, noc.id, T0 + 1, activities=("prep.hiring",))
    with pytest.raises(TransitionError, match="no grants for"):
        run([*base, bad])
