"""The PostgreSQL store (noc_ledger.ledger.postgres) on a real, throwaway PostgreSQL server
(tests/postgres_server.py): the shared storage contract in both lock modes, what is
specific to PostgreSQL (schema, locking, driver errors, unreachable servers), and the
ledger itself from several writer processes, with SIGKILL crashes mid-batch."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("NOC_LEDGER_REQUIRE_POSTGRES") != "1":
    # Without the driver (the 'postgres' extra) there is nothing to test; CI requires it.
    pytest.importorskip("psycopg", reason="psycopg (the 'postgres' extra) is not installed")

from noc_ledger import merkle
from noc_ledger.checkpoint import open_checkpoint
from noc_ledger.errors import StorageError
from noc_ledger.events import CertState
from noc_ledger.ledger.postgres import LockMode, PostgresStore, check_lock_mode
from noc_ledger.note import Verifier
from tests.ledger_contract import AuditableStore, PersistentStoreContract, entry
from tests.ledger_story import ISSUER, LOG, ORIGIN, new_ledger, noc
from tests.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parent.parent


def _raw(dsn: str, schema: str = "noc_ledger") -> Any:
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SELECT set_config('search_path', %s, false)", (schema,))
    return conn


class _PostgresContract(PersistentStoreContract):
    lock_mode: LockMode = "advisory"

    @pytest.fixture(autouse=True)
    def _database(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    def open_store(self, tmp_path: Path) -> AuditableStore:
        return PostgresStore(self.dsn, lock_mode=self.lock_mode, timeout=10)

    def reopen(self, store: AuditableStore, tmp_path: Path) -> AuditableStore:
        store.close()
        return PostgresStore(self.dsn, lock_mode=self.lock_mode, timeout=10)

    def corrupt_hash(self, store: AuditableStore, index: int, value: bytes) -> None:
        with _raw(self.dsn) as conn:
            conn.execute("UPDATE hashes SET hash = %s WHERE idx = %s", (value, index))

    def corrupt_entry(self, store: AuditableStore, index: int, value: bytes) -> None:
        with _raw(self.dsn) as conn:
            conn.execute("UPDATE entries SET data = %s WHERE idx = %s", (value, index))


class TestPostgresStoreAdvisoryLock(_PostgresContract):
    lock_mode = "advisory"


class TestPostgresStoreRowLock(_PostgresContract):
    """The head-row ``SELECT … FOR UPDATE`` path (for databases without advisory locks)."""

    lock_mode = "row"


# PostgreSQL specifics ------------------------------------------------------------------------


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    s = PostgresStore(postgres_dsn, timeout=10)
    try:
        yield s
    finally:
        s.close()


def test_schema_is_created_versioned_and_reopened(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as s, s.transaction() as txn:
        txn.append([b"x"])
    with _raw(postgres_dsn) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        assert conn.execute("SELECT id, size FROM head").fetchall() == [(1, 1)]
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                ("noc_ledger",),
            )
        }
        assert tables == {"schema_version", "head", "entries", "hashes", "kv", "checkpoints"}
    # Opening again is idempotent: nothing is created twice, the data stays.
    with PostgresStore(postgres_dsn) as s, s.snapshot() as view:
        assert view.read_entries(0, 1) == [b"x"]
    with _raw(postgres_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)


def test_session_settings(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn, timeout=1.5, statement_timeout=7) as s:
        conn = s._writer
        assert conn is not None

        def show(name: str) -> str:
            row = conn.execute(f"SHOW {name}").fetchone()
            assert row is not None
            return str(row[0])

        # Durable commits whatever the server default; bounded waits; custom plans (a
        # generic plan costed on the empty tables of a new ledger scans kv sequentially).
        assert show("synchronous_commit") == "on"
        assert show("lock_timeout") == "1500ms"
        assert show("statement_timeout") == "7s"
        assert show("plan_cache_mode") == "force_custom_plan"
        assert show("search_path") == "noc_ledger"
        assert show("application_name") == "noc_ledger"


def test_concurrent_first_opens_create_one_schema(postgres_dsn: str) -> None:
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_one(lock_mode: LockMode) -> None:
        try:
            barrier.wait(timeout=30)
            opened.append(PostgresStore(postgres_dsn, schema="racing", lock_mode=lock_mode))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=open_one, args=(mode,))
        for mode in ("advisory", "row", "advisory", "row")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with _raw(postgres_dsn, "racing") as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        assert conn.execute("SELECT size FROM head").fetchall() == [(0,)]
    for s in opened:
        s.close()


def test_refuses_unknown_schema_version_and_foreign_schemas(postgres_dsn: str) -> None:
    PostgresStore(postgres_dsn).close()
    with _raw(postgres_dsn) as conn:
        conn.execute("UPDATE schema_version SET version = 2")
    with pytest.raises(StorageError, match="schema version"):
        PostgresStore(postgres_dsn)
    with _raw(postgres_dsn) as conn:
        conn.execute("DELETE FROM schema_version")
    with pytest.raises(StorageError, match="schema version"):
        PostgresStore(postgres_dsn)
    with _raw(postgres_dsn, "public") as conn:
        conn.execute("CREATE TABLE public.customers (x int)")
    with pytest.raises(StorageError, match="not a noc_ledger store"):
        PostgresStore(postgres_dsn, schema="public")
    with _raw(postgres_dsn, "public") as conn:  # refused without touching it
        assert conn.execute("SELECT count(*) FROM public.customers").fetchone() == (0,)


def test_bad_arguments() -> None:
    for schema in ("", "Ledger", "a-b", 'x"; DROP TABLE y; --', "a" * 64, "1abc"):
        with pytest.raises(ValueError, match="schema"):
            PostgresStore("host=/nonexistent", schema=schema)
    with pytest.raises(ValueError, match="lock_mode"):
        PostgresStore("host=/nonexistent", lock_mode="table")  # type: ignore[arg-type]


def test_advisory_lock_refused_where_it_is_faked() -> None:
    cockroach = "CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, built 2023/09/27 01:53:43)"
    with pytest.raises(StorageError, match="lock_mode='row'"):
        check_lock_mode(cockroach, "advisory")
    check_lock_mode(cockroach, "row")
    check_lock_mode("PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on x86_64-pc-linux-gnu", "advisory")


def test_schemas_are_separate_ledgers(postgres_dsn: str) -> None:
    a = PostgresStore(postgres_dsn, schema="ledger_a", timeout=0.5)
    b = PostgresStore(postgres_dsn, schema="ledger_b", timeout=0.5)
    try:
        with a.transaction() as txn_a:
            txn_a.append([b"in a"])
            # Each schema has its own write lock: b is not blocked by a's open transaction.
            with b.transaction() as txn_b:
                txn_b.append([b"in b", b"also in b"])
        with a.snapshot() as va, b.snapshot() as vb:
            assert va.read_entries(0, va.size()) == [b"in a"]
            assert vb.read_entries(0, vb.size()) == [b"in b", b"also in b"]
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("lock_mode", ["advisory", "row"])
def test_lock_timeout(postgres_dsn: str, lock_mode: LockMode) -> None:
    holder = PostgresStore(postgres_dsn, lock_mode=lock_mode)
    waiter = PostgresStore(postgres_dsn, lock_mode=lock_mode, timeout=0.3)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with holder.transaction() as txn:
            txn.append([b"held"])
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(30)
        started = time.monotonic()
        with pytest.raises(StorageError, match="write lock not acquired"), waiter.transaction():
            pass
        assert time.monotonic() - started < 5
        with waiter.snapshot() as view:  # readers are not blocked by a writer
            assert view.size() == 0
    finally:
        release.set()
        thread.join()
    with waiter.transaction() as txn:  # and the store recovers once the lock is free
        assert txn.append([b"after"]) == 1
    holder.close()
    waiter.close()


def test_driver_errors_become_storage_errors(postgres_dsn: str, store: PostgresStore) -> None:
    with store.transaction() as txn:
        txn.append([b"a", b"b"])
    with _raw(postgres_dsn) as conn:
        conn.execute("DROP TABLE kv")
        conn.execute("INSERT INTO hashes (idx, hash) VALUES (3, '\\x00')")
    with store.snapshot() as view, pytest.raises(StorageError, match="postgresql"):
        view.get("a", b"k")
    # A failed statement poisons the transaction: it cannot commit what remains.
    with pytest.raises(StorageError, match="rolled back"), store.transaction() as txn:
        with pytest.raises(StorageError, match="postgresql"):
            txn.put("a", b"k", b"v")
        with pytest.raises(StorageError):
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
    # A text value PostgreSQL cannot store (NUL in a namespace) is a StorageError too.
    with pytest.raises(StorageError), store.snapshot() as view:
        view.get("bad\x00namespace", b"k")


def test_head_row_out_of_step_is_detected(postgres_dsn: str, store: PostgresStore) -> None:
    with store.transaction() as txn:
        txn.append([entry(i) for i in range(5)])
    with _raw(postgres_dsn) as conn:
        conn.execute("UPDATE head SET size = 4")
    with pytest.raises(StorageError, match="entries table has 5 rows"):
        store.check_integrity()
    # The primary key refuses a second entry at index 4: no duplicate index, ever.
    with pytest.raises(StorageError, match="postgresql"), store.transaction() as txn:
        txn.append([b"dup"])


def test_unreachable_servers_fail_fast(tmp_path: Path) -> None:
    closed_port = _closed_port()
    for dsn in (
        f"host=127.0.0.1 port={closed_port} user=x dbname=y password=s3cret connect_timeout=2",
        f"host={tmp_path} port=5432 user=x password=s3cret",  # no server's socket there
        "this is not = a dsn = at all",
        "postgresql://x:s3cret@127.0.0.1:99999/db",
        "host=/nonexistent nosuchoption=1",
    ):
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            PostgresStore(dsn, connect_timeout=2)
        assert time.monotonic() - started < 10, dsn
        assert "s3cret" not in str(caught.value)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_wrong_database_and_user(postgres_server: PostgresServer) -> None:
    with pytest.raises(StorageError, match="cannot connect"):
        PostgresStore(postgres_server.dsn("no_such_database"))
    with pytest.raises(StorageError, match="cannot connect"):
        PostgresStore(
            f"host={postgres_server.socket_dir} port={postgres_server.port} user=nobody_here"
        )


def test_server_restart_and_server_down(postgres_server: PostgresServer) -> None:
    server = PostgresServer(fsync=False)  # postgres_server: skips where none can run
    with server:
        store = PostgresStore(server.dsn(tcp=True), timeout=5, connect_timeout=2)
        with store.transaction() as txn:
            txn.append([b"before"])
        with store.snapshot() as view:  # leaves an idle connection in the pool
            assert view.size() == 1
        # A restart cuts every idle connection: the store replaces them, nothing is lost.
        server.restart()
        with store.snapshot() as view:
            assert view.read_entries(0, 1) == [b"before"]
        with store.transaction() as txn:
            assert txn.append([b"after restart"]) == 1
        with store.snapshot() as view:
            assert view.size() == 2
        assert store.check_integrity() == 2
        # Server down: a StorageError, quickly, for writers and readers.
        server.stop()
        for opener in (store.transaction, store.snapshot):
            started = time.monotonic()
            with pytest.raises(StorageError), opener():
                pass
            assert time.monotonic() - started < 10
        store.close()


# The ledger on PostgreSQL, from several processes ------------------------------------------


def _worker(
    dsn: str, lock_mode: str, first: int, count: int, batch: int, go: Path | None = None
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.ledger_worker_pg",
            dsn,
            lock_mode,
            str(first),
            str(count),
            str(batch),
            *([str(go)] if go else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _acks(text: str) -> list[tuple[int, str]]:
    out = []
    for line in text.splitlines():
        tag, index, cert_id = line.split()
        assert tag == "ack"
        out.append((int(index), cert_id))
    return out


def _check_checkpoints_consistent(store: PostgresStore) -> int:
    """Every stored checkpoint is signed by the log key and consistent with the next one
    (RFC 9162 consistency proofs between consecutive sizes). Returns how many."""
    log_key = Verifier.for_key(ORIGIN, LOG.public_key)
    with store.snapshot() as view:
        size = view.size()
        sizes = [s for s in range(size + 1) if view.checkpoint_at(s) is not None]
        checkpoints = []
        for s in sizes:
            note = view.checkpoint_at(s)
            assert note is not None
            cp = open_checkpoint(note, origin=ORIGIN, log_key=log_key).checkpoint
            assert cp.size == s
            checkpoints.append(cp)
        for old, new in itertools.pairwise(checkpoints):
            if old.size == 0:
                continue
            proof = merkle.prove_consistency(old.size, new.size, view)
            merkle.verify_consistency(
                size1=old.size, size2=new.size, proof=proof, root1=old.root, root2=new.root
            )
    return len(checkpoints)


@pytest.mark.parametrize("lock_mode", ["advisory", "row"])
def test_concurrent_writer_processes(postgres_dsn: str, tmp_path: Path, lock_mode: str) -> None:
    store = PostgresStore(postgres_dsn)
    new_ledger(store)  # the delegation, once
    store.close()
    go = tmp_path / "go"
    writers, count = 3, 40
    procs = [_worker(postgres_dsn, lock_mode, 1 + 1000 * k, count, 1, go) for k in range(writers)]
    time.sleep(1.0)  # let every worker open the ledger, then start them together
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(_acks(out))
    total = writers * count
    indexes = [index for acks in outputs for index, _ in acks]
    # No duplicate index, no gap: exactly 1..total after the delegation at 0.
    assert sorted(indexes) == list(range(1, total + 1))
    owner = {index: k for k, acks in enumerate(outputs) for index, _ in acks}
    switches = sum(owner[i] != owner[i + 1] for i in range(1, total))
    assert switches >= 5, f"writers hardly interleaved ({switches} switches)"
    store = PostgresStore(postgres_dsn)
    try:
        ledger = new_ledger(store)
        report = ledger.audit()  # one tree; every checkpoint's roots match the one history
        assert report.size == total + 1 and report.certificates == total
        assert _check_checkpoints_consistent(store) >= total
        for acks in outputs:
            for index, cert_id in acks:
                status = ledger.status(bytes.fromhex(cert_id))
                assert status is not None and status.state is CertState.ACTIVE
                assert status.issued_index == index
    finally:
        store.close()


def test_sigkill_mid_batch_loses_nothing_acknowledged(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn)
    new_ledger(store)
    store.close()
    rng = random.Random(20261126)
    batch = 7
    acknowledged: dict[str, int] = {}
    first = 1
    for _round in range(4):
        proc = _worker(postgres_dsn, "advisory", first, 100_000, batch)
        deadline = time.monotonic() + rng.uniform(0.5, 2.0)
        assert proc.stdout is not None
        # Read acknowledgements until the random moment, then kill without warning.
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            (index, cert_id), *_ = _acks(line)
            acknowledged[cert_id] = index
        proc.send_signal(signal.SIGKILL)
        rest, err = proc.communicate(timeout=30)
        for index, cert_id in _acks(rest):  # written before the kill
            acknowledged[cert_id] = index
        assert proc.returncode == -signal.SIGKILL, err
        first += 100_000
        # Reopen: every acknowledged certificate is there at its index; no batch is partial
        # (the server rolled back the transaction of the dead client); the log audits clean.
        store = PostgresStore(postgres_dsn, timeout=30)
        try:
            ledger = new_ledger(store)
            for cert_hex, acked_index in acknowledged.items():
                status = ledger.status(bytes.fromhex(cert_hex))
                assert status is not None and status.issued_index == acked_index
            report = ledger.audit()
            assert report.certificates % batch == 0, "a batch was partly written"
            assert report.certificates >= len(acknowledged)
        finally:
            store.close()
    assert len(acknowledged) > 3 * batch, "the writer never got going: the test proved nothing"
    # And the log continues (the dead writers' locks were released by the server).
    store = PostgresStore(postgres_dsn, timeout=10)
    try:
        ledger = new_ledger(store)
        receipt = ledger.issue(noc(first), ISSUER)
        assert receipt.index == ledger.size() - 1
    finally:
        store.close()


# The command line: `noc-ledger init --store postgresql://…` ---------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    from noc_ledger.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


_INIT = [
    "--origin",
    ORIGIN,
    "--authority",
    "Virtual Assets Regulatory Authority",
    "--jurisdiction",
    "AE-DU",
    "--unsafe-no-passphrase",
]


def test_cli_init_with_a_postgres_store(
    postgres_server: PostgresServer,
    postgres_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    dbname = postgres_dsn.rsplit("dbname=", 1)[1]
    uri = (
        f"postgresql://{postgres_server.user}@/{dbname}"
        f"?host={postgres_server.socket_dir}&port={postgres_server.port}"
    )
    code, out, err = _cli(capsys, "init", tmp_path / "a", *_INIT, "--store", uri, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["store"] == uri and result["size"] == 1
    # The log is in PostgreSQL, not in a file; ledger.json records the URI.
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["keys", "ledger.json"]
    assert json.loads((tmp_path / "a" / "ledger.json").read_text())["store"] == uri
    code, out, err = _cli(capsys, "log", tmp_path / "a", "--json")
    assert code == 0, err
    entries = json.loads(out)["entries"]
    assert [e["kind"] for e in entries] == ["key-event"]
    with PostgresStore(postgres_dsn) as store, store.snapshot() as view:
        assert view.size() == 1
        assert view.latest_checkpoint() is not None
    # A second ledger cannot start on a database that already holds a log.
    code, _out, err = _cli(capsys, "init", tmp_path / "b", *_INIT, "--store", uri)
    assert code != 0 and "already holds a log" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
    with PostgresStore(postgres_dsn) as store, store.snapshot() as view:
        assert view.size() == 1


def test_cli_init_store_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for uri, message in (
        ("postgresql://u:s3cret@db.example/ledger", "no password"),
        ("postgresql://u@db.example/ledger?password=s3cret", "no password"),
        ("host=db.example dbname=ledger", "postgresql://"),
        ("sqlite:///tmp/x.db", "postgresql://"),
    ):
        code, _out, err = _cli(capsys, "init", tmp_path / "x", *_INIT, "--store", uri)
        assert code != 0 and message in err, err
        assert "s3cret" not in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "x").exists()
    # An unreachable server: one line, and nothing is left of the directory.
    port = _closed_port()
    code, _out, err = _cli(
        capsys, "init", tmp_path / "y", *_INIT, "--store", f"postgresql://u@127.0.0.1:{port}/db"
    )
    assert code != 0 and "cannot connect" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "y").exists()
