"""``noc-ledger register DIR -o OUTDIR``: publish the public register, a static HTML site
generated from the log (noc_ledger.publish.register, docs/register.md).

It needs no private key: it reads the ledger directory, checks the log against its newest
checkpoint signed at or before ``--at`` (default: now), and swaps OUTDIR atomically to the
new site.
"""

from __future__ import annotations

import argparse
import base64
import functools
import os
from collections.abc import Callable
from typing import Final

from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError, Output
from noc_ledger.cli.ledgerdir import LedgerDir, format_time, parse_time
from noc_ledger.errors import NocLedgerError
from noc_ledger.publish.register import DEFAULT_MAX_STATUS_AGE, MAX_TITLE, build_register

__all__ = ["register"]

_DEFAULT_TITLE: Final = "Public register of certificates"
_TIME_HELP: Final = "RFC 3339 UTC (2026-01-01T00:00:00Z) or POSIX seconds"

Func = Callable[[argparse.Namespace, Output], int]


def _guarded(func: Func) -> Func:
    """Only the errors `run_guarded` reports leave the command: anything else becomes one
    line too, never a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace, out: Output) -> int:
        try:
            return func(args, out)
        except (CommandError, NocLedgerError, KeyboardInterrupt, SystemExit):
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise CommandError(f"{where}{exc.strerror or exc}") from None
        except Exception as exc:
            raise CommandError(
                f"internal error ({type(exc).__name__}: {exc}); please report this bug"
            ) from None

    return run


@_guarded
def _cmd_register(args: argparse.Namespace, out: Output) -> int:
    at = common.now() if args.at is None else parse_time(args.at, "--at")
    if args.max_status_age is not None and args.trust is not None:
        raise CommandError("give --trust or --max-status-age, not both")
    trust = None if args.trust is None else common.read_bytes(args.trust, what="trust file")
    max_age = DEFAULT_MAX_STATUS_AGE if args.max_status_age is None else args.max_status_age
    if max_age <= 0:
        raise CommandError("--max-status-age: a positive number of seconds")
    last: dict[str, int] = {}

    def progress(what: str, done: int, total: int) -> None:
        # A line per percent is plenty on a terminal, even for a million certificates.
        step = max(1, total // 100)
        if done == total or done - last.get(what, 0) >= step:
            last[what] = done
            out.progress(done, total, what)

    with LedgerDir.open(args.dir) as directory:
        report = build_register(
            directory.ledger(),
            os.path.abspath(args.output),
            title=args.title,
            at=at,
            max_status_age=max_age,
            trust=trust,
            progress=progress,
        )
    result = {
        "out_dir": str(report.out_dir),
        "site_dir": str(report.site_dir),
        "origin": report.origin,
        "size": report.size,
        "root": base64.b64encode(report.root).decode("ascii"),
        "checkpoint_time": report.checkpoint_time,
        "checkpoint_time_utc": format_time(report.checkpoint_time),
        "at": report.at,
        "at_utc": format_time(report.at),
        "certificates": report.certificates,
        "files": report.files,
        "digest": report.digest.hex(),
        "unchanged": report.unchanged,
        "verdicts": dict(report.verdicts),
    }

    def human() -> None:
        state = "unchanged" if report.unchanged else "published"
        out.line(f"register {state}: {report.out_dir} → {report.site_dir.name}")
        out.line(
            f"  {report.certificates} certificates from {report.origin} at checkpoint size "
            f"{report.size} (signed {format_time(report.checkpoint_time)}), status as at "
            f"{format_time(report.at)}"
        )
        out.line(f"  open {os.path.join(report.out_dir, 'index.html')}")

    out.result(result, human)
    return common.EXIT["ok"]


def _title(text: str) -> str:
    if not text.strip() or len(text) > MAX_TITLE:
        raise argparse.ArgumentTypeError(f"1 to {MAX_TITLE} characters")
    return text.strip()


def _seconds(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError("a whole number of seconds")
    return int(text)


def register(subparsers: common.Subcommands) -> None:
    """Add ``register``."""
    p = subparsers.add_parser(
        "register",
        help="publish the public register: a static HTML site generated from the log",
        description=(
            "Write the public register of the ledger in DIR into OUTDIR: every certificate "
            "with its status, its scope in plain words, its full status history and its "
            "offline bundle, plus the trust file to verify the bundles with. OUTDIR is "
            "published as a symlink swapped atomically to a new versioned directory beside "
            "it; a rebuild of the same log and --at is byte-identical. Needs no private key."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="the ledger directory")
    p.add_argument("-o", "--output", metavar="OUTDIR", required=True, help="the site to write")
    p.add_argument("--title", type=_title, default=_DEFAULT_TITLE, help="the register's title")
    p.add_argument(
        "--at", metavar="TIME", help=f"status as at this time (default now); {_TIME_HELP}"
    )
    p.add_argument(
        "--trust",
        metavar="FILE",
        help="the trust file to publish (default: the ledger's own, as `noc-ledger trust`)",
    )
    p.add_argument(
        "--max-status-age",
        type=_seconds,
        metavar="SECONDS",
        help=f"max-status-age of the published trust file (default {DEFAULT_MAX_STATUS_AGE})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_register)
