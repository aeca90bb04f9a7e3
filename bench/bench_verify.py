"""Full offline bundle verifications per second on one core, against the raw Ed25519 floor
and pycose, all measured in the same run.

The fixture: a ledger on a ``MemoryStore`` (the test authority of ``tests/ledger_story.py``)
with one delegation and N distinct NOCs logged in one batch, so that one checkpoint (size
N + 1) covers them all; the N bundles ``Ledger.bundle`` gives for them at that checkpoint;
and the trust policy the ledger publishes (``Ledger.trust_policy``, parsed back with
``parse_policy``). A second fixture is the same bundles with the checkpoint cosigned by one
witness, verified under a policy whose quorum is that witness (1 of 1). Every verification
asks the scope query ``prep.aml_registration / retail / AE`` at a time 50 s after the
checkpoint, so all 14 steps of spec/verification.md §3 run and every bundle is ``valid``
(checked, untimed, before the timed passes).

Rows (single process, each in its own spawned interpreter):

* ours, ``verify_bundle`` per bundle: no cache, so each bundle costs 3 Ed25519
  verifications (checkpoint note, delegation, certificate), 4 with the witness cosignature;
* ours, ``BundleVerifier.verify`` over all bundles (a fresh verifier per pass): the
  checkpoint's log signature and witness quorum are checked once per pass, so each bundle
  costs 2 Ed25519 verifications (delegation, certificate) plus 1 (2 with the witness) per
  pass;
* raw floor for each of those: the very same Ed25519 verifications (the same keys, messages
  and signatures, captured from our code's calls to ``nacl.bindings.crypto_sign_open`` while
  building the fixture), done bare with ``nacl.bindings.crypto_sign_open``; floor
  bundles/s = N / (time of one pass's verifications);
* the certificate alone: pycose 1.x decoding and verifying the certificate's COSE_Sign1 (alg
  -19 registered as EdDSA, as in ``tests/independent_cose.py``, whose ``pycose_verify`` is
  used), our ``signing.verify_sign1`` on the same bytes, and the bare Ed25519 verification
  of it with PyNaCl (our backend) and with pyca/cryptography (OpenSSL, pycose's backend).

Each row makes ``--repeat`` timed passes over all N bundles and reports the median pass.
Each row prints its rate, its ratio to its raw floor, its ratio to pycose's certificate-only
rate, and the peak RSS of the interpreter it ran in (``ru_maxrss``, and beside it VmHWM from
``/proc/self/status``, which unlike ``ru_maxrss`` does not start at the spawning parent's
RSS). Absolute rates on a shared machine are noise; the ratios within one run are the
result.

Target (the issue): full offline verifications >= 75 % of the raw floor; verifying many
bundles against one checkpoint checks that checkpoint's signatures once (shown by counting
the Ed25519 verifications per key while building the fixture).

Run (from the repository root; needs PyNaCl, and pycose + cbor2 from the ``test`` extra)::

    /work/venv/bin/python bench/bench_verify.py            # 1,000 bundles (~1 minute)
    /work/venv/bin/python bench/bench_verify.py --quick    # 50 bundles: a smoke test
    /work/venv/bin/python bench/bench_verify.py --json     # one JSON object on stdout
    /work/venv/bin/python bench/bench_verify.py --profile  # cProfile of BundleVerifier
"""

from __future__ import annotations

import cProfile
import dataclasses
import io
import pickle
import pstats
import statistics
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import nacl.bindings
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from _common import (
    base_parser,
    emit,
    fmt_rate,
    fmt_ratio,
    machine,
    peak_rss_mib,
    perf_counter,
    progress,
    rate,
    ratio,
    run_isolated,
    table,
)
from noc_ledger import codec, merkle, signing, statusmap
from noc_ledger import verify as verify_module
from noc_ledger.bundle import Bundle
from noc_ledger.checkpoint import cosign
from noc_ledger.events import CertStatus, KeyEvent, KeyStatus
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.model import Certificate
from noc_ledger.note import SIG_TYPE_COSIGNATURE_V1, Verifier
from noc_ledger.policy import Group, parse_policy
from noc_ledger.scope import Query, Scope, check_within, evaluate
from noc_ledger.verify import BundleVerifier, verify_bundle
from tests.ledger_story import ISSUER, LOG, ROOT, new_ledger, noc
from tools.gen_vectors import DAY, T0

