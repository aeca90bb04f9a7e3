"""A writer process for the durability and concurrency tests.

    python -m tests.ledger_worker DB FIRST COUNT [GO_FILE]

waits until GO_FILE exists (if given, so that several workers start together), then issues
COUNT NOCs numbered FIRST… one at a time on the SQLite ledger DB, printing
``ack <index> <certificate id hex>`` after each receipt — i.e. only once the write is
durable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from noc_ledger.ledger.sqlite import SqliteStore
from tests.ledger_story import ISSUER, new_ledger, noc


def main() -> None:
    path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = SqliteStore(path, timeout=60.0)
    ledger = new_ledger(store)
    pause = 0.0
    if len(sys.argv) > 4:
        go = Path(sys.argv[4])
        while not go.exists():
            time.sleep(0.01)
        # Started together with other writers: yield between issuances so the writers
        # interleave rather than one running to completion while the others wait.
        pause = 0.003
    for number in range(first, first + count):
        cert = noc(number)
        receipt = ledger.issue(cert, ISSUER)
        print(f"ack {receipt.index} {cert.id.hex()}", flush=True)
        if pause:
            time.sleep(pause)
    store.close()


if __name__ == "__main__":
    main()
