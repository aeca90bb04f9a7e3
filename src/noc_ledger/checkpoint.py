"""Checkpoints: C2SP tlog-checkpoint bodies in signed notes, and tlog-cosignature/v1
(spec/checkpoint.md, GUIDE D6, D7).

A checkpoint commits to the log's size and root (c2sp.org/tlog-checkpoint "Note text"), and,
in two extension lines of our own, to the time the log signed it and to the root of the
status map (spec/checkpoint.md §3). The log signs it as a note with Ed25519 under a key whose
name is the origin; witnesses append timestamped cosignatures (signature type 0x04,
c2sp.org/tlog-cosignature).

Pure: no file, clock, network or printing. The caller brings every trust parameter (origin,
log key, witness keys); times are parameters (GUIDE D11).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from noc_ledger.errors import DecodeError, EncodeError, ModelError, SignatureError
from noc_ledger.merkle import EMPTY_ROOT, HASH_SIZE
from noc_ledger.note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    NoteSignature,
    Verifier,
    check_key_name,
    decode_base64,
    decode_note,
    encode_signature_line,
    index_verifiers,
    note_key_id,
    open_note,
    sign_note,
)
from noc_ledger.signing import Signer, verify_ed25519

__all__ = [
    "COSIGNATURE_V1_HEADER",
    "MAX_TIME",
    "MIN_TIME",
    "STATUS_KEYWORD",
    "TIME_KEYWORD",
    "Checkpoint",
    "Cosignature",
    "VerifiedCheckpoint",
    "cosign",
    "cosignature_message",
    "decode_checkpoint",
    "decode_checkpoint_note",
    "encode_checkpoint",
    "open_checkpoint",
    "sign_checkpoint",
    "verify_cosignatures",
]

#: spec/checkpoint.md §3.2: the extension line carrying the log's signing time.
TIME_KEYWORD: Final = "noc-ledger-time"
#: spec/checkpoint.md §3.2: the extension line carrying the status-map root (GUIDE D7).
STATUS_KEYWORD: Final = "noc-ledger-status"
#: Keywords whose lines only this document may define (spec/checkpoint.md §3.3).
_OWN_KEYWORDS: Final = frozenset({TIME_KEYWORD, STATUS_KEYWORD})

#: c2sp.org/tlog-cosignature "Ed25519 signed message": the domain-separating header line.
COSIGNATURE_V1_HEADER: Final = "cosignature/v1"

#: Sizes and cosignature timestamps are at most 2^63 - 1 (tlog-cosignature "Format").
_MAX_U63: Final = (1 << 63) - 1
#: spec/checkpoint.md §3.2: a checkpoint's time is a signed 64-bit count of POSIX seconds.
MIN_TIME: Final = -(1 << 63)
MAX_TIME: Final = _MAX_U63

_TIMESTAMP_SIZE: Final = 8
_ED25519_SIG_SIZE: Final = 64

_SIZE: Final = re.compile(r"0|[1-9][0-9]{0,18}")
_TIME: Final = re.compile(r"0|-?[1-9][0-9]{0,18}")
_CONTROL: Final = re.compile(r"[\x00-\x1f]")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _keyword(line: str) -> str:
    return line.split(" ", 1)[0]


def _extension_problem(line: object) -> str | None:
    if not isinstance(line, str) or not line:
        return "an extension line is a non-empty string"
    if _CONTROL.search(line):
        return "an extension line contains no control character (nor newline)"
    if _keyword(line) in _OWN_KEYWORDS:
        return f"an extra {_keyword(line)} line"
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return "an extension line must be valid Unicode"
    return None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head of the log (spec/checkpoint.md §3).

    ``origin`` names the log (and is its key name); ``size`` and ``root`` are the RFC 9162
    tree of the first ``size`` entries; ``time`` is when the log signed it, in POSIX seconds;
    ``status_root`` is the root of the status map over the same entries (GUIDE D7);
    ``extensions`` are any further extension lines, signed but not interpreted.

    Raises (on construction):
        ModelError: a field breaks the rules of spec/checkpoint.md §3.
    """

    origin: str
    size: int
    root: bytes
    time: int
    status_root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            check_key_name(self.origin)
        except DecodeError as exc:
            raise ModelError(f"origin: {exc}") from None
        if type(self.size) is not int or not 0 <= self.size <= _MAX_U63:
            raise ModelError("size is an int in [0, 2^63 - 1]")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise ModelError(f"root is {HASH_SIZE} bytes")
        # spec/log.md §3.1 item 5: the tree of size 0 has one root.
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise ModelError("the root of the empty tree is SHA-256 of the empty string")
        if type(self.time) is not int or not MIN_TIME <= self.time <= MAX_TIME:
            raise ModelError("time is an int in [-2^63, 2^63 - 1]")
        if not isinstance(self.status_root, bytes) or len(self.status_root) != HASH_SIZE:
            raise ModelError(f"status_root is {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise ModelError("extensions is a tuple of strings")
        for line in self.extensions:
            problem = _extension_problem(line)
            if problem:
                raise ModelError(problem)


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified tlog-cosignature/v1 by the witness ``name`` (key ``key_id``, type 0x04).

    ``time`` is the witness's timestamp in POSIX seconds; ``signature`` the 64-byte Ed25519
    signature over :func:`cosignature_message`.
    """

    name: str
    key_id: bytes
    time: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature verified under the caller's origin and log key.

    ``note`` is the signed note exactly as received; ``text`` its body. The log's signature is
    ``log_signature``; every other signature line (cosignatures among them) is in
    ``unverified_signatures``, in note order, until :func:`verify_cosignatures` checks them.
    """

    checkpoint: Checkpoint
    text: str
    note: bytes
    log_signature: NoteSignature
    unverified_signatures: tuple[NoteSignature, ...]


# ---------------------------------------------------------------------------------------
# Body (c2sp.org/tlog-checkpoint "Note text", spec/checkpoint.md §3)


def encode_checkpoint(checkpoint: Checkpoint) -> str:
    """The checkpoint body: origin, size, base64 root, our two lines, other extensions.

    Raises:
        EncodeError: ``checkpoint`` is not a :class:`Checkpoint`.
    """
    if not isinstance(checkpoint, Checkpoint):
        raise EncodeError("not a Checkpoint")
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        _b64(checkpoint.root),
        f"{TIME_KEYWORD} {checkpoint.time}",
        f"{STATUS_KEYWORD} {_b64(checkpoint.status_root)}",
        *checkpoint.extensions,
    ]
    return "".join(line + "\n" for line in lines)


