"""The auditor's state machine (spec/audit.md): follow a published log incrementally.

An auditor holds an :class:`AuditState`: the last checkpoint it audited (verbatim), the right
edge of the Merkle tree of the entries replayed so far (enough to extend the tree without
the entries, spec/audit.md §3), and the replay state of spec/events.md §5 — certificate and
key records, and the entries later rules read back (delegations and certificates). From a
newly fetched checkpoint and the entries ``[size, new size)`` it recomputes the tree root and
the status-map root (spec/revocation.md §6) and compares them with the signed lines.

The procedure is split so that an edge can fetch in chunks and persist between them:

1. :func:`open_target` verifies the new checkpoint under the trust policy and compares it
   with the audited one (rollback, same-size fork, backdating);
2. :func:`begin` checks the consistency proof from the audited tree to the new one and
   records the new checkpoint as the state's *target*;
3. :func:`advance` applies entries to the replay (any number of calls, any chunking);
4. :func:`finish` compares the roots and makes the target the audited checkpoint.

A state with a target is never *audited* past its checkpoint: the target counts only after
:func:`finish`. :func:`audit` runs the four steps at once.

This module is pure: bytes in, a new state or a typed error out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final

from noc_ledger import codec, merkle, signing, statusmap
from noc_ledger.checkpoint import (
    Checkpoint,
    VerifiedCheckpoint,
    decode_checkpoint_note,
    open_checkpoint,
    verify_cosignatures,
)
from noc_ledger.errors import (
    ConsistencyError,
    DecodeError,
    InclusionError,
    InconsistencyError,
    ModelError,
    NocLedgerError,
    OutOfRangeError,
    QuorumError,
    ScopeError,
    SignatureError,
    StatusRootError,
    TransitionError,
)
from noc_ledger.events import CertStatus, KeyEvent, KeyStatus
from noc_ledger.logstate import MAX_ENTRY_SIZE, Authority, apply_entry, decode_key_event
from noc_ledger.note import MAX_NOTE_SIZE, decode_note
from noc_ledger.policy import TrustPolicy

__all__ = [
    "AUDIT_STATE_VERSION",
    "MAX_STATE_SIZE",
    "AuditState",
    "advance",
    "audit",
    "begin",
    "decode_state",
    "encode_state",
    "finish",
    "initial_state",
    "open_target",
    "tree_root_matches",
]

#: spec/audit.md §2: the version marker (key 0) of the state encoding.
AUDIT_STATE_VERSION: Final = 1
#: spec/audit.md §2: a state larger than this is refused before it is read.
MAX_STATE_SIZE: Final = 1 << 30
_MAX_DEPTH: Final = 4
_HASH: Final = 32
_CT: Final = signing.CONTENT_TYPES
#: Entries the rules of spec/events.md §5 may read back later: a delegation (the key it
#: delegates signs later entries) and a certificate (a successor's edge or a grant
#: suspension names it). Status events are never read back.
_KEPT_KINDS: Final = frozenset({_CT["key-event"], _CT["certificate"]})


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _edge_root(edge: Sequence[bytes]) -> bytes:
    """The RFC 9162 root from the right edge: the complete subtrees tiling ``[0, n)``,
    largest (leftmost) first, folded right to left (spec/log.md §3.2)."""
    if not edge:
        return merkle.EMPTY_ROOT
    h = edge[-1]
    for left in reversed(edge[:-1]):
        h = _node(left, h)
    return h


def _edge_append(edge: list[bytes], n: int, entry: bytes) -> None:
    """Extend the right edge of a tree of ``n`` leaves by one entry: each trailing one bit
    of ``n`` is a complete subtree the new leaf completes (spec/log.md §6.3)."""
    h = merkle.leaf_hash(entry)
    while n & 1:
        h = _node(edge.pop(), h)
        n >>= 1
    edge.append(h)


@dataclass(frozen=True, slots=True)
class AuditState:
    """What an auditor keeps between runs (spec/audit.md §2). Immutable: every step returns
    a new state. Build with :func:`initial_state` or :func:`decode_state`.

    Fields:
        origin: the log followed, or ``None`` before the first checkpoint.
        checkpoint: the last audited checkpoint note, verbatim (empty before the first).
        size, root, status_root, time: that checkpoint's lines (size 0, the empty roots and
            time 0 before the first).
        position: how many entries were replayed (``size``, or more while a target is
            being audited).
        edge: the right edge of the Merkle tree of the first ``position`` entries.
        certs, keys: the certificate and key records after ``position`` entries.
        kept: the entries the rules may read back, by index.
        target: the checkpoint being audited towards, verbatim, or empty.
    """

    origin: str | None
    checkpoint: bytes
    size: int
    root: bytes
    status_root: bytes
    time: int
    position: int
    edge: tuple[bytes, ...]
    certs: Mapping[bytes, CertStatus]
    keys: Mapping[bytes, KeyStatus]
    kept: Mapping[int, bytes]
    target: bytes = b""
    _target_cp: Checkpoint | None = field(default=None, compare=False, repr=False)

    @property
    def target_checkpoint(self) -> Checkpoint | None:
        """The target's parsed lines (verified when :func:`begin` accepted it)."""
        return self._target_cp

    @property
    def audited_entries(self) -> int:
        """Entries covered by the audited checkpoint (``size``)."""
        return self.size