TARGET_VS_FLOOR = 0.75

FULL = {"bundles": 1_000, "repeat": 5}
QUICK = {"bundles": 50, "repeat": 2}

#: The witness of the second fixture (the same key as tests/test_verify.py).
WITNESS_NAME = "witness.example"
WITNESS = signing.Ed25519Signer(b"\x0b" * 32)
#: The checkpoint is signed at T0 + 10 (tests/ledger_story.clock); verify 50 s later.
AT = T0 + 60
COSIGN_TIME = T0 + 30
MAX_STATUS_AGE = 2 * DAY
QUERY = ("prep.aml_registration", "retail", "AE")
CERT_CONTENT_TYPE = signing.CONTENT_TYPES["certificate"]

KEY_NAMES = {
    LOG.public_key: "log (checkpoint)",
    WITNESS.public_key: "witness (cosignature)",
    ROOT.public_key: "root (delegation)",
    ISSUER.public_key: "issuer (certificate)",
}


# -- the fixture (built once, in its own interpreter; rows read its parts from files) -------


Calls = list[tuple[bytes, bytes]]  # (signature || message, public key), as crypto_sign_open


def _capture(action: Callable[[], None]) -> Calls:
    """Run ``action`` and return every Ed25519 verification our code made meanwhile: the
    arguments it passed to ``nacl.bindings.crypto_sign_open`` (signing.verify_ed25519 looks
    the function up on the module at each call)."""
    real = nacl.bindings.crypto_sign_open
    calls: Calls = []

    def recording(signed: bytes, pk: bytes) -> bytes:
        calls.append((signed, pk))
        return real(signed, pk)

    nacl.bindings.crypto_sign_open = recording
    try:
        action()
    finally:
        nacl.bindings.crypto_sign_open = real
    return calls


def _per_key(calls: Calls) -> dict[str, int]:
    """How many of ``calls`` each key made."""
    counts: dict[str, int] = {}
    for _signed, key in calls:
        name = KEY_NAMES.get(key, key.hex()[:16])
        counts[name] = counts.get(name, 0) + 1
    return counts


def build_fixture(count: int) -> dict[str, Any]:
    """The ledger, its bundles, both policies, and the Ed25519 calls each path makes."""
    start = perf_counter()
    ledger = new_ledger(MemoryStore())  # entry 0: the issuing key's delegation
    receipts = ledger.issue_batch([noc(n) for n in range(1, count + 1)], ISSUER)
    plain = [ledger.bundle(r.id) for r in receipts]
    witness_key = Verifier.for_key(
        WITNESS_NAME, WITNESS.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1
    )
    checkpoint = Bundle.from_cbor(plain[0]).checkpoint
    cosigned_note = cosign(checkpoint, WITNESS_NAME, WITNESS, time=COSIGN_TIME)
    cosigned = [
        dataclasses.replace(Bundle.from_cbor(b), checkpoint=cosigned_note).to_cbor() for b in plain
    ]
    policies = {
        "plain": ledger.trust_policy(max_status_age=MAX_STATUS_AGE),
        "witness": ledger.trust_policy(
            max_status_age=MAX_STATUS_AGE,
            witnesses=[witness_key],
            groups=[Group("w", 1, (WITNESS_NAME,))],
            quorum="w",
        ),
    }
    fixture: dict[str, Any] = {
        "count": count,
        "ids": [r.id for r in receipts],
        "bundles": {"plain": plain, "witness": cosigned},
        "policies": policies,
        "certificates": [Bundle.from_cbor(b).certificate.entry for b in plain],
        "calls": {},
        "per_key": {},
    }
    query = Query(*QUERY)
    for case in ("plain", "witness"):
        policy = parse_policy(policies[case])
        bundles = fixture["bundles"][case]

        def uncached(bundles: list[bytes] = bundles, policy: Any = policy) -> None:
            for data in bundles:
                verify_bundle(data, policy, at=AT, query=query)

        def cached(bundles: list[bytes] = bundles, policy: Any = policy) -> None:
            verifier = BundleVerifier(policy)
            for data in bundles:
                verifier.verify(data, at=AT, query=query)

        for mode, action in (("uncached", uncached), ("cached", cached)):
            calls = _capture(action)
            fixture["calls"][f"{case}/{mode}"] = calls
            fixture["per_key"][f"{case}/{mode}"] = _per_key(calls)
    fixture["certificate_calls"] = [
        c for c in fixture["calls"]["plain/uncached"] if c[1] == ISSUER.public_key
    ]
    fixture["build_seconds"] = perf_counter() - start
    fixture["bundle_bytes"] = sum(map(len, plain)) // count
    fixture["cosigned_bundle_bytes"] = sum(map(len, cosigned)) // count
    fixture["certificate_bytes"] = sum(map(len, fixture["certificates"])) // count
    return fixture


