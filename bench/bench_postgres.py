"""The PostgreSQL store against the SQLite store, measured in the same run: durable
issuances/s (one per transaction, and group commit) and inclusion proofs/s.

Rows, each run on both ``SqliteStore`` (WAL, ``synchronous=FULL``, a temporary directory)
and ``PostgresStore`` (a fresh schema; ``lock_mode="advisory"`` unless the row says
``row``), each in its own spawned interpreter (bench/_common.py ``run_isolated``):

* ``issue``: ``Ledger.issue``, one transaction (and one WAL flush) per certificate;
* ``issue_batch 100`` / ``issue_batch 1000``: group commit of that many per transaction;
* ``issue_batch 100, 2 writer processes``: two processes, one database (PostgreSQL's
  reason to exist here: writers on several machines); wall time from both ready to both
  done;
* ``inclusion proofs, one snapshot``: ``merkle.prove_inclusion`` for random indexes
  (``random.Random(2026)``) over a log of synthetic 923-byte entries (the size of a real
  signed NOC), all in one read snapshot;
* ``inclusion proofs, snapshot each``: one snapshot per proof, as a server answers requests.

What is timed for issuance is as in bench_issuance.py: signing, the log's checks, the append
and its hashes, the status map, the signed checkpoint and the durable commit; the
``Certificate`` objects are built before the clock starts. The ratio column is PostgreSQL's
rate over SQLite's in the same run. Absolute rates on the shared machine are noise.

PostgreSQL: by default a throwaway server is started from Debian's binaries
(tests/postgres_server.py: ``fsync=on``, unix socket, default ``synchronous_commit=on``),
so every commit waits for a real WAL flush on the same disk as SQLite's; ``--dsn`` uses an
existing server instead (each row creates and drops its own schema there).

Run (from the repository root, with the venv that has the ``postgres`` extra)::

    /work/venv/bin/python bench/bench_postgres.py            # modest sizes (~1-2 minutes)
    /work/venv/bin/python bench/bench_postgres.py --quick    # smoke test (seconds)
    /work/venv/bin/python bench/bench_postgres.py --json     # one JSON object on stdout
"""

from __future__ import annotations

import multiprocessing
import random
import tempfile
from pathlib import Path
from typing import Any, cast

import psycopg

from _common import (
    base_parser,
    emit,
    fmt_rate,
    fmt_ratio,
    get_result,
    machine,
    perf_counter,
    progress,
    rate,
    ratio,
    run_isolated,
    table,
)
from noc_ledger import merkle
from noc_ledger.ledger.postgres import LockMode, PostgresStore
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.ledger.store import Store
from tests.ledger_story import ISSUER, new_ledger, noc
from tests.postgres_server import PostgresServer

FULL = {"single": 500, "batch": 5_000, "writers_each": 2_000, "log": 100_000, "proofs": 5_000}
QUICK = {"single": 30, "batch": 300, "writers_each": 200, "log": 2_000, "proofs": 300}
ENTRY_SIZE = 923


def _open(kind: str, where: str, name: str, lock_mode: str = "advisory") -> Store:
    """A new empty store: SQLite in directory ``where``, PostgreSQL at DSN ``where`` in
    schema ``name``."""
    if kind == "sqlite":
        return SqliteStore(Path(where) / f"{name}.db", timeout=120)
    return PostgresStore(where, schema=name, lock_mode=cast(LockMode, lock_mode), timeout=120)


def _drop_schema(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def row_issue(
    kind: str, where: str, name: str, count: int, batch: int, first: int
) -> dict[str, Any]:
    certs = [noc(n) for n in range(first, first + count)]
    store = _open(kind, where, name)
    ledger = new_ledger(store)
    start = perf_counter()
    if batch == 1:
        for cert in certs:
            ledger.issue(cert, ISSUER)
    else:
        for lo in range(0, count, batch):
            ledger.issue_batch(certs[lo : lo + batch], ISSUER)
    seconds = perf_counter() - start
    size = ledger.size()
    store.close()
    if size != count + 1:
        raise RuntimeError(f"{kind}: ledger has {size} entries, expected {count + 1}")
    return {"count": count, "seconds": seconds}


def _writer(
    kind: str, where: str, name: str, first: int, count: int, batch: int, barrier: Any, queue: Any
) -> None:
    certs = [noc(n) for n in range(first, first + count)]
    store = _open(kind, where, name)
    ledger = new_ledger(store)
    barrier.wait()
    for lo in range(0, count, batch):
        ledger.issue_batch(certs[lo : lo + batch], ISSUER)
    store.close()
    queue.put("done")


def row_writers(
    kind: str, where: str, name: str, writers: int, each: int, batch: int, first: int
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    store = _open(kind, where, name)
    new_ledger(store)  # the delegation, before the writers
    store.close()
    barrier = ctx.Barrier(writers + 1)
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_writer,
            args=(kind, where, name, first + w * 1_000_000, each, batch, barrier, queue),
        )
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=600)
    start = perf_counter()
    for _ in procs:
        get_result(queue, procs)
    seconds = perf_counter() - start
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a writer exited with {p.exitcode}")
    store = _open(kind, where, name)
    size = new_ledger(store).size()
    store.close()
    if size != writers * each + 1:
        raise RuntimeError(f"{kind}: ledger has {size} entries, expected {writers * each + 1}")
    return {"count": writers * each, "seconds": seconds}