def initial_state() -> AuditState:
    """The state of an auditor that has seen nothing: size 0, no checkpoint."""
    return AuditState(
        origin=None,
        checkpoint=b"",
        size=0,
        root=merkle.EMPTY_ROOT,
        status_root=statusmap.EMPTY_ROOT,
        time=0,
        position=0,
        edge=(),
        certs=MappingProxyType({}),
        keys=MappingProxyType({}),
        kept=MappingProxyType({}),
    )


# ---------------------------------------------------------------------------------------
# Steps 1-2: the new checkpoint (spec/audit.md §4 steps 1-6)


def _origin_of(note: bytes) -> str:
    """The first line of a note, to find the log's key in the policy. Nothing is trusted
    from it: the signature is then checked under the key the policy names for it."""
    text = decode_note(note).text
    return text.split("\n", 1)[0]


def _inconsistent(message: str, first: bytes, second: bytes) -> InconsistencyError:
    return InconsistencyError(message, first=first, second=second)


def open_target(policy: TrustPolicy, state: AuditState, note: bytes) -> VerifiedCheckpoint:
    """Verify a fetched checkpoint and compare it with the audited one (spec/audit.md §4
    steps 1-4).

    Raises:
        DecodeError: the note is malformed or too large.
        SignatureError: the policy trusts no log of the note's origin, the origin is not the
            audited log's, or the log's signature does not verify.
        QuorumError: the policy requires a witness quorum the cosignatures do not meet, or a
            known witness's cosignature does not verify.
        InconsistencyError: the checkpoint is smaller than the audited one, has its size
            with another root or status root, or is larger with an earlier time; ``first``
            is the audited note and ``second`` this one.
    """
    if not isinstance(note, bytes) or len(note) > MAX_NOTE_SIZE:
        raise DecodeError(f"a checkpoint note is bytes of at most {MAX_NOTE_SIZE}")
    origin = state.origin if state.origin is not None else _origin_of(note)
    log_key = policy.log_for(origin)
    if log_key is None:
        raise SignatureError(f"the trust policy has no log {origin!r}")
    # The signature is verified over the bytes received before the body is trusted
    # (spec/checkpoint.md §4.3); origin and key come from the state and the policy.
    verified = open_checkpoint(note, origin=origin, log_key=log_key)
    if policy.quorum is not None:
        try:
            cosigned = verify_cosignatures(verified, list(policy.witnesses.values()))
        except SignatureError as exc:
            raise QuorumError(f"a witness cosignature does not verify: {exc}") from None
        names = sorted({c.name for c in cosigned})
        if not policy.quorum_satisfied(names):
            raise QuorumError(f"witness quorum not met (cosigned by: {', '.join(names) or 'none'})")
    cp = verified.checkpoint
    if state.checkpoint:
        if cp.size < state.size:
            # spec/audit.md §5: a rollback; if it was signed later than the audited one it
            # is also proof that the log signed decreasing sizes (checkpoint.md §3.4).
            raise _inconsistent(
                f"the log's checkpoint has size {cp.size}, smaller than the audited {state.size}",
                state.checkpoint,
                note,
            )
        if cp.size == state.size and (cp.root != state.root or cp.status_root != state.status_root):
            which = "root" if cp.root != state.root else "status root"
            raise _inconsistent(
                f"two checkpoints of size {cp.size} with different {which}s",
                state.checkpoint,
                note,
            )
        if cp.size > state.size and cp.time < state.time:
            raise _inconsistent(
                f"a larger checkpoint (size {cp.size}) signed at an earlier time "
                f"({cp.time} < {state.time})",
                state.checkpoint,
                note,
            )
    return verified


