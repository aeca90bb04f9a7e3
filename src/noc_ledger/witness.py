"""The witness side of C2SP tlog-witness, pure (spec/witness.md, GUIDE D6).

A witness keeps, for each log it knows (by origin and key), the size and root of the
latest checkpoint it cosigned, and cosigns a new checkpoint only if the log signed it and it
is consistent with that stored state. This module holds the wire formats of the
``add-checkpoint`` call (request body, the 200 body of cosignature lines, the 409 body of a
tree size) and the decision function :func:`decide`; the HTTP server and the durable state
live at the edge (:mod:`noc_ledger.server.witness_http`).

Pure: no file, clock, network or printing. The caller brings the stored state, the log's
keys, the witness key and the time (GUIDE D11).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from noc_ledger.checkpoint import cosignature_message
from noc_ledger.errors import (
    ConsistencyError,
    DecodeError,
    EncodeError,
    NocLedgerError,
    SignatureError,
)
from noc_ledger.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from noc_ledger.note import (
    MAX_NOTE_SIZE,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    NoteSignature,
    Verifier,
    check_key_name,
    decode_base64,
    decode_note,
    encode_signature_line,
    note_key_id,
    open_note,
)
from noc_ledger.signing import Signer, verify_ed25519

__all__ = [
    "MAX_PROOF_LINES",
    "MAX_REQUEST_SIZE",
    "MAX_RESPONSE_SIZE",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "Cosigned",
    "Refusal",
    "Status",
    "WitnessKey",
    "WitnessedState",
    "decide",
    "decode_add_checkpoint",
    "decode_cosignature_response",
    "decode_size_response",
    "encode_add_checkpoint",
    "encode_cosignature_response",
    "encode_size_response",
    "request_origin",
]

#: c2sp.org/tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES: Final = 63
#: spec/witness.md §3.1: the old-size line (at most ``old`` SP 19 digits LF), 63 proof lines
#: of 44 base64 characters and LF, the empty line, and a note of at most MAX_NOTE_SIZE.
MAX_REQUEST_SIZE: Final = 24 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_SIZE
#: spec/witness.md §3.2: the largest 200 or 409 body a log reads from a witness.
MAX_RESPONSE_SIZE: Final = 64 * 1024
#: c2sp.org/tlog-witness: the media type of the 409 body.
SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"

_MAX_U63: Final = (1 << 63) - 1
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,18}")
_OLD_LINE: Final = re.compile(rb"old (0|[1-9][0-9]{0,18})")
_TIMESTAMP_SIZE: Final = 8
_ED25519_SIG_SIZE: Final = 64


class Status(IntEnum):
    """The HTTP status each outcome of ``add-checkpoint`` maps to (c2sp.org/tlog-witness)."""

    OK = 200
    BAD_REQUEST = 400
    FORBIDDEN = 403
    NOT_FOUND = 404
    CONFLICT = 409
    UNPROCESSABLE = 422


def _decimal(text: str, what: str) -> int:
    # Canonical ASCII decimal, no leading zeroes, at most 2^63 - 1; the length bound keeps
    # int() away from huge digit strings.
    if not _DECIMAL.fullmatch(text) or int(text) > _MAX_U63:
        raise DecodeError(f"{what} is not canonical decimal in [0, 2^63 - 1]")
    return int(text)


# ---------------------------------------------------------------------------------------
# Wire formats (spec/witness.md §3)


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """An ``add-checkpoint`` request body: the size the log believes the witness holds,
    a consistency proof from it, and the checkpoint note verbatim (unverified).

    Raises (on construction):
        EncodeError: ``old_size`` is not an int in [0, 2^63 - 1]; ``proof`` holds more than
            63 hashes or one that is not 32 bytes; ``checkpoint`` is not bytes.
    """

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def __post_init__(self) -> None:
        if type(self.old_size) is not int or not 0 <= self.old_size <= _MAX_U63:
            raise EncodeError("old size is an int in [0, 2^63 - 1]")
        if not isinstance(self.proof, tuple) or len(self.proof) > MAX_PROOF_LINES:
            raise EncodeError(f"proof is a tuple of at most {MAX_PROOF_LINES} hashes")
        if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in self.proof):
            raise EncodeError(f"every proof hash is {HASH_SIZE} bytes")
        if not isinstance(self.checkpoint, bytes):
            raise EncodeError("the checkpoint is the note's bytes")


def encode_add_checkpoint(request: AddCheckpointRequest) -> bytes:
    """The request body: ``old <size>``, one base64 hash a line, an empty line, the note.

    Raises:
        EncodeError: ``request`` is not an :class:`AddCheckpointRequest` or the body would
            exceed :data:`MAX_REQUEST_SIZE`.
    """
    if not isinstance(request, AddCheckpointRequest):
        raise EncodeError("not an AddCheckpointRequest")
    head = f"old {request.old_size}\n" + "".join(
        base64.b64encode(h).decode("ascii") + "\n" for h in request.proof
    )
    body = head.encode("ascii") + b"\n" + request.checkpoint
    if len(body) > MAX_REQUEST_SIZE:
        raise EncodeError(f"an add-checkpoint body is at most {MAX_REQUEST_SIZE} bytes")
    return body


def decode_add_checkpoint(data: bytes) -> AddCheckpointRequest:
    """Parse an ``add-checkpoint`` body strictly (spec/witness.md §3.1).

    Only the framing is checked here; the note is returned verbatim and unverified
    (:func:`decide` verifies it before reading it).

    Raises:
        DecodeError: not bytes or longer than :data:`MAX_REQUEST_SIZE`; the first line is
            not ``old`` SP canonical decimal in [0, 2^63 - 1]; a proof line is not canonical
            base64 of 32 bytes; more than 63 proof lines; no empty line before the note;
            or an empty note.
    """
    if not isinstance(data, bytes):
        raise DecodeError("an add-checkpoint body is bytes")
    if len(data) > MAX_REQUEST_SIZE:
        raise DecodeError(f"an add-checkpoint body is at most {MAX_REQUEST_SIZE} bytes")
    end = data.find(b"\n")
    if end < 0:
        raise DecodeError("an add-checkpoint body starts with an 'old <size>' line")
    match = _OLD_LINE.fullmatch(data[:end])
    if match is None or int(match.group(1)) > _MAX_U63:
        raise DecodeError("the first line is 'old' and the size in canonical decimal")
    old_size = int(match.group(1))
    proof: list[bytes] = []
    position = end + 1
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            raise DecodeError("no empty line between the proof and the checkpoint")
        line = data[position:end]
        position = end + 1
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise DecodeError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            raw = decode_base64(line.decode("ascii"))
        except (UnicodeDecodeError, DecodeError):
            raise DecodeError(f"proof line {len(proof) + 1} is not canonical base64") from None
        if len(raw) != HASH_SIZE:
            raise DecodeError(f"proof line {len(proof) + 1} is not a {HASH_SIZE}-byte hash")
        proof.append(raw)
    note = data[position:]
    if not note:
        raise DecodeError("an add-checkpoint body ends with the checkpoint note")
    return AddCheckpointRequest(old_size, tuple(proof), note)


def encode_cosignature_response(signatures: Sequence[NoteSignature]) -> bytes:
    """The 200 body: one note signature line per cosignature, each ending in LF.

    Raises:
        EncodeError: no signature, or one that cannot be written as a line.
    """
    if isinstance(signatures, NoteSignature) or not signatures:
        raise EncodeError("a 200 body holds one or more signature lines")
    return "".join(encode_signature_line(s) for s in signatures).encode("utf-8")


def decode_cosignature_response(data: bytes) -> tuple[NoteSignature, ...]:
    """Parse a 200 body into its signature lines, none of them verified.

    Raises:
        DecodeError: not bytes, over :data:`MAX_RESPONSE_SIZE`, empty, or not a sequence of
            well-formed note signature lines (c2sp.org/signed-note, as in a note's
            signature block) each ending in LF.
    """
    if not isinstance(data, bytes):
        raise DecodeError("a witness response is bytes")
    if len(data) > MAX_RESPONSE_SIZE:
        raise DecodeError(f"a witness response is at most {MAX_RESPONSE_SIZE} bytes")
    if not data:
        raise DecodeError("a witness response holds at least one signature line")
    if data.startswith(b"\n") or b"\n\n" in data:
        raise DecodeError("a witness response has no empty line")
    # The signature block of a note is exactly this grammar: parse it as one, after a
    # placeholder text, so that both sides share one strict parser.
    return decode_note(b"-\n\n" + data).signatures


def encode_size_response(size: int) -> bytes:
    """The 409 body: the witness's size in decimal and LF (content type ``text/x.tlog.size``).

    Raises:
        EncodeError: ``size`` is not an int in [0, 2^63 - 1].
    """
    if type(size) is not int or not 0 <= size <= _MAX_U63:
        raise EncodeError("a size is an int in [0, 2^63 - 1]")
    return f"{size}\n".encode("ascii")


def decode_size_response(data: bytes) -> int:
    """Parse a 409 body.

    Raises:
        DecodeError: not canonical decimal in [0, 2^63 - 1] followed by one LF.
    """
    if not isinstance(data, bytes) or len(data) > 21 or not data.endswith(b"\n"):
        raise DecodeError("a size response is a decimal and a newline")
    try:
        text = data[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("a size response is ASCII") from None
    return _decimal(text, "the size")


def request_origin(request: AddCheckpointRequest) -> str:
    """The origin line of the request's checkpoint, *unverified*: only to pick the log's key
    and the stored state (spec/witness.md §4 step 2).

    Raises:
        DecodeError: the checkpoint is not a well-formed note, or its first line is not a
            valid origin.
    """
    text = decode_note(request.checkpoint).text
    return check_key_name(text.split("\n", 1)[0])


# ---------------------------------------------------------------------------------------
# The decision (spec/witness.md §4)


@dataclass(frozen=True, slots=True)
class WitnessedState:
    """What a witness stores for one origin: the latest checkpoint it cosigned.

    ``size`` and ``root`` are that checkpoint's; ``time`` is the timestamp of the latest
    cosignature it made for this origin; ``checkpoint`` the note as received.
    """

    origin: str
    size: int
    root: bytes
    time: int
    checkpoint: bytes


@dataclass(frozen=True, slots=True)
class WitnessKey:
    """The witness's identity: its key name and an Ed25519 signer.

    Raises (on construction):
        EncodeError: the name is not a valid key name.
    """

    name: str
    signer: Signer

    def __post_init__(self) -> None:
        try:
            check_key_name(self.name)
        except DecodeError as exc:
            raise EncodeError(str(exc)) from None

    @property
    def verifier(self) -> Verifier:
        """The witness's type-0x04 verifier (its vkey is ``verifier.encode()``)."""
        return Verifier.for_key(self.name, self.signer.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)


