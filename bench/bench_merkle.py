"""Merkle log throughput: appends/s, proofs/s and verifications/s at 1,000,000 entries, for
``merkle.MemoryHashStore`` and ``SqliteStore``, against the SHA-256 floor and pymerkle, all
measured in the same run.

Rows:

* floor: raw ``hashlib.sha256(...).digest()`` calls/s over the same inputs an append hashes
  (``0x00 || entry`` leaf inputs, 65-byte ``0x01 || left || right`` node inputs); a log of n
  entries needs n leaf hashes and n - popcount(n) node hashes, so the floor for appends/s is
  n / (time of those hashes);
* appends/s into ``merkle.MemoryHashStore`` (``append`` per entry) and into ``SqliteStore``
  (``Transaction.append`` in chunks of 10,000 inside ONE transaction, commit included) at
  100,000 and 1,000,000 entries; plus the SQLite floor: the same rows (entries with their
  leaf hash, stored hashes) INSERTed with ``executemany`` into the same schema with the same
  pragmas (WAL, synchronous=FULL), hashes computed beforehand, one transaction;
* inclusion and consistency proofs/s at 1 M entries from each store, for the same random
  indexes (``random.Random(seed)``, ``--seed``, default 2026; consistency proofs go from a
  random size to the full size): from memory, ``merkle.prove_*`` over the store; from
  SQLite, ``Ledger.prove_inclusion``/``prove_consistency`` (one read snapshot per proof, as
  a server answers requests) and, for inclusion, also many proofs in one snapshot;
* verifications/s (``merkle.verify_inclusion``/``verify_consistency``) of a subset of
  those proofs against the root read from the store;
* pymerkle 7 (``InmemoryTree``, ``SqliteTree`` with WAL + synchronous=FULL) fed the same
  entries: appends/s, the first root after the appends (its subroot cache is cold), then
  proofs/s and verifications/s for the same indexes (pymerkle counts leaves from 1).

Entries are synthetic and distinct: an 8-byte index followed by fixed filler, of the size of
a real signed NOC entry of ``tests/ledger_story.py`` (``--entry-size`` to change it). The
tree roots of all stores and of pymerkle are compared at the end.

Memory: each measurement runs in its own spawned interpreter and reports that interpreter's
peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). For SQLite proof serving it is
read right after opening the store and again after serving the proofs, at 100,000 and at
1,000,000 entries: serving must not grow with the log. The SQLite databases sit in a
temporary directory and are read with a warm OS page cache (they were just written).

Targets (the issue): >= 200,000 appends/s; >= 20,000 proofs/s at 1 M entries.

Run (from the repository root; the full run takes a few minutes and ~3 GB of temp disk)::

    /work/venv/bin/python bench/bench_merkle.py            # 1,000,000 entries
    /work/venv/bin/python bench/bench_merkle.py --quick    # 20,000 entries: a smoke test
    /work/venv/bin/python bench/bench_merkle.py --json     # one JSON object on stdout
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pymerkle
from pymerkle import InmemoryTree, SqliteTree

from _common import (
    base_parser,
    emit,
    fmt_rate,
    fmt_ratio,
    machine,
    peak_rss_mib,
    perf_counter,
    progress,
    rate,
    ratio,
    run_isolated,
    table,
)
from noc_ledger import merkle
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.model import sign_certificate
from tests.ledger_story import AUTHORITY, ISSUER, LOG, ORIGIN, noc

TARGET_APPENDS = 200_000
TARGET_PROOFS = 20_000
CHUNK = 10_000

FULL = {
    "n": 1_000_000,
    "small": 100_000,
    "proofs": 100_000,
    "verify": 20_000,
    "pymerkle_proofs_memory": 20_000,
    "pymerkle_proofs_sqlite": 5_000,
}
QUICK = {
    "n": 20_000,
    "small": 2_000,
    "proofs": 2_000,
    "verify": 1_000,
    "pymerkle_proofs_memory": 1_000,
    "pymerkle_proofs_sqlite": 500,
}


# -- inputs ----------------------------------------------------------------------------------


def _filler(entry_size: int) -> bytes:
    out = b""
    block = 0
    while len(out) < entry_size - 8:
        out += hashlib.sha256(b"bench filler %d" % block).digest()
        block += 1
    return out[: entry_size - 8]


def _entries(lo: int, hi: int, filler: bytes) -> list[bytes]:
    return [i.to_bytes(8, "big") + filler for i in range(lo, hi)]


def _chunks(n: int, filler: bytes) -> Iterator[list[bytes]]:
    for lo in range(0, n, CHUNK):
        yield _entries(lo, min(n, lo + CHUNK), filler)


def _queries(n: int, count: int, seed: int) -> tuple[list[int], list[int]]:
    """The same random leaf indexes and old sizes for every store."""
    rng = random.Random(seed)
    indexes = [rng.randrange(n) for _ in range(count)]
    old_sizes = [rng.randrange(1, n) for _ in range(count)]
    return indexes, old_sizes


def real_entry_size() -> int:
    return len(sign_certificate(noc(1), ISSUER))


class _Frontier:
    """A merkle.HashReader over the right edge of the tree (each left sibling is read once)."""

    def __init__(self) -> None:
        self.hashes: dict[int, bytes] = {}

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return [self.hashes.pop(i) for i in indexes]


# -- phases (each runs in its own spawned interpreter) --------------------------------------


def phase_hash_floor(n: int, entry_size: int) -> dict[str, Any]:
    """sha256 calls/s over the inputs an append of ``n`` entries hashes."""
    filler = _filler(entry_size)
    sha = hashlib.sha256
    leaf_seconds = 0.0
    for chunk in _chunks(n, filler):
        inputs = [b"\x00" + e for e in chunk]
        start = perf_counter()
        for x in inputs:
            sha(x).digest()
        leaf_seconds += perf_counter() - start
    nodes = n - n.bit_count()
    pairs = [b"\x01" + sha(b"%d" % i).digest() + sha(b"%d." % i).digest() for i in range(CHUNK)]
    node_seconds = 0.0
    for lo in range(0, nodes, CHUNK):
        inputs = pairs[: min(CHUNK, nodes - lo)]
        start = perf_counter()
        for x in inputs:
            sha(x).digest()
        node_seconds += perf_counter() - start
    return {
        "n": n,
        "leaf_hashes_per_second": rate(n, leaf_seconds),
        "node_hashes_per_second": rate(nodes, node_seconds),
        "appends_per_second": rate(n, leaf_seconds + node_seconds),
        "seconds": leaf_seconds + node_seconds,
    }


def phase_memory(n: int, proofs: int, verify: int, entry_size: int, seed: int) -> dict[str, Any]:
    """MemoryHashStore: appends, then proofs and verifications at ``n``."""
    filler = _filler(entry_size)
    store = merkle.MemoryHashStore()
    append = store.append
    seconds = 0.0
    for chunk in _chunks(n, filler):
        start = perf_counter()
        for e in chunk:
            append(e)
        seconds += perf_counter() - start
    rss_built = peak_rss_mib()
    root = merkle.root_from_reader(n, store)
    indexes, old_sizes = _queries(n, proofs, seed)
    start = perf_counter()
    for i in indexes:
        merkle.prove_inclusion(i, n, store)
    inclusion = perf_counter() - start
    start = perf_counter()
    for s in old_sizes:
        merkle.prove_consistency(s, n, store)
    consistency = perf_counter() - start
    verified = _verify(store, n, root, indexes[:verify], old_sizes[:verify])
    return {
        "n": n,
        "append_seconds": seconds,
        "appends_per_second": rate(n, seconds),
        "rss_after_appends_mib": rss_built,
        "inclusion_per_second": rate(proofs, inclusion),
        "consistency_per_second": rate(proofs, consistency),
        **verified,
        "root": root.hex(),
    }


def _verify(
    reader: merkle.HashReader,
    n: int,
    root: bytes,
    indexes: list[int],
    old_sizes: list[int],
) -> dict[str, float]:
    """Make proofs (untimed), then time their verification against ``root``."""
    leaves = reader.read_hashes([merkle.stored_hash_index(0, i) for i in indexes])
    inclusion = [merkle.prove_inclusion(i, n, reader) for i in indexes]
    old_roots = [merkle.root_from_reader(s, reader) for s in old_sizes]
    consistency = [merkle.prove_consistency(s, n, reader) for s in old_sizes]
    start = perf_counter()
    for i, leaf, proof in zip(indexes, leaves, inclusion, strict=True):
        merkle.verify_inclusion(index=i, size=n, leaf_hash=leaf, proof=proof, root=root)
    inc_seconds = perf_counter() - start
    start = perf_counter()
    for s, old_root, proof in zip(old_sizes, old_roots, consistency, strict=True):
        merkle.verify_consistency(size1=s, size2=n, proof=proof, root1=old_root, root2=root)
    cons_seconds = perf_counter() - start
    return {
        "verify_inclusion_per_second": rate(len(indexes), inc_seconds),
        "verify_consistency_per_second": rate(len(old_sizes), cons_seconds),
    }


def phase_sqlite_build(n: int, path: str, entry_size: int) -> dict[str, Any]:
    """SqliteStore: ``n`` entries appended in chunks inside one transaction, then commit."""
    filler = _filler(entry_size)
    store = SqliteStore(path)
    seconds = 0.0
    with store.transaction() as tx:
        for chunk in _chunks(n, filler):
            start = perf_counter()
            tx.append(chunk)
            seconds += perf_counter() - start
        before_commit = perf_counter()
    commit = perf_counter() - before_commit
    with store.snapshot() as r:
        size = r.size()
    store.close()
    if size != n:
        raise RuntimeError(f"store has {size} entries, expected {n}")
    return {
        "n": n,
        "append_seconds": seconds,
        "commit_seconds": commit,
        "appends_per_second": rate(n, seconds + commit),
        "db_mib": Path(path).stat().st_size / 2**20,
    }


def phase_sqlite_floor(n: int, path: str, entry_size: int, leaf_index: bool) -> dict[str, Any]:
    """The same rows the store writes, INSERTed directly: the cost of SQLite alone. With
    ``leaf_index=False`` the store's index on ``entries.leaf_hash`` (used only by
    ``find_entry``) is dropped first, to show what it costs."""
    filler = _filler(entry_size)
    SqliteStore(path).close()  # the store's schema and WAL mode
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    if not leaf_index:
        conn.execute("DROP INDEX entries_by_leaf_hash")
    frontier = _Frontier()
    position = 0
    seconds = 0.0
    conn.execute("BEGIN IMMEDIATE")
    for lo in range(0, n, CHUNK):
        chunk = _entries(lo, min(n, lo + CHUNK), filler)
        entry_rows = []
        hash_rows = []
        for k, e in enumerate(chunk):
            leaf = merkle.leaf_hash(e)
            new = merkle.stored_hashes_for_append(lo + k, leaf, frontier)
            entry_rows.append((lo + k, e, leaf))
            for h in new:
                hash_rows.append((position, h))
                position += 1
            frontier.hashes[position - 1] = new[-1]
        start = perf_counter()
        conn.executemany("INSERT INTO entries (idx, data, leaf_hash) VALUES (?, ?, ?)", entry_rows)
        conn.executemany("INSERT INTO hashes (idx, hash) VALUES (?, ?)", hash_rows)
        seconds += perf_counter() - start
    start = perf_counter()
    conn.execute("COMMIT")
    seconds += perf_counter() - start
    conn.close()
    return {"n": n, "seconds": seconds, "appends_per_second": rate(n, seconds)}


def phase_sqlite_proofs(path: str, n: int, proofs: int, verify: int, seed: int) -> dict[str, Any]:
    """Proof serving from a SqliteStore of ``n`` entries, as a server does it."""
    store = SqliteStore(path)
    ledger = Ledger(store, origin=ORIGIN, authority=AUTHORITY, log_signer=LOG)
    if ledger.size() != n:
        raise RuntimeError(f"store has {ledger.size()} entries, expected {n}")
    rss_open = peak_rss_mib()
    indexes, old_sizes = _queries(n, proofs, seed)
    start = perf_counter()
    for i in indexes:
        ledger.prove_inclusion(i, n)
    inclusion = perf_counter() - start
    start = perf_counter()
    for s in old_sizes:
        ledger.prove_consistency(s, n)
    consistency = perf_counter() - start
    rss_served = peak_rss_mib()
    with store.snapshot() as r:
        start = perf_counter()
        for i in indexes:
            merkle.prove_inclusion(i, n, r)
        one_snapshot = perf_counter() - start
        root = merkle.root_from_reader(n, r)
        verified = _verify(r, n, root, indexes[:verify], old_sizes[:verify])
    store.close()
    return {
        "n": n,
        "rss_open_mib": rss_open,
        "rss_after_serving_mib": rss_served,
        "inclusion_per_second": rate(proofs, inclusion),
        "consistency_per_second": rate(proofs, consistency),
        "inclusion_one_snapshot_per_second": rate(proofs, one_snapshot),
        **verified,
        "root": root.hex(),
    }


def phase_pymerkle(
    backend: str, n: int, proofs: int, verify: int, entry_size: int, seed: int, path: str
) -> dict[str, Any]:
    """pymerkle fed the same entries: appends, cold first root, proofs, verifications."""
    filler = _filler(entry_size)
    if backend == "memory":
        tree: Any = InmemoryTree()
        seconds = 0.0
        for chunk in _chunks(n, filler):
            start = perf_counter()
            for e in chunk:
                tree.append_entry(e)
            seconds += perf_counter() - start
    else:
        tree = SqliteTree(path)
        tree.con.execute("PRAGMA journal_mode=WAL")
        tree.con.execute("PRAGMA synchronous=FULL")

        def stream() -> Iterator[bytes]:
            for chunk in _chunks(n, filler):
                yield from chunk

        # One append_entries call is one transaction; it pulls entries from the stream, whose
        # own cost is measured alone and subtracted.
        start = perf_counter()
        for _ in stream():
            pass
        generation = perf_counter() - start
        start = perf_counter()
        tree.append_entries(stream())
        seconds = perf_counter() - start - generation
    rss_built = peak_rss_mib()
    if tree.get_size() != n:
        raise RuntimeError(f"pymerkle tree has {tree.get_size()} leaves, expected {n}")
    start = perf_counter()
    root = tree.get_root(n)
    first_root = perf_counter() - start
    indexes, old_sizes = _queries(n, proofs, seed)
    start = perf_counter()
    for i in indexes:
        tree.prove_inclusion(i + 1, n)
    inclusion = perf_counter() - start
    start = perf_counter()
    for s in old_sizes:
        tree.prove_consistency(s, n)
    consistency = perf_counter() - start
    subset = indexes[:verify]
    leaves = [tree.get_leaf(i + 1) for i in subset]
    inc_proofs = [tree.prove_inclusion(i + 1, n) for i in subset]
    old = old_sizes[:verify]
    old_roots = [tree.get_root(s) for s in old]
    cons_proofs = [tree.prove_consistency(s, n) for s in old]
    start = perf_counter()
    for leaf, proof in zip(leaves, inc_proofs, strict=True):
        pymerkle.verify_inclusion(leaf, root, proof)
    verify_inc = perf_counter() - start
    start = perf_counter()
    for old_root, proof in zip(old_roots, cons_proofs, strict=True):
        pymerkle.verify_consistency(old_root, root, proof)
    verify_cons = perf_counter() - start
    if backend != "memory":
        tree.close()
    return {
        "backend": backend,
        "n": n,
        "append_seconds": seconds,
        "appends_per_second": rate(n, seconds),
        "rss_after_appends_mib": rss_built,
        "first_root_seconds": first_root,
        "inclusion_per_second": rate(proofs, inclusion),
        "consistency_per_second": rate(proofs, consistency),
        "verify_inclusion_per_second": rate(len(subset), verify_inc),
        "verify_consistency_per_second": rate(len(old), verify_cons),
        "root": root.hex(),
    }


# -- the run ---------------------------------------------------------------------------------


def run(sizes: dict[str, int], entry_size: int, seed: int, tmpdir: str | None) -> dict[str, Any]:
    n, small = sizes["n"], sizes["small"]
    r: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=tmpdir) as d:
        big_db, small_db = str(Path(d) / "big.db"), str(Path(d) / "small.db")
        floor_db, pm_db = str(Path(d) / "floor.db"), str(Path(d) / "pymerkle.db")
        progress(f"sha256 floor over {n:,} appends")
        r["hash_floor"] = run_isolated(phase_hash_floor, n=n, entry_size=entry_size)
        progress(f"MemoryHashStore: {n:,} appends, {sizes['proofs']:,} proofs of each kind")
        r["memory"] = run_isolated(
            phase_memory,
            n=n,
            proofs=sizes["proofs"],
            verify=sizes["verify"],
            entry_size=entry_size,
            seed=seed,
        )
        for key, leaf_index in (("sqlite_floor", True), ("sqlite_floor_no_index", False)):
            progress(f"SQLite floor: {n:,} rows of each table, one transaction ({key})")
            r[key] = run_isolated(
                phase_sqlite_floor, n=n, path=floor_db, entry_size=entry_size, leaf_index=leaf_index
            )
            for suffix in ("", "-wal", "-shm"):
                Path(floor_db + suffix).unlink(missing_ok=True)
        for key, size, db in (("small", small, small_db), ("big", n, big_db)):
            progress(f"SqliteStore: {size:,} appends in one transaction")
            r[f"sqlite_build_{key}"] = run_isolated(
                phase_sqlite_build, n=size, path=db, entry_size=entry_size
            )
            progress(f"SqliteStore: proofs at {size:,}")
            r[f"sqlite_proofs_{key}"] = run_isolated(
                phase_sqlite_proofs,
                path=db,
                n=size,
                proofs=sizes["proofs"],
                verify=sizes["verify"],
                seed=seed,
            )
        for backend in ("memory", "sqlite"):
            k = sizes[f"pymerkle_proofs_{backend}"]
            progress(f"pymerkle {backend}: {n:,} appends, {k:,} proofs of each kind")
            r[f"pymerkle_{backend}"] = run_isolated(
                phase_pymerkle,
                backend=backend,
                n=n,
                proofs=k,
                verify=min(k, sizes["verify"]),
                entry_size=entry_size,
                seed=seed,
                path=pm_db,
            )
    return r


def report(
    r: dict[str, Any], sizes: dict[str, int], entry_size: int, seed: int
) -> tuple[dict[str, Any], str]:
    n, small = sizes["n"], sizes["small"]
    floor = r["hash_floor"]["appends_per_second"]
    sq_floor = r["sqlite_floor"]["appends_per_second"]
    mem, pm_mem, pm_sq = r["memory"], r["pymerkle_memory"], r["pymerkle_sqlite"]
    big, small_p = r["sqlite_proofs_big"], r["sqlite_proofs_small"]
    info = machine()
    head = (
        f"{info['date']}, commit {info['commit']}, {info['cores']} cores, {info['cpu']}, "
        f"Python {info['python']}, SQLite {info['sqlite']}, pymerkle {pymerkle.__version__}; "
        f"entries of {entry_size} bytes; seed {seed}"
    )

    def build_row(label: str, count: int, value: float, peer: float | None, sq: bool, rss: float):
        return [
            label,
            f"{count:,}",
            fmt_rate(value),
            fmt_ratio(ratio(value, floor)),
            fmt_ratio(ratio(value, sq_floor)) if sq else "-",
            fmt_ratio(ratio(value, peer)) if peer else "-",
            f"{rss:.0f} MiB",
        ]

    sb, ss = r["sqlite_build_big"], r["sqlite_build_small"]
    appends = [
        [
            "sha256 floor (leaf + node hashes)",
            f"{n:,}",
            fmt_rate(floor),
            "1.00x",
            "-",
            "-",
            f"{r['hash_floor']['peak_rss_mib']:.0f} MiB",
        ],
        build_row(
            "MemoryHashStore.append",
            n,
            mem["appends_per_second"],
            pm_mem["appends_per_second"],
            False,
            mem["rss_after_appends_mib"],
        ),
        build_row(
            "SqliteStore, 1 transaction",
            small,
            ss["appends_per_second"],
            None,
            True,
            ss["peak_rss_mib"],
        ),
        build_row(
            "SqliteStore, 1 transaction",
            n,
            sb["appends_per_second"],
            pm_sq["appends_per_second"],
            True,
            sb["peak_rss_mib"],
        ),
        build_row(
            "SQLite floor: same rows, executemany",
            n,
            sq_floor,
            None,
            True,
            r["sqlite_floor"]["peak_rss_mib"],
        ),
        build_row(
            "SQLite floor without the leaf_hash index",
            n,
            r["sqlite_floor_no_index"]["appends_per_second"],
            None,
            True,
            r["sqlite_floor_no_index"]["peak_rss_mib"],
        ),
        build_row(
            "pymerkle InmemoryTree.append_entry",
            n,
            pm_mem["appends_per_second"],
            None,
            False,
            pm_mem["rss_after_appends_mib"],
        ),
        build_row(
            "pymerkle SqliteTree, 1 transaction",
            n,
            pm_sq["appends_per_second"],
            None,
            True,
            pm_sq["rss_after_appends_mib"],
        ),
    ]
    text = table(
        f"Appends/s (target >= {TARGET_APPENDS:,}/s) -- {head}",
        ["store", "entries", "appends", "vs sha256", "vs SQLite floor", "vs pymerkle", "peak RSS"],
        appends,
    )
    text += (
        f"\n(SqliteStore at {n:,}: append {sb['append_seconds']:.1f} s + commit "
        f"{sb['commit_seconds']:.1f} s; database {sb['db_mib']:,.0f} MiB. pymerkle rows: "
        "'vs pymerkle' is ours / theirs on the same backend, shown on our rows.)\n\n"
    )

    def proof_rows(kind: str) -> list[list[object]]:
        key = f"{kind}_per_second"
        rows = [
            [
                f"MemoryHashStore, merkle.prove_{kind}",
                f"{n:,}",
                fmt_rate(mem[key]),
                fmt_ratio(ratio(mem[key], pm_mem[key])),
                fmt_ratio(ratio(mem[key], TARGET_PROOFS)),
                f"{mem['peak_rss_mib']:.0f} MiB",
            ],
            [
                f"SqliteStore, Ledger.prove_{kind} (snapshot each)",
                f"{n:,}",
                fmt_rate(big[key]),
                fmt_ratio(ratio(big[key], pm_sq[key])),
                fmt_ratio(ratio(big[key], TARGET_PROOFS)),
                f"{big['rss_after_serving_mib']:.0f} MiB",
            ],
        ]
        if kind == "inclusion":
            v = big["inclusion_one_snapshot_per_second"]
            rows.append(
                [
                    "SqliteStore, merkle.prove_inclusion (1 snapshot)",
                    f"{n:,}",
                    fmt_rate(v),
                    fmt_ratio(ratio(v, pm_sq[key])),
                    fmt_ratio(ratio(v, TARGET_PROOFS)),
                    "-",
                ]
            )
        rows += [
            [
                f"SqliteStore, Ledger.prove_{kind} (snapshot each)",
                f"{small:,}",
                fmt_rate(small_p[key]),
                "-",
                fmt_ratio(ratio(small_p[key], TARGET_PROOFS)),
                f"{small_p['rss_after_serving_mib']:.0f} MiB",
            ],
            [
                f"pymerkle InmemoryTree.prove_{kind}",
                f"{n:,}",
                fmt_rate(pm_mem[key]),
                "1.00x",
                fmt_ratio(ratio(pm_mem[key], TARGET_PROOFS)),
                f"{pm_mem['peak_rss_mib']:.0f} MiB",
            ],
            [
                f"pymerkle SqliteTree.prove_{kind}",
                f"{n:,}",
                fmt_rate(pm_sq[key]),
                "1.00x",
                fmt_ratio(ratio(pm_sq[key], TARGET_PROOFS)),
                f"{pm_sq['peak_rss_mib']:.0f} MiB",
            ],
        ]
        return rows

    proof_table = proof_rows("inclusion") + proof_rows("consistency")
    text += table(
        f"Proofs/s, random indexes (target >= {TARGET_PROOFS:,}/s at {n:,})",
        ["source", "size", "proofs", "vs pymerkle", "vs target", "peak RSS"],
        proof_table,
    )
    text += (
        f"\n({sizes['proofs']:,} proofs of each kind from our stores; pymerkle "
        f"{sizes['pymerkle_proofs_memory']:,} (memory) / {sizes['pymerkle_proofs_sqlite']:,} "
        f"(SQLite), after its first root at {n:,} (cold subroot cache): memory "
        f"{pm_mem['first_root_seconds']:.2f} s, SQLite {pm_sq['first_root_seconds']:.2f} s. "
        "'vs pymerkle' compares the same backend.)\n\n"
    )
    verify_rows = []
    for label, src in (
        ("ours (proofs from MemoryHashStore)", mem),
        ("ours (proofs from SqliteStore)", big),
        ("pymerkle (InmemoryTree proofs)", pm_mem),
    ):
        verify_rows.append(
            [
                label,
                fmt_rate(src["verify_inclusion_per_second"]),
                fmt_ratio(
                    ratio(src["verify_inclusion_per_second"], pm_mem["verify_inclusion_per_second"])
                ),
                fmt_rate(src["verify_consistency_per_second"]),
                fmt_ratio(
                    ratio(
                        src["verify_consistency_per_second"],
                        pm_mem["verify_consistency_per_second"],
                    )
                ),
            ]
        )
    text += table(
        f"Verifications/s at {n:,} ({sizes['verify']:,} proofs of each kind)",
        ["verifier", "inclusion", "vs pymerkle", "consistency", "vs pymerkle"],
        verify_rows,
    )
    growth = big["rss_after_serving_mib"] - small_p["rss_after_serving_mib"]
    text += "\n\n" + table(
        "Peak RSS of SqliteStore proof serving (ru_maxrss of a fresh interpreter)",
        ["log size", "after open", "after serving all proofs", "growth while serving"],
        [
            [
                f"{p['n']:,}",
                f"{p['rss_open_mib']:.1f} MiB",
                f"{p['rss_after_serving_mib']:.1f} MiB",
                f"{p['rss_after_serving_mib'] - p['rss_open_mib']:.1f} MiB",
            ]
            for p in (small_p, big)
        ],
    )
    roots = {
        "memory": mem["root"],
        "sqlite": big["root"],
        "pymerkle_memory": pm_mem["root"],
        "pymerkle_sqlite": pm_sq["root"],
    }
    agree = len(set(roots.values())) == 1
    appends_met = {
        "memory": mem["appends_per_second"] >= TARGET_APPENDS,
        "sqlite": sb["appends_per_second"] >= TARGET_APPENDS,
    }
    proofs_met = {
        "memory": min(mem["inclusion_per_second"], mem["consistency_per_second"]) >= TARGET_PROOFS,
        "sqlite": min(big["inclusion_per_second"], big["consistency_per_second"]) >= TARGET_PROOFS,
    }

    def verdict(met: dict[str, bool]) -> str:
        return ", ".join(f"{k} {'MET' if v else 'NOT MET'}" for k, v in met.items())

    text += (
        f"\nRSS growth from {small:,} to {n:,} entries while serving: {growth:+.1f} MiB."
        f"\nRoots at {n:,} agree across MemoryHashStore, SqliteStore and both pymerkle trees: "
        f"{'yes' if agree else 'NO'} ({mem['root'][:16]}...)."
        f"\nTargets: appends >= {TARGET_APPENDS:,}/s: {verdict(appends_met)}; "
        f"proofs >= {TARGET_PROOFS:,}/s at {n:,} (inclusion and consistency): "
        f"{verdict(proofs_met)}."
    )
    payload = {
        "benchmark": "merkle",
        "machine": info,
        "sizes": sizes,
        "entry_size": entry_size,
        "seed": seed,
        "pymerkle": pymerkle.__version__,
        "targets": {"appends_per_second": TARGET_APPENDS, "proofs_per_second": TARGET_PROOFS},
        "appends_target_met": appends_met,
        "proofs_target_met": proofs_met,
        "roots_agree": agree,
        "rss_growth_serving_mib": growth,
        "results": r,
    }
    return payload, text


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026, help="seed of the random indexes")
    parser.add_argument(
        "--entry-size",
        type=int,
        default=0,
        help="bytes per synthetic entry (default: the size of a real signed NOC entry)",
    )
    args = parser.parse_args()
    entry_size = args.entry_size or real_entry_size()
    if entry_size < 9:
        parser.error("--entry-size must be at least 9 (8-byte index + filler)")
    sizes = QUICK if args.quick else FULL
    results = run(sizes, entry_size, args.seed, args.tmpdir)
    payload, text = report(results, sizes, entry_size, args.seed)
    emit(args, payload, text)


if __name__ == "__main__":
    main()
