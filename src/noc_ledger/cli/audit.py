"""The auditor's command: ``noc-ledger audit SOURCE --trust FILE [--state DIR] [--json]``.

Follows a published log (a tiles directory or an http(s) base URL) without asking anyone's
permission: verifies its checkpoint under the auditor's trust policy, replays every new entry
under the rules the log itself applies, recomputes the tree and status-map roots and compares
them with the signed lines (spec/audit.md). With ``--state`` the audit is incremental and
resumable (its state is a SQLite database there, spec/audit.md §6); without it, it starts
from the empty log and keeps nothing (the same database in a temporary directory, deleted at
the end). Memory does not grow with the log.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path
from typing import Any, Final

from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError, Output
from noc_ledger.client.auditor import Auditor, AuditResult, fork_evidence_paths
from noc_ledger.client.source import open_source
from noc_ledger.errors import (
    DecodeError,
    InconsistencyError,
    ModelError,
    NocLedgerError,
    PolicyError,
    ScopeError,
    SignatureError,
    StatusRootError,
)
from noc_ledger.policy import TrustPolicy, parse_policy

__all__ = ["EXIT_INCONSISTENT", "EXIT_INVALID_ENTRY", "EXIT_STATUS_ROOT", "register"]

#: spec/audit.md §7: the log signed two checkpoints that cannot both be honest.
EXIT_INCONSISTENT: Final = 40
#: spec/audit.md §7: the log holds an entry its own rules refuse.
EXIT_INVALID_ENTRY: Final = 41
#: spec/audit.md §7: the log signed a status root its entries do not give.
EXIT_STATUS_ROOT: Final = 42

_POLICY_LIMIT: Final = 64 * 1024

_EPILOG = f"""exit status:
  0   consistent: every entry up to the log's checkpoint was audited
  1   error (unreadable source or state, bad checkpoint signature, quorum not met,
      entries served that are not the checkpoint's, …)
  2   usage
  {EXIT_INCONSISTENT}  fork or rollback: two signed checkpoints that cannot both be honest;
      both are printed and written to the state directory as evidence
  {EXIT_INVALID_ENTRY}  invalid entry: the log holds an entry its own rules refuse
      (signature, key chain, scope, lifecycle transition); the index is named
  {EXIT_STATUS_ROOT}  wrong status root: the checkpoint's status-map root is not the one its
      entries give"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _load_policy(path: str) -> TrustPolicy:
    data = common.read_bytes(path, what="trust policy", limit=_POLICY_LIMIT)
    try:
        return parse_policy(data)
    except PolicyError as exc:
        raise CommandError(f"trust policy {path}: {exc}") from None


def _report(result: AuditResult, location: str, state_dir: str | None) -> dict[str, Any]:
    s = result.state
    return {
        "result": "consistent",
        "source": location,
        "origin": s.origin,
        "entries_audited": result.entries,
        "previous_size": result.previous_size,
        "size": s.size,
        "root": _b64(s.root),
        "status_root": _b64(s.status_root),
        "time": s.time,
        "certificates": s.certificates,
        "keys": s.keys,
        "state": state_dir,
    }


def _fork(out: Output, exc: InconsistencyError, state_dir: Path | None) -> int:
    paths: list[str] = []
    if state_dir is not None and exc.first and exc.second:
        paths = [str(p) for p in fork_evidence_paths(state_dir, exc.first, exc.second)]
    first = exc.first.decode("utf-8", "replace")
    second = exc.second.decode("utf-8", "replace")

    def human() -> None:
        out.line(f"INCONSISTENT: {exc}")
        out.line("audited checkpoint (first):")
        out.line(first.rstrip("\n"))
        out.line("new checkpoint (second):")
        out.line(second.rstrip("\n"))
        for p in paths:
            out.line(f"evidence written: {p}")

    out.result(
        {
            "result": "inconsistent",
            "error": str(exc),
            "first": first,
            "second": second,
            "evidence": paths,
            "exit": EXIT_INCONSISTENT,
        },
        human,
    )
    print(f"noc-ledger: InconsistencyError: {exc}", file=sys.stderr)
    return EXIT_INCONSISTENT


def _cmd_audit(args: argparse.Namespace, out: Output) -> int:
    policy = _load_policy(args.trust)
    if not 0 < args.timeout <= 600:
        raise CommandError("--timeout is between 0 and 600 seconds")
    source = open_source(args.source, timeout=args.timeout)
    state_dir = Path(args.state) if args.state is not None else None
    auditor = Auditor(
        source,
        policy,
        state_dir=state_dir,
        progress=lambda done, total: out.progress(done, total, "entries audited"),
    )
    try:
        result = auditor.run()
    except InconsistencyError as exc:
        return _fork(out, exc, state_dir)
    except StatusRootError as exc:
        common.fail(out, f"StatusRootError: {exc}", EXIT_STATUS_ROOT)
    except (DecodeError, SignatureError, ScopeError, ModelError) as exc:
        if auditor.step != "replay":
            raise
        common.fail(out, f"{type(exc).__name__}: {exc}", EXIT_INVALID_ENTRY)
    except NocLedgerError:
        raise
    report = _report(result, source.location, args.state)

    def human() -> None:
        out.line(f"consistent: {source.location}")
        out.line(f"origin: {report['origin']}")
        out.line(f"entries audited: {result.entries} (from {result.previous_size})")
        out.line(f"size: {report['size']}")
        out.line(f"root: {report['root']}")
        out.line(f"status root: {report['status_root']}")
        out.line(f"checkpoint time: {report['time']}")
        out.line(f"records: {report['certificates']} certificates, {report['keys']} keys")

    out.result(report, human)
    return common.EXIT["ok"]


def register(subparsers: common.Subcommands) -> None:
    """Add ``audit``."""
    p = subparsers.add_parser(
        "audit",
        help="audit a published log: every entry, the tree and the status roots",
        description=(
            "Audit the log published at SOURCE (a tiles directory or an http(s) base URL) "
            "under the trust policy FILE: verify its checkpoint (and witness quorum), replay "
            "every new entry under the log's own rules, and recompute the Merkle and status-"
            "map roots (spec/audit.md). With --state DIR the audit is incremental: only "
            "entries after the last audited checkpoint are fetched, an interrupted audit "
            "resumes, and fork evidence is written there."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", help="tiles directory or http(s) base URL")
    p.add_argument("--trust", metavar="FILE", required=True, help="the trust policy file")
    p.add_argument("--state", metavar="DIR", help="state directory (incremental, resumable audits)")
    p.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per request (default 10)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_audit)
