"""The SQLite ledger store: embedded, zero-setup, durable (GUIDE D12; ledger/store.py).

One database file holds the log's entries, its stored Merkle hashes (spec/log.md §6),
derived state and checkpoints. How the rules of the storage contract are met:

* Rule 1: every transaction is ``BEGIN IMMEDIATE`` on the store's writer connection, which
  takes SQLite's write lock for the file, so writers in several *processes* serialise (each
  waits up to ``timeout`` seconds, then fails with StorageError). Within a process a
  threading lock serialises the threads sharing one store object first.
* Rule 2: the database is in WAL mode with ``synchronous=FULL``: ``COMMIT`` returns only
  after the write-ahead log is fsync'd. Leaving the ``with`` block by an exception issues
  ``ROLLBACK``. A transaction in which a statement failed is poisoned: it can only roll
  back, so a caller that catches a StorageError cannot commit half a write.
* Rule 3: entries and stored hashes are inserted with plain ``INSERT`` on integer primary
  keys, so an attempt to overwrite one fails; checkpoints are checked before insertion.
* Rule 4: a snapshot is a deferred ``BEGIN`` on a separate read-only connection, started
  at once by a first ``SELECT``; in WAL mode it reads that one committed state until it ends,
  whatever writers commit meanwhile. Read connections are pooled, so snapshots in several
  threads run side by side.
* Rule 5: every ``sqlite3`` exception becomes a StorageError carrying its message.

A SqliteStore object may be shared by the threads of one process. Each process opens its
own (connections must not cross ``fork``). A transaction or snapshot object belongs to the
thread that opened it. A long-lived snapshot keeps the WAL file from being checkpointed
back into the database, so snapshots should be short.

Schema (version 1, in table ``schema_version``; a database of any other version is
refused)::

    entries(idx INTEGER PRIMARY KEY, data BLOB, leaf_hash BLOB)   -- index on leaf_hash
    hashes(idx INTEGER PRIMARY KEY, hash BLOB)                    -- stored hash index
    kv(namespace TEXT, key BLOB, value BLOB, PRIMARY KEY(namespace, key)) WITHOUT ROWID
    checkpoints(size INTEGER PRIMARY KEY, note BLOB)

``leaf_hash`` is not unique: two equal entries are legal in a log (the ledger prevents
them); :meth:`find_entry` returns the lowest index.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any

from noc_ledger import merkle
from noc_ledger.errors import OutOfRangeError, StorageError
from noc_ledger.ledger.store import Reader, Transaction

__all__ = ["MAX_ENTRY_SIZE", "SCHEMA_VERSION", "SqliteStore"]

#: The schema this module reads and writes; any other version is refused.
SCHEMA_VERSION = 1

#: Largest entry a store accepts: the C2SP tlog-tiles limit (spec/log.md §2 item 2).
MAX_ENTRY_SIZE = 65_535

_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, leaf_hash BLOB NOT NULL)",
    "CREATE INDEX entries_by_leaf_hash ON entries (leaf_hash)",
    "CREATE TABLE hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
    "CREATE TABLE kv (namespace TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,"
    " PRIMARY KEY (namespace, key)) WITHOUT ROWID",
    "CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (1)",
)

#: Bound parameters per IN (...) query; well under SQLite's limit on every version.
_CHUNK = 500
#: Rows per page of a scan.
_PAGE = 512
#: Idle read connections kept for later snapshots.
_POOL = 4
#: SQLite integers are signed 64-bit; a larger index can never be stored.
_MAX_INT = (1 << 63) - 1


def _fail(exc: sqlite3.Error) -> StorageError:
    return StorageError(f"sqlite: {exc}")


def _query(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise _fail(exc) from exc


def _require_index(name: str, value: object) -> int:
    # bool is an int subclass; True as an index is always a bug (as in merkle).
    if not isinstance(value, int) or isinstance(value, bool):
        raise OutOfRangeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def _check_kv(namespace: object, key: object, value: object = b"") -> None:
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be str, got {type(namespace).__name__}")
    if not isinstance(key, bytes):
        raise TypeError(f"key must be bytes, got {type(key).__name__}")
    if not isinstance(value, bytes):
        raise TypeError(f"value must be bytes, got {type(value).__name__}")


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``, or
    None if there is none (prefix empty or all 0xff). BLOBs compare as memcmp, so
    ``prefix <= key < _prefix_end(prefix)`` is exactly ``key.startswith(prefix)``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _connect(path: str, timeout: float, *, read_only: bool) -> sqlite3.Connection:
    try:
        # isolation_level=None: no implicit transactions; BEGIN/COMMIT are ours.
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _fail(exc) from exc
    try:
        # FULL: in WAL mode the log is fsync'd at every commit (rule 2). fullfsync makes
        # that a real flush on macOS, where fsync alone leaves data in the drive's cache.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA fullfsync=ON")
        if read_only:
            conn.execute("PRAGMA query_only=ON")
    except sqlite3.Error as exc:
        conn.close()
        raise _fail(exc) from exc
    return conn


class _Reader:
    """Reads through one connection that is inside a transaction (read or write)."""

    def __init__(self, conn: sqlite3.Connection, size: int) -> None:
        self._conn = conn
        self._size = size
        self._live = True

    def _check_live(self) -> None:
        if not self._live:
            raise StorageError("this snapshot or transaction is finished")

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self._check_live()
        return _query(self._conn, sql, params)

    def size(self) -> int:
        self._check_live()
        return self._size

    def read_entries(self, start: int, end: int) -> list[bytes]:
        self._check_live()
        s = _require_index("start", start)
        e = _require_index("end", end)
        if not 0 <= s <= e <= self._size:
            raise OutOfRangeError(f"entries [{s}, {e}) are not within a log of size {self._size}")
        if s == e:
            return []
        rows = self._q("SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (s, e))
        if len(rows) != e - s:
            raise StorageError(f"entries [{s}, {e}): {len(rows)} rows stored, log is corrupt")
        return [row[0] for row in rows]

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self._check_live()
        wanted = list(indexes)
        for i in wanted:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i <= _MAX_INT:
                raise StorageError(f"stored hash {i!r} is not stored")
        unique = list(dict.fromkeys(wanted))
        found: dict[int, bytes] = {}
        for lo in range(0, len(unique), _CHUNK):
            chunk = unique[lo : lo + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(self._q(f"SELECT idx, hash FROM hashes WHERE idx IN ({marks})", chunk))  # noqa: S608
        out: list[bytes] = []
        for i in wanted:
            h = found.get(i)
            if h is None:
                raise StorageError(f"stored hash {i} is not stored")
            if not isinstance(h, bytes) or len(h) != merkle.HASH_SIZE:
                raise StorageError(f"stored hash {i} is not a {merkle.HASH_SIZE}-byte hash")
            out.append(h)
        return out

    def find_entry(self, leaf_hash: bytes) -> int | None:
        if not isinstance(leaf_hash, bytes):
            raise TypeError(f"leaf_hash must be bytes, got {type(leaf_hash).__name__}")
        rows = self._q(
            "SELECT idx FROM entries WHERE leaf_hash = ? ORDER BY idx LIMIT 1", (leaf_hash,)
        )
        return int(rows[0][0]) if rows else None

    def get(self, namespace: str, key: bytes) -> bytes | None:
        _check_kv(namespace, key)
        rows = self._q("SELECT value FROM kv WHERE namespace = ? AND key = ?", (namespace, key))
        return bytes(rows[0][0]) if rows else None

    def get_many(self, namespace: str, keys: Sequence[bytes]) -> list[bytes | None]:
        wanted = list(keys)
        for key in wanted:
            _check_kv(namespace, key)
        unique = list(dict.fromkeys(wanted))
        found: dict[bytes, bytes] = {}
        for lo in range(0, len(unique), _CHUNK):
            chunk = unique[lo : lo + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._q(
                    f"SELECT key, value FROM kv WHERE namespace = ? AND key IN ({marks})",  # noqa: S608
                    [namespace, *chunk],
                )
            )
        return [found.get(key) for key in wanted]

    def scan(self, namespace: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        self._check_live()
        _check_kv(namespace, prefix)
        return self._scan(namespace, prefix)

    def _scan(self, namespace: str, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        # Paged by key, so the connection is never left with an open cursor between calls.
        end = _prefix_end(prefix)
        upper = "" if end is None else " AND key < ?"
        tail = () if end is None else (end,)
        rows = self._q(
            f"SELECT key, value FROM kv WHERE namespace = ? AND key >= ?{upper}"  # noqa: S608
            f" ORDER BY key LIMIT {_PAGE}",
            (namespace, prefix, *tail),
        )
        while True:
            for row in rows:
                self._check_live()
                yield row
            if len(rows) < _PAGE:
                return
            rows = self._q(
                f"SELECT key, value FROM kv WHERE namespace = ? AND key > ?{upper}"  # noqa: S608
                f" ORDER BY key LIMIT {_PAGE}",
                (namespace, rows[-1][0], *tail),
            )

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        rows = self._q("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def checkpoint_at(self, size: int) -> bytes | None:
        s = _require_index("size", size)
        if not 0 <= s <= _MAX_INT:
            return None
        rows = self._q("SELECT note FROM checkpoints WHERE size = ?", (s,))
        return bytes(rows[0][0]) if rows else None


class _Transaction(_Reader):
    """The writer connection inside ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection, size: int) -> None:
        super().__init__(conn, size)
        self._poisoned = False
        # The right edge of the tree as far as this transaction has learned it: stored hash
        # index -> hash. Appending reads each left sibling exactly once (spec/log.md §6.3),
        # so a hash is removed when read and the dict stays O(log size).
        self._frontier: dict[int, bytes] = {}

    def _w(self, sql: str, params: Sequence[Any]) -> None:
        self._check_live()
        try:
            self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            self._poisoned = True
            raise _fail(exc) from exc

    def _wmany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._check_live()
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            self._poisoned = True
            raise _fail(exc) from exc

    def _read_siblings(self, indexes: Sequence[int]) -> list[bytes]:
        """merkle.HashReader for appending: the frontier first, then the database."""
        frontier = self._frontier
        out = [frontier.pop(i, b"") for i in indexes]
        missing = [i for i, h in zip(indexes, out, strict=True) if not h]
        if missing:
            fetched = dict(zip(missing, self.read_hashes(missing), strict=True))
            out = [h or fetched[i] for i, h in zip(indexes, out, strict=True)]
        return out

    def append(self, entries: Sequence[bytes]) -> int:
        self._check_live()
        if self._poisoned:
            raise StorageError("an earlier statement of this transaction failed")
        batch = list(entries)
        for position, entry in enumerate(batch):
            if not isinstance(entry, bytes):
                raise TypeError(f"entry {position} is {type(entry).__name__}, not bytes")
            if len(entry) > MAX_ENTRY_SIZE:
                raise StorageError(
                    f"entry {position} is {len(entry)} bytes, over the {MAX_ENTRY_SIZE}-byte "
                    "limit (spec/log.md §2)"
                )
        first = n = self._size
        position = merkle.stored_hash_count(n)
        frontier = self._frontier
        leaf_hash = merkle.leaf_hash
        for_append = merkle.stored_hashes_for_append
        reader = _SiblingReader(self)
        entry_rows: list[tuple[int, bytes, bytes]] = []
        hash_rows: list[tuple[int, bytes]] = []
        try:
            for entry in batch:
                leaf = leaf_hash(entry)
                new = for_append(n, leaf, reader)
                entry_rows.append((n, entry, leaf))
                for h in new:
                    hash_rows.append((position, h))
                    position += 1
                frontier[position - 1] = new[-1]
                n += 1
        except BaseException:
            self._poisoned = True  # the frontier no longer matches the database
            raise
        self._wmany("INSERT INTO entries (idx, data, leaf_hash) VALUES (?, ?, ?)", entry_rows)
        self._wmany("INSERT INTO hashes (idx, hash) VALUES (?, ?)", hash_rows)
        self._size = n
        return first

    def put(self, namespace: str, key: bytes, value: bytes) -> None:
        _check_kv(namespace, key, value)
        self._w(
            "INSERT OR REPLACE INTO kv (namespace, key, value) VALUES (?, ?, ?)",
            (namespace, key, value),
        )

    def put_many(self, namespace: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        rows = [(namespace, key, value) for key, value in items]
        for _, key, value in rows:
            _check_kv(namespace, key, value)
        self._wmany("INSERT OR REPLACE INTO kv (namespace, key, value) VALUES (?, ?, ?)", rows)

    def put_checkpoint(self, size: int, note: bytes) -> None:
        s = _require_index("size", size)
        if not isinstance(note, bytes):
            raise TypeError(f"note must be bytes, got {type(note).__name__}")
        existing = self.checkpoint_at(s)
        if existing is not None:
            if existing != note:
                raise StorageError(f"a different checkpoint of size {s} is already stored")
            return
        latest = self.latest_checkpoint()
        if latest is not None and s < latest[0]:
            raise StorageError(f"checkpoint size {s} is below the latest checkpoint's {latest[0]}")
        if not 0 <= s <= self._size:
            raise StorageError(f"checkpoint size {s} exceeds the log size {self._size}")
        self._w("INSERT INTO checkpoints (size, note) VALUES (?, ?)", (s, note))


class _SiblingReader:
    """The merkle.HashReader that append hands to merkle.stored_hashes_for_append."""

    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return self._txn._read_siblings(indexes)


class SqliteStore:
    """A :class:`~noc_ledger.ledger.store.Store` in one SQLite database file.

    Opening creates the file and the schema if the file is absent or empty.

    Raises:
        StorageError: the file cannot be opened, is not a SQLite database, is a database of
            another application or of an unknown schema version, or cannot be put in WAL mode.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self._path = os.fspath(path)
        if self._path == "" or self._path.startswith(":memory:") or self._path.startswith("file:"):
            raise StorageError("SqliteStore needs a database file path")
        self._timeout = timeout
        self._write_lock = threading.Lock()
        self._writer_thread: int | None = None
        self._pool_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        self._writer: sqlite3.Connection | None = _connect(self._path, timeout, read_only=False)
        try:
            self._init_schema(self._writer)
        except BaseException:
            self._writer.close()
            raise

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        try:
            # Persistent in the file; a no-op once the database is in WAL mode.
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise StorageError(f"cannot put {self._path!r} in WAL mode (got {mode!r})")
            conn.execute("BEGIN IMMEDIATE")
            try:
                tables = {
                    row[0]
                    for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                if not tables:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                elif "schema_version" not in tables:
                    raise StorageError(f"{self._path!r} is not a noc_ledger store")
                else:
                    versions = conn.execute("SELECT version FROM schema_version").fetchall()
                    if versions != [(SCHEMA_VERSION,)]:
                        found = [row[0] for row in versions]
                        raise StorageError(
                            f"{self._path!r} has schema version {found}; "
                            f"this code reads version {SCHEMA_VERSION} only"
                        )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _fail(exc) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")

    # Writing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Exclusive, atomic, durable write access (rules 1-2).

        Raises:
            StorageError: the store is closed; this thread already has a transaction open
                on it; another thread or process held the write lock for ``timeout``
                seconds; a statement failed earlier in the transaction; or the commit
                failed (then nothing was written).
        """
        self._check_open()
        if self._writer_thread == threading.get_ident():
            raise StorageError("this thread already has a transaction open on this store")
        if not self._write_lock.acquire(timeout=self._timeout):
            raise StorageError(f"write lock not acquired within {self._timeout} s")
        try:
            self._check_open()
            self._writer_thread = threading.get_ident()
            conn = self._writer
            if conn is None:  # discarded after a failed rollback
                conn = self._writer = _connect(self._path, self._timeout, read_only=False)
            try:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute("SELECT coalesce(max(idx) + 1, 0) FROM entries").fetchone()
            except sqlite3.Error as exc:
                self._abort(conn)
                raise _fail(exc) from exc
            txn = _Transaction(conn, int(row[0]))
            try:
                yield txn
            except BaseException:
                txn._live = False
                self._abort(conn)
                raise
            txn._live = False
            if txn._poisoned:
                self._abort(conn)
                raise StorageError("a statement of the transaction failed; rolled back")
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._abort(conn)
                raise _fail(exc) from exc
        finally:
            self._writer_thread = None
            self._write_lock.release()

    def _abort(self, conn: sqlite3.Connection) -> None:
        """Roll back; if that fails, drop the connection (closing it rolls back)."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            self._writer = None
            with suppress(sqlite3.Error):
                conn.close()

    # Reading ---------------------------------------------------------------------------

    def snapshot(self) -> AbstractContextManager[Reader]:
        """A read-only view of the latest committed state (rule 4).

        Raises:
            StorageError: the store is closed or the read could not start.
        """
        return self._snapshot()

    @contextmanager
    def _snapshot(self) -> Iterator[_Reader]:
        with self._pool_lock:
            self._check_open()
            conn = self._readers.pop() if self._readers else None
        if conn is None:
            conn = _connect(self._path, self._timeout, read_only=True)
        reusable = False
        try:
            try:
                conn.execute("BEGIN")
                # A deferred BEGIN starts reading only at the first SELECT; this one pins
                # the WAL snapshot now, not at the caller's first read.
                row = conn.execute("SELECT coalesce(max(idx) + 1, 0) FROM entries").fetchone()
            except sqlite3.Error as exc:
                raise _fail(exc) from exc
            reader = _Reader(conn, int(row[0]))
            try:
                yield reader
            finally:
                reader._live = False
            reusable = True
        finally:
            self._release_reader(conn, reusable)

    def _release_reader(self, conn: sqlite3.Connection, reusable: bool) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            reusable = False
        with self._pool_lock:
            if reusable and not self._closed and len(self._readers) < _POOL:
                self._readers.append(conn)
                return
        conn.close()

    # Audit -----------------------------------------------------------------------------

    def check_integrity(self, *, batch: int = 10_000) -> int:
        """Recompute every stored hash from the entries, in one snapshot, and compare.

        Also checks that entries and stored hashes have no gaps or extra rows, that each
        entry's recorded leaf hash is its RFC 9162 leaf hash, and that no checkpoint is
        beyond the log. Returns the size checked.

        Raises:
            StorageError: the first discrepancy (naming the stored hash index and entry, or
                the entry index), or the database failed.
        """
        with self._snapshot() as view:
            conn, size = view._conn, view._size
            count = merkle.stored_hash_count(size)
            entry_rows, max_entry = _query(conn, "SELECT count(*), max(idx) FROM entries")[0]
            if entry_rows != size or (size and max_entry != size - 1):
                raise StorageError(f"entries table has {entry_rows} rows for a log of {size}")
            hash_rows, max_hash = _query(conn, "SELECT count(*), max(idx) FROM hashes")[0]
            if hash_rows != count or (count and max_hash != count - 1):
                raise StorageError(
                    f"hashes table has {hash_rows} rows; a log of {size} stores {count}"
                )
            latest = view.latest_checkpoint()
            if latest is not None and latest[0] > size:
                raise StorageError(f"checkpoint of size {latest[0]} is beyond the log ({size})")
            frontier: dict[int, bytes] = {}
            reader = _PopReader(frontier)
            position = 0
            for start in range(0, size, batch):
                end = min(start + batch, size)
                rows = _query(
                    conn,
                    "SELECT idx, data, leaf_hash FROM entries WHERE idx >= ? AND idx < ?"
                    " ORDER BY idx",
                    (start, end),
                )
                stored = [
                    h
                    for (h,) in _query(
                        conn,
                        "SELECT hash FROM hashes WHERE idx >= ? AND idx < ? ORDER BY idx",
                        (position, merkle.stored_hash_count(end)),
                    )
                ]
                k = 0
                for n, data, recorded in rows:
                    leaf = merkle.leaf_hash(bytes(data))
                    if recorded != leaf:
                        raise StorageError(f"entry {n}: recorded leaf hash is not its leaf hash")
                    expected = merkle.stored_hashes_for_append(n, leaf, reader)
                    for h in expected:
                        if stored[k] != h:
                            raise StorageError(
                                f"stored hash {position} does not match entry {n}'s append"
                            )
                        k += 1
                        position += 1
                    frontier[position - 1] = expected[-1]
            return size

    def close(self) -> None:
        """Close the connections; later calls raise StorageError. Idempotent.

        Waits for a transaction open in another thread to finish. Snapshots still open
        close their connection when they end.

        Raises:
            StorageError: called inside a transaction of this store, or the transaction of
                another thread did not finish within ``timeout``.
        """
        if self._writer_thread == threading.get_ident():
            raise StorageError("cannot close the store inside its own transaction")
        with self._pool_lock:
            if self._closed:
                return
            self._closed = True
            idle, self._readers = self._readers, []
        for conn in idle:
            conn.close()
        if not self._write_lock.acquire(timeout=self._timeout):
            raise StorageError("a transaction is still open; the writer was not closed")
        try:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        finally:
            self._write_lock.release()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _PopReader:
    """A merkle.HashReader over the right edge of a tree being rebuilt; each stored hash is
    read as a left sibling exactly once (spec/log.md §6.3), so it is removed when read."""

    def __init__(self, frontier: dict[int, bytes]) -> None:
        self._frontier = frontier

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        try:
            return [self._frontier.pop(i) for i in indexes]
        except KeyError as exc:
            raise StorageError(f"stored hash {exc} is not on the right edge") from exc