def begin(
    state: AuditState, target: VerifiedCheckpoint, *, consistency_proof: Sequence[bytes]
) -> AuditState:
    """Start auditing towards ``target`` (from :func:`open_target` on this state).

    ``consistency_proof`` is the RFC 9162 proof from the audited size to the target's size
    (empty when either is 0 or they are equal); sizes and roots come from the two verified
    checkpoints, never from the proof (spec/audit.md §4 step 5). A target of the audited size
    replaces the audited note when it is at least as recent (a re-signed, fresher
    checkpoint of the same tree) and needs no entries.

    Raises:
        OutOfRangeError: the state already has another target (finish it first), or
            ``target`` is not from :func:`open_target`.
        InconsistencyError: the proof does not verify: no consistent history leads from the
            audited checkpoint to the target (``first``/``second`` as in :func:`open_target`).
    """
    if not isinstance(target, VerifiedCheckpoint):
        raise OutOfRangeError("begin takes the VerifiedCheckpoint from open_target")
    cp = target.checkpoint
    if state.target:
        if state.target == target.note:
            return state
        raise OutOfRangeError("the state is already auditing towards another checkpoint")
    if state.checkpoint and cp.size <= state.size:
        if cp.size < state.size or cp.root != state.root or cp.status_root != state.status_root:
            raise OutOfRangeError("begin takes a checkpoint open_target accepted for this state")
        if cp.time >= state.time:
            return replace(state, checkpoint=target.note, time=cp.time)
        return state
    if state.size > 0:
        try:
            merkle.verify_consistency(
                size1=state.size,
                size2=cp.size,
                root1=state.root,
                root2=cp.root,
                proof=list(consistency_proof),
            )
        except (ConsistencyError, TypeError) as exc:
            raise _inconsistent(
                f"no consistency from the audited size {state.size} to {cp.size}: {exc}",
                state.checkpoint,
                target.note,
            ) from None
    return replace(state, origin=cp.origin, target=target.note, _target_cp=cp)


# ---------------------------------------------------------------------------------------
# Step 3: the entries (spec/audit.md §4 step 7)


class _View:
    """logstate.StateView over a state being advanced (copies: the old state is kept)."""

    def __init__(self, state: AuditState) -> None:
        self.certs: dict[bytes, CertStatus] = dict(state.certs)
        self.keys: dict[bytes, KeyStatus] = dict(state.keys)
        self.kept: dict[int, bytes] = dict(state.kept)
        self._events: dict[int, KeyEvent] = {}

    def cert_status(self, cert_id: bytes) -> CertStatus | None:
        return self.certs.get(cert_id)

    def key_status(self, key_id: bytes) -> KeyStatus | None:
        return self.keys.get(key_id)

    def entry(self, index: int) -> bytes:
        found = self.kept.get(index)
        if found is None:
            # Only delegations and certificates are ever read back (logstate), and every
            # one of them is kept; a reference to anything else is the log's error.
            raise TransitionError(f"entry {index} is not a certificate or key event")
        return found

    def key_event(self, index: int) -> KeyEvent:
        event = self._events.get(index)
        if event is None:
            event = decode_key_event(self.entry(index))
            self._events[index] = event
        return event


#: spec/audit.md §4 step 7: the rule each error class reports.
_RULES: Final[tuple[tuple[type[NocLedgerError], str], ...]] = (
    (DecodeError, "encoding"),
    (SignatureError, "signature and key chain"),
    (ScopeError, "scope"),
    (TransitionError, "lifecycle transition"),
    (ModelError, "model"),
)