def row_proofs(kind: str, where: str, name: str, log: int, proofs: int) -> dict[str, Any]:
    store = _open(kind, where, name)
    with store.transaction() as txn:
        for lo in range(0, log, 10_000):
            txn.append(
                [
                    i.to_bytes(8, "big") + bytes(ENTRY_SIZE - 8)
                    for i in range(lo, min(lo + 10_000, log))
                ]
            )
    rng = random.Random(2026)
    indexes = [rng.randrange(log) for _ in range(proofs)]
    with store.snapshot() as view:
        root = merkle.root_from_reader(log, view)
        start = perf_counter()
        one = [merkle.prove_inclusion(i, log, view) for i in indexes]
        one_seconds = perf_counter() - start
    start = perf_counter()
    each = []
    for i in indexes:
        with store.snapshot() as view:
            each.append(merkle.prove_inclusion(i, log, view))
    each_seconds = perf_counter() - start
    store.close()
    if one != each:
        raise RuntimeError(f"{kind}: proofs differ between the two ways of reading")
    for i in indexes[:50]:  # the proofs are real
        leaf = merkle.leaf_hash(i.to_bytes(8, "big") + bytes(ENTRY_SIZE - 8))
        merkle.verify_inclusion(
            index=i, size=log, leaf_hash=leaf, proof=one[indexes.index(i)], root=root
        )
    return {
        "count": proofs,
        "seconds_one_snapshot": one_seconds,
        "seconds_snapshot_each": each_seconds,
        "root": root.hex(),
    }


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--dsn", help="an existing PostgreSQL server (default: a throwaway one)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    server = None
    dsn = args.dsn
    if dsn is None:
        progress("starting a throwaway PostgreSQL server (fsync=on)")
        server = PostgresServer(fsync=True).start()
        dsn = server.dsn(server.create_database())
    results: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(dir=args.tmpdir) as d:
            where = {"sqlite": d, "postgres": dsn}
            plan: list[tuple[str, str, Any, dict[str, Any]]] = [
                ("issue", "issue", row_issue, {"count": sizes["single"], "batch": 1, "first": 1}),
                (
                    "issue_batch 100",
                    "batch100",
                    row_issue,
                    {"count": sizes["batch"], "batch": 100, "first": 1_000_001},
                ),
                (
                    "issue_batch 1000",
                    "batch1000",
                    row_issue,
                    {"count": sizes["batch"], "batch": 1000, "first": 2_000_001},
                ),
                (
                    "issue_batch 100, 2 writer processes",
                    "writers",
                    row_writers,
                    {"writers": 2, "each": sizes["writers_each"], "batch": 100, "first": 3_000_001},
                ),
                (
                    "inclusion proofs",
                    "proofs",
                    row_proofs,
                    {"log": sizes["log"], "proofs": sizes["proofs"]},
                ),
            ]
            for label, name, target, kwargs in plan:
                for kind in ("sqlite", "postgres"):
                    progress(f"{label}: {kind}")
                    results[f"{name}/{kind}"] = run_isolated(
                        target, kind=kind, where=where[kind], name=name, **kwargs
                    )
                    if kind == "postgres" and server is None:
                        _drop_schema(dsn, name)
    finally:
        if server is not None:
            server.stop()
    if results["proofs/sqlite"]["root"] != results["proofs/postgres"]["root"]:
        raise RuntimeError("the two stores disagree on the root of the same entries")
    rows = []
    report_rows = []
    for label, name in (
        ("issue (1 per transaction)", "issue"),
        ("issue_batch 100", "batch100"),
        ("issue_batch 1000", "batch1000"),
        ("issue_batch 100, 2 writer processes", "writers"),
    ):
        s, p = results[f"{name}/sqlite"], results[f"{name}/postgres"]
        rs, rp = rate(s["count"], s["seconds"]), rate(p["count"], p["seconds"])
        rows.append([label, p["count"], fmt_rate(rs), fmt_rate(rp), fmt_ratio(ratio(rp, rs))])
        report_rows.append(
            {"row": label, "count": p["count"], "sqlite_per_s": rs, "postgres_per_s": rp}
        )
    for label, key in (
        ("inclusion proofs, one snapshot", "seconds_one_snapshot"),
        ("inclusion proofs, snapshot each", "seconds_snapshot_each"),
    ):
        s, p = results["proofs/sqlite"], results["proofs/postgres"]
        rs, rp = rate(s["count"], s[key]), rate(p["count"], p[key])
        rows.append([label, p["count"], fmt_rate(rs), fmt_rate(rp), fmt_ratio(ratio(rp, rs))])
        report_rows.append(
            {"row": label, "count": p["count"], "sqlite_per_s": rs, "postgres_per_s": rp}
        )
    title = f"PostgresStore vs SqliteStore (log of {sizes['log']:,} entries for proofs)"
    text = table(title, ["row", "count", "SQLite", "PostgreSQL", "PG/SQLite"], rows)
    info = machine()
    if server is not None:
        info["postgresql"] = str(server.bindir)
    emit(args, {"machine": info, "sizes": sizes, "rows": report_rows}, text)


if __name__ == "__main__":
    main()
