"""The storage contract every ledger backend implements (GUIDE D12).

A store keeps four things, and changes them only inside a :class:`Transaction`:

* the log's entries, by zero-based index (spec/log.md §2);
* the Merkle tree's stored hashes (spec/log.md §6), written as entries are appended, so that
  roots and proofs are read in O(log n) without rebuilding the tree;
* derived state as byte key/value pairs in named namespaces (certificate status, key
  state, status-map nodes, …), which the ledger keeps in step with the entries;
* the checkpoints it has signed, by size.

Rules every backend follows (tests/ledger_contract.py checks them all):

1. **One writer at a time.** :meth:`Store.transaction` waits for, then holds, exclusive
   write access across threads *and processes* (SQLite: ``BEGIN IMMEDIATE``). Everything read
   inside it is the state as of its start plus its own writes.
2. **All or nothing, durably.** Leaving the ``with`` block normally commits; the commit is
   durable (on disk, fsync'd) before ``__exit__`` returns. Leaving by an exception rolls
   back every write of the transaction, and the exception propagates.
3. **Append-only.** Entries are only appended, at index ``size()``; stored hashes and
   status-map nodes are never overwritten with different bytes; checkpoints are added in
   increasing size (equal size: only the same bytes again).
4. **Readers see committed states only.** :meth:`Store.snapshot` gives a consistent
   read-only view of one committed state, unaffected by later commits.
5. Failures are :class:`~noc_ledger.errors.StorageError` (never a driver exception).

Details every backend shares (and the contract suite checks): an entry over 65,535 bytes is
refused with StorageError; a second transaction opened by the same thread while one is
open is refused with StorageError (it would wait for itself); ``find_entry`` returns the
lowest index; readers, transactions and ``scan`` iterators are dead after their ``with``
block and belong to the thread that opened them; after a StorageError from the backend
inside a transaction, the transaction can only roll back. Re-storing a checkpoint of a
size already stored succeeds only with the same bytes. The status-map namespace is
content-addressed (a node's key is its hash), so ``put`` never changes a stored node's
bytes there in practice; the contract does not police it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

__all__ = ["Reader", "Store", "Transaction"]


class Reader(Protocol):
    """Read access to one consistent state of a store. Also a merkle.HashReader."""

    def size(self) -> int:
        """Number of entries."""
        ...

    def read_entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``start`` (inclusive) to ``end`` (exclusive), verbatim.

        Raises:
            OutOfRangeError: ``not 0 <= start <= end <= size()``.
            StorageError: the store failed.
        """
        ...

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Stored Merkle hashes by stored-hash index (spec/log.md §6), in the order asked.

        Raises:
            StorageError: an index is not stored, or the store failed.
        """
        ...

    def find_entry(self, leaf_hash: bytes) -> int | None:
        """The index of the entry whose RFC 9162 leaf hash is ``leaf_hash``, if any (used to
        make re-submission idempotent)."""
        ...

    def get(self, namespace: str, key: bytes) -> bytes | None:
        """A derived-state value, or None."""
        ...

    def get_many(self, namespace: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """Several derived-state values in one call, in the order asked."""
        ...

    def scan(self, namespace: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """All (key, value) pairs of a namespace whose key starts with ``prefix``, in
        ascending key order."""
        ...

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """(size, signed note bytes) of the checkpoint of the largest size, if any."""
        ...

    def checkpoint_at(self, size: int) -> bytes | None:
        """The signed note of the checkpoint of exactly ``size``, if one was stored."""
        ...


class Transaction(Reader, Protocol):
    """Exclusive write access; see the module docstring for the rules."""

    def append(self, entries: Sequence[bytes]) -> int:
        """Append entries at ``size()``, storing their leaf hashes and the tree's new
        stored hashes; return the index of the first one.

        Raises:
            StorageError: the store failed.
        """
        ...

    def put(self, namespace: str, key: bytes, value: bytes) -> None:
        """Set a derived-state value (insert or replace)."""
        ...

    def put_many(self, namespace: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Set several derived-state values."""
        ...

    def put_checkpoint(self, size: int, note: bytes) -> None:
        """Record a signed checkpoint.

        Raises:
            StorageError: ``size`` is larger than ``size()``, smaller than the latest
                checkpoint's, or equal to a stored one with different bytes.
        """
        ...


class Store(Protocol):
    """A ledger backend."""

    def transaction(self) -> AbstractContextManager[Transaction]:
        """Exclusive, atomic, durable write access (rules 1–2).

        Raises:
            StorageError: the lock could not be taken within the backend's timeout, or
                the commit failed (then nothing was written).
        """
        ...

    def snapshot(self) -> AbstractContextManager[Reader]:
        """A consistent read-only view of the latest committed state (rule 4)."""
        ...

    def check_integrity(self) -> int:
        """Recompute every stored Merkle hash from the entries; return the size checked.

        Raises:
            StorageError: naming the first index whose stored hash is wrong.
        """
        ...

    def close(self) -> None:
        """Release the backend's resources; the store cannot be used afterwards."""
        ...
