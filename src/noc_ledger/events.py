"""Lifecycle events, key events and the state machines they drive (spec/events.md).

Every log entry is one signed document (spec/log.md §2): a certificate (its issuance), a
:class:`StatusEvent` (suspend, reinstate, revoke, surrender, lapse, expire) or a
:class:`KeyEvent` (delegate an issuing key, revoke a key). Supersession (vary, renew,
correct) and upgrades (NOC → licence) are not separate events: the successor
certificate's edge (spec/certificate.md §3.8) is the event, logged as its issuance.

The state machines are pure functions from (current record, event) to the new record;
the ledger applies them when appending and an auditor applies them again from the entries
alone (spec/events.md §5, spec/revocation.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final, TypeVar

from noc_ledger import _fields as f
from noc_ledger import codec, signing
from noc_ledger.codec import CborValue
from noc_ledger.errors import DecodeError, ModelError, TransitionError
from noc_ledger.scope import Scope

__all__ = [
    "EVENT_VERSION",
    "CertState",
    "CertStatus",
    "KeyEvent",
    "KeyEventKind",
    "KeyState",
    "KeyStatus",
    "ReasonCode",
    "StatusEvent",
    "StatusEventKind",
    "apply_key_event",
    "apply_status_event",
    "apply_supersession",
    "initial_status",
]

#: spec/events.md §2: the format version marker, key 0 of every event.
EVENT_VERSION: Final = 1
#: spec/events.md §4: transitions kept in a status record's history (older ones drop off).
MAX_HISTORY: Final = 16


class StatusEventKind(StrEnum):
    """spec/events.md §2.1."""

    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    REVOKE = "revoke"
    SURRENDER = "surrender"
    LAPSE = "lapse"
    EXPIRE = "expire"


class ReasonCode(StrEnum):
    """spec/events.md §2.2: why a certificate was suspended or revoked."""

    AML_CFT_FAILURE = "aml-cft-failure"
    BREACH_OF_CONDITIONS = "breach-of-conditions"
    FALSE_INFORMATION = "false-information"
    INSOLVENCY = "insolvency"
    HOLDER_REQUEST = "holder-request"
    CONDITIONS_NOT_MET = "conditions-not-met"
    ISSUED_IN_ERROR = "issued-in-error"
    KEY_COMPROMISE = "key-compromise"
    OTHER = "other"


class CertState(StrEnum):
    """spec/events.md §4: the states of a certificate. The last five are terminal."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SURRENDERED = "surrendered"
    LAPSED = "lapsed"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


TERMINAL: Final = frozenset(
    {
        CertState.REVOKED,
        CertState.SURRENDERED,
        CertState.LAPSED,
        CertState.EXPIRED,
        CertState.SUPERSEDED,
    }
)
_TERMINAL_FOR: Final = {
    StatusEventKind.REVOKE: CertState.REVOKED,
    StatusEventKind.SURRENDER: CertState.SURRENDERED,
    StatusEventKind.LAPSE: CertState.LAPSED,
    StatusEventKind.EXPIRE: CertState.EXPIRED,
}


def _time(value: CborValue, what: str) -> int:
    return f.uint(value, what)


def _id(value: CborValue, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what}: expected a byte string")
    if len(value) != 32:
        raise ModelError(f"{what}: must be 32 bytes")
    return value


E = TypeVar("E", bound=StrEnum)


def _enum(kind: type[E], value: CborValue, what: str) -> E:
    if not isinstance(value, str):
        raise DecodeError(f"{what}: expected a text string")
    try:
        return kind(value)
    except ValueError:
        raise ModelError(f"{what}: unknown value {value!r}") from None


