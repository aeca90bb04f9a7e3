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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final, Protocol

from noc_ledger import statusmap
from noc_ledger.audit import ROOT_POSITION, child_position, decode_state
from noc_ledger.errors import FetchError, NocLedgerError, StorageError

__all__ = ["BUNDLE_CACHE", "CACHE_KIB", "SCHEMA_VERSION", "EntryReader", "SqliteAuditStore"]

#: spec/audit.md §6: ``PRAGMA user_version`` of the database (the header's version).
SCHEMA_VERSION: Final = 3
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
CREATE TABLE IF NOT EXISTS nodes (pos BLOB PRIMARY KEY, node BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS certs (id BLOB PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (id BLOB PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_events (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
"""


#: The schema before nodes were kept by position (spec/audit.md §6.1); migrated on open.
_HASH_KEYED: Final = 2
#: Parent nodes a migration step reads at once (its memory is bounded by this).
_MIGRATE_BATCH: Final = 256


def _migrate_hash_keyed(conn: sqlite3.Connection, path: Path) -> None:
    """Schema 2 to 3, inside the caller's transaction (a failure leaves schema 2): schema 2
    kept the current tree's nodes keyed by hash; walk that tree from the header's
    status-map root, checking every node against the hash its parent names, and store it
    by position.

    Level by level: the parents at one depth are read back from the new table in position
    order, a batch at a time, and their children stored; positions sort by depth, then by
    prefix (spec/audit.md §6.1), so every row is appended at the end of the new table (a
    dense B-tree, sequential writes) and memory does not grow with the map.

    Raises:
        StorageError: no header, or a node is missing or does not hash to its name.
        sqlite3.Error: the database failed.
    """
    row = conn.execute("SELECT state FROM header WHERE k = 0").fetchone()
    if row is None:
        raise StorageError(f"{path}: a schema {_HASH_KEYED} audit state without a header")
    try:
        root = decode_state(bytes(row[0])).map_root
    except NocLedgerError as exc:
        raise StorageError(f"{path}: audit state header: {exc}") from None
    conn.execute(
        "CREATE TABLE nodes_by_pos (pos BLOB PRIMARY KEY, node BLOB NOT NULL) WITHOUT ROWID"
    )

    def copy(named: list[tuple[bytes, bytes]]) -> None:
        """Store the nodes named ``(hash, position)``, read by hash from the old table."""
        marks = ",".join("?" * len(named))
        found = {
            bytes(h): bytes(raw)
            for h, raw in conn.execute(
                f"SELECT h, node FROM nodes WHERE h IN ({marks})",  # noqa: S608
                [h for h, _ in named],
            )
        }
        rows = []
        for h, position in named:
            raw = found.get(h)
            if raw is None or statusmap.stored_node_hash(raw) != h:
                raise StorageError(f"{path}: status-map node {h.hex()} missing or damaged")
            rows.append((position, raw))
        conn.executemany("INSERT INTO nodes_by_pos (pos, node) VALUES (?, ?)", rows)

    if root != statusmap.EMPTY_ROOT:
        copy([(root, ROOT_POSITION)])
    for depth in range(statusmap.MAX_DEPTH):
        # The rows of this depth lie between u16be(depth) and u16be(depth + 1): a position
        # of depth d > 0 is u16be(d) followed by prefix bytes, so it sorts after u16be(d);
        # the root's is u16be(0) itself, so depth 0 starts after the empty blob.
        after, end = depth.to_bytes(2, "big") if depth else b"", (depth + 1).to_bytes(2, "big")
        parents = 0
        while True:
            batch = conn.execute(
                "SELECT pos, node FROM nodes_by_pos WHERE pos > ? AND pos < ? ORDER BY pos LIMIT ?",
                (after, end, _MIGRATE_BATCH),
            ).fetchall()
            if not batch:
                break
            after = bytes(batch[-1][0])
            children = []
            for position, raw in batch:
                pair = statusmap.stored_children(bytes(raw))
                if pair is not None:
                    parents += 1
                    for bit, child in enumerate(pair):
                        if child != statusmap.EMPTY_ROOT:
                            children.append((child, child_position(bytes(position), bit)))
            if children:
                copy(children)
        if not parents:
            break
    conn.execute("DROP TABLE nodes")
    conn.execute("ALTER TABLE nodes_by_pos RENAME TO nodes")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


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
            if tables and version not in (_HASH_KEYED, SCHEMA_VERSION):
                raise StorageError(
                    f"{path}: audit state schema {version}, not {SCHEMA_VERSION}; "
                    "start a new state directory"
                )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            self._durable = durable
            self._sync = "FULL" if durable else "OFF"
            conn.execute(f"PRAGMA cache_size={-cache_kib}")
            if tables and version == _HASH_KEYED:
                with self.transaction():
                    _migrate_hash_keyed(conn, path)
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

    def get_nodes_at(self, positions: Sequence[bytes]) -> list[bytes | None]:
        return self._get("nodes", "node", "pos", positions)

    def put_nodes_at(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        self._many("INSERT OR REPLACE INTO nodes (pos, node) VALUES (?, ?)", items)

    def delete_nodes_at(self, positions: Sequence[bytes]) -> None:
        self._many("DELETE FROM nodes WHERE pos = ?", [(p,) for p in positions])

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

    def holds_map_root(self, root: bytes) -> bool:
        """Whether the node at the root's position (spec/audit.md §6.1) is the one ``root``
        names (for the empty map: no node there). A cheap check that a header and the
        tables belong together; :func:`noc_ledger.audit.advance` checks every node it reads.

        Raises:
            StorageError: the database failed.
        """
        raw = self.get_nodes_at([ROOT_POSITION])[0]
        if root == statusmap.EMPTY_ROOT:
            return raw is None
        return raw is not None and statusmap.stored_node_hash(raw) == root

    def count_nodes(self) -> int:
        """Status-map nodes stored (the current tree's only)."""
        try:
            return int(self._conn.execute("SELECT count(*) FROM nodes").fetchone()[0])
        except sqlite3.Error as exc:
            raise _fail(exc) from None