def _entry_error(index: int, exc: NocLedgerError) -> NocLedgerError:
    rule = next(name for kind, name in _RULES if isinstance(exc, kind))
    return type(exc)(f"entry {index} breaks the {rule} rule: {exc}")


def _authority(policy: TrustPolicy, entry: bytes) -> Authority:
    """The root a key event must be signed by: the policy's root whose key id the envelope
    names (spec/policy.md §7.1); other entries do not use it. When none matches, the first
    root is used and its signature check fails."""
    roots = policy.roots
    if len(roots) == 1:
        return Authority(roots[0].public_key, roots[0].scope)
    try:
        envelope = signing.decode_sign1(entry)
    except NocLedgerError:
        envelope = None  # apply_entry reports it
    if envelope is not None and envelope.content_type == _CT["key-event"]:
        for root in roots:
            if signing.key_id(root.public_key) == envelope.key_id:
                return Authority(root.public_key, root.scope)
    return Authority(roots[0].public_key, roots[0].scope)


def advance(policy: TrustPolicy, state: AuditState, entries: Sequence[bytes]) -> AuditState:
    """Replay ``entries`` as the entries at ``position``, ``position + 1``, … under the rules
    of spec/events.md §5 and extend the tree's right edge with them.

    Raises:
        OutOfRangeError: the state has no target, or the entries go past its size.
        DecodeError, SignatureError, ScopeError, TransitionError, ModelError: an entry
            breaks a rule; the message names its index and the rule. A certificate logged
            twice is a TransitionError (a log never appends one).
    """
    target = state.target_checkpoint
    if target is None:
        raise OutOfRangeError("advance needs a target checkpoint (begin)")
    if isinstance(entries, bytes | str) or state.position + len(entries) > target.size:
        raise OutOfRangeError(
            f"{len(entries)} entries from {state.position} go past the target size {target.size}"
        )
    view = _View(state)
    edge = list(state.edge)
    n = state.position
    for entry in entries:
        try:
            if not isinstance(entry, bytes) or len(entry) > MAX_ENTRY_SIZE:
                raise DecodeError(f"an entry is bytes of at most {MAX_ENTRY_SIZE}")
            applied = apply_entry(view, entry, index=n, authority=_authority(policy, entry))
            if applied.duplicate_of is not None:
                raise TransitionError(f"certificate already logged at {applied.duplicate_of}")
        except (DecodeError, SignatureError, ScopeError, ModelError) as exc:
            raise _entry_error(n, exc) from None
        for key, record in applied.changes.items():
            if isinstance(record, KeyStatus):
                view.keys[key] = record
            else:
                view.certs[key] = record
        if applied.kind in ("key-event", "certificate"):
            view.kept[n] = entry
        _edge_append(edge, n, entry)
        n += 1
    return replace(
        state,
        position=n,
        edge=tuple(edge),
        certs=MappingProxyType(view.certs),
        keys=MappingProxyType(view.keys),
        kept=MappingProxyType(view.kept),
    )


# ---------------------------------------------------------------------------------------
# Step 4: the roots (spec/audit.md §4 steps 8-10)


def tree_root_matches(state: AuditState) -> bool:
    """Whether the entries replayed so far give the target's tree root (a progress check
    for tools; :func:`finish` is the verdict)."""
    target = state.target_checkpoint
    return target is not None and _edge_root(state.edge) == target.root


def _status_items(state: AuditState) -> dict[bytes, bytes]:
    items = {k: v.to_cbor() for k, v in state.certs.items()}
    items.update((k, v.to_cbor()) for k, v in state.keys.items())
    return items


