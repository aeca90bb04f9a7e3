"""spec/events.md: event payloads and the certificate and key state machines."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import codec, signing
from noc_ledger.errors import DecodeError, ModelError, TransitionError
from noc_ledger.events import (
    TERMINAL,
    CertState,
    CertStatus,
    KeyEvent,
    KeyEventKind,
    KeyState,
    KeyStatus,
    ReasonCode,
    StatusEvent,
    StatusEventKind,
    apply_key_event,
    apply_status_event,
    apply_supersession,
    initial_status,
)
from noc_ledger.scope import Grant, Scope, Territory

CID = hashlib.sha256(b"certificate").digest()
T = 1_767_225_600
KEY = signing.Ed25519Signer(hashlib.sha256(b"issuing").digest())
SCOPE = Scope((Grant("prep", ("retail",), Territory(("AE",))),))


def ev(kind: StatusEventKind, at: int = T, **kw: Any) -> StatusEvent:
    if kind in (StatusEventKind.SUSPEND, StatusEventKind.REVOKE):
        kw.setdefault("reason", ReasonCode.AML_CFT_FAILURE)
    return StatusEvent(kind, CID, at, at, **kw)


def test_status_event_round_trip_and_signing() -> None:
    e = ev(StatusEventKind.SUSPEND, reason_text="Pending review", activities=("prep.hiring",))
    assert StatusEvent.from_cbor(e.to_cbor()) == e
    signed = e.sign(KEY)
    envelope = signing.verify_sign1(
        signed, content_type=signing.CONTENT_TYPES["status-event"], public_key=KEY.public_key
    )
    assert StatusEvent.from_cbor(envelope.payload) == e


def test_key_event_round_trip() -> None:
    d = KeyEvent(KeyEventKind.DELEGATE, KEY.public_key, T, T, "issuing 2026", T + 10, SCOPE)
    assert KeyEvent.from_cbor(d.to_cbor()) == d
    r = KeyEvent(
        KeyEventKind.REVOKE_KEY,
        KEY.public_key,
        T,
        T,
        reason=ReasonCode.KEY_COMPROMISE,
        invalidate_from=3,
    )
    assert KeyEvent.from_cbor(r.to_cbor()) == r
    assert d.key_id == KEY.key_id


@pytest.mark.parametrize(
    "build",
    [
        lambda: StatusEvent(StatusEventKind.REVOKE, CID, T, T),  # no reason
        lambda: StatusEvent(StatusEventKind.SUSPEND, CID, T, T),
        lambda: ev(StatusEventKind.REVOKE, activities=("prep",)),  # grants on revoke
        lambda: StatusEvent("cancel", CID, T, T),  # type: ignore[arg-type]
        lambda: StatusEvent(StatusEventKind.LAPSE, CID[:31], T, T),
        lambda: KeyEvent(KeyEventKind.DELEGATE, KEY.public_key, T, T),  # no scope
        lambda: KeyEvent(KeyEventKind.DELEGATE, KEY.public_key, T, T, valid_until=T, scope=SCOPE),
        lambda: KeyEvent(KeyEventKind.REVOKE_KEY, KEY.public_key, T, T, reason=ReasonCode.OTHER),
        lambda: KeyEvent(KeyEventKind.REVOKE_KEY, KEY.public_key, T, T, invalidate_from=1),
    ],
)
def test_invalid_events(build: Any) -> None:
    with pytest.raises(ModelError):
        build()


def test_decoding_rejects_non_canonical_and_unknown() -> None:
    item = ev(StatusEventKind.LAPSE).to_item()
    with pytest.raises(DecodeError):
        StatusEvent.from_cbor(codec.encode({**item, 99: 1}))
    with pytest.raises(DecodeError):
        StatusEvent.from_cbor(codec.encode({**item, 0: 2}))
    susp = ev(StatusEventKind.SUSPEND, activities=("prep.hiring", "prep.aml_registration"))
    unsorted = {**susp.to_item(), 7: ["prep.hiring", "prep.aml_registration"]}
    with pytest.raises(DecodeError):
        StatusEvent.from_cbor(codec.encode(unsorted))


def test_lifecycle_table() -> None:
    r = initial_status(index=5, issued_at=T)
    assert r.state is CertState.ACTIVE and r.index == r.issued_index == 5
    r = apply_status_event(r, ev(StatusEventKind.SUSPEND, T + 1), index=6)
    assert r.state is CertState.SUSPENDED and r.reason is ReasonCode.AML_CFT_FAILURE
    with pytest.raises(TransitionError):
        apply_status_event(r, ev(StatusEventKind.SUSPEND, T + 2), index=7)
    r = apply_status_event(r, ev(StatusEventKind.REINSTATE, T + 2), index=7)
    assert r.state is CertState.ACTIVE and r.reason is None
    r = apply_status_event(
        r, ev(StatusEventKind.SUSPEND, T + 3, activities=("prep.hiring",)), index=8
    )
    assert r.state is CertState.ACTIVE and r.suspended == ("prep.hiring",)
    with pytest.raises(TransitionError):
        apply_status_event(r, ev(StatusEventKind.REINSTATE, T + 4, activities=("prep.x",)), index=9)
    r = apply_status_event(r, ev(StatusEventKind.REVOKE, T + 4), index=9)
    assert r.state is CertState.REVOKED and r.terminal and r.suspended == ()
    for kind in StatusEventKind:
        with pytest.raises(TransitionError):
            apply_status_event(r, ev(kind, T + 5), index=10)
    assert [t.state for t in r.history] == [
        CertState.ACTIVE,
        CertState.SUSPENDED,
        CertState.ACTIVE,
        CertState.ACTIVE,
    ]
    # What was true when (spec §4.4).
    assert r.state_at(T) is CertState.ACTIVE
    assert r.state_at(T + 1) is CertState.SUSPENDED
    assert r.state_at(T + 4) is CertState.REVOKED
    assert r.state_at(T - 1) is None
    assert CertStatus.from_cbor(r.to_cbor()) == r


def test_time_rules() -> None:
    r = initial_status(index=0, issued_at=T)
    with pytest.raises(TransitionError, match="before the certificate was issued"):
        apply_status_event(r, ev(StatusEventKind.REVOKE, T - 1), index=1)
    r = apply_status_event(r, ev(StatusEventKind.SUSPEND, T + 10), index=1)
    with pytest.raises(TransitionError, match="current state"):
        apply_status_event(r, ev(StatusEventKind.REVOKE, T + 5), index=2)
    with pytest.raises(TransitionError):
        apply_status_event(None, ev(StatusEventKind.REVOKE), index=2)


def test_supersession() -> None:
    successor = hashlib.sha256(b"licence").digest()
    r = apply_supersession(
        initial_status(index=0, issued_at=T), successor=successor, effective_at=T + 1, index=3
    )
    assert r.state is CertState.SUPERSEDED and r.successor == successor
    with pytest.raises(TransitionError):
        apply_supersession(r, successor=successor, effective_at=T + 2, index=4)
    with pytest.raises(TransitionError):
        apply_supersession(None, successor=successor, effective_at=T, index=4)


def test_key_state_machine() -> None:
    d = KeyEvent(KeyEventKind.DELEGATE, KEY.public_key, T, T, valid_until=T + 10, scope=SCOPE)
    r = apply_key_event(None, d, index=2)
    assert r.state is KeyState.DELEGATED and r.may_sign_at(3) and not r.may_sign_at(2)
    with pytest.raises(TransitionError):
        apply_key_event(r, d, index=4)
    revoke = KeyEvent(
        KeyEventKind.REVOKE_KEY,
        KEY.public_key,
        T,
        T,
        reason=ReasonCode.KEY_COMPROMISE,
        invalidate_from=7,
    )
    with pytest.raises(TransitionError):
        apply_key_event(r, revoke, index=6)  # invalidate-from after the revocation
    revoked = apply_key_event(r, revoke, index=9)
    assert revoked.may_sign_at(6) and not revoked.may_sign_at(7) and not revoked.may_sign_at(10)
    assert KeyStatus.from_cbor(revoked.to_cbor()) == revoked
    with pytest.raises(TransitionError):
        apply_key_event(revoked, revoke, index=10)
    with pytest.raises(TransitionError):
        apply_key_event(None, revoke, index=10)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.sampled_from(list(StatusEventKind)), st.integers(0, 3), st.booleans()),
        max_size=25,
    )
)
def test_random_event_sequences(steps: list[tuple[StatusEventKind, int, bool]]) -> None:
    """Terminal states are final; a refused event changes nothing; times never go back."""
    record = initial_status(index=0, issued_at=T)
    at = T
    for i, (kind, dt, partial) in enumerate(steps, start=1):
        at += dt
        acts = (
            ("prep.hiring",)
            if partial and kind in (StatusEventKind.SUSPEND, StatusEventKind.REINSTATE)
            else ()
        )
        before = record
        try:
            record = apply_status_event(record, ev(kind, at, activities=acts), index=i)
        except TransitionError:
            assert record == before
            continue
        assert before.state not in TERMINAL
        assert record.since >= before.since and record.index == i
        assert CertStatus.from_cbor(record.to_cbor()) == record
