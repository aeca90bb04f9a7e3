"""Shared helpers for the bench scripts (not a benchmark itself).

Importing this module puts the working tree's ``src/`` and the repository root on
``sys.path``, so the scripts measure the code in this tree (and can use the test authority
in ``tests/ledger_story.py``) without the package being installed. It also gives:

* :func:`run_isolated`: run one measurement in a fresh *spawned* interpreter, so that its
  peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own and not the peak of
  everything measured before it in the same run;
* :func:`rate`, :func:`table`, :func:`emit`: the human-readable table and the ``--json``
  object every script prints;
* :func:`machine`: what the figures were measured on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import queue as queue_module
import resource
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _path in (str(REPO), str(REPO / "src")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

perf_counter = time.perf_counter

#: One megabyte for RSS figures (ru_maxrss is in KiB on Linux).
MIB = 1024 * 1024


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (ru_maxrss; KiB on Linux,
    bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def written_bytes() -> int | None:
    """Bytes this process caused to be written to storage so far (``write_bytes`` of
    /proc/self/io: counted when a page is dirtied, so it includes what the page cache writes
    back later), or ``None`` where the system does not say (not Linux)."""
    try:
        text = Path("/proc/self/io").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return None


def exit_with_parent() -> None:
    """A measured child must not outlive the script that started it (a killed benchmark
    would leave it running, loading the machine of the next measurement): exit when the
    parent is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def _child(target: Callable[..., dict[str, Any]], kwargs: dict[str, Any], queue: Any) -> None:
    exit_with_parent()
    try:
        result = target(**kwargs)
        result["peak_rss_mib"] = round(peak_rss_mib(), 1)
        queue.put(("ok", result))
    except BaseException:
        queue.put(("error", traceback.format_exc()))


def run_isolated(target: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """Run ``target(**kwargs)`` in a fresh spawned interpreter and return its result dict,
    with ``peak_rss_mib`` (that interpreter's ru_maxrss) added.

    ``target`` must be a module-level function of the calling script; its result must be
    picklable. A failure in the child is raised here as RuntimeError with its traceback.
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(target, kwargs, queue))
    process.start()
    try:
        status, value = get_result(queue, [process])
    finally:
        process.join()
    if status != "ok":
        raise RuntimeError(f"{target.__name__} failed in its child process:\n{value}")
    return dict(value)


def get_result(queue: Any, processes: Sequence[Any]) -> Any:
    """The next item from ``queue``, or RuntimeError if every one of ``processes`` has
    exited meanwhile (a child that crashed never answers; don't wait for it forever)."""
    while True:
        try:
            return queue.get(timeout=1.0)
        except queue_module.Empty:
            if not any(p.is_alive() for p in processes):
                codes = [p.exitcode for p in processes]
                raise RuntimeError(f"child processes exited without a result: {codes}") from None


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the table or the JSON object)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}/s"


def fmt_ratio(value: float) -> str:
    if value >= 10:
        return f"{value:,.1f}x"
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        all(_looks_numeric(row[i]) for row in cells[1:]) and len(cells) > 1
        for i in range(len(headers))
    ]

    def line(row: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [title, "=" * len(title), line(cells[0]), rule, *(line(r) for r in cells[1:])]
    return "\n".join(out)


def _looks_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace("/s", "").replace("x", "").replace("%", "")
    stripped = stripped.replace(" MiB", "").replace(" s", "").replace(" µs", "").strip()
    try:
        float(stripped)
    except ValueError:
        return text in ("-", "n/a")
    return True


def machine() -> dict[str, Any]:
    """Date, cores, CPU, Python, SQLite, OS: the context of the absolute figures."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for text in f:
                if text.startswith("model name"):
                    cpu = text.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
    }


def _git_commit() -> str:
    """HEAD of the working tree, with ``+dirty`` if ``src/`` differs from it: the code the
    figures belong to (read-only git commands)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (table on stderr)"
    )
    parser.add_argument(
        "--tmpdir",
        default=None,
        help="where the temporary databases go (default: the system temp dir); put it on "
        "the disk you want fsync measured on",
    )
    return parser


def emit(args: argparse.Namespace, report: dict[str, Any], text: str) -> None:
    """Print the table (stdout, or stderr under --json) and, under --json, the object."""
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(report, indent=2, sort_keys=False))
    else:
        print(text)
