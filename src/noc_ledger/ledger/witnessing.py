"""The log side of C2SP tlog-witness: collect cosignatures, publish on quorum
(spec/witness.md §7-§8).

:func:`collect_cosignatures` asks every configured witness to cosign one checkpoint, with
the old size it believes the witness holds and a consistency proof from it (on a 409 it
retries once from the size the witness reports), verifies every cosignature it gets back
against that witness's key, and returns the checkpoint with the valid cosignatures
appended — only if they meet the quorum. A witness that is down, refuses, or answers with
anything but a valid cosignature by its own key over this very checkpoint counts for
nothing, with the reason reported. :func:`publish` then writes the cosigned checkpoint
for the read path.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from noc_ledger.bundle import MAX_BUNDLE_SIZE, Bundle
from noc_ledger.checkpoint import open_checkpoint, verify_cosignatures
from noc_ledger.errors import DecodeError, NocLedgerError, StorageError, WitnessError
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.tiles_export import export_tiles
from noc_ledger.note import (
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    NoteSignature,
    Verifier,
    decode_note,
    encode_signature_line,
)
from noc_ledger.witness import (
    MAX_RESPONSE_SIZE,
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    decode_cosignature_response,
    decode_size_response,
    encode_add_checkpoint,
)

__all__ = [
    "CHECKPOINT_FILE",
    "Cosigned",
    "ProofSource",
    "Quorum",
    "QuorumNotMetError",
    "Threshold",
    "WitnessEndpoint",
    "WitnessOutcome",
    "collect_cosignatures",
    "publish",
    "with_checkpoint",
]

#: The published checkpoint's name in a read-path directory (c2sp.org/tlog-tiles).
CHECKPOINT_FILE: Final = "checkpoint"
_PATH: Final = "/add-checkpoint"


class ProofSource(Protocol):
    """Where consistency proofs come from: :class:`~noc_ledger.ledger.ledger.Ledger` is one."""

    def prove_consistency(self, size1: int, size2: int) -> list[bytes]: ...


class Quorum(Protocol):
    """Decides whether a set of witness names is enough: a
    :class:`~noc_ledger.policy.TrustPolicy` is one, :class:`Threshold` another."""

    def quorum_satisfied(self, witness_names: Iterable[str]) -> bool: ...


@dataclass(frozen=True, slots=True)
class Threshold:
    """At least ``k`` distinct witnesses (of those asked) must cosign.

    Raises (on construction):
        WitnessError: ``k`` is not a positive int.
    """

    k: int

    def __post_init__(self) -> None:
        if type(self.k) is not int or self.k < 1:
            raise WitnessError("a witness threshold is a positive integer")

    def quorum_satisfied(self, witness_names: Iterable[str]) -> bool:
        return len(set(witness_names)) >= self.k


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness the log asks: its submission prefix URL and its type-0x04 key.

    Raises (on construction):
        WitnessError: the URL is not http(s) or the key is not a cosignature (0x04) key.
    """

    url: str
    verifier: Verifier

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise WitnessError(f"witness URL {self.url!r} is not http:// or https://")
        if not isinstance(self.verifier, Verifier) or (
            self.verifier.sig_type != SIG_TYPE_COSIGNATURE_V1
        ):
            raise WitnessError("a witness key is a cosignature (type 0x04) verifier key")

    @property
    def name(self) -> str:
        return self.verifier.name


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    """What one witness did: ``ok`` with its verified ``cosignature``, or why not.

    ``size`` is the size the witness is now known to hold for this log (the checkpoint's on
    success, the one it reported on a 409), or None if unknown; a caller may keep it to send
    the right old size next time.
    """

    name: str
    url: str
    ok: bool
    reason: str
    cosignature: NoteSignature | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Cosigned:
    """A checkpoint that met the quorum: ``note`` is the log's note with the valid
    cosignatures appended; ``outcomes`` say what each witness did."""

    note: bytes
    size: int
    witnesses: tuple[str, ...]
    outcomes: tuple[WitnessOutcome, ...]


