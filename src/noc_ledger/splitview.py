"""Split-view protection: a verifier remembers the newest checkpoint it has seen of each log
and accepts another only if the two can both be honest (spec/verification.md §5).

A log that shows one verifier one tree and another verifier a different tree (a *split
view*), or that shows a verifier an older tree to hide a later entry (a *rollback*), must
sign checkpoints that contradict what it signed before (spec/checkpoint.md §3.4). A verifier
that keeps the last checkpoint it accepted per origin, in a :class:`CheckpointStore`, catches
the contradiction the first time it sees both sides; the two signed notes are then evidence
(:class:`~noc_ledger.errors.InconsistencyError`) that anyone with the log's key can check.

This module is pure: it defines the store *interface* and an in-memory store. A store kept
in files, safe between processes, is at the edge: :mod:`noc_ledger.client.checkpoint_store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

from noc_ledger import merkle
from noc_ledger.bundle import Bundle
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
    InconsistencyError,
    NocLedgerError,
    QuorumError,
    SignatureError,
    StaleError,
    StorageError,
)
from noc_ledger.note import Verifier
from noc_ledger.policy import TrustPolicy

__all__ = [
    "CheckpointStore",
    "MemoryCheckpointStore",
    "Observation",
    "Relation",
    "observe_bundle",
    "observe_checkpoint",
]

#: How many times :func:`observe_checkpoint` re-reads the store after losing a
#: compare-and-set to a concurrent writer before it gives up (spec/verification.md §5.2
#: step 7). Each loss means another writer advanced the store, so this bounds only a
#: pathological stream of writers.
_MAX_ATTEMPTS: Final = 16


@runtime_checkable
class CheckpointStore(Protocol):
    """Where a verifier keeps the newest checkpoint it has accepted, per log origin
    (spec/verification.md §5.1).

    Values are signed checkpoint notes, byte for byte as accepted (cosignatures included).
    A store need not understand them: :func:`observe_checkpoint` re-verifies what it reads.
    """

    def latest(self, origin: str) -> bytes | None:
        """The note last stored for ``origin``, or ``None`` if there is none.

        Raises:
            StorageError: the store cannot be read, or holds something that is not a note.
        """
        ...

    def compare_and_set(self, origin: str, expected: bytes | None, new: bytes) -> bool:
        """Atomically: if the note stored for ``origin`` is ``expected`` (``None``: there is
        none), store ``new`` durably and return ``True``; otherwise change nothing and
        return ``False``. Two writers that both expect the same value MUST NOT both succeed.

        Raises:
            StorageError: the store failed; nothing was changed.
        """
        ...


class MemoryCheckpointStore:
    """A :class:`CheckpointStore` in a dictionary: for tests and for one short-lived,
    single-threaded verifier. It is not shared between threads or processes and forgets
    everything when dropped; use :class:`noc_ledger.client.checkpoint_store.FileCheckpointStore`
    for anything else.
    """

    def __init__(self) -> None:
        self._notes: dict[str, bytes] = {}

    def latest(self, origin: str) -> bytes | None:
        """The note stored for ``origin``, or ``None``.

        Raises:
            StorageError: ``origin`` is not a string.
        """
        if not isinstance(origin, str):
            raise StorageError("an origin is a string")
        return self._notes.get(origin)

    def compare_and_set(self, origin: str, expected: bytes | None, new: bytes) -> bool:
        """Store ``new`` for ``origin`` if ``expected`` is what is stored (see
        :meth:`CheckpointStore.compare_and_set`).

        Raises:
            StorageError: ``origin`` is not a string, ``expected`` not bytes or ``None``,
                or ``new`` not bytes.
        """
        if not isinstance(origin, str):
            raise StorageError("an origin is a string")
        if expected is not None and not isinstance(expected, bytes):
            raise StorageError("expected is a note (bytes) or None")
        if not isinstance(new, bytes):
            raise StorageError("a stored note is bytes")
        if self._notes.get(origin) != expected:
            return False
        self._notes[origin] = new
        return True


class Relation(StrEnum):
    """How an observed checkpoint relates to the newest one the store held
    (spec/verification.md §5.2)."""

    #: The store held nothing for the origin; the checkpoint is now the newest seen.
    FIRST = "first"
    #: Same size, root and status root as the newest seen (possibly signed at another time).
    SAME = "same"
    #: Larger than the newest seen and proven to extend it; it is now the newest seen.
    NEWER = "newer"
    #: Smaller than the newest seen and proven to be a prefix of it; the store keeps the newer.
    OLDER = "older"


@dataclass(frozen=True, slots=True)
class Observation:
    """The outcome of :func:`observe_checkpoint`: the checkpoint, now verified and consistent
    with everything the store has seen of its log, and the newest checkpoint seen.

    ``checkpoint`` and ``note`` are the observed checkpoint and its note as received;
    ``latest`` and ``latest_note`` the newest checkpoint of the origin the store holds after
    the observation (the observed one itself unless ``relation`` is ``OLDER``, or ``SAME``
    with an earlier time); ``stored`` says whether this call wrote the store.
    """

    checkpoint: Checkpoint
    note: bytes
    relation: Relation
    latest: Checkpoint
    latest_note: bytes
    stored: bool

    @property
    def is_latest(self) -> bool:
        """Whether the checkpoint is of the newest tree seen (spec/verification.md §5.3): the
        status it proves is not known to have been superseded by a later entry."""
        return self.relation is not Relation.OLDER


def _as_proof(value: object) -> list[bytes] | None:
    """The caller's consistency proof as a list, or ``None``. The hashes themselves are
    checked by :func:`noc_ledger.merkle.verify_consistency`."""
    if value is None:
        return None
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        raise ConsistencyError("a consistency proof is a sequence of 32-byte hashes")
    return list(value)


def _no_proof_needed(proof: list[bytes] | None, why: str) -> None:
    # spec/log.md §5.2 step 2 and §5.3: there is no proof from the empty tree, and an equal
    # size needs none. A non-empty proof here would be checked against nothing; refusing it
    # keeps a caller from believing it checked something (spec/verification.md §5.2 step 5).
    if proof:
        raise ConsistencyError(f"no consistency proof applies ({why}), but one was given")


def _open_stored(data: object, origin: str, log_key: Verifier) -> VerifiedCheckpoint:
    # spec/verification.md §5.2 step 3: what the store returns is re-verified, so a damaged
    # or tampered store cannot make the verifier accept anything.
    if not isinstance(data, bytes):
        raise StorageError(f"the checkpoint store returned a {type(data).__name__}, not a note")
    try:
        return open_checkpoint(data, origin=origin, log_key=log_key)
    except (DecodeError, SignatureError) as exc:
        raise StorageError(
            f"the stored checkpoint of {origin} does not verify under the log key: {exc}"
        ) from None


def _inconsistent(message: str, stored_note: bytes, note: bytes) -> InconsistencyError:
    return InconsistencyError(message, first=stored_note, second=note)


def _relate(
    stored: VerifiedCheckpoint,
    new: VerifiedCheckpoint,
    proof: list[bytes] | None,
    *,
    accept_older: bool,
) -> tuple[Relation, bool]:
    """spec/verification.md §5.2 steps 4-6: how ``new`` relates to ``stored``, and whether it
    replaces it. Raises when the two cannot both be honest or when that cannot be told."""
    s, n = stored.checkpoint, new.checkpoint
    first, second = stored.note, new.note
    if n.size == s.size:
        _no_proof_needed(proof, "the sizes are equal")
        # checkpoint.md §3.4 items 1-2: one size, one root and one status root.
        if n.root != s.root:
            raise _inconsistent(
                f"split view: two checkpoints of size {n.size} with different roots "
                f"({s.root.hex()} and {n.root.hex()})",
                first,
                second,
            )
        if n.status_root != s.status_root:
            raise _inconsistent(
                f"split view: two checkpoints of size {n.size} with different status roots "
                f"({s.status_root.hex()} and {n.status_root.hex()})",
                first,
                second,
            )
        # A re-signed, unchanged tree: keep whichever is fresher (checkpoint.md §3.2).
        return Relation.SAME, n.time > s.time
    if n.size > s.size:
        # checkpoint.md §3.4 item 3: in signing order neither sizes nor times decrease, so a
        # larger tree signed at an earlier time contradicts the stored one in either order.
        if n.time < s.time:
            raise _inconsistent(
                f"checkpoint of size {n.size} has time {n.time}, earlier than {s.time} of the "
                f"smaller checkpoint of size {s.size}",
                first,
                second,
            )
        if s.size == 0:
            _no_proof_needed(proof, "every tree extends the empty tree")
            return Relation.NEWER, True
        if proof is None:
            raise ConsistencyError(
                f"checkpoint of size {n.size} is newer than the newest seen of {n.origin} "
                f"(size {s.size}); a consistency proof from size {s.size} to {n.size} is required"
            )
        try:
            merkle.verify_consistency(
                size1=s.size, size2=n.size, proof=proof, root1=s.root, root2=n.root
            )
        except ConsistencyError as exc:
            raise _inconsistent(
                f"checkpoint of size {n.size} is not shown to extend the newest seen "
                f"(size {s.size}): {exc}",
                first,
                second,
            ) from None
        return Relation.NEWER, True
    # n.size < s.size: an older tree (§5.3).
    if n.time > s.time:
        raise _inconsistent(
            f"checkpoint of size {n.size} has time {n.time}, later than {s.time} of the "
            f"larger checkpoint of size {s.size}",
            first,
            second,
        )
    proven = n.size == 0
    if n.size == 0:
        _no_proof_needed(proof, "the empty tree is a prefix of every tree")
    elif proof is not None:
        # Checked even when the older checkpoint will be refused below: a fork must surface
        # as evidence, not as a mere "too old".
        try:
            merkle.verify_consistency(
                size1=n.size, size2=s.size, proof=proof, root1=n.root, root2=s.root
            )
        except ConsistencyError as exc:
            raise _inconsistent(
                f"checkpoint of size {n.size} is not shown to be a prefix of the newest seen "
                f"(size {s.size}): {exc}",
                first,
                second,
            ) from None
        proven = True
    if not accept_older:
        raise StaleError(
            f"can't tell: the checkpoint of {n.origin} (size {n.size}, time {n.time}) is older "
            f"than the newest seen (size {s.size}, time {s.time}); its status may have been "
            f"superseded — ask for evidence at size {s.size} or later"
        )
    if not proven:
        raise ConsistencyError(
            f"checkpoint of size {n.size} is older than the newest seen of {n.origin} "
            f"(size {s.size}); a consistency proof from size {n.size} to {s.size} is required"
        )
    return Relation.OLDER, False


def _observe(
    store: CheckpointStore,
    new: VerifiedCheckpoint,
    *,
    origin: str,
    log_key: Verifier,
    consistency_proof: Sequence[bytes] | None,
    stored_size: int | None,
    accept_older: bool,
) -> Observation:
    proof = _as_proof(consistency_proof)
    if stored_size is not None and (type(stored_size) is not int or stored_size < 0):
        raise ConsistencyError("stored_size is a non-negative int or None")
    for _ in range(_MAX_ATTEMPTS):
        stored_note = store.latest(origin)
        if stored_note is None:
            # §5.2 step 2: the first checkpoint of an origin is taken on the strength of the
            # log's signature alone (the trust policy names the log's key).
            _no_proof_needed(proof, "nothing has been seen of this origin")
            if store.compare_and_set(origin, None, new.note):
                return Observation(
                    new.checkpoint, new.note, Relation.FIRST, new.checkpoint, new.note, True
                )
            continue
        stored = _open_stored(stored_note, origin, log_key)
        # §5.2 step 4: a proof relates two particular sizes. If the store no longer holds the
        # size it was made for (another writer moved it), it is set aside, never taken for
        # evidence against a checkpoint it was not made for.
        if stored_size is None:
            stored_size = stored.checkpoint.size
        usable = proof if stored.checkpoint.size == stored_size else None
        relation, replace = _relate(stored, new, usable, accept_older=accept_older)
        if not replace:
            return Observation(
                new.checkpoint, new.note, relation, stored.checkpoint, stored_note, False
            )
        if store.compare_and_set(origin, stored_note, new.note):
            return Observation(new.checkpoint, new.note, relation, new.checkpoint, new.note, True)
        # Lost to a concurrent writer: re-read and decide again (§5.2 step 7).
    raise StorageError(
        f"the checkpoint store for {origin} kept changing; gave up after {_MAX_ATTEMPTS} attempts"
    )


def observe_checkpoint(
    store: CheckpointStore,
    note: bytes,
    *,
    origin: str,
    log_key: Verifier,
    consistency_proof: Sequence[bytes] | None = None,
    stored_size: int | None = None,
    accept_older: bool = False,
) -> Observation:
    """Check a checkpoint note against the newest one ``store`` holds for ``origin`` and
    record it if it is newer (spec/verification.md §5.2).

    ``origin`` and ``log_key`` come from the caller's trust policy. ``consistency_proof`` is
    the RFC 9162 proof between the stored checkpoint and this one — from the stored size to
    this one's if this one is larger, from this one's size to the stored size if it is
    smaller — as the log serves it (:meth:`noc_ledger.ledger.ledger.Ledger.prove_consistency`).
    ``stored_size`` is the size of the stored checkpoint the caller fetched the proof for; if
    the store holds another size by the time it is read, the proof is set aside (treated as
    missing) rather than checked against checkpoints it was not made for. Without
    ``stored_size`` the size read first is assumed.

    A checkpoint smaller than the newest seen is refused as stale unless ``accept_older``;
    even then it never replaces the newest seen, and the result's ``is_latest`` is false
    (spec/verification.md §5.3).

    Returns:
        An :class:`Observation`.

    Raises:
        DecodeError: the note or its body is malformed.
        SignatureError: the note does not verify under ``log_key`` as a checkpoint of
            ``origin``.
        InconsistencyError: the checkpoint and the stored one cannot both be honest: same
            size and different roots or status roots; a larger size with an earlier time or a
            smaller size with a later time; or the proof does not verify between them.
            ``first`` is the stored note, ``second`` this one. Nothing is stored.
        ConsistencyError: a proof is needed and missing (or set aside), or one was given
            where none applies, or ``stored_size`` is not a non-negative int. Nothing is
            stored; ask the log for the proof and observe again.
        StaleError: the checkpoint is older than the newest seen and ``accept_older`` is
            false ("can't tell").
        StorageError: the store failed, holds a note that does not verify under
            ``log_key``, or kept changing under concurrent writers.
    """
    new = open_checkpoint(note, origin=origin, log_key=log_key)
    return _observe(
        store,
        new,
        origin=origin,
        log_key=log_key,
        consistency_proof=consistency_proof,
        stored_size=stored_size,
        accept_older=accept_older,
    )


def observe_bundle(
    store: CheckpointStore,
    bundle: bytes,
    policy: TrustPolicy,
    consistency_proof: Sequence[bytes] | None = None,
    *,
    stored_size: int | None = None,
    accept_older: bool = False,
) -> Observation:
    """Observe the checkpoint of an offline bundle (spec/verification.md §5.4): decode the
    bundle, open its checkpoint with the policy's log key for its origin and require the
    policy's witness quorum — steps 1-3 of spec/verification.md §3 — then
    :func:`observe_checkpoint`. A checkpoint the verifier would reject therefore never
    becomes the newest seen. The rest of the bundle is not verified here:
    :func:`noc_ledger.verify.verify_bundle` does that.

    Raises:
        DecodeError: the bundle or its checkpoint note is malformed.
        SignatureError: the policy has no log for the checkpoint's origin, or the log's
            signature does not verify.
        QuorumError: a known witness's cosignature fails, or the quorum is not met.
        InconsistencyError, ConsistencyError, StaleError, StorageError: as for
            :func:`observe_checkpoint`.
    """
    checkpoint_note = Bundle.from_cbor(bundle).checkpoint
    origin = decode_checkpoint_note(checkpoint_note).origin
    log_key = policy.log_for(origin)
    if log_key is None:
        raise SignatureError(f"checkpoint origin {origin!r} is not a log of the trust policy")
    opened = open_checkpoint(checkpoint_note, origin=origin, log_key=log_key)
    # Same rule as spec/verification.md §3 step 3.
    try:
        cosigned = verify_cosignatures(opened, policy.witnesses.values())
    except NocLedgerError as exc:
        raise QuorumError(f"a witness cosignature does not verify: {exc}") from None
    names = sorted({c.name for c in cosigned})
    if not policy.quorum_satisfied(names):
        raise QuorumError(f"witness quorum not met (cosigned by: {', '.join(names) or 'none'})")
    return _observe(
        store,
        opened,
        origin=origin,
        log_key=log_key,
        consistency_proof=consistency_proof,
        stored_size=stored_size,
        accept_older=accept_older,
    )
