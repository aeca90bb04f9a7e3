"""The auditor's state machine (spec/audit.md): follow a published log incrementally.

An auditor holds an :class:`AuditState`: a small header — the last checkpoint it audited
(verbatim), the right edge of the Merkle tree of the entries replayed so far (enough to
extend the tree without the entries, spec/audit.md §3), the status-map root of the records
so far and the checkpoint being audited towards — and an :class:`AuditStore` holding
everything that grows with the log: the certificate and key records of spec/events.md §5,
the status map's nodes (kept up to date incrementally, spec/revocation.md §4.2) and the key
events the rules read back. Certificates the rules read back (an upgrade's predecessor, a
grant suspension's certificate) are not kept: the store fetches them again and they are
checked here against the records (spec/audit.md §4 step 7). So the memory an audit needs is
bounded by the chunk of entries being replayed, not by the log.

The procedure is split so that an edge can fetch in chunks and persist between them:

1. :func:`open_target` verifies the new checkpoint under the trust policy and compares it
   with the audited one (rollback, same-size fork, backdating);
2. :func:`begin` checks the consistency proof from the audited tree to the new one and
   records the new checkpoint as the state's *target*;
3. :func:`advance` applies entries to the replay (any number of calls, any chunking) and
   writes what they change to the store;
4. :func:`finish` compares the roots and makes the target the audited checkpoint.

A state with a target is never *audited* past its checkpoint: the target counts only after
:func:`finish`. :func:`audit` runs the four steps at once.

This module is pure: bytes in, a new state or a typed error out; it reads and writes only
through the :class:`AuditStore` it is given (:class:`MemoryAuditStore` here; a database in
``noc_ledger.client.audit_store``). The edge makes each :func:`advance` one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Protocol, TypeVar

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
    FetchError,
    InclusionError,
    InconsistencyError,
    ModelError,
    NocLedgerError,
    OutOfRangeError,
    QuorumError,
    ScopeError,
    SignatureError,
    StatusRootError,
    StorageError,
    TransitionError,
)
from noc_ledger.events import CertStatus, KeyEvent, KeyEventKind, KeyStatus
from noc_ledger.logstate import MAX_ENTRY_SIZE, Authority, apply_entry, decode_key_event
from noc_ledger.model import certificate_id
from noc_ledger.note import MAX_NOTE_SIZE, decode_note
from noc_ledger.policy import TrustPolicy

__all__ = [
    "AUDIT_STATE_VERSION",
    "MAX_STATE_SIZE",
    "ROOT_POSITION",
    "AuditState",
    "AuditStore",
    "MemoryAuditStore",
    "advance",
    "audit",
    "begin",
    "child_position",
    "decode_state",
    "encode_state",
    "finish",
    "initial_state",
    "open_target",
    "tree_root_matches",
]

#: spec/audit.md §2: the version marker (key 0) of the state header.
AUDIT_STATE_VERSION: Final = 2
#: spec/audit.md §2: a header larger than this is refused before it is read (a note of at
#: most 1 MiB twice, the edge and the numbers).
MAX_STATE_SIZE: Final = 2 * MAX_NOTE_SIZE + 4096
_MAX_DEPTH: Final = 2
_HASH: Final = 32
_CT: Final = signing.CONTENT_TYPES
_T = TypeVar("_T")


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


# ---------------------------------------------------------------------------------------
# The store (spec/audit.md §2.1, §6)


class AuditStore(Protocol):
    """Where an audit keeps what grows with the log (spec/audit.md §2.1).

    The status map's current nodes by *position* (spec/audit.md §6.1: an auditor keeps
    only the current tree, so a node's place in the trie names it and an update rewrites
    the rows it changes instead of adding rows under new hashes and deleting old ones),
    the records by id and the key-event entries by index. :func:`advance` reads any of them
    and writes only at the end of a chunk whose every entry passed; an edge wraps each call
    in one transaction. Nodes read are checked against the hashes their parents name
    (spec/revocation.md §4.1 item 3), so a store that answers wrongly is caught. Every
    method raises ``StorageError`` when the store fails.
    """

    def get_nodes_at(self, positions: Sequence[bytes]) -> list[bytes | None]:
        """The stored nodes (spec/revocation.md §4.1) at ``positions``, ``None`` where
        there is none, in order."""
        ...

    def put_nodes_at(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Insert or replace ``(position, stored node)`` rows."""
        ...

    def delete_nodes_at(self, positions: Sequence[bytes]) -> None:
        """Forget the nodes at ``positions`` (no longer in the current tree)."""
        ...

    def get_records(self, kind: int, ids: Sequence[bytes]) -> list[bytes | None]:
        """The encoded records of ``ids`` (``kind`` 0: certificates, 1: keys), ``None``
        where there is none, in order."""
        ...

    def put_records(self, kind: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Insert or replace ``(id, encoded record)`` rows of ``kind``."""
        ...

    def keep_entries(
        self, key_events: Sequence[tuple[int, bytes]], certificates: Sequence[tuple[int, bytes]]
    ) -> None:
        """Offer ``(index, entry)`` for every key event and certificate replayed. A store
        MUST keep the key events (few, read back for every entry their key signs); it MAY
        keep the certificates, or drop them and fetch them again in :meth:`read_entry`."""
        ...

    def read_entry(self, index: int, *, size: int) -> bytes:
        """Entry ``index`` (a certificate or key event offered to :meth:`keep_entries`)
        as kept, or fetched from the log's tree of ``size`` (a verified checkpoint's).
        Untrusted: :func:`advance` checks it against the records.

        Raises:
            FetchError: it cannot be read.
            StorageError: the store failed.
        """
        ...


_CERTS: Final = 0
_KEYS: Final = 1


class MemoryAuditStore:
    """An :class:`AuditStore` in dictionaries, for tests and small logs: it keeps every
    certificate and key event it is offered (memory grows with the log)."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}  # position (spec/audit.md §6.1) -> stored node
        self.records: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
        self.entries: dict[int, bytes] = {}

    def get_nodes_at(self, positions: Sequence[bytes]) -> list[bytes | None]:
        get = self.nodes.get
        return [get(p) for p in positions]

    def put_nodes_at(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        self.nodes.update(items)

    def delete_nodes_at(self, positions: Sequence[bytes]) -> None:
        for p in positions:
            self.nodes.pop(p, None)

    def get_records(self, kind: int, ids: Sequence[bytes]) -> list[bytes | None]:
        get = self.records[kind].get
        return [get(i) for i in ids]

    def put_records(self, kind: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        self.records[kind].update(items)

    def keep_entries(
        self, key_events: Sequence[tuple[int, bytes]], certificates: Sequence[tuple[int, bytes]]
    ) -> None:
        self.entries.update(key_events)
        self.entries.update(certificates)

    def read_entry(self, index: int, *, size: int) -> bytes:
        found = self.entries.get(index)
        if found is None:
            raise FetchError(f"entry {index} is not kept")
        return found

    def iter_records(self, kind: int) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(id, encoded record)`` of ``kind``, ids increasing."""
        return iter(sorted(self.records[kind].items()))


@dataclass(frozen=True, slots=True)
class AuditState:
    """What an auditor keeps between runs (spec/audit.md §2): this header, and the records
    in :attr:`store`. The header is a value; every step returns a new one. :func:`advance`
    also writes the store, so after it only the state it returns matches the store.
    Build with :func:`initial_state` or :func:`decode_state`.

    Fields:
        origin: the log followed, or ``None`` before the first checkpoint.
        checkpoint: the last audited checkpoint note, verbatim (empty before the first).
        size, root, status_root, time: that checkpoint's lines (size 0, the empty roots and
            time 0 before the first).
        position: how many entries were replayed (``size``, or more while a target is
            being audited).
        edge: the right edge of the Merkle tree of the first ``position`` entries.
        map_root: the status-map root of the records after ``position`` entries.
        certificates, keys: how many certificate and key records there are.
        target: the checkpoint being audited towards, verbatim, or empty.
        store: the records, status-map nodes and key events (not part of the encoding).
    """

    origin: str | None
    checkpoint: bytes
    size: int
    root: bytes
    status_root: bytes
    time: int
    position: int
    edge: tuple[bytes, ...]
    map_root: bytes
    certificates: int
    keys: int
    target: bytes = b""
    _target_cp: Checkpoint | None = field(default=None, compare=False, repr=False)
    store: AuditStore = field(default_factory=MemoryAuditStore, compare=False, repr=False)

    @property
    def target_checkpoint(self) -> Checkpoint | None:
        """The target's parsed lines (verified when :func:`begin` accepted it)."""
        return self._target_cp

    @property
    def audited_entries(self) -> int:
        """Entries covered by the audited checkpoint (``size``)."""
        return self.size


def initial_state(store: AuditStore | None = None) -> AuditState:
    """The state of an auditor that has seen nothing: size 0, no checkpoint, over ``store``
    (an empty one; default: a new :class:`MemoryAuditStore`)."""
    return AuditState(
        origin=None,
        checkpoint=b"",
        size=0,
        root=merkle.EMPTY_ROOT,
        status_root=statusmap.EMPTY_ROOT,
        time=0,
        position=0,
        edge=(),
        map_root=statusmap.EMPTY_ROOT,
        certificates=0,
        keys=0,
        store=MemoryAuditStore() if store is None else store,
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
    """logstate.StateView over the store and the chunk being replayed. Its dictionaries
    hold only what this chunk looked up or changed: memory bounded by the chunk."""

    def __init__(self, state: AuditState, entries: Sequence[bytes], size: int) -> None:
        self.store = state.store
        self.start = state.position
        self.entries = entries
        self.size = size
        self.certs: dict[bytes, CertStatus | None] = {}
        self.keys: dict[bytes, KeyStatus | None] = {}
        self.dirty_certs: dict[bytes, CertStatus] = {}
        self.dirty_keys: dict[bytes, KeyStatus] = {}
        self.new_certs = 0
        self.new_keys = 0
        self._events: dict[int, KeyEvent] = {}

    def _record(self, kind: int, key: bytes) -> bytes | None:
        got = self.store.get_records(kind, [key])
        if not isinstance(got, list) or len(got) != 1 or not isinstance(got[0], bytes | None):
            raise StorageError("the audit store answered one record with something else")
        return got[0]

    def cert_status(self, cert_id: bytes) -> CertStatus | None:
        if cert_id in self.certs:
            return self.certs[cert_id]
        raw = self._record(_CERTS, cert_id)
        record = None if raw is None else _stored(CertStatus.from_cbor, raw)
        self.certs[cert_id] = record
        return record

    def key_status(self, key_id: bytes) -> KeyStatus | None:
        if key_id in self.keys:
            return self.keys[key_id]
        raw = self._record(_KEYS, key_id)
        record = None if raw is None else _stored(KeyStatus.from_cbor, raw)
        self.keys[key_id] = record
        return record

    def set_cert(self, cert_id: bytes, record: CertStatus) -> None:
        if self.cert_status(cert_id) is None:
            self.new_certs += 1
        self.certs[cert_id] = self.dirty_certs[cert_id] = record

    def set_key(self, key_id: bytes, record: KeyStatus) -> None:
        if self.key_status(key_id) is None:
            self.new_keys += 1
        self.keys[key_id] = self.dirty_keys[key_id] = record

    def _earlier(self, index: int) -> tuple[bytes, bool]:
        """Entry ``index`` and whether it was replayed in this chunk (trusted as is)."""
        if self.start <= index < self.start + len(self.entries):
            return self.entries[index - self.start], True
        return self.store.read_entry(index, size=self.size), False

    def entry(self, index: int) -> bytes:
        # logstate reads back only certificates (a successor's predecessor, a grant
        # suspension's certificate), at the index their record names.
        entry, trusted = self._earlier(index)
        if trusted:
            return entry
        # spec/audit.md §4 step 7: an entry fetched again is the one replayed at ``index``
        # only if it is a certificate whose id (SHA-256 of its payload, the only part the
        # rules read) has a record issued at ``index``; anything else is not the log's.
        cert_id: bytes | None = None
        try:
            envelope = signing.decode_sign1(entry)
            if envelope.content_type == _CT["certificate"]:
                cert_id = certificate_id(envelope.payload)
        except NocLedgerError:
            pass
        record = None if cert_id is None else self.cert_status(cert_id)
        if record is None or record.issued_index != index:
            raise InclusionError(f"entry {index} read again is not the certificate replayed there")
        return entry

    def key_event(self, index: int) -> KeyEvent:
        event = self._events.get(index)
        if event is not None:
            return event
        entry, trusted = self._earlier(index)
        try:
            event = decode_key_event(entry)
        except NocLedgerError:
            if trusted:
                raise
            event = None
        if not trusted:
            # The store keeps key events (AuditStore.keep_entries); one read back must be
            # the delegation its key's record names.
            record = None if event is None else self.key_status(event.key_id)
            if (
                event is None
                or event.kind is not KeyEventKind.DELEGATE
                or record is None
                or record.delegated_index != index
            ):
                raise InclusionError(f"entry {index} read again is not the delegation there")
        assert event is not None
        self._events[index] = event
        return event


def _stored(decode: Callable[[bytes], _T], raw: bytes) -> _T:
    try:
        return decode(raw)
    except NocLedgerError as exc:
        raise StorageError(f"the audit store holds a bad record: {exc}") from None


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


#: spec/audit.md §6.1: the position of the status map's root (depth 0, no key bits).
ROOT_POSITION: Final = bytes(2)


def child_position(position: bytes, bit: int) -> bytes:
    """The position (spec/audit.md §6.1) of the child on side ``bit`` (0 or 1) of the node
    at ``position``: ``u16be(depth) || the first depth key bits``, packed from the most
    significant bit, the unused low bits of the last byte zero. ``position`` is trusted
    (built from :data:`ROOT_POSITION` by this function)."""
    depth = int.from_bytes(position[:2], "big")
    prefix = bytearray(position[2:])
    if depth % 8 == 0:
        prefix.append(0)
    if bit:
        prefix[depth // 8] |= 0x80 >> (depth % 8)
    return (depth + 1).to_bytes(2, "big") + bytes(prefix)


class _Positioned:
    """The statusmap.NodeStore an update runs on: reads by hash become reads by position
    (each node's position is known from its parent's, the root's is fixed); writes are
    collected and placed after the update (:func:`_update_map`)."""

    __slots__ = ("read_at", "seen", "store", "where")

    def __init__(self, store: AuditStore, root: bytes) -> None:
        self.store = store
        self.where: dict[bytes, bytes] = {root: ROOT_POSITION}  # hash -> position
        self.read_at: dict[bytes, bytes] = {}  # position -> hash of the node read there
        self.seen: dict[bytes, bytes] = {}  # hash -> stored node, read or written

    def get_nodes(self, hashes: Sequence[bytes]) -> list[bytes | None]:
        where = self.where
        positions = []
        for h in hashes:
            position = where.get(h)
            if position is None:  # statusmap only asks for the root and children it read
                raise StorageError(f"status-map node {h.hex()} has no known position")
            positions.append(position)
        got = self.store.get_nodes_at(positions)
        if not isinstance(got, list) or len(got) != len(positions):
            return got  # statusmap's reader reports the malformed answer
        for h, position, raw in zip(hashes, positions, got, strict=True):
            if not isinstance(raw, bytes):
                continue
            # Unverified here: statusmap checks that raw hashes to h before using it, and
            # a wrong node ends the update with a StorageError before anything is written.
            self.read_at[position] = h
            self.seen[h] = raw
            children = statusmap.stored_children(raw)
            for bit, child in enumerate(children or ()):
                if child != statusmap.EMPTY_ROOT:
                    where[child] = child_position(position, bit)
        return got

    def put_nodes(self, items: Mapping[bytes, bytes]) -> None:
        self.seen.update(items)


def _update_map(store: AuditStore, root: bytes, changes: Mapping[bytes, bytes | None]) -> bytes:
    """spec/revocation.md §4.2: the incremental update, as the ledger does it, kept by
    position (spec/audit.md §6.1): the new tree is walked from its root through the nodes
    the update read or wrote; a node whose position holds another node (or none) is
    written there, and positions the new tree no longer uses are deleted. A subtree the
    update did not read keeps its position: in this trie only a leaf moves (§2.3), and a
    leaf that moves was read by the update."""
    positioned = _Positioned(store, root)
    new_root = statusmap.update(root, changes, positioned)
    seen, read_at = positioned.seen, positioned.read_at
    writes: list[tuple[bytes, bytes]] = []
    used: set[bytes] = set()
    stack = [(new_root, ROOT_POSITION)] if new_root != statusmap.EMPTY_ROOT else []
    while stack:
        h, position = stack.pop()
        raw = seen.get(h)
        if raw is None:
            continue  # an untouched subtree: still in place
        used.add(position)
        if read_at.get(position) != h:
            writes.append((position, raw))
        for bit, child in enumerate(statusmap.stored_children(raw) or ()):
            if child != statusmap.EMPTY_ROOT:
                stack.append((child, child_position(position, bit)))
    if writes:
        store.put_nodes_at(writes)
    gone = [position for position in read_at if position not in used]
    if gone:
        store.delete_nodes_at(gone)
    return new_root


def advance(policy: TrustPolicy, state: AuditState, entries: Sequence[bytes]) -> AuditState:
    """Replay ``entries`` as the entries at ``position``, ``position + 1``, … under the rules
    of spec/events.md §5, extend the tree's right edge with them, and write the records they
    change, the status map's new nodes and their key events to ``state.store`` — only once
    every entry passed (an error writes nothing).

    Raises:
        OutOfRangeError: the state has no target, or the entries go past its size.
        DecodeError, SignatureError, ScopeError, TransitionError, ModelError: an entry
            breaks a rule; the message names its index and the rule. A certificate logged
            twice is a TransitionError (a log never appends one).
        InclusionError: an earlier entry the rules read back, read again from the store,
            is not the one replayed at its index (the source served another).
        FetchError: such an entry could not be read again.
        StorageError: the store failed or holds a bad record.
    """
    target = state.target_checkpoint
    if target is None:
        raise OutOfRangeError("advance needs a target checkpoint (begin)")
    if isinstance(entries, bytes | str) or state.position + len(entries) > target.size:
        raise OutOfRangeError(
            f"{len(entries)} entries from {state.position} go past the target size {target.size}"
        )
    view = _View(state, entries, target.size)
    edge = list(state.edge)
    n = state.position
    key_events: list[tuple[int, bytes]] = []
    certificates: list[tuple[int, bytes]] = []
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
                view.set_key(key, record)
            else:
                view.set_cert(key, record)
        if applied.kind == "certificate":
            certificates.append((n, entry))
        elif applied.kind == "key-event":
            key_events.append((n, entry))
        _edge_append(edge, n, entry)
        n += 1
    store = state.store
    # Each changed record is encoded once, for its row and for the status map.
    cert_rows = [(k, v.to_cbor()) for k, v in view.dirty_certs.items()]
    key_rows = [(k, v.to_cbor()) for k, v in view.dirty_keys.items()]
    if cert_rows:
        store.put_records(_CERTS, cert_rows)
    if key_rows:
        store.put_records(_KEYS, key_rows)
    if key_events or certificates:
        store.keep_entries(key_events, certificates)
    changes: dict[bytes, bytes] = dict(cert_rows)
    changes.update(key_rows)
    return replace(
        state,
        position=n,
        edge=tuple(edge),
        map_root=_update_map(store, state.map_root, changes),
        certificates=state.certificates + view.new_certs,
        keys=state.keys + view.new_keys,
    )


# ---------------------------------------------------------------------------------------
# Step 4: the roots (spec/audit.md §4 steps 8-10)


def tree_root_matches(state: AuditState) -> bool:
    """Whether the entries replayed so far give the target's tree root (a progress check
    for tools; :func:`finish` is the verdict)."""
    target = state.target_checkpoint
    return target is not None and _edge_root(state.edge) == target.root


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
    # spec/revocation.md §4.2: kept up to date chunk by chunk by advance.
    if state.map_root != target.status_root:
        raise StatusRootError(
            f"the checkpoint of size {target.size} signs status root "
            f"{target.status_root.hex()}, the entries give {state.map_root.hex()}"
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
# Encoding (spec/audit.md §2.2)


def encode_state(state: AuditState) -> bytes:
    """The deterministic CBOR encoding of ``state``'s header (spec/audit.md §2.2); the
    store's content is not part of it.

    Raises:
        EncodeError: the state holds a value outside the profile (not from this module).
    """
    item: dict[int, object] = {
        0: AUDIT_STATE_VERSION,
        1: state.checkpoint,
        2: state.position,
        3: list(state.edge),
        4: state.map_root,
        5: state.certificates,
        6: state.keys,
    }
    if state.target:
        item[7] = state.target
    return codec.encode(item)


def _note_lines(note: object, what: str) -> Checkpoint:
    if not isinstance(note, bytes) or not note or len(note) > MAX_NOTE_SIZE:
        raise DecodeError(f"{what}: a checkpoint note of 1 to {MAX_NOTE_SIZE} bytes")
    return decode_checkpoint_note(note)


def _uint(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise DecodeError(f"audit state: {what} is an unsigned integer")
    return value


def decode_state(data: bytes, *, store: AuditStore | None = None) -> AuditState:
    """Decode a state header strictly: canonical CBOR, version 2, every part well-formed and
    the parts consistent with each other (spec/audit.md §2.2), over ``store`` (the records
    it was stored with; default: a new empty :class:`MemoryAuditStore`, enough to inspect a
    header). The notes are parsed, not verified: :func:`open_target` verifies what comes
    next against them.

    Raises:
        DecodeError: anything else, including a version 1 state (spec/audit.md §2.3: start
            a new state directory), a header whose edge does not give the audited
            checkpoint's root or whose status-map root is not its status root (when it has
            no target).
    """
    try:
        return _decode_state(data, MemoryAuditStore() if store is None else store)
    except DecodeError:
        raise
    except NocLedgerError as exc:  # from the notes' lines
        raise DecodeError(f"audit state: {exc}") from None


def _decode_state(data: bytes, store: AuditStore) -> AuditState:
    raw = codec.decode(data, max_size=MAX_STATE_SIZE, max_depth=_MAX_DEPTH)
    m = codec.require_map(raw, "audit state")
    if m.get(0) == 1:
        raise DecodeError(
            "audit state: version 1 (state.cbor, records in one file) is no longer read; "
            "start a new state directory: the next audit replays the log from its start"
        )
    if set(m) - {0, 1, 2, 3, 4, 5, 6, 7} or not {0, 1, 2, 3, 4, 5, 6} <= set(m):
        raise DecodeError("audit state: keys 0 to 6 and optionally 7")
    if m[0] != AUDIT_STATE_VERSION or type(m[0]) is not int:
        raise DecodeError(f"audit state: version {m[0]!r} is not {AUDIT_STATE_VERSION}")
    position = _uint(m[2], "position")
    edge = codec.require_array(m[3], "edge")
    if len(edge) != position.bit_count() or not all(
        isinstance(h, bytes) and len(h) == _HASH for h in edge
    ):
        raise DecodeError("audit state: the edge is one 32-byte hash per one bit of position")
    map_root = m[4]
    if not isinstance(map_root, bytes) or len(map_root) != _HASH:
        raise DecodeError("audit state: the status-map root is 32 bytes")
    certificates, keys = _uint(m[5], "certificates"), _uint(m[6], "keys")
    edge_t = tuple(edge)
    state = initial_state(store)
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
        if _edge_root(edge_t) != state.root:
            raise DecodeError("audit state: the edge does not give the checkpoint's root")
        if map_root != state.status_root:
            raise DecodeError("audit state: the status-map root is not the checkpoint's")
    if certificates + keys > position:
        raise DecodeError("audit state: more records than entries replayed")
    return replace(
        state,
        origin=state.origin if target_cp is None else target_cp.origin,
        position=position,
        edge=edge_t,
        map_root=map_root,
        certificates=certificates,
        keys=keys,
        target=m.get(7, b""),
        _target_cp=target_cp,
    )