class QuorumNotMetError(WitnessError):
    """Too few witnesses cosigned; ``outcomes`` say what each one did."""

    def __init__(self, message: str, outcomes: Sequence[WitnessOutcome]) -> None:
        super().__init__(message)
        self.outcomes = tuple(outcomes)


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    content_type: str
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A witness answers itself: a redirect is a refusal (its 3xx status), never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER: Final = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, timeout: float) -> _Reply:
    """POST ``body``; any HTTP status is a reply.

    Bounded in size (at most :data:`MAX_RESPONSE_SIZE` bytes are read) and in time (each
    socket operation within ``timeout``, the whole body within ``timeout`` after the
    headers).

    Raises:
        OSError: no reply (refused, unreachable, timed out) or a body over the limit.
    """
    request = urllib.request.Request(  # noqa: S310 - WitnessEndpoint allows http(s) only
        url.rstrip("/") + _PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        response = _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        response = exc
    with response:
        status = int(response.status if response.status is not None else 0)
        content_type = response.headers.get("Content-Type", "") if response.headers else ""
        deadline = time.monotonic() + timeout
        data = bytearray()
        while True:
            chunk = response.read1(MAX_RESPONSE_SIZE + 1 - len(data))
            if not chunk:
                break
            data += chunk
            # One byte more than allowed tells an oversized body from a full one.
            if len(data) > MAX_RESPONSE_SIZE:
                raise OSError(f"the response is over {MAX_RESPONSE_SIZE} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError("the response took longer than the timeout")
    return _Reply(status, content_type, bytes(data))


def _ask(
    endpoint: WitnessEndpoint,
    note: bytes,
    size: int,
    old_size: int,
    proofs: ProofSource,
    timeout: float,
    log_key: Verifier,
) -> WitnessOutcome:
    """Ask one witness; never raises (every failure is an outcome)."""

    def fail(reason: str, known: int | None = None) -> WitnessOutcome:
        return WitnessOutcome(endpoint.name, endpoint.url, False, reason, None, known)

    old = old_size
    for attempt in (1, 2):
        if old > size:
            return fail(f"the witness holds size {old}, beyond this checkpoint ({size})", old)
        try:
            proof = () if old in (0, size) else tuple(proofs.prove_consistency(old, size))
            body = encode_add_checkpoint(AddCheckpointRequest(old, proof, note))
        except NocLedgerError as exc:
            return fail(f"cannot build the request from size {old}: {exc}")
        try:
            reply = _post(endpoint.url, body, timeout)
        except urllib.error.URLError as exc:  # refused, unreachable, timed out connecting
            return fail(f"unreachable: {exc.reason}")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return fail(f"no valid reply: {exc}")
        if reply.status == 409 and reply.content_type.split(";")[0].strip() == SIZE_CONTENT_TYPE:
            try:
                reported = decode_size_response(reply.body)
            except DecodeError as exc:
                return fail(f"409 with a malformed size: {exc}")
            if attempt == 2:
                return fail(f"409 again: the witness now holds size {reported}", reported)
            # spec/witness.md §7 step 3: retry once from the size the witness reports.
            old = reported
            continue
        if reply.status != 200:
            text = reply.body[:200].decode("utf-8", "replace").strip()
            return fail(f"refused with HTTP {reply.status}: {text}")
        return _check_reply(endpoint, note, size, reply.body, log_key)
    raise AssertionError("unreachable")  # pragma: no cover


def _check_reply(
    endpoint: WitnessEndpoint, note: bytes, size: int, body: bytes, log_key: Verifier
) -> WitnessOutcome:
    """Keep the one line by this witness's key, and only if it verifies over this note."""
    try:
        lines = decode_cosignature_response(body)
    except DecodeError as exc:
        return WitnessOutcome(endpoint.name, endpoint.url, False, f"malformed response: {exc}")
    v = endpoint.verifier
    mine = [s for s in lines if s.name == v.name and s.key_id == v.key_id]
    if not mine:
        # Lines by other keys are ignored (c2sp.org/tlog-witness); none by this one is a
        # failure.
        return WitnessOutcome(
            endpoint.name, endpoint.url, False, "no cosignature by the witness's key"
        )
    line = mine[0]
    try:
        # Verify the line over this very note, exactly as a relying party will
        # (spec/checkpoint.md §5.2): a cosignature over another checkpoint, or by another
        # key under this witness's name, fails here.
        candidate = note + encode_signature_line(line).encode("utf-8")
        opened = open_checkpoint(candidate, origin=log_key.name, log_key=log_key)
        if not verify_cosignatures(opened, [v]):  # pragma: no cover - the line is present
            raise WitnessError("the cosignature was not found")
    except NocLedgerError as exc:
        return WitnessOutcome(
            endpoint.name, endpoint.url, False, f"invalid cosignature (lying witness?): {exc}"
        )
    return WitnessOutcome(endpoint.name, endpoint.url, True, "cosigned", line, size)


def collect_cosignatures(
    checkpoint_note: bytes,
    witnesses: Sequence[WitnessEndpoint],
    proofs: ProofSource,
    quorum: Quorum,
    *,
    log_key: Verifier,
    timeout: float = 10.0,
    known_sizes: Mapping[str, int] | None = None,
) -> Cosigned:
    """Collect cosignatures on ``checkpoint_note`` and return it cosigned if the quorum is
    met (spec/witness.md §7).

    ``log_key`` is the log's own key: the note is opened with it first, so the size the
    proofs are built for comes from a verified checkpoint. ``known_sizes`` maps witness
    names to the size each is believed to hold (default 0, which a witness corrects with a
    409). Witnesses are asked in parallel, each with ``timeout`` seconds per HTTP call.

    Raises:
        DecodeError, SignatureError: ``checkpoint_note`` is not a checkpoint signed by
            ``log_key``.
        WitnessError: two endpoints share a witness name, or too many witnesses.
        QuorumNotMetError: the valid cosignatures do not meet ``quorum``; nothing is
            returned to publish. Its message and ``outcomes`` list each witness's result.
    """
    opened = open_checkpoint(checkpoint_note, origin=log_key.name, log_key=log_key)
    size = opened.checkpoint.size
    names = [w.name for w in witnesses]
    if len(set(names)) != len(names):
        raise WitnessError("two witness endpoints have the same name")
    existing = decode_note(checkpoint_note).signatures
    if len(existing) + len(witnesses) > MAX_SIGNATURES:
        raise WitnessError(f"a note has at most {MAX_SIGNATURES} signatures")
    sizes = dict(known_sizes or {})
    if witnesses:
        with ThreadPoolExecutor(max_workers=min(16, len(witnesses))) as pool:
            futures = [
                pool.submit(
                    _ask, w, checkpoint_note, size, sizes.get(w.name, 0), proofs, timeout, log_key
                )
                for w in witnesses
            ]
            outcomes = tuple(f.result() for f in futures)
    else:
        outcomes = ()
    present = {(s.name, s.key_id) for s in existing}
    lines = [
        o.cosignature
        for o in outcomes
        if o.ok
        and o.cosignature is not None
        and (o.cosignature.name, o.cosignature.key_id) not in present
    ]
    cosigned = checkpoint_note + "".join(encode_signature_line(s) for s in lines).encode("utf-8")
    # Check the result as a relying party would, with every asked witness's key.
    verified = verify_cosignatures(
        open_checkpoint(cosigned, origin=log_key.name, log_key=log_key),
        [w.verifier for w in witnesses],
    )
    good = tuple(sorted({c.name for c in verified}))
    if not quorum.quorum_satisfied(good):
        report = "; ".join(f"{o.name}: {o.reason}" for o in outcomes) or "no witness configured"
        raise QuorumNotMetError(
            f"witness quorum not met for size {size} (cosigned by: "
            f"{', '.join(good) or 'none'}) — {report}",
            outcomes,
        )
    return Cosigned(cosigned, size, good, outcomes)


def with_checkpoint(bundle: bytes, checkpoint_note: bytes) -> bytes:
    """The bundle with its checkpoint replaced by the same checkpoint carrying more
    signature lines (its cosignatures), everything else unchanged (spec/bundle.md §2).

    The new note must *extend* the bundle's: the same bytes (the body and the log's
    signature) followed by further signature lines, so every proof in the bundle still
    holds. Nothing is verified here; a verifier checks the whole bundle.

    Raises:
        DecodeError: ``bundle`` does not decode, ``checkpoint_note`` is not a note that
            extends the bundle's checkpoint, or the result exceeds the bundle size limit.
    """
    decoded = Bundle.from_cbor(bundle)
    decode_note(checkpoint_note)
    if not checkpoint_note.startswith(decoded.checkpoint):
        raise DecodeError(
            "the cosigned checkpoint is not the bundle's checkpoint with more signature lines"
        )
    result = Bundle(
        decoded.certificate,
        decoded.key_chain,
        checkpoint_note,
        decoded.certificate_status,
        decoded.key_status,
    ).to_cbor()
    if len(result) > MAX_BUNDLE_SIZE:
        raise DecodeError(f"the bundle would exceed {MAX_BUNDLE_SIZE} bytes")
    return result


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish(
    cosigned: Cosigned,
    out_dir: str | Path,
    *,
    ledger: Ledger | None = None,
    log_key: Verifier | None = None,
) -> Path:
    """Publish a checkpoint that met its quorum for the read path (spec/witness.md §8).

    With ``ledger``, the tiles of the checkpoint's tree are written by
    :func:`~noc_ledger.ledger.tiles_export.export_tiles` (which checks the checkpoint against
    the ledger, with ``log_key`` if given, refuses rollbacks and forks, and writes the
    checkpoint last). Without it only ``out_dir/checkpoint`` is written, atomically
    (temporary file, fsync, rename). Only a :class:`Cosigned` is accepted: a checkpoint below
    quorum has no way here to be published.

    Returns:
        The path of the published checkpoint file.

    Raises:
        WitnessError: ``cosigned`` is not a :class:`Cosigned`.
        StorageError: the directory cannot be written.
        InconsistencyError, SignatureError, OutOfRangeError: as ``export_tiles``.
    """
    if not isinstance(cosigned, Cosigned):
        raise WitnessError("only a checkpoint that met its witness quorum is published")
    directory = Path(out_dir)
    if ledger is not None:
        export_tiles(ledger, directory, checkpoint=cosigned.note, log_key=log_key)
        return directory / CHECKPOINT_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(directory / CHECKPOINT_FILE, cosigned.note)
    except OSError as exc:
        raise StorageError(f"cannot publish to {directory}: {exc.strerror or exc}") from None
    return directory / CHECKPOINT_FILE
