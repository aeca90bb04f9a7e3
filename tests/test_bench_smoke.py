"""The scale benchmark's scripts run end to end on a tiny log (a benchmark that cannot run
is a defect too): every phase of ``bench/bench_scale.py``, an audit stopped by its budget
and resumed by the next run, and ``bench/follow_audit.py`` on a log built in two steps.
Figures are not checked (speed is not tested); what each phase must find is."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def _run(script: str, *args: str | Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _bench_scale() -> Any:
    """bench/bench_scale.py as a module (bench/ is not a package)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("bench_scale")
    finally:
        sys.path.remove(str(BENCH))


def _results(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def test_scale_benchmark_phases_and_a_resumed_audit(tmp_path: Path) -> None:
    log = tmp_path / "log"
    common = ("--entries", "2100", "--dir", log, "--batch", "100", "--keys", "2")
    # Every phase; the audit stopped after its first chunk by a tiny budget.
    _run("bench_scale.py", *common, "--proofs", "50", "--audit-budget", "0.001", "--json")
    report = _results(log / "results.json")
    phases = report["phases"]
    assert phases["build"]["entries"] == 2100
    assert phases["export"]["entries"] == 2100
    for name in ("proofs-store", "proofs-tiles"):
        assert phases[name]["count"] == 50 and phases[name]["checked"] == 50
    first = phases["audit"]
    assert first["partial"] and 0 < first["audited"] < 2100
    # The next run resumes the audit where it stopped and finishes it; the phase adds up
    # both runs.
    _run("bench_scale.py", *common, "--phases", "audit")
    audit = _results(log / "results.json")["phases"]["audit"]
    assert not audit["partial"] and audit["audited"] == 2100
    assert [r["resumed_from"] for r in audit["runs"]] == [0, first["audited"]]
    assert sum(r["audited"] for r in audit["runs"]) == 2100


def test_follow_audit_keeps_up_with_a_growing_log(tmp_path: Path) -> None:
    log = tmp_path / "log"
    build = ("--dir", log, "--batch", "100", "--keys", "2", "--phases", "build")
    _run("bench_scale.py", "--entries", "1000", *build)
    # A first round audits 1,000 entries; the log then grows and a second follower run
    # exports only the new tiles and audits only the new entries.
    _run("follow_audit.py", "--entries", "1000", "--dir", log, "--pause", "0")
    _run("bench_scale.py", "--entries", "1500", *build, "--out", tmp_path / "b.json")
    _run("follow_audit.py", "--entries", "1500", "--dir", log, "--pause", "0")
    report = _results(log / "audit-results.json")
    assert [e["size"] for e in report["exports"]] == [1000, 1500]
    audit = report["phases"]["audit"]
    assert audit["audited"] == 1500 and not audit["partial"]
    assert [(r["resumed_from"], r["audited"]) for r in audit["runs"]] == [(0, 1000), (1000, 500)]


def test_segments_give_the_rate_between_samples() -> None:
    bench_scale = _bench_scale()
    samples = [[100.0, 1.0, 5.0], [150.0, 1.5, 5.0], [250.0, 2.0, 6.0], [260.0, 2.5, 7.0]]
    # Marks at the first sample past each multiple of 100 entries, and the last sample.
    assert bench_scale.segments(samples, 100) == [
        (0, 100, 100.0, 5.0),
        (100, 250, 150.0, 6.0),
        (250, 260, 20.0, 7.0),
    ]
    assert bench_scale.segments(samples, 100, start=50)[0] == (50, 100, 50.0, 5.0)
    assert bench_scale.segments([], 100) == []


def test_a_signal_stops_a_phase_instead_of_killing_it() -> None:
    bench_scale = _bench_scale()
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        flag = bench_scale._stop_on_signal()
        assert flag == [False]
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag == [True]  # the process is still here, and the phase will stop
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
