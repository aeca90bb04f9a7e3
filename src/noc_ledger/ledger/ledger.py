"""The regulator's ledger: append signed entries under the rules, checkpoint, prove.

:class:`Ledger` is the embedding API (GUIDE D12, spec/events.md §5). Every write goes
through one store transaction that (1) checks each entry with the same pure rules an
auditor replays (:func:`noc_ledger.logstate.apply_entry`), (2) appends the entries and
their Merkle hashes, (3) updates the status map (spec/revocation.md), (4) signs a
checkpoint over the new size (spec/checkpoint.md), and (5) commits durably. A refused entry
raises and nothing of its batch is written. Because the checkpoint is signed inside the
exclusive transaction from the state being committed, two checkpoints of this log can never
be inconsistent, even with several writer processes.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Final

from noc_ledger import merkle, signing, statusmap
from noc_ledger.bundle import Bundle, LoggedEntry, StatusEvidence
from noc_ledger.checkpoint import Checkpoint, decode_checkpoint_note, sign_checkpoint
from noc_ledger.client.audit_store import SqliteAuditStore
from noc_ledger.client.auditor import STATE_DB, Auditor
from noc_ledger.errors import (
    InclusionError,
    NocLedgerError,
    OutOfRangeError,
    StatusRootError,
    StorageError,
)
from noc_ledger.events import CertStatus, KeyEvent, KeyStatus, StatusEvent
from noc_ledger.ledger.store import Reader, Store, Transaction
from noc_ledger.logstate import Applied, Authority, apply_entry, decode_key_event
from noc_ledger.model import Certificate, sign_certificate
from noc_ledger.note import Verifier
from noc_ledger.policy import Group, RootKey, encode_policy, make_policy, parse_policy

__all__ = ["AuditReport", "Ledger", "Receipt", "StatusProofBundle"]

_CERT: Final = "cert"
_KEY: Final = "key"
_SMT: Final = "smt"
_META: Final = "meta"
_STATUS_ROOT: Final = b"status-root"


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a write returns (spec/events.md §5): the entry's log index and id, and a signed
    checkpoint whose tree includes it — no polling for a proof.

    ``duplicate`` is true when the entry re-submitted a certificate already logged: then
    ``index`` is where it was logged first and nothing new was appended.
    """

    index: int
    id: bytes
    kind: str
    checkpoint: bytes
    size: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class StatusProofBundle:
    """A status-map proof for ``key`` against the status root of ``checkpoint``."""

    key: bytes
    value: bytes | None
    proof: statusmap.StatusProof
    checkpoint: bytes
    size: int


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The result of :meth:`Ledger.audit`: entries replayed, checkpoints checked."""

    size: int
    checkpoints: int
    certificates: int
    keys: int
    status_root: bytes


#: Ledger.audit: status is not what it checks, so any age is accepted.
_AUDIT_STATUS_AGE: Final = 100 * 365 * 86_400
#: Ledger.audit: sizes asked for a checkpoint per snapshot.
_CHECKPOINT_SCAN: Final = 4096


class _StoreSource:
    """The auditor's LogReader over a ledger's store, serving one stored checkpoint: what
    the auditor would fetch from the log's tiles, read from the store instead. Each read
    is its own short snapshot; entries and hashes below a checkpoint never change."""

    location = "the ledger's store"

    def __init__(self, store: Store) -> None:
        self._store = store
        self.note = b""

    def read_checkpoint(self) -> bytes:
        return self.note

    def read_entries(self, start: int, end: int, *, size: int) -> list[bytes]:
        with self._store.snapshot() as r:
            if size > r.size():
                raise OutOfRangeError(f"a tree of size {size} is not stored")
            return r.read_entries(start, end)

    def read_hashes(self, indexes: Sequence[int], *, size: int) -> list[bytes]:
        with self._store.snapshot() as r:
            return r.read_hashes(indexes)


class _Nodes:
    """The status map's node store inside a transaction or snapshot."""

    def __init__(self, reader: Reader, writer: Transaction | None = None) -> None:
        self._reader = reader
        self._writer = writer

    def get_nodes(self, hashes: Sequence[bytes]) -> list[bytes | None]:
        return self._reader.get_many(_SMT, list(hashes))

    def put_nodes(self, items: Mapping[bytes, bytes]) -> None:
        if self._writer is None:
            raise StorageError("status-map nodes written outside a transaction")
        self._writer.put_many(_SMT, list(items.items()))