def _check_canonical(data: bytes, encoded: bytes, what: str) -> None:
    if data != encoded:
        raise DecodeError(f"{what} is not in canonical form")


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A change of a certificate's status (spec/events.md §2).

    ``activities`` (suspend and reinstate only) names grants by activity: empty means the
    whole certificate.

    Raises (on construction):
        ModelError: a field is invalid, or a field is given that the kind does not take
            (spec/events.md §2.3).
    """

    kind: StatusEventKind
    certificate_id: bytes
    effective_at: int
    decided_at: int
    reason: ReasonCode | None = None
    reason_text: str | None = None
    activities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _enum(StatusEventKind, str(self.kind), "event kind"))
        _id(self.certificate_id, "certificate id")
        f.check_uint(self.effective_at, "effective at")
        f.check_uint(self.decided_at, "decided at")
        if self.reason is not None:
            object.__setattr__(self, "reason", _enum(ReasonCode, str(self.reason), "reason"))
        if self.reason_text is not None:
            f.text(self.reason_text, "reason text", max_len=4096, multiline=True)
        acts = f.sorted_set(self.activities, "activities")
        if acts and self.kind not in (StatusEventKind.SUSPEND, StatusEventKind.REINSTATE):
            raise ModelError(f"a {self.kind} event applies to the whole certificate")
        if self.kind in (StatusEventKind.SUSPEND, StatusEventKind.REVOKE) and self.reason is None:
            raise ModelError(f"a {self.kind} event needs a reason code")
        object.__setattr__(self, "activities", acts)

    def to_item(self) -> CborValue:
        item: dict[int, CborValue] = {
            0: EVENT_VERSION,
            1: str(self.kind),
            2: self.certificate_id,
            3: self.effective_at,
            4: self.decided_at,
        }
        if self.reason is not None:
            item[5] = str(self.reason)
        if self.reason_text is not None:
            item[6] = self.reason_text
        if self.activities:
            item[7] = list(self.activities)
        return item

    def to_cbor(self) -> bytes:
        return codec.encode(self.to_item())

    @classmethod
    def from_cbor(cls, data: bytes) -> StatusEvent:
        """Decode a status-event payload.

        Raises:
            DecodeError: not canonical, unknown or missing key, wrong type, version.
            ModelError: a value breaks a rule of spec/events.md §2.
        """
        m = f.fields(
            codec.decode(data, max_size=16_384), "status event", (0, 1, 2, 3, 4), (5, 6, 7)
        )
        if type(m[0]) is not int or m[0] != EVENT_VERSION:
            raise DecodeError(f"status event version {m[0]!r} is not supported")
        acts = m.get(7)
        if acts is not None:
            acts = f.array(acts, "activities")
            if not all(isinstance(a, str) for a in acts):
                raise DecodeError("activities: expected text strings")
        event = cls(
            kind=_enum(StatusEventKind, m[1], "event kind"),
            certificate_id=_id(m[2], "certificate id"),
            effective_at=_time(m[3], "effective at"),
            decided_at=_time(m[4], "decided at"),
            reason=_enum(ReasonCode, m[5], "reason") if 5 in m else None,
            reason_text=f.text(m[6], "reason text", max_len=4096, multiline=True)
            if 6 in m
            else None,
            activities=tuple(acts or ()),
        )
        _check_canonical(data, event.to_cbor(), "status event")
        return event

    def sign(self, signer: signing.Signer) -> bytes:
        """This event as a COSE_Sign1 of kind status-event (spec/events.md §2)."""
        return signing.sign1(
            signer, content_type=signing.CONTENT_TYPES["status-event"], payload=self.to_cbor()
        )


class KeyEventKind(StrEnum):
    """spec/events.md §3.1."""

    DELEGATE = "delegate"
    REVOKE_KEY = "revoke-key"


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key event, signed by the authority root key (spec/events.md §3).

    ``delegate``: the root delegates issuing authority to ``public_key`` for
    ``[valid_from, valid_until)`` within ``scope``. ``revoke-key``: the key may no longer
    sign; certificates it signed that are logged at index ``invalidate_from`` or later are
    invalid (spec/events.md §3.3).

    Raises (on construction):
        ModelError: a field is invalid or does not fit the kind.
    """

    kind: KeyEventKind
    public_key: bytes
    effective_at: int
    decided_at: int
    label: str | None = None
    valid_until: int | None = None
    scope: Scope | None = None
    reason: ReasonCode | None = None
    invalidate_from: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _enum(KeyEventKind, str(self.kind), "key event kind"))
        if (
            not isinstance(self.public_key, bytes)
            or len(self.public_key) != signing.PUBLIC_KEY_SIZE
        ):
            raise ModelError("key event: an Ed25519 public key is 32 bytes")
        f.check_uint(self.effective_at, "effective at")
        f.check_uint(self.decided_at, "decided at")
        if self.label is not None:
            f.text(self.label, "key label", max_len=128)
        if self.kind is KeyEventKind.DELEGATE:
            if self.scope is None or not isinstance(self.scope, Scope):
                raise ModelError("a delegation needs a scope")
            if self.valid_until is None:
                raise ModelError("a delegation needs valid until")
            f.check_uint(self.valid_until, "valid until")
            if self.valid_until <= self.effective_at:
                raise ModelError("valid until must be after the delegation takes effect")
            if self.reason is not None or self.invalidate_from is not None:
                raise ModelError("a delegation has no reason or invalidate-from")
        else:
            if self.scope is not None or self.valid_until is not None:
                raise ModelError("a key revocation has no scope or validity")
            if self.reason is None:
                raise ModelError("a key revocation needs a reason code")
            object.__setattr__(self, "reason", _enum(ReasonCode, str(self.reason), "reason"))
            if self.invalidate_from is None:
                raise ModelError("a key revocation needs invalidate-from (a log index)")
            f.check_uint(self.invalidate_from, "invalidate from")

    @property
    def key_id(self) -> bytes:
        """The RFC 9679 key id of :attr:`public_key` (spec/signing.md §5)."""
        return signing.key_id(self.public_key)

    def to_item(self) -> CborValue:
        item: dict[int, CborValue] = {
            0: EVENT_VERSION,
            1: str(self.kind),
            2: self.public_key,
            3: self.effective_at,
            4: self.decided_at,
        }
        if self.label is not None:
            item[5] = self.label
        if self.valid_until is not None:
            item[6] = self.valid_until
        if self.scope is not None:
            item[7] = self.scope.to_item()
        if self.reason is not None:
            item[8] = str(self.reason)
        if self.invalidate_from is not None:
            item[9] = self.invalidate_from
        return item

    def to_cbor(self) -> bytes:
        return codec.encode(self.to_item())

    @classmethod
    def from_cbor(cls, data: bytes) -> KeyEvent:
        """Decode a key-event payload.

        Raises:
            DecodeError: not canonical, unknown or missing key, wrong type, version.
            ModelError: a value breaks a rule of spec/events.md §3.
        """
        m = f.fields(
            codec.decode(data, max_size=60_000), "key event", (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
        )
        if type(m[0]) is not int or m[0] != EVENT_VERSION:
            raise DecodeError(f"key event version {m[0]!r} is not supported")
        if not isinstance(m[2], bytes):
            raise DecodeError("key event public key: expected a byte string")
        event = cls(
            kind=_enum(KeyEventKind, m[1], "key event kind"),
            public_key=m[2],
            effective_at=_time(m[3], "effective at"),
            decided_at=_time(m[4], "decided at"),
            label=f.text(m[5], "key label", max_len=128) if 5 in m else None,
            valid_until=_time(m[6], "valid until") if 6 in m else None,
            scope=Scope.from_item(m[7]) if 7 in m else None,
            reason=_enum(ReasonCode, m[8], "reason") if 8 in m else None,
            invalidate_from=f.uint(m[9], "invalidate from") if 9 in m else None,
        )
        _check_canonical(data, event.to_cbor(), "key event")
        return event

    def sign(self, root_signer: signing.Signer) -> bytes:
        """This event as a COSE_Sign1 of kind key-event, signed by the authority root."""
        return signing.sign1(
            root_signer, content_type=signing.CONTENT_TYPES["key-event"], payload=self.to_cbor()
        )


# ---------------------------------------------------------------------------------------
# Certificate state machine (spec/events.md §4)


@dataclass(frozen=True, slots=True)
class Transition:
    """One past state of a certificate: ``state`` from ``since``, set by entry ``index``."""

    state: CertState
    since: int
    index: int


@dataclass(frozen=True, slots=True)
class CertStatus:
    """A certificate's status record (spec/events.md §4, spec/revocation.md §5).

    ``index`` is the log index of the entry that set the current state, ``since`` its
    effective time. ``suspended`` lists suspended grants' activities while the state is
    active (partial suspension). ``history`` holds earlier transitions, oldest first, at
    most :data:`MAX_HISTORY`.
    """

    state: CertState
    since: int
    index: int
    issued_index: int
    issued_at: int
    reason: ReasonCode | None = None
    successor: bytes | None = None
    suspended: tuple[str, ...] = ()
    history: tuple[Transition, ...] = ()

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def to_item(self) -> CborValue:
        item: dict[int, CborValue] = {
            0: str(self.state),
            1: self.since,
            2: self.index,
            3: self.issued_index,
            4: self.issued_at,
        }
        if self.reason is not None:
            item[5] = str(self.reason)
        if self.successor is not None:
            item[6] = self.successor
        if self.suspended:
            item[7] = list(self.suspended)
        if self.history:
            item[8] = [[str(t.state), t.since, t.index] for t in self.history]
        return item

    def to_cbor(self) -> bytes:
        return codec.encode(self.to_item())

    @classmethod
    def from_cbor(cls, data: bytes) -> CertStatus:
        """Decode a status record (as carried in a status-map proof).

        Raises:
            DecodeError: malformed or not canonical.
            ModelError: a value out of range.
        """
        m = f.fields(
            codec.decode(data, max_size=1024), "status record", (0, 1, 2, 3, 4), (5, 6, 7, 8)
        )
        history: list[Transition] = []
        if 8 in m:
            for t in f.array(m[8], "history", max_items=MAX_HISTORY):
                if not isinstance(t, list) or len(t) != 3:
                    raise DecodeError("history entry: expected [state, since, index]")
                history.append(
                    Transition(
                        _enum(CertState, t[0], "state"),
                        f.uint(t[1], "since"),
                        f.uint(t[2], "index"),
                    )
                )
        suspended = m.get(7)
        if suspended is not None:
            suspended = f.array(suspended, "suspended")
            if not all(isinstance(a, str) for a in suspended):
                raise DecodeError("suspended: expected text strings")
        record = cls(
            state=_enum(CertState, m[0], "state"),
            since=f.uint(m[1], "since"),
            index=f.uint(m[2], "index"),
            issued_index=f.uint(m[3], "issued index"),
            issued_at=f.uint(m[4], "issued at"),
            reason=_enum(ReasonCode, m[5], "reason") if 5 in m else None,
            successor=_id(m[6], "successor") if 6 in m else None,
            suspended=tuple(suspended or ()),
            history=tuple(history),
        )
        _check_canonical(data, record.to_cbor(), "status record")
        return record

    def state_at(self, at: int) -> CertState | None:
        """The state in force at time ``at`` (spec/events.md §4.4).

        None when ``at`` is before the first recorded state: either before the
        certificate took effect, or — if older transitions were dropped from a full
        history — a time this record cannot speak for.
        """
        if at >= self.since:
            return self.state
        for t in reversed(self.history):
            if at >= t.since:
                return t.state
        return None


def initial_status(*, index: int, issued_at: int) -> CertStatus:
    """The record a certificate gets when its issuance is logged at ``index``: active
    since its issuance (whether it is yet *valid* is its validity window's business,
    spec/certificate.md §3.5)."""
    return CertStatus(CertState.ACTIVE, issued_at, index, index, issued_at)


def _moved(record: CertStatus, **changes: object) -> CertStatus:
    history = (*record.history, Transition(record.state, record.since, record.index))
    return replace(record, history=history[-MAX_HISTORY:], **changes)  # type: ignore[arg-type]


def _check_time(record: CertStatus, effective_at: int, what: str) -> None:
    # spec/events.md §4.2 rules 2 and 3.
    if effective_at < record.issued_at:
        raise TransitionError(f"{what}: effective before the certificate was issued")
    if effective_at < record.since:
        raise TransitionError(f"{what}: effective before the current state took effect")


def apply_status_event(record: CertStatus | None, event: StatusEvent, *, index: int) -> CertStatus:
    """The record after ``event``, logged at ``index`` (spec/events.md §4.2).

    Raises:
        TransitionError: the certificate is unknown (``record`` is None) or in a terminal
            state, the event does not apply in its state, or its effective time is before
            the certificate's issuance or its current state.
    """
    what = f"{event.kind} of {event.certificate_id.hex()[:16]}…"
    if record is None:
        raise TransitionError(f"{what}: no such certificate in the log")
    if record.terminal:
        raise TransitionError(f"{what}: certificate is already {record.state}")
    _check_time(record, event.effective_at, what)
    kind = event.kind
    if kind in _TERMINAL_FOR:
        return _moved(
            record,
            state=_TERMINAL_FOR[kind],
            since=event.effective_at,
            index=index,
            reason=event.reason,
            suspended=(),
        )
    if kind is StatusEventKind.SUSPEND:
        if record.state is CertState.SUSPENDED:
            raise TransitionError(f"{what}: certificate is already suspended")
        if event.activities:
            already = set(record.suspended) & set(event.activities)
            if already:
                raise TransitionError(f"{what}: grants already suspended: {sorted(already)}")
            return _moved(
                record,
                since=event.effective_at,
                index=index,
                reason=event.reason,
                suspended=tuple(sorted({*record.suspended, *event.activities})),
            )
        return _moved(
            record,
            state=CertState.SUSPENDED,
            since=event.effective_at,
            index=index,
            reason=event.reason,
        )
    # REINSTATE
    if event.activities:
        if record.state is CertState.SUSPENDED:
            raise TransitionError(f"{what}: the whole certificate is suspended; reinstate it whole")
        missing = set(event.activities) - set(record.suspended)
        if missing:
            raise TransitionError(f"{what}: grants not suspended: {sorted(missing)}")
        left = tuple(a for a in record.suspended if a not in event.activities)
        return _moved(record, since=event.effective_at, index=index, reason=None, suspended=left)
    if record.state is not CertState.SUSPENDED and not record.suspended:
        raise TransitionError(f"{what}: certificate is not suspended")
    return _moved(
        record,
        state=CertState.ACTIVE,
        since=event.effective_at,
        index=index,
        reason=None,
        suspended=(),
    )


def apply_supersession(
    record: CertStatus | None, *, successor: bytes, effective_at: int, index: int
) -> CertStatus:
    """The predecessor's record after a successor certificate naming it in an
    ``upgrades`` or ``supersedes`` edge is logged at ``index`` (spec/events.md §4.3).

    Raises:
        TransitionError: the predecessor is unknown or already in a terminal state, or the
            successor takes effect before the predecessor was issued.
    """
    what = f"supersession by {successor.hex()[:16]}…"
    if record is None:
        raise TransitionError(f"{what}: predecessor is not in the log")
    if record.terminal:
        raise TransitionError(f"{what}: predecessor is already {record.state}")
    _check_time(record, effective_at, what)
    return _moved(
        record,
        state=CertState.SUPERSEDED,
        since=effective_at,
        index=index,
        successor=successor,
        reason=None,
        suspended=(),
    )


# ---------------------------------------------------------------------------------------
# Key state (spec/events.md §3.3)


class KeyState(StrEnum):
    DELEGATED = "delegated"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """A delegated key's record: its delegation entry and, once revoked, from which log
    index its certificates are invalid."""

    state: KeyState
    delegated_index: int
    invalidate_from: int | None = None
    revoked_index: int | None = None

    def to_item(self) -> CborValue:
        item: dict[int, CborValue] = {0: str(self.state), 1: self.delegated_index}
        if self.invalidate_from is not None:
            item[2] = self.invalidate_from
        if self.revoked_index is not None:
            item[3] = self.revoked_index
        return item

    def to_cbor(self) -> bytes:
        return codec.encode(self.to_item())

    @classmethod
    def from_cbor(cls, data: bytes) -> KeyStatus:
        """Raises: DecodeError, ModelError."""
        m = f.fields(codec.decode(data, max_size=256), "key record", (0, 1), (2, 3))
        record = cls(
            _enum(KeyState, m[0], "key state"),
            f.uint(m[1], "delegated index"),
            f.uint(m[2], "invalidate from") if 2 in m else None,
            f.uint(m[3], "revoked index") if 3 in m else None,
        )
        _check_canonical(data, record.to_cbor(), "key record")
        return record

    def may_sign_at(self, index: int) -> bool:
        """Whether a certificate by this key logged at ``index`` is valid as far as the
        key's status goes (spec/events.md §3.3)."""
        if index <= self.delegated_index:
            return False
        return self.invalidate_from is None or index < self.invalidate_from


def apply_key_event(record: KeyStatus | None, event: KeyEvent, *, index: int) -> KeyStatus:
    """The key's record after ``event`` logged at ``index`` (spec/events.md §3.3).

    Raises:
        TransitionError: a second delegation of the same key, a revocation of a key that
            is not delegated or already revoked, or ``invalidate_from`` after ``index``
            or not after the delegation.
    """
    if event.kind is KeyEventKind.DELEGATE:
        if record is not None:
            raise TransitionError("this key was already delegated; delegate a new key instead")
        return KeyStatus(KeyState.DELEGATED, index)
    if record is None:
        raise TransitionError("cannot revoke a key that was never delegated")
    if record.state is KeyState.REVOKED:
        raise TransitionError("key is already revoked")
    assert event.invalidate_from is not None  # guaranteed by KeyEvent.__post_init__
    if event.invalidate_from > index:
        raise TransitionError("invalidate-from cannot be after the revocation itself")
    if event.invalidate_from <= record.delegated_index:
        raise TransitionError("invalidate-from must be after the delegation")
    return KeyStatus(KeyState.REVOKED, record.delegated_index, event.invalidate_from, index)
