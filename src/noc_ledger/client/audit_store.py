"""The auditor's state on disk: an :class:`~noc_ledger.audit.AuditStore` in one SQLite
database (spec/audit.md §6).

Everything that grows with the log lives in tables, not in memory: the certificate and key
records, the status map's current nodes and the key events. Certificates the rules read back
are not stored: they are fetched again from the log source (one entry bundle at a time, a
few bundles cached) and :mod:`noc_ledger.audit` checks them against the records. The state
header (:func:`noc_ledger.audit.encode_state`) is one row. Each chunk of an audit is one
transaction (``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error) in WAL mode. A
transaction that records progress only (``flush=False``) commits with ``synchronous=NORMAL``:
it is in the database once committed and survives the process being killed, but a power
loss or operating-system crash may lose the last few such commits (never part of one). A
transaction with ``flush=True`` (the default) commits with ``synchronous=FULL``, which also
flushes every commit before it. The auditor flushes whenever the audited or target
checkpoint changes, so a crash can only make it replay some entries again, never forget a
checkpoint it reported (spec/audit.md §6).

Memory: SQLite's page cache is bounded (``cache_size``) and the bundle cache holds at most
:data:`BUNDLE_CACHE` bundles; nothing else is kept between calls.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

from noc_ledger.errors import FetchError, NocLedgerError, StorageError

__all__ = ["BUNDLE_CACHE", "CACHE_KIB", "SCHEMA_VERSION", "EntryReader", "SqliteAuditStore"]

#: spec/audit.md §6: ``PRAGMA user_version`` of the database (the header's version).
SCHEMA_VERSION: Final = 2
#: Entry bundles kept after a certificate was read back (each at most 256 entries).
BUNDLE_CACHE: Final = 4
_BUNDLE: Final = 256  # entries per bundle (c2sp.org/tlog-tiles)
#: SQLite's page cache in KiB (a negative cache_size), bounded whatever the log's size. The
#: operating system's file cache serves the rest; hot pages (upper B-tree levels, the top of
#: the status map) stay here.
CACHE_KIB: Final = 16 * 1024
_BATCH: Final = 500  # host parameters per statement
_TABLES: Final = ("certs", "keys")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS header (k INTEGER PRIMARY KEY CHECK (k = 0), state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (h BLOB PRIMARY KEY, node BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS certs (id BLOB PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (id BLOB PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_events (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
"""


class EntryReader(Protocol):
    """The one method of a log source (``noc_ledger.client.source.LogSource``) this store
    uses, to read back certificates."""

    location: str

    def read_entries(self, start: int, end: int, *, size: int) -> list[bytes]: ...


def _fail(exc: sqlite3.Error) -> StorageError:
    return StorageError(f"audit state database: {exc}")