class _TxState:
    """logstate.StateView over a transaction, seeing the batch's own earlier entries."""

    def __init__(self, tx: Transaction, key_events: dict[int, KeyEvent]) -> None:
        self.tx = tx
        self._key_events = key_events
        self.certs: dict[bytes, CertStatus] = {}
        self.keys: dict[bytes, KeyStatus] = {}
        self.pending: list[bytes] = []
        self.base = tx.size()
        # Stored records read ahead for the batch in one query (None: not in the store).
        self._stored: dict[bytes, CertStatus | None] = {}
        self._stored_keys: dict[bytes, KeyStatus | None] = {}

    def prefetch(self, cert_ids: Sequence[bytes]) -> None:
        """Read the stored records of ``cert_ids`` in one query instead of one each."""
        for cert_id, raw in zip(cert_ids, self.tx.get_many(_CERT, list(cert_ids)), strict=True):
            self._stored[cert_id] = None if raw is None else CertStatus.from_cbor(raw)

    def cert_status(self, cert_id: bytes) -> CertStatus | None:
        if cert_id in self.certs:
            return self.certs[cert_id]
        if cert_id in self._stored:
            return self._stored[cert_id]
        raw = self.tx.get(_CERT, cert_id)
        return None if raw is None else CertStatus.from_cbor(raw)

    def key_status(self, key_id: bytes) -> KeyStatus | None:
        if key_id in self.keys:
            return self.keys[key_id]
        # Every entry of a batch looks its signing key up; a batch has few keys, and
        # their stored records cannot change under this exclusive transaction except
        # through ``self.keys``, which is checked first.
        if key_id in self._stored_keys:
            return self._stored_keys[key_id]
        raw = self.tx.get(_KEY, key_id)
        record = None if raw is None else KeyStatus.from_cbor(raw)
        self._stored_keys[key_id] = record
        return record

    def entry(self, index: int) -> bytes:
        if index >= self.base:
            return self.pending[index - self.base]
        return self.tx.read_entries(index, index + 1)[0]

    def key_event(self, index: int) -> KeyEvent:
        # Logged entries never change: the decoded delegation is cached across
        # transactions (only entries below ``base`` are committed, so only those are kept).
        event = self._key_events.get(index)
        if event is None:
            event = decode_key_event(self.entry(index))
            if index < self.base:
                self._key_events[index] = event
        return event


