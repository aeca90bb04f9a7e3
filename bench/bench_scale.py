"""The scale benchmark: one log of N entries (1 M, 10 M) built once on ``SqliteStore`` in a
reusable directory, then each phase measured in its own spawned interpreter, so that every
phase's peak RSS is its own. The result is the ratio of each figure at 10 M to the same
figure at 1 M (``--baseline``: does throughput hold, does memory stay flat?) and of each
phase to its raw floor measured in the same run.

Phases (``--phases``, default all, in this order; each one is skipped, with the reason
recorded, when the module it measures is not in the tree):

* ``floors`` — raw PyNaCl Ed25519 sign/s and verify/s over real certificate payloads (the
  signed bytes of this log's entries): the crypto every issuance and every audited entry
  cannot avoid.
* ``build`` — entries/s appending the log through ``Ledger.issue_batch`` / ``Ledger.submit``
  (``--batch`` entries per durable transaction, default 1000): ~95 % NOC issuances by
  ``--keys`` issuing keys in turn (each batch is signed by one key), ~5 % status events
  (alternately suspend and revoke) on certificates of the previous batch. Timed: building
  the ``Certificate`` objects, signing, every check of ``logstate.apply_entry``, the
  append, the status map, the signed checkpoint per batch and the commit. The build
  resumes where it stopped (every batch is one transaction), so one directory serves the
  later phases and later runs.
* ``export`` — ``noc_ledger.ledger.tiles_export.export_tiles`` of the whole log at its
  latest checkpoint into ``DIR/tiles`` (deleted first): entries/s and bytes written.
* ``proofs-store`` — inclusion and consistency proofs/s from the store
  (``Ledger.prove_inclusion`` / ``Ledger.prove_consistency``, random indexes and sizes,
  fixed seed), each proof checked against the checkpoint's root after timing.
* ``proofs-tiles`` — the same proofs from the exported tiles through the client source
  (``noc_ledger.client.source.open_source`` + ``prove_inclusion`` / ``prove_consistency``),
  compared with the store's proofs.
* ``audit`` — entries/s of a full audit from the tiles directory by the client auditor
  (``noc_ledger.client.auditor.run_audit``: every entry's signature and rules, the tree and
  the status-map root), with the ledger's own trust policy and its state in
  ``DIR/audit-state``. ``--audit-budget SECONDS`` stops it early and reports the rate so far
  (marked partial); the next run resumes where it stopped, and the phase's figures are
  then those of all its runs together (entries over seconds, the largest peak RSS).

Results are written to ``--out`` (default ``DIR/results.json``) after every phase, so a run
that is cut short keeps its finished phases; a second run with the same ``--out`` adds to
it. A table is printed at the end. SIGTERM (or SIGINT) sent to a build or audit phase's
own process stops it at its next batch or chunk with its figures so far, marked
``stopped`` (build) or ``partial`` (audit); a process killed outright reports nothing.

Run (from the repository root)::

    python bench/bench_scale.py --quick                                   # 20,000 entries
    python bench/bench_scale.py --entries 1000000 --dir /tmp/scale-1m
    python bench/bench_scale.py --entries 10000000 --dir /tmp/scale-10m \\
        --baseline /tmp/scale-1m/results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import importlib.util
import itertools
import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import nacl.bindings

from _common import (
    base_parser,
    exit_with_parent,
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
    written_bytes,
)
from noc_ledger import merkle, signing
from noc_ledger.audit import decode_state
from noc_ledger.checkpoint import decode_checkpoint_note
from noc_ledger.events import ReasonCode, StatusEvent, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.model import Certificate, sign_certificate
from noc_ledger.policy import parse_policy
from tests.ledger_story import AUTHORITY, LOG, ORIGIN, ROOT, clock, delegation
from tools.gen_vectors import T0, sample_noc

QUICK_ENTRIES = 20_000
DEFAULT_ENTRIES = 1_000_000
PHASES = ("floors", "build", "export", "proofs-store", "proofs-tiles", "audit")
STATUS_EVERY = 20  # one status event per 20 entries: 5 %
SEED = 2026
SAMPLE_EVERY = 100_000  # build and audit record (entries, seconds, peak RSS) this often


# -- the log's contents ------------------------------------------------------------------


def _issuers(count: int) -> list[Any]:
    return [
        signing.Ed25519Signer(hashlib.sha256(f"scale: issuer {k}".encode()).digest())
        for k in range(count)
    ]


def _certificate(base: Any, number: int) -> Any:
    return dataclasses.replace(base, number=f"VARA/NOC/2026/{number:09d}")


def _plan(batch: int) -> tuple[int, int]:
    """(certificates, status events) per full batch."""
    events = batch // STATUS_EVERY
    return batch - events, events


def _open_ledger(directory: Path) -> tuple[Any, Any]:
    store = SqliteStore(directory / "ledger.db")
    return store, Ledger(store, origin=ORIGIN, authority=AUTHORITY, log_signer=LOG, clock=clock)


# -- phases (each runs in its own spawned interpreter) ------------------------------------


def phase_floors(directory: str, count: int) -> dict[str, Any]:
    """Raw PyNaCl sign/s and verify/s over this log's real certificate payloads."""
    key = _issuers(1)[0]
    base = sample_noc()
    sk = nacl.bindings.crypto_sign_seed_keypair(key.seed())[1]
    messages = [
        signing.decode_sign1(sign_certificate(_certificate(base, n), key)).to_be_signed()
        for n in range(count)
    ]
    start = perf_counter()
    signed = [nacl.bindings.crypto_sign(m, sk) for m in messages]
    sign_s = perf_counter() - start
    start = perf_counter()
    for s in signed:
        nacl.bindings.crypto_sign_open(s, key.public_key)
    verify_s = perf_counter() - start
    return {
        "count": count,
        "sign_per_s": rate(count, sign_s),
        "verify_per_s": rate(count, verify_s),
        "sign_verify_per_s": rate(count, sign_s + verify_s),
    }