#: The fixture's summary figures (the parent keeps these; rows read their parts from files).
_SUMMARY_KEYS = (
    "count",
    "per_key",
    "build_seconds",
    "bundle_bytes",
    "cosigned_bundle_bytes",
    "certificate_bytes",
)


def write_fixture(count: int, directory: str) -> dict[str, Any]:
    """Build the fixture (in a spawned interpreter) and write each part a row reads to its
    own pickle file in ``directory``; return the summary figures.

    Why files: a spawned child's ``ru_maxrss`` starts at the RSS its parent had when it
    spawned it (Linux keeps the pre-exec peak), so the parent must stay small for the rows'
    peaks to be their own; and each row loads only the parts it uses.
    """
    fixture = build_fixture(count)
    parts: dict[str, Any] = {
        "ids": fixture["ids"],
        "certificates": fixture["certificates"],
        "certificate_calls": fixture["certificate_calls"],
    }
    for case in CASES:
        parts[f"bundles/{case}"] = fixture["bundles"][case]
        parts[f"policy/{case}"] = fixture["policies"][case]
    for name, calls in fixture["calls"].items():
        parts[f"calls/{name}"] = calls
    for name, value in parts.items():
        _part_path(directory, name).write_bytes(pickle.dumps(value))
    return {key: fixture[key] for key in _SUMMARY_KEYS}


def _part_path(directory: str, name: str) -> Path:
    return Path(directory) / (name.replace("/", "-") + ".pickle")


def _part(directory: str, name: str) -> Any:
    return pickle.loads(_part_path(directory, name).read_bytes())