class Ledger:
    """A log of one authority's signed decisions over a :class:`~.store.Store`.

    Args:
        store: the backend (SQLite by default in the CLI; memory in tests).
        origin: the log's origin line (spec/checkpoint.md), also its note key name.
        authority: the root key and root scope entries are checked against.
        log_signer: the key that signs checkpoints.
        clock: returns the current POSIX time; the only clock the ledger reads.
    """

    def __init__(
        self,
        store: Store,
        *,
        origin: str,
        authority: Authority,
        log_signer: signing.Signer,
        clock: Callable[[], int] = _now,
    ) -> None:
        self._store = store
        self.origin = origin
        self.authority = authority
        self._log_signer = log_signer
        self._clock = clock
        self._key_events: dict[int, KeyEvent] = {}

    # -- writing ---------------------------------------------------------------------

    def submit(
        self,
        entries: Sequence[bytes],
        *,
        certificates: Sequence[Certificate | None] = (),
    ) -> list[Receipt]:
        """Append already-signed entries, all or nothing, in one durable transaction, and
        sign one checkpoint covering them.

        Re-submitting a certificate already in the log appends nothing for it and returns
        its original index (``duplicate=True``).

        ``certificates`` (optional, one item per entry) names the :class:`Certificate` the
        caller signed into each certificate entry (None for other entries): a payload that
        is byte for byte its encoding is not decoded again; any other payload is decoded
        and checked in full (``logstate.apply_entry``). Every other check runs either way.

        Raises:
            DecodeError, SignatureError, ScopeError, TransitionError, ModelError: an entry
                breaks a rule (the message names its position in the batch); nothing was
                written.
            StorageError: the store failed; nothing was written.
            ValueError: ``certificates`` is given with a length other than ``entries``'s.
        """
        if certificates and len(certificates) != len(entries):
            raise ValueError("certificates: one item per entry")
        with self._store.transaction() as tx:
            state = _TxState(tx, self._key_events)
            if certificates:
                state.prefetch([c.id for c in certificates if c is not None])
            applied: list[tuple[Applied, int]] = []
            for position, entry in enumerate(entries):
                index = state.base + len(state.pending)
                built = certificates[position] if certificates else None
                try:
                    result = apply_entry(
                        state, entry, index=index, authority=self.authority, certificate=built
                    )
                except NocLedgerError as exc:
                    raise type(exc)(f"entry {position} of the batch: {exc}") from None
                if result.duplicate_of is not None:
                    applied.append((result, result.duplicate_of))
                    continue
                state.pending.append(entry)
                applied.append((result, index))
                for key, record in result.changes.items():
                    if isinstance(record, KeyStatus):
                        state.keys[key] = record
                    else:
                        state.certs[key] = record
            if state.pending:
                tx.append(state.pending)
                # Each changed record is encoded once, for its row and for the status map.
                cert_rows = [(k, v.to_cbor()) for k, v in state.certs.items()]
                key_rows = [(k, v.to_cbor()) for k, v in state.keys.items()]
                tx.put_many(_CERT, cert_rows)
                tx.put_many(_KEY, key_rows)
                changes: dict[bytes, bytes | None] = dict(cert_rows)
                changes.update(key_rows)
                old_root = tx.get(_META, _STATUS_ROOT) or statusmap.EMPTY_ROOT
                new_root = statusmap.update(old_root, changes, _Nodes(tx, tx))
                tx.put(_META, _STATUS_ROOT, new_root)
            note, size = self._checkpoint_in(tx)
        return [
            Receipt(index, result.subject, result.kind, note, size, result.duplicate_of is not None)
            for result, index in applied
        ]

    def _checkpoint_in(self, tx: Transaction) -> tuple[bytes, int]:
        """Sign (or reuse) the checkpoint for the transaction's current size."""
        size = tx.size()
        latest = tx.latest_checkpoint()
        if latest is not None and latest[0] == size:
            return latest[1], size
        previous_time = 0
        if latest is not None:
            previous_time = decode_checkpoint_note(latest[1]).time
        cp = Checkpoint(
            origin=self.origin,
            size=size,
            root=merkle.root_from_reader(size, tx),
            # Checkpoint times never go backwards, whatever the clock does (spec/checkpoint.md).
            time=max(self._clock(), previous_time),
            status_root=tx.get(_META, _STATUS_ROOT) or statusmap.EMPTY_ROOT,
        )
        note = sign_checkpoint(cp, self._log_signer)
        tx.put_checkpoint(size, note)
        return note, size

    def issue(self, certificate: Certificate, signer: signing.Signer) -> Receipt:
        """Sign ``certificate`` with an issuing key and log it (see :meth:`submit`)."""
        return self.issue_batch([certificate], signer)[0]

    def issue_batch(
        self, certificates: Iterable[Certificate], signer: signing.Signer
    ) -> list[Receipt]:
        """Sign and log several certificates in one transaction (group commit).

        Every check of :meth:`submit` runs, signature verification included; only the
        decoding of payloads the ledger has just encoded from these very objects is
        skipped (spec/events.md §5; ``logstate.apply_entry``).

        Raises:
            as :meth:`submit`; EncodeError: a certificate is too large to sign.
        """
        certs = list(certificates)
        return self.submit([sign_certificate(c, signer) for c in certs], certificates=certs)

    def record(self, event: StatusEvent, signer: signing.Signer) -> Receipt:
        """Sign a status event with an issuing key and log it."""
        return self.submit([event.sign(signer)])[0]

    def record_key_event(self, event: KeyEvent, root_signer: signing.Signer) -> Receipt:
        """Sign a key event with the authority root key and log it."""
        return self.submit([event.sign(root_signer)])[0]

    def checkpoint(self) -> bytes:
        """The latest checkpoint, signing one first if none covers the current size."""
        with self._store.snapshot() as r:
            latest = r.latest_checkpoint()
            if latest is not None and latest[0] == r.size():
                return latest[1]
        with self._store.transaction() as tx:
            return self._checkpoint_in(tx)[0]

    # -- reading ---------------------------------------------------------------------

    def size(self) -> int:
        with self._store.snapshot() as r:
            return r.size()

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries by index range (exclusive end). Raises OutOfRangeError."""
        with self._store.snapshot() as r:
            return r.read_entries(start, end)

    def status(self, cert_id: bytes) -> CertStatus | None:
        """A certificate's current status record, or None if it is not in the log."""
        with self._store.snapshot() as r:
            raw = r.get(_CERT, cert_id)
        return None if raw is None else CertStatus.from_cbor(raw)

    def find_ids(self, hex_prefix: str, *, limit: int = 2) -> list[bytes]:
        """The ids of logged certificates and keys whose hex form starts with
        ``hex_prefix`` (either case), certificates first, each kind in id order, at most
        ``limit`` of them: a caller that asks for 2 learns whether a prefix is ambiguous.

        Raises:
            ValueError: ``hex_prefix`` holds a character that is not a hex digit, or
                ``limit`` is not a positive int.
            StorageError: the store failed.
        """
        digits = hex_prefix.lower()
        if any(c not in "0123456789abcdef" for c in digits):
            raise ValueError("an id prefix is hex digits")
        if type(limit) is not int or limit < 1:
            raise ValueError("limit is a positive int")
        # The store scans by bytes: whole bytes of the prefix narrow the scan, an odd last
        # digit is matched on the hex form.
        whole = bytes.fromhex(digits[: len(digits) // 2 * 2])
        found: list[bytes] = []
        with self._store.snapshot() as r:
            for namespace in (_CERT, _KEY):
                for key, _ in r.scan(namespace, whole):
                    if key.hex().startswith(digits):
                        found.append(key)
                        if len(found) == limit:
                            return found
        return found

    def key_status(self, key_id: bytes) -> KeyStatus | None:
        with self._store.snapshot() as r:
            raw = r.get(_KEY, key_id)
        return None if raw is None else KeyStatus.from_cbor(raw)

    def checkpoint_at(self, size: int) -> bytes:
        """The checkpoint signed at exactly ``size``.

        Raises:
            OutOfRangeError: no checkpoint was signed at that size.
        """
        with self._store.snapshot() as r:
            note = r.checkpoint_at(size)
        if note is None:
            raise OutOfRangeError(f"no checkpoint at size {size}")
        return note

    def prove_inclusion(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``."""
        with self._store.snapshot() as r:
            if size > r.size():
                raise OutOfRangeError(f"size {size} is beyond the log ({r.size()})")
            return merkle.prove_inclusion(index, size, r)

    def prove_consistency(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof from ``size1`` to ``size2``."""
        with self._store.snapshot() as r:
            if size2 > r.size():
                raise OutOfRangeError(f"size {size2} is beyond the log ({r.size()})")
            return merkle.prove_consistency(size1, size2, r)

    def prove_status(self, key: bytes, *, size: int | None = None) -> StatusProofBundle:
        """A status-map proof (presence with the record, or absence) for a certificate id
        or key id, against the checkpoint at ``size`` (default: the latest).

        Raises:
            OutOfRangeError: no checkpoint at ``size``.
        """
        with self._store.snapshot() as r:
            if size is None:
                latest = r.latest_checkpoint()
                if latest is None:
                    raise OutOfRangeError("the log has no checkpoint yet")
                size, note = latest
            else:
                found = r.checkpoint_at(size)
                if found is None:
                    raise OutOfRangeError(f"no checkpoint at size {size}")
                note = found
            root = decode_checkpoint_note(note).status_root
            nodes = _Nodes(r)
            value = statusmap.lookup(root, key, nodes)
            proof = statusmap.prove_status(root, key, nodes)
        return StatusProofBundle(key, value, proof, note, size)

    def bundle(self, cert_id: bytes, *, size: int | None = None) -> bytes:
        """The offline bundle for a certificate at the checkpoint of ``size`` (default: the
        latest) — spec/bundle.md. Calling it again later *refreshes* a bundle: same signed
        certificate, newer checkpoint and status proofs, nothing re-signed.

        Raises:
            OutOfRangeError: no checkpoint at ``size``, or the certificate is not in the
                log at that checkpoint.
        """
        with self._store.snapshot() as r:
            if size is None:
                latest = r.latest_checkpoint()
                if latest is None:
                    raise OutOfRangeError("the log has no checkpoint yet")
                size, note = latest
            else:
                found = r.checkpoint_at(size)
                if found is None:
                    raise OutOfRangeError(f"no checkpoint at size {size}")
                note = found
            raw = r.get(_CERT, cert_id)
            if raw is None:
                raise OutOfRangeError("no such certificate in the log")
            index = CertStatus.from_cbor(raw).issued_index
            if index >= size:
                raise OutOfRangeError(f"the checkpoint of size {size} predates the certificate")
            entry = r.read_entries(index, index + 1)[0]
            key_id = signing.decode_sign1(entry).key_id
            key_raw = r.get(_KEY, key_id)
            if key_raw is None:  # impossible for an entry the ledger accepted
                raise StorageError("the certificate's issuing key has no record")
            delegated = KeyStatus.from_cbor(key_raw).delegated_index
            delegation = r.read_entries(delegated, delegated + 1)[0]
            root = decode_checkpoint_note(note).status_root
            nodes = _Nodes(r)

            def evidence(key: bytes) -> StatusEvidence:
                return StatusEvidence(
                    statusmap.lookup(root, key, nodes), statusmap.prove_status(root, key, nodes)
                )

            result = Bundle(
                certificate=LoggedEntry(
                    index, entry, tuple(merkle.prove_inclusion(index, size, r))
                ),
                key_chain=(
                    LoggedEntry(
                        delegated, delegation, tuple(merkle.prove_inclusion(delegated, size, r))
                    ),
                ),
                checkpoint=note,
                certificate_status=evidence(cert_id),
                key_status=evidence(key_id),
            )
        return result.to_cbor()

    def trust_policy(
        self,
        *,
        max_status_age: int,
        authority_name: str | None = None,
        witnesses: Sequence[Verifier] = (),
        groups: Sequence[Group] = (),
        quorum: str | None = None,
    ) -> bytes:
        """The trust policy a regulator publishes for this ledger (spec/policy.md): its
        root key and scope, its log key under its origin, and the witnesses and quorum
        given. ``quorum=None`` is written as the explicit ``quorum none``.

        Raises:
            PolicyError: the witnesses, groups or quorum break a rule of spec/policy.md.
        """
        policy = make_policy(
            roots=[RootKey(self.authority.root_public_key, self.authority.root_scope)],
            logs=[Verifier.for_key(self.origin, self._log_signer.public_key)],
            witnesses=witnesses,
            groups=groups,
            quorum=quorum,
            max_status_age=max_status_age,
            authority=authority_name,
        )
        return encode_policy(policy)

    # -- auditing --------------------------------------------------------------------

    def audit(self) -> AuditReport:
        """Replay every entry under the rules and check every stored checkpoint's tree and
        status roots, and its log signature, against what the entries give
        (spec/revocation.md §6), then compare the stored records with the replay's.

        The replay is the auditor's (spec/audit.md), run over this ledger's store as its
        source with the ledger's own trust policy, from one stored checkpoint to the next
        (each consistent with the one before), its state in a temporary directory: memory
        stays bounded whatever the log's size.

        Raises:
            StorageError: a stored hash, tree root, status root or record differs from the
                recomputation, a stored checkpoint does not verify or is not consistent
                with the one before, or the latest entries have no checkpoint.
            DecodeError, SignatureError, ScopeError, TransitionError, ModelError: an
                entry breaks a rule (the log should never have accepted it); the message
                names its index. A certificate logged twice is a TransitionError.
        """
        self._store.check_integrity()  # the stored hashes proofs are served from
        with self._store.snapshot() as r:
            size = r.size()
            latest = r.latest_checkpoint()
        if size and (latest is None or latest[0] != size):
            raise StorageError(f"the log holds {size} entries but no checkpoint of that size")
        policy = parse_policy(self.trust_policy(max_status_age=_AUDIT_STATUS_AGE))
        source = _StoreSource(self._store)
        checked = 0
        with tempfile.TemporaryDirectory(prefix="noc-ledger-self-audit-") as tmp:
            state_dir = Path(tmp)
            for at, note in self._stored_checkpoints(size):
                checked += 1
                if at == 0:
                    cp = decode_checkpoint_note(note)
                    if cp.root != merkle.EMPTY_ROOT or cp.status_root != statusmap.EMPTY_ROOT:
                        raise StorageError("checkpoint at size 0: roots differ")
                    continue
                source.note = note
                auditor = Auditor(source, policy, state_dir=state_dir)
                try:
                    auditor.run()
                except (InclusionError, StatusRootError) as exc:
                    which = "tree" if isinstance(exc, InclusionError) else "status"
                    raise StorageError(f"checkpoint at size {at}: {which} root differs") from None
                except NocLedgerError as exc:
                    if auditor.step == "replay" and not isinstance(exc, StorageError):
                        raise  # an entry breaks a rule: its type and index, as the auditor says
                    raise StorageError(f"checkpoint at size {at}: {exc}") from None
            store = SqliteAuditStore(state_dir / STATE_DB)
            try:
                state = Auditor.load(store)
                with self._store.snapshot() as r:
                    for kind, namespace in ((0, _CERT), (1, _KEY)):
                        ours = store.iter_records(kind)
                        if any(a != b for a, b in zip_longest(ours, r.scan(namespace))):
                            what = "certificate" if namespace == _CERT else "key"
                            raise StorageError(f"stored {what} records differ from the replay")
            finally:
                store.close()
        return AuditReport(size, checked, state.certificates, state.keys, state.map_root)

    def _stored_checkpoints(self, size: int) -> Iterator[tuple[int, bytes]]:
        """Every stored checkpoint of a size up to ``size``, smallest first, read through
        short snapshots (the store has no index of them; every size is asked)."""
        for start in range(0, size + 1, _CHECKPOINT_SCAN):
            with self._store.snapshot() as r:
                found = [
                    (s, note)
                    for s in range(start, min(start + _CHECKPOINT_SCAN, size + 1))
                    if (note := r.checkpoint_at(s)) is not None
                ]
            yield from found