def _batches(size: int, entries: int, batch: int, keys: int, first_number: int) -> Any:
    """Yield ``(signed entries, certificates)`` per transaction until the log would hold
    ``entries`` entries (the log's contents, see the module doc). Certificates are numbered
    consecutively from ``first_number``; a full batch of ``batch`` entries whose first
    number is F holds certificates F… and status events on the certificates F - n_certs + k ·
    step of the batch before it (each certificate gets at most one event)."""
    issuers = _issuers(keys)
    n_certs, n_events = _plan(batch)
    step = n_certs // n_events
    base = sample_noc()
    number = first_number
    while size < entries:
        room = min(batch, entries - size)
        full = room == batch and number >= n_certs
        count = n_certs if full else min(n_certs, room)
        certs = [_certificate(base, number + i) for i in range(count)]
        signer = issuers[(number // n_certs) % keys]
        signed = [sign_certificate(c, signer) for c in certs]
        extra: list[None] = []
        if full:
            for j in range(n_events):
                target = _certificate(base, number - n_certs + j * step).id
                kind = StatusEventKind.SUSPEND if j % 2 == 0 else StatusEventKind.REVOKE
                event = StatusEvent(kind, target, T0 + 1, T0 + 1, ReasonCode.BREACH_OF_CONDITIONS)
                signed.append(event.sign(signer))
                extra.append(None)
        yield signed, [*certs, *extra]
        size += len(signed)
        number += count


def _next_number(ledger: Any, size: int, keys: int) -> int:
    """The number after the last certificate logged (the build resumes there)."""
    if size <= keys:
        return 0
    for entry in reversed(ledger.entries(max(keys, size - 2_000), size)):
        envelope = signing.decode_sign1(entry)
        if envelope.content_type == signing.CONTENT_TYPES["certificate"]:
            number = Certificate.from_cbor(envelope.payload).number
            return int(number.rsplit("/", 1)[1]) + 1
    raise RuntimeError("no certificate among the last 2,000 entries: not a log of this plan")


def _signer_process(
    size: int, entries: int, batch: int, keys: int, first_number: int, queue: Any
) -> None:
    """The signing half of the pipeline: build and sign batches, hand them over."""
    exit_with_parent()
    seconds = 0.0
    start = perf_counter()
    for item in _batches(size, entries, batch, keys, first_number):
        seconds += perf_counter() - start
        queue.put(item)
        start = perf_counter()
    queue.put(("done", seconds, peak_rss_mib()))


def phase_build(
    directory: str, entries: int, batch: int, keys: int, signers: int
) -> dict[str, Any]:
    """Build (or finish building) the log to ``entries`` entries; see the module doc.

    ``signers=1``: certificates are built and signed in a second process while this one
    appends (the signing needs no lock; ``Ledger.submit`` gets each batch's entries with
    their ``Certificate`` objects, as ``issue_batch`` would hand them over).
    ``signers=0``: everything in this process.
    """
    store, ledger = _open_ledger(Path(directory))
    try:
        size = ledger.size()
        if size == 0:
            # A new log: an audit state left by an earlier log in this directory would
            # (rightly) report a fork against it.
            shutil.rmtree(Path(directory) / "audit-state", ignore_errors=True)
            ledger.submit([delegation(k).sign(ROOT) for k in _issuers(keys)])
            size = keys
        if size >= entries:
            return {"entries": size, "resumed_from": size, "built": 0, "seconds": 0.0}
        first_number = _next_number(ledger, size, keys)
        resumed_from = size
        start = perf_counter()
        submit_s = 0.0
        signer_info: tuple[Any, ...] = ()
        last_report = start
        samples: list[list[float]] = []  # [size, seconds since start, peak RSS MiB]
        worker = None
        if signers:
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue(maxsize=8)
            worker = ctx.Process(
                target=_signer_process,
                args=(size, entries, batch, keys, first_number, queue),
                daemon=True,
            )
            worker.start()

            def source() -> Any:
                nonlocal signer_info
                while True:
                    item = get_result(queue, [worker])
                    if item[0] == "done":
                        signer_info = item
                        return
                    yield item

            batches = source()
        else:
            batches = _batches(size, entries, batch, keys, first_number)
        stop = _stop_on_signal()
        try:
            for signed, certs in batches:
                if stop[0]:
                    break
                t0 = perf_counter()
                receipts = ledger.submit(signed, certificates=certs)
                submit_s += perf_counter() - t0
                if receipts[-1].size != size + len(signed):
                    raise RuntimeError(f"batch at {size} was not appended whole")
                size = receipts[-1].size
                now = perf_counter()
                if size // SAMPLE_EVERY != (size - len(signed)) // SAMPLE_EVERY:
                    samples.append([size, round(now - start, 1), round(peak_rss_mib(), 1)])
                if now - last_report > 60:
                    last_report = now
                    progress(
                        f"build: {size:,} / {entries:,} entries, "
                        f"{fmt_rate(rate(size - resumed_from, now - start))}, "
                        f"peak RSS {peak_rss_mib():.0f} MiB"
                    )
            # Timed up to the last batch: not the wait for a stopped signer below.
            seconds = perf_counter() - start
        finally:
            if worker is not None:
                worker.join(timeout=10)
                if worker.is_alive():
                    worker.terminate()
                    worker.join()
        checkpoint = ledger.checkpoint()
    finally:
        store.close()
    built = size - resumed_from
    result = {
        "entries": size,
        "resumed_from": resumed_from,
        "built": built,
        "seconds": seconds,
        "entries_per_s": rate(built, seconds),
        "submit_seconds": submit_s,
        "submit_entries_per_s": rate(built, submit_s),
        "signer_processes": signers,
        "stopped": stop[0],
        "samples": samples,
        "db_bytes": _du(Path(directory), ("ledger.db", "ledger.db-wal")),
        "checkpoint": checkpoint.decode(),
    }
    if signer_info:
        result["signer_seconds"] = signer_info[1]
        result["signer_peak_rss_mib"] = round(signer_info[2], 1)
    return result


def phase_export(directory: str) -> dict[str, Any]:
    export_tiles = importlib.import_module("noc_ledger.ledger.tiles_export").export_tiles
    store, ledger = _open_ledger(Path(directory))
    out = Path(directory) / "tiles"
    try:
        if out.exists():
            shutil.rmtree(out)
        checkpoint = ledger.checkpoint()
        size = ledger.size()
        start = perf_counter()
        export_tiles(ledger, out, checkpoint=checkpoint)
        seconds = perf_counter() - start
    finally:
        store.close()
    files = sum(len(f) for _, _, f in os.walk(out))
    return {
        "entries": size,
        "seconds": seconds,
        "entries_per_s": rate(size, seconds),
        "bytes": _du(out),
        "files": files,
    }


def _proof_inputs(size: int, count: int) -> tuple[list[int], list[int]]:
    """Random leaf indexes for inclusion, and random old sizes for consistency to
    ``size`` (what a client holding an older checkpoint asks for)."""
    rng = random.Random(SEED)
    return [rng.randrange(size) for _ in range(count)], [
        rng.randrange(1, size) for _ in range(count)
    ]


def phase_proofs(directory: str, count: int, source_kind: str) -> dict[str, Any]:
    """Inclusion proofs/s (random leaves) and consistency proofs/s (random old size to the
    checkpoint's size) from the store or from the exported tiles."""
    store, ledger = _open_ledger(Path(directory))
    try:
        cp = decode_checkpoint_note(ledger.checkpoint())
        size = cp.size
        indexes, sizes = _proof_inputs(size, count)
        if source_kind == "store":
            prove_inclusion = ledger.prove_inclusion
            prove_consistency = ledger.prove_consistency
        else:
            client_source = importlib.import_module("noc_ledger.client.source")
            src = client_source.open_source(str(Path(directory) / "tiles"))

            def prove_inclusion(index: int, size: int) -> list[bytes]:
                return client_source.prove_inclusion(src, index, size)

            def prove_consistency(size1: int, size2: int) -> list[bytes]:
                return client_source.prove_consistency(src, size1, size2)

        rss_before = peak_rss_mib()
        start = perf_counter()
        inclusion = [prove_inclusion(i, size) for i in indexes]
        inclusion_s = perf_counter() - start
        start = perf_counter()
        consistency = [prove_consistency(s1, size) for s1 in sizes]
        consistency_s = perf_counter() - start
        # Untimed: every proof must verify against the checkpoint (and, for the tiles,
        # equal the store's); a wrong proof served fast is no result.
        checked = min(count, 2_000)
        with ledger._store.snapshot() as r:
            for i, proof in zip(indexes[:checked], inclusion, strict=False):
                leaf = merkle.leaf_hash(r.read_entries(i, i + 1)[0])
                merkle.verify_inclusion(
                    index=i, size=size, leaf_hash=leaf, proof=proof, root=cp.root
                )
            for s1, proof in zip(sizes[:checked], consistency, strict=False):
                merkle.verify_consistency(
                    size1=s1,
                    size2=size,
                    proof=proof,
                    root1=merkle.root_from_reader(s1, r),
                    root2=cp.root,
                )
        if source_kind == "tiles":
            for i, proof in zip(indexes[:checked], inclusion, strict=False):
                if proof != ledger.prove_inclusion(i, size):
                    raise RuntimeError(f"tiles and store disagree on the proof of {i}")
    finally:
        store.close()
    return {
        "entries": size,
        "count": count,
        "inclusion_per_s": rate(count, inclusion_s),
        "consistency_per_s": rate(count, consistency_s),
        "checked": checked,
        "rss_before_mib": round(rss_before, 1),
    }


class _BudgetError(Exception):
    pass


def _stop_on_signal() -> list[bool]:
    """A flag that SIGTERM or SIGINT sets instead of killing the phase, so that a build
    or audit stopped by hand ends at its next batch or chunk and still reports its
    figures (marked ``stopped``). Call in the phase's own interpreter."""
    flag = [False]

    def handler(signum: int, frame: Any) -> None:
        flag[0] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return flag


def _audit_position(db: Path) -> int:
    """Entries the audit state database ``db`` has replayed (0 if there is none), read
    without opening it as a store (which could change it)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT state FROM header WHERE k = 0").fetchone()
    finally:
        conn.close()
    return 0 if row is None else decode_state(bytes(row[0])).position


def phase_audit(directory: str, budget: float | None) -> dict[str, Any]:
    """Audit the exported tiles with the state kept in ``DIR/audit-state``, so that a run
    stopped by ``--audit-budget`` (or cut short) is resumed by the next run where it
    stopped; the driver adds this run's figures to the earlier runs' (see ``_run``)."""
    client_source = importlib.import_module("noc_ledger.client.source")
    auditor = importlib.import_module("noc_ledger.client.auditor")
    store, ledger = _open_ledger(Path(directory))
    try:
        policy = parse_policy(ledger.trust_policy(max_status_age=10 * 365 * 86_400))
    finally:
        store.close()
    src = client_source.open_source(str(Path(directory) / "tiles"))
    # The audit goes to the exported checkpoint, which may be behind a log still growing.
    size = decode_checkpoint_note(src.read_checkpoint()).size
    state_dir = Path(directory) / "audit-state"
    # Where this run starts: the stored state's position (a run that first completes an
    # interrupted target reports progress against that target's size, not this one's).
    first = _audit_position(state_dir / auditor.STATE_DB)
    done = [0]
    start = perf_counter()
    last = [start]

    samples: list[list[float]] = []  # [entries audited in all runs, seconds, peak RSS MiB]

    stop = _stop_on_signal()

    def on_progress(count: int, total: int) -> None:
        now = perf_counter()
        if (first + count) // SAMPLE_EVERY != (first + done[0]) // SAMPLE_EVERY:
            samples.append([first + count, round(now - start, 1), round(peak_rss_mib(), 1)])
        done[0] = count
        if now - last[0] > 30:
            last[0] = now
            progress(
                f"audit: {first + count:,} / {size:,} ({count:,} in this run), "
                f"{fmt_rate(rate(count, now - start))}, peak RSS {peak_rss_mib():.0f} MiB"
            )
        if (stop[0] or (budget is not None and now - start > budget)) and first + count < size:
            raise _BudgetError

    finished = True
    written_before = written_bytes()
    try:
        result = auditor.run_audit(src, policy, state_dir=state_dir, progress=on_progress)
        audited = result.entries
    except _BudgetError:
        finished = False
        audited = done[0]
    seconds = perf_counter() - start
    written_after = written_bytes()
    # Storage writes per entry: the state database's write amplification, a figure the
    # machine's load does not change (unlike the rate).
    written = None
    if written_before is not None and written_after is not None:
        written = written_after - written_before
    return {
        "entries": size,
        "resumed_from": first,
        "audited": audited,
        "finished": finished,
        "seconds": seconds,
        "entries_per_s": rate(audited, seconds),
        "written_bytes": written,
        "written_bytes_per_entry": None if written is None or not audited else written / audited,
        "state_bytes": _du(state_dir),
        "samples": samples,
    }


# -- driver ------------------------------------------------------------------------------


def _du(path: Path, names: tuple[str, ...] | None = None) -> int:
    if names is not None:
        return sum((path / n).stat().st_size for n in names if (path / n).exists())
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_size
    return total


def _missing(module: str) -> str | None:
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        found = None
    return None if found is not None else f"{module} is not in this tree yet"


def _save(path: Path, report: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _run(report: dict[str, Any], out: Path, name: str, target: Any, **kwargs: Any) -> None:
    progress(f"phase {name} …")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # The tree the phase runs (its child imports the code now): HEAD may move meanwhile.
    commit = machine()["commit"]
    try:
        result = run_isolated(target, **kwargs)
    except RuntimeError as exc:
        result = {"error": str(exc).splitlines()[-1]}
        progress(f"phase {name} failed: {result['error']}")
    earlier = report["phases"].get(name, {})
    if result.get("built") == 0 and "entries_per_s" in earlier:
        progress(f"phase {name}: the log was already built; keeping the earlier figures")
        return
    result["started"] = started
    result["commit"] = commit  # phases of one report may come from several runs
    if name == "audit" and "error" not in result:
        result = _merge_audit_runs(earlier, result)
    report["phases"][name] = result
    _save(out, report)
    shown = {k: v for k, v in result.items() if k not in ("checkpoint", "samples")}
    progress(f"phase {name} done: {json.dumps(shown)}")


def _written_per_entry(runs: list[dict[str, Any]]) -> float | None:
    """Storage writes per entry over all runs, or ``None`` if a run did not measure them
    (runs of older code, or not on Linux)."""
    written = [r.get("written_bytes") for r in runs]
    audited = sum(r["audited"] for r in runs)
    if not audited or any(w is None for w in written):
        return None
    return sum(w for w in written if w is not None) / audited


def _merge_audit_runs(earlier: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The audit phase over all its runs: each run resumes the state the one before left,
    so the phase's rate is all entries replayed over all runs' seconds, and its peak RSS
    the largest of any run. A run that starts from 0 (a new state) starts a new list."""
    runs = list(earlier.get("runs", [])) if run["resumed_from"] > 0 else []
    runs.append({k: v for k, v in run.items() if k != "samples"})
    audited = sum(r["audited"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    return {
        "entries": run["entries"],
        "audited": run["resumed_from"] + run["audited"],
        "partial": not run["finished"],
        "seconds": seconds,
        "entries_per_s": rate(audited, seconds),
        "peak_rss_mib": max(r.get("peak_rss_mib", 0.0) for r in runs),
        "written_bytes_per_entry": _written_per_entry(runs),
        "state_bytes": run.get("state_bytes"),
        "runs": runs,
        # Each run's samples count seconds from its own start: shift them after the runs
        # before it, so the list reads as one audit.
        "samples": [
            *(earlier.get("samples", []) if len(runs) > 1 else []),
            *([n, round(t + seconds - run["seconds"], 1), m] for n, t, m in run["samples"]),
        ],
        "started": runs[0]["started"],
        "commit": run["commit"],
    }


def _rows(report: dict[str, Any], baseline: dict[str, Any] | None) -> list[list[str]]:
    phases = report["phases"]
    floors = phases.get("floors", {})
    base = (baseline or {}).get("phases", {})

    def vs_base(name: str, key: str, value: float | None) -> str:
        other = base.get(name, {}).get(key)
        return fmt_ratio(ratio(value, other)) if value and other else "-"

    def rss(name: str) -> str:
        value = phases.get(name, {}).get("peak_rss_mib")
        return f"{value:,.0f} MiB" if value else "-"

    rows = []

    def add(name: str, label: str, key: str, floor_key: str | None) -> None:
        ph = phases.get(name)
        if not ph or key not in ph:
            reason = (ph or {}).get("skipped") or (ph or {}).get("error") or "not run"
            rows.append([label, "-", "-", "-", "-", "-", "-", reason[:60]])
            return
        value = ph[key]
        floor = floors.get(floor_key) if floor_key else None
        rows.append(
            [
                label,
                f"{ph.get('audited', ph.get('entries', ph.get('count', 0))):,}",
                fmt_rate(value),
                fmt_ratio(ratio(value, floor)) if floor else "-",
                rss(name),
                vs_base(name, key, value),
                vs_base(name, "peak_rss_mib", ph.get("peak_rss_mib")),
                "partial" if ph.get("partial") else "",
            ]
        )

    add("floors", "floor: PyNaCl sign", "sign_per_s", None)
    add("floors", "floor: PyNaCl verify", "verify_per_s", None)
    add("build", "build (entries/s)", "entries_per_s", "sign_per_s")
    add("export", "tiles export (entries/s)", "entries_per_s", None)
    add("proofs-store", "inclusion proofs, store", "inclusion_per_s", None)
    add("proofs-store", "consistency proofs, store", "consistency_per_s", None)
    add("proofs-tiles", "inclusion proofs, tiles", "inclusion_per_s", None)
    add("proofs-tiles", "consistency proofs, tiles", "consistency_per_s", None)
    add("audit", "audit from tiles (entries/s)", "entries_per_s", "verify_per_s")
    return rows


def segments(
    samples: list[list[float]], step: int, start: int = 0
) -> list[tuple[int, int, float, float]]:
    """Rates between the samples nearest each multiple of ``step`` entries, from ``start``
    entries at second 0: ``(from, to, entries/s, peak RSS MiB at the end)``. Does
    throughput hold as the log grows? One run's own samples answer without another run's
    load."""
    marks: list[list[float]] = [[start, 0.0, 0.0]]
    for sample in samples:
        if not marks or int(sample[0]) // step > int(marks[-1][0]) // step:
            marks.append(sample)
    if samples and marks[-1] is not samples[-1]:
        marks.append(samples[-1])
    out = []
    for a, b in itertools.pairwise(marks):
        if b[1] > a[1]:
            out.append((int(a[0]), int(b[0]), (b[0] - a[0]) / (b[1] - a[1]), b[2]))
    return out


def _segment_rows(report: dict[str, Any]) -> list[list[str]]:
    step = max(100_000, int(report.get("entries", 0)) // 10)
    rows = []
    for name in ("build", "audit"):
        ph = report["phases"].get(name, {})
        runs = ph.get("runs") or [ph]
        start = int(runs[0].get("resumed_from", 0))
        for lo, hi, per_s, rss in segments(ph.get("samples", []), step, start):
            rows.append([name, f"{lo:,} → {hi:,}", fmt_rate(per_s), f"{rss:,.0f} MiB"])
    return rows


def main() -> None:
    parser: argparse.ArgumentParser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=None, help="log size (default 1,000,000)")
    parser.add_argument("--dir", default=None, help="the log's directory, reused between runs")
    parser.add_argument("--out", default=None, help="results JSON (default DIR/results.json)")
    parser.add_argument("--baseline", default=None, help="results JSON of a smaller run")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset")
    parser.add_argument("--batch", type=int, default=1000, help="entries per transaction")
    parser.add_argument("--keys", type=int, default=16, help="issuing keys")
    parser.add_argument(
        "--signers",
        type=int,
        choices=(0, 1),
        default=1,
        help="1: sign in a second process while the ledger appends (default); 0: one process",
    )
    parser.add_argument("--proofs", type=int, default=None, help="proofs of each kind")
    parser.add_argument("--audit-budget", type=float, default=None, help="seconds, then stop")
    args = parser.parse_args()

    entries = args.entries or (QUICK_ENTRIES if args.quick else DEFAULT_ENTRIES)
    proofs = args.proofs or (2_000 if args.quick else 20_000)
    directory = Path(args.dir or f"/tmp/noc-scale-{entries}")
    directory.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else directory / "results.json"
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {sorted(unknown)}")
    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None

    report: dict[str, Any] = {"phases": {}}
    if out.exists():
        report = json.loads(out.read_text())
        if report.get("entries") != entries:
            parser.error(f"{out} holds a run of {report.get('entries')} entries")
    report.update(
        entries=entries,
        dir=str(directory),
        batch=args.batch,
        keys=args.keys,
        machine=machine(),
        command=" ".join(sys.argv),
    )
    _save(out, report)

    for name in phases:
        needs = {
            "export": "noc_ledger.ledger.tiles_export",
            "proofs-tiles": "noc_ledger.client.source",
            "audit": "noc_ledger.client.auditor",
        }.get(name)
        if needs and (why := _missing(needs)):
            report["phases"][name] = {"skipped": why}
            _save(out, report)
            continue
        if name in ("proofs-tiles", "audit") and not (directory / "tiles").exists():
            report["phases"][name] = {"skipped": "no exported tiles (run the export phase)"}
            _save(out, report)
            continue
        if name == "floors":
            _run(report, out, name, phase_floors, directory=str(directory), count=20_000)
        elif name == "build":
            _run(
                report,
                out,
                name,
                phase_build,
                directory=str(directory),
                entries=entries,
                batch=args.batch,
                keys=args.keys,
                signers=args.signers,
            )
        elif name == "export":
            _run(report, out, name, phase_export, directory=str(directory))
        elif name in ("proofs-store", "proofs-tiles"):
            kind = name.split("-")[1]
            _run(
                report,
                out,
                name,
                phase_proofs,
                directory=str(directory),
                count=proofs,
                source_kind=kind,
            )
        elif name == "audit":
            _run(report, out, name, phase_audit, directory=str(directory), budget=args.audit_budget)

    headers = [
        "phase",
        "entries",
        "rate",
        "vs floor",
        "peak RSS",
        "vs baseline rate",
        "vs baseline RSS",
        "note",
    ]
    title = f"Scale benchmark, {entries:,} entries ({directory})"
    if baseline:
        title += f" vs {baseline.get('entries', 0):,}"
    text = table(title, headers, _rows(report, baseline))
    if seg := _segment_rows(report):
        text += "\n" + table(
            "Rate by segment of the log (from each phase's samples)",
            ["phase", "entries", "rate", "peak RSS"],
            seg,
        )
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(report, indent=2))
    else:
        print(text)


if __name__ == "__main__":
    main()
