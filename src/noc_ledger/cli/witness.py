"""`noc-ledger witness ...`: run a C2SP tlog-witness, and have a ledger's checkpoints
cosigned by witnesses before they are published (spec/witness.md).

Witness operator: ``witness init`` makes the witness key (a passphrase-encrypted PKCS#8
file) and prints its verifier key; ``witness serve`` runs the HTTP witness.
Regulator: ``witness cosign`` collects cosignatures on the ledger's latest checkpoint and,
only if the quorum is met, writes the cosigned note into the ledger directory (and
publishes it with ``--publish``); ``witness bundle`` writes a certificate's bundle with that
cosigned checkpoint; ``witness trust`` writes a trust policy requiring k of n witnesses.

Files in a ledger directory (beside those of :mod:`noc_ledger.cli.ledgerdir`)::

    checkpoint.cosigned     the latest checkpoint that met its witness quorum (public)
    witness-sizes.json      {"<witness name>": <size it holds>}: the old size to send
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any, Final

from noc_ledger import signing
from noc_ledger.checkpoint import decode_checkpoint_note
from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError, Output, Subcommands
from noc_ledger.cli.ledgerdir import (
    MIN_ID_PREFIX,
    LedgerDir,
    get_passphrase,
    parse_json,
    resolve_id,
)
from noc_ledger.errors import KeyFileError, NocLedgerError
from noc_ledger.ledger.witnessing import (
    Quorum,
    QuorumNotMetError,
    Threshold,
    WitnessEndpoint,
    WitnessOutcome,
    collect_cosignatures,
    publish,
    with_checkpoint,
)
from noc_ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Verifier,
    check_key_name,
    decode_verifier_key,
)
from noc_ledger.policy import Group, parse_policy
from noc_ledger.server.witness_http import make_witness_server
from noc_ledger.witness import WitnessKey

__all__ = ["COSIGNED_FILE", "SIZES_FILE", "register"]

COSIGNED_FILE: Final = "checkpoint.cosigned"
SIZES_FILE: Final = "witness-sizes.json"
_GROUP: Final = "witnesses"
_DEFAULT_MAX_STATUS_AGE: Final = 86_400
_MAX_KEY_FILE: Final = 64 * 1024
_ENCRYPTED_PEM: Final = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


# ---------------------------------------------------------------------------------------
# Helpers


def _vkey(text: str, sig_type: int, what: str) -> Verifier:
    try:
        v = decode_verifier_key(text)
    except NocLedgerError as exc:
        raise CommandError(f"{what}: {exc}") from None
    if v.sig_type != sig_type:
        raise CommandError(f"{what}: a verifier key of type 0x{sig_type:02x} is needed")
    return v


def _log_flag(text: str) -> tuple[str, Verifier]:
    """``"<origin> <vkey>"`` or ``"<vkey>"`` (the origin is then the key's name)."""
    origin, space, rest = text.partition(" ")
    if not space:
        v = _vkey(text, SIG_TYPE_ED25519, "--log")
        return v.name, v
    try:
        check_key_name(origin)
    except NocLedgerError as exc:
        raise CommandError(f"--log origin: {exc}") from None
    return origin, _vkey(rest, SIG_TYPE_ED25519, "--log")


def _witness_flag(text: str) -> WitnessEndpoint:
    """``URL=VKEY``: the URL ends at the first ``=`` (a vkey's base64 may hold more)."""
    url, eq, vkey = text.partition("=")
    if not eq:
        raise CommandError(f"--witness {text!r}: expected URL=VKEY")
    try:
        return WitnessEndpoint(url, _vkey(vkey, SIG_TYPE_COSIGNATURE_V1, "--witness"))
    except NocLedgerError as exc:
        raise CommandError(f"--witness: {exc}") from None


def _load_witness_key(path: str) -> signing.Ed25519Signer:
    data = common.read_bytes(path, what="witness key file", limit=_MAX_KEY_FILE)
    if not data.lstrip().startswith(_ENCRYPTED_PEM):
        raise CommandError(f"{path} is not a passphrase-encrypted PKCS#8 key file")
    passphrase = get_passphrase(f"passphrase for {path}: ")
    try:
        return signing.decode_private_key(data, passphrase)
    except KeyFileError:
        raise CommandError(
            f"cannot open {path}: wrong passphrase (or a damaged key file)"
        ) from None


def _read_sizes(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    value = parse_json(
        common.read_bytes(path, what="witness sizes", limit=1 << 20).decode("utf-8", "replace"),
        str(path),
    )
    if not isinstance(value, dict) or any(
        not isinstance(k, str) or type(v) is not int or v < 0 for k, v in value.items()
    ):
        raise CommandError(f"{path}: expected an object of witness name to size")
    return dict(value)


def _write_sizes(path: Path, sizes: Mapping[str, int]) -> None:
    common.write_public(path, (json.dumps(dict(sorted(sizes.items())), indent=2) + "\n").encode())


def _outcome_json(o: WitnessOutcome) -> dict[str, Any]:
    return {"name": o.name, "url": o.url, "ok": o.ok, "reason": o.reason, "size": o.size}


# ---------------------------------------------------------------------------------------
# Commands


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    try:
        check_key_name(args.name)
    except NocLedgerError as exc:
        raise CommandError(f"--name: {exc}") from None
    path = Path(args.key)
    if path.exists():
        raise CommandError(f"{path} exists: refusing to overwrite a witness key")
    passphrase = get_passphrase("passphrase for the new witness key: ", confirm=True)
    signer = signing.Ed25519Signer.generate()
    common.write_private(path, signing.encode_private_key(signer, passphrase))
    vkey = WitnessKey(args.name, signer).verifier.encode()
    out.result(
        {"name": args.name, "key_file": str(path), "vkey": vkey},
        lambda: out.line(f"wrote the witness key to {path}\n{vkey}"),
    )
    return common.EXIT["ok"]


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    if not args.log:
        raise CommandError("at least one --log is needed: a witness only cosigns logs it knows")
    logs: dict[str, list[Verifier]] = {}
    for text in args.log:
        origin, verifier = _log_flag(text)
        logs.setdefault(origin, []).append(verifier)
    witness = WitnessKey(args.name, _load_witness_key(args.key))
    server = make_witness_server(
        args.host, args.port, witness=witness, logs=logs, state_dir=args.state, quiet=args.quiet
    )
    try:
        vkey = witness.verifier.encode()
        out.result(
            {"url": server.url, "vkey": vkey, "state": str(args.state), "logs": sorted(logs)},
            lambda: out.line(f"witness {args.name} on {server.url} (vkey {vkey})"),
        )
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, _stop)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        server.server_close()
    return common.EXIT["ok"]


def _quorum(args: argparse.Namespace, endpoints: list[WitnessEndpoint]) -> Quorum:
    if (args.quorum is None) == (args.policy is None):
        raise CommandError("give exactly one of --quorum K and --policy FILE")
    if args.policy is not None:
        return parse_policy(common.read_bytes(args.policy, what="trust policy", limit=64 * 1024))
    if not 1 <= args.quorum <= len(endpoints):
        raise CommandError(f"--quorum must be between 1 and the {len(endpoints)} witnesses given")
    return Threshold(args.quorum)


def cmd_cosign(args: argparse.Namespace, out: Output) -> int:
    endpoints = [_witness_flag(w) for w in args.witness or ()]
    if not endpoints:
        raise CommandError("at least one --witness URL=VKEY is needed")
    quorum = _quorum(args, endpoints)
    if args.timeout <= 0:
        raise CommandError("--timeout must be positive")
    with LedgerDir.open(args.dir) as d:
        ledger = d.ledger()
        note = ledger.checkpoint()
        log_key = Verifier.for_key(d.config.origin, d.config.log_public_key)
        sizes_path = d.path / SIZES_FILE
        sizes = _read_sizes(sizes_path)
        try:
            result = collect_cosignatures(
                note,
                endpoints,
                ledger,
                quorum,
                log_key=log_key,
                timeout=args.timeout,
                known_sizes=sizes,
            )
        except QuorumNotMetError as exc:
            sizes.update({o.name: o.size for o in exc.outcomes if o.size is not None})
            _write_sizes(sizes_path, sizes)
            if out.json_mode:
                out.result({"ok": False, "witnesses": [_outcome_json(o) for o in exc.outcomes]})
            raise
        sizes.update({o.name: o.size for o in result.outcomes if o.size is not None})
        _write_sizes(sizes_path, sizes)
        cosigned_path = d.path / COSIGNED_FILE
        common.write_public(cosigned_path, result.note)
        published = None
        if args.publish is not None:
            published = str(publish(result, args.publish, ledger=ledger, log_key=log_key))
    payload = {
        "ok": True,
        "size": result.size,
        "cosigned_by": list(result.witnesses),
        "file": str(cosigned_path),
        "published": published,
        "note": result.note.decode("utf-8"),
        "witnesses": [_outcome_json(o) for o in result.outcomes],
    }

    def human() -> None:
        for o in result.outcomes:
            out.line(f"{o.name}: {o.reason}")
        out.line(
            f"checkpoint of size {result.size} cosigned by {', '.join(result.witnesses)}; "
            f"wrote {cosigned_path}"
        )
        if published is not None:
            out.line(f"published {published}")

    out.result(payload, human)
    return common.EXIT["ok"]


def cmd_bundle(args: argparse.Namespace, out: Output) -> int:
    with LedgerDir.open(args.dir) as d:
        path = d.path / COSIGNED_FILE
        if not path.exists():
            raise CommandError(f"no {COSIGNED_FILE} in {d.path}: run `noc-ledger witness cosign`")
        note = common.read_bytes(path, what="cosigned checkpoint", limit=1 << 20)
        size = decode_checkpoint_note(note).size
        ledger = d.ledger()
        cert_id = resolve_id(ledger, args.cert_id, "CERT_ID")
        if ledger.status(cert_id) is None:
            raise CommandError(f"no certificate {cert_id.hex()} in this ledger")
        data = with_checkpoint(ledger.bundle(cert_id, size=size), note)
    common.write_public(args.output, data)
    out.result(
        {"id": cert_id.hex(), "file": args.output, "bytes": len(data), "checkpoint_size": size},
        lambda: out.line(
            f"wrote the bundle of {cert_id.hex()} with the cosigned checkpoint of size {size} "
            f"to {args.output}"
        ),
    )
    return common.EXIT["ok"]


def cmd_trust(args: argparse.Namespace, out: Output) -> int:
    witnesses = [_vkey(w, SIG_TYPE_COSIGNATURE_V1, "--witness") for w in args.witness or ()]
    if not witnesses:
        raise CommandError("at least one --witness VKEY is needed")
    if not 1 <= args.threshold <= len(witnesses):
        raise CommandError(f"--threshold must be between 1 and {len(witnesses)}")
    if args.max_status_age < 1:
        raise CommandError("--max-status-age must be at least 1 second")
    group = Group(_GROUP, args.threshold, tuple(w.name for w in witnesses))
    with LedgerDir.open(args.dir) as d:
        policy = d.ledger().trust_policy(
            max_status_age=args.max_status_age,
            authority_name=d.config.authority,
            witnesses=witnesses,
            groups=[group],
            quorum=_GROUP,
        )
    common.write_public(args.output, policy)
    out.result(
        {
            "file": args.output,
            "threshold": args.threshold,
            "witnesses": [w.name for w in witnesses],
        },
        lambda: out.line(
            f"wrote a trust policy requiring {args.threshold} of {len(witnesses)} witnesses "
            f"to {args.output}"
        ),
    )
    return common.EXIT["ok"]


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace, out: Output) -> int:
        try:
            return int(func(args, out))
        except (CommandError, NocLedgerError, KeyboardInterrupt):
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise CommandError(f"{where}{exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"not valid UTF-8: {exc.reason}") from None

    return run


# ---------------------------------------------------------------------------------------
# Registration


def register(subparsers: Subcommands) -> None:
    """Add `noc-ledger witness ...` to the parser."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print one JSON object")
    top = subparsers.add_parser(
        "witness",
        help="run a tlog-witness; have checkpoints cosigned before publishing them",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    sub = top.add_subparsers(dest="witness_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[parent])
        p.set_defaults(func=_guard(func))
        return p

    p = add("init", cmd_init, "create a witness key and print its verifier key")
    p.add_argument("--key", metavar="FILE", required=True, help="the new key file (PKCS#8)")
    p.add_argument("--name", required=True, help="the witness's key name, e.g. w1.example")

    p = add("serve", cmd_serve, "run the HTTP witness (POST /add-checkpoint)")
    p.add_argument("--state", metavar="DIR", required=True, help="state directory (SQLite)")
    p.add_argument("--key", metavar="FILE", required=True, help="the witness key file")
    p.add_argument("--name", required=True, help="the witness's key name (as in init)")
    p.add_argument(
        "--log",
        action="append",
        metavar='"ORIGIN VKEY"',
        help="a log to witness: its origin and Ed25519 verifier key (repeatable)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=0, help="port (default: an ephemeral one)")
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")

    p = add("cosign", cmd_cosign, "collect witness cosignatures on the latest checkpoint")
    p.add_argument("dir", metavar="DIR", help="the ledger directory")
    p.add_argument("--witness", action="append", metavar="URL=VKEY", help="a witness (repeatable)")
    p.add_argument("--quorum", type=int, metavar="K", help="at least K of the witnesses given")
    p.add_argument("--policy", metavar="FILE", help="or: the quorum of this trust policy")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per witness call")
    p.add_argument("--publish", metavar="OUTDIR", help="also publish the cosigned checkpoint")

    p = add("bundle", cmd_bundle, "write a certificate's bundle with the cosigned checkpoint")
    p.add_argument("dir", metavar="DIR", help="the ledger directory")
    p.add_argument(
        "cert_id",
        metavar="CERT_ID",
        help=f"the certificate id (64 hex digits, or a unique prefix of {MIN_ID_PREFIX} or more)",
    )
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the bundle file")

    p = add("trust", cmd_trust, "write a trust policy requiring K of N witnesses")
    p.add_argument("dir", metavar="DIR", help="the ledger directory")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the policy file")
    p.add_argument("--witness", action="append", metavar="VKEY", help="a witness (repeatable)")
    p.add_argument("--threshold", type=int, required=True, metavar="K", help="K of the N")
    p.add_argument(
        "--max-status-age",
        type=int,
        default=_DEFAULT_MAX_STATUS_AGE,
        metavar="SECONDS",
        help=f"default {_DEFAULT_MAX_STATUS_AGE}",
    )
