"""The storage contract (tests/ledger_contract.py) run against every backend, plus what is
specific to SQLite: schema versions, locking across processes, driver errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from noc_ledger import merkle
from noc_ledger.errors import StorageError
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.ledger.sqlite import SqliteStore
from tests.ledger_contract import AuditableStore, PersistentStoreContract, StoreContract

SRC = Path(__file__).resolve().parent.parent / "src"


class TestMemoryStore(StoreContract):
    def open_store(self, tmp_path: Path) -> AuditableStore:
        return MemoryStore(timeout=10)

    def corrupt_hash(self, store: AuditableStore, index: int, value: bytes) -> None:
        assert isinstance(store, MemoryStore)
        store._hashes[index] = value

    def corrupt_entry(self, store: AuditableStore, index: int, value: bytes) -> None:
        assert isinstance(store, MemoryStore)
        store._entries[index] = value


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


class TestSqliteStore(PersistentStoreContract):
    def open_store(self, tmp_path: Path) -> AuditableStore:
        return SqliteStore(tmp_path / "ledger.db", timeout=10)

    def reopen(self, store: AuditableStore, tmp_path: Path) -> AuditableStore:
        store.close()
        return SqliteStore(tmp_path / "ledger.db", timeout=10)

    def corrupt_hash(self, store: AuditableStore, index: int, value: bytes) -> None:
        assert isinstance(store, SqliteStore)
        with _raw(Path(store._path)) as conn:
            conn.execute("UPDATE hashes SET hash = ? WHERE idx = ?", (value, index))

    def corrupt_entry(self, store: AuditableStore, index: int, value: bytes) -> None:
        assert isinstance(store, SqliteStore)
        with _raw(Path(store._path)) as conn:
            conn.execute("UPDATE entries SET data = ? WHERE idx = ?", (value, index))


# SQLite specifics ------------------------------------------------------------------------------


def test_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with SqliteStore(path) as store, store.transaction() as txn:
        txn.append([b"x"])
    conn = _raw(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    conn.close()


def test_sqlite_refuses_unknown_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    SqliteStore(path).close()
    with _raw(path) as conn:
        conn.execute("UPDATE schema_version SET version = 2")
    with pytest.raises(StorageError, match="schema version"):
        SqliteStore(path)
    with _raw(path) as conn:
        conn.execute("DELETE FROM schema_version")
    with pytest.raises(StorageError, match="schema version"):
        SqliteStore(path)


def test_sqlite_refuses_foreign_files(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with _raw(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StorageError, match="not a noc_ledger store"):
        SqliteStore(other)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="sqlite"):
        SqliteStore(garbage)
    with pytest.raises(StorageError):
        SqliteStore(tmp_path / "no such dir" / "x.db")
    with pytest.raises(StorageError):
        SqliteStore(":memory:")


def test_sqlite_lock_timeout(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = SqliteStore(path, timeout=0.2)
    other = _raw(path)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, as far as SQLite knows
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="locked"), store.transaction():
            pass
        assert time.monotonic() - started < 5
        with store.snapshot() as view:  # readers are not blocked by a writer
            assert view.size() == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.transaction() as txn:  # and the store recovers once the lock is free
        txn.append([b"x"])
    store.close()


def test_sqlite_driver_errors_become_storage_errors(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = SqliteStore(path)
    try:
        with store.transaction() as txn:
            txn.append([b"a", b"b"])
        with _raw(path) as conn:
            conn.execute("DROP TABLE kv")
            conn.execute("INSERT INTO hashes (idx, hash) VALUES (3, X'00')")
        with store.snapshot() as view, pytest.raises(StorageError, match="sqlite"):
            view.get("a", b"k")
        # A failed statement poisons the transaction: it cannot commit what remains.
        with pytest.raises(StorageError, match="rolled back"), store.transaction() as txn:
            with pytest.raises(StorageError, match="sqlite"):
                txn.put("a", b"k", b"v")
            txn.put_checkpoint(2, b"cp2")
        with store.snapshot() as view:
            assert view.latest_checkpoint() is None
        # Appending onto a stored hash that should not exist: refused, not overwritten.
        with pytest.raises(StorageError), store.transaction() as txn:
            txn.append([b"c"])
        with store.snapshot() as view:
            assert view.size() == 2
        with pytest.raises(StorageError, match="hashes table"):
            store.check_integrity()
    finally:
        store.close()


_WORKER = """
import pathlib, sys, time
from noc_ledger.ledger.sqlite import SqliteStore
path, worker, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SqliteStore(path, timeout=30)
# Start together: announce readiness, wait for every worker's announcement.
here = pathlib.Path(path).parent
(here / f"ready-{worker}").touch()
deadline = time.monotonic() + 60
while len(list(here.glob("ready-*"))) < int(sys.argv[4]) and time.monotonic() < deadline:
    time.sleep(0.001)
interleaved = 0
last = None
# At least ``rounds`` transactions, then on until this worker has seen the other's
# entries appear between two of its own 12 times (a loaded machine can run one worker's
# first rounds before the other starts), and never more than 20 x ``rounds``.
r = 0
while r < 20 * rounds and (r < rounds or interleaved < 12):
    with store.transaction() as txn:
        size = txn.size()
        if last is not None and size != last:
            interleaved += 1
        batch = [f"{worker}-{r}-{k}".encode() for k in range(1 + r % 3)]
        if txn.append(batch) != size:
            sys.exit("append did not land at size()")
        txn.put("owner", str(size).encode(), worker.encode())
        last = size + len(batch)
    # Work between transactions, as a real writer has; without it one process can hold
    # the lock back to back while the other sleeps in SQLite's busy handler.
    time.sleep(0.0005)
    r += 1
store.close()
print(r, interleaved)
"""


def test_sqlite_two_processes_append_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    SqliteStore(path).close()  # created once, so the workers race only on appending
    rounds = 150
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), name, str(rounds), "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p", "q")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    # Each worker counts the transactions in which it found the other's entries appended
    # since its own previous one: the test means something only if they really interleaved.
    done = {w: [int(x) for x in out.split()] for w, (out, _err) in zip("pq", outputs, strict=True)}
    assert sum(seen for _, seen in done.values()) > 10
    with SqliteStore(path) as store:
        with store.snapshot() as view:
            size = view.size()
            expected = sorted(
                f"{w}-{r}-{k}".encode()
                for w, (n, _) in done.items()
                for r in range(n)
                for k in range(1 + r % 3)
            )
            assert size == len(expected)
            entries = view.read_entries(0, size)
            assert len(set(entries)) == size
            assert sorted(entries) == expected
            owners = dict(view.scan("owner"))
            assert len(owners) == sum(n for n, _ in done.values())
            for start, owner in owners.items():
                assert view.read_entries(int(start), int(start) + 1)[0].startswith(owner + b"-")
            ref = merkle.MemoryHashStore()
            for e in entries:
                ref.append(e)
            assert merkle.root_from_reader(size, view) == merkle.root_from_reader(size, ref)
        assert store.check_integrity() == size