@dataclass(frozen=True, slots=True)
class Cosigned:
    """The witness cosigns: persist ``state`` (atomically with the check), then answer 200
    with ``body`` (the cosignature line)."""

    state: WitnessedState
    cosignature: NoteSignature
    body: bytes
    status: Status = Status.OK


@dataclass(frozen=True, slots=True)
class Refusal:
    """The witness refuses: answer ``status`` with ``reason``; persist nothing.

    For a 409 on the old size, ``size`` is the stored size to send back as
    ``text/x.tlog.size``; otherwise it is None.
    """

    status: Status
    reason: str
    size: int | None = None

    @property
    def body(self) -> bytes:
        if self.size is not None:
            return encode_size_response(self.size)
        return (self.reason + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Body:
    origin: str
    size: int
    root: bytes


def _parse_body(text: str) -> _Body:
    """The checkpoint body's first three lines (c2sp.org/tlog-checkpoint "Note text");
    extension lines must be non-empty and are signed but not interpreted."""
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise DecodeError("a checkpoint has origin, size and root lines and no empty line")
    origin = check_key_name(lines[0])
    size = _decimal(lines[1], "the checkpoint size")
    root = decode_base64(lines[2])
    if len(root) != HASH_SIZE:
        raise DecodeError(f"the root is {HASH_SIZE} bytes")
    if size == 0 and root != EMPTY_ROOT:
        raise DecodeError("the root of the empty tree is SHA-256 of the empty string")
    return _Body(origin, size, root)


def decide(
    request: AddCheckpointRequest,
    *,
    log_keys: Sequence[Verifier],
    stored: WitnessedState | None,
    witness: WitnessKey,
    time: int,
) -> Cosigned | Refusal:
    """Decide an ``add-checkpoint`` request (spec/witness.md §4, c2sp.org/tlog-witness).

    ``log_keys`` are the type-0x01 keys the witness trusts for the request's origin (empty:
    an unknown log); ``stored`` is the witness's state for that origin (None: never
    cosigned); ``time`` is the witness's clock, in POSIX seconds. The caller must run this
    and persist a :class:`Cosigned` result's state in one atomic step, before replying.

    Steps, in the order the outcomes are decided: unknown origin 404; no valid signature by
    a trusted key 403; a malformed checkpoint 400; old size above the checkpoint's 400; old
    size not the stored size 409 (with the stored size); a proof that does not verify (or
    is not empty when it must be) 422; equal sizes with another root 409. Otherwise the
    cosignature's timestamp is ``max(time, stored.time)``, so a witness's timestamps for
    one log never go backwards.

    Returns:
        :class:`Cosigned` or :class:`Refusal`; never raises for bad input in ``request``.

    Raises:
        EncodeError: ``time`` is not in [0, 2^63 - 1], or ``stored`` is for another origin
            (caller bugs, not request faults).
        SignatureError: the witness signer returned a signature that does not verify.
    """
    if type(time) is not int or not 0 <= time <= _MAX_U63:
        raise EncodeError("the witness's time is an int in [0, 2^63 - 1]")
    # Step 1: the origin picks the log; it is taken from the unverified text only for that.
    try:
        note = decode_note(request.checkpoint)
        origin = check_key_name(note.text.split("\n", 1)[0])
    except DecodeError as exc:
        return Refusal(Status.BAD_REQUEST, f"malformed checkpoint note: {exc}")
    if stored is not None and stored.origin != origin:
        raise EncodeError("the stored state is for another origin")
    keys = [k for k in log_keys if isinstance(k, Verifier) and k.sig_type == SIG_TYPE_ED25519]
    if not keys:
        return Refusal(Status.NOT_FOUND, f"unknown log {origin!r}")
    # Step 2: the log's signature over the bytes received, before the body is parsed.
    # Signatures by other keys are ignored (c2sp.org/tlog-witness).
    try:
        opened = open_note(request.checkpoint, keys)
    except SignatureError as exc:
        return Refusal(Status.FORBIDDEN, f"not signed by the log: {exc}")
    # Step 3: the body.
    try:
        body = _parse_body(opened.text)
    except DecodeError as exc:
        return Refusal(Status.BAD_REQUEST, f"malformed checkpoint: {exc}")
    if body.origin != origin:  # unreachable: the same first line; kept for clarity
        return Refusal(Status.BAD_REQUEST, "origin mismatch")
    # Step 4: the old size is at most the new one.
    if request.old_size > body.size:
        return Refusal(
            Status.BAD_REQUEST,
            f"old size {request.old_size} is above the checkpoint size {body.size}",
        )
    # Step 5: the old size is the stored size (0 if none): the log must prove consistency
    # from what this witness has seen, not from what it chooses.
    stored_size = 0 if stored is None else stored.size
    if request.old_size != stored_size:
        return Refusal(
            Status.CONFLICT,
            f"old size {request.old_size} is not the witnessed size {stored_size}",
            size=stored_size,
        )
    # Step 6: consistency with the stored root.
    if request.old_size in (0, body.size) and request.proof:
        return Refusal(
            Status.UNPROCESSABLE, "the consistency proof must be empty for this old size"
        )
    if stored is not None and stored.size == body.size:
        if stored.root != body.root:
            # The log signed two different trees of one size: a fork.
            return Refusal(Status.CONFLICT, f"another root for the witnessed size {body.size}")
    elif stored is not None and stored.size > 0:
        try:
            verify_consistency(
                size1=stored.size,
                size2=body.size,
                proof=request.proof,
                root1=stored.root,
                root2=body.root,
            )
        except ConsistencyError as exc:
            return Refusal(Status.UNPROCESSABLE, f"consistency proof: {exc}")
    # Step 7: cosign. Timestamps never go backwards for one log (spec/witness.md §5).
    timestamp = time if stored is None else max(time, stored.time)
    message = cosignature_message(opened.text, timestamp)
    signature = witness.signer.sign(message)
    try:
        verify_ed25519(witness.signer.public_key, message, signature)
    except NocLedgerError:
        raise SignatureError(
            "the witness signer returned a signature that does not verify"
        ) from None
    if len(signature) != _ED25519_SIG_SIZE:  # pragma: no cover - verify_ed25519 checks it
        raise SignatureError("the witness signature is not 64 bytes")
    key_id = note_key_id(witness.name, witness.signer.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
    cosignature = NoteSignature(
        witness.name, key_id, timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature
    )
    state = WitnessedState(origin, body.size, body.root, timestamp, request.checkpoint)
    return Cosigned(state, cosignature, encode_cosignature_response([cosignature]))