def finish(state: AuditState) -> AuditState:
    """Compare the replay with the target and make it the audited checkpoint.

    Raises:
        OutOfRangeError: no target, or not all of its entries were replayed.
        InclusionError: the entries replayed do not give the target's tree root; since
            :func:`begin` verified that the target extends the audited tree, the entries
            served are not the log's.
        StatusRootError: the entries give the tree root but not the status-map root the
            checkpoint signed (spec/revocation.md §6): the log committed to a wrong map.
    """
    target = state.target_checkpoint
    if target is None:
        raise OutOfRangeError("finish needs a target checkpoint (begin)")
    if state.position != target.size:
        raise OutOfRangeError(f"{state.position} of the target's {target.size} entries replayed")
    root = _edge_root(state.edge)
    if root != target.root:
        raise InclusionError(
            f"the entries [{state.size}, {target.size}) served do not give the checkpoint's "
            f"root (expected {target.root.hex()}, computed {root.hex()})"
        )
    # spec/revocation.md §4.3: from scratch, about three hashes per record.
    status_root = statusmap.root_of(_status_items(state))
    if status_root != target.status_root:
        raise StatusRootError(
            f"the checkpoint of size {target.size} signs status root "
            f"{target.status_root.hex()}, the entries give {status_root.hex()}"
        )
    return replace(
        state,
        checkpoint=state.target,
        size=target.size,
        root=target.root,
        status_root=target.status_root,
        time=target.time,
        target=b"",
        _target_cp=None,
    )


def audit(
    policy: TrustPolicy,
    state: AuditState,
    note: bytes,
    entries: Sequence[bytes],
    *,
    consistency_proof: Sequence[bytes] = (),
) -> AuditState:
    """All four steps at once: audit ``note`` with the entries ``[state.size, its size)``.

    Raises:
        everything :func:`open_target`, :func:`begin`, :func:`advance` and :func:`finish`
        raise; OutOfRangeError also when ``entries`` is not exactly the missing range.
    """
    if state.target:
        raise OutOfRangeError("the state has an unfinished target")
    target = open_target(policy, state, note)
    started = begin(state, target, consistency_proof=consistency_proof)
    if not started.target:
        if entries:
            raise OutOfRangeError("no entries are missing")
        return started
    started = advance(policy, started, entries)
    return finish(started)


# ---------------------------------------------------------------------------------------
# Encoding (spec/audit.md §2)


def encode_state(state: AuditState) -> bytes:
    """The deterministic CBOR encoding of ``state`` (spec/audit.md §2).

    Raises:
        EncodeError: the state holds a value outside the profile (not from this module).
    """
    item: dict[int, object] = {
        0: AUDIT_STATE_VERSION,
        1: state.checkpoint,
        2: state.position,
        3: list(state.edge),
        4: [[k, state.certs[k].to_cbor()] for k in sorted(state.certs)],
        5: [[k, state.keys[k].to_cbor()] for k in sorted(state.keys)],
        6: [[i, state.kept[i]] for i in sorted(state.kept)],
    }
    if state.target:
        item[7] = state.target
    return codec.encode(item)


def _pairs(
    value: object, what: str, kind: type[bytes] | type[int]
) -> Iterable[tuple[object, object]]:
    """``[key, value]`` pairs with keys of ``kind`` in strictly increasing order: one
    encoding per map (spec/audit.md §2; CBOR map keys of the profile cannot be bytes)."""
    items = codec.require_array(value, what)
    previous: bytes | int | None = None
    for pair in items:
        if not isinstance(pair, list) or len(pair) != 2 or type(pair[0]) is not kind:
            raise DecodeError(f"{what}: expected [key, value] pairs")
        key: bytes | int = pair[0]
        if previous is not None and not key > previous:  # type: ignore[operator]
            raise DecodeError(f"{what}: keys not in strictly increasing order")
        previous = key
        yield key, pair[1]


def _note_lines(note: object, what: str) -> Checkpoint:
    if not isinstance(note, bytes) or not note or len(note) > MAX_NOTE_SIZE:
        raise DecodeError(f"{what}: a checkpoint note of 1 to {MAX_NOTE_SIZE} bytes")
    return decode_checkpoint_note(note)


def decode_state(data: bytes) -> AuditState:
    """Decode a state strictly: canonical CBOR, version 1, every part well-formed and the
    parts consistent with each other (spec/audit.md §2). The notes are parsed, not
    verified: :func:`open_target` verifies what comes next against them.

    Raises:
        DecodeError: anything else, including a state whose records do not give the audited
            checkpoint's status root (when it has no target) or whose right edge does not
            give its tree root.
    """
    try:
        return _decode_state(data)
    except DecodeError:
        raise
    except NocLedgerError as exc:  # ModelError and friends from the records
        raise DecodeError(f"audit state: {exc}") from None


