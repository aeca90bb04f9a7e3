"""A writer process for the PostgreSQL concurrency and crash tests.

    python -m tests.ledger_worker_pg DSN LOCK_MODE FIRST COUNT BATCH [GO_FILE]

opens the ledger on PostgresStore(DSN, lock_mode=LOCK_MODE), waits until GO_FILE exists (if
given, so that several workers start together), then issues COUNT NOCs numbered FIRST… in
batches of BATCH (``issue`` when BATCH is 1, ``issue_batch`` otherwise: one transaction
per batch), printing ``ack <index> <certificate id hex>`` for each certificate only once
its batch's commit has returned, i.e. once it is durable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import cast

from noc_ledger.ledger.postgres import LockMode, PostgresStore
from tests.ledger_story import ISSUER, new_ledger, noc


def main() -> None:
    dsn, lock_mode = sys.argv[1], cast(LockMode, sys.argv[2])
    first, count, batch = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    store = PostgresStore(dsn, lock_mode=lock_mode, timeout=60.0)
    ledger = new_ledger(store)
    pause = 0.0
    if len(sys.argv) > 6:
        go = Path(sys.argv[6])
        while not go.exists():
            time.sleep(0.01)
        # Started together with other writers: yield between transactions so the writers
        # interleave rather than one running to completion while the others wait.
        pause = 0.003
    for start in range(first, first + count, batch):
        certs = [noc(number) for number in range(start, min(start + batch, first + count))]
        if batch == 1:
            receipts = [ledger.issue(certs[0], ISSUER)]
        else:
            receipts = ledger.issue_batch(certs, ISSUER)
        print(
            "\n".join(f"ack {r.index} {c.id.hex()}" for r, c in zip(receipts, certs, strict=True)),
            flush=True,
        )
        if pause:
            time.sleep(pause)
    store.close()


if __name__ == "__main__":
    main()
