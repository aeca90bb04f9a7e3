"""Durable issuances per second, end to end, on the SQLite ledger — against a peer library
and the raw-crypto floor measured in the same run.

What one "issuance" is here: ``Ledger.issue`` / ``Ledger.issue_batch`` of an already-built
:class:`~noc_ledger.model.Certificate` (the certificate objects are built *before* the clock
starts; their build cost is printed for context but **excluded**). Timed: COSE_Sign1
signing (CBOR encode + Ed25519 sign + the signer's self-check), the log's checks
(``logstate.apply_entry``: decode, delegation lookup, signature verification, scope),
the append with its Merkle hashes, the status-map update, the signed checkpoint and the
durable commit (SQLite WAL, ``synchronous=FULL``: fsync per commit) of a ``SqliteStore``
in a temporary directory. Rows:

* ledger, one issuance per transaction (``issue``: one fsync per certificate);
* ledger, group commit (``issue_batch``) of 100 and of 1000 certificates per transaction;
* ledger, batch 1000 with the entries signed first (``sign_certificate``) and then
  ``submit``-ted: the same work as the row above, split into its two halves;
* ledger, batch 1000 from 2 writer processes on the same database (the machine has 2
  cores; SQLite serialises the writers, signing happens outside the write lock);
* peer baseline, pymerkle 7 ``SqliteTree`` appending the very same entry bytes (the same
  certificates signed the same way; Ed25519 is deterministic): one commit per entry with
  the ledger's pragmas (WAL, synchronous=FULL), one commit per entry with pymerkle's
  defaults (rollback journal), and one bulk commit (``append_entries``). pymerkle only
  hashes and stores: no signing, no checks, no state, no checkpoint;
* raw floor, PyNaCl alone: Ed25519 signing of the same certificate payloads, and signing
  plus one verification (the least "sign + check" can cost).

Every row prints its rate, its ratio to pymerkle and to the raw signing floor, and the peak
RSS of the fresh interpreter it ran in (``resource.getrusage(RUSAGE_SELF).ru_maxrss``;
each measurement runs in its own spawned process, so peaks are not inherited). Absolute
rates on a shared machine are noise; the ratios within one run are the result.

Target (the issue): >= 10,000 durable issuances/s with group commit on 2 cores.

Run (from the repository root, with the venv that has pymerkle)::

    /work/venv/bin/python bench/bench_issuance.py            # full sizes (~2-3 minutes)
    /work/venv/bin/python bench/bench_issuance.py --quick    # smoke test (seconds)
    /work/venv/bin/python bench/bench_issuance.py --json     # one JSON object on stdout
    /work/venv/bin/python bench/bench_issuance.py --profile  # cProfile of group commit

``--tmpdir DIR`` puts the databases on another disk (fsync cost is the disk's).
"""

from __future__ import annotations

import cProfile
import io
import multiprocessing
import pstats
import tempfile
from pathlib import Path
from typing import Any

import nacl.signing
from pymerkle import SqliteTree
from pymerkle import __version__ as pymerkle_version

from _common import (
    base_parser,
    emit,
    fmt_rate,
    fmt_ratio,
    get_result,
    machine,
    peak_rss_mib,
    perf_counter,
    progress,
    rate,
    ratio,
    run_isolated,
    table,
)
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.model import Certificate, sign_certificate
from tests.ledger_story import ISSUER, new_ledger, noc

TARGET_GROUP_COMMIT = 10_000

FULL = {"single": 3_000, "batch": 20_000, "writers_each": 10_000, "raw": 20_000}
QUICK = {"single": 50, "batch": 1_000, "writers_each": 1_000, "raw": 1_000}

# Certificate numbers per row (noc() formats them with 7 digits). A pymerkle row uses the
# numbers of the ledger row it is compared with, so that it appends the same entry bytes.
FIRST_SINGLE = 1
FIRST_BATCH_100 = 1_000_001
FIRST_BATCH_1000 = 2_000_001
FIRST_PRESIGNED = 3_000_001
FIRST_WRITERS = 4_000_001  # writer w uses FIRST_WRITERS + w * 1_000_000


def _certificates(first: int, count: int) -> tuple[list[Certificate], float]:
    """``count`` distinct NOCs and the seconds it took to build them (not counted)."""
    start = perf_counter()
    certs = [noc(number) for number in range(first, first + count)]
    return certs, perf_counter() - start