def _decode_state(data: bytes) -> AuditState:
    raw = codec.decode(data, max_size=MAX_STATE_SIZE, max_depth=_MAX_DEPTH)
    m = codec.require_map(raw, "audit state")
    if set(m) - {0, 1, 2, 3, 4, 5, 6, 7} or not {0, 1, 2, 3, 4, 5, 6} <= set(m):
        raise DecodeError("audit state: keys 0 to 6 and optionally 7")
    if m[0] != AUDIT_STATE_VERSION or type(m[0]) is not int:
        raise DecodeError(f"audit state: version {m[0]!r} is not {AUDIT_STATE_VERSION}")
    position = m[2]
    if type(position) is not int or position < 0:
        raise DecodeError("audit state: position is an unsigned integer")
    edge = codec.require_array(m[3], "edge")
    if len(edge) != position.bit_count() or not all(
        isinstance(h, bytes) and len(h) == _HASH for h in edge
    ):
        raise DecodeError("audit state: the edge is one 32-byte hash per one bit of position")
    certs: dict[bytes, CertStatus] = {}
    for k, v in _pairs(m[4], "certificate records", bytes):
        if not isinstance(k, bytes) or len(k) != _HASH or not isinstance(v, bytes):
            raise DecodeError("certificate records: [32-byte id, record]")
        certs[k] = CertStatus.from_cbor(v)
    keys: dict[bytes, KeyStatus] = {}
    for k, v in _pairs(m[5], "key records", bytes):
        if not isinstance(k, bytes) or len(k) != _HASH or not isinstance(v, bytes):
            raise DecodeError("key records: [32-byte id, record]")
        keys[k] = KeyStatus.from_cbor(v)
    kept: dict[int, bytes] = {}
    for i, e in _pairs(m[6], "kept entries", int):
        if type(i) is not int or not 0 <= i < position:
            raise DecodeError("kept entries: an index below position")
        if not isinstance(e, bytes) or len(e) > MAX_ENTRY_SIZE:
            raise DecodeError(f"kept entries: an entry of at most {MAX_ENTRY_SIZE} bytes")
        if signing.decode_sign1(e).content_type not in _KEPT_KINDS:
            raise DecodeError(f"kept entries: entry {i} is not a certificate or key event")
        kept[i] = e
    edge_t = tuple(edge)
    root = _edge_root(edge_t)
    state = initial_state()
    if m[1] != b"":
        cp = _note_lines(m[1], "checkpoint")
        if cp.size > position:
            raise DecodeError("audit state: the checkpoint is beyond the position")
        state = replace(
            state,
            origin=cp.origin,
            checkpoint=m[1],
            size=cp.size,
            root=cp.root,
            status_root=cp.status_root,
            time=cp.time,
        )
    elif not isinstance(m[1], bytes):
        raise DecodeError("audit state: the checkpoint is a byte string")
    target_cp: Checkpoint | None = None
    if 7 in m:
        target_cp = _note_lines(m[7], "target")
        if state.origin is not None and target_cp.origin != state.origin:
            raise DecodeError("audit state: the target is another log's checkpoint")
        if not state.size < target_cp.size or position > target_cp.size:
            raise DecodeError("audit state: the target is not beyond the audited size")
    else:
        if position != state.size:
            raise DecodeError("audit state: entries replayed past the checkpoint, no target")
        if root != state.root:
            raise DecodeError("audit state: the edge does not give the checkpoint's root")
    state = replace(
        state,
        origin=state.origin if target_cp is None else target_cp.origin,
        position=position,
        edge=edge_t,
        certs=MappingProxyType(certs),
        keys=MappingProxyType(keys),
        kept=MappingProxyType(kept),
        target=m.get(7, b""),
        _target_cp=target_cp,
    )
    if target_cp is None and statusmap.root_of(_status_items(state)) != state.status_root:
        raise DecodeError("audit state: the records do not give the checkpoint's status root")
    return state
