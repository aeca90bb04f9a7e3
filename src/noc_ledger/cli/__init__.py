"""The `noc-ledger` command (also `python -m noc_ledger`).

Each command module registers its subcommands with :func:`argparse` through a
``register(subparsers)`` function and sets ``func`` on its parser: a callable taking the
parsed arguments and an :class:`~noc_ledger.cli.common.Output`, returning an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from noc_ledger import __version__
from noc_ledger.cli import common

_EPILOG = """exit status: 0 success (verify: valid); 1 error; 2 usage; verify verdicts:
10 out-of-scope, 11 not-yet-valid, 12 expired, 13 suspended, 14 revoked, 15 superseded,
16 ended, 20 stale (can't tell), 21 not-covered (can't tell), 30 invalid.
Passphrases come from a prompt or from $NOC_LEDGER_PASSPHRASE.
The PIN of a PKCS#11 token (init --pkcs11-module) from a prompt or $NOC_LEDGER_PKCS11_PIN."""


# The command modules, in the order their commands appear in --help; one a line.
_COMMAND_MODULES = (
    "admin",
    "verifier",
    "demo",
    "serve",
    "audit",
    "witness",
    "register",
)


def build_parser() -> argparse.ArgumentParser:
    parser = common.Parser(
        prog="noc-ledger",
        description="Issue, log and verify offline No Objection Certificates and licences.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"noc-ledger {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Imported here, not at the top: the command modules import noc_ledger.cli.common,
    # which imports this package first.
    for name in _COMMAND_MODULES:
        importlib.import_module(f"noc_ledger.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = common.Output(json_mode=bool(getattr(args, "json", False)))
    return common.run_guarded(out, lambda: int(args.func(args, out)))


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