def _new_store(directory: str) -> tuple[SqliteStore, Any]:
    store = SqliteStore(Path(directory) / "ledger.db")
    return store, new_ledger(store)  # records the issuing key's delegation (entry 0)


# -- rows (each runs in its own spawned interpreter) ----------------------------------------


def row_ledger(count: int, batch: int, first: int, tmpdir: str | None) -> dict[str, Any]:
    """``issue`` (batch == 1) or ``issue_batch`` of ``count`` certificates."""
    certs, build = _certificates(first, count)
    with tempfile.TemporaryDirectory(dir=tmpdir) as d:
        store, ledger = _new_store(d)
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
        raise RuntimeError(f"ledger has {size} entries, expected {count + 1}")
    return {"count": count, "seconds": seconds, "build_seconds": build}


def row_presigned(count: int, batch: int, first: int, tmpdir: str | None) -> dict[str, Any]:
    """The batch row split in two: sign every entry, then ``submit`` them batch by batch."""
    certs, build = _certificates(first, count)
    with tempfile.TemporaryDirectory(dir=tmpdir) as d:
        store, ledger = _new_store(d)
        start = perf_counter()
        entries = [sign_certificate(cert, ISSUER) for cert in certs]
        signed = perf_counter()
        for lo in range(0, count, batch):
            ledger.submit(entries[lo : lo + batch])
        end = perf_counter()
        size = ledger.size()
        store.close()
    if size != count + 1:
        raise RuntimeError(f"ledger has {size} entries, expected {count + 1}")
    return {
        "count": count,
        "seconds": end - start,
        "sign_seconds": signed - start,
        "submit_seconds": end - signed,
        "build_seconds": build,
    }


def _writer(path: str, first: int, count: int, batch: int, barrier: Any, queue: Any) -> None:
    certs, _ = _certificates(first, count)
    store = SqliteStore(path, timeout=120.0)
    ledger = new_ledger(store)
    barrier.wait()
    for lo in range(0, count, batch):
        ledger.issue_batch(certs[lo : lo + batch], ISSUER)
    store.close()
    queue.put(peak_rss_mib())


def row_writers(
    writers: int, each: int, batch: int, first: int, tmpdir: str | None
) -> dict[str, Any]:
    """``writers`` processes doing group commits on one database; wall time from the
    moment all are ready until the last has committed its last batch."""
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(dir=tmpdir) as d:
        path = str(Path(d) / "ledger.db")
        _new_store(d)[0].close()  # the database with the delegation, before the writers
        barrier = ctx.Barrier(writers + 1)
        queue = ctx.Queue()
        procs = [
            ctx.Process(
                target=_writer,
                args=(path, first + w * 1_000_000, each, batch, barrier, queue),
            )
            for w in range(writers)
        ]
        for p in procs:
            p.start()
        barrier.wait(timeout=600)  # the writers build their certificates first
        start = perf_counter()
        peaks = [get_result(queue, procs) for _ in procs]
        seconds = perf_counter() - start
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"a writer exited with {p.exitcode}")
        store = SqliteStore(path)
        size = new_ledger(store).size()
        store.close()
    if size != writers * each + 1:
        raise RuntimeError(f"ledger has {size} entries, expected {writers * each + 1}")
    return {"count": writers * each, "seconds": seconds, "writer_peak_rss_mib": max(peaks)}


def row_pymerkle(count: int, first: int, mode: str, tmpdir: str | None) -> dict[str, Any]:
    """pymerkle SqliteTree appending the ledger row's entry bytes.

    mode: ``per-entry`` (WAL + synchronous=FULL, as the ledger), ``per-entry-default``
    (pymerkle's own connection settings), ``bulk`` (one ``append_entries`` transaction,
    WAL + synchronous=FULL).
    """
    certs, _ = _certificates(first, count)
    entries = [sign_certificate(cert, ISSUER) for cert in certs]
    with tempfile.TemporaryDirectory(dir=tmpdir) as d:
        tree = SqliteTree(str(Path(d) / "pymerkle.db"))
        if mode != "per-entry-default":
            tree.con.execute("PRAGMA journal_mode=WAL")
            tree.con.execute("PRAGMA synchronous=FULL")
        journal = tree.con.execute("PRAGMA journal_mode").fetchone()
        synchronous = tree.con.execute("PRAGMA synchronous").fetchone()
        start = perf_counter()
        if mode == "bulk":
            tree.append_entries(entries)
        else:
            for entry in entries:
                tree.append_entry(entry)
        seconds = perf_counter() - start
        size = tree.get_size()
        tree.close()
    if size != count:
        raise RuntimeError(f"pymerkle tree has {size} leaves, expected {count}")
    return {
        "count": count,
        "seconds": seconds,
        "journal_mode": journal,
        "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(synchronous),
    }