def own_peak_mib() -> float | None:
    """VmHWM of /proc/self/status: the peak RSS of this interpreter's own address space
    (unlike ``ru_maxrss``, not inherited from the process that spawned it); None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# -- rows (each runs in its own spawned interpreter) ----------------------------------------


def _passes(repeat: int, one_pass: Callable[[], None]) -> list[float]:
    times = []
    for _ in range(repeat):
        start = perf_counter()
        one_pass()
        times.append(perf_counter() - start)
    return times


def row_ours(
    directory: str, case: str, mode: str, witnesses: tuple[str, ...], repeat: int
) -> dict[str, Any]:
    """``verify_bundle`` (mode ``uncached``) or ``BundleVerifier.verify`` (``cached``, a
    fresh verifier per pass) of every bundle, after one untimed pass that checks every
    result is valid for the right certificate."""
    bundles: list[bytes] = _part(directory, f"bundles/{case}")
    ids: list[bytes] = _part(directory, "ids")
    policy = parse_policy(_part(directory, f"policy/{case}"))
    query = Query(*QUERY)
    checker = BundleVerifier(policy)
    for data, cert_id in zip(bundles, ids, strict=True):
        result = checker.verify(data, at=AT, query=query)
        if result.certificate_id != cert_id or result.witnesses != witnesses:
            raise RuntimeError("a bundle did not verify as the certificate it was made for")
        if verify_bundle(data, policy, at=AT, query=query) != result:
            raise RuntimeError("verify_bundle and BundleVerifier disagree")

    def uncached() -> None:
        for data in bundles:
            verify_bundle(data, policy, at=AT, query=query)

    def cached() -> None:
        verifier = BundleVerifier(policy)
        for data in bundles:
            verifier.verify(data, at=AT, query=query)

    times = _passes(repeat, uncached if mode == "uncached" else cached)
    return {
        "count": len(bundles),
        "passes": times,
        "seconds": statistics.median(times),
        "vm_hwm_mib": own_peak_mib(),
    }


def row_floor(directory: str, calls_part: str, bundles: int, repeat: int) -> dict[str, Any]:
    """The same Ed25519 verifications, bare: ``nacl.bindings.crypto_sign_open``."""
    calls: Calls = _part(directory, calls_part)
    open_ = nacl.bindings.crypto_sign_open

    def one_pass() -> None:
        for signed, key in calls:
            open_(signed, key)

    one_pass()  # raises if any captured verification does not hold
    times = _passes(repeat, one_pass)
    return {
        "count": bundles,
        "verifications": len(calls),
        "passes": times,
        "seconds": statistics.median(times),
        "vm_hwm_mib": own_peak_mib(),
    }


def row_certificate(directory: str, kind: str, repeat: int) -> dict[str, Any]:
    """The certificate's COSE_Sign1 alone: ``pycose`` (tests/independent_cose.py) or ours
    (``signing.verify_sign1``); both decode the COSE structure and verify the signature,
    neither decodes the certificate payload."""
    certificates: list[bytes] = _part(directory, "certificates")
    key = ISSUER.public_key
    if kind == "pycose":
        # Imported here, not at the top: only this row should carry pycose and cbor2 in
        # its peak RSS. Importing it registers alg -19 with pycose.
        from tests.independent_cose import pycose_verify  # noqa: PLC0415

        def verify_one(data: bytes) -> bytes:
            return bytes(pycose_verify(data, key))
    else:

        def verify_one(data: bytes) -> bytes:
            return signing.verify_sign1(
                data, content_type=CERT_CONTENT_TYPE, public_key=key
            ).payload

    expected = [signing.decode_sign1(c).payload for c in certificates]
    if [verify_one(c) for c in certificates] != expected:
        raise RuntimeError(f"{kind} returned another payload")

    def one_pass() -> None:
        for data in certificates:
            verify_one(data)

    times = _passes(repeat, one_pass)
    return {
        "count": len(certificates),
        "passes": times,
        "seconds": statistics.median(times),
        "vm_hwm_mib": own_peak_mib(),
    }


def row_openssl(directory: str, repeat: int) -> dict[str, Any]:
    """The certificates' Ed25519 verifications with pyca/cryptography (OpenSSL), the backend
    pycose uses: key objects built once, outside the timed passes."""
    calls: Calls = _part(directory, "certificate_calls")
    keys: dict[bytes, Any] = {}
    work = []
    for signed, key in calls:
        if key not in keys:
            keys[key] = Ed25519PublicKey.from_public_bytes(key)
        work.append((keys[key], signed[:64], signed[64:]))

    def one_pass() -> None:
        for public_key, signature, message in work:
            public_key.verify(signature, message)

    one_pass()
    times = _passes(repeat, one_pass)
    return {
        "count": len(calls),
        "passes": times,
        "seconds": statistics.median(times),
        "vm_hwm_mib": own_peak_mib(),
    }


# -- the run ---------------------------------------------------------------------------------

CASES = {"plain": "no witnesses", "witness": "1-of-1 witness quorum"}


def run(
    sizes: dict[str, int], tmpdir: str | None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    count, repeat = sizes["bundles"], sizes["repeat"]
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(dir=tmpdir) as d:
        progress(f"fixture: ledger of {count} NOCs, bundles, policies, captured Ed25519 calls")
        fixture = run_isolated(write_fixture, count=count, directory=d)
        for case in CASES:
            witnesses = (WITNESS_NAME,) if case == "witness" else ()
            for mode in ("uncached", "cached"):
                progress(f"{case}/{mode}: ours, {repeat} x {count} bundles")
                rows[f"{case}/{mode}"] = run_isolated(
                    row_ours, directory=d, case=case, mode=mode, witnesses=witnesses, repeat=repeat
                )
                progress(f"{case}/{mode}: raw floor")
                rows[f"{case}/{mode}/floor"] = run_isolated(
                    row_floor,
                    directory=d,
                    calls_part=f"calls/{case}/{mode}",
                    bundles=count,
                    repeat=repeat,
                )
        for kind in ("pycose", "ours"):
            progress(f"certificate alone: {kind}")
            rows[f"cert/{kind}"] = run_isolated(
                row_certificate, directory=d, kind=kind, repeat=repeat
            )
        progress("certificate alone: raw floors")
        rows["cert/nacl"] = run_isolated(
            row_floor, directory=d, calls_part="certificate_calls", bundles=count, repeat=repeat
        )
        rows["cert/openssl"] = run_isolated(row_openssl, directory=d, repeat=repeat)
    fixture["parent_rss_mib"] = round(peak_rss_mib(), 1)
    return fixture, rows


def _ed25519_text(per_key: dict[str, int], count: int) -> str:
    """'3' or '2 + 1 once': verifications per bundle, and those made once per pass."""
    per_bundle = sum(v for v in per_key.values() if v >= count) / count
    once = sum(v for v in per_key.values() if v < count)
    text = f"{per_bundle:g}"
    return f"{text} + {once} once" if once else text


def report(
    fixture: dict[str, Any], rows: dict[str, dict[str, Any]], sizes: dict[str, int]
) -> tuple[dict[str, Any], str]:
    count = fixture["count"]
    rates = {name: rate(r["count"], r["seconds"]) for name, r in rows.items()}
    pycose = rates["cert/pycose"]
    out_rows: list[list[object]] = []
    results: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    labels = {
        "uncached": "verify_bundle (no cache)",
        "cached": "BundleVerifier.verify (checkpoint once)",
    }

    def add(name: str, label: str, ed: str, vs_floor: float | None, vs_pycose: float) -> None:
        r = rows[name]
        out_rows.append(
            [
                label,
                ed,
                f"{r['count']:,}",
                fmt_rate(rates[name]),
                "-" if vs_floor is None else fmt_ratio(vs_floor),
                fmt_ratio(vs_pycose),
                f"{r['peak_rss_mib']:.0f} MiB",
                "-" if r["vm_hwm_mib"] is None else f"{r['vm_hwm_mib']:.0f} MiB",
            ]
        )
        results[name] = {
            **r,
            "per_second": rates[name],
            "vs_floor": vs_floor,
            "vs_pycose_certificate": vs_pycose,
        }

    for case, case_label in CASES.items():
        for mode in ("uncached", "cached"):
            name = f"{case}/{mode}"
            per_key = fixture["per_key"][name]
            ed = _ed25519_text(per_key, count)
            floor = rates[f"{name}/floor"]
            vs_floor = ratio(rates[name], floor)
            add(
                name,
                f"{case_label}: ours, {labels[mode]}",
                ed,
                vs_floor,
                ratio(rates[name], pycose),
            )
            add(
                f"{name}/floor",
                f"{case_label}: raw floor, PyNaCl x {ed}",
                ed,
                None,
                ratio(floor, pycose),
            )
            results[name]["ed25519_calls_by_key"] = per_key
            targets[name] = {"vs_floor": vs_floor, "met": vs_floor >= TARGET_VS_FLOOR}
    add(
        "cert/pycose",
        "certificate alone: pycose decode + verify",
        "1",
        ratio(pycose, rates["cert/openssl"]),
        1.0,
    )
    add(
        "cert/ours",
        "certificate alone: ours, signing.verify_sign1",
        "1",
        ratio(rates["cert/ours"], rates["cert/nacl"]),
        ratio(rates["cert/ours"], pycose),
    )
    add(
        "cert/nacl",
        "certificate alone: raw PyNaCl verify",
        "1",
        None,
        ratio(rates["cert/nacl"], pycose),
    )
    add(
        "cert/openssl",
        "certificate alone: raw OpenSSL (cryptography) verify",
        "1",
        None,
        ratio(rates["cert/openssl"], pycose),
    )
    once = {
        name: all(
            fixture["per_key"][name].get(k, 0) == 1
            for k in ("log (checkpoint)", "witness (cosignature)")
            if k in fixture["per_key"][name.replace("cached", "uncached")]
        )
        for name in ("plain/cached", "witness/cached")
    }
    met = all(t["met"] for t in targets.values())
    info = machine()
    notes = [
        "",
        f"n = bundles per pass (median of {sizes['repeat']} passes); Ed25519 = verifications "
        "per bundle ('+ k once': made once per pass, for the shared checkpoint).",
        "vs floor: our rows against the same verifications done bare with PyNaCl; pycose "
        "against OpenSSL (its backend);",
        "  verify_sign1 against PyNaCl. vs pycose: against pycose decoding and verifying the "
        "certificate's COSE_Sign1 alone.",
        f"bundle {fixture['bundle_bytes']:,} bytes ({fixture['cosigned_bundle_bytes']:,} "
        f"cosigned), certificate COSE_Sign1 {fixture['certificate_bytes']:,} bytes; query "
        f"{'/'.join(QUERY)}; fixture built in {fixture['build_seconds']:.1f} s (untimed).",
        "checkpoint signatures checked once per pass by BundleVerifier: "
        + ", ".join(f"{n}: {'yes' if ok else 'NO'}" for n, ok in once.items())
        + " (counted Ed25519 calls per key).",
    ]
    for name, t in targets.items():
        notes.append(
            f"target >= {TARGET_VS_FLOOR:.0%} of the raw floor, {name}: "
            f"{'MET' if t['met'] else 'NOT MET'} ({t['vs_floor']:.1%})"
        )
    notes += [
        "peak RSS: ru_maxrss of the fresh spawned interpreter that ran the row (it holds the "
        "row's input); on Linux it starts",
        f"  at the parent's RSS at spawn time ({fixture['parent_rss_mib']:.0f} MiB here), so "
        "VmHWM (/proc/self/status: the row's own address space) is shown beside it.",
        f"fixture builder: ru_maxrss {fixture['peak_rss_mib']:.0f} MiB (ledger, bundles and "
        "captured calls; not a measurement).",
    ]
    title = (
        f"Offline bundle verifications/s, 1 process, {info['date']}, commit {info['commit']}, "
        f"{info['cores']} cores, {info['cpu']}, Python {info['python']}, "
        f"PyNaCl {nacl.__version__}, pycose {_version('pycose')}"
    )
    text = table(
        title,
        ["row", "Ed25519", "n", "rate", "vs floor", "vs pycose", "peak RSS", "VmHWM"],
        out_rows,
    )
    text += "\n" + "\n".join(notes)
    payload = {
        "benchmark": "verify",
        "machine": info,
        "sizes": sizes,
        "query": list(QUERY),
        "bundle_bytes": fixture["bundle_bytes"],
        "cosigned_bundle_bytes": fixture["cosigned_bundle_bytes"],
        "certificate_bytes": fixture["certificate_bytes"],
        "target_vs_floor": TARGET_VS_FLOOR,
        "targets": targets,
        "target_met": met,
        "checkpoint_checked_once": once,
        "parent_rss_mib": fixture["parent_rss_mib"],
        "fixture_builder_peak_rss_mib": fixture["peak_rss_mib"],
        "fixture_build_seconds": fixture["build_seconds"],
        "rows": results,
    }
    return payload, text


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "missing"


# -- profile ---------------------------------------------------------------------------------


def _summary() -> tuple[tuple[str, Any], ...]:
    """(label, function) pairs of the profile summary; a string names a built-in (matched by
    prefix). Functions are matched by their code object, so that same-named methods of other
    classes (``CertStatus.from_cbor`` beside ``KeyEvent.from_cbor``) are not mixed in."""
    v = verify_module
    return (
        ("BundleVerifier.verify (everything)", BundleVerifier.verify),
        ("  1 decode the bundle (Bundle.from_cbor)", v._step_decode),
        ("  2+3 checkpoint + quorum (cache hit)", v._step_checkpoint),
        ("  6 inclusion (2 Merkle proofs)", v._step_inclusion),
        ("  7 key chain (delegation)", v._step_key_chain),
        ("    verify_sign1 (delegation)", (signing.verify_sign1, v._step_key_chain)),
        ("    KeyEvent.from_cbor (delegation payload)", KeyEvent.from_cbor),
        ("    check_within (delegated scope in the root's)", (check_within, v._step_key_chain)),
        ("  8 certificate signature + decode", v._step_certificate),
        ("    verify_sign1 (certificate)", (signing.verify_sign1, v._step_certificate)),
        ("    Certificate.from_cbor (decode + canonical re-encode)", Certificate.from_cbor),
        ("  9 issuing authority (scope within delegation)", v._step_authority),
        ("  10 issuing key status", v._step_key_status),
        ("  11 certificate status", v._step_cert_status),
        ("  14 scope query", v._step_query),
        ("signing.verify_sign1 (all)", signing.verify_sign1),
        ("signing.decode_sign1 (all)", signing.decode_sign1),
        ("signing.key_id (all)", signing.key_id),
        ("Scope.from_item (all)", Scope.from_item),
        ("Scope.__post_init__ (all: vocabulary + sort)", Scope.__post_init__),
        ("check_within (all)", check_within),
        ("evaluate (all)", evaluate),
        ("KeyStatus.from_cbor (all)", KeyStatus.from_cbor),
        ("CertStatus.from_cbor (all)", CertStatus.from_cbor),
        ("statusmap.verify_status (all)", statusmap.verify_status),
        ("merkle.verify_inclusion (all)", merkle.verify_inclusion),
        ("codec.encode (all: canonical re-encoding checks)", codec.encode),
        ("codec.decode (all)", codec.decode),
        ("libsodium crypto_sign_open (all)", "<built-in method _sodium.crypto_sign_open"),
    )


def _code_key(function: Any) -> tuple[str, int, str]:
    code = getattr(function, "__func__", function).__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


def _cumulative(stats: pstats.Stats, what: Any) -> float:
    """Cumulative time of a function, or of a (function, caller) pair counting only the calls
    from that caller, or the own time of the built-ins whose name starts with ``what``."""
    table_ = stats.stats  # type: ignore[attr-defined]
    if isinstance(what, str):
        return float(
            sum(
                v[2]
                for (file, _line, func), v in table_.items()
                if file == "~" and func.startswith(what)
            )
        )
    if isinstance(what, tuple):
        function, caller = what
        callers = table_.get(_code_key(function), (0, 0, 0.0, 0.0, {}))[4]
        return float(callers.get(_code_key(caller), (0, 0, 0.0, 0.0))[3])
    return float(table_.get(_code_key(what), (0, 0, 0.0, 0.0))[3])


def profile(count: int, repeat: int) -> dict[str, Any]:
    """cProfile ``BundleVerifier.verify`` over all bundles (no witnesses), ``repeat`` passes
    with a fresh verifier each, after one unprofiled pass to time the same work bare."""
    progress(f"profile: fixture of {count} bundles")
    fixture = build_fixture(count)
    bundles = fixture["bundles"]["plain"]
    policy = parse_policy(fixture["policies"]["plain"])
    query = Query(*QUERY)

    def one_pass() -> None:
        verifier = BundleVerifier(policy)
        for data in bundles:
            verifier.verify(data, at=AT, query=query)

    bare = statistics.median(_passes(repeat, one_pass))
    profiler = cProfile.Profile()
    start = perf_counter()
    profiler.enable()
    for _ in range(repeat):
        one_pass()
    profiler.disable()
    wall = (perf_counter() - start) / repeat
    stats = pstats.Stats(profiler)
    total = _cumulative(stats, BundleVerifier.verify)
    summary = [
        {"stage": label, "seconds": s, "share": s / total}
        for label, what in _summary()
        for s in [_cumulative(stats, what)]
    ]
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(20)
    return {
        "bundles": count,
        "passes": repeat,
        "bare_pass_seconds": bare,
        "profiled_pass_seconds": wall,
        "summary": summary,
        "top_tottime": buffer.getvalue(),
    }


def profile_text(result: dict[str, Any]) -> str:
    rows = [
        [s["stage"], f"{s['seconds']:.3f} s", f"{100 * s['share']:.1f}%"] for s in result["summary"]
    ]
    head = (
        f"cProfile of BundleVerifier.verify: {result['passes']} passes x {result['bundles']:,} "
        f"bundles (no witnesses); a pass takes {result['bare_pass_seconds']:.3f} s bare, "
        f"{result['profiled_pass_seconds']:.3f} s profiled (cProfile inflates Python-heavy "
        "stages). Stages nest (indented); the '(all)' rows are totals across stages."
    )
    return table(head, ["stage", "cumulative", "share"], rows) + f"\n\n{result['top_tottime']}"


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=int, default=None, help="bundles per pass")
    parser.add_argument("--repeat", type=int, default=None, help="timed passes per row")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the benchmark, cProfile BundleVerifier.verify and print the stages",
    )
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    if args.bundles is not None:
        sizes["bundles"] = args.bundles
    if args.repeat is not None:
        sizes["repeat"] = args.repeat
    if args.profile:
        result = profile(sizes["bundles"], sizes["repeat"])
        emit(
            args,
            {"benchmark": "verify-profile", "machine": machine(), **result},
            profile_text(result),
        )
        return
    fixture, rows = run(sizes, args.tmpdir)
    payload, text = report(fixture, rows, sizes)
    emit(args, payload, text)


if __name__ == "__main__":
    main()
