"""The PostgreSQL ledger store: several writer processes on several machines (GUIDE D12;
ledger/store.py; docs/postgres.md).

:class:`PostgresStore` keeps the same four things as :class:`~.sqlite.SqliteStore` (entries,
stored Merkle hashes, derived state, checkpoints) in tables of one PostgreSQL schema, through
psycopg 3 (the ``postgres`` extra). How the rules of the storage contract are met:

* Rule 1 (one writer at a time, across processes and machines): every write transaction
  starts, at ``READ COMMITTED``, by taking the ledger's write lock, then reads the log's size
  from the single ``head`` row. With ``lock_mode="advisory"`` (the default) the lock is a
  transaction-scoped advisory lock (``pg_advisory_xact_lock``) whose key is derived from the
  schema name; with ``lock_mode="row"`` it is ``SELECT … FROM head … FOR UPDATE``, which also
  works on PostgreSQL-compatible databases without advisory locks (CockroachDB). Either way
  the server releases the lock when the transaction ends, commits or not, also when the
  client dies. Why ``READ COMMITTED`` and not ``REPEATABLE READ``: a repeatable-read
  snapshot is taken at the first statement, i.e. *before* the wait for the lock, so a writer
  would not see the entries its predecessor committed while it waited and would extend the
  tree from a stale size. Under ``READ COMMITTED`` every statement after the lock sees every
  committed write, and no other writer can commit while the lock is held, so the
  transaction reads one state plus its own writes. The index sequence is gap-free because
  ``head.size`` is read under the lock and moved, in the same transaction, by exactly the
  number of entries inserted at ``size … size + n - 1`` (primary keys refuse a duplicate).
  Threads sharing one store object queue on a threading lock first, as in SqliteStore.
* Rule 2: ``COMMIT`` returns after the server has flushed its write-ahead log
  (``synchronous_commit`` is set ``on`` for our sessions, whatever the server default).
  Leaving the ``with`` block by an exception sends ``ROLLBACK``. A statement that fails
  poisons the transaction (PostgreSQL itself refuses every later statement of it), so a
  caller that catches the StorageError cannot commit half a write.
* Rule 3: entries and stored hashes are inserted on primary keys, never updated;
  checkpoints are checked under the lock before insertion.
* Rule 4: a snapshot is ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`` on a pooled
  read connection, pinned at once by reading ``head``: one committed state until it ends.
* Rule 5: every psycopg exception becomes a StorageError carrying the server's message
  (never the DSN's password). Connections time out (``connect_timeout``), lock waits time
  out (``lock_timeout`` = ``timeout``), every statement times out (``statement_timeout``),
  and TCP keepalives detect a server that vanished.

Serialization failures and deadlocks (SQLSTATE 40001, 40P01) while a transaction or snapshot
*starts* are retried (a few times, with a short backoff); one raised by a statement of the
caller's block or by ``COMMIT`` cannot be retried here — the block has already run — and is
a StorageError saying nothing was written. On PostgreSQL, with the write lock held, neither
happens in practice; on a SERIALIZABLE-only distributed database it can, and the ledger's
``submit`` is idempotent, so the caller may simply submit again. If the connection is lost
*during* ``COMMIT`` the outcome is unknown; the error says so, and re-submitting is again the
safe answer (a certificate already logged returns its original index).

Bulk writes are one statement per table per call (``INSERT … SELECT FROM unnest(array, …)``,
in chunks of :data:`_CHUNK` rows), so a group commit of a thousand certificates costs a
handful of round trips, not thousands.

Schema (version 1, in ``<schema>.schema_version``; any other version is refused; created
idempotently by the first store that opens an empty schema)::

    head(id int PRIMARY KEY CHECK (id = 1), size bigint)     -- exactly one row: the log size
    entries(idx bigint PRIMARY KEY, data bytea, leaf_hash bytea)  -- index (leaf_hash, idx)
    hashes(idx bigint PRIMARY KEY, hash bytea)                     -- stored hash index
    kv(namespace text, key bytea, value bytea, PRIMARY KEY (namespace, key))
    checkpoints(size bigint PRIMARY KEY, note bytea)

``bytea`` compares bytewise (memcmp, then length), so ``scan`` orders keys as the contract
asks. A PostgresStore object may be shared by the threads of one process; each process
opens its own (connections must not cross ``fork``). Session state is set per connection
(timeouts, prepared statements): use a direct connection or a session-mode pooler, not a
transaction-mode one.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, Final, Literal

import psycopg
import psycopg.errors
import psycopg.sql
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from noc_ledger import merkle
from noc_ledger.errors import OutOfRangeError, StorageError
from noc_ledger.ledger.store import Reader, Transaction

__all__ = [
    "DEFAULT_SCHEMA",
    "MAX_ENTRY_SIZE",
    "SCHEMA_VERSION",
    "LockMode",
    "PostgresStore",
    "check_lock_mode",
    "describe_dsn",
]

#: The schema this module reads and writes; any other version is refused.
SCHEMA_VERSION: Final = 1

#: Largest entry a store accepts: the C2SP tlog-tiles limit (spec/log.md §2 item 2).
MAX_ENTRY_SIZE: Final = 65_535

#: The PostgreSQL schema (namespace of tables) used unless another is given.
DEFAULT_SCHEMA: Final = "noc_ledger"

#: How writers exclude each other: see the module docstring and docs/postgres.md.
LockMode = Literal["advisory", "row"]

#: Rows per bulk INSERT, ids per ``= ANY(array)`` lookup.
_CHUNK: Final = 5_000
#: Rows per page of a scan (the LIMIT in _Sql).
_PAGE: Final = 512
#: Idle read connections kept for later snapshots.
_POOL: Final = 4
#: Attempts at starting a transaction or snapshot that hit a serialization failure.
_START_ATTEMPTS: Final = 5
#: bigint is signed 64-bit; a larger index can never be stored.
_MAX_INT: Final = (1 << 63) - 1
#: Unquoted identifiers we accept as schema names (no quoting games, at most 63 bytes).
_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: Connection parameters that are never shown in an error message.
_SECRET_PARAMS: Final = frozenset({"password", "sslpassword", "passfile", "sslkey"})
_RETRYABLE: Final = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


def _message(exc: psycopg.Error) -> str:
    # The server's message and SQLSTATE, first line only: psycopg's messages never contain
    # the password, and the DETAIL/HINT lines add nothing a caller can act on.
    text = str(exc).strip()
    message = text.splitlines()[0] if text else type(exc).__name__
    return f"{message} [{exc.sqlstate}]" if exc.sqlstate else message


def _fail(exc: psycopg.Error, doing: str = "") -> StorageError:
    return StorageError(f"postgresql{' ' + doing if doing else ''}: {_message(exc)}")


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
    None if there is none (prefix empty or all 0xff)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _millis(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def check_lock_mode(server_version: str, lock_mode: LockMode) -> None:
    """Refuse the advisory lock on servers known to fake it.

    CockroachDB shipped ``pg_advisory_*`` functions as stubs that return at once without
    locking (cockroachdb/cockroach#13546), or not at all, before its 2026 releases: two
    writers would both "hold" the lock and fork the log. Only the head-row lock is safe
    there (docs/postgres.md).

    Raises:
        StorageError: ``lock_mode`` is ``"advisory"`` and ``server_version`` (the result of
            ``SELECT version()``) names CockroachDB.
    """
    if lock_mode == "advisory" and "cockroachdb" in server_version.lower():
        raise StorageError(
            "CockroachDB does not (reliably) implement advisory locks: "
            "use PostgresStore(..., lock_mode='row')"
        )


def describe_dsn(dsn: str) -> str:
    """``dsn`` without its secrets, for messages: ``host=… port=… dbname=… user=…``.

    Raises:
        StorageError: the DSN cannot be parsed.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise _fail(exc, "DSN") from None
    shown = [f"{k}={v}" for k, v in sorted(params.items()) if k not in _SECRET_PARAMS]
    return " ".join(shown) or "(libpq defaults)"


class _Sql:
    """Every statement. Table names are unqualified: each connection's ``search_path`` is
    the store's schema alone (pg_catalog is always searched first), so no SQL text is ever
    built from a name, and no table or function of another schema can be picked up."""

    head_size = "SELECT size FROM head WHERE id = 1"
    head_lock = "SELECT size FROM head WHERE id = 1 FOR UPDATE"
    head_set = "UPDATE head SET size = %s WHERE id = 1"
    entries = "SELECT data FROM entries WHERE idx >= %s AND idx < %s ORDER BY idx"
    entries_full = (
        "SELECT idx, data, leaf_hash FROM entries WHERE idx >= %s AND idx < %s ORDER BY idx"
    )
    hashes = "SELECT idx, hash FROM hashes WHERE idx = ANY(%s::int8[])"
    hash_range = "SELECT hash FROM hashes WHERE idx >= %s AND idx < %s ORDER BY idx"
    find = "SELECT idx FROM entries WHERE leaf_hash = %s ORDER BY idx LIMIT 1"
    get = "SELECT value FROM kv WHERE namespace = %s AND key = %s"
    get_many = "SELECT key, value FROM kv WHERE namespace = %s AND key = ANY(%s::bytea[])"
    scan_first = (
        "SELECT key, value FROM kv WHERE namespace = %s AND key >= %s ORDER BY key LIMIT 512"
    )
    scan_next = "SELECT key, value FROM kv WHERE namespace = %s AND key > %s ORDER BY key LIMIT 512"
    scan_first_end = (
        "SELECT key, value FROM kv WHERE namespace = %s AND key >= %s AND key < %s"
        " ORDER BY key LIMIT 512"
    )
    scan_next_end = (
        "SELECT key, value FROM kv WHERE namespace = %s AND key > %s AND key < %s"
        " ORDER BY key LIMIT 512"
    )
    latest = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
    checkpoint = "SELECT note FROM checkpoints WHERE size = %s"
    put_checkpoint = "INSERT INTO checkpoints (size, note) VALUES (%s, %s)"
    insert_entries = (
        "INSERT INTO entries (idx, data, leaf_hash)"
        " SELECT * FROM unnest(%s::int8[], %s::bytea[], %s::bytea[])"
    )
    insert_hashes = "INSERT INTO hashes (idx, hash) SELECT * FROM unnest(%s::int8[], %s::bytea[])"
    upsert = (
        "INSERT INTO kv (namespace, key, value) VALUES (%s, %s, %s)"
        " ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value"
    )
    upsert_many = (
        "INSERT INTO kv (namespace, key, value)"
        " SELECT %s, k, v FROM unnest(%s::bytea[], %s::bytea[]) AS t (k, v)"
        " ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value"
    )
    counts = (
        "SELECT (SELECT count(*) FROM entries), (SELECT max(idx) FROM entries),"
        " (SELECT count(*) FROM hashes), (SELECT max(idx) FROM hashes)"
    )
    tables = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
    version = "SELECT version FROM schema_version"
    create = (
        "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
        "CREATE TABLE IF NOT EXISTS head (id integer PRIMARY KEY CHECK (id = 1),"
        " size bigint NOT NULL CHECK (size >= 0))",
        "CREATE TABLE IF NOT EXISTS entries (idx bigint PRIMARY KEY,"
        " data bytea NOT NULL, leaf_hash bytea NOT NULL)",
        "CREATE INDEX IF NOT EXISTS entries_by_leaf_hash ON entries (leaf_hash, idx)",
        "CREATE TABLE IF NOT EXISTS hashes (idx bigint PRIMARY KEY, hash bytea NOT NULL)",
        "CREATE TABLE IF NOT EXISTS kv (namespace text NOT NULL, key bytea NOT NULL,"
        " value bytea NOT NULL, PRIMARY KEY (namespace, key))",
        "CREATE TABLE IF NOT EXISTS checkpoints (size bigint PRIMARY KEY, note bytea NOT NULL)",
        "INSERT INTO head (id, size) VALUES (1, 0)",
        "INSERT INTO schema_version (version) VALUES (1)",
    )


_Conn = psycopg.Connection[tuple[Any, ...]]


class _Reader:
    """Reads through one connection that is inside a transaction (read or write)."""

    def __init__(self, conn: _Conn, sql: _Sql, size: int) -> None:
        self._conn = conn
        self._sql = sql
        self._size = size
        self._live = True
        self._poisoned = False

    def _check_live(self) -> None:
        if not self._live:
            raise StorageError("this snapshot or transaction is finished")

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._check_live()
        try:
            return self._conn.execute(sql, params, binary=True).fetchall()
        except psycopg.Error as exc:
            # PostgreSQL refuses every later statement of a transaction in which one
            # failed; remembering it gives a clear message and no commit attempt.
            self._poisoned = True
            raise _fail(exc) from exc

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
        rows = self._q(self._sql.entries, (s, e))
        if len(rows) != e - s:
            raise StorageError(f"entries [{s}, {e}): {len(rows)} rows stored, log is corrupt")
        return [bytes(row[0]) for row in rows]

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self._check_live()
        wanted = list(indexes)
        for i in wanted:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i <= _MAX_INT:
                raise StorageError(f"stored hash {i!r} is not stored")
        unique = list(dict.fromkeys(wanted))
        found: dict[int, bytes] = {}
        for lo in range(0, len(unique), _CHUNK):
            for i, h in self._q(self._sql.hashes, (unique[lo : lo + _CHUNK],)):
                found[int(i)] = bytes(h)
        out: list[bytes] = []
        for i in wanted:
            h = found.get(i)
            if h is None:
                raise StorageError(f"stored hash {i} is not stored")
            if len(h) != merkle.HASH_SIZE:
                raise StorageError(f"stored hash {i} is not a {merkle.HASH_SIZE}-byte hash")
            out.append(bytes(h))
        return out

    def find_entry(self, leaf_hash: bytes) -> int | None:
        if not isinstance(leaf_hash, bytes):
            raise TypeError(f"leaf_hash must be bytes, got {type(leaf_hash).__name__}")
        rows = self._q(self._sql.find, (leaf_hash,))
        return int(rows[0][0]) if rows else None

    def get(self, namespace: str, key: bytes) -> bytes | None:
        _check_kv(namespace, key)
        rows = self._q(self._sql.get, (namespace, key))
        return bytes(rows[0][0]) if rows else None

    def get_many(self, namespace: str, keys: Sequence[bytes]) -> list[bytes | None]:
        wanted = list(keys)
        for key in wanted:
            _check_kv(namespace, key)
        unique = list(dict.fromkeys(wanted))
        found: dict[bytes, bytes] = {}
        for lo in range(0, len(unique), _CHUNK):
            rows = self._q(self._sql.get_many, (namespace, unique[lo : lo + _CHUNK]))
            found.update((bytes(k), bytes(v)) for k, v in rows)
        return [found.get(key) for key in wanted]

    def scan(self, namespace: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        self._check_live()
        _check_kv(namespace, prefix)
        return self._scan(namespace, prefix)

    def _scan(self, namespace: str, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        # Paged by key (no server-side cursor left open between calls), so writes to the
        # namespace during the scan, in the same transaction, do not disturb it.
        end = _prefix_end(prefix)
        sql = self._sql
        first, following = (
            (sql.scan_first, sql.scan_next)
            if end is None
            else (sql.scan_first_end, sql.scan_next_end)
        )
        tail: tuple[bytes, ...] = () if end is None else (end,)
        rows = self._q(first, (namespace, prefix, *tail))
        while True:
            for key, value in rows:
                self._check_live()
                yield bytes(key), bytes(value)
            if len(rows) < _PAGE:
                return
            rows = self._q(following, (namespace, bytes(rows[-1][0]), *tail))

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        rows = self._q(self._sql.latest)
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def checkpoint_at(self, size: int) -> bytes | None:
        s = _require_index("size", size)
        if not 0 <= s <= _MAX_INT:
            return None
        rows = self._q(self._sql.checkpoint, (s,))
        return bytes(rows[0][0]) if rows else None


class _Transaction(_Reader):
    """The writer connection, holding the ledger's write lock."""

    def __init__(self, conn: _Conn, sql: _Sql, size: int) -> None:
        super().__init__(conn, sql, size)
        self.start_size = size
        # The latest checkpoint, once read: with the write lock held only this transaction
        # can change it, so the ledger's two reads per commit cost one round trip.
        self._latest: tuple[int, bytes] | None = None
        self._latest_known = False
        # The right edge of the tree as far as this transaction has learned it: stored hash
        # index -> hash. Appending reads each left sibling exactly once (spec/log.md §6.3),
        # so a hash is removed when read and the dict stays O(log size).
        self._frontier: dict[int, bytes] = {}

    def _w(self, sql: str, params: Sequence[Any]) -> None:
        self._check_live()
        if self._poisoned:
            raise StorageError("an earlier statement of this transaction failed")
        try:
            self._conn.execute(sql, params, binary=True)
        except psycopg.Error as exc:
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
        idxs: list[int] = []
        leaves: list[bytes] = []
        hash_idxs: list[int] = []
        hashes: list[bytes] = []
        try:
            for entry in batch:
                leaf = leaf_hash(entry)
                new = for_append(n, leaf, reader)
                idxs.append(n)
                leaves.append(leaf)
                for h in new:
                    hash_idxs.append(position)
                    hashes.append(h)
                    position += 1
                frontier[position - 1] = new[-1]
                n += 1
        except BaseException:
            self._poisoned = True  # the frontier no longer matches the database
            raise
        # One statement per table per chunk: the round trips of a group commit do not
        # grow with the number of certificates in it.
        for lo in range(0, len(idxs), _CHUNK):
            hi = lo + _CHUNK
            self._w(self._sql.insert_entries, (idxs[lo:hi], batch[lo:hi], leaves[lo:hi]))
        for lo in range(0, len(hash_idxs), _CHUNK):
            hi = lo + _CHUNK
            self._w(self._sql.insert_hashes, (hash_idxs[lo:hi], hashes[lo:hi]))
        self._size = n
        return first

    def put(self, namespace: str, key: bytes, value: bytes) -> None:
        _check_kv(namespace, key, value)
        self._w(self._sql.upsert, (namespace, key, value))

    def put_many(self, namespace: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        # ON CONFLICT DO UPDATE may not touch one row twice in a statement: keep the last
        # value of each key, as a sequence of puts would.
        latest: dict[bytes, bytes] = {}
        for key, value in items:
            _check_kv(namespace, key, value)
            latest[key] = value
        keys, values = list(latest), list(latest.values())
        for lo in range(0, len(keys), _CHUNK):
            hi = lo + _CHUNK
            self._w(self._sql.upsert_many, (namespace, keys[lo:hi], values[lo:hi]))

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        if not self._latest_known:
            self._latest = super().latest_checkpoint()
            self._latest_known = True
        self._check_live()
        return self._latest

    def put_checkpoint(self, size: int, note: bytes) -> None:
        s = _require_index("size", size)
        if not isinstance(note, bytes):
            raise TypeError(f"note must be bytes, got {type(note).__name__}")
        latest = self.latest_checkpoint()
        # Nothing is stored above the latest size, so only a size at or below it can be a
        # re-recording (same bytes: fine; other bytes: refused).
        if latest is not None and s <= latest[0]:
            existing = latest[1] if s == latest[0] else self.checkpoint_at(s)
            if existing is not None:
                if existing != note:
                    raise StorageError(f"a different checkpoint of size {s} is already stored")
                return
            raise StorageError(f"checkpoint size {s} is below the latest checkpoint's {latest[0]}")
        if not 0 <= s <= self._size:
            raise StorageError(f"checkpoint size {s} exceeds the log size {self._size}")
        self._w(self._sql.put_checkpoint, (s, note))
        self._latest = (s, note)


class _SiblingReader:
    """The merkle.HashReader that append hands to merkle.stored_hashes_for_append."""

    def __init__(self, txn: _Transaction) -> None:
        self._txn = txn

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return self._txn._read_siblings(indexes)


class PostgresStore:
    """A :class:`~noc_ledger.ledger.store.Store` in one schema of a PostgreSQL database.

    Args:
        dsn: a libpq connection string or URI (``postgresql://user@host/db``). Keep the
            password out of it: libpq reads ``$PGPASSWORD`` and ``~/.pgpass``.
        schema: the PostgreSQL schema holding the tables (created if absent); several
            ledgers can share a database under different schemas.
        lock_mode: ``"advisory"`` (PostgreSQL) or ``"row"`` (``SELECT … FOR UPDATE`` on the
            head row: also for CockroachDB and other databases without advisory locks).
        timeout: seconds a writer waits for the write lock (``lock_timeout``).
        connect_timeout: seconds to establish a connection (libpq rounds up to 2).
        statement_timeout: seconds any one statement may run.

    Opening connects once and creates the schema if the schema has no tables.

    Raises:
        StorageError: the DSN is malformed; the server cannot be reached, refuses the
            login or does not answer within ``connect_timeout``; the schema holds tables of
            another application or a store of an unknown schema version.
        ValueError: ``schema`` is not a plain lower-case identifier, or ``lock_mode`` is
            not one of the two modes.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        lock_mode: LockMode = "advisory",
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        statement_timeout: float = 300.0,
    ) -> None:
        if not isinstance(schema, str) or not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"schema {schema!r} is not a lower-case SQL identifier")
        if lock_mode not in ("advisory", "row"):
            raise ValueError(f"lock_mode must be 'advisory' or 'row', not {lock_mode!r}")
        if not isinstance(dsn, str):
            raise TypeError(f"dsn must be str, got {type(dsn).__name__}")
        self.schema = schema
        self.lock_mode: LockMode = lock_mode
        self._timeout = timeout
        self._sql = _Sql()
        # A per-schema advisory lock key, so ledgers in one database do not block each other.
        digest = hashlib.sha256(f"noc_ledger write lock:{schema}".encode()).digest()
        self._lock_key = int.from_bytes(digest[:8], "big", signed=True)
        lock = (
            psycopg.sql.SQL("SELECT pg_advisory_xact_lock({}); {}").format(
                psycopg.sql.Literal(self._lock_key), psycopg.sql.SQL(_Sql.head_size)
            )
            if lock_mode == "advisory"
            else psycopg.sql.SQL(_Sql.head_lock)
        )
        self._begin_sql = psycopg.sql.SQL("BEGIN ISOLATION LEVEL READ COMMITTED; {}").format(lock)
        self._where = describe_dsn(dsn)
        params: dict[str, Any] = dict(conninfo_to_dict(dsn))
        params.setdefault("connect_timeout", str(max(2, round(connect_timeout))))
        params.setdefault("application_name", "noc_ledger")
        # A server that vanishes (power, partition) is noticed in ~25 s, not hours.
        for name, value in (
            ("keepalives", "1"),
            ("keepalives_idle", "10"),
            ("keepalives_interval", "5"),
            ("keepalives_count", "3"),
        ):
            params.setdefault(name, value)
        self._params = params
        self._settings = (
            ("lock_timeout", _millis(timeout)),
            ("statement_timeout", _millis(statement_timeout)),
            ("idle_in_transaction_session_timeout", _millis(max(statement_timeout, timeout))),
            # The schema alone: see _Sql.
            ("search_path", schema),
        )
        self._write_lock = threading.Lock()
        self._writer_thread: int | None = None
        self._pool_lock = threading.Lock()
        self._readers: list[_Conn] = []
        self._closed = False
        self._writer: _Conn | None = self._connect()
        try:
            self._init_schema(self._writer)
        except BaseException:
            self._writer.close()
            raise

    # Connections -------------------------------------------------------------------------

    def _connect(self) -> _Conn:
        """A new connection with our session settings.

        Raises:
            StorageError: the connection or a setting failed.
        """
        try:
            conn = psycopg.connect(autocommit=True, **self._params)
        except psycopg.Error as exc:
            raise StorageError(
                f"postgresql: cannot connect ({self._where}): {_message(exc)}"
            ) from None
        try:
            for name, value in self._settings:
                conn.execute("SELECT set_config(%s, %s, false)", (name, value))
            # Rule 2: COMMIT waits for the WAL flush, even if the server's default is off.
            # (A PostgreSQL-compatible database without the setting: docs/postgres.md.)
            with suppress(psycopg.errors.UndefinedObject):
                conn.execute("SELECT set_config('synchronous_commit', 'on', false)")
            # psycopg prepares a statement after a few executions, and PostgreSQL may then
            # switch to a generic plan costed on the statistics of a table that was empty
            # when the ledger started: a sequential scan of kv per status-map read, so every
            # transaction got slower as the log grew. Custom plans are costed per call.
            with suppress(psycopg.errors.UndefinedObject):
                conn.execute("SELECT set_config('plan_cache_mode', 'force_custom_plan', false)")
        except psycopg.Error as exc:
            conn.close()
            raise _fail(exc, "session settings") from exc
        return conn

    def _init_schema(self, conn: _Conn) -> None:
        sql = self._sql
        for attempt in range(_START_ATTEMPTS):
            try:
                self._try_init_schema(conn, sql)
                return
            except (
                psycopg.errors.UniqueViolation,
                psycopg.errors.DuplicateTable,
                psycopg.errors.DuplicateObject,
                psycopg.errors.DuplicateSchema,
                *_RETRYABLE,
            ) as exc:
                # Another process created the same schema at the same moment: its
                # transaction won; ours rolled back and looks again.
                self._rollback_quietly(conn)
                if attempt == _START_ATTEMPTS - 1:
                    raise _fail(exc, "creating the schema") from exc
                time.sleep(0.05 * (attempt + 1))
            except psycopg.Error as exc:
                self._rollback_quietly(conn)
                raise _fail(exc, "creating the schema") from exc
            except BaseException:
                self._rollback_quietly(conn)
                raise

    def _try_init_schema(self, conn: _Conn, sql: _Sql) -> None:
        version = conn.execute("SELECT version()").fetchone()
        check_lock_mode(str(version[0]) if version else "", self.lock_mode)
        conn.execute(
            psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                psycopg.sql.Identifier(self.schema)
            )
        )
        conn.execute("BEGIN")
        if self.lock_mode == "advisory":
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
        tables = {str(r[0]) for r in conn.execute(sql.tables, (self.schema,)).fetchall()}
        if not tables:
            for statement in sql.create:
                conn.execute(statement)
        elif "schema_version" not in tables:
            raise StorageError(
                f"schema {self.schema!r} ({self._where}) holds tables that are not a "
                "noc_ledger store"
            )
        else:
            versions = [r[0] for r in conn.execute(sql.version).fetchall()]
            if versions != [SCHEMA_VERSION]:
                raise StorageError(
                    f"schema {self.schema!r} has schema version {versions}; "
                    f"this code reads version {SCHEMA_VERSION} only"
                )
        conn.execute("COMMIT")

    @staticmethod
    def _rollback_quietly(conn: _Conn) -> None:
        with suppress(psycopg.Error):
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")

    # Writing -----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Exclusive, atomic, durable write access (rules 1-2).

        Raises:
            StorageError: the store is closed; this thread already has a transaction open
                on it; the write lock was not acquired within ``timeout`` seconds; the
                server is unreachable; a statement failed earlier in the transaction; or
                the commit failed (then nothing was written, except where the message says
                the outcome is unknown because the connection was lost during COMMIT).
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
            fresh = conn is None or conn.closed  # None: discarded after a failure
            if conn is None or fresh:
                conn = self._writer = self._connect()
            try:
                size = self._begin_write(conn)
            except StorageError:
                # An idle connection may have died with its server (restart, failover).
                # Nothing has happened yet, so one new connection is tried first.
                if fresh or not (conn.closed or conn.broken):
                    raise
                self._discard(conn)
                conn = self._writer = self._connect()
                size = self._begin_write(conn)
            txn = _Transaction(conn, self._sql, size)
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
            self._commit(conn, txn)
        finally:
            self._writer_thread = None
            self._write_lock.release()

    def _begin_write(self, conn: _Conn) -> int:
        """BEGIN, take the write lock, read the size; retried on serialization failure."""
        for attempt in range(_START_ATTEMPTS):
            try:
                # One round trip (several statements, simple query protocol); the cursor
                # ends on the last statement's result, the head row.
                cursor = conn.execute(self._begin_sql)
                while cursor.nextset():
                    pass
                row = cursor.fetchone()
                if row is None:
                    raise StorageError(f"schema {self.schema!r}: the head row is missing")
                return int(row[0])
            except _RETRYABLE as exc:
                self._abort(conn)
                if attempt == _START_ATTEMPTS - 1:
                    raise _fail(exc, "taking the write lock") from exc
                time.sleep(0.01 * (attempt + 1))
            except psycopg.errors.LockNotAvailable:
                self._abort(conn)
                raise StorageError(
                    f"postgresql: write lock not acquired within {self._timeout} s "
                    "(another writer holds it)"
                ) from None
            except psycopg.Error as exc:
                self._abort(conn)
                raise _fail(exc, "taking the write lock") from exc
            except BaseException:
                self._abort(conn)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit(self, conn: _Conn, txn: _Transaction) -> None:
        try:
            if txn._size != txn.start_size:
                conn.execute(self._sql.head_set, (txn._size,))
        except psycopg.Error as exc:
            self._abort(conn)
            raise _fail(exc, "recording the new size; rolled back") from exc
        except BaseException:
            self._abort(conn)
            raise
        try:
            conn.execute("COMMIT")
        except _RETRYABLE as exc:
            self._abort(conn)
            raise _fail(exc, "commit refused, nothing was written; retry") from exc
        except psycopg.OperationalError as exc:
            # The connection broke during COMMIT: the server may or may not have committed.
            self._discard(conn)
            raise _fail(exc, "connection lost during COMMIT, outcome unknown") from exc
        except psycopg.Error as exc:
            self._abort(conn)
            raise _fail(exc, "commit failed, nothing was written") from exc
        except BaseException:
            # Interrupted while waiting for COMMIT's answer: the outcome is unknown; the
            # connection cannot be trusted any more.
            self._discard(conn)
            raise

    def _abort(self, conn: _Conn) -> None:
        """Roll back; if that fails, drop the connection (the server then rolls back)."""
        try:
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            self._discard(conn)
        except BaseException:
            self._discard(conn)
            raise

    def _discard(self, conn: _Conn) -> None:
        if self._writer is conn:
            self._writer = None
        with suppress(psycopg.Error):
            conn.close()

    # Reading -----------------------------------------------------------------------------

    def snapshot(self) -> AbstractContextManager[Reader]:
        """A read-only view of the latest committed state (rule 4).

        Raises:
            StorageError: the store is closed, the server is unreachable, or the read
                could not start.
        """
        return self._snapshot()

    @contextmanager
    def _snapshot(self) -> Iterator[_Reader]:
        with self._pool_lock:
            self._check_open()
            conn = self._readers.pop() if self._readers else None
        pooled = conn is not None and not conn.closed
        if conn is None or not pooled:
            conn = self._connect()
        try:
            size = self._begin_read(conn)
        except StorageError:
            # As for the writer: a pooled connection may have died while idle.
            if not pooled or not (conn.closed or conn.broken):
                self._release_reader(conn, False)
                raise
            self._release_reader(conn, False)
            conn = self._connect()
            try:
                size = self._begin_read(conn)
            except BaseException:
                self._release_reader(conn, False)
                raise
        except BaseException:
            self._release_reader(conn, False)
            raise
        reusable = False
        try:
            reader = _Reader(conn, self._sql, size)
            try:
                yield reader
            finally:
                reader._live = False
            reusable = True
        finally:
            self._release_reader(conn, reusable)

    def _begin_read(self, conn: _Conn) -> int:
        for attempt in range(_START_ATTEMPTS):
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                # The snapshot is taken at the first statement: this one, now.
                row = conn.execute(self._sql.head_size).fetchone()
                if row is None:
                    raise StorageError(f"schema {self.schema!r}: the head row is missing")
                return int(row[0])
            except _RETRYABLE as exc:
                self._rollback_quietly(conn)
                if attempt == _START_ATTEMPTS - 1:
                    raise _fail(exc, "starting a snapshot") from exc
                time.sleep(0.01 * (attempt + 1))
            except psycopg.Error as exc:
                raise _fail(exc, "starting a snapshot") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _release_reader(self, conn: _Conn, reusable: bool) -> None:
        try:
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            reusable = False
        with self._pool_lock:
            if reusable and not self._closed and len(self._readers) < _POOL:
                self._readers.append(conn)
                return
        with suppress(psycopg.Error):
            conn.close()

    # Audit -------------------------------------------------------------------------------

    def check_integrity(self, *, batch: int = 10_000) -> int:
        """Recompute every stored hash from the entries, in one snapshot, and compare.

        Also checks that entries and stored hashes have no gaps or extra rows, that the
        head row's size is the number of entries, that each entry's recorded leaf hash is
        its RFC 9162 leaf hash, and that no checkpoint is beyond the log. Returns the size
        checked.

        Raises:
            StorageError: the first discrepancy (naming the stored hash index and entry, or
                the entry index), or the database failed.
        """
        with self._snapshot() as view:
            sql = self._sql
            size = view._size
            count = merkle.stored_hash_count(size)
            entry_rows, max_entry, hash_rows, max_hash = view._q(sql.counts)[0]
            if entry_rows != size or (size and max_entry != size - 1):
                raise StorageError(f"entries table has {entry_rows} rows for a log of {size}")
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
                rows = view._q(sql.entries_full, (start, end))
                stored = [
                    bytes(h)
                    for (h,) in view._q(sql.hash_range, (position, merkle.stored_hash_count(end)))
                ]
                k = 0
                for n, data, recorded in rows:
                    leaf = merkle.leaf_hash(bytes(data))
                    if bytes(recorded) != leaf:
                        raise StorageError(f"entry {n}: recorded leaf hash is not its leaf hash")
                    expected = merkle.stored_hashes_for_append(n, leaf, reader)
                    for h in expected:
                        if k >= len(stored) or stored[k] != h:
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
            with suppress(psycopg.Error):
                conn.close()
        if not self._write_lock.acquire(timeout=self._timeout):
            raise StorageError("a transaction is still open; the writer was not closed")
        try:
            if self._writer is not None:
                with suppress(psycopg.Error):
                    self._writer.close()
                self._writer = None
        finally:
            self._write_lock.release()

    def __enter__(self) -> PostgresStore:
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
