"""Certificate decoding: ``Certificate.from_cbor`` per second with its member memo (issuer,
subject, scope, conditions and legal notices decoded once, then recognised by their bytes;
spec/encoding.md §5 note) and with the memo kept empty (every member decoded and checked
again, as before the memo), against the bare strict decode of the same payloads
(``codec.decode``) and against cbor2's C decoder (no checks at all) as floors.

Payloads: ``--count`` NOC payloads of the scale log's shape (``tools.gen_vectors.
sample_noc`` with consecutive numbers: one authority, one scope, as a regulator's NOCs
share them), and the same number with a different subject each (``--subjects``), which the
memo cannot share. Median of ``--repeat`` passes, all rows in one process, interleaved.

Run (from the repository root)::

    python bench/bench_decode.py            # 5,000 payloads x 5 passes
    python bench/bench_decode.py --quick    # 500 x 3
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import statistics
import sys
from collections.abc import Callable
from typing import Any
from unittest import mock

from _common import base_parser, fmt_rate, fmt_ratio, perf_counter, rate, ratio, table
from noc_ledger import codec, model
from noc_ledger.model import Certificate, Subject
from tools.gen_vectors import sample_noc


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class _NoMemo(model._PartMemo):
    """A memo that never remembers: every member is decoded and checked each time."""

    def put(self, key: int, raw: bytes, value: object) -> None:
        return


def _payloads(count: int, *, subjects: bool) -> list[bytes]:
    base = sample_noc()
    out = []
    for n in range(count):
        cert = dataclasses.replace(base, number=f"VARA/NOC/2026/{n:09d}")
        if subjects:
            cert = dataclasses.replace(cert, subject=Subject(f"Exchange {n:06d} FZE"))
        out.append(cert.to_cbor())
    return out


def _time(fn: Callable[[bytes], Any], payloads: list[bytes]) -> float:
    start = perf_counter()
    for p in payloads:
        fn(p)
    return perf_counter() - start


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=None, help="payloads per row")
    parser.add_argument("--repeat", type=int, default=None, help="timed passes per row")
    args = parser.parse_args()
    count = args.count or (500 if args.quick else 5_000)
    repeat = args.repeat or (3 if args.quick else 5)
    cbor2 = _optional("cbor2")  # the test extra; without it the floor row is left out
    cases = {"shared scope": _payloads(count, subjects=False)}
    cases["a subject each"] = _payloads(count, subjects=True)
    rows = []
    results: dict[str, Any] = {}
    for name, payloads in cases.items():
        # Every payload is checked to decode to what was encoded before any timing.
        for p in payloads[:50]:
            assert Certificate.from_cbor(p).to_cbor() == p
        fns: dict[str, Callable[[bytes], Any]] = {
            "from_cbor, memo": Certificate.from_cbor,
            "from_cbor, no memo": Certificate.from_cbor,
            "codec.decode (strict, no model)": lambda p: codec.decode(p, max_size=65_535),
        }
        if cbor2 is not None:
            fns["cbor2.loads (C, no checks)"] = cbor2.loads
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(repeat):
            for label, fn in fns.items():
                memo = _NoMemo() if label == "from_cbor, no memo" else model._PartMemo()
                with mock.patch.object(model, "_PARTS", memo):
                    times[label].append(_time(fn, payloads))
        floor = rate(count, statistics.median(times["codec.decode (strict, no model)"]))
        for label, ts in times.items():
            per_s = rate(count, statistics.median(ts))
            results[f"{name}: {label}"] = per_s
            rows.append(
                [name, label, f"{count:,}", fmt_rate(per_s), fmt_ratio(ratio(per_s, floor))]
            )
    print(
        table(
            f"Certificate decoding, 1 process, median of {repeat} passes",
            ["payloads", "row", "n", "rate", "vs codec.decode"],
            rows,
        )
    )
    memo_gain = {
        name: ratio(results[f"{name}: from_cbor, memo"], results[f"{name}: from_cbor, no memo"])
        for name in cases
    }
    print("memo vs no memo: " + ", ".join(f"{k} {fmt_ratio(v)}" for k, v in memo_gain.items()))
    if args.json:
        json.dump({"count": count, "repeat": repeat, "rates": results}, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
