"""An in-process ledger store, for tests (the storage contract: ledger/store.py).

:class:`MemoryStore` keeps everything in Python objects and forgets it on exit. It follows
every rule of the contract except durability (rule 2: there is no disk), and passes the
shared contract suite (tests/ledger_contract.py).

How the rules are met:

* Rule 1: a lock held for the whole transaction; a second transaction from the same thread
  is refused (it would otherwise wait for itself).
* Rule 2: the transaction appends entries and stored hashes to the shared lists past the
  committed size (no snapshot looks there) and buffers derived state and checkpoints in its
  own dicts; commit publishes them, rollback truncates the lists and drops the buffers.
* Rule 4: a snapshot holds the committed size and references to the committed dicts.
  Those dicts are copy-on-write: a commit updates a dict in place only if it was created
  after the last snapshot was taken (so no snapshot can hold it), otherwise it copies it
  first. A store that is written without snapshots in between copies nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from noc_ledger import merkle
from noc_ledger.errors import OutOfRangeError, StorageError
from noc_ledger.ledger.store import Reader, Transaction

__all__ = ["MAX_ENTRY_SIZE", "MemoryStore"]

#: Largest entry a store accepts: the C2SP tlog-tiles limit (spec/log.md §2 item 2).
MAX_ENTRY_SIZE = 65_535


def _require_index(name: str, value: object) -> int:
    # bool is an int subclass; True as an index is always a bug (as in merkle).
    if not isinstance(value, int) or isinstance(value, bool):
        raise OutOfRangeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def _check_range(start: object, end: object, size: int) -> tuple[int, int]:
    s = _require_index("start", start)
    e = _require_index("end", end)
    if not 0 <= s <= e <= size:
        raise OutOfRangeError(f"entries [{s}, {e}) are not within a log of size {size}")
    return s, e


def _check_entries(entries: Sequence[bytes]) -> list[bytes]:
    batch = list(entries)
    for position, entry in enumerate(batch):
        if not isinstance(entry, bytes):
            raise TypeError(f"entry {position} is {type(entry).__name__}, not bytes")
        if len(entry) > MAX_ENTRY_SIZE:
            raise StorageError(
                f"entry {position} is {len(entry)} bytes, over the {MAX_ENTRY_SIZE}-byte "
                "limit (spec/log.md §2)"
            )
    return batch


def _check_kv(namespace: object, key: object, value: object = b"") -> None:
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be str, got {type(namespace).__name__}")
    if not isinstance(key, bytes):
        raise TypeError(f"key must be bytes, got {type(key).__name__}")
    if not isinstance(value, bytes):
        raise TypeError(f"value must be bytes, got {type(value).__name__}")


class _Snapshot:
    """One committed state: the shared append-only lists up to ``size``, and dicts that no
    commit will modify any more (copy-on-write, see the module docstring)."""

    def __init__(
        self,
        store: MemoryStore,
        size: int,
        kv: dict[str, dict[bytes, bytes]],
        checkpoints: dict[int, bytes],
        latest: tuple[int, bytes] | None,
    ) -> None:
        self._store = store
        self._size = size
        self._hash_count = merkle.stored_hash_count(size)
        self._kv = kv
        self._checkpoints = checkpoints
        self._latest = latest
        self._live = True

    def _check_live(self) -> None:
        if not self._live:
            raise StorageError("this snapshot or transaction is finished")

    # Reader -------------------------------------------------------------------------------

    def size(self) -> int:
        self._check_live()
        return self._size

    def read_entries(self, start: int, end: int) -> list[bytes]:
        self._check_live()
        s, e = _check_range(start, end, self._size)
        return self._store._entries[s:e]

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self._check_live()
        hashes = self._store._hashes
        count = self._hash_count
        out: list[bytes] = []
        for i in indexes:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < count:
                raise StorageError(f"stored hash {i!r} is not stored (size {self._size})")
            out.append(hashes[i])
        return out

    def find_entry(self, leaf_hash: bytes) -> int | None:
        self._check_live()
        if not isinstance(leaf_hash, bytes):
            raise TypeError(f"leaf_hash must be bytes, got {type(leaf_hash).__name__}")
        index = self._store._first_index.get(leaf_hash)
        # The dict holds the lowest committed index; a later commit only adds higher ones.
        return index if index is not None and index < self._size else None

    def get(self, namespace: str, key: bytes) -> bytes | None:
        self._check_live()
        _check_kv(namespace, key)
        return self._kv.get(namespace, {}).get(key)

    def get_many(self, namespace: str, keys: Sequence[bytes]) -> list[bytes | None]:
        return [self.get(namespace, key) for key in keys]

    def scan(self, namespace: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        self._check_live()
        _check_kv(namespace, prefix)
        items = self._kv.get(namespace, {})
        return self._iterate(sorted((k, v) for k, v in items.items() if k.startswith(prefix)))

    def _iterate(self, items: list[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        # Taken eagerly (a consistent copy), handed out only while the view is open, as a
        # paged backend would.
        self._check_live()
        for item in items:
            self._check_live()
            yield item

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        self._check_live()
        return self._latest

    def checkpoint_at(self, size: int) -> bytes | None:
        self._check_live()
        return self._checkpoints.get(size)


class _Transaction(_Snapshot):
    """The committed state at the start plus this transaction's own writes (rule 1)."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store, store._size, store._kv, store._checkpoints, store._latest)
        self._new_kv: dict[str, dict[bytes, bytes]] = {}
        self._new_first: dict[bytes, int] = {}
        self._new_checkpoints: dict[int, bytes] = {}

    # Reader, with this transaction's writes on top ----------------------------------------

    def size(self) -> int:
        self._check_live()
        return len(self._store._entries)

    def read_entries(self, start: int, end: int) -> list[bytes]:
        self._check_live()
        entries = self._store._entries
        s, e = _check_range(start, end, len(entries))
        return entries[s:e]

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self._check_live()
        hashes = self._store._hashes
        count = len(hashes)
        out: list[bytes] = []
        for i in indexes:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < count:
                raise StorageError(f"stored hash {i!r} is not stored")
            out.append(hashes[i])
        return out

    def find_entry(self, leaf_hash: bytes) -> int | None:
        found = super().find_entry(leaf_hash)
        return found if found is not None else self._new_first.get(leaf_hash)

    def get(self, namespace: str, key: bytes) -> bytes | None:
        self._check_live()
        _check_kv(namespace, key)
        new = self._new_kv.get(namespace)
        if new is not None and key in new:
            return new[key]
        return self._kv.get(namespace, {}).get(key)

    def scan(self, namespace: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        self._check_live()
        _check_kv(namespace, prefix)
        merged = dict(self._kv.get(namespace, {}))
        merged.update(self._new_kv.get(namespace, {}))
        return self._iterate(sorted((k, v) for k, v in merged.items() if k.startswith(prefix)))

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        self._check_live()
        return self._latest

    def checkpoint_at(self, size: int) -> bytes | None:
        self._check_live()
        new = self._new_checkpoints.get(size)
        return new if new is not None else self._checkpoints.get(size)

    # Transaction ---------------------------------------------------------------------------

    def append(self, entries: Sequence[bytes]) -> int:
        self._check_live()
        batch = _check_entries(entries)
        store_entries, hashes = self._store._entries, self._store._hashes
        first = n = len(store_entries)
        hash_count = len(hashes)
        new_first: dict[bytes, int] = {}
        try:
            for entry in batch:
                leaf = merkle.leaf_hash(entry)
                # Reads the left siblings from the shared list, which already holds this
                # transaction's earlier hashes (spec/log.md §6.3).
                hashes.extend(merkle.stored_hashes_for_append(n, leaf, self))
                store_entries.append(entry)
                if leaf not in new_first and self.find_entry(leaf) is None:
                    new_first[leaf] = n
                n += 1
        except BaseException:
            # All or nothing within the call too: a caller that catches the error and
            # carries on must not commit half a batch.
            del store_entries[first:]
            del hashes[hash_count:]
            raise
        self._new_first.update(new_first)
        return first

    def put(self, namespace: str, key: bytes, value: bytes) -> None:
        self._check_live()
        _check_kv(namespace, key, value)
        self._new_kv.setdefault(namespace, {})[key] = value

    def put_many(self, namespace: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        self._check_live()
        checked = list(items)
        for key, value in checked:
            _check_kv(namespace, key, value)
        self._new_kv.setdefault(namespace, {}).update(checked)

    def put_checkpoint(self, size: int, note: bytes) -> None:
        self._check_live()
        _require_index("size", size)
        if not isinstance(note, bytes):
            raise TypeError(f"note must be bytes, got {type(note).__name__}")
        existing = self.checkpoint_at(size)
        if existing is not None:
            if existing != note:
                raise StorageError(f"a different checkpoint of size {size} is already stored")
            return
        if self._latest is not None and size < self._latest[0]:
            raise StorageError(
                f"checkpoint size {size} is below the latest checkpoint's {self._latest[0]}"
            )
        if not 0 <= size <= self.size():
            raise StorageError(f"checkpoint size {size} exceeds the log size {self.size()}")
        self._new_checkpoints[size] = note
        self._latest = (size, note)

    # Commit / rollback (called by MemoryStore with the write lock held) --------------------

    def _commit(self) -> None:
        store = self._store
        with store._state_lock:
            for leaf, index in self._new_first.items():
                store._first_index.setdefault(leaf, index)
            if self._new_kv:
                outer = store._kv if store._owned_outer else dict(store._kv)
                for namespace, writes in self._new_kv.items():
                    inner = outer.get(namespace)
                    if inner is None or namespace not in store._owned_kv:
                        inner = dict(inner) if inner is not None else {}
                        outer[namespace] = inner
                        store._owned_kv.add(namespace)
                    inner.update(writes)
                store._kv = outer
                store._owned_outer = True
            if self._new_checkpoints:
                checkpoints = store._checkpoints
                if not store._owned_checkpoints:
                    checkpoints = dict(checkpoints)
                checkpoints.update(self._new_checkpoints)
                store._checkpoints = checkpoints
                store._owned_checkpoints = True
                store._latest = self._latest
            store._size = len(store._entries)

    def _rollback(self) -> None:
        store = self._store
        del store._entries[self._size :]
        del store._hashes[self._hash_count :]


class MemoryStore:
    """An in-memory :class:`~noc_ledger.ledger.store.Store` (not durable: for tests).

    Safe to share between threads. ``timeout`` bounds the wait for the write lock.
    """

    def __init__(self, *, timeout: float = 30.0) -> None:
        self._timeout = timeout
        self._write_lock = threading.Lock()
        self._writer: int | None = None  # thread id of the open transaction, if any
        self._state_lock = threading.Lock()  # guards publishing and capturing a state
        self._closed = False
        # Append-only lists shared with snapshots; positions at or past the committed size
        # belong to the open transaction.
        self._entries: list[bytes] = []
        self._hashes: list[bytes] = []
        self._first_index: dict[bytes, int] = {}  # committed leaf hash -> lowest index
        self._size = 0
        self._kv: dict[str, dict[bytes, bytes]] = {}
        self._checkpoints: dict[int, bytes] = {}
        self._latest: tuple[int, bytes] | None = None
        # Copy-on-write: the dicts created since the last snapshot, which no snapshot holds.
        self._owned_kv: set[str] = set()
        self._owned_outer = True
        self._owned_checkpoints = True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Exclusive, atomic write access (rules 1-2; not durable).

        Raises:
            StorageError: the store is closed, this thread already has a transaction open,
                or the write lock was not free within ``timeout``.
        """
        self._check_open()
        if self._writer == threading.get_ident():
            raise StorageError("this thread already has a transaction open on this store")
        if not self._write_lock.acquire(timeout=self._timeout):
            raise StorageError(f"write lock not acquired within {self._timeout} s")
        try:
            self._check_open()
            self._writer = threading.get_ident()
            txn = _Transaction(self)
            try:
                yield txn
            except BaseException:
                txn._live = False
                txn._rollback()
                raise
            txn._live = False
            txn._commit()
        finally:
            self._writer = None
            self._write_lock.release()

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read-only view of the latest committed state (rule 4).

        Raises:
            StorageError: the store is closed.
        """
        self._check_open()
        with self._state_lock:
            view = _Snapshot(self, self._size, self._kv, self._checkpoints, self._latest)
            # From now on the current dicts are shared: the next commit copies before writing.
            self._owned_kv.clear()
            self._owned_outer = False
            self._owned_checkpoints = False
        try:
            yield view
        finally:
            view._live = False

    def check_integrity(self) -> int:
        """Recompute every stored hash of the committed log from its entries and compare.

        Returns the size checked.

        Raises:
            StorageError: a stored hash differs (the message names the first bad stored hash
                index and the entry whose append stored it), or the store is closed.
        """
        with self.snapshot() as view:
            size = view.size()
            stored = view.read_hashes(range(merkle.stored_hash_count(size)))
            entries = view.read_entries(0, size)
        frontier: dict[int, bytes] = {}
        reader = _FrontierReader(frontier)
        position = 0
        for n, entry in enumerate(entries):
            expected = merkle.stored_hashes_for_append(n, merkle.leaf_hash(entry), reader)
            for h in expected:
                if stored[position] != h:
                    raise StorageError(f"stored hash {position} does not match entry {n}'s append")
                position += 1
            frontier[position - 1] = expected[-1]
        return size

    def close(self) -> None:
        """Drop the data; later calls raise StorageError. Idempotent."""
        self._closed = True


class _FrontierReader:
    """A merkle.HashReader over the right edge of a tree being rebuilt: each stored hash is
    read as a left sibling exactly once (spec/log.md §6.3), so it is removed when read."""

    def __init__(self, frontier: dict[int, bytes]) -> None:
        self._frontier = frontier

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        try:
            return [self._frontier.pop(i) for i in indexes]
        except KeyError as exc:
            raise StorageError(f"stored hash {exc} is not on the right edge") from exc