def row_raw(count: int, first: int) -> dict[str, Any]:
    """PyNaCl alone: Ed25519 sign the certificate payloads, then verify each signature."""
    certs, _ = _certificates(first, count)
    payloads = [cert.to_cbor() for cert in certs]
    key = nacl.signing.SigningKey(ISSUER.seed())
    verify_key = key.verify_key
    start = perf_counter()
    signed = [key.sign(p) for p in payloads]
    sign_seconds = perf_counter() - start
    start = perf_counter()
    for message in signed:
        verify_key.verify(message)
    verify_seconds = perf_counter() - start
    return {
        "count": count,
        "sign_seconds": sign_seconds,
        "verify_seconds": verify_seconds,
        "payload_bytes": sum(map(len, payloads)) // count,
    }


# -- the run ---------------------------------------------------------------------------------


def run(sizes: dict[str, int], tmpdir: str | None) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    n_single, n_batch, each, n_raw = (
        sizes["single"],
        sizes["batch"],
        sizes["writers_each"],
        sizes["raw"],
    )
    plan: list[tuple[str, Any, dict[str, Any]]] = [
        ("raw", row_raw, {"count": n_raw, "first": FIRST_BATCH_1000}),
        (
            "single",
            row_ledger,
            {"count": n_single, "batch": 1, "first": FIRST_SINGLE, "tmpdir": tmpdir},
        ),
        (
            "batch100",
            row_ledger,
            {"count": n_batch, "batch": 100, "first": FIRST_BATCH_100, "tmpdir": tmpdir},
        ),
        (
            "batch1000",
            row_ledger,
            {"count": n_batch, "batch": 1000, "first": FIRST_BATCH_1000, "tmpdir": tmpdir},
        ),
        (
            "presigned1000",
            row_presigned,
            {"count": n_batch, "batch": 1000, "first": FIRST_PRESIGNED, "tmpdir": tmpdir},
        ),
        (
            "pymerkle_per_entry",
            row_pymerkle,
            {"count": n_single, "first": FIRST_SINGLE, "mode": "per-entry", "tmpdir": tmpdir},
        ),
        (
            "pymerkle_per_entry_default",
            row_pymerkle,
            {
                "count": n_single,
                "first": FIRST_SINGLE,
                "mode": "per-entry-default",
                "tmpdir": tmpdir,
            },
        ),
        (
            "pymerkle_bulk",
            row_pymerkle,
            {"count": n_batch, "first": FIRST_BATCH_1000, "mode": "bulk", "tmpdir": tmpdir},
        ),
    ]
    for name, target, kwargs in plan:
        progress(f"{name}: {kwargs.get('count')} entries")
        rows[name] = run_isolated(target, **kwargs)
    progress(f"writers2: 2 x {each} entries")
    rows["writers2"] = run_isolated(
        row_writers, writers=2, each=each, batch=1000, first=FIRST_WRITERS, tmpdir=tmpdir
    )
    return rows


