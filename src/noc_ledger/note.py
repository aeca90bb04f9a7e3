"""C2SP signed notes (c2sp.org/signed-note), Ed25519 only (spec/checkpoint.md §2, GUIDE D6).

A signed note is a UTF-8 text ending in a newline, a blank line, and one or more signature
lines ``— <key name> base64(key ID || signature)``. This module parses notes strictly,
signs them, and verifies them against verifier keys the caller brings, in the manner of
golang.org/x/mod/sumdb/note: the signed bytes are kept verbatim, signatures by unknown keys
are recorded but never trusted, and a signature by a known key that fails to verify fails
the whole note.

Pure: no file, clock, network or printing. Signing and verification go through
:mod:`noc_ledger.signing`, the only module that touches the crypto libraries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from noc_ledger.errors import DecodeError, EncodeError, ModelError, SignatureError
from noc_ledger.signing import Signer, verify_ed25519

__all__ = [
    "KEY_ID_SIZE",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "NoteSignature",
    "UnverifiedNote",
    "VerifiedNote",
    "Verifier",
    "check_key_name",
    "decode_base64",
    "decode_note",
    "decode_verifier_key",
    "encode_signature_line",
    "encode_verifier_key",
    "index_verifiers",
    "note_key_id",
    "open_note",
    "sign_note",
]

#: c2sp.org/signed-note "Signature types": 0x01, Ed25519 over the note text.
SIG_TYPE_ED25519: Final = 0x01
#: c2sp.org/signed-note "Signature types" and c2sp.org/tlog-cosignature: 0x04, timestamped
#: Ed25519 witness cosignatures (verified by noc_ledger.checkpoint, not here).
SIG_TYPE_COSIGNATURE_V1: Final = 0x04
#: The signature types whose verifier keys this module reads and writes (both Ed25519).
_KNOWN_SIG_TYPES: Final = frozenset({SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1})

#: c2sp.org/signed-note "Signatures": the key ID is a big-endian uint32.
KEY_ID_SIZE: Final = 4
_ED25519_KEY_SIZE: Final = 32
_ED25519_SIG_SIZE: Final = 64

#: spec/checkpoint.md §2.3: the largest note accepted or produced, in bytes.
MAX_NOTE_SIZE: Final = 1 << 20
#: spec/checkpoint.md §2.3: the most signature lines accepted or produced. c2sp.org/signed-note
#: requires at least 16; golang.org/x/mod/sumdb/note stops at 100 as well.
MAX_SIGNATURES: Final = 100

#: c2sp.org/signed-note "Format": em dash (U+2014) and a space start every signature line.
_SIG_PREFIX: Final = "\u2014 "
#: ASCII control characters other than newline (c2sp.org/signed-note "Format").
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")
#: Standard base64 (RFC 4648 §4) with padding; canonicality is checked by re-encoding.
_BASE64: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEX_KEY_ID: Final = re.compile(r"[0-9a-f]{8}")


# ---------------------------------------------------------------------------------------
# Names, key IDs, base64


def check_key_name(name: object) -> str:
    """Check that ``name`` is a valid key name and return it (spec/checkpoint.md §2.1).

    c2sp.org/signed-note "Format": non-empty, no Unicode space, no plus sign; the note rules
    add valid UTF-8 and no ASCII control character.

    Raises:
        DecodeError: ``name`` is not a ``str`` obeying those rules.
    """
    if not isinstance(name, str) or not name:
        raise DecodeError("a key name is a non-empty string")
    # str.isspace covers every Unicode White_Space character (the set Go's unicode.IsSpace
    # tests), plus U+001C-U+001F, which are control characters and forbidden anyway.
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise DecodeError(f"key name {name!r} contains a space, a plus sign or a control character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DecodeError("a key name must be valid Unicode (no lone surrogates)") from None
    return name


def note_key_id(name: str, public_key: bytes, *, sig_type: int = SIG_TYPE_ED25519) -> bytes:
    """The 4-byte key ID of a note key (c2sp.org/signed-note "Signatures").

    ``SHA-256(name || 0x0A || sig_type || public_key)[:4]``. With ``sig_type`` 0x04 this is
    the tlog-cosignature key ID of an Ed25519 witness key.

    Raises:
        EncodeError: ``name`` is not a valid key name, ``sig_type`` is not a byte value, or
            ``public_key`` is not bytes (not 32 bytes for the Ed25519 types 0x01 and 0x04).
    """
    try:
        check_key_name(name)
    except DecodeError as exc:
        raise EncodeError(str(exc)) from None
    if type(sig_type) is not int or not 0 <= sig_type <= 0xFF:
        raise EncodeError("a signature type is one byte")
    if not isinstance(public_key, bytes):
        raise EncodeError("a public key is bytes")
    if sig_type in _KNOWN_SIG_TYPES and len(public_key) != _ED25519_KEY_SIZE:
        raise EncodeError("an Ed25519 public key is 32 bytes")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key)
    return digest.digest()[:KEY_ID_SIZE]


def decode_base64(text: str) -> bytes:
    """Decode canonical standard base64 with padding (RFC 4648 §4).

    Only the one encoding that :func:`base64.b64encode` would produce is accepted: no
    whitespace, no missing padding, no non-zero unused bits.

    Raises:
        DecodeError: ``text`` is not canonical base64.
    """
    if not isinstance(text, str) or not _BASE64.fullmatch(text):
        raise DecodeError("not canonical standard base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("not canonical standard base64") from None
    # Non-zero bits in the last character's unused part decode "successfully" but are a
    # second spelling of the same bytes; refuse it so that every value has one encoding.
    if base64.b64encode(raw).decode("ascii") != text:
        raise DecodeError("not canonical standard base64 (non-zero padding bits)")
    return raw


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------------------
# Verifier keys (c2sp.org/signed-note "Verifier keys"; c2sp.org/tlog-cosignature for 0x04)


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key trusted to sign notes under a name: the caller's trust configuration.

    ``sig_type`` is 0x01 (Ed25519 note signatures, a log key) or 0x04 (tlog-cosignature/v1,
    a witness key). ``key_id`` must be :func:`note_key_id` of the other three fields; the
    constructor checks it, so an instance is always self-consistent.

    Raises (on construction):
        ModelError: a field is malformed or ``key_id`` does not match.
    """

    name: str
    key_id: bytes
    public_key: bytes
    sig_type: int = SIG_TYPE_ED25519

    def __post_init__(self) -> None:
        try:
            check_key_name(self.name)
        except DecodeError as exc:
            raise ModelError(str(exc)) from None
        if type(self.sig_type) is not int or self.sig_type not in _KNOWN_SIG_TYPES:
            raise ModelError(f"unsupported signature type {self.sig_type!r} (0x01 or 0x04)")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != _ED25519_KEY_SIZE:
            raise ModelError("an Ed25519 public key is 32 bytes")
        expected = note_key_id(self.name, self.public_key, sig_type=self.sig_type)
        if self.key_id != expected:
            raise ModelError("key ID does not match the name, signature type and public key")

    @classmethod
    def for_key(cls, name: str, public_key: bytes, *, sig_type: int = SIG_TYPE_ED25519) -> Verifier:
        """The verifier of ``public_key`` under ``name``, computing its key ID.

        Raises:
            ModelError: the name, key or type is invalid.
        """
        try:
            key_id = note_key_id(name, public_key, sig_type=sig_type)
        except EncodeError as exc:
            raise ModelError(str(exc)) from None
        return cls(name, key_id, public_key, sig_type)

    def encode(self) -> str:
        """This key as a verifier key string (see :func:`encode_verifier_key`)."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.sig_type]) + self.public_key)}"


def encode_verifier_key(name: str, public_key: bytes, *, sig_type: int = SIG_TYPE_ED25519) -> str:
    """``name+hex(key ID)+base64(sig_type || public_key)`` (c2sp.org/signed-note).

    The key ID is written as 8 lowercase hex digits.

    Raises:
        EncodeError: the name is invalid, ``sig_type`` is not 0x01 or 0x04, or the key is
            not 32 bytes.
    """
    if type(sig_type) is not int or sig_type not in _KNOWN_SIG_TYPES:
        raise EncodeError(f"unsupported signature type {sig_type!r} (0x01 or 0x04)")
    note_key_id(name, public_key, sig_type=sig_type)  # validates name and key
    return Verifier.for_key(name, public_key, sig_type=sig_type).encode()


def decode_verifier_key(text: str) -> Verifier:
    """Parse a verifier key ``name+hex(key ID)+base64(type || key)`` strictly.

    Accepted: signature type 0x01 (Ed25519) or 0x04 (tlog-cosignature/v1 Ed25519), a
    32-byte key, a key ID of exactly 8 lowercase hex digits equal to the one recomputed from
    name, type and key, and canonical base64. The name ends at the first ``+`` (names
    contain none; the base64 part may).

    Raises:
        DecodeError: anything else (spec/checkpoint.md §2.2).
    """
    if not isinstance(text, str):
        raise DecodeError("a verifier key is a string")
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise DecodeError("a verifier key is name+keyid+keydata")
    name, key_id_hex, key_data = parts
    check_key_name(name)
    # Lowercase only: the one spelling our encoder writes (Go also parses uppercase).
    if not _HEX_KEY_ID.fullmatch(key_id_hex):
        raise DecodeError("a verifier key's key ID is 8 lowercase hex digits")
    raw = decode_base64(key_data)
    if len(raw) != 1 + _ED25519_KEY_SIZE:
        raise DecodeError("a verifier key's data is a type byte and a 32-byte Ed25519 key")
    sig_type, public_key = raw[0], raw[1:]
    if sig_type not in _KNOWN_SIG_TYPES:
        raise DecodeError(f"unsupported signature type 0x{sig_type:02x} (0x01 or 0x04)")
    key_id = bytes.fromhex(key_id_hex)
    if key_id != note_key_id(name, public_key, sig_type=sig_type):
        raise DecodeError("a verifier key's key ID does not match its name, type and key")
    return Verifier(name, key_id, public_key, sig_type)


# ---------------------------------------------------------------------------------------
# Notes


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, and the signature bytes after the key ID.

    For tlog-cosignature/v1 lines ``signature`` is the 8-byte timestamp followed by the
    64-byte Ed25519 signature.
    """

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class UnverifiedNote:
    """A note parsed by :func:`decode_note`, *no signature checked*: trust nothing in it."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """A note opened by :func:`open_note`.

    ``verified`` holds the signatures by the caller's verifiers (at least one, all of which
    verified); ``unverified`` the signatures by keys the caller did not name, kept in note
    order and never trusted.
    """

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def encode_signature_line(signature: NoteSignature) -> str:
    """``— name base64(key_id || signature)`` and a newline (c2sp.org/signed-note "Format").

    Raises:
        EncodeError: the name is invalid, the key ID is not 4 bytes or the signature empty.
    """
    try:
        check_key_name(signature.name)
    except DecodeError as exc:
        raise EncodeError(str(exc)) from None
    if not isinstance(signature.key_id, bytes) or len(signature.key_id) != KEY_ID_SIZE:
        raise EncodeError("a key ID is 4 bytes")
    if not isinstance(signature.signature, bytes) or not signature.signature:
        raise EncodeError("a signature is non-empty bytes")
    return f"{_SIG_PREFIX}{signature.name} {_b64(signature.key_id + signature.signature)}\n"


def _decode_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise DecodeError("a signature line starts with an em dash and a space")
    name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    if not space:
        raise DecodeError("a signature line is '— name signature'")
    check_key_name(name)
    raw = decode_base64(encoded)
    # 4 bytes of key ID and at least one byte of signature (signed-note "Format").
    if len(raw) <= KEY_ID_SIZE:
        raise DecodeError("a signature is a 4-byte key ID and at least one signature byte")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def decode_note(data: bytes) -> UnverifiedNote:
    """Parse a signed note strictly, *without verifying any signature* (spec §2.4).

    Use it to inspect or extend a note (for example to cosign it); trust nothing in the
    result until :func:`open_note` (or :func:`noc_ledger.checkpoint.open_checkpoint`) has
    checked it.

    Raises:
        DecodeError: ``data`` is not bytes; longer than :data:`MAX_NOTE_SIZE`; not valid
            UTF-8; contains an ASCII control character other than newline; has no blank line;
            has no signature line, more than :data:`MAX_SIGNATURES`, or a malformed one
            (prefix, name, non-canonical base64, fewer than 5 bytes); ends without a newline;
            or has two signature lines with the same key name and key ID.
    """
    if not isinstance(data, bytes):
        raise DecodeError("a signed note is bytes")
    if len(data) > MAX_NOTE_SIZE:
        raise DecodeError(f"a signed note is at most {MAX_NOTE_SIZE} bytes")
    try:
        # Strict UTF-8 (no overlongs or surrogates), so text.encode() gives back the bytes.
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("a signed note is valid UTF-8") from None
    if _CONTROL.search(decoded):
        raise DecodeError("a signed note contains no control character other than newline")
    # signed-note "Format": the text is separated from the signatures by the *last* empty
    # line; the text keeps its final newline, the blank line belongs to neither.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise DecodeError("a signed note has a blank line before its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise DecodeError("a signed note ends with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise DecodeError(f"a signed note has at most {MAX_SIGNATURES} signatures")
    signatures = tuple(_decode_signature_line(line) for line in lines)
    seen: set[tuple[str, bytes]] = set()
    for sig in signatures:
        # Two lines for one (name, key ID) would leave open which one a reader believes;
        # our writers never produce them (spec §2.4 step 9).
        if (sig.name, sig.key_id) in seen:
            raise DecodeError(f"two signatures by key {sig.name}+{sig.key_id.hex()}")
        seen.add((sig.name, sig.key_id))
    return UnverifiedNote(text, signatures)


def _check_text(text: object) -> bytes:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise EncodeError("a note text is a string ending in a newline")
    if _CONTROL.search(text):
        raise EncodeError("a note text contains no control character other than newline")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError("a note text must be valid Unicode (no lone surrogates)") from None


def index_verifiers(
    verifiers: Iterable[Verifier], sig_type: int
) -> dict[tuple[str, bytes], Verifier]:
    """Index the caller's verifiers of one signature type by (key name, key ID).

    Raises:
        SignatureError: ``verifiers`` is not an iterable of :class:`Verifier` objects, one
            has another signature type, or two different keys share a name and key ID.
    """
    if isinstance(verifiers, Verifier | str | bytes) or not isinstance(verifiers, Iterable):
        raise SignatureError("verifiers must be an iterable of Verifier objects")
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        if not isinstance(verifier, Verifier):
            raise SignatureError("verifiers must be an iterable of Verifier objects")
        if verifier.sig_type != sig_type:
            raise SignatureError(
                f"verifier {verifier.name} has signature type 0x{verifier.sig_type:02x}, "
                f"expected 0x{sig_type:02x}"
            )
        key = (verifier.name, verifier.key_id)
        if key in known and known[key] != verifier:
            # A (name, key ID) collision inside the trust configuration: which key is meant
            # cannot be decided, so nothing is trusted.
            raise SignatureError(f"two different verifier keys for {verifier.name}")
        known[key] = verifier
    return known


def open_note(data: bytes, verifiers: Iterable[Verifier]) -> VerifiedNote:
    """Parse and verify a signed note against the caller's Ed25519 (type 0x01) verifiers.

    spec/checkpoint.md §2.5, after c2sp.org/signed-note "Signatures": a signature whose key
    name *and* key ID match a verifier is verified over the note text bytes exactly; one that
    fails fails the whole note. Signatures matching no verifier (even if they share the name
    or the key ID, but not both) are returned as ``unverified``. At least one signature by a
    verifier must be present.

    Raises:
        DecodeError: as :func:`decode_note`.
        SignatureError: ``verifiers`` is not an iterable of type-0x01 :class:`Verifier`
            objects or holds two different keys with one name and key ID; a known key's
            signature is not 64 bytes or does not verify; or no known key signed the note.
    """
    note = decode_note(data)
    known = index_verifiers(verifiers, SIG_TYPE_ED25519)
    message = note.text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            unverified.append(sig)
            continue
        if len(sig.signature) != _ED25519_SIG_SIZE:
            raise SignatureError(f"signature by {sig.name} is not a 64-byte Ed25519 signature")
        try:
            verify_ed25519(verifier.public_key, message, sig.signature)
        except SignatureError:
            raise SignatureError(f"signature by known key {sig.name} does not verify") from None
        verified.append(sig)
    if not verified:
        raise SignatureError("the note carries no signature by a known key")
    return VerifiedNote(note.text, tuple(verified), tuple(unverified))


def sign_note(text: str, signers: Sequence[tuple[str, Signer]]) -> bytes:
    """Sign ``text`` with each (key name, signer) and return the signed note bytes.

    Each signature is Ed25519 (type 0x01) over the UTF-8 bytes of ``text`` exactly, and is
    checked against the signer's public key before the note is returned (spec/signing.md §3
    step 4).

    Raises:
        EncodeError: ``text`` does not end in a newline, contains a control character other
            than newline or is not valid Unicode; ``signers`` is empty, holds more than
            :data:`MAX_SIGNATURES` entries, an invalid key name, or two entries with the same
            name and key; or the note would exceed :data:`MAX_NOTE_SIZE` bytes.
        SignatureError: a signer returned a signature that does not verify.
    """
    message = _check_text(text)
    if isinstance(signers, str | bytes) or not isinstance(signers, Sequence):
        raise EncodeError("signers is a sequence of (key name, signer) pairs")
    if not signers:
        raise EncodeError("a signed note has at least one signature")
    if len(signers) > MAX_SIGNATURES:
        raise EncodeError(f"a signed note has at most {MAX_SIGNATURES} signatures")
    lines: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for entry in signers:
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise EncodeError("signers is a sequence of (key name, signer) pairs")
        name, signer = entry
        key_id = note_key_id(name, signer.public_key)
        if (name, key_id) in seen:
            raise EncodeError(f"key {name}+{key_id.hex()} appears twice")
        seen.add((name, key_id))
        signature = signer.sign(message)
        # A faulty signer must not produce a note that verifiers later reject.
        verify_ed25519(signer.public_key, message, signature)
        lines.append(encode_signature_line(NoteSignature(name, key_id, signature)))
    data = message + b"\n" + "".join(lines).encode("utf-8")
    if len(data) > MAX_NOTE_SIZE:
        raise EncodeError(f"a signed note is at most {MAX_NOTE_SIZE} bytes")
    return data
