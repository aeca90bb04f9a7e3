"""Durability and concurrency of the SQLite ledger, with real processes (spec/events.md §5,
ledger/store.py rules 1-2): SIGKILL loses no acknowledged write; concurrent writers never
duplicate an index, fork the log or sign inconsistent checkpoints."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from noc_ledger.events import CertState
from noc_ledger.ledger.sqlite import SqliteStore
from tests.ledger_story import ISSUER, new_ledger, noc

ROOT = Path(__file__).resolve().parent.parent


def _worker(db: Path, first: int, count: int, go: Path | None = None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.ledger_worker",
            str(db),
            str(first),
            str(count),
            *([str(go)] if go else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_loses_no_acknowledged_issuance(tmp_path: Path) -> None:
    db = tmp_path / "kill.db"
    rng = random.Random(20261125)
    acknowledged: dict[str, int] = {}
    first = 1
    for _round in range(5):
        proc = _worker(db, first, 10_000)
        deadline = time.monotonic() + rng.uniform(0.3, 1.5)
        assert proc.stdout is not None
        # Read acknowledgements until the random moment, then kill without warning.
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            _, index, cert_id = line.split()
            acknowledged[cert_id] = int(index)
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        for line in rest.splitlines():  # acknowledgements already written before the kill
            _, index, cert_id = line.split()
            acknowledged[cert_id] = int(index)
        assert proc.returncode == -signal.SIGKILL
        first += 10_000
        # Reopen: every acknowledged certificate is there, at its index; the log audits clean.
        store = SqliteStore(db)
        ledger = new_ledger(store)
        for cert_hex, acked_index in acknowledged.items():
            status = ledger.status(bytes.fromhex(cert_hex))
            assert status is not None and status.issued_index == acked_index
        ledger.audit()
        store.close()
    assert len(acknowledged) > 20, "the writer never got going: the test proved nothing"
    # And the log continues.
    store = SqliteStore(db)
    ledger = new_ledger(store)
    receipt = ledger.issue(noc(first), ISSUER)
    assert receipt.index == ledger.size() - 1
    store.close()


def test_concurrent_writer_processes(tmp_path: Path) -> None:
    db = tmp_path / "concurrent.db"
    store = SqliteStore(db)
    new_ledger(store)  # the delegation, once
    store.close()
    go = tmp_path / "go"
    procs = [_worker(db, 1 + 1000 * k, 40, go) for k in range(3)]
    time.sleep(1.0)  # let every worker open the ledger, then start them together
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(out)
    indexes = [int(line.split()[1]) for out in outputs for line in out.splitlines()]
    assert len(indexes) == 120 and len(set(indexes)) == 120
    assert sorted(indexes) == list(range(1, 121))
    # The writers really did interleave (otherwise this test proves little).
    owner = {int(line.split()[1]): k for k, out in enumerate(outputs) for line in out.splitlines()}
    switches = sum(owner[i] != owner[i + 1] for i in range(1, 120))
    assert switches >= 5, f"writers hardly interleaved ({switches} switches)"
    store = SqliteStore(db)
    ledger = new_ledger(store)
    report = ledger.audit()  # every checkpoint's roots match the one history
    assert report.size == 121 and report.certificates == 120
    assert report.checkpoints >= 100
    for out in outputs:
        for line in out.splitlines():
            status = ledger.status(bytes.fromhex(line.split()[2]))
            assert status is not None and status.state is CertState.ACTIVE
    store.close()