def report(rows: dict[str, dict[str, Any]], sizes: dict[str, int]) -> tuple[dict[str, Any], str]:
    raw = rows["raw"]
    raw_sign = rate(raw["count"], raw["sign_seconds"])
    raw_sign_verify = rate(raw["count"], raw["sign_seconds"] + raw["verify_seconds"])
    rates = {name: rate(r["count"], r["seconds"]) for name, r in rows.items() if "seconds" in r}
    peer_single = rates["pymerkle_per_entry"]
    peer_bulk = rates["pymerkle_bulk"]
    ps = rows["presigned1000"]

    def peer_for(name: str) -> float:
        return peer_single if name == "single" else peer_bulk

    labels = {
        "single": "ledger: issue, 1 per transaction (fsync each)",
        "batch100": "ledger: issue_batch, 100 per transaction",
        "batch1000": "ledger: issue_batch, 1000 per transaction",
        "presigned1000": "ledger: sign all, then submit 1000 per txn",
        "writers2": "ledger: issue_batch 1000, 2 writer processes",
        "pymerkle_per_entry": "pymerkle SqliteTree: 1 commit per entry (WAL, FULL)",
        "pymerkle_per_entry_default": "pymerkle SqliteTree: 1 commit per entry (its defaults)",
        "pymerkle_bulk": "pymerkle SqliteTree: 1 bulk commit",
    }
    out_rows: list[list[object]] = []
    results: dict[str, Any] = {}
    for name, label in labels.items():
        r = rows[name]
        value = rates[name]
        peer = peer_for(name)
        rss = r.get("writer_peak_rss_mib", r["peak_rss_mib"])
        is_ledger = name in ("single", "batch100", "batch1000", "presigned1000", "writers2")
        vs_peer = fmt_ratio(ratio(value, peer)) if is_ledger else "-"
        out_rows.append(
            [
                label,
                f"{r['count']:,}",
                f"{r['seconds']:.2f} s",
                fmt_rate(value),
                vs_peer,
                fmt_ratio(ratio(value, raw_sign)),
                f"{rss:.0f} MiB",
            ]
        )
        results[name] = {
            **r,
            "per_second": value,
            "vs_pymerkle": ratio(value, peer) if is_ledger else None,
            "vs_raw_sign": ratio(value, raw_sign),
        }
    for label, value, seconds in (
        ("raw floor: PyNaCl Ed25519 sign", raw_sign, raw["sign_seconds"]),
        (
            "raw floor: PyNaCl sign + 1 verify",
            raw_sign_verify,
            raw["sign_seconds"] + raw["verify_seconds"],
        ),
    ):
        out_rows.append(
            [
                label,
                f"{raw['count']:,}",
                f"{seconds:.2f} s",
                fmt_rate(value),
                "-",
                fmt_ratio(ratio(value, raw_sign)),
                f"{raw['peak_rss_mib']:.0f} MiB",
            ]
        )
    results["raw"] = {
        **raw,
        "sign_per_second": raw_sign,
        "sign_verify_per_second": raw_sign_verify,
    }
    best_group = max(rates["batch100"], rates["batch1000"], rates["writers2"])
    met = best_group >= TARGET_GROUP_COMMIT
    build_us = rows["batch1000"]["build_seconds"] / rows["batch1000"]["count"] * 1e6
    notes = [
        "",
        "ratio vs pymerkle: the 1-per-transaction row against pymerkle's 1 commit per entry "
        "(WAL, FULL);",
        "  every group-commit row against pymerkle's bulk commit. pymerkle only hashes and stores.",
        f"certificate build (excluded from every row): {build_us:,.0f} µs per certificate.",
        f"presigned split: signing {fmt_rate(rate(ps['count'], ps['sign_seconds']))}, "
        f"submit (checks + log + status map + checkpoint + commit) "
        f"{fmt_rate(rate(ps['count'], ps['submit_seconds']))}.",
        f"raw payload size: {raw['payload_bytes']} bytes; pymerkle per-entry (defaults) ran "
        f"with journal_mode={rows['pymerkle_per_entry_default']['journal_mode']}, "
        f"synchronous={rows['pymerkle_per_entry_default']['synchronous']}.",
        f"target >= {TARGET_GROUP_COMMIT:,} durable issuances/s with group commit: "
        f"{'MET' if met else 'NOT MET'} (best {fmt_rate(best_group)}; the raw sign + verify "
        f"floor alone is {fmt_rate(raw_sign_verify)} per core).",
        "peak RSS: ru_maxrss of the fresh interpreter that ran the row (the largest writer's "
        "for the 2-writer row).",
    ]
    info = machine()
    title = (
        f"Durable issuances/s, SqliteStore, {info['date']}, commit {info['commit']}, "
        f"{info['cores']} cores, {info['cpu']}, Python {info['python']}, SQLite {info['sqlite']}, "
        f"pymerkle {pymerkle_version}"
    )
    text = table(
        title,
        ["row", "n", "time", "rate", "vs pymerkle", "vs raw sign", "peak RSS"],
        out_rows,
    )
    text += "\n" + "\n".join(notes)
    payload = {
        "benchmark": "issuance",
        "machine": info,
        "sizes": sizes,
        "certificate_build": "excluded",
        "pymerkle": pymerkle_version,
        "target_per_second": TARGET_GROUP_COMMIT,
        "target_met": met,
        "best_group_commit_per_second": best_group,
        "rows": results,
    }
    return payload, text


# -- profile ---------------------------------------------------------------------------------