def _decode_hash(text: str, what: str) -> bytes:
    raw = decode_base64(text)
    if len(raw) != HASH_SIZE:
        raise DecodeError(f"{what} is {HASH_SIZE} bytes, got {len(raw)}")
    return raw


def decode_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint body strictly (spec/checkpoint.md §4.2).

    Raises:
        DecodeError: not a ``str`` ending in a newline; an empty line or a control
            character; an invalid origin; a size that is not canonical decimal in
            [0, 2^63 - 1]; a root or status root that is not canonical base64 of 32 bytes;
            the ``noc-ledger-time`` and ``noc-ledger-status`` lines missing, out of place,
            repeated or malformed; or a size-0 checkpoint whose root is not the empty root.
    """
    if not isinstance(body, str) or not body.endswith("\n"):
        raise DecodeError("a checkpoint body is text ending in a newline")
    lines = body[:-1].split("\n")
    # tlog-checkpoint "Note text": at least three non-empty lines; extension lines non-empty.
    if any(not line for line in lines):
        raise DecodeError("a checkpoint body has no empty line")
    if _CONTROL.search(body.replace("\n", "")):
        raise DecodeError("a checkpoint body contains no control character")
    if len(lines) < 5:
        raise DecodeError(
            f"a checkpoint body has origin, size, root, {TIME_KEYWORD} and {STATUS_KEYWORD} lines"
        )
    origin, size_text, root_text, time_line, status_line, *extensions = lines
    check_key_name(origin)
    # tlog-checkpoint item 2: ASCII decimal, no leading zeroes; the length bound in the
    # pattern also keeps int() away from Python's long-string conversion limit.
    if not _SIZE.fullmatch(size_text) or int(size_text) > _MAX_U63:
        raise DecodeError(f"size {size_text!r} is not canonical decimal in [0, 2^63 - 1]")
    root = _decode_hash(root_text, "root")
    keyword, _, value = time_line.partition(" ")
    if keyword != TIME_KEYWORD:
        raise DecodeError(f"line 4 is the {TIME_KEYWORD} line")
    if not _TIME.fullmatch(value) or not MIN_TIME <= int(value) <= MAX_TIME:
        raise DecodeError(f"{TIME_KEYWORD} {value!r} is not canonical decimal in int64 range")
    keyword, _, value2 = status_line.partition(" ")
    if keyword != STATUS_KEYWORD:
        raise DecodeError(f"line 5 is the {STATUS_KEYWORD} line")
    status_root = _decode_hash(value2, "status root")
    for line in extensions:
        problem = _extension_problem(line)
        if problem:
            raise DecodeError(problem)
    try:
        checkpoint = Checkpoint(
            origin, int(size_text), root, int(value), status_root, tuple(extensions)
        )
    except ModelError as exc:
        raise DecodeError(str(exc)) from None
    # One body per checkpoint: whatever the checks above let through must re-encode exactly.
    if encode_checkpoint(checkpoint) != body:
        raise DecodeError("checkpoint body is not in canonical form")
    return checkpoint


def decode_checkpoint_note(data: bytes) -> Checkpoint:
    """Parse a checkpoint note and its body *without verifying any signature*.

    For a log reading back checkpoints from its own store, or for tools that only inspect;
    anything that must be trusted goes through :func:`open_checkpoint` instead.

    Raises:
        DecodeError: the note (:func:`~noc_ledger.note.decode_note`) or its body
            (:func:`decode_checkpoint`) is malformed.
    """
    return decode_checkpoint(decode_note(data).text)


# ---------------------------------------------------------------------------------------
# Log signature (spec/checkpoint.md §4)


def sign_checkpoint(checkpoint: Checkpoint, log_signer: Signer) -> bytes:
    """Sign ``checkpoint`` as a note with the log's key, named by the origin (GUIDE D6).

    The caller (the log) is bound by spec/checkpoint.md §4.1: it never signs two
    inconsistent checkpoints.

    Raises:
        EncodeError: ``checkpoint`` is not a :class:`Checkpoint` or the note is too large.
        SignatureError: the signer returned a signature that does not verify.
    """
    return sign_note(encode_checkpoint(checkpoint), [(checkpoint.origin, log_signer)])


def open_checkpoint(data: bytes, *, origin: str, log_key: Verifier) -> VerifiedCheckpoint:
    """Verify a checkpoint note from the log ``origin`` under ``log_key`` (spec §4.3).

    ``origin`` and ``log_key`` come from the caller's trust policy, never from the note. The
    log signature is verified over the body bytes before the body is parsed.

    Raises:
        DecodeError: the note or the body is malformed (:func:`~noc_ledger.note.decode_note`,
            :func:`decode_checkpoint`).
        SignatureError: ``log_key`` is not a type-0x01 :class:`~noc_ledger.note.Verifier`
            named ``origin``; the note has no signature by ``log_key`` or it does not verify;
            or the body's origin line is not ``origin``.
    """
    if not isinstance(log_key, Verifier) or log_key.sig_type != SIG_TYPE_ED25519:
        raise SignatureError("log_key is an Ed25519 (type 0x01) note Verifier")
    if not isinstance(origin, str) or log_key.name != origin:
        # D6: the log's key name is the origin; a key trusted under another name is not this
        # log's key.
        raise SignatureError(f"log key name {log_key.name!r} is not the origin {origin!r}")
    verified = open_note(data, [log_key])
    checkpoint = decode_checkpoint(verified.text)
    if checkpoint.origin != origin:
        raise SignatureError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return VerifiedCheckpoint(
        checkpoint=checkpoint,
        text=verified.text,
        note=data,
        log_signature=verified.verified[0],
        unverified_signatures=verified.unverified,
    )


# ---------------------------------------------------------------------------------------
# Cosignatures (c2sp.org/tlog-cosignature, Ed25519 type 0x04; spec/checkpoint.md §5)


def cosignature_message(body: str, time: int) -> bytes:
    """The bytes a tlog-cosignature/v1 signs: ``cosignature/v1\\ntime <T>\\n`` and the body.

    c2sp.org/tlog-cosignature "Ed25519 signed message": a header line, a timestamp line in
    ASCII decimal without leading zeroes, then the whole checkpoint body with its final
    newline and without signature lines.

    Raises:
        EncodeError: ``time`` is not an int in [0, 2^63 - 1] or ``body`` is not text ending
            in a newline.
    """
    if type(time) is not int or not 0 <= time <= _MAX_U63:
        raise EncodeError("a cosignature timestamp is an int in [0, 2^63 - 1]")
    if not isinstance(body, str) or not body.endswith("\n"):
        raise EncodeError("a checkpoint body is text ending in a newline")
    return f"{COSIGNATURE_V1_HEADER}\ntime {time}\n{body}".encode()


def cosign(
    checkpoint_note: bytes, witness_name: str, witness_signer: Signer, *, time: int
) -> bytes:
    """Append a tlog-cosignature/v1 line by ``witness_signer`` to a checkpoint note.

    The line is ``— witness_name base64(key ID || u64be(time) || Ed25519 signature)`` with the
    key ID of type 0x04. This is the signing primitive only: a witness MUST first have
    verified the log's signature and the checkpoint's consistency with the largest one it
    has seen (spec/checkpoint.md §5.1), which this function does not do.

    Raises:
        DecodeError: ``checkpoint_note`` is not a well-formed note with a checkpoint body.
        EncodeError: ``witness_name`` is invalid; ``time`` is not in [0, 2^63 - 1]; the note
            already has a signature by this witness key; or the result would exceed
            :data:`~noc_ledger.note.MAX_NOTE_SIZE` or
            :data:`~noc_ledger.note.MAX_SIGNATURES`.
        SignatureError: the signer returned a signature that does not verify.
    """
    note = decode_note(checkpoint_note)
    decode_checkpoint(note.text)
    message = cosignature_message(note.text, time)
    key_id = note_key_id(witness_name, witness_signer.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
    if any(s.name == witness_name and s.key_id == key_id for s in note.signatures):
        raise EncodeError(f"the note already carries a cosignature by {witness_name}")
    if len(note.signatures) + 1 > MAX_SIGNATURES:
        raise EncodeError(f"a signed note has at most {MAX_SIGNATURES} signatures")
    signature = witness_signer.sign(message)
    verify_ed25519(witness_signer.public_key, message, signature)
    line = encode_signature_line(
        NoteSignature(witness_name, key_id, time.to_bytes(_TIMESTAMP_SIZE, "big") + signature)
    )
    data = checkpoint_note + line.encode("utf-8")
    if len(data) > MAX_NOTE_SIZE:
        raise EncodeError(f"a signed note is at most {MAX_NOTE_SIZE} bytes")
    return data


def verify_cosignatures(
    checkpoint: VerifiedCheckpoint, witnesses: Iterable[Verifier]
) -> tuple[Cosignature, ...]:
    """Verify the cosignatures of ``witnesses`` on a verified checkpoint (spec §5.2).

    Signature lines that match no witness by key name *and* key ID are ignored. A line that
    does match must be a valid cosignature: a known key whose cosignature fails fails the
    whole check (c2sp.org/signed-note "Signatures"). Whether enough witnesses cosigned, and
    recently enough, is the trust policy's decision, not this function's.

    Returns:
        The valid cosignatures, in note order (empty if no witness cosigned).

    Raises:
        SignatureError: ``checkpoint`` is not a :class:`VerifiedCheckpoint`; ``witnesses``
            is not an iterable of type-0x04 :class:`~noc_ledger.note.Verifier` objects, or
            holds two different keys with one name and key ID; or a witness's line is not
            8 + 64 bytes, has a timestamp above 2^63 - 1, or does not verify.
    """
    if not isinstance(checkpoint, VerifiedCheckpoint):
        raise SignatureError("verify_cosignatures takes a VerifiedCheckpoint (open_checkpoint)")
    known = index_verifiers(witnesses, SIG_TYPE_COSIGNATURE_V1)
    found: list[Cosignature] = []
    for sig in checkpoint.unverified_signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        # tlog-cosignature "Format": timestamped_signature = u64 timestamp || ed25519[64].
        if len(sig.signature) != _TIMESTAMP_SIZE + _ED25519_SIG_SIZE:
            raise SignatureError(f"cosignature by {sig.name} is not 8 + 64 bytes")
        timestamp = int.from_bytes(sig.signature[:_TIMESTAMP_SIZE], "big")
        if timestamp > _MAX_U63:
            raise SignatureError(f"cosignature by {sig.name} has a timestamp above 2^63 - 1")
        message = cosignature_message(checkpoint.text, timestamp)
        try:
            verify_ed25519(witness.public_key, message, sig.signature[_TIMESTAMP_SIZE:])
        except SignatureError:
            raise SignatureError(
                f"cosignature by known witness {sig.name} does not verify"
            ) from None
        found.append(Cosignature(sig.name, sig.key_id, timestamp, sig.signature[_TIMESTAMP_SIZE:]))
    return tuple(found)
