"""`noc-ledger tiles` and `noc-ledger serve`: publish the log as C2SP tiles and serve them
read-only over HTTP (spec/tiles.md §7-§8)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from noc_ledger.checkpoint import decode_checkpoint_note
from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError, Output
from noc_ledger.cli.ledgerdir import CONFIG, LedgerDir
from noc_ledger.ledger.tiles_export import export_tiles
from noc_ledger.note import MAX_NOTE_SIZE, Verifier
from noc_ledger.server.tiles_http import make_server
from noc_ledger.tiles import CHECKPOINT_PATH

__all__ = ["DEFAULT_TILES", "register"]

#: Where `noc-ledger tiles DIR` writes, and `noc-ledger serve DIR` serves, by default.
DEFAULT_TILES = "tiles"


def cmd_tiles(args: argparse.Namespace, out: Output) -> int:
    out_dir = Path(args.outdir) if args.outdir else Path(args.dir) / DEFAULT_TILES
    with LedgerDir.open(args.dir) as d:
        log_key = Verifier.for_key(d.config.origin, d.config.log_public_key)
        ledger = d.ledger()
        if args.checkpoint is not None:
            note = common.read_bytes(args.checkpoint, what="checkpoint", limit=MAX_NOTE_SIZE)
        else:
            note = ledger.checkpoint()  # the latest; signs one if none covers the log yet
        report = export_tiles(
            ledger,
            out_dir,
            checkpoint=note,
            log_key=log_key,
            progress=lambda done, total: out.progress(done, total, "tiles"),
        )
    result = {
        "dir": str(out_dir),
        "size": report.size,
        "previous_size": report.previous_size,
        "tiles_written": report.tiles_written,
        "bundles_written": report.bundles_written,
        "bytes_written": report.bytes_written,
        "partials_removed": report.partials_removed,
    }

    def human() -> None:
        if report.previous_size == report.size and not report.tiles_written:
            out.line(f"{out_dir}: already at size {report.size} (checkpoint rewritten)")
        else:
            out.line(
                f"{out_dir}: published size {report.size} (was {report.previous_size}): "
                f"{report.tiles_written} tiles, {report.bundles_written} entry bundles, "
                f"{report.bytes_written} bytes"
            )

    out.result(result, human)
    return common.EXIT["ok"]


def _tiles_root(location: str) -> Path:
    """A tiles directory, or a ledger directory's default one."""
    path = Path(location)
    if (path / CONFIG).is_file():
        path = path / DEFAULT_TILES
    if not path.is_dir():
        raise CommandError(f"{path} is not a directory")
    if not (path / CHECKPOINT_PATH).is_file():
        raise CommandError(f"{path} has no checkpoint: run `noc-ledger tiles` first")
    return path


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    root = _tiles_root(args.dir)
    note = common.read_bytes(root / CHECKPOINT_PATH, what="checkpoint", limit=MAX_NOTE_SIZE)
    cp = decode_checkpoint_note(note)

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        server = make_server(root, host=args.host, port=args.port, log=log)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    with server:
        out.result(
            {"url": server.url, "dir": str(root), "origin": cp.origin, "size": cp.size},
            lambda: out.line(f"serving {root} ({cp.origin}, size {cp.size}) at {server.url}"),
        )
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return common.EXIT["ok"]


def _parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print one JSON object")
    return parent


def register(subparsers: common.Subcommands) -> None:
    """Add `tiles` and `serve` to the `noc-ledger` parser."""
    p = subparsers.add_parser(
        "tiles",
        help="publish the log as C2SP tiles in a directory (incremental)",
        description=(
            "Write the log of the ledger directory DIR as a C2SP tlog-tiles directory\n"
            "(spec/tiles.md): entry bundles and hash tiles first, the checkpoint last.\n"
            "Incremental: only what the published tree lacks is written. A checkpoint\n"
            "smaller than the one already published is refused."
        ),
        parents=[_parent()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="the ledger directory")
    p.add_argument(
        "outdir",
        metavar="OUTDIR",
        nargs="?",
        help=f"the tiles directory (default DIR/{DEFAULT_TILES})",
    )
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="publish this signed checkpoint (e.g. with witness cosignatures) instead of the "
        "latest one",
    )
    p.set_defaults(func=cmd_tiles)

    p = subparsers.add_parser(
        "serve",
        help="serve a tiles directory read-only over HTTP",
        description=(
            "Serve a tiles directory (or DIR/tiles of a ledger directory) read-only over\n"
            "HTTP: GET and HEAD of the checkpoint and the tile paths only, with the\n"
            "Cache-Control of spec/tiles.md §7. Stops on Ctrl-C."
        ),
        parents=[_parent()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR|TILESDIR", help="a tiles or ledger directory")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    p.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    p.set_defaults(func=cmd_serve)