_SUMMARY = (
    ("Ledger.issue_batch (everything)", "ledger.py", "issue_batch", None),
    ("  sign_certificate (encode + COSE_Sign1 + sign)", "model.py", "sign_certificate", None),
    (
        "    verify_ed25519 inside sign1 (signer self-check)",
        "signing.py",
        "verify_ed25519",
        "sign1",
    ),
    ("  Ledger.submit", "ledger.py", "submit", None),
    ("    logstate.apply_entry (all checks)", "logstate.py", "apply_entry", None),
    ("      _delegation (key record + delegation event)", "logstate.py", "_delegation", None),
    ("      verify_sign1 (decode + Ed25519 verify)", "signing.py", "verify_sign1", None),
    ("      Certificate.from_cbor (decode + canonical check)", "model.py", "from_cbor", None),
    ("      check_within (scope)", "scope.py", "check_within", None),
    ("    statusmap.update", "statusmap.py", "update", "submit"),
    ("    _checkpoint_in (root + signed checkpoint)", "ledger.py", "_checkpoint_in", None),
    ("    SqliteStore append (hashes + INSERTs)", "sqlite.py", "append", None),
    ("codec.encode (all callers)", "codec.py", "encode", None),
    ("codec.decode (all callers)", "codec.py", "decode", None),
    ("libsodium crypto_sign (all)", "~", "<built-in method _sodium.crypto_sign>", None),
    ("libsodium crypto_sign_open (all)", "~", "<built-in method _sodium.crypto_sign_open>", None),
    ("sqlite3 execute (incl. COMMIT fsync)", "~", "<method 'execute' of 'sqlite3.Conne", None),
    ("sqlite3 executemany", "~", "<method 'executemany' of 'sqlite3.Co", None),
)


def _cumulative(stats: pstats.Stats, file: str, name: str, caller: str | None) -> float:
    total = 0.0
    table_ = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, func), (_cc, _nc, tt, ct, callers) in table_.items():
        if file == "~":
            if filename == "~" and func.startswith(name):
                total += tt
            continue
        if not filename.endswith(file) or func != name:
            continue
        if caller is None:
            total += ct
        else:
            total += sum(v[3] for k, v in callers.items() if k[2] == caller)
    return total


def profile(batch: int, batches: int, tmpdir: str | None) -> dict[str, Any]:
    """cProfile ``issue_batch`` of ``batches`` x ``batch`` certificates (after one
    unprofiled warm-up batch) and attribute the time to the stages of an issuance."""
    certs, _ = _certificates(9_000_001, batch * (batches + 1))
    with tempfile.TemporaryDirectory(dir=tmpdir) as d:
        store, ledger = _new_store(d)
        ledger.issue_batch(certs[:batch], ISSUER)
        profiler = cProfile.Profile()
        start = perf_counter()
        profiler.enable()
        for k in range(1, batches + 1):
            ledger.issue_batch(certs[k * batch : (k + 1) * batch], ISSUER)
        profiler.disable()
        wall = perf_counter() - start
        store.close()
    stats = pstats.Stats(profiler)
    total = _cumulative(stats, "ledger.py", "issue_batch", None)
    summary = [
        {"stage": label, "seconds": s, "share": s / total}
        for label, file, name, caller in _SUMMARY
        for s in [_cumulative(stats, file, name, caller)]
    ]
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(20)
    return {
        "certificates": batch * batches,
        "profiled_wall_seconds": wall,
        "summary": summary,
        "top_tottime": buffer.getvalue(),
    }


def profile_text(result: dict[str, Any]) -> str:
    rows = [
        [s["stage"], f"{s['seconds']:.3f} s", f"{100 * s['share']:.1f}%"] for s in result["summary"]
    ]
    head = (
        f"cProfile of issue_batch: {result['certificates']:,} certificates in batches of "
        f"1000 (profiled wall {result['profiled_wall_seconds']:.2f} s; cProfile inflates "
        "Python-heavy stages). Stages nest (indented) and overlap (encode/decode/crypto/SQL "
        "are totals across stages)."
    )
    return table(head, ["stage", "cumulative", "share"], rows) + "\n\n" + result["top_tottime"]


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the benchmark, cProfile group commits of 1000 and print the stages",
    )
    args = parser.parse_args()
    if args.profile:
        result = profile(1000, 2 if args.quick else 5, args.tmpdir)
        emit(
            args,
            {"benchmark": "issuance-profile", "machine": machine(), **result},
            profile_text(result),
        )
        return
    sizes = QUICK if args.quick else FULL
    rows = run(sizes, args.tmpdir)
    payload, text = report(rows, sizes)
    emit(args, payload, text)


if __name__ == "__main__":
    main()