class SqliteAuditStore:
    """An :class:`~noc_ledger.audit.AuditStore` in the SQLite database at ``path``
    (created if missing).

    Args:
        path: the database file.
        source: where certificates read back are fetched again (``None``: a read-back
            fails with ``FetchError``).
        durable: flush commits to disk as :meth:`transaction` says; ``False``
            (``synchronous=OFF``) only for a throwaway database nothing resumes from.
        cache_kib: SQLite's page cache, in KiB (default :data:`CACHE_KIB`).

    Raises:
        StorageError: the database cannot be opened or created, or has another schema
            version.
    """

    def __init__(
        self,
        path: Path,
        *,
        source: EntryReader | None = None,
        durable: bool = True,
        cache_kib: int = CACHE_KIB,
    ) -> None:
        if type(cache_kib) is not int or cache_kib < 1:
            raise ValueError("cache_kib is a positive int")
        self.path = path
        self._source = source
        self._bundles: OrderedDict[tuple[int, int], list[bytes]] = OrderedDict()
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        except sqlite3.Error as exc:
            raise _fail(exc) from None
        self._conn = conn
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables and version != SCHEMA_VERSION:
                raise StorageError(
                    f"{path}: audit state schema {version}, not {SCHEMA_VERSION}; "
                    "start a new state directory"
                )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            self._durable = durable
            self._sync = "FULL" if durable else "OFF"
            conn.execute(f"PRAGMA cache_size={-cache_kib}")
            with self.transaction():
                for statement in _SCHEMA.strip().split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            conn.close()
            raise _fail(exc) from None
        except BaseException:
            conn.close()
            raise
        self._in_tx = False

    def close(self) -> None:
        """Close the database (idempotent)."""
        self._conn.close()
        self._bundles.clear()

    @contextlib.contextmanager
    def transaction(self, *, flush: bool = True) -> Iterator[None]:
        """One write transaction: committed if the block returns, rolled back (nothing
        written) if it raises. ``flush``: the commit reaches the disk before this returns
        (with every commit before it); without it, the commit is durable against the
        process dying but not against a power loss (see the module doc).

        Raises:
            StorageError: the database failed (the transaction is rolled back).
        """
        conn = self._conn
        sync = "OFF" if not self._durable else "FULL" if flush else "NORMAL"
        try:
            if sync != self._sync:
                # Outside a transaction, as SQLite requires; applies to the next COMMIT.
                conn.execute(f"PRAGMA synchronous={sync}")
                self._sync = sync
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _fail(exc) from None
        try:
            yield
            conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _fail(exc) from None
            raise

    # -- the header ------------------------------------------------------------------

    def load_header(self) -> bytes | None:
        """The stored state header, or ``None`` before the first."""
        try:
            row = self._conn.execute("SELECT state FROM header WHERE k = 0").fetchone()
        except sqlite3.Error as exc:
            raise _fail(exc) from None
        return None if row is None else bytes(row[0])

    def put_header(self, data: bytes) -> None:
        """Replace the header (inside :meth:`transaction`)."""
        self._exec("INSERT OR REPLACE INTO header (k, state) VALUES (0, ?)", (data,))

    # -- AuditStore ------------------------------------------------------------------

    def _exec(self, sql: str, params: Sequence[object]) -> None:
        try:
            self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _fail(exc) from None

    def _many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _fail(exc) from None

    def _get(
        self, table: str, column: str, key: str, ids: Sequence[bytes] | Sequence[int]
    ) -> list[bytes | None]:
        found: dict[bytes | int, bytes] = {}
        try:
            if len(ids) == 1:
                row = self._conn.execute(
                    # Names from this module's constants only, never from input.
                    f"SELECT {column} FROM {table} WHERE {key} = ?",  # noqa: S608
                    (ids[0],),
                ).fetchone()
                return [None if row is None else bytes(row[0])]
            for i in range(0, len(ids), _BATCH):
                part = list(ids[i : i + _BATCH])
                marks = ",".join("?" * len(part))
                for k, v in self._conn.execute(
                    f"SELECT {key}, {column} FROM {table} WHERE {key} IN ({marks})",  # noqa: S608
                    part,
                ):
                    found[k if isinstance(k, int) else bytes(k)] = bytes(v)
        except sqlite3.Error as exc:
            raise _fail(exc) from None
        return [found.get(h) for h in ids]

    def get_nodes(self, hashes: Sequence[bytes]) -> list[bytes | None]:
        return self._get("nodes", "node", "h", hashes)

    def put_nodes(self, items: Mapping[bytes, bytes]) -> None:
        self._many("INSERT OR REPLACE INTO nodes (h, node) VALUES (?, ?)", list(items.items()))

    def delete_nodes(self, hashes: Sequence[bytes]) -> None:
        self._many("DELETE FROM nodes WHERE h = ?", [(h,) for h in hashes])

    def get_records(self, kind: int, ids: Sequence[bytes]) -> list[bytes | None]:
        return self._get(_TABLES[kind], "record", "id", ids)

    def put_records(self, kind: int, items: Sequence[tuple[bytes, bytes]]) -> None:
        sql = f"INSERT OR REPLACE INTO {_TABLES[kind]} (id, record) VALUES (?, ?)"  # noqa: S608
        self._many(sql, items)

    def keep_entries(
        self, key_events: Sequence[tuple[int, bytes]], certificates: Sequence[tuple[int, bytes]]
    ) -> None:
        # Certificates are not stored: a log of n certificates would need n KB here, and the
        # rules read very few back (spec/audit.md §6); read_entry fetches those again.
        if key_events:
            self._many("INSERT OR REPLACE INTO key_events (idx, entry) VALUES (?, ?)", key_events)

    def read_entry(self, index: int, *, size: int) -> bytes:
        """A key event from the database, or a certificate fetched again from the source
        (its whole entry bundle, cached). Untrusted: the audit checks it.

        Raises:
            FetchError: no source, or it cannot be read.
            StorageError: the database failed.
        """
        kept = self._get("key_events", "entry", "idx", [index])[0]
        if kept is not None:
            return kept
        if self._source is None:
            raise FetchError(f"entry {index}: no log source to read it again from")
        n = index // _BUNDLE
        key = (n, size)
        bundle = self._bundles.get(key)
        if bundle is None:
            start, end = n * _BUNDLE, min(n * _BUNDLE + _BUNDLE, size)
            try:
                bundle = self._source.read_entries(start, end, size=size)
            except NocLedgerError as exc:
                raise FetchError(f"entry {index} from {self._source.location}: {exc}") from None
            if len(bundle) != end - start:
                raise FetchError(f"{self._source.location}: a short bundle for entry {index}")
            self._bundles[key] = bundle
            while len(self._bundles) > BUNDLE_CACHE:
                self._bundles.popitem(last=False)
        else:
            self._bundles.move_to_end(key)
        return bundle[index - n * _BUNDLE]

    @property
    def cached_bundles(self) -> int:
        """Entry bundles held in memory now (at most :data:`BUNDLE_CACHE`)."""
        return len(self._bundles)

    # -- inspection ------------------------------------------------------------------

    def iter_records(self, kind: int) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(id, encoded record)`` of ``kind`` (0 certificates, 1 keys), ids
        increasing, read lazily.

        Raises:
            StorageError: the database failed.
        """
        try:
            sql = f"SELECT id, record FROM {_TABLES[kind]} ORDER BY id"  # noqa: S608
            cursor = self._conn.execute(sql)
            for k, v in cursor:
                yield bytes(k), bytes(v)
        except sqlite3.Error as exc:
            raise _fail(exc) from None

    def count_nodes(self) -> int:
        """Status-map nodes stored (the current tree's only)."""
        try:
            return int(self._conn.execute("SELECT count(*) FROM nodes").fetchone()[0])
        except sqlite3.Error as exc:
            raise _fail(exc) from None
