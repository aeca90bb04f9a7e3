"""Audit a scale log while it is being built, as an auditor following a live log would.

Each round exports the tiles of the log's latest checkpoint into ``DIR/tiles``
(incrementally: only what the published tree lacks, spec/tiles.md §8) and runs
``bench_scale.py``'s audit phase, which resumes its state in ``DIR/audit-state`` and
replays only the new entries. Rounds repeat until the log holds ``--entries`` entries and
all of them are audited. The audit phase's figures (``--out``, default
``DIR/audit-results.json``; a separate file because the build writes ``results.json``
when it ends) add up all rounds, as for ``--audit-budget`` runs; the export rounds are
recorded beside them but are not the tiles export figure (that is the export phase's
full export).

Run (from the repository root, while ``bench_scale.py --phases build`` runs)::

    python bench/follow_audit.py --entries 10000000 --dir /tmp/scale-10m
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from _common import machine, perf_counter, progress, run_isolated
from bench_scale import _merge_audit_runs, _open_ledger, _save, phase_audit
from noc_ledger.checkpoint import decode_checkpoint_note
from noc_ledger.ledger.tiles_export import export_tiles


def export_round(directory: str) -> dict[str, Any]:
    """Export the tiles of the log's latest checkpoint, incrementally."""
    store, ledger = _open_ledger(Path(directory))
    try:
        checkpoint = ledger.checkpoint()
        start = perf_counter()
        report = export_tiles(ledger, Path(directory) / "tiles", checkpoint=checkpoint)
        seconds = perf_counter() - start
    finally:
        store.close()
    return {
        "size": decode_checkpoint_note(checkpoint).size,
        "seconds": seconds,
        "report": repr(report),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, required=True, help="the log's final size")
    parser.add_argument("--dir", required=True, help="the log's directory (bench_scale.py)")
    parser.add_argument("--out", default=None, help="default DIR/audit-results.json")
    parser.add_argument("--pause", type=float, default=30.0, help="seconds between rounds")
    args = parser.parse_args()
    directory = Path(args.dir)
    out = Path(args.out) if args.out else directory / "audit-results.json"
    report: dict[str, Any] = {"phases": {}, "exports": []}
    if out.exists():
        report = json.loads(out.read_text())
    report.update(entries=args.entries, dir=str(directory), command=" ".join(sys.argv))
    while True:
        exported = run_isolated(export_round, directory=str(directory))
        report.setdefault("exports", []).append(exported)
        progress(f"exported to {exported['size']:,} in {exported['seconds']:.1f} s")
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        commit = machine()["commit"]  # before the round: HEAD may move while it runs
        result = run_isolated(phase_audit, directory=str(directory), budget=None)
        result["started"] = started
        result["commit"] = commit
        earlier = report["phases"].get("audit", {})
        report["phases"]["audit"] = _merge_audit_runs(earlier, result)
        _save(out, report)
        audit = report["phases"]["audit"]
        progress(
            f"audited {audit['audited']:,} of {exported['size']:,}: "
            f"{audit['entries_per_s']:,.0f}/s over {len(audit['runs'])} rounds"
        )
        if exported["size"] >= args.entries and audit["audited"] >= args.entries:
            return
        time.sleep(args.pause)


if __name__ == "__main__":
    main()
