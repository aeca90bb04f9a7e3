"""Every vector of ``vectors/`` checked by a second implementation written from ``spec/``.

Nothing here imports ``noc_ledger`` or ``tools``: the point is to show that a verifier can
be written from the spec text and the vectors alone. What is used instead:

* encoding.md §5: a strict byte walker (well-formedness, canonical form, limits), written
  here; cbor2 only reads values *after* the walker has accepted the bytes, and a small
  canonical encoder written here re-encodes them (§3) as a cross-check;
* signing.md §4, §5: the nine verification steps in order, the RFC 9679 thumbprint built
  by hand, Ed25519 by ``tests/ed25519_reference.py`` (OpenSSL plus explicit point checks),
  and pycose (``tests/independent_cose.py``) as a third opinion on valid documents;
* certificate.md §2-§6: the payload model, the scope rules, queries and the subset rule,
  over cbor2's values and the vocabulary JSON;
* log.md §3-§5: RFC 9162 tree hashing, proof generation and verification;
* events.md §2-§3: status-event and key-event payloads, shape before values;
* checkpoint.md §2-§5: the C2SP signed-note parser and opener, verifier keys, the strict
  checkpoint body, tlog-cosignature/v1 (type 0x04), Ed25519 again by the reference above;
* revocation.md §2-§3: the sparse Merkle tree from its items, proof generation (§3.2),
  the one encoding (§3.3) and verification (§3.4);
* events.md §3.3-§5 and revocation.md §6: a replay of whole logs that recomputes every
  tree root, every record of the status map and every status root from the entries;
* policy.md §3-§7: the trust-policy parser (every failure PolicyError), the canonical form
  and the quorum rule;
* bundle.md §2-§3 and verification.md §2-§3: bundle decoding and the fourteen steps, each
  failing with the class it names, mapped to the verdicts of §2; bundles are also built
  here from replayed logs (checkpoint signed with the log test key, every proof generated
  by this file) to reach the steps no vector reaches.

Every failure is reported with the class the spec names for it, and a rejected vector must
fail with exactly its ``expect`` class: encoding.md §6 (every failure: DecodeError),
signing.md §4 (DecodeError for steps 1, 2 and 4, SignatureError for steps 3 and 5-8),
certificate.md §2.4 (payloads: DecodeError for bytes and shape, ModelError for values),
§3.9 and §6 (ModelError), log.md §4.2 and §5.2 (InclusionError, ConsistencyError),
checkpoint.md §6 (DecodeError, SignatureError), revocation.md §3.4 (StatusProofError). The
few places where the text leaves the class to interpretation are marked "§2.4 reading" or
"§6 reading" below, with the text they follow.

Readings where the spec text is open (the vectors decide none of them unless stated):

* events.md §5 names no error class. From the log vectors: a kid naming no delegated key
  is SignatureError, a scope beyond the delegation ScopeError, a duplicate certificate and
  an event after a terminal state TransitionError. By kind, here: a key whose record does
  not allow the index, a time outside the delegation's window, a key event not signed by
  the root, a presentation in the log: SignatureError; a delegation beyond the root's
  scope: ScopeError; every other refusal of §3.1-§3.2, §4.2, §4.3: TransitionError.
* events.md §5 item 3 checks ``issued_at`` / ``decided at`` against the window; §3.1 says
  "effective and issue times". Only the §5 times are checked here.
* events.md §4.3 "a later instrument": the order of certificate.md §3.2's CDDL.
* events.md §4.2/§4.4: a suspension or reinstatement of grants is a transition (history,
  since and index updated, reason kept); "suspend (whole)" applies to an active
  certificate with suspended grants and keeps the list (§4.2: "A whole suspension of a
  certificate with suspended grants keeps the list"), so a record in state ``suspended``
  may carry key 7, although §4.4's CDDL comment says "(state active)"; a terminal event or
  a supersession clears the list (§4.2 does not say); the record's reason is the event's.
* events.md §2: the activities of key 7 are any text (a status event names no vocabulary);
  §4.2's table: a grant suspension must name activities of grants of the certificate
  (TransitionError otherwise).
* events.md §3: "(delegate: required)" fields missing are ModelError (the
  key-delegate-without-scope vector); fields of the other kind are not refused.
* checkpoint.md §3.3/§4.2 "control character": U+0000-U+001F, as in the note grammar.

Readings of verification.md §3 and bundle.md (no vector decides them):

* "Each step raises exactly the error class named": in step 3 a known witness's bad
  cosignature is QuorumError (checkpoint.md §5.2 would say SignatureError); in step 7
  every failure of the link, envelope and payload included, is KeyChainError; in step 8
  every failure of the certificate's envelope (signing.md §4 steps 1-8) is SignatureError
  and only the payload's are DecodeError / ModelError; in steps 10 and 11 an absent record,
  a record that does not decode or one naming another index is StatusProofError (a "proof
  problem").
* Step 2: the note is decoded first (a malformed note: DecodeError), then the first line of
  its text selects the log key (none: SignatureError), then the checkpoint body is parsed.
* bundle.md §3 "an element of the wrong type": a status proof is decoded at step 1 by
  revocation.md §3.3 (DecodeError), its size and nesting limits counted from the proof
  itself; the sizes of inclusion-proof hashes (`[* bstr]`) are left to step 6.
* bundle.md §2 "exactly one link": a chain of 2 to 8 links decodes and fails step 7.
* Step 7 also applies events.md §3.1's "valid until MUST be after effective at".
* Step 14: a grant is suspended when its activity (key 0) is in the record's key 7, read
  only when `at` is at or after the record's `since` (before it, the state comes from the
  history, which keeps no grant lists); the result names the matching grants that are not
  suspended, and the conditions precedent of those grants only.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.ed25519_reference import verify_strict_reference
from tests.independent_cose import pycose_verify

ROOT: Final = Path(__file__).resolve().parent.parent
VECTORS: Final = ROOT / "vectors"
VOCABULARY_FILE: Final = ROOT / "src" / "noc_ledger" / "vocabulary" / "activities-1.json"

# The number of files per folder, so that a lost or added vector is noticed.
EXPECTED_COUNTS: Final = {
    "certificate": 30,
    "checkpoint": 8,
    "encoding": 36,
    "events": 10,
    "keys": 6,
    "log": 5,
    "merkle": 30,
    "scope": 24,
    "statusmap": 10,
    "verify": 23,
}

DECODE: Final = "DecodeError"
SIGNATURE: Final = "SignatureError"
MODEL: Final = "ModelError"
INCLUSION: Final = "InclusionError"
CONSISTENCY: Final = "ConsistencyError"
STATUS_PROOF: Final = "StatusProofError"
TRANSITION: Final = "TransitionError"
SCOPE: Final = "ScopeError"


class VerifyError(Exception):
    """A verification failure of the class ``cls`` (a vector ``expect`` value)."""

    def __init__(self, cls: str, reason: str) -> None:
        super().__init__(f"{cls}: {reason}")
        self.cls = cls
        self.reason = reason


def fail(cls: str, reason: str) -> NoReturn:
    raise VerifyError(cls, reason)


# --------------------------------------------------------------------------------------
# encoding.md: strict decoding (§5), canonical encoding (§3), diagnostic notation
# --------------------------------------------------------------------------------------

DEFAULT_MAX_SIZE: Final = 1_048_576
DEFAULT_MAX_DEPTH: Final = 16
_MIN_FOR_AI: Final = {24: 24, 25: 256, 26: 65_536, 27: 2**32}


@dataclass(frozen=True)
class Profile:
    """What a position allows: encoding.md §4 limits and §2 tags."""

    max_size: int = DEFAULT_MAX_SIZE
    max_depth: int = DEFAULT_MAX_DEPTH
    outer_tags: frozenset[int] = frozenset()  # tags allowed on the outermost item only
    any_tag: bool = False  # RFC 8949 §4.2.1 form only: tags anywhere (criterion 4)


STRICT: Final = Profile()
ANY_TAG: Final = Profile(any_tag=True)


def _argument(data: bytes, pos: int) -> tuple[int, int, int]:
    """(major type, argument, offset after the head); §5 steps 3 and 4."""
    if pos >= len(data):
        fail(DECODE, "input ends inside an item")
    initial = data[pos]
    major, ai = initial >> 5, initial & 0x1F
    pos += 1
    if ai < 24:
        return major, ai, pos
    if ai in (28, 29, 30):
        fail(DECODE, f"reserved additional information {ai}")
    if ai == 31:
        fail(DECODE, "indefinite length or break")
    width = 1 << (ai - 24)
    if pos + width > len(data):
        fail(DECODE, "input ends inside an argument")
    value = int.from_bytes(data[pos : pos + width], "big")
    if major != 7 and value < _MIN_FOR_AI[ai]:
        fail(DECODE, f"argument {value} not in shortest form")
    return major, value, pos + width


def _walk(data: bytes, pos: int, depth: int, profile: Profile) -> int:
    """Check one item at ``pos`` (§5 steps 3-9); return the offset after it."""
    if depth > profile.max_depth:
        fail(DECODE, f"nesting deeper than {profile.max_depth}")
    start = pos
    major, arg, pos = _argument(data, pos)
    remaining = len(data) - pos
    if major in (0, 1):
        return pos
    if major in (2, 3):
        if arg > remaining:
            fail(DECODE, "string longer than the input")
        end = pos + arg
        if major == 3:
            try:
                data[pos:end].decode("utf-8", errors="strict")
            except UnicodeDecodeError:
                fail(DECODE, "text string is not valid UTF-8")
        return end
    if major == 4:
        if arg > remaining:
            fail(DECODE, "array claims more items than bytes remain")
        for _ in range(arg):
            pos = _walk(data, pos, depth + 1, profile)
        return pos
    if major == 5:
        if 2 * arg > remaining:
            fail(DECODE, "map claims more entries than bytes remain")
        previous: bytes | None = None
        for _ in range(arg):
            if pos >= len(data):
                fail(DECODE, "input ends inside a map")
            if data[pos] >> 5 not in (0, 1, 3):
                fail(DECODE, "map key is not an integer or text string")
            key_end = _walk(data, pos, depth + 1, profile)
            key = data[pos:key_end]
            if previous is not None and not key > previous:
                fail(DECODE, "map keys not in strictly ascending bytewise order")
            previous = key
            pos = _walk(data, key_end, depth + 1, profile)
        return pos
    if major == 6:
        allowed = profile.any_tag or (depth == 0 and arg in profile.outer_tags)
        if not allowed:
            fail(DECODE, f"tag {arg} not allowed at offset {start}")
        return _walk(data, pos, depth + 1, profile)
    # major 7: only false, true, null (§5 step 5); floats and other simple values fail.
    if data[start] not in (0xF4, 0xF5, 0xF6):
        fail(DECODE, f"major type 7 item {data[start]:#04x} not in the profile")
    return pos


def check_canonical(data: bytes, profile: Profile = STRICT) -> None:
    """encoding.md §5: raise VerifyError(DecodeError) unless ``data`` is one canonical item."""
    if len(data) > profile.max_size:  # step 1, before reading
        fail(DECODE, f"input longer than {profile.max_size} bytes")
    end = _walk(data, 0, 0, profile)
    if end != len(data):  # step 10
        fail(DECODE, f"{len(data) - end} bytes after the item")


def first_item(data: bytes) -> bytes:
    """The bytes of the first (canonical) item of ``data``, ignoring what follows."""
    return data[: _walk(data, 0, 0, ANY_TAG)]


def plain(value: Any) -> Any:
    """cbor2 6.x values as lists and dicts (it returns tuples and frozendicts in tags)."""
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    return value


def strict_loads(data: bytes, profile: Profile = STRICT) -> Any:
    """Strict check by the walker, then cbor2 for the value, re-encoded as a cross-check."""
    check_canonical(data, profile)
    value = cbor2.loads(data)
    assert encode(value) == data, "walker and re-encoder disagree (bug in this file)"
    return value


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for ai, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | ai]) + n.to_bytes(width, "big")
    raise ValueError("argument above 2**64 - 1")


def encode(value: Any) -> bytes:
    """encoding.md §3: the core deterministic encoding (bytewise key order)."""
    if value is False:
        return b"\xf4"
    if value is True:
        return b"\xf5"
    if value is None:
        return b"\xf6"
    if type(value) is int:
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, Mapping):
        entries = sorted((encode(k), encode(v)) for k, v in value.items())
        keys = [k for k, _ in entries]
        assert len(set(keys)) == len(keys), "duplicate map key"
        return _head(5, len(entries)) + b"".join(k + v for k, v in entries)
    if isinstance(value, cbor2.CBORTag):
        return _head(6, value.tag) + encode(value.value)
    raise TypeError(f"not in the profile: {type(value).__name__}")


def diagnostic(value: Any) -> str:
    """RFC 8949 §8 diagnostic notation, in the layout the vectors use."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    if isinstance(value, bytes):
        return f"h'{value.hex()}'"
    if isinstance(value, str):
        # §8: text strings as JSON strings; non-ASCII written as itself.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(diagnostic(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{diagnostic(k)}: {diagnostic(v)}" for k, v in value.items()) + "}"
    if isinstance(value, cbor2.CBORTag):
        return f"{value.tag}({diagnostic(value.value)})"
    raise TypeError(f"no diagnostic notation for {type(value).__name__}")


# --------------------------------------------------------------------------------------
# signing.md: key ids (§5) and verification of a signed document (§4)
# --------------------------------------------------------------------------------------

CERTIFICATE_TYPE: Final = "application/vnd.noc-ledger.certificate+cbor"
CONTENT_TYPES: Final = frozenset(
    {
        CERTIFICATE_TYPE,
        "application/vnd.noc-ledger.status-event+cbor",
        "application/vnd.noc-ledger.key-event+cbor",
        "application/vnd.noc-ledger.presentation+cbor",
    }
)
SIGNED_DOCUMENT: Final = Profile(max_size=65_535, outer_tags=frozenset({18}))
PROTECTED_HEADER: Final = Profile(max_size=1_024, max_depth=4)


def thumbprint_input(public_key: bytes) -> bytes:
    """§5: {1: 1, -1: 6, -2: x}, written byte by byte."""
    assert len(public_key) == 32
    return bytes.fromhex("a301012006215820") + public_key


def key_id(public_key: bytes) -> bytes:
    return hashlib.sha256(thumbprint_input(public_key)).digest()


def _bstr(data: bytes) -> bytes:
    return _head(2, len(data)) + data


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """§2.1: ["Signature1", protected as received, h'', payload as received]."""
    return bytes.fromhex("846a5369676e617475726531") + _bstr(protected) + b"\x40" + _bstr(payload)


@dataclass(frozen=True)
class Sign1:
    """A COSE_Sign1 after signing.md §4 steps 1-5 (nothing verified yet)."""

    protected: bytes
    header: dict[int, Any]
    payload: bytes
    signature: bytes

    @property
    def content_type(self) -> str:
        content_type: str = self.header[3]
        return content_type

    @property
    def kid(self) -> bytes:
        kid: bytes = self.header[4]
        return kid


def open_sign1(data: bytes) -> Sign1:
    """signing.md §4 steps 1-5, which need no key: what a log reads to choose the key."""
    # 1. Strict decoding, size limit 65,535, tag 18 allowed (outermost only, §2 item 1).
    item = strict_loads(data, SIGNED_DOCUMENT)
    # 2. Tag 18 around [bstr, map, bstr, bstr].
    if not (isinstance(item, cbor2.CBORTag) and item.tag == 18):
        fail(DECODE, "not tag 18")
    parts = plain(item.value)
    if not (isinstance(parts, list) and len(parts) == 4):
        fail(DECODE, "tag 18 content is not an array of four")
    protected, unprotected, payload, signature = parts
    types_ok: bool = (
        isinstance(protected, bytes)
        and isinstance(unprotected, dict)
        and isinstance(payload, bytes)
        and isinstance(signature, bytes)
    )
    if not types_ok:
        fail(DECODE, "COSE_Sign1 element of the wrong type")
    # 3. Empty unprotected map, 64-byte signature.
    if unprotected:
        fail(SIGNATURE, "unprotected header is not empty")
    if len(signature) != 64:
        fail(SIGNATURE, "signature is not 64 bytes")
    # 4. The protected bytes: strict, a map, depth at most 4 (and at most 1,024 bytes, §2).
    header = plain(strict_loads(protected, PROTECTED_HEADER))
    if not isinstance(header, dict):
        fail(DECODE, "protected header is not a map")
    # 5. Closed allow-list {1, 3, 4}; alg -19; a known content type; a 32-byte kid.
    if set(header) != {1, 3, 4} or not all(type(k) is int for k in header):
        fail(SIGNATURE, f"protected header labels {sorted(header, key=repr)} are not 1, 3, 4")
    if type(header[1]) is not int or header[1] != -19:
        fail(SIGNATURE, f"alg {header[1]!r} is not -19")
    if not (isinstance(header[3], str) and header[3] in CONTENT_TYPES):
        fail(SIGNATURE, f"unknown content type {header[3]!r}")
    if not (isinstance(header[4], bytes) and len(header[4]) == 32):
        fail(SIGNATURE, "kid is not a 32-byte string")
    return Sign1(protected, header, payload, signature)


def verify_signed(data: bytes, expected_type: str, public_key: bytes) -> bytes:
    """signing.md §4 steps 1-8; returns the payload bytes for step 9."""
    doc = open_sign1(data)
    # 6. The expected kind.
    if doc.content_type != expected_type:
        fail(SIGNATURE, f"content type {doc.content_type} is not {expected_type}")
    # 7. kid = key id of the trusted key.
    if doc.kid != key_id(public_key):
        fail(SIGNATURE, "kid is not the key id of the trusted key")
    # 8. Strict Ed25519 over the Sig_structure.
    message = sig_structure(doc.protected, doc.payload)
    if not verify_strict_reference(public_key, message, doc.signature):
        fail(SIGNATURE, "Ed25519 signature does not verify (strict rule)")
    return doc.payload


# --------------------------------------------------------------------------------------
# certificate.md: vocabulary (§4.1), scope (§4), queries (§6), subset (§5), payload (§3)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    id: str
    kinds: Mapping[str, str]  # activity id -> "preparatory" / "operating"
    customer_types: frozenset[str]

    def descendants_or_self(self, activity: str) -> frozenset[str]:
        # §4.1: ids are dotted paths; the parent of a.b.c is a.b.
        return frozenset(a for a in self.kinds if a == activity or a.startswith(activity + "."))

    def covered(self, grant: Mapping[int, Any]) -> frozenset[str]:
        """§4.2: descendants-or-self(a) minus those of every exclusion."""
        out = set(self.descendants_or_self(grant[0]))
        for excluded in grant.get(1, []):
            out -= self.descendants_or_self(excluded)
        return frozenset(out)


def load_vocabulary() -> Vocabulary:
    data = json.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))
    return Vocabulary(
        id=data["id"],
        kinds={a["id"]: a["kind"] for a in data["activities"]},
        customer_types=frozenset(c["id"] for c in data["customer_types"]),
    )


VOCABULARY: Final = load_vocabulary()

TOKEN: Final = re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}")
REGION: Final = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
UNIT: Final = re.compile(r"[A-Z]{3}|[a-z][a-z0-9_]{0,31}")
LEI: Final = re.compile(r"[A-Z0-9]{18}[0-9]{2}")
DNS_LABEL: Final = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_BIDI: Final = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))
# §2.3: "the characters whose Unicode White_Space property is true" (PropList.txt; this
# is not Python's str.isspace, which adds U+001C-U+001F).
WHITE_SPACE: Final = frozenset(
    "\t\n\v\f\r \u0085\u00a0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)
TIME_LIMIT: Final = 2**63
INSTRUMENTS: Final = frozenset(
    {"noc", "in_principle_approval", "provisional_licence", "licence", "registration"}
)
EDGE_KINDS: Final = frozenset({"upgrades", "supersedes"})
NOT_AN_OPERATING_LICENCE: Final = "not-an-operating-licence"


def lei_checksum_ok(lei: str) -> bool:
    """§3.4: ISO 7064 MOD 97-10, letters A = 10 … Z = 35."""
    digits = "".join(str(int(ch, 36)) for ch in lei)
    return int(digits) % 97 == 1


# certificate.md §2.4 divides payload failures in two. The helpers below follow it: a
# value of the wrong CBOR type, a missing or unlisted map key, an unsupported version and
# an array out of its prescribed order are DecodeError (the shape of the CDDL); every rule
# a value of the right type can break is ModelError.


def _map(value: Any, required: set[int], optional: set[int], where: str) -> dict[int, Any]:
    """A closed map of the CDDL: §2.4, not a map / missing key / unlisted key = DecodeError."""
    if not isinstance(value, dict):
        fail(DECODE, f"{where}: not a map")
    for key in value:
        if type(key) is not int or key not in required | optional:
            fail(DECODE, f"{where}: key {key!r} not in the CDDL (maps are closed)")
    for key in sorted(required):
        if key not in value:
            fail(DECODE, f"{where}: missing key {key}")
    return value


def _str(value: Any, where: str) -> str:
    """A tstr of the CDDL; §2.4: another CBOR type is DecodeError."""
    if not isinstance(value, str):
        fail(DECODE, f"{where}: not a text string")
    return value


def _array(value: Any, where: str) -> list[Any]:
    """A present array: §2.2 item 1 (an empty one is omitted, so never empty)."""
    if not isinstance(value, list):
        fail(DECODE, f"{where}: not an array")
    if not value:
        fail(MODEL, f"{where}: array present but empty (§2.2 item 1, §2.4)")
    return value


def _set_key(item: Any) -> Any:
    """§2.2 item 2: text by code point, bytes bytewise, maps by their encoding."""
    if isinstance(item, str | bytes):
        return item
    return encode(item)


def _set(value: Any, where: str, check: Callable[[Any, str], None]) -> list[Any]:
    """§2.2 item 2 set: unsorted is DecodeError, a duplicate ModelError (§2.4)."""
    items = _array(value, where)
    for i, item in enumerate(items):
        check(item, f"{where}[{i}]")
    for i in range(1, len(items)):
        a, b = _set_key(items[i - 1]), _set_key(items[i])
        if type(a) is not type(b):
            fail(DECODE, f"{where}: elements of different CBOR types")
        if a == b:
            fail(MODEL, f"{where}: duplicate element {items[i]!r} in a set (§2.4)")
        if a > b:
            fail(DECODE, f"{where}: set not in ascending order (§2.2 item 2, §2.4)")
    return items


def _text(max_len: int = 256, multiline: bool = False) -> Callable[[Any, str], None]:
    """§2.3 text: not a tstr is DecodeError, a broken text rule ModelError (§2.4)."""

    def check(value: Any, where: str) -> None:
        _str(value, where)
        if not value:
            fail(MODEL, f"{where}: empty text")
        if value[0] in WHITE_SPACE or value[-1] in WHITE_SPACE:
            fail(MODEL, f"{where}: leading or trailing white space")
        if len(value) > max_len:
            fail(MODEL, f"{where}: longer than {max_len} code points")
        for ch in value:
            o = ord(ch)
            if (o < 0x20 or 0x7F <= o <= 0x9F) and not (multiline and ch == "\n"):
                fail(MODEL, f"{where}: control character U+{o:04X}")
            if o in _BIDI:
                fail(MODEL, f"{where}: bidi control U+{o:04X}")

    return check


def _pattern(pattern: re.Pattern[str], what: str) -> Callable[[Any, str], None]:
    """A `tstr .regexp`: §2.4 "a malformed token, code, domain or key" is ModelError."""

    def check(value: Any, where: str) -> None:
        if not pattern.fullmatch(_str(value, where)):
            fail(MODEL, f"{where}: {value!r} is not a {what}")

    return check


def _one_of(values: frozenset[str], what: str) -> Callable[[Any, str], None]:
    """A choice of text literals (instrument §3.2, edge-kind §3.8).

    §2.4 reading: the DecodeError list (missing or unlisted key, wrong CBOR type,
    unsupported format version, order) does not include a text string outside a literal
    choice; it is a value of the right type that breaks a rule, so ModelError, as for "a
    malformed token, code". Only the format version is named as a DecodeError literal.
    """

    def check(value: Any, where: str) -> None:
        if _str(value, where) not in values:
            fail(MODEL, f"{where}: unknown {what} {value!r}")

    return check


#: certificate.md §4.5: the closed list of limit metrics.
METRICS: Final = frozenset(
    {
        "per_transaction",
        "per_client_daily",
        "per_client_monthly",
        "client_assets_total",
        "client_count",
    }
)


def _uint_below(value: Any, limit: int, where: str) -> int:
    """`uint .lt limit`: not a uint (bool, negative: major type 1) is DecodeError (wrong
    CBOR type); a uint not below ``limit`` is ModelError (§2.4 "a time out of range")."""
    if type(value) is not int or value < 0:
        fail(DECODE, f"{where}: not an unsigned integer")
    if value >= limit:
        fail(MODEL, f"{where}: {value} is not below {limit}")
    return value


def _bstr32(what: str) -> Callable[[Any, str], None]:
    """`bstr .size 32`: not a bstr is DecodeError; another size ModelError (§2.4 "a
    malformed ... key"; by the same reading for an edge's target id, §3.8)."""

    def check(value: Any, where: str) -> None:
        if not isinstance(value, bytes):
            fail(DECODE, f"{where}: not a byte string")
        if len(value) != 32:
            fail(MODEL, f"{where}: {what} of {len(value)} bytes, not 32")

    return check


def _domain(value: Any, where: str) -> None:
    """§3.4 domain; §2.4: a malformed domain is ModelError."""
    labels = _str(value, where).split(".")
    if len(value) > 253:
        fail(MODEL, f"{where}: domain longer than 253 characters")
    if len(labels) < 2 or not all(DNS_LABEL.fullmatch(label) for label in labels):
        fail(MODEL, f"{where}: {value!r} is not a lowercase DNS name of two or more labels")


_REGION: Final = _pattern(REGION, "region code")
_TOKEN: Final = _pattern(TOKEN, "token")
_UNIT: Final = _pattern(UNIT, "unit")


def check_territory(value: Any, where: str) -> dict[int, Any]:
    """§4 territory and §4.3 (rule failures: ModelError, §2.4 "an invalid scope")."""
    t = _map(value, {0}, {1}, where)
    included = _set(t[0], f"{where}.include", _REGION)
    excluded = _set(t[1], f"{where}.exclude", _REGION) if 1 in t else []
    for r in included:
        if "-" in r and r[:2] in included:
            fail(MODEL, f"{where}: {r} included together with its country")
    for e in excluded:
        if "-" not in e or e[:2] not in included:
            fail(MODEL, f"{where}: excluded {e} is not a subdivision of an included country")
    return t


def check_grant(value: Any, vocab: Vocabulary, where: str) -> dict[int, Any]:
    """§4 grant, §4.2-§4.7."""
    g = _map(value, {0, 2, 3}, {1, 4, 5, 6, 7}, where)
    activity = _str(g[0], f"{where}.activity")
    if activity not in vocab.kinds:
        fail(MODEL, f"{where}: activity {activity!r} not in {vocab.id} (§4.7)")

    def excluded_ok(e: Any, w: str) -> None:
        if _str(e, w) not in vocab.kinds:
            fail(MODEL, f"{w}: excluded activity {e!r} not in {vocab.id} (§4.7)")
        if not e.startswith(activity + "."):
            fail(MODEL, f"{w}: {e} is not a strict descendant of {activity} (§4.2)")

    def customer_ok(c: Any, w: str) -> None:
        if _str(c, w) not in vocab.customer_types:
            fail(MODEL, f"{w}: customer type {c!r} not in {vocab.id} (§4.7)")

    if 1 in g:
        _set(g[1], f"{where}.exclusions", excluded_ok)
    _set(g[2], f"{where}.customer_types", customer_ok)
    check_territory(g[3], f"{where}.territory")
    if 4 in g:
        _set(g[4], f"{where}.allow", _TOKEN)
    if 5 in g:
        _set(g[5], f"{where}.deny", _TOKEN)
    if 4 in g and 5 in g:
        fail(MODEL, f"{where}: both an allow-list and a deny-list (§4.4)")
    if 6 in g:
        previous: tuple[str, str] | None = None
        for i, limit in enumerate(_array(g[6], f"{where}.limits")):
            w = f"{where}.limits[{i}]"
            lm = _map(limit, {0, 1, 2}, set(), w)
            _TOKEN(lm[0], f"{w}.metric")
            if lm[0] not in METRICS:  # §4.5: a closed list
                fail(MODEL, f"{w}.metric: {lm[0]!r} is not a metric of §4.5")
            _UNIT(lm[1], f"{w}.unit")
            # §2.4 reading: "a time out of range" is ModelError; a maximum out of its
            # `uint .lt 2^63` range is the same kind of fault.
            _uint_below(lm[2], TIME_LIMIT, f"{w}.maximum")
            key = (lm[0], lm[1])  # text strings: Python compares by code point
            if previous is not None and key == previous:
                fail(MODEL, f"{w}: two limits with the same metric and unit (§4.5)")
            if previous is not None and key < previous:
                fail(DECODE, f"{w}: limits not sorted by (metric, unit) (§2.4)")
            previous = key
    if 7 in g:
        _set(g[7], f"{where}.conditions_precedent", _text(max_len=1024))
    return g


def check_scope(value: Any, vocab: Vocabulary, where: str = "scope") -> dict[int, Any]:
    """§4 and §4.7, with the error classes of §2.4."""
    s = _map(value, {0, 1}, set(), where)
    if _str(s[0], f"{where}.vocabulary") != vocab.id:
        fail(MODEL, f"{where}: unknown vocabulary {s[0]!r} (§3.9 rule 1, §4.7)")
    grants = _set(s[1], f"{where}.grants", lambda g, w: None)
    if len(grants) > 64:
        fail(MODEL, f"{where}: more than 64 grants (§4.7)")
    for i, grant in enumerate(grants):
        check_grant(grant, vocab, f"{where}.grants[{i}]")
    return s


@dataclass(frozen=True)
class Amount:
    value: int
    unit: str
    metric: str = "per_transaction"


@dataclass(frozen=True)
class Query:
    activity: str
    customer_type: str
    territory: str
    product: str | None = None
    amount: Amount | None = None


def territory_permits(territory: Mapping[int, Any], region: str) -> bool:
    """§6 item 3."""
    included, excluded = territory[0], territory.get(1, [])
    if region in excluded:
        return False
    if "-" not in region:  # a country: all of it must be permitted
        return region in included and not any(e[:2] == region for e in excluded if "-" in e)
    country = region[:2]
    return (region in included or country in included) and country not in excluded


def grant_permits(grant: Mapping[int, Any], query: Query, vocab: Vocabulary) -> bool:
    """§6 items 1-5."""
    if not vocab.descendants_or_self(query.activity) <= vocab.covered(grant):
        return False
    if query.customer_type not in grant[2]:
        return False
    if not territory_permits(grant[3], query.territory):
        return False
    if query.product is not None:
        if 4 in grant and query.product not in grant[4]:
            return False
        if query.product in grant.get(5, []):
            return False
    if query.amount is not None:
        for limit in grant.get(6, []):
            if limit[0] != query.amount.metric:
                continue
            if limit[1] != query.amount.unit or query.amount.value > limit[2]:
                return False
    return True


def evaluate(scope: Mapping[int, Any], query: Query, vocab: Vocabulary) -> tuple[bool, list[str]]:
    """§6: (permitted, union of the conditions precedent of the matching grants).

    §6 refuses a query (ModelError) naming an activity or customer type the scope's
    vocabulary does not define, a territory that is not a well-formed region code, or a
    product that is not a token.
    """
    if not (isinstance(query.activity, str) and query.activity in vocab.kinds):
        fail(MODEL, f"query activity {query.activity!r} not in {vocab.id}")
    if not (isinstance(query.customer_type, str) and query.customer_type in vocab.customer_types):
        fail(MODEL, f"query customer type {query.customer_type!r} not in {vocab.id}")
    if not (isinstance(query.territory, str) and REGION.fullmatch(query.territory)):
        fail(MODEL, f"query territory {query.territory!r} is not a region code")
    if query.product is not None and not (
        isinstance(query.product, str) and TOKEN.fullmatch(query.product)
    ):
        fail(MODEL, f"query product {query.product!r} is not a token")
    if query.amount is not None:
        # §6: an amount must be a uint below 2^63 with a unit of §4.5's form and a metric
        # of §4.5's closed list; otherwise the query is refused (ModelError).
        a = query.amount
        well_formed = (
            type(a.value) is int
            and 0 <= a.value < TIME_LIMIT
            and isinstance(a.unit, str)
            and UNIT.fullmatch(a.unit) is not None
            and isinstance(a.metric, str)
            and a.metric in METRICS
        )
        if not well_formed:
            fail(MODEL, f"query amount {a!r} is not (uint value, unit, metric token)")
    matching = [g for g in scope[1] if grant_permits(g, query, vocab)]
    # "the union of their conditions precedent, sorted by code point": Python orders
    # str by code point.
    conditions = sorted({c for g in matching for c in g.get(7, [])})
    return bool(matching), conditions


def territory_within(t: Mapping[int, Any], u: Mapping[int, Any]) -> bool:
    """§5.3."""
    u_inc, u_exc = set(u[0]), set(u.get(1, []))
    t_exc = set(t.get(1, []))
    for r in t[0]:
        c = r[:2]
        if r in u_exc or c in u_exc:
            return False
        if r not in u_inc and c not in u_inc:
            return False
        if "-" not in r and not {e for e in u_exc if e[:2] == r} <= t_exc:
            return False
    return True


def grant_within(g: Mapping[int, Any], h: Mapping[int, Any], vocab: Vocabulary) -> bool:
    """§5.2 items 1-6."""
    if not vocab.covered(g) <= vocab.covered(h):
        return False
    if not set(g[2]) <= set(h[2]):
        return False
    if not territory_within(g[3], h[3]):
        return False
    if 4 in h:
        if not (4 in g and set(g[4]) <= set(h[4])):
            return False
    elif 5 in h:
        allow_disjoint = 4 in g and not set(g[4]) & set(h[5])
        if not (allow_disjoint or set(g.get(5, [])) >= set(h[5])):
            return False
    g_limits = {(lm[0], lm[1]): lm[2] for lm in g.get(6, [])}
    for lm in h.get(6, []):
        y = g_limits.get((lm[0], lm[1]))
        if y is None or y > lm[2]:
            return False
    return set(g.get(7, [])) >= set(h.get(7, []))


def scope_within(inner: Mapping[int, Any], outer: Mapping[int, Any], vocab: Vocabulary) -> bool:
    """§5.1."""
    if inner[0] != outer[0]:
        return False
    return all(any(grant_within(g, h, vocab) for h in outer[1]) for g in inner[1])


def check_certificate(payload: bytes, vocab: Vocabulary) -> dict[int, Any]:
    """certificate.md §3 (with §2.2) and the rules of §3.9, on the payload bytes; error
    classes per §2.4."""
    if len(payload) > 60_000:
        fail(DECODE, "payload above 60,000 bytes (§3; §2.4 size limit)")
    cert = plain(strict_loads(payload))
    c = _map(cert, {0, 1, 2, 3, 4, 5, 6, 8}, {7, 9, 10, 11}, "certificate")
    if type(c[0]) is not int or c[0] != 1:  # §2.4: "an unsupported format version"
        fail(DECODE, f"§3.1: format version {c[0]!r} is not implemented")
    _one_of(INSTRUMENTS, "instrument")(c[1], "instrument")
    _text(max_len=64)(c[2], "certificate number")
    issuer = _map(c[3], {0, 1}, set(), "issuer")
    _text()(issuer[0], "issuer.name")
    _pattern(REGION, "jurisdiction")(issuer[1], "issuer.jurisdiction")
    subject = _map(c[4], {0}, {1, 2, 3, 4, 5}, "subject")
    _text()(subject[0], "subject.name")
    if 1 in subject:
        _pattern(LEI, "LEI")(subject[1], "subject.lei")
        if not lei_checksum_ok(subject[1]):  # §2.4: "an LEI that fails its check"
            fail(MODEL, f"§3.4: LEI {subject[1]} fails the MOD 97-10 check")
    if 2 in subject:

        def identifier(value: Any, where: str) -> None:
            ident = _map(value, {0, 1}, set(), where)
            _TOKEN(ident[0], f"{where}.scheme")
            _text(max_len=128)(ident[1], f"{where}.value")

        _set(subject[2], "subject.identifiers", identifier)
    if 3 in subject:
        _set(subject[3], "subject.trading_names", _text())
    if 4 in subject:
        _set(subject[4], "subject.domains", _domain)
    if 5 in subject:
        _set(subject[5], "subject.holder_keys", _bstr32("holder key"))
    for key, name in ((5, "issued_at"), (6, "valid_from"), (7, "valid_until")):
        if key in c:
            _uint_below(c[key], TIME_LIMIT, name)  # §2.1; §2.4 "a time out of range"
    scope = check_scope(c[8], vocab)  # §3.9 rule 1
    if 9 in c:  # in order, not a set
        for i, condition in enumerate(_array(c[9], "conditions")):
            _text(max_len=4096, multiline=True)(condition, f"conditions[{i}]")
    codes: list[str] = []
    if 10 in c:  # in order, not a set
        for i, notice in enumerate(_array(c[10], "legal_notices")):
            n = _map(notice, {0, 1}, set(), f"legal_notices[{i}]")
            _TOKEN(n[0], f"legal_notices[{i}].code")
            _text(max_len=4096, multiline=True)(n[1], f"legal_notices[{i}].text")
            codes.append(n[0])
        if len(set(codes)) != len(codes):  # §3.7, a value rule: ModelError (§2.4)
            fail(MODEL, "§3.7: two legal notices with the same code")
    kinds: list[str] = []
    if 11 in c:
        for i, edge in enumerate(_array(c[11], "edges")):
            e = _map(edge, {0, 1}, set(), f"edges[{i}]")
            _one_of(EDGE_KINDS, "edge kind")(e[0], f"edges[{i}].kind")
            _bstr32("target certificate id")(e[1], f"edges[{i}].target")
            kinds.append(e[0])
        # §3.8: sorted by the code-point order of the kind (out of order: DecodeError,
        # §2.4 "edges ... out of order"); two edges of one kind: ModelError.
        for i in range(1, len(kinds)):
            if kinds[i - 1] == kinds[i]:
                fail(MODEL, f"§3.8: two edges of kind {kinds[i]}")
            if kinds[i - 1] > kinds[i]:
                fail(DECODE, f"§3.8: edge {kinds[i]} after {kinds[i - 1]}: not sorted by kind")
    # §3.9 rules 2-5 (rule 1 above): ModelError.
    if 7 in c and not c[7] > c[6]:
        fail(MODEL, "§3.9 rule 2: valid_until is not after valid_from")
    if c[1] == "noc":
        covered: set[str] = set()
        for grant in scope[1]:
            covered |= vocab.covered(grant)
        operating = sorted(a for a in covered if vocab.kinds[a] != "preparatory")
        if operating:
            fail(MODEL, f"§3.9 rule 3: a NOC covering operating activities {operating}")
        if NOT_AN_OPERATING_LICENCE not in codes:
            fail(MODEL, "§3.9 rule 4: a NOC without the not-an-operating-licence notice")
        if "upgrades" in kinds:
            fail(MODEL, "§3.9 rule 5: a NOC with an upgrades edge")
    return c


# --------------------------------------------------------------------------------------
# log.md: RFC 9162 tree hashing (§3), proofs (§4, §5)
# --------------------------------------------------------------------------------------

EMPTY_ROOT: Final = bytes.fromhex(
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    """§3.2 item 2: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaves: list[bytes]) -> bytes:
    """§3.2 item 3, over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def inclusion_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """§4.1: PATH(m, D[0:n])."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*inclusion_path(m, leaves[:k]), mth(leaves[k:])]
    return [*inclusion_path(m - k, leaves[k:]), mth(leaves[:k])]


def consistency_proof(m: int, leaves: list[bytes], complete: bool = True) -> list[bytes]:
    """§5.1: SUBPROOF(m, D[0:n], true)."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*consistency_proof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*consistency_proof(m - k, leaves[k:], False), mth(leaves[:k])]


def _is_uint(x: Any) -> bool:
    return type(x) is int and x >= 0  # a boolean is not an integer here


def _is_hash(x: Any) -> bool:
    return isinstance(x, bytes) and len(x) == 32


def _popcount(x: int) -> int:
    return bin(x).count("1")


def verify_inclusion(index: Any, size: Any, leaf: Any, proof: Any, root: Any) -> None:
    """log.md §4.2 steps 1-7."""
    if not (_is_uint(index) and _is_uint(size) and index < size):
        fail(INCLUSION, "step 1: index and size")
    if not (_is_hash(leaf) and _is_hash(root)):
        fail(INCLUSION, "step 2: leaf hash and root must be 32 bytes")
    if not (isinstance(proof, list) and all(_is_hash(p) for p in proof)):
        fail(INCLUSION, "step 3: proof must be a list of 32-byte hashes")
    inner = (index ^ (size - 1)).bit_length()
    border = _popcount(index >> inner)
    if len(proof) != inner + border:
        fail(INCLUSION, f"step 4: {len(proof)} proof elements, expected {inner + border}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            fail(INCLUSION, "step 5: proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        fail(INCLUSION, "step 5: proof too short")
    if r != root:
        fail(INCLUSION, f"step 6: expected root {root.hex()}, computed {r.hex()}")


def verify_consistency(size1: Any, size2: Any, root1: Any, root2: Any, proof: Any) -> None:
    """log.md §5.2 steps 1-10."""
    if not (_is_uint(size1) and _is_uint(size2)):
        fail(CONSISTENCY, "step 1: sizes must be non-negative integers")
    if size1 == 0:
        fail(CONSISTENCY, "step 2: no consistency from the empty tree")
    if size1 > size2:
        fail(CONSISTENCY, "step 3: size1 > size2")
    if not (_is_hash(root1) and _is_hash(root2)):
        fail(CONSISTENCY, "step 4: roots must be 32 bytes")
    if not (isinstance(proof, list) and all(_is_hash(p) for p in proof)):
        fail(CONSISTENCY, "step 5: proof must be a list of 32-byte hashes")
    if size1 == size2:
        if proof or root1 != root2:
            fail(CONSISTENCY, "step 6: equal sizes need an empty proof and equal roots")
        return
    s = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    i, last = (size1 - 1) >> s, (size2 - 1) >> s
    inner = (i ^ last).bit_length()
    border = _popcount(i >> inner)
    start = 0 if i == 0 else 1
    if len(proof) != inner + border + start:
        fail(CONSISTENCY, f"step 7: {len(proof)} elements, expected {inner + border + start}")
    path = [root1, *proof] if i == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            fail(CONSISTENCY, "step 8: proof too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        fail(CONSISTENCY, "step 8: proof too short")
    if fr != root1:
        fail(CONSISTENCY, f"step 9: expected root1 {root1.hex()}, computed {fr.hex()}")
    if sr != root2:
        fail(CONSISTENCY, f"step 9: expected root2 {root2.hex()}, computed {sr.hex()}")


# --------------------------------------------------------------------------------------
# events.md §2-§3: status events and key events, error classes of certificate.md §2.4
# --------------------------------------------------------------------------------------

STATUS_EVENT_TYPE: Final = "application/vnd.noc-ledger.status-event+cbor"
KEY_EVENT_TYPE: Final = "application/vnd.noc-ledger.key-event+cbor"
STATUS_EVENT_KINDS: Final = frozenset(
    {"suspend", "reinstate", "revoke", "surrender", "lapse", "expire"}
)
KEY_EVENT_KINDS: Final = frozenset({"delegate", "revoke-key"})
REASON_CODES: Final = frozenset(
    {
        "aml-cft-failure",
        "breach-of-conditions",
        "false-information",
        "insolvency",
        "holder-request",
        "conditions-not-met",
        "issued-in-error",
        "key-compromise",
        "other",
    }
)
MAX_STATUS_EVENT: Final = 16_384  # events.md §2
MAX_KEY_EVENT: Final = 60_000  # events.md §3

Shape = Callable[[Any], bool]


def _is_str(x: Any) -> bool:
    return isinstance(x, str)


def _is_bytes(x: Any) -> bool:
    return isinstance(x, bytes)


def _is_map(x: Any) -> bool:
    return isinstance(x, dict)


def _is_text_array(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(a, str) for a in x)


def _check_shape(
    value: Any,
    fields: Mapping[int, Shape],
    required: set[int],
    where: str,
    versioned: bool = True,
) -> dict[int, Any]:
    """certificate.md §2.4, the DecodeError part only: a closed map, the required keys, the
    CBOR types and (``versioned``) the format version 1 at key 0. The value rules
    (ModelError) are checked after this, so that a payload of the wrong shape is a
    DecodeError whatever its values (the key-event-as-status-event vector)."""
    m = _map(value, required, set(fields) - required, where)
    for key, ok in fields.items():
        if key in m and not ok(m[key]):
            fail(DECODE, f"{where}: key {key} has the wrong CBOR type")
    if versioned and m[0] != 1:  # `0 => 1`; _is_uint above already refused a bool
        fail(DECODE, f"{where}: format version {m[0]!r} is not implemented")
    return m


def _text_set_order(value: list[str], where: str) -> None:
    """§2.2 rule 2, the order only (DecodeError); duplicates are the ModelError of _set."""
    if any(a > b for a, b in itertools.pairwise(value)):
        fail(DECODE, f"{where}: set not in ascending order")


def check_status_event(payload: bytes) -> dict[int, Any]:
    """events.md §2 (with §2.2 and certificate.md §2), classes of certificate.md §2.4."""
    if len(payload) > MAX_STATUS_EVENT:
        fail(DECODE, f"status event above {MAX_STATUS_EVENT} bytes")
    fields: dict[int, Shape] = {
        0: _is_uint,
        1: _is_str,
        2: _is_bytes,
        3: _is_uint,
        4: _is_uint,
        5: _is_str,
        6: _is_str,
        7: _is_text_array,
    }
    e = _check_shape(plain(strict_loads(payload)), fields, {0, 1, 2, 3, 4}, "status event")
    if 7 in e:
        _text_set_order(e[7], "status event.activities")
    # Values: ModelError.
    _one_of(STATUS_EVENT_KINDS, "status event kind")(e[1], "status event.kind")
    _bstr32("certificate id")(e[2], "status event.certificate")
    _uint_below(e[3], TIME_LIMIT, "status event.effective_at")
    _uint_below(e[4], TIME_LIMIT, "status event.decided_at")
    if 5 in e:
        _one_of(REASON_CODES, "reason code")(e[5], "status event.reason_code")
    if 6 in e:
        _text(max_len=4096, multiline=True)(e[6], "status event.reason")
    if 7 in e:
        # activity-id is a tstr; a status event names no vocabulary (see the report).
        _set(e[7], "status event.activities", lambda a, w: None)
    if e[1] in ("suspend", "revoke") and 5 not in e:  # §2.2 rule 1
        fail(MODEL, f"§2.2 rule 1: {e[1]} without a reason code")
    if 7 in e and e[1] not in ("suspend", "reinstate"):  # §2.2 rule 2
        fail(MODEL, f"§2.2 rule 2: activities on a {e[1]} event")
    return e


def check_key_event(payload: bytes, vocab: Vocabulary) -> dict[int, Any]:
    """events.md §3, classes of certificate.md §2.4."""
    if len(payload) > MAX_KEY_EVENT:
        fail(DECODE, f"key event above {MAX_KEY_EVENT} bytes")
    fields: dict[int, Shape] = {
        0: _is_uint,
        1: _is_str,
        2: _is_bytes,
        3: _is_uint,
        4: _is_uint,
        5: _is_str,
        6: _is_uint,
        7: _is_map,
        8: _is_str,
        9: _is_uint,
    }
    k = _check_shape(plain(strict_loads(payload)), fields, {0, 1, 2, 3, 4}, "key event")
    if 7 in k:
        check_scope(k[7], vocab, "key event.scope")  # certificate.md §4, §4.7
    _one_of(KEY_EVENT_KINDS, "key event kind")(k[1], "key event.kind")
    _bstr32("public key")(k[2], "key event.key")
    for key, name in ((3, "effective_at"), (4, "decided_at"), (6, "valid_until")):
        if key in k:
            _uint_below(k[key], TIME_LIMIT, f"key event.{name}")
    if 5 in k:
        _text(max_len=128)(k[5], "key event.label")
    if 8 in k:
        _one_of(REASON_CODES, "reason code")(k[8], "key event.reason_code")
    # "(delegate: required)", "(revoke-key: required)": optional in the CDDL, so the shape
    # is right and the missing field is a broken rule (the key-delegate-without-scope vector).
    needed = {6, 7} if k[1] == "delegate" else {8, 9}
    for key in sorted(needed - set(k)):
        fail(MODEL, f"events.md §3: a {k[1]} event without key {key}")
    return k


# --------------------------------------------------------------------------------------
# checkpoint.md: C2SP signed notes (§2), the checkpoint body (§3, §4), cosignatures (§5)
# --------------------------------------------------------------------------------------

NOTE_KEY_TYPE: Final = 0x01
COSIGNATURE_TYPE: Final = 0x04
MAX_NOTE_SIZE: Final = 1_048_576
MAX_SIGNATURES: Final = 100
MAX_INT63: Final = 2**63 - 1
_B64_TEXT: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64_32: Final = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")
_SIZE: Final = re.compile(r"0|[1-9][0-9]{0,18}")
_TIME: Final = re.compile(r"0|-?[1-9][0-9]{0,18}")
_KEY_ID_HEX: Final = re.compile(r"[0-9a-f]{8}")
TIME_KEYWORD: Final = "noc-ledger-time"
STATUS_KEYWORD: Final = "noc-ledger-status"


def b64_canonical(text: str, where: str) -> bytes:
    """§2.4 step 6: standard alphabet, `=` padding to a multiple of 4, no non-zero unused
    bits: the text is exactly what encoding the decoded bytes gives back."""
    if len(text) % 4 or not _B64_TEXT.fullmatch(text):
        fail(DECODE, f"{where}: not padded standard base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        fail(DECODE, f"{where}: not base64")
    if base64.b64encode(raw).decode("ascii") != text:
        fail(DECODE, f"{where}: base64 with non-zero unused bits")
    return raw


def key_name_ok(name: str) -> bool:
    """§2.1: non-empty scalar values, no White_Space, no `+`, nothing below U+0020."""
    return bool(name) and not any(
        ch in WHITE_SPACE or ch == "+" or ord(ch) < 0x20 or 0xD800 <= ord(ch) < 0xE000
        for ch in name
    )


def note_key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """§2.2: SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return hashlib.sha256(data).digest()[:4]


@dataclass(frozen=True)
class NoteVerifier:
    name: str
    key_id: bytes
    sig_type: int
    public_key: bytes


def parse_verifier_key(text: str) -> NoteVerifier:
    """§2.2 verifier key, checks in the order of the text (each a DecodeError)."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        fail(DECODE, "verifier key: not three parts at the first two '+'")
    name, key_id_hex, key_data = parts
    if not key_name_ok(name):
        fail(DECODE, f"verifier key: invalid key name {name!r}")
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        fail(DECODE, "verifier key: key ID is not 8 lowercase hex digits")
    raw = b64_canonical(key_data, "verifier key data")
    if len(raw) != 33:
        fail(DECODE, f"verifier key: key data of {len(raw)} bytes, not 33")
    if raw[0] not in (NOTE_KEY_TYPE, COSIGNATURE_TYPE):
        fail(DECODE, f"verifier key: signature type {raw[0]:#04x}")
    if note_key_id(name, raw[0], raw[1:]) != bytes.fromhex(key_id_hex):
        fail(DECODE, "verifier key: key ID differs from the computed one")
    verifier = NoteVerifier(name, bytes.fromhex(key_id_hex), raw[0], raw[1:])
    assert format_verifier_key(verifier) == text  # §2.2: the writer's form is this one
    return verifier


def format_verifier_key(v: NoteVerifier) -> str:
    data = base64.b64encode(bytes([v.sig_type]) + v.public_key).decode("ascii")
    return f"{v.name}+{v.key_id.hex()}+{data}"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes  # the decoded bytes after the key ID


def decode_note(data: Any) -> tuple[str, list[NoteSignature]]:
    """§2.4 steps 1-7, every failure a DecodeError."""
    if not isinstance(data, bytes) or len(data) > MAX_NOTE_SIZE:  # 1
        fail(DECODE, "note: not bytes, or above MAX_NOTE_SIZE")
    try:  # 2: Python's strict decoder refuses overlong forms, surrogates, > U+10FFFF
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        fail(DECODE, "note: not UTF-8")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):  # 3
        fail(DECODE, "note: a control character other than LF")
    split = text.rfind("\n\n")  # 4: the *last* LF LF
    if split < 0:
        fail(DECODE, "note: no blank line")
    body, block = text[: split + 1], text[split + 2 :]
    if not block or not block.endswith("\n"):  # 5
        fail(DECODE, "note: empty signature block, or not ending in LF")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        fail(DECODE, f"note: {len(lines)} signature lines")
    signatures: list[NoteSignature] = []
    for line in lines:  # 6
        if not line.startswith("\u2014 "):
            fail(DECODE, f"note: signature line {line!r} does not start with an em dash")
        fields = line[2:].split(" ")
        if len(fields) != 2 or not key_name_ok(fields[0]):
            fail(DECODE, f"note: signature line {line!r} is not name SP base64")
        raw = b64_canonical(fields[1], "signature")
        if len(raw) < 5:
            fail(DECODE, "note: decoded signature shorter than 5 bytes")
        signatures.append(NoteSignature(fields[0], raw[:4], raw[4:]))
    pairs = [(s.name, s.key_id) for s in signatures]
    if len(set(pairs)) != len(pairs):  # 7
        fail(DECODE, "note: two signature lines with the same key name and key ID")
    return body, signatures


def open_note(
    data: bytes, verifiers: list[NoteVerifier]
) -> tuple[str, list[NoteSignature], list[NoteSignature]]:
    """§2.5 steps 1-5: (text, verified signatures, unverified ones)."""
    text, signatures = decode_note(data)  # 1
    if any(v.sig_type != NOTE_KEY_TYPE for v in verifiers):  # 2
        fail(SIGNATURE, "a verifier that is not of type 0x01")
    by_id: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if by_id.setdefault((v.name, v.key_id), v) != v:
            fail(SIGNATURE, "two different verifiers with the same key name and key ID")
    verified, unverified = [], []
    for s in signatures:  # 3
        known = by_id.get((s.name, s.key_id))
        if known is None:
            unverified.append(s)
            continue
        ok = len(s.signature) == 64 and verify_strict_reference(
            known.public_key, text.encode("utf-8"), s.signature
        )
        if not ok:
            fail(SIGNATURE, f"note signature of {s.name} does not verify")
        verified.append(s)
    if not verified:  # 4
        fail(SIGNATURE, "no signature by a known key")
    return text, verified, unverified


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: int
    status_root: bytes
    extensions: tuple[str, ...] = ()


def encode_checkpoint(cp: Checkpoint) -> str:
    """§3.1."""
    lines = [
        cp.origin,
        str(cp.size),
        base64.b64encode(cp.root).decode("ascii"),
        f"{TIME_KEYWORD} {cp.time}",
        f"{STATUS_KEYWORD} {base64.b64encode(cp.status_root).decode('ascii')}",
        *cp.extensions,
    ]
    return "".join(line + "\n" for line in lines)


def _b64_32(text: str, where: str) -> bytes:
    if not _B64_32.fullmatch(text):
        fail(DECODE, f"{where}: not canonical base64 of 32 bytes")
    return b64_canonical(text, where)


def decode_checkpoint(body: str) -> Checkpoint:
    """§4.2 steps 1-10, every failure a DecodeError."""
    if not body.endswith("\n"):  # 1
        fail(DECODE, "checkpoint: body does not end in LF")
    lines = body[:-1].split("\n")
    for line in lines:
        # "control character": read as U+0000-U+001F, the note's text-char rule (§2.4).
        if not line or any(ord(ch) < 0x20 for ch in line):
            fail(DECODE, "checkpoint: an empty line or a control character")
    if len(lines) < 5:  # 2
        fail(DECODE, f"checkpoint: {len(lines)} lines, at least 5 needed")
    origin, size_text, root_text, time_line, status_line, *extensions = lines
    if not key_name_ok(origin):  # 3
        fail(DECODE, "checkpoint: origin is not a key name")
    if not _SIZE.fullmatch(size_text) or int(size_text) > MAX_INT63:  # 4
        fail(DECODE, f"checkpoint: size {size_text!r}")
    root = _b64_32(root_text, "checkpoint root")  # 5
    keyword, _, time_text = time_line.partition(" ")  # 6
    if keyword != TIME_KEYWORD or not _TIME.fullmatch(time_text):
        fail(DECODE, f"checkpoint: line 4 {time_line!r} is not the time line")
    time = int(time_text)
    if not -(2**63) <= time <= MAX_INT63:
        fail(DECODE, "checkpoint: time out of range")
    keyword, _, status_text = status_line.partition(" ")  # 7
    if keyword != STATUS_KEYWORD:
        fail(DECODE, f"checkpoint: line 5 {status_line!r} is not the status line")
    status_root = _b64_32(status_text, "checkpoint status root")
    for line in extensions:  # 8 (§3.3): non-empty and no control checked above
        if line.split(" ", 1)[0] in (TIME_KEYWORD, STATUS_KEYWORD):
            fail(DECODE, f"checkpoint: extension line {line!r} repeats a keyword")
    if int(size_text) == 0 and root != EMPTY_ROOT:  # 9
        fail(DECODE, "checkpoint: size 0 without the empty root")
    cp = Checkpoint(origin, int(size_text), root, time, status_root, tuple(extensions))
    if encode_checkpoint(cp) != body:  # 10
        fail(DECODE, "checkpoint: re-encoding differs from the body")
    return cp


def open_checkpoint(
    data: bytes, origin: str, verifier: NoteVerifier
) -> tuple[Checkpoint, str, list[NoteSignature]]:
    """§4.3 steps 1-5: (checkpoint, note text, unverified signature lines)."""
    if verifier.sig_type != NOTE_KEY_TYPE or verifier.name != origin:  # 1
        fail(SIGNATURE, "the log verifier is not of type 0x01 under the origin")
    text, _, unverified = open_note(data, [verifier])  # 2
    cp = decode_checkpoint(text)  # 3
    if cp.origin != origin:  # 4
        fail(SIGNATURE, f"origin line {cp.origin!r} is not {origin!r}")
    return cp, text, unverified


def cosigned_message(timestamp: int, body: str) -> bytes:
    """§5: "cosignature/v1" LF "time" SP decimal LF checkpoint-body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def verify_cosignatures(
    body: str, unverified: list[NoteSignature], witnesses: list[NoteVerifier]
) -> list[tuple[str, bytes, int]]:
    """§5.2 steps 1-4: the valid cosignatures as (witness name, key ID, timestamp)."""
    if any(w.sig_type != COSIGNATURE_TYPE for w in witnesses):  # 1
        fail(SIGNATURE, "a witness verifier that is not of type 0x04")
    by_id: dict[tuple[str, bytes], NoteVerifier] = {}
    for w in witnesses:
        if by_id.setdefault((w.name, w.key_id), w) != w:
            fail(SIGNATURE, "two different witnesses with the same key name and key ID")
    valid = []
    for s in unverified:  # 2, 3
        witness = by_id.get((s.name, s.key_id))
        if witness is None:
            continue
        if len(s.signature) != 8 + 64:
            fail(SIGNATURE, "cosignature is not 8 + 64 bytes")
        timestamp = int.from_bytes(s.signature[:8], "big")
        if timestamp > MAX_INT63:
            fail(SIGNATURE, "cosignature timestamp above 2^63 - 1")
        message = cosigned_message(timestamp, body)
        if not verify_strict_reference(witness.public_key, message, s.signature[8:]):
            fail(SIGNATURE, f"cosignature of {s.name} does not verify")
        valid.append((s.name, s.key_id, timestamp))
    return valid


# --------------------------------------------------------------------------------------
# revocation.md: the status map (§2), proofs (§3)
# --------------------------------------------------------------------------------------

SM_EMPTY: Final = bytes(32)
MAX_VALUE_SIZE: Final = 1_024
STATUS_PROOF_PROFILE: Final = Profile(max_size=8_818, max_depth=2)


def sm_bit(key: bytes, i: int) -> int:
    """§2.1 item 4."""
    return (key[i >> 3] >> (7 - (i & 7))) & 1


def sm_value_hash(value: bytes) -> bytes:
    return hashlib.sha256(b"\x12" + value).digest()


def sm_leaf_hash(key: bytes, value_hash: bytes) -> bytes:
    return hashlib.sha256(b"\x10" + key + value_hash).digest()


def sm_node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x11" + left + right).digest()


def _sm_mh(entries: list[tuple[bytes, bytes]], d: int) -> bytes:
    """§2.3 item 1: MH(S, d)."""
    if not entries:
        return SM_EMPTY
    if len(entries) == 1:
        key, value = entries[0]
        return sm_leaf_hash(key, sm_value_hash(value))
    assert d <= 255
    s0 = [e for e in entries if sm_bit(e[0], d) == 0]
    s1 = [e for e in entries if sm_bit(e[0], d) == 1]
    return sm_node_hash(_sm_mh(s0, d + 1), _sm_mh(s1, d + 1))


def sm_root(items: Mapping[bytes, bytes]) -> bytes:
    """§2.3 item 2, over a map checked against §2.1."""
    for key, value in items.items():
        assert len(key) == 32 and 1 <= len(value) <= MAX_VALUE_SIZE
    return _sm_mh(sorted(items.items()), 0)


OtherLeaf = tuple[bytes, bytes] | None


def sm_prove(items: Mapping[bytes, bytes], key: bytes) -> tuple[list[bytes], OtherLeaf]:
    """§3.2, walking the entries instead of stored nodes: (siblings, other leaf)."""
    entries, siblings, d = sorted(items.items()), [], 0
    while len(entries) >= 2:  # the subtree is a node
        same = [e for e in entries if sm_bit(e[0], d) == sm_bit(key, d)]
        other = [e for e in entries if sm_bit(e[0], d) != sm_bit(key, d)]
        siblings.append(_sm_mh(other, d + 1))
        entries, d = same, d + 1
    if not entries or entries[0][0] == key:
        return siblings, None
    return siblings, (entries[0][0], sm_value_hash(entries[0][1]))


def encode_status_proof(siblings: list[bytes], other: OtherLeaf) -> bytes:
    """§3.3, the one encoding of a proof."""
    proof: dict[int, Any] = {0: len(siblings)}
    if siblings:
        bitmap = bytearray((len(siblings) + 7) // 8)
        for i, s in enumerate(siblings):
            if s != SM_EMPTY:
                bitmap[i >> 3] |= 0x80 >> (i & 7)
        proof[1] = bytes(bitmap)
    hashes = [s for s in siblings if s != SM_EMPTY]
    if hashes:
        proof[2] = hashes
    if other is not None:
        proof[3] = list(other)
    return encode(proof)


def decode_status_proof(data: bytes) -> tuple[list[bytes], OtherLeaf]:
    """§3.3 rules 1-6 (DecodeError), then the rebuilt siblings."""
    proof = plain(strict_loads(data, STATUS_PROOF_PROFILE))  # 1
    if not isinstance(proof, dict) or not all(type(k) is int for k in proof):  # 2
        fail(DECODE, "status proof: not a map with integer keys")
    if not set(proof) <= {0, 1, 2, 3} or 0 not in proof:
        fail(DECODE, f"status proof: keys {sorted(proof)}")
    depth = proof[0]
    if not (type(depth) is int and 0 <= depth <= 256):  # 3
        fail(DECODE, f"status proof: depth {depth!r}")
    if (1 in proof) != (depth > 0):  # 4
        fail(DECODE, "status proof: bitmap present iff depth > 0")
    bitmap = proof.get(1, b"")
    if not (isinstance(bitmap, bytes) and len(bitmap) == (depth + 7) // 8):
        fail(DECODE, "status proof: bitmap of the wrong type or length")
    bits = [sm_bit(bitmap, i) for i in range(depth)]
    if any(sm_bit(bitmap, i) for i in range(depth, 8 * len(bitmap))):
        fail(DECODE, "status proof: padding bits set")
    if (2 in proof) != any(bits):  # 5
        fail(DECODE, "status proof: hashes present iff a bit is set")
    hashes = proof.get(2, [])
    if not (isinstance(hashes, list) and len(hashes) == sum(bits)):
        fail(DECODE, "status proof: hash count is not the number of bits set")
    if not all(isinstance(x, bytes) and len(x) == 32 and x != SM_EMPTY for x in hashes):
        fail(DECODE, "status proof: a hash that is not 32 non-zero bytes")
    other: OtherLeaf = None
    if 3 in proof:  # 6
        leaf = proof[3]
        if not (
            isinstance(leaf, list)
            and len(leaf) == 2
            and all(isinstance(x, bytes) and len(x) == 32 for x in leaf)
        ):
            fail(DECODE, "status proof: other leaf is not two 32-byte strings")
        other = (leaf[0], leaf[1])
    queue = iter(hashes)
    return [next(queue) if bit else SM_EMPTY for bit in bits], other


def verify_status_proof(root: Any, key: Any, value: Any, siblings: Any, other: Any) -> None:
    """§3.4 steps 1-7; every failure a StatusProofError."""

    def is32(x: Any) -> bool:
        return isinstance(x, bytes) and len(x) == 32

    if not (is32(root) and is32(key)):  # 1
        fail(STATUS_PROOF, "step 1: root and key must be 32 bytes")
    if value is not None and not (isinstance(value, bytes) and 1 <= len(value) <= 1_024):
        fail(STATUS_PROOF, "step 1: value must be none or 1 to 1,024 bytes")
    if not (isinstance(siblings, list) and len(siblings) <= 256):  # 2
        fail(STATUS_PROOF, "step 2: siblings must be a list of at most 256")
    if not all(is32(s) for s in siblings):
        fail(STATUS_PROOF, "step 2: a sibling that is not 32 bytes")
    if other is not None and not (
        isinstance(other, tuple) and len(other) == 2 and all(is32(x) for x in other)
    ):
        fail(STATUS_PROOF, "step 2: other key and value hash must both be 32 bytes")
    depth = len(siblings)
    if depth >= 1 and siblings[depth - 1] == SM_EMPTY:  # 3
        fail(STATUS_PROOF, "step 3: the deepest sibling is EMPTY")
    if value is not None:  # 4.1
        if other is not None:
            fail(STATUS_PROOF, "step 4.1: a presence proof with an other leaf")
        t = sm_leaf_hash(key, sm_value_hash(value))
    elif other is None:  # 4.2
        if depth > 255:
            fail(STATUS_PROOF, "step 4.2: absence at EMPTY at depth 256")
        t = SM_EMPTY
    else:  # 4.3
        other_key, other_value_hash = other
        if other_key == key:
            fail(STATUS_PROOF, "step 4.3: the other leaf is the key's own")
        if any(sm_bit(other_key, i) != sm_bit(key, i) for i in range(depth)):
            fail(STATUS_PROOF, "step 4.3: the other leaf is not on the key's path")
        t = sm_leaf_hash(other_key, other_value_hash)
    r = t
    for i in range(depth - 1, -1, -1):  # 5
        r = sm_node_hash(r, siblings[i]) if sm_bit(key, i) == 0 else sm_node_hash(siblings[i], r)
    if r != root:  # 6
        fail(STATUS_PROOF, f"step 6: expected root {root.hex()}, computed {r.hex()}")


# --------------------------------------------------------------------------------------
# events.md §3.3, §4 and §5; revocation.md §6: records and the replay of a whole log
# --------------------------------------------------------------------------------------

CERT_STATES: Final = frozenset(
    {"active", "suspended", "revoked", "surrendered", "lapsed", "expired", "superseded"}
)
TERMINAL_STATES: Final = frozenset(CERT_STATES - {"active", "suspended"})
FINAL_EVENTS: Final = {
    "revoke": "revoked",
    "surrender": "surrendered",
    "lapse": "lapsed",
    "expire": "expired",
}
KEY_STATES: Final = frozenset({"delegated", "revoked"})
MAX_HISTORY: Final = 16
MAX_ENTRY: Final = 65_535
#: events.md §4.3 "a different, later instrument": read as the order of certificate.md §3.2.
INSTRUMENT_ORDER: Final = (
    "noc",
    "in_principle_approval",
    "provisional_licence",
    "licence",
    "registration",
)
UPGRADABLE: Final = frozenset(INSTRUMENT_ORDER[:3])


def check_status_record(data: bytes) -> dict[int, Any]:
    """events.md §4.4: canonical (strict decoding re-encodes), the CDDL shape and values."""

    def history_shape(x: Any) -> bool:
        return isinstance(x, list) and all(
            isinstance(h, list)
            and len(h) == 3
            and isinstance(h[0], str)
            and _is_uint(h[1])
            and _is_uint(h[2])
            for h in x
        )

    fields: dict[int, Shape] = {
        0: _is_str,
        1: _is_uint,
        2: _is_uint,
        3: _is_uint,
        4: _is_uint,
        5: _is_str,
        6: _is_bytes,
        7: _is_text_array,
        8: history_shape,
    }
    r = _check_shape(plain(strict_loads(data)), fields, {0, 1, 2, 3, 4}, "status record", False)
    _one_of(CERT_STATES, "state")(r[0], "status record.state")
    _uint_below(r[1], TIME_LIMIT, "status record.since")
    _uint_below(r[4], TIME_LIMIT, "status record.issued_at")
    if 5 in r:
        _one_of(REASON_CODES, "reason code")(r[5], "status record.reason")
    if 6 in r:
        _bstr32("successor id")(r[6], "status record.successor")
    if 7 in r:
        _text_set_order(r[7], "status record.suspended")
        _set(r[7], "status record.suspended", lambda a, w: None)
    if 8 in r:
        history = _array(r[8], "status record.history")
        if len(history) > MAX_HISTORY:
            fail(MODEL, "status record: more than 16 earlier states")
        for i, (state, since, _) in enumerate(history):
            _one_of(CERT_STATES, "state")(state, f"status record.history[{i}]")
            _uint_below(since, TIME_LIMIT, f"status record.history[{i}].since")
        # Oldest first, in log order (§4.4), effective times never going back (§4.2 item 3,
        # §4.3), all after the issuance and before the current state.
        steps = [*history, [r[0], r[1], r[2]]]
        for a, b in itertools.pairwise(steps):
            if not (a[2] < b[2] and a[1] <= b[1]):
                fail(MODEL, "status record: history not oldest first")
        if steps[0][2] < r[3]:
            fail(MODEL, "status record: a state set before the certificate's issuance")
    if (6 in r) != (r[0] == "superseded") or (7 in r and r[0] not in ("active", "suspended")):
        fail(MODEL, "status record: successor or suspended grants in the wrong state")
    if not r[3] <= r[2]:
        fail(MODEL, "status record: set before the certificate's issuance")
    return r


def check_key_record(data: bytes) -> dict[int, Any]:
    """events.md §3.3: {0: state, 1: delegation index, ? 2: invalidate from, ? 3: revocation
    index}; canonical, and revoked iff keys 2 and 3 are there."""
    fields: dict[int, Shape] = {0: _is_str, 1: _is_uint, 2: _is_uint, 3: _is_uint}
    r = _check_shape(plain(strict_loads(data)), fields, {0, 1}, "key record", False)
    _one_of(KEY_STATES, "key state")(r[0], "key record.state")
    if (r[0] == "revoked") != (2 in r) or (2 in r) != (3 in r):
        fail(MODEL, "key record: invalidate-from and revocation index iff revoked")
    if 2 in r and not r[1] < r[2] <= r[3]:  # §3.2
        fail(MODEL, "key record: invalidate from not in (delegation, revocation]")
    return r


@dataclass(frozen=True)
class Delegation:
    """What events.md §3.1-§3.3 keep about a delegated key."""

    public_key: bytes
    index: int
    effective_at: int
    valid_until: int
    scope: Mapping[int, Any]
    invalidate_from: int | None = None
    revocation_index: int | None = None

    def record(self) -> dict[int, Any]:
        """§3.3."""
        if self.revocation_index is None:
            return {0: "delegated", 1: self.index}
        return {0: "revoked", 1: self.index, 2: self.invalidate_from, 3: self.revocation_index}

    def allows(self, i: int) -> bool:
        """§3.3: delegation index < i and, if revoked, i < invalidate from."""
        return self.index < i and (self.invalidate_from is None or i < self.invalidate_from)


def _transition(
    record: Mapping[int, Any],
    state: str,
    since: int,
    index: int,
    reason: str | None = None,
    successor: bytes | None = None,
    suspended: list[str] | None = None,
) -> dict[int, Any]:
    """§4.4: the new record; the previous [state, since, index] appended to the history
    (the oldest dropped beyond 16)."""
    history = [*record.get(8, []), [record[0], record[1], record[2]]][-MAX_HISTORY:]
    new: dict[int, Any] = {0: state, 1: since, 2: index, 3: record[3], 4: record[4], 8: history}
    if reason is not None:
        new[5] = reason
    if successor is not None:
        new[6] = successor
    if suspended:
        new[7] = sorted(suspended)
    return new


@dataclass
class Changes:
    """What one entry would write: nothing is applied before every check has passed."""

    records: dict[bytes, dict[int, Any]]
    delegation: tuple[bytes, Delegation] | None = None
    certificate: tuple[bytes, dict[int, Any]] | None = None


class LogReplay:
    """events.md §5 applied to each entry in order, from the entries alone, and the status
    map of revocation.md §6 (records as values, under certificate ids and key ids).

    Error classes: see the readings in the module docstring. Every check of an entry
    runs before anything is written (§5 "MUST write nothing"), so a refused entry leaves
    the state as it was.
    """

    def __init__(self, root_public_key: bytes, root_scope: Mapping[int, Any]) -> None:
        self.root_public_key = root_public_key
        self.root_scope = root_scope
        self.size = 0
        self.leaves: list[bytes] = []
        self.delegations: dict[bytes, Delegation] = {}  # by key id (signing.md §5)
        self.certificates: dict[bytes, dict[int, Any]] = {}  # by certificate id
        self.records: dict[bytes, dict[int, Any]] = {}  # the status map, decoded

    def append(self, entry: bytes) -> None:
        changes = self._check(entry, self.size)
        self.records.update(changes.records)
        if changes.delegation is not None:
            self.delegations[changes.delegation[0]] = changes.delegation[1]
        if changes.certificate is not None:
            self.certificates[changes.certificate[0]] = changes.certificate[1]
        self.leaves.append(leaf_hash(entry))
        self.size += 1

    def tree_root(self) -> bytes:
        return mth(self.leaves)

    def status_items(self) -> dict[bytes, bytes]:
        return {k: encode(v) for k, v in self.records.items()}

    def _check(self, entry: bytes, i: int) -> Changes:
        # §5 item 1 (and log.md §2): a signed document of a loggable kind, <= 65,535 bytes.
        if len(entry) > MAX_ENTRY:
            fail(DECODE, "entry above 65,535 bytes")
        doc = open_sign1(entry)
        if doc.content_type == KEY_EVENT_TYPE:  # §5 item 2
            payload = verify_signed(entry, KEY_EVENT_TYPE, self.root_public_key)
            return self._key_event(check_key_event(payload, VOCABULARY), i)
        if doc.content_type not in (CERTIFICATE_TYPE, STATUS_EVENT_TYPE):
            fail(SIGNATURE, f"{doc.content_type} is never logged (log.md §2 item 1)")
        # §5 item 3: a delegated key whose record allows index i, then its signature.
        delegation = self.delegations.get(doc.kid)
        if delegation is None:
            fail(SIGNATURE, "the kid names no delegated key")
        if not delegation.allows(i):
            fail(SIGNATURE, f"the key's record does not allow index {i} (§3.3)")
        payload = verify_signed(entry, doc.content_type, delegation.public_key)
        if doc.content_type == CERTIFICATE_TYPE:
            cert = check_certificate(payload, VOCABULARY)
            self._in_window(delegation, cert[5], "issued_at")
            if not scope_within(cert[8], delegation.scope, VOCABULARY):
                fail(SCOPE, "certificate scope not within the key's delegated scope")
            return self._issuance(payload, cert, i)
        event = check_status_event(payload)
        self._in_window(delegation, event[4], "decided at")
        return self._status_event(event, i)

    @staticmethod
    def _in_window(delegation: Delegation, t: int, what: str) -> None:
        """§5 item 3: the time falls in [effective at, valid until) of the delegation."""
        if not delegation.effective_at <= t < delegation.valid_until:
            fail(SIGNATURE, f"{what} {t} outside the delegation's validity window")

    def _key_event(self, event: Mapping[int, Any], i: int) -> Changes:
        """§3.1, §3.2."""
        kid = key_id(event[2])
        if event[1] == "delegate":
            if kid in self.delegations:
                fail(TRANSITION, "§3.1: a key is delegated at most once")
            if not scope_within(event[7], self.root_scope, VOCABULARY):
                fail(SCOPE, "§3.1: delegated scope not within the root's scope")
            d = Delegation(event[2], i, event[3], event[6], event[7])
        else:
            old = self.delegations.get(kid)
            if old is None or old.revocation_index is not None:
                fail(TRANSITION, "§3.2: revoke-key of a key not delegated or already revoked")
            if not old.index < event[9] <= i:
                fail(TRANSITION, "§3.2: invalidate from not in (delegation, revocation]")
            d = dataclasses.replace(old, invalidate_from=event[9], revocation_index=i)
        return Changes({kid: d.record()}, delegation=(kid, d))

    def _issuance(self, payload: bytes, cert: Mapping[int, Any], i: int) -> Changes:
        """§5 item 4, §4.3 and the new record of §4.4."""
        cid = hashlib.sha256(payload).digest()
        if cid in self.certificates:
            fail(TRANSITION, "§5 item 4: the certificate id is already in the log")
        issued_at, valid_from = cert[5], cert[6]
        records: dict[bytes, dict[int, Any]] = {
            cid: {0: "active", 1: issued_at, 2: i, 3: i, 4: issued_at}
        }
        for edge in cert.get(11, []):
            kind, pid = edge[0], edge[1]
            parent = self.certificates.get(pid)
            if parent is None:
                fail(TRANSITION, f"§4.3: {kind} edge to a certificate not in the log")
            record = records.get(pid, self.records[pid])
            if record[0] in TERMINAL_STATES:
                fail(TRANSITION, f"§4.3: {kind} edge to a certificate in state {record[0]}")
            if valid_from < parent[5] or valid_from < record[1]:
                fail(TRANSITION, "§4.3: valid_from before the predecessor's issued_at or state")
            if kind == "upgrades":
                later = INSTRUMENT_ORDER.index(cert[1]) > INSTRUMENT_ORDER.index(parent[1])
                if parent[1] not in UPGRADABLE or not later:
                    fail(TRANSITION, f"§4.3: {parent[1]} cannot be upgraded to {cert[1]}")
            elif cert[1] != parent[1]:
                fail(TRANSITION, "§4.3: a supersedes edge that changes the instrument")
            if 1 in parent[4] and cert[4].get(1) != parent[4][1]:
                fail(TRANSITION, "§4.3: the successor's subject lacks the predecessor's LEI")
            records[pid] = _transition(record, "superseded", valid_from, i, successor=cid)
        return Changes(records, certificate=(cid, dict(cert)))

    def _status_event(self, event: Mapping[int, Any], i: int) -> Changes:
        """§4.2 items 1-4."""
        cid, kind, effective = event[2], event[1], event[3]
        if cid not in self.certificates:  # 1
            fail(TRANSITION, "§4.2 item 1: no such certificate in the log")
        record = self.records[cid]
        state = record[0]
        if state in TERMINAL_STATES:  # 2
            fail(TRANSITION, f"§4.2 item 2: the certificate is {state}")
        if effective < record[4] or effective < record[1]:  # 3
            fail(TRANSITION, "§4.2 item 3: effective before issued_at or the current state")
        grants = set(event.get(7, []))  # 4: the table
        suspended = set(record.get(7, []))
        reason = event.get(5)
        if kind == "suspend" and not grants:
            ok, new_state, new_suspended = state == "active", "suspended", suspended
        elif kind == "suspend":
            own = {g[0] for g in self.certificates[cid][8][1]}
            ok = state == "active" and not grants & suspended and grants <= own
            new_state = "active"
            new_suspended = suspended | grants
        elif kind == "reinstate" and not grants:
            ok = state == "suspended" or (state == "active" and bool(suspended))
            new_state, new_suspended = "active", set()
        elif kind == "reinstate":
            ok, new_state = state == "active" and grants <= suspended, "active"
            new_suspended = suspended - grants
        else:
            ok, new_state = state in ("active", "suspended"), FINAL_EVENTS[kind]
            new_suspended = set()
        if not ok:
            fail(TRANSITION, f"§4.2 item 4: {kind} does not apply in state {state}")
        new = _transition(record, new_state, effective, i, reason, None, sorted(new_suspended))
        return Changes({cid: new})


# --------------------------------------------------------------------------------------
# policy.md: the trust policy (§3-§5 parsing, §6 canonical form, §7.3 quorum)
# --------------------------------------------------------------------------------------

POLICY: Final = "PolicyError"
MAX_POLICY_SIZE: Final = 65_536
MAX_ROOTS: Final = 16
MAX_LOGS: Final = 16
MAX_WITNESSES: Final = 64
MAX_GROUPS: Final = 64
MAX_AUTHORITY_LENGTH: Final = 256
POLICY_KEYWORD: Final = "noc-ledger-policy"
RESERVED_NAMES: Final = frozenset({"none", "all", "any"})
_POSITIVE_DECIMAL: Final = re.compile(r"[1-9][0-9]{0,18}")


def policy_char_forbidden(ch: str) -> bool:
    """§3.2: C0 controls but LF, U+007F, C1 controls, White_Space but SP and LF, the bidi
    embedding/override/isolate characters and U+FEFF."""
    o = ord(ch)
    return (
        (o < 0x20 and ch != "\n")
        or 0x7F <= o <= 0x9F
        or (ch in WHITE_SPACE and ch not in " \n")
        or o in _BIDI
        or o == 0xFEFF
    )


@dataclass(frozen=True)
class RootKey:
    public_key: bytes
    scope: Mapping[int, Any]


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int  # k, `any` and `all` resolved (§4.7)
    members: tuple[str, ...]


@dataclass(frozen=True)
class TrustPolicy:
    """§5 step 9: the value a policy file denotes."""

    authority: str | None
    roots: tuple[RootKey, ...]
    logs: Mapping[str, NoteVerifier]  # by origin (§4.5)
    witnesses: Mapping[str, NoteVerifier]  # by name, which is the key name (§4.6)
    groups: Mapping[str, Group]  # by name
    quorum: str | None  # None: `quorum none`
    max_status_age: int


class _PolicyReader:
    """§5 steps 5-8, one directive line at a time; every rule of §4 is checked "as it stands
    after the lines before it" (step 7)."""

    def __init__(self) -> None:
        self.header = False
        self.authority: str | None = None
        self.roots: list[RootKey] = []
        self.logs: dict[str, NoteVerifier] = {}
        self.witnesses: dict[str, NoteVerifier] = {}
        self.groups: dict[str, Group] = {}
        self.quorum_seen = False
        self.quorum: str | None = None
        self.max_status_age: int | None = None
        self.keys: set[bytes] = set()  # §4.1 rule 3, over every role

    def line(self, line: str) -> None:
        if line.startswith(" ") or line.endswith(" ") or "  " in line:
            fail(POLICY, "§3.3: a directive line with a leading, trailing or double SP")
        keyword, *args = line.split(" ")
        if not self.header:  # step 6
            if keyword != POLICY_KEYWORD:
                fail(POLICY, f"§5 step 6: the first directive line is {keyword!r}, not the header")
            if args != ["1"]:
                fail(POLICY, f"§5 step 6: unsupported version {' '.join(args)!r}")
            self.header = True
            return
        handlers: dict[str, Callable[[list[str]], None]] = {
            "authority": self._authority,
            "root": self._root,
            "log": self._log,
            "witness": self._witness,
            "group": self._group,
            "quorum": self._quorum,
            "max-status-age": self._max_status_age,
        }
        handler = handlers.get(keyword)
        if handler is None:  # a second header included
            fail(POLICY, f"§4.1 rule 4: unknown keyword {keyword!r}")
        handler(args)

    def finish(self) -> TrustPolicy:
        """Step 8, then step 9."""
        if not self.header:
            fail(POLICY, "§5 step 8: no header")
        if not self.roots or not self.logs:
            fail(POLICY, "§5 step 8: no root line, or no log line")
        if not self.quorum_seen or self.max_status_age is None:
            fail(POLICY, "§5 step 8: no quorum line, or no max-status-age line")
        return TrustPolicy(
            self.authority,
            tuple(self.roots),
            self.logs,
            self.witnesses,
            self.groups,
            self.quorum,
            self.max_status_age,
        )

    def _new_key(self, key: bytes) -> None:
        if key in self.keys:
            fail(POLICY, "§4.1 rule 3: a public key appears a second time")
        self.keys.add(key)

    def _new_name(self, name: str) -> None:
        """§4.2: a key name, not a keyword, not yet defined as a witness or a group."""
        if not key_name_ok(name) or name in RESERVED_NAMES:
            fail(POLICY, f"§4.2: {name!r} is not a key name, or is reserved")
        if name in self.witnesses or name in self.groups:
            fail(POLICY, f"§4.2: {name!r} is already defined")

    @staticmethod
    def _verifier(text: str, sig_type: int) -> NoteVerifier:
        verifier = parse_verifier_key(text)  # checkpoint.md §2.2 (DecodeError: converted)
        if verifier.sig_type != sig_type:
            fail(POLICY, f"a verifier key of type {verifier.sig_type:#04x}, not {sig_type:#04x}")
        return verifier

    def _authority(self, args: list[str]) -> None:
        """§4.3: the tokens are the words; §3.3 already allows one SP between them only."""
        if self.authority is not None:
            fail(POLICY, "§4.1 rule 2: a second authority line")
        name = " ".join(args)
        if not args or len(name) > MAX_AUTHORITY_LENGTH:
            fail(POLICY, "§4.3: the display name is not 1 to 256 code points")
        self.authority = name

    def _root(self, args: list[str]) -> None:
        """§4.4."""
        if len(self.roots) == MAX_ROOTS:
            fail(POLICY, "§3.4: more than 16 root lines")
        if len(args) != 2:
            fail(POLICY, "§4.4: a root line has a key and a scope")
        if not _B64_32.fullmatch(args[0]):
            fail(POLICY, "§4.4: the root key is not canonical base64 of 32 bytes")
        key = b64_canonical(args[0], "root key")
        # Strict decoding (canonical, no trailing bytes, limits), then certificate.md §4.7
        # and §2.2 rule 3 (sets in order: DecodeError in check_scope), all PolicyError here.
        scope = check_scope(plain(strict_loads(b64_canonical(args[1], "root scope"))), VOCABULARY)
        self._new_key(key)
        self.roots.append(RootKey(key, scope))

    def _log(self, args: list[str]) -> None:
        """§4.5."""
        if len(self.logs) == MAX_LOGS:
            fail(POLICY, "§3.4: more than 16 log lines")
        if len(args) != 1:
            fail(POLICY, "§4.5: a log line has one verifier key")
        verifier = self._verifier(args[0], NOTE_KEY_TYPE)
        if verifier.name in self.logs:
            fail(POLICY, f"§4.5: a second log for the origin {verifier.name!r}")
        self._new_key(verifier.public_key)
        self.logs[verifier.name] = verifier

    def _witness(self, args: list[str]) -> None:
        """§4.6."""
        if len(self.witnesses) == MAX_WITNESSES:
            fail(POLICY, "§3.4: more than 64 witness lines")
        if len(args) != 2:
            fail(POLICY, "§4.6: a witness line has a name and a verifier key")
        name, text = args
        self._new_name(name)
        verifier = self._verifier(text, COSIGNATURE_TYPE)
        if verifier.name != name:
            fail(POLICY, f"§4.6: the name {name!r} is not the key name {verifier.name!r}")
        self._new_key(verifier.public_key)
        self.witnesses[name] = verifier

    def _group(self, args: list[str]) -> None:
        """§4.7 rules 1-4."""
        if len(self.groups) == MAX_GROUPS:
            fail(POLICY, "§3.4: more than 64 group lines")
        if len(args) < 2:
            fail(POLICY, "§4.7: a group line has a name and a threshold")
        name, threshold, *members = args
        self._new_name(name)  # 1
        if not members:  # 2
            fail(POLICY, "§4.7 rule 2: an empty group")
        for member in members:  # 3
            if member not in self.witnesses and member not in self.groups:
                fail(POLICY, f"§4.7 rule 3: {member!r} is not defined on an earlier line")
        if len(set(members)) != len(members):
            fail(POLICY, "§4.7 rule 3: a member appears twice")
        for member in members:  # 5
            if any(member in g.members for g in self.groups.values()):
                fail(POLICY, f"§4.7 rule 5: {member!r} is already a member of another group")
        if threshold == "any":
            k = 1
        elif threshold == "all":
            k = len(members)
        elif _POSITIVE_DECIMAL.fullmatch(threshold):
            k = int(threshold)
        else:
            fail(POLICY, f"§4.7: threshold {threshold!r}")
        if not 1 <= k <= len(members):  # 4
            fail(POLICY, f"§4.7 rule 4: threshold {k} of {len(members)} members")
        self.groups[name] = Group(name, k, tuple(members))

    def _quorum(self, args: list[str]) -> None:
        """§4.8."""
        if self.quorum_seen:
            fail(POLICY, "§4.1 rule 2: a second quorum line")
        if len(args) != 1:
            fail(POLICY, "§4.8: a quorum line has one name")
        name = args[0]
        if name != "none" and name not in self.witnesses and name not in self.groups:
            fail(POLICY, f"§4.8: {name!r} is not defined on an earlier line")
        self.quorum_seen, self.quorum = True, None if name == "none" else name

    def _max_status_age(self, args: list[str]) -> None:
        """§4.9: a positive decimal from 1 to 2^63 - 1."""
        if self.max_status_age is not None:
            fail(POLICY, "§4.1 rule 2: a second max-status-age line")
        if len(args) != 1 or not _POSITIVE_DECIMAL.fullmatch(args[0]):
            fail(POLICY, "§4.9: the maximum status age is not a positive decimal")
        if int(args[0]) > MAX_INT63:
            fail(POLICY, "§3.4: the maximum status age is above 2^63 - 1")
        self.max_status_age = int(args[0])


def parse_policy(data: bytes) -> TrustPolicy:
    """policy.md §5 steps 1-9; every failure PolicyError, naming the line."""
    if len(data) > MAX_POLICY_SIZE:  # 1
        fail(POLICY, f"§5 step 1: above {MAX_POLICY_SIZE} bytes")
    try:  # 2: Python's strict decoder refuses overlong forms, surrogates, > U+10FFFF
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        fail(POLICY, "§5 step 2: not UTF-8")
    for offset, ch in enumerate(text):  # 3
        if policy_char_forbidden(ch):
            number = text.count("\n", 0, offset) + 1
            fail(POLICY, f"§5 step 3, line {number}: U+{ord(ch):04X} is forbidden (§3.2)")
    if not text.endswith("\n"):  # 4 (the empty file included)
        fail(POLICY, "§5 step 4: empty, or not ending in LF")
    reader = _PolicyReader()
    for n, line in enumerate(text[:-1].split("\n"), start=1):  # 5-7
        if not line or line.startswith("#"):
            continue
        try:
            reader.line(line)
        except VerifyError as error:
            fail(POLICY, f"line {n}: {error.reason}")
    return reader.finish()  # 8, 9


def encode_policy(policy: TrustPolicy) -> str:
    """§6: the canonical form."""
    b64 = base64.b64encode
    lines = [f"{POLICY_KEYWORD} 1"]
    if policy.authority is not None:
        lines.append(f"authority {policy.authority}")
    for root in sorted(policy.roots, key=lambda r: r.public_key):
        key, scope = b64(root.public_key).decode(), b64(encode(root.scope)).decode()
        lines.append(f"root {key} {scope}")
    lines += [f"log {format_verifier_key(policy.logs[o])}" for o in sorted(policy.logs)]
    for name in sorted(policy.witnesses):
        lines.append(f"witness {name} {format_verifier_key(policy.witnesses[name])}")
    written, pending = set(policy.witnesses), dict(policy.groups)
    while pending:  # the smallest name among the groups whose member groups are written
        name = min(n for n, g in pending.items() if set(g.members) <= written)
        group = pending.pop(name)
        lines.append(f"group {name} {group.threshold} {' '.join(sorted(group.members))}")
        written.add(name)
    lines.append(f"quorum {'none' if policy.quorum is None else policy.quorum}")
    lines.append(f"max-status-age {policy.max_status_age}")
    return "".join(line + "\n" for line in lines)


def witnessed(policy: TrustPolicy, name: str, cosigned: frozenset[str]) -> bool:
    """§7.3 items 1-2: W is ``cosigned``; a group name in W counts for nothing."""
    if name in policy.witnesses:
        return name in cosigned
    group = policy.groups[name]
    return sum(witnessed(policy, m, cosigned) for m in group.members) >= group.threshold


def quorum_met(policy: TrustPolicy, cosigned: frozenset[str]) -> bool:
    """§7.3 item 3."""
    return policy.quorum is None or witnessed(policy, policy.quorum, cosigned)


# --------------------------------------------------------------------------------------
# bundle.md: structure (§2) and decoding (§3)
# --------------------------------------------------------------------------------------

MAX_BUNDLE_SIZE: Final = 1_048_576  # 1 MiB
MAX_CHAIN: Final = 8
MAX_BUNDLE_PROOF: Final = 64
BUNDLE_PROFILE: Final = Profile(max_size=MAX_BUNDLE_SIZE)


@dataclass(frozen=True)
class LoggedEntry:
    index: int
    entry: bytes
    proof: list[bytes]


@dataclass(frozen=True)
class StatusEvidence:
    value: bytes | None
    siblings: list[bytes]
    other: OtherLeaf


@dataclass(frozen=True)
class Bundle:
    certificate: LoggedEntry
    chain: list[LoggedEntry]
    checkpoint: bytes
    certificate_status: StatusEvidence
    key_status: StatusEvidence


def _logged_entry(value: Any, where: str) -> LoggedEntry:
    """[index: uint, entry: bstr, proof: [* bstr]]: the types, at most 64 hashes, an index
    below 2^63. The hashes' sizes are left to log.md §4.2 (InclusionError, step 6)."""
    if not (isinstance(value, list) and len(value) == 3):
        fail(DECODE, f"{where}: not an array of three")
    index, entry, proof = value
    if not _is_uint(index) or not isinstance(entry, bytes):
        fail(DECODE, f"{where}: index or entry of the wrong type")
    if index >= 2**63:
        fail(DECODE, f"{where}: index of 2^63 or more")
    if not (isinstance(proof, list) and all(isinstance(p, bytes) for p in proof)):
        fail(DECODE, f"{where}: proof is not an array of byte strings")
    if len(proof) > MAX_BUNDLE_PROOF:
        fail(DECODE, f"{where}: a proof of {len(proof)} hashes")
    return LoggedEntry(index, entry, proof)


def _status_evidence(value: Any, where: str) -> StatusEvidence:
    """[value: bstr / null, proof: status-proof]; the proof decoded by revocation.md §3.3
    (DecodeError), its limits (8,818 bytes, nesting 2) counted from the proof itself."""
    if not (isinstance(value, list) and len(value) == 2):
        fail(DECODE, f"{where}: not an array of two")
    record, proof = value
    if record is not None and not isinstance(record, bytes):
        fail(DECODE, f"{where}: value is neither a byte string nor null")
    siblings, other = decode_status_proof(encode(proof))  # canonical: the bytes as received
    return StatusEvidence(record, siblings, other)


def decode_bundle(data: bytes) -> Bundle:
    """bundle.md §3: every failure DecodeError; nothing else is checked."""
    b = _map(plain(strict_loads(data, BUNDLE_PROFILE)), {0, 1, 2, 3, 4, 5}, set(), "bundle")
    if type(b[0]) is not int or b[0] != 1:
        fail(DECODE, f"bundle: unknown version {b[0]!r}")
    certificate = _logged_entry(b[1], "bundle.certificate")
    if not isinstance(b[2], list):
        fail(DECODE, "bundle.chain: not an array")
    if not 1 <= len(b[2]) <= MAX_CHAIN:
        fail(DECODE, f"bundle.chain: {len(b[2])} links, not 1 to 8")
    chain = [_logged_entry(link, f"bundle.chain[{i}]") for i, link in enumerate(b[2])]
    if not isinstance(b[3], bytes):
        fail(DECODE, "bundle.checkpoint: not a byte string")
    certificate_status = _status_evidence(b[4], "bundle.certificate_status")
    key_status = _status_evidence(b[5], "bundle.key_status")
    return Bundle(certificate, chain, b[3], certificate_status, key_status)


# --------------------------------------------------------------------------------------
# verification.md: verdicts (§2) and the procedure (§3)
# --------------------------------------------------------------------------------------

QUORUM: Final = "QuorumError"
KEY_CHAIN: Final = "KeyChainError"
OUT_OF_SCOPE: Final = "OutOfScopeError"
NOT_YET_VALID: Final = "NotYetValidError"
EXPIRED: Final = "ExpiredError"
SUSPENDED: Final = "SuspendedError"
REVOKED: Final = "RevokedError"
SUPERSEDED: Final = "SupersededError"
ENDED: Final = "EndedError"
STALE: Final = "StaleError"
NOT_COVERED: Final = "NotCoveredError"

#: §2: the verdict of each error class (`valid`: no error).
VERDICTS: Final[Mapping[str, str]] = {
    OUT_OF_SCOPE: "out-of-scope",
    NOT_YET_VALID: "not-yet-valid",
    EXPIRED: "expired",
    SUSPENDED: "suspended",
    REVOKED: "revoked",
    SUPERSEDED: "superseded",
    ENDED: "ended",
    STALE: "stale",
    NOT_COVERED: "not-covered",
    **{
        cls: "invalid"
        for cls in (DECODE, SIGNATURE, QUORUM, INCLUSION, KEY_CHAIN, STATUS_PROOF, MODEL)
    },
}
#: §2: "The first six after `valid` (and `ended`) are `CertificateStatusError`s".
CERTIFICATE_STATUS_CLASSES: Final = frozenset(
    {OUT_OF_SCOPE, NOT_YET_VALID, EXPIRED, SUSPENDED, REVOKED, SUPERSEDED, ENDED}
)
#: §3 step 13: the class of each state but `active`.
STATE_ERRORS: Final[Mapping[str, str]] = {
    "suspended": SUSPENDED,
    "revoked": REVOKED,
    "superseded": SUPERSEDED,
    "expired": EXPIRED,
    "surrendered": ENDED,
    "lapsed": ENDED,
}


class CertificateStatusError(VerifyError):
    """A CertificateStatusError of §2: the evidence is authentic and says "no"; ``record``
    is the certificate's status record (reason and effective time, successor id)."""

    def __init__(self, cls: str, reason: str, record: Mapping[int, Any]) -> None:
        super().__init__(cls, reason)
        self.record = record


@dataclass(frozen=True)
class Verified:
    """§3: what the result of a valid bundle carries."""

    certificate: Mapping[int, Any]
    certificate_id: bytes
    index: int
    checkpoint: Checkpoint
    record: Mapping[int, Any]
    witnesses: frozenset[str]
    grants: list[Mapping[int, Any]]  # with a query: the usable matching grants
    conditions: list[str]  # their conditions precedent, by code point
    notices: list[Mapping[int, Any]]


_T = TypeVar("_T")


def _as(cls: str, action: Callable[[], _T]) -> _T:
    """One step of §3, which "raises exactly the error class named"."""
    try:
        return action()
    except VerifyError as error:
        raise VerifyError(cls, error.reason) from error


def state_at(record: Mapping[int, Any], t: int) -> str | None:
    """events.md §4.4: the current state if t >= since, else the latest history entry with
    since <= t; None when the record cannot say."""
    if t >= record[1]:
        return str(record[0])
    for state, since, _ in reversed(record.get(8, [])):
        if since <= t:
            return str(state)
    return None


def _key_chain(chain: list[LoggedEntry], policy: TrustPolicy) -> dict[int, Any]:
    """§3 step 7 (every failure KeyChainError, by the caller): the delegate event."""
    if len(chain) != 1:  # bundle.md §2: "In version 1 the key chain has exactly one link"
        fail(KEY_CHAIN, f"{len(chain)} links; version 1 has exactly one")
    link = chain[0].entry
    doc = open_sign1(link)
    if doc.content_type != KEY_EVENT_TYPE:
        fail(KEY_CHAIN, f"the link is a {doc.content_type}, not a key event")
    root = next((r for r in policy.roots if key_id(r.public_key) == doc.kid), None)
    if root is None:
        fail(KEY_CHAIN, "the link's kid is the key id of no root of the policy")
    event = check_key_event(verify_signed(link, KEY_EVENT_TYPE, root.public_key), VOCABULARY)
    if event[1] != "delegate":
        fail(KEY_CHAIN, f"the link is a {event[1]} event")
    if not event[6] > event[3]:  # events.md §3.1
        fail(KEY_CHAIN, "valid until is not after effective at")
    if not scope_within(event[7], root.scope, VOCABULARY):
        fail(KEY_CHAIN, "the delegated scope is not within the root's scope")
    return event


def verify_bundle(
    data: bytes, policy: TrustPolicy, at: int, query: Query | None = None
) -> Verified:
    """verification.md §3 steps 1-14, in order; the first failing step gives the verdict
    (VERDICTS[error.cls]). See the verification notes in the module docstring."""
    # 1. Decode (bundle.md §3).
    bundle = decode_bundle(data)
    # 2. Open the checkpoint: its origin (first line) selects the policy's log key.
    text, _ = decode_note(bundle.checkpoint)  # a malformed note: DecodeError
    origin = text.split("\n", 1)[0]
    log = policy.logs.get(origin)
    if log is None:
        fail(SIGNATURE, f"step 2: the policy has no log key for origin {origin!r}")
    checkpoint, body, unverified = open_checkpoint(bundle.checkpoint, origin, log)
    # 3. Witness quorum over the policy's witnesses that cosigned.
    witnesses = list(policy.witnesses.values())
    valid = _as(QUORUM, lambda: verify_cosignatures(body, unverified, witnesses))
    cosigned = frozenset(name for name, _, _ in valid)
    if not quorum_met(policy, cosigned):
        fail(QUORUM, f"step 3: the quorum is not met by {sorted(cosigned)}")
    # 4. Freshness (a checkpoint newer than `at` is fine).
    if at - checkpoint.time > policy.max_status_age:
        fail(STALE, f"step 4: the checkpoint is {at - checkpoint.time} s older than `at`")
    # 5. Coverage: every entry, the certificate's and the key chain's.
    entries = [bundle.certificate, *bundle.chain]
    for logged in entries:
        if logged.index >= checkpoint.size:
            fail(NOT_COVERED, f"step 5: index {logged.index}, size {checkpoint.size}")
    # 6. Inclusion of the entry bytes as received.
    for logged in entries:
        leaf = leaf_hash(logged.entry)
        verify_inclusion(logged.index, checkpoint.size, leaf, logged.proof, checkpoint.root)
    # 7. Key chain.
    delegation = _as(KEY_CHAIN, lambda: _key_chain(bundle.chain, policy))
    link_index = bundle.chain[0].index
    # 8. Certificate signature (signing.md §4, the envelope: SignatureError), then the
    #    payload (certificate.md: DecodeError / ModelError).
    cert_entry = bundle.certificate
    issuing_key = delegation[2]
    payload = _as(SIGNATURE, lambda: verify_signed(cert_entry.entry, CERTIFICATE_TYPE, issuing_key))
    certificate = check_certificate(payload, VOCABULARY)
    index = cert_entry.index
    # 9. Issuing authority.
    if not link_index < index:
        fail(KEY_CHAIN, f"step 9: certificate index {index} not after delegation {link_index}")
    if not delegation[3] <= certificate[5] < delegation[6]:
        fail(KEY_CHAIN, "step 9: issued_at outside [effective at, valid until)")
    if not scope_within(certificate[8], delegation[7], VOCABULARY):
        fail(KEY_CHAIN, "step 9: the certificate's scope is not within the delegated scope")
    # 10. Issuing key status (events.md §3.3).
    evidence = bundle.key_status
    issuing_key_id = key_id(issuing_key)
    verify_status_proof(
        checkpoint.status_root, issuing_key_id, evidence.value, evidence.siblings, evidence.other
    )
    key_value = evidence.value
    if key_value is None:
        fail(STATUS_PROOF, "step 10: the issuing key has no record (revocation.md §5 item 3)")
    key_record = _as(STATUS_PROOF, lambda: check_key_record(key_value))
    if key_record[1] != link_index:
        fail(STATUS_PROOF, f"step 10: the key record's delegation index is {key_record[1]}")
    if not (key_record[1] < index and (2 not in key_record or index < key_record[2])):
        fail(KEY_CHAIN, f"step 10: the key's record does not allow index {index}")
    # 11. Certificate status.
    certificate_id = hashlib.sha256(payload).digest()
    evidence = bundle.certificate_status
    verify_status_proof(
        checkpoint.status_root, certificate_id, evidence.value, evidence.siblings, evidence.other
    )
    cert_value = evidence.value
    if cert_value is None:
        fail(STATUS_PROOF, "step 11: the certificate has no record (revocation.md §5 item 2)")
    record = _as(STATUS_PROOF, lambda: check_status_record(cert_value))
    if record[3] != index:
        fail(STATUS_PROOF, f"step 11: the record's issuance index is {record[3]}, not {index}")
    # 12. Validity window.
    if at < certificate[6]:
        raise CertificateStatusError(
            NOT_YET_VALID, f"step 12: before valid_from {certificate[6]}", record
        )
    if 7 in certificate and at >= certificate[7]:
        raise CertificateStatusError(
            EXPIRED, f"step 12: at or after valid_until {certificate[7]}", record
        )
    # 13. Status at `at`.
    state = state_at(record, at)
    if state is None:
        fail(STALE, "step 13: the record cannot tell the state at `at`")
    if state != "active":
        raise CertificateStatusError(STATE_ERRORS[state], f"step 13: {state} at {at}", record)
    # 14. Query. Partial suspensions from the current record only, and only when its state
    #     is the one at `at` (the version 1 limitation of §3).
    suspended = set(record.get(7, [])) if at >= record[1] else set()
    grants = [g for g in certificate[8][1] if g[0] not in suspended]
    conditions: list[str] = []
    if query is not None:
        evaluate(certificate[8], query, VOCABULARY)  # a refused query: ModelError
        matching = [g for g in certificate[8][1] if grant_permits(g, query, VOCABULARY)]
        if not matching:
            raise CertificateStatusError(
                OUT_OF_SCOPE, "step 14: no grant permits the query", record
            )
        grants = [g for g in matching if g[0] not in suspended]
        if not grants:
            raise CertificateStatusError(
                SUSPENDED, "step 14: permitted only by suspended grants", record
            )
        conditions = sorted({c for g in grants for c in g.get(7, [])})
    return Verified(
        certificate,
        certificate_id,
        index,
        checkpoint,
        record,
        cosigned,
        grants,
        conditions,
        certificate.get(10, []),
    )


# --------------------------------------------------------------------------------------
# The vectors
# --------------------------------------------------------------------------------------


def _files(folder: str) -> list[Path]:
    return sorted((VECTORS / folder).glob("*.json"))


def _params(folder: str) -> list[Any]:
    return [pytest.param(p, id=f"{folder}/{p.stem}") for p in _files(folder)]


def load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert vector["format"] == "noc-ledger-vectors/1"
    assert isinstance(vector["description"], str) and vector["description"]
    return vector


def h(text: str) -> bytes:
    assert text == text.lower(), "hex in vectors is lowercase"
    return bytes.fromhex(text)


def assert_rejected(expect: str, action: Callable[[], object]) -> None:
    """Run ``action``; it must fail with exactly the class ``expect``."""
    with pytest.raises(VerifyError) as caught:
        action()
    assert caught.value.cls == expect, caught.value.reason


def test_vector_counts() -> None:
    folders = sorted(p.name for p in VECTORS.iterdir() if p.is_dir())
    assert folders == sorted(EXPECTED_COUNTS)
    assert {f: len(_files(f)) for f in folders} == EXPECTED_COUNTS
    for folder in folders:  # nothing but JSON vectors in a folder
        assert all(p.suffix == ".json" for p in (VECTORS / folder).iterdir())
    expects = {
        "certificate": {"valid", DECODE, SIGNATURE, MODEL},
        "checkpoint": {"valid", DECODE, SIGNATURE},
        "encoding": {"valid", DECODE},
        "events": {"valid", DECODE, SIGNATURE, MODEL},
        "keys": {"valid"},
        "log": {"valid", DECODE, SIGNATURE, MODEL, SCOPE, TRANSITION},
        "merkle": {"valid", INCLUSION, CONSISTENCY},
        "scope": {"permitted", "not-permitted", "within", "not-within", MODEL},
        "statusmap": {"valid", STATUS_PROOF},
        "verify": {"valid", *VERDICTS.values()},
    }
    for folder, allowed in expects.items():
        for path in _files(folder):
            assert load(path)["expect"] in allowed, path
    for path in _files("verify"):  # `error`: null when valid, else a class of the verdict
        v = load(path)
        assert v["expect"] == ("valid" if v["error"] is None else VERDICTS[v["error"]]), path


@pytest.mark.parametrize("path", _params("encoding"))
def test_encoding(path: Path) -> None:
    v = load(path)
    data = h(v["input"])
    if v["expect"] == "valid":
        check_canonical(data)
        value = cbor2.loads(data)
        assert diagnostic(value) == v["diagnostic"]
        assert encode(value) == data  # re-encoding gives the input again
    else:
        assert v["expect"] == DECODE
        assert_rejected(DECODE, lambda: check_canonical(data))


@pytest.mark.parametrize("path", _params("keys"))
def test_keys(path: Path) -> None:
    v = load(path)
    assert v["expect"] == "valid"
    private = Ed25519PrivateKey.from_private_bytes(h(v["seed"]))
    public = private.public_key().public_bytes_raw()
    assert public == h(v["public_key"])
    assert thumbprint_input(public) == h(v["thumbprint_input"])
    assert hashlib.sha256(thumbprint_input(public)).digest() == h(v["key_id"])
    # The thumbprint input is the canonical encoding of {1: 1, -1: 6, -2: x}.
    assert plain(strict_loads(thumbprint_input(public))) == {1: 1, -1: 6, -2: public}
    # The key signs and verifies under the strict rule.
    message = b"noc-ledger independent vector test"
    assert verify_strict_reference(public, message, private.sign(message))


def _keys() -> dict[str, bytes]:
    return {p.stem: h(load(p)["public_key"]) for p in _files("keys")}


def verify_certificate(v: dict[str, Any]) -> tuple[bytes, dict[int, Any]]:
    payload = verify_signed(h(v["signed"]), v["content_type"], h(v["public_key"]))
    return payload, check_certificate(payload, VOCABULARY)  # signing.md §4 step 9


@pytest.mark.parametrize("path", _params("certificate"))
def test_certificate(path: Path) -> None:
    v = load(path)
    assert v["content_type"] == CERTIFICATE_TYPE
    assert h(v["public_key"]) in _keys().values()
    if v["expect"] != "valid":
        assert_rejected(v["expect"], lambda: verify_certificate(v))
        return
    payload, cert = verify_certificate(v)
    signed, public = h(v["signed"]), h(v["public_key"])
    assert payload == h(v["payload"])
    assert diagnostic(cert) == v["payload_diagnostic"]
    assert hashlib.sha256(payload).hexdigest() == v["certificate_id"]  # §3.10
    assert key_id(public).hex() == v["key_id"]
    assert pycose_verify(signed, public) == payload
    # Holder keys in the subject are the holder test key.
    for holder in cert[4].get(5, []):
        assert holder == _keys()["holder"]


# vectors/README.md: every certificate vector is correctly signed (by the authority key)
# unless the scenario is about the signature, so a skipped check is caught by its vector.
BAD_SIGNATURES: Final = frozenset({"bad-signature", "signature-s-plus-l"})


def test_certificate_vectors_are_signed_unless_about_the_signature() -> None:
    authority = _keys()["authority"]
    for path in _files("certificate"):
        item = cbor2.loads(first_item(h(load(path)["signed"])))
        protected, _, payload, signature = plain(
            item.value if isinstance(item, cbor2.CBORTag) else item
        )
        ok = verify_strict_reference(authority, sig_structure(protected, payload), signature)
        assert ok == (path.stem not in BAD_SIGNATURES), path.stem


def _cbor_items() -> Iterator[tuple[str, str, bytes, Profile]]:
    """(vector id, part, bytes, profile) of every CBOR item in vectors/."""
    for path in _files("encoding"):
        v = load(path)
        if v["expect"] == "valid":
            yield f"encoding/{path.stem}", "input", h(v["input"]), STRICT
    for path in _files("keys"):
        yield f"keys/{path.stem}", "thumbprint_input", h(load(path)["thumbprint_input"]), STRICT
    for folder in ("certificate", "events"):
        for path in _files(folder):
            v = load(path)
            name = f"{folder}/{path.stem}"
            yield from _signed_items(name, h(v["signed"]))
            if "payload" in v:
                yield name, "payload field", h(v["payload"]), STRICT
    for path in _files("scope"):
        v = load(path)
        for part in ("scope", "inner", "outer"):
            if part in v:
                yield f"scope/{path.stem}", part, h(v[part]), STRICT
    for path in _files("statusmap"):
        v = load(path)
        if "proof" in v:
            yield f"statusmap/{path.stem}", "proof", h(v["proof"]), STATUS_PROOF_PROFILE
    for path in _files("log"):
        v = load(path)
        name = f"log/{path.stem}"
        yield name, "root_scope", h(v["root_scope"]), STRICT
        for i, entry in enumerate(v["entries"]):
            yield from _signed_items(name, h(entry), f"entries[{i}] ")
        for n, after in enumerate(v.get("after", [])):
            for record_id, record in after["records"].items():
                yield name, f"after[{n}] record {record_id[:8]}", h(record), STRICT
    for path in _files("verify"):
        yield from _bundle_items(f"verify/{path.stem}", load(path))


def _bundle_items(name: str, v: dict[str, Any]) -> Iterator[tuple[str, str, bytes, Profile]]:
    """A bundle and what is inside it: the signed documents of its entries (with their
    headers and payloads), the status records, the status proofs (the bytes inside the
    bundle, with the limits of revocation.md §3.3), and the root scopes of the policy."""
    data = h(v["bundle"])
    yield name, "bundle", data, BUNDLE_PROFILE
    bundle = plain(cbor2.loads(data))
    for part, logged in (("certificate", bundle[1]), *(("link", x) for x in bundle[2])):
        yield from _signed_items(name, logged[1], f"{part} ")
    for part, key in (("certificate status", 4), ("key status", 5)):
        value, proof = bundle[key]
        if value is not None:
            yield name, f"{part} record", value, STRICT
        encoded = encode(proof)
        assert encoded in data  # the bytes as received, if the bundle is canonical
        yield name, f"{part} proof", encoded, STATUS_PROOF_PROFILE
    for line in v["policy"].split("\n"):
        if line.startswith("root "):
            yield name, "policy root scope", base64.b64decode(line.split(" ")[2]), STRICT


def _signed_items(
    name: str, signed: bytes, prefix: str = ""
) -> Iterator[tuple[str, str, bytes, Profile]]:
    """A signed document and, inside it, its protected header and its payload."""
    yield name, f"{prefix}signed", signed, ANY_TAG
    item = cbor2.loads(first_item(signed))
    parts = plain(item.value if isinstance(item, cbor2.CBORTag) else item)
    yield name, f"{prefix}protected", parts[0], STRICT
    yield name, f"{prefix}payload", parts[2], STRICT


# The only items of vectors/ not in deterministic form: each is the subject of its vector.
NOT_DETERMINISTIC: Final = frozenset(
    {
        ("certificate/trailing-bytes", "signed"),
        ("certificate/non-canonical-protected", "protected"),
        ("certificate/non-canonical-payload", "payload"),
    }
)


def test_every_cbor_item_is_deterministic() -> None:
    """Every CBOR item in vectors/ is in RFC 8949 §4.2.1 deterministic form (encoding.md §3),
    except the three that are deliberately not, and those three are not."""
    seen = 0
    failing = set()
    for name, part, data, profile in _cbor_items():
        seen += 1
        try:
            check_canonical(data, profile)
        except VerifyError:
            failing.add((name, part))
            continue
        assert encode(cbor2.loads(data)) == data, (name, part)
    assert failing == NOT_DETERMINISTIC
    # 11 valid encoding inputs, 6 thumbprint inputs, per certificate vector its signed
    # document, protected header and payload (30 x 3) plus the payload field of the 4 valid
    # ones, the scopes of 15 query and 9 subset vectors (15 + 9 x 2), the same three items
    # of the 10 event vectors plus the payload field of the 5 valid ones, the 9 status
    # proofs, and per log its root scope (5), the three items of each of its 3 + 6 + 2 + 5
    # + 2 entries, and the records of story.json after each of its 5 entries (1 + 2 + 3 x 3);
    # per verify vector its bundle, the three items of its certificate entry and of its one
    # link, its two status records and two status proofs, and its policy's one root scope.
    assert seen == (
        11
        + 6
        + 30 * 3
        + 4
        + 15
        + 9 * 2
        + 10 * 3
        + 5
        + 9
        + 5
        + 18 * 3
        + (1 + 2 + 3 * 3)
        + 23 * (1 + 3 + 3 + 2 + 2 + 1)
    )


def _query(q: dict[str, Any]) -> Query:
    amount = None
    if "amount" in q:
        a = q["amount"]
        amount = Amount(value=a["value"], unit=a["unit"], metric=a.get("metric", "per_transaction"))
    return Query(
        activity=q["activity"],
        customer_type=q["customer_type"],
        territory=q["territory"],
        product=q.get("product"),
        amount=amount,
    )


def _scope(data: bytes) -> dict[int, Any]:
    return check_scope(plain(strict_loads(data)), VOCABULARY)


@pytest.mark.parametrize("path", _params("scope"))
def test_scope(path: Path) -> None:
    v = load(path)
    if path.stem.startswith("query-"):
        scope = _scope(h(v["scope"]))
        assert diagnostic(scope) == v["scope_diagnostic"]
        query = _query(v["query"])
        if v["expect"] == MODEL:
            assert_rejected(MODEL, lambda: evaluate(scope, query, VOCABULARY))
            return
        permitted, conditions = evaluate(scope, query, VOCABULARY)
        assert ("permitted" if permitted else "not-permitted") == v["expect"]
        assert conditions == sorted(set(v["conditions_precedent"]))
        assert len(v["conditions_precedent"]) == len(conditions)
    else:
        assert path.stem.startswith("subset-")
        inner, outer = _scope(h(v["inner"])), _scope(h(v["outer"]))
        within = scope_within(inner, outer, VOCABULARY)
        assert ("within" if within else "not-within") == v["expect"]
        assert scope_within(inner, inner, VOCABULARY)  # reflexive
        assert scope_within(outer, outer, VOCABULARY)


def _roots() -> dict[str, Any]:
    return load(VECTORS / "merkle" / "roots.json")


@pytest.mark.parametrize("path", _params("merkle"))
def test_merkle(path: Path) -> None:
    v = load(path)
    roots = _roots()
    leaves = [leaf_hash(h(e)) for e in roots["entries"]]
    if path.stem == "roots":
        assert [x.hex() for x in leaves] == roots["leaf_hashes"]
        assert len(roots["roots"]) == len(leaves) + 1
        for n, root in enumerate(roots["roots"]):
            assert mth(leaves[:n]).hex() == root, n
        assert h(roots["roots"][0]) == EMPTY_ROOT
        return
    proof = [h(p) for p in v["proof"]]
    if path.stem.startswith("inclusion-"):
        index, size = v["index"], v["size"]
        leaf, root = h(v["leaf_hash"]), h(v["root"])
        if v["expect"] == "valid":
            verify_inclusion(index, size, leaf, proof, root)
            # The same proof, generated here from roots.json (§4.1).
            assert leaf == leaves[index] and root == mth(leaves[:size])
            assert inclusion_path(index, leaves[:size]) == proof
        else:
            assert_rejected(INCLUSION, lambda: verify_inclusion(index, size, leaf, proof, root))
    else:
        assert path.stem.startswith("consistency-")
        size1, size2 = v["size1"], v["size2"]
        root1, root2 = h(v["root1"]), h(v["root2"])
        if v["expect"] == "valid":
            verify_consistency(size1, size2, root1, root2, proof)
            assert root1 == mth(leaves[:size1]) and root2 == mth(leaves[:size2])
            expected = [] if size1 == size2 else consistency_proof(size1, leaves[:size2])
            assert expected == proof
        else:
            assert_rejected(
                CONSISTENCY, lambda: verify_consistency(size1, size2, root1, root2, proof)
            )


# --------------------------------------------------------------------------------------
# events/ (events.md §2-§3, certificate.md §2.4)
# --------------------------------------------------------------------------------------


def verify_event(v: dict[str, Any]) -> tuple[bytes, dict[int, Any]]:
    payload = verify_signed(h(v["signed"]), v["content_type"], h(v["public_key"]))
    if v["content_type"] == KEY_EVENT_TYPE:  # signing.md §4 step 9
        return payload, check_key_event(payload, VOCABULARY)
    return payload, check_status_event(payload)


@pytest.mark.parametrize("path", _params("events"))
def test_event(path: Path) -> None:
    v = load(path)
    assert v["content_type"] in (STATUS_EVENT_TYPE, KEY_EVENT_TYPE)
    # Key events are signed by the authority root key, status events by an issuing key.
    signer = "root" if path.stem.startswith("key-") else "authority"
    assert h(v["public_key"]) == _keys()[signer]
    if v["expect"] != "valid":
        assert_rejected(v["expect"], lambda: verify_event(v))
        return
    payload, event = verify_event(v)
    assert payload == h(v["payload"])
    assert diagnostic(event) == v["payload_diagnostic"]
    assert pycose_verify(h(v["signed"]), h(v["public_key"])) == payload


def test_event_vectors_are_correctly_signed() -> None:
    # No event vector is about the signature: each verifies (steps 1-8), so every failure
    # is in the payload, and a verifier that skips a payload rule is caught by its vector.
    for path in _files("events"):
        v = load(path)
        verify_signed(h(v["signed"]), v["content_type"], h(v["public_key"]))


def test_event_shape_before_values() -> None:
    # key-event-as-status-event: as a status event the payload has both shape faults
    # (key 6 a uint, key 7 a map: DecodeError) and value faults (kind "delegate", reason
    # "issuing key 2026-A": ModelError); the vector expects DecodeError, so the shape is
    # checked first. The same payload is a valid key event.
    v = load(VECTORS / "events" / "key-event-as-status-event.json")
    doc = open_sign1(h(v["signed"]))
    check_key_event(doc.payload, VOCABULARY)
    assert_rejected(DECODE, lambda: check_status_event(doc.payload))


# --------------------------------------------------------------------------------------
# checkpoint/ (checkpoint.md)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _params("checkpoint"))
def test_checkpoint(path: Path) -> None:
    v = load(path)
    log_key = parse_verifier_key(v["log_key"])
    assert (log_key.name, log_key.sig_type) == (v["origin"], NOTE_KEY_TYPE)
    assert log_key.public_key == _keys()["log"]
    note = v["note"].encode("utf-8")
    if v["expect"] != "valid":
        assert_rejected(v["expect"], lambda: open_checkpoint(note, v["origin"], log_key))
        if v["expect"] == DECODE:  # correctly signed (§2.5), then refused by §4.2
            text, _, _ = open_note(note, [log_key])
            assert_rejected(DECODE, lambda: decode_checkpoint(text))
        return
    cp, text, unverified = open_checkpoint(note, v["origin"], log_key)
    assert (cp.size, cp.root.hex(), cp.time, cp.status_root.hex()) == (
        v["size"],
        v["root"],
        v["time"],
        v["status_root"],
    )
    assert cp.extensions == ()  # "Version-1 logs write no other extension lines" (§3.3)
    assert cp.root == h(_roots()["roots"][cp.size])  # the tree of merkle/roots.json
    if "witness_key" not in v:
        assert unverified == []
        return
    witness = parse_verifier_key(v["witness_key"])
    assert witness.sig_type == COSIGNATURE_TYPE
    assert witness.public_key == _keys()["witness"]
    cosignatures = verify_cosignatures(text, unverified, [witness])
    assert cosignatures == [(witness.name, witness.key_id, v["cosignature_time"])]
    # Taken as a note key (type 0x01) the witness's line is a known key's signature that is
    # not 64 bytes: the whole note is refused (§2.5 step 3).
    assert_rejected(SIGNATURE, lambda: open_note(note, [dataclasses.replace(witness, sig_type=1)]))


def _example_block(marker: str) -> str:
    """The text of the fenced block after ``marker`` in spec/checkpoint.md."""
    spec = (ROOT / "spec" / "checkpoint.md").read_text(encoding="utf-8")
    start = spec.index("```\n", spec.index(marker)) + 4
    return spec[start : spec.index("```", start)]


def test_checkpoint_spec_example() -> None:
    """checkpoint.md §7, from the spec text: the keys, the note and the cosigned bytes."""

    def public(seed_text: bytes) -> bytes:
        seed = hashlib.sha256(seed_text).digest()
        return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()

    log_key = parse_verifier_key(
        "log.noc-ledger.example+22b12156+AeUPyT8NRKrTB4QSCJe8oEnT6c0HYmyHpnreJtChM2JV"
    )
    witness = parse_verifier_key(
        "witness.example/w1+6b38b6a7+BCqoW8MQ82FHbWp0MHnYbbvG9Pwv3a2CZzGQ62Bev1Ix"
    )
    assert log_key.public_key == public(b"noc-ledger example log key")
    assert witness.public_key == public(b"noc-ledger example witness key")
    note = _example_block("<!-- example:begin -->").encode("utf-8")
    cp, text, unverified = open_checkpoint(note, "log.noc-ledger.example", log_key)
    assert cp == Checkpoint(
        "log.noc-ledger.example",
        1234,
        hashlib.sha256(b"noc-ledger example root").digest(),
        1767225600,
        hashlib.sha256(b"noc-ledger example status root").digest(),
    )
    assert verify_cosignatures(text, unverified, [witness]) == [
        ("witness.example/w1", bytes.fromhex("6b38b6a7"), 1767225605)
    ]
    signed_bytes = _example_block("The witness signed these bytes:")
    assert cosigned_message(1767225605, text) == signed_bytes.encode("utf-8")


def _log_signer() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(h(load(VECTORS / "keys" / "log.json")["seed"]))


def _signed_note(body: str, name: str = "authority.example/noc-ledger") -> bytes:
    """§2.6 with the log test key: the body, LF, one signature line."""
    key = _log_signer()
    kid = note_key_id(name, NOTE_KEY_TYPE, key.public_key().public_bytes_raw())
    sig = base64.b64encode(kid + key.sign(body.encode("utf-8"))).decode("ascii")
    return f"{body}\n\u2014 {name} {sig}\n".encode()


_VALID_BODY: Final = (
    "authority.example/noc-ledger\n13\nwMEonwBgX419h4C59CZMc2zPuEzpFwjCsn5kJr/H2Kg=\n"
    "noc-ledger-time 1767229200\nnoc-ledger-status GQ0IF49XPpMCmz6OJE6CZUI2evmGfK4L3pM4lYy2c9s=\n"
)
_EMPTY_B64: Final = base64.b64encode(EMPTY_ROOT).decode("ascii")


def _body(**lines: str) -> str:
    """_VALID_BODY with lines replaced (``l2="14"``) or appended (``l6=...``)."""
    out = _VALID_BODY[:-1].split("\n")
    for name, text in sorted(lines.items()):
        n = int(name[1:]) - 1
        out[n : n + 1] = [text]
    return "".join(line + "\n" for line in out)


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        pytest.param(_VALID_BODY, "valid", id="the-vector-body"),
        pytest.param(_body(l6="example.com/ext 1"), "valid", id="extension-line"),
        pytest.param(_body(l6="noc-ledger-other x"), "valid", id="unknown-noc-ledger-line"),
        pytest.param(_body(l4="noc-ledger-time 0"), "valid", id="time-0"),
        pytest.param(_body(l4="noc-ledger-time -1"), "valid", id="time-negative"),
        pytest.param(_body(l4=f"noc-ledger-time {-(2**63)}"), "valid", id="time-min"),
        pytest.param(_body(l4=f"noc-ledger-time {2**63 - 1}"), "valid", id="time-max"),
        pytest.param(_body(l2=str(2**63 - 1)), "valid", id="size-max"),
        pytest.param(_body(l2="0", l3=_EMPTY_B64), "valid", id="size-0-empty-root"),
        pytest.param(_body(l2="0"), DECODE, id="size-0-other-root"),
        pytest.param(_body(l2=str(2**63)), DECODE, id="size-2**63"),
        pytest.param(_body(l2="+13"), DECODE, id="size-plus"),
        pytest.param(_body(l4=f"noc-ledger-time {2**63}"), DECODE, id="time-2**63"),
        pytest.param(_body(l4=f"noc-ledger-time {-(2**63) - 1}"), DECODE, id="time-below"),
        pytest.param(_body(l4="noc-ledger-time -0"), DECODE, id="time-minus-0"),
        pytest.param(_body(l4="noc-ledger-time 01"), DECODE, id="time-leading-0"),
        pytest.param(_body(l4="noc-ledger-time  1"), DECODE, id="time-two-spaces"),
        pytest.param(_body(l4="time 1767229200"), DECODE, id="time-keyword"),
        pytest.param(_body(l6="noc-ledger-time 1"), DECODE, id="second-time-line"),
        pytest.param(_body(l6="noc-ledger-status"), DECODE, id="second-status-keyword"),
        pytest.param(_body(l3=_EMPTY_B64[:-2] + "V="), DECODE, id="root-unused-bits"),
        pytest.param(_body(l3=_EMPTY_B64[:-1]), DECODE, id="root-unpadded"),
        pytest.param(_body(l3=base64.b64encode(bytes(31)).decode()), DECODE, id="root-31"),
        pytest.param(_body(l1="a b"), DECODE, id="origin-space"),
        pytest.param(_body(l5="noc-ledger-root " + _EMPTY_B64), DECODE, id="status-keyword"),
        # Signed under the origin by the log key, but another origin line (§4.3 step 4).
        pytest.param(_body(l1="other.example/log"), SIGNATURE, id="origin-line"),
    ],
)
def test_checkpoint_bodies(body: str, expect: str) -> None:
    """§4.2 on bodies the vectors do not have, each correctly signed with the log key."""
    log_key = parse_verifier_key(load(VECTORS / "checkpoint" / "valid.json")["log_key"])
    origin = log_key.name
    note = _signed_note(body)
    if expect == "valid":
        cp, _, _ = open_checkpoint(note, origin, log_key)
        assert encode_checkpoint(cp) == body
    else:
        assert_rejected(expect, lambda: open_checkpoint(note, origin, log_key))


def _valid_note() -> bytes:
    note: bytes = load(VECTORS / "checkpoint" / "valid-cosigned.json")["note"].encode("utf-8")
    return note


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        pytest.param(lambda n: n, "valid", id="unchanged"),
        pytest.param(lambda n: n.replace(b"\n\n", b"\r\n\n"), DECODE, id="cr"),
        pytest.param(lambda n: n.replace(b"\n\n", b"\t\n\n"), DECODE, id="tab"),
        pytest.param(lambda n: n.replace(b"\n\n", b"\n"), DECODE, id="no-blank-line"),
        pytest.param(lambda n: n[:-1], DECODE, id="no-final-lf"),
        pytest.param(lambda n: n + n[n.rindex(b"\n\xe2") + 1 :], DECODE, id="repeated-line"),
        pytest.param(lambda n: n.replace(b"\xe2\x80\x94 w", b"- w"), DECODE, id="hyphen"),
        pytest.param(lambda n: n.replace(b"\xe2\x80\x94 w", b"\xe2\x80\x94  w"), DECODE, id="2sp"),
        pytest.param(lambda n: n.replace(b"sRG4", b"sRG4 "), DECODE, id="space-in-base64"),
        pytest.param(lambda n: n.replace(b"==\n", b"=\n", 1), DECODE, id="bad-padding"),
        pytest.param(lambda n: n + b"\xe2\x80\x94 x AAAA\n", DECODE, id="4-byte-signature"),
        pytest.param(lambda n: n + b"\xe2\x80\x94 x AAAAAAA=\n", "valid", id="unknown-line"),
        pytest.param(lambda n: b"\xc0\xaf" + n, DECODE, id="overlong-utf8"),
        pytest.param(lambda n: b"\xed\xa0\x80" + n, DECODE, id="surrogate-utf8"),
        pytest.param(
            lambda n: n + b"".join(b"\xe2\x80\x94 k%d AAAAAAA=\n" % i for i in range(99)),
            DECODE,
            id="101-lines",
        ),
        pytest.param(
            lambda n: n + b"".join(b"\xe2\x80\x94 k%d AAAAAAA=\n" % i for i in range(98)),
            "valid",
            id="100-lines",
        ),
        pytest.param(lambda n: n.replace(b"JHtR", b"JHtS"), SIGNATURE, id="log-signature-changed"),
        pytest.param(
            lambda n: n.replace(b"/UjiGZ3G", b"/UjiGZ3H"), SIGNATURE, id="cosignature-changed"
        ),
    ],
)
def test_note_changes(change: Callable[[bytes], bytes], expect: str) -> None:
    """§2.4, §2.5 and §5.2 on changed copies of valid-cosigned (no vector has these)."""
    v = load(VECTORS / "checkpoint" / "valid-cosigned.json")
    log_key, witness = parse_verifier_key(v["log_key"]), parse_verifier_key(v["witness_key"])
    note = change(_valid_note())

    def check() -> None:
        _, text, unverified = open_checkpoint(note, v["origin"], log_key)
        assert len(verify_cosignatures(text, unverified, [witness])) == 1

    if expect == "valid":
        check()
    else:
        assert_rejected(expect, check)


def test_note_text_with_empty_lines() -> None:
    # §2.4 step 4: the split is at the *last* LF LF, so the text may hold empty lines
    # (and is then no checkpoint body: §4.2 step 1).
    log_key = parse_verifier_key(load(VECTORS / "checkpoint" / "valid.json")["log_key"])
    body = "first\n\n\nsecond\n\n"
    text, verified, unverified = open_note(_signed_note(body), [log_key])
    assert (text, len(verified), unverified) == (body, 1, [])
    assert_rejected(DECODE, lambda: decode_checkpoint(text))


def _cosigned(timestamp: int) -> bytes:
    """valid.json's note with a cosignature by the witness test key at ``timestamp`` (§5.1
    step 4, with any 8-byte timestamp)."""
    v = load(VECTORS / "checkpoint" / "valid-cosigned.json")
    witness = parse_verifier_key(v["witness_key"])
    private = Ed25519PrivateKey.from_private_bytes(
        h(load(VECTORS / "keys" / "witness.json")["seed"])
    )
    note: str = load(VECTORS / "checkpoint" / "valid.json")["note"]
    body = note[: note.rindex("\n\n") + 1]
    signature = private.sign(cosigned_message(timestamp, body))
    raw = witness.key_id + timestamp.to_bytes(8, "big") + signature
    line = f"\u2014 {witness.name} {base64.b64encode(raw).decode('ascii')}\n"
    return (note + line).encode("utf-8")


@pytest.mark.parametrize(
    ("timestamp", "expect"),
    [
        pytest.param(1767229300, "valid", id="the-vector"),
        pytest.param(0, "valid", id="zero"),
        pytest.param(2**63 - 1, "valid", id="2**63-1"),
        pytest.param(2**63, SIGNATURE, id="2**63"),
        pytest.param(2**64 - 1, SIGNATURE, id="2**64-1"),
    ],
)
def test_cosignature_timestamps(timestamp: int, expect: str) -> None:
    """§5.2 step 2.2 on cosignatures signed here by the witness test key."""
    v = load(VECTORS / "checkpoint" / "valid-cosigned.json")
    log_key, witness = parse_verifier_key(v["log_key"]), parse_verifier_key(v["witness_key"])
    note = _cosigned(timestamp)
    if timestamp == v["cosignature_time"]:
        assert note == v["note"].encode("utf-8")  # Ed25519 is deterministic

    def check() -> list[tuple[str, bytes, int]]:
        _, text, unverified = open_checkpoint(note, v["origin"], log_key)
        return verify_cosignatures(text, unverified, [witness])

    if expect == "valid":
        assert check() == [(witness.name, witness.key_id, timestamp)]
    else:
        assert_rejected(expect, check)


@pytest.mark.parametrize(
    "text",
    [
        "authority.example/noc-ledger+ad2f43fc",  # two parts
        "authority.example/noc-ledger+AD2F43FC+AUcW+5VZF/dvfCoH4XjDtg9FFo3n2zhUUuY+R1Z9qGKK",
        "authority.example/noc-ledger+ad2f43fd+AUcW+5VZF/dvfCoH4XjDtg9FFo3n2zhUUuY+R1Z9qGKK",
        "authority.example/noc-ledger+ad2f43fc+AUcW+5VZF/dvfCoH4XjDtg9FFo3n2zhUUuY+R1Z9qGKL",
        "authority.example/noc-ledger+ad2f43fc+AkcW+5VZF/dvfCoH4XjDtg9FFo3n2zhUUuY+R1Z9qGKK",
        "authority.example/noc-ledger+ad2f43fc+AUcW+5VZF/dvfCoH4XjDtg9FFo3n2zhUUuY+R1Z9qGI=",
        "authority example+ad2f43fc+AUcW+5VZF/dvfCoH4XjDtg9FFo3n2zhUUuY+R1Z9qGKK",
        "+ad2f43fc+AUcW+5VZF/dvfCoH4XjDtg9FFo3n2zhUUuY+R1Z9qGKK",
    ],
)
def test_verifier_key_refusals(text: str) -> None:
    """§2.2: uppercase or wrong key ID, unused bits, type 0x02, 32 bytes, bad names."""
    assert_rejected(DECODE, lambda: parse_verifier_key(text))


# --------------------------------------------------------------------------------------
# statusmap/ (revocation.md §2-§3)
# --------------------------------------------------------------------------------------


def _map_items() -> dict[bytes, bytes]:
    items = load(VECTORS / "statusmap" / "root.json")["items"]
    out = {h(k): h(val) for k, val in items}
    assert len(out) == len(items)
    return out


def _proof_check(v: dict[str, Any]) -> None:
    siblings, other = decode_status_proof(h(v["proof"]))
    value = None if v["value"] is None else h(v["value"])
    verify_status_proof(h(v["root"]), h(v["key"]), value, siblings, other)


@pytest.mark.parametrize("path", _params("statusmap"))
def test_statusmap(path: Path) -> None:
    v = load(path)
    items = _map_items()
    if path.stem == "root":
        assert sm_root(items).hex() == v["root"]
        assert any(a[:31] == b[:31] for a in items for b in items if a != b)  # bit 255
        return
    proof = h(v["proof"])
    siblings, other = decode_status_proof(proof)  # §3.3, then back to the same bytes
    assert encode_status_proof(siblings, other) == proof
    assert diagnostic(cbor2.loads(proof)) == v["proof_diagnostic"]
    if v["expect"] != "valid":
        assert v["expect"] == STATUS_PROOF
        assert_rejected(STATUS_PROOF, lambda: _proof_check(v))
        return
    _proof_check(v)
    # §3.2 / §3.6: the only proof that passes is the one generated from the map.
    key, root = h(v["key"]), h(v["root"])
    mapping = items if root == sm_root(items) else {}
    assert sm_root(mapping) == root
    assert encode_status_proof(*sm_prove(mapping, key)) == proof
    assert mapping.get(key) == (None if v["value"] is None else h(v["value"]))


def test_status_proofs_for_every_key() -> None:
    """§3.2 proofs for every key of root.json and for absent keys all verify, and only
    for the right answer (§3.6 "one answer per key and root")."""
    items = _map_items()
    root = sm_root(items)
    absent = [hashlib.sha256(b"absent %d" % i).digest() for i in range(40)]
    for key in [*items, *absent]:
        siblings, other = sm_prove(items, key)
        siblings2, other2 = decode_status_proof(encode_status_proof(siblings, other))
        assert (siblings2, other2) == (siblings, other)
        value = items.get(key)
        verify_status_proof(root, key, value, siblings, other)
        wrong_answer = b"x" if value is None else None  # the other answer of the two
        check = functools.partial(verify_status_proof, root, key, wrong_answer, siblings, other)
        assert_rejected(STATUS_PROOF, check)
    # A shortcut leaf's hash does not depend on its depth (§2.4): one-entry maps.
    k, val = next(iter(items.items()))
    assert sm_root({k: val}) == sm_leaf_hash(k, sm_value_hash(val))
    assert sm_root({}) == SM_EMPTY


def test_status_proof_edge_cases() -> None:
    """revocation.md §3.5, row by row."""
    items = _map_items()
    root = sm_root(items)
    k, val = h("1c47270fa29e1b06da7724151078407c44aa1f6f3c3e57f82fa4914410f40afa"), b"value 14"
    assert items[k] == val
    siblings, _ = sm_prove(items, k)
    deep = h("49ac5de219edae62f9fdeea0fc3f3af48fd832f22fac50820ac11174d6e068bc")
    deep_siblings, _ = sm_prove(items, deep)
    assert len(deep_siblings) == 256  # two keys differing only in bit 255
    other_key = h("aa" * 32)
    one = {k: val}
    ok_cases: list[tuple[Any, ...]] = [
        (SM_EMPTY, other_key, None, [], None),  # empty map, absence
        (sm_root(one), k, val, [], None),  # one-entry map, presence
        (sm_root(one), other_key, None, [], (k, sm_value_hash(val))),  # absence at k's leaf
        (root, deep, items[deep], deep_siblings, None),
    ]
    for args in ok_cases:
        verify_status_proof(*args)
    absent_key = bytes(32)  # not in items
    a_siblings, a_other = sm_prove(items, absent_key)
    bad_cases: list[tuple[Any, ...]] = [
        (SM_EMPTY, other_key, b"x", [], None),  # presence in the empty map (step 6)
        (sm_root(one), k, None, [], (k, sm_value_hash(val))),  # other leaf = key (4.3)
        (root, k, None, siblings, (other_key, sm_value_hash(val))),  # not on path (4.3)
        (root, k, val, siblings, (other_key, sm_value_hash(val))),  # presence + other (4.1)
        (root, k, val, [*siblings, SM_EMPTY], None),  # deepest sibling EMPTY (3)
        (root, k, None, [*deep_siblings[:255], SM_EMPTY], None),  # step 3 again
        (SM_EMPTY, other_key, None, [root] * 256, None),  # absence at EMPTY, depth 256 (4.2)
        (root, k, val, [root] * 257, None),  # more than 256 siblings (2)
        (root[:31], k, val, siblings, None),  # sizes (1)
        (root, k[:31], val, siblings, None),
        (root, k, b"", siblings, None),  # empty value
        (root, k, bytes(1_025), siblings, None),
        (root, k, "value 14", siblings, None),  # not bytes
        (root, k, val, [*siblings[:-1], siblings[-1][:31]], None),
        (root, k, val, tuple(siblings), None),  # not a list
        (root, absent_key, None, a_siblings, (other_key, b"")),  # other value hash size
        (root, absent_key, None, a_siblings[:-1], a_other),  # one level short
    ]
    for args in bad_cases:
        with pytest.raises(VerifyError) as caught:
            verify_status_proof(*args)
        assert caught.value.cls == STATUS_PROOF, args[1:3]
    verify_status_proof(root, absent_key, None, a_siblings, a_other)


def _fold(key: bytes, terminal: bytes, siblings: list[bytes]) -> bytes:
    """§3.4 step 5 alone: the root a proof folds to."""
    r = terminal
    for i in range(len(siblings) - 1, -1, -1):
        r = sm_node_hash(r, siblings[i]) if sm_bit(key, i) == 0 else sm_node_hash(siblings[i], r)
    return r


def test_status_proof_rules_that_step_6_would_miss() -> None:
    """§3.4 steps 3, 4.2 and 4.3 on roots built so that the fold of step 5 *does* reach the
    root (roots §2.3 never produces, §3.6 "even one not produced by §2.3"): only the rule
    itself rejects each proof."""
    key, value, other = hashlib.sha256(b"k").digest(), b"v", hashlib.sha256(b"o").digest()
    leaf = sm_leaf_hash(key, sm_value_hash(value))
    cases: list[tuple[bytes, bytes | None, list[bytes], OtherLeaf]] = [
        # step 3: a node whose only entry is the key (its sibling EMPTY)
        (_fold(key, leaf, [SM_EMPTY]), value, [SM_EMPTY], None),
        # step 4.2: absence at EMPTY at depth 256
        (_fold(key, SM_EMPTY, [_HASH] * 256), None, [_HASH] * 256, None),
        # step 4.3: the other leaf off the key's path (another first bit)
        (
            _fold(key, sm_leaf_hash(other, _HASH), [_HASH]),
            None,
            [_HASH],
            (other, _HASH),
        ),
        # step 4.1: a presence proof carrying an other leaf (the fold ignores it)
        (_fold(key, leaf, [_HASH]), value, [_HASH], (other, _HASH)),
    ]
    assert sm_bit(key, 0) != sm_bit(other, 0)
    for root, val, siblings, other_leaf in cases:
        check = functools.partial(verify_status_proof, root, key, val, siblings, other_leaf)
        assert_rejected(STATUS_PROOF, check)
    # Without the defect each verifies: the rule, not the fold, rejected it.
    verify_status_proof(_fold(key, leaf, [_HASH]), key, value, [_HASH], None)
    verify_status_proof(_fold(key, SM_EMPTY, [_HASH] * 255), key, None, [_HASH] * 255, None)


_PROOF: Final = h(load(VECTORS / "statusmap" / "present.json")["proof"])  # {0: 6, 1: h'f4', …}
_HASH: Final = bytes(range(32))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param({0: 0}, True, id="depth-0"),
        pytest.param({0: 1, 1: b"\x00"}, True, id="depth-1-empty-sibling"),
        pytest.param({0: 1, 1: b"\x80", 2: [_HASH]}, True, id="depth-1"),
        pytest.param({0: 0, 3: [_HASH, _HASH]}, True, id="other-leaf"),
        pytest.param({0: 256, 1: bytes(32)}, True, id="depth-256"),
        pytest.param({0: 257, 1: bytes(33)}, False, id="depth-257"),
        pytest.param({0: -1}, False, id="depth-negative"),
        pytest.param({0: True}, False, id="depth-bool"),
        pytest.param({}, False, id="no-depth"),
        pytest.param({0: 0, 4: 1}, False, id="key-4"),
        pytest.param({0: 0, "x": 1}, False, id="text-key"),
        pytest.param([0], False, id="not-a-map"),
        pytest.param({0: 0, 1: b""}, False, id="bitmap-at-depth-0"),
        pytest.param({0: 1}, False, id="no-bitmap"),
        pytest.param({0: 9, 1: b"\x00"}, False, id="bitmap-short"),
        pytest.param({0: 1, 1: b"\x00\x00"}, False, id="bitmap-long"),
        pytest.param({0: 1, 1: b"\xc0", 2: [_HASH]}, False, id="padding-bit"),
        pytest.param({0: 1, 1: b"\x80"}, False, id="no-hashes"),
        pytest.param({0: 1, 1: b"\x00", 2: [_HASH]}, False, id="hashes-without-bits"),
        pytest.param({0: 1, 1: b"\x80", 2: []}, False, id="empty-hashes"),
        pytest.param({0: 1, 1: b"\x80", 2: [_HASH, _HASH]}, False, id="too-many-hashes"),
        pytest.param({0: 1, 1: b"\x80", 2: [SM_EMPTY]}, False, id="zero-hash"),
        pytest.param({0: 1, 1: b"\x80", 2: [_HASH[:31]]}, False, id="hash-31"),
        pytest.param({0: 0, 3: [_HASH]}, False, id="other-leaf-one"),
        pytest.param({0: 0, 3: [_HASH, _HASH[:31]]}, False, id="other-leaf-31"),
        pytest.param({0: 0, 3: [_HASH, _HASH, _HASH]}, False, id="other-leaf-three"),
        pytest.param({0: 0, 3: [[_HASH], _HASH]}, False, id="nested-3-deep"),
    ],
)
def test_status_proof_decoding(value: Any, ok: bool) -> None:
    """§3.3 rules 1-6 (every failure DecodeError)."""
    data = encode(value)
    if ok:
        siblings, other = decode_status_proof(data)
        assert encode_status_proof(siblings, other) == data
    else:
        assert_rejected(DECODE, lambda: decode_status_proof(data))


def test_status_proof_size_limit() -> None:
    # 8,818 bytes: depth 256, every sibling non-empty, and an other leaf (§3.3 rule 1).
    largest = encode_status_proof([_HASH] * 256, (_HASH, _HASH))
    assert len(largest) == 8_818
    decode_status_proof(largest)
    assert_rejected(DECODE, lambda: decode_status_proof(largest + b"\x00"))
    assert_rejected(DECODE, lambda: decode_status_proof(_PROOF[:-1]))


# --------------------------------------------------------------------------------------
# log/ (events.md §4-§5, revocation.md §6): replay of whole logs
# --------------------------------------------------------------------------------------


def _replay_for(v: dict[str, Any]) -> LogReplay:
    root_public_key = h(v["root_public_key"])
    assert root_public_key == _keys()["root"]
    return LogReplay(root_public_key, _scope(h(v["root_scope"])))


def check_record(record_id: bytes, data: bytes, key_ids: set[bytes]) -> dict[int, Any]:
    """A record of the status map, decoded by the kind of id (revocation.md §5)."""
    if record_id in key_ids:
        return check_key_record(data)
    return check_status_record(data)


def test_log_story() -> None:
    v = load(VECTORS / "log" / "story.json")
    entries = [h(e) for e in v["entries"]]
    assert len(v["after"]) == len(entries)
    replay = _replay_for(v)
    # The key ids the log's key events name (signing.md §5), from the payloads alone.
    key_ids = {
        key_id(plain(cbor2.loads(open_sign1(e).payload))[2])
        for e in entries
        if open_sign1(e).content_type == KEY_EVENT_TYPE
    }
    for n, (entry, after) in enumerate(zip(entries, v["after"], strict=True)):
        # RFC 9162 root of the first n + 1 entries, without the replay.
        assert mth([leaf_hash(e) for e in entries[: n + 1]]).hex() == after["tree_root"], n
        # The status root from the records the vector gives (revocation.md §2).
        records = {h(k): h(r) for k, r in after["records"].items()}
        assert sm_root(records).hex() == after["status_root"], n
        for record_id, data in records.items():
            check_record(record_id, data, key_ids)  # canonical, and of the CDDL
        # The replay of events.md §5 reaches the same records, hence the same roots.
        replay.append(entry)
        assert {k.hex(): r.hex() for k, r in replay.status_items().items()} == after["records"]
        assert replay.tree_root().hex() == after["tree_root"]
        assert sm_root(replay.status_items()).hex() == after["status_root"]


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=f"log/{p.stem}") for p in _files("log") if p.stem != "story"]
)
def test_log_refused(path: Path) -> None:
    v = load(path)
    entries = [h(e) for e in v["entries"]]
    failing = v["failing_index"]
    assert failing == len(entries) - 1  # "valid up to its last entry"
    replay = _replay_for(v)
    for entry in entries[:failing]:
        replay.append(entry)
    before = (dict(replay.records), dict(replay.delegations), dict(replay.certificates))
    assert_rejected(v["expect"], lambda: replay.append(entries[failing]))
    # "MUST write nothing" (§5): the state is the one before the refused entry.
    assert (replay.records, replay.delegations, replay.certificates) == before
    assert replay.size == failing


# --------------------------------------------------------------------------------------
# Edge cases of the spec's tables that the vectors do not cover (log.md §4.3, §5.3) and
# self-checks of the walker on inputs the encoding vectors leave out.
# --------------------------------------------------------------------------------------

_LEAVES: Final = [leaf_hash(f"entry {i}".encode()) for i in range(21)]


def test_merkle_edge_cases_of_the_spec_tables() -> None:
    leaf, root13 = _LEAVES[5], mth(_LEAVES[:13])
    proof = inclusion_path(5, _LEAVES[:13])
    verify_inclusion(5, 13, leaf, proof, root13)
    verify_inclusion(0, 1, _LEAVES[0], [], _LEAVES[0])
    bad_inclusion: list[tuple[Any, ...]] = [
        (0, 0, leaf, [], leaf),  # size 0
        (-1, 13, leaf, proof, root13),
        (True, 13, leaf, proof, root13),  # a boolean is not an integer
        (5, 13, leaf[:31], proof, root13),
        (5, 13, leaf, proof, b""),
        (5, 13, leaf, [*proof[:3], proof[3][:31]], root13),
        (5, 13, leaf, [*proof[:3], proof[3].hex()], root13),
        (5, 13, leaf, b"".join(proof), root13),  # one byte string is not a list
        (5, 13, leaf, proof[:3], root13),
        (5, 13, leaf, [*proof, proof[0]], root13),
    ]
    for args in bad_inclusion:
        with pytest.raises(VerifyError) as caught:
            verify_inclusion(*args)
        assert caught.value.cls == INCLUSION
    r6, r13 = mth(_LEAVES[:6]), mth(_LEAVES[:13])
    cproof = consistency_proof(6, _LEAVES[:13])
    verify_consistency(6, 13, r6, r13, cproof)
    # Every proof generated here verifies, for every size of roots.json's tree.
    sub_roots = [mth(_LEAVES[:n]) for n in range(22)]
    for n2 in range(1, 22):
        for i in range(n2):
            verify_inclusion(i, n2, _LEAVES[i], inclusion_path(i, _LEAVES[:n2]), sub_roots[n2])
        for n1 in range(1, n2 + 1):
            p = [] if n1 == n2 else consistency_proof(n1, _LEAVES[:n2])
            verify_consistency(n1, n2, sub_roots[n1], sub_roots[n2], p)
    bad_consistency: list[tuple[Any, ...]] = [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, []),
        (0, 13, EMPTY_ROOT, r13, []),
        (13, 6, r13, r6, cproof),
        (6, 13, r6, r13, []),
        (13, 13, r13, r13, [r13]),
        (13, 13, r13[:12], r13[:12], []),  # short roots, even with equal sizes
        (6, 13, r13, r6, cproof),  # swapped roots
        (False, 13, r6, r13, cproof),
        (6, 13, r6, r13, [*cproof[:3], cproof[3][:31]]),
    ]
    for args in bad_consistency:
        with pytest.raises(VerifyError) as caught:
            verify_consistency(*args)
        assert caught.value.cls == CONSISTENCY


# encoding.md §4: the outermost item has depth 0; an item inside an array, a map (key or
# value) or a tag has its container's depth plus one; every item, container or not, has
# depth at most 16.
_TAG_4000: Final = "d90fa0"  # a tag number no document names: allowed only by ANY_TAG


@pytest.mark.parametrize(
    ("hex_input", "ok"),
    [
        ("81" * 16 + "00", True),  # an integer at depth 16
        ("81" * 16 + "80", True),  # a 17th, empty, array at depth 16
        ("81" * 16 + "a0", True),  # an empty map at depth 16
        ("81" * 15 + "a10000", True),  # a map at depth 15: its key and value at depth 16
        ("81" * 17 + "00", False),  # an integer at depth 17
        ("81" * 17 + "80", False),  # an empty array at depth 17
        ("81" * 16 + "a10000", False),  # a map key at depth 17
        ("81" * 16 + "8100", False),
        ("a2616101616202", True),
        ("a2616201616102", False),  # unsorted text keys
        ("a1f400", False),  # a key that is not an integer or text
        ("d81800", False),  # a tag where none is allowed
        ("ff", False),
        ("7f6161ff", False),  # indefinite text
        ("f818", False),  # simple value 24
        ("fa3f800000", False),  # float32
        ("1a00010000", True),
        ("1a0000ffff", False),
        ("9a00000001", False),  # non-shortest count
        ("a10000a0", False),  # trailing byte
        ("9affffffff", False),  # claims 2**32-1 items, nothing after
        ("8200", False),  # claims 2 items, 1 byte left
        ("a200", False),  # claims 2 entries (4 items), 1 byte left
        ("a1", False),
    ],
)
def test_walker_self_check(hex_input: str, ok: bool) -> None:
    data = bytes.fromhex(hex_input)
    if ok:
        check_canonical(data)
        assert encode(cbor2.loads(data)) == data
    else:
        assert_rejected(DECODE, lambda: check_canonical(data))


def test_depth_counts_tags() -> None:
    # A tag is a container too: 16 nested tags may hold an integer, 17 may not.
    ok = bytes.fromhex(_TAG_4000 * 16 + "00")
    check_canonical(ok, ANY_TAG)
    assert encode(cbor2.loads(ok)) == ok
    too_deep = bytes.fromhex(_TAG_4000 * 17 + "00")
    assert_rejected(DECODE, lambda: check_canonical(too_deep, ANY_TAG))
    mixed = bytes.fromhex("81" * 8 + _TAG_4000 * 8 + "80")  # the empty array at depth 16
    check_canonical(mixed, ANY_TAG)
    deeper = bytes.fromhex("81" * 8 + _TAG_4000 * 9 + "80")
    assert_rejected(DECODE, lambda: check_canonical(deeper, ANY_TAG))


def test_signed_document_limits() -> None:
    # Tag 18 is allowed only as the outermost item of a signed document (encoding.md §2).
    check_canonical(bytes.fromhex("d28440a04040"), SIGNED_DOCUMENT)
    assert_rejected(
        DECODE, lambda: check_canonical(bytes.fromhex("81d28440a04040"), SIGNED_DOCUMENT)
    )
    assert_rejected(DECODE, lambda: check_canonical(bytes.fromhex("d28440a04040")))
    # Size before anything else (65,535 bytes, signing.md §2 item 1).
    assert_rejected(DECODE, lambda: check_canonical(b"\x40" * 65_536, SIGNED_DOCUMENT))
    at_limit = _head(2, 65_535 - 3) + bytes(65_535 - 3)
    assert len(at_limit) == 65_535
    check_canonical(at_limit, SIGNED_DOCUMENT)


# --------------------------------------------------------------------------------------
# The verifier above on payloads the vectors do not have: valid-noc and valid-licence
# changed one field at a time and signed here with the authority test seed (keys/), so
# that the rules of certificate.md §2.2-§2.4, §3.9 and §4 this file implements are
# exercised both ways, with the class of each failure, not only where a vector happens
# to break them.
# --------------------------------------------------------------------------------------


def _authority() -> Ed25519PrivateKey:
    seed = h(load(VECTORS / "keys" / "authority.json")["seed"])
    return Ed25519PrivateKey.from_private_bytes(seed)


def _sign_with(protected: bytes, payload: bytes) -> tuple[bytes, bytes]:
    """A COSE_Sign1 over the given protected bytes, built by hand; (signed, public key)."""
    private = _authority()
    signature = private.sign(sig_structure(protected, payload))
    signed = encode(cbor2.CBORTag(18, [protected, {}, payload, signature]))
    return signed, private.public_key().public_bytes_raw()


def _protected(extra: Mapping[int, Any] | None = None) -> bytes:
    public = _authority().public_key().public_bytes_raw()
    return encode({1: -19, 3: CERTIFICATE_TYPE, 4: key_id(public), **(extra or {})})


def _sign(payload: bytes) -> tuple[bytes, bytes]:
    """A COSE_Sign1 per signing.md §3; returns (signed, public key)."""
    return _sign_with(_protected(), payload)


def _base(name: str) -> dict[int, Any]:
    cert: dict[int, Any] = plain(
        cbor2.loads(h(load(VECTORS / "certificate" / f"{name}.json")["payload"]))
    )
    return cert


def _changed(name: str, change: Callable[[dict[int, Any]], None]) -> bytes:
    cert = _base(name)
    change(cert)
    return encode(cert)


def _grant0(cert: dict[int, Any]) -> dict[int, Any]:
    grant: dict[int, Any] = cert[8][1][0]
    return grant


def _exchange(cert: dict[int, Any]) -> dict[int, Any]:
    """The va.exchange grant of valid-licence (the second; it has limits and a deny-list)."""
    grant: dict[int, Any] = cert[8][1][1]
    assert grant[0] == "va.exchange"
    return grant


def _grants(n: int) -> Callable[[dict[int, Any]], None]:
    """valid-minimal with ``n`` distinct grants (one per region), sorted by encoding."""

    def change(c: dict[int, Any]) -> None:
        regions = [a + b for a in "ABC" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"][:n]
        grants = [{0: "va.transfer", 2: ["retail"], 3: {0: [r]}} for r in regions]
        c[8][1] = sorted(grants, key=encode)

    return change


def _payload_size(size: int) -> Callable[[dict[int, Any]], None]:
    """valid-noc with general conditions of 'x' padding the payload to ``size`` bytes."""

    def change(c: dict[int, Any]) -> None:
        c[9] = []
        while len(encode(c)) + 4096 + 3 <= size:
            c[9].append("x" * 4096)
        c[9].append("x")
        for _ in range(2):  # the length header of the last text may grow; adjust twice
            c[9][-1] = "x" * (len(c[9][-1]) + size - len(encode(c)))
        assert len(encode(c)) == size

    return change


def _set_in(path: tuple[Any, ...], value: Any) -> Callable[[dict[int, Any]], None]:
    def change(c: dict[int, Any]) -> None:
        target: Any = c
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _delete(path: tuple[Any, ...]) -> Callable[[dict[int, Any]], None]:
    def change(c: dict[int, Any]) -> None:
        target: Any = c
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


def _allow_instead_of_deny(c: dict[int, Any]) -> None:
    grant = _exchange(c)
    del grant[5]
    grant[4] = ["asset:btc"]


_LIMIT: Final = {0: "per_transaction", 1: "AED", 2: 1_000_000}
_DAILY: Final = {0: "per_client_daily", 1: "AED", 2: 5_000_000}
_ID_A: Final = {0: "ae-ded-licence", 1: "1234567"}
_ID_B: Final = {0: "ae-ded-licence", 1: "7654321"}

Change = Callable[[dict[int, Any]], None]

CHANGES: Final[list[tuple[str, str, Change, str]]] = [
    ("noc-unchanged", "valid-noc", lambda c: None, "valid"),
    ("licence-unchanged", "valid-licence", lambda c: None, "valid"),
    # §3.9 rules 2-5 and §4: ModelError.
    ("valid-until-equals-from", "valid-noc", lambda c: c.update({7: c[6]}), MODEL),
    ("valid-until-before-from", "valid-noc", lambda c: c.update({7: c[6] - 1}), MODEL),
    (
        "noc-with-upgrades-edge",
        "valid-noc",
        lambda c: c.update({11: [{0: "upgrades", 1: bytes(32)}]}),
        MODEL,
    ),
    (
        "noc-with-supersedes-edge",
        "valid-noc",
        lambda c: c.update({11: [{0: "supersedes", 1: bytes(32)}]}),
        "valid",
    ),
    ("noc-whole-prep-root", "valid-noc", lambda c: _grant0(c).update({0: "prep"}), "valid"),
    ("noc-whole-va-root", "valid-noc", lambda c: _grant0(c).update({0: "va"}), MODEL),
    ("noc-without-notices", "valid-noc", _delete((10,)), MODEL),
    ("allow-and-deny", "valid-licence", lambda c: _exchange(c).update({4: ["asset:btc"]}), MODEL),
    (
        "allow-instead-of-deny",
        "valid-licence",
        _allow_instead_of_deny,
        "valid",
    ),
    (
        "exclusion-not-descendant",
        "valid-licence",
        lambda c: _exchange(c).update({1: ["va.custody"]}),
        MODEL,
    ),
    ("exclusion-self", "valid-licence", lambda c: _exchange(c).update({1: ["va.exchange"]}), MODEL),
    (
        "exclusion-descendant",
        "valid-licence",
        lambda c: _exchange(c).update({1: ["va.exchange.crypto"]}),
        "valid",
    ),
    (
        "subdivision-with-country",
        "valid-noc",
        lambda c: _grant0(c).update({3: {0: ["AE", "AE-DU"]}}),
        MODEL,
    ),
    (
        "exclusion-outside-territory",
        "valid-noc",
        lambda c: _grant0(c).update({3: {0: ["AE"], 1: ["SA-01"]}}),
        MODEL,
    ),
    (
        "excluded-country",
        "valid-noc",
        lambda c: _grant0(c).update({3: {0: ["AE"], 1: ["AE"]}}),
        MODEL,
    ),
    ("region-lowercase", "valid-noc", lambda c: _grant0(c).update({3: {0: ["ae"]}}), MODEL),
    ("unknown-customer-type", "valid-noc", lambda c: _grant0(c).update({2: ["retai"]}), MODEL),
    ("unknown-vocabulary", "valid-noc", lambda c: c[8].update({0: "other/1"}), MODEL),
    ("unknown-exclusion", "valid-licence", lambda c: _exchange(c).update({1: ["va.x"]}), MODEL),
    ("64-grants", "valid-minimal", _grants(64), "valid"),
    ("65-grants", "valid-minimal", _grants(65), MODEL),
    ("duplicate-grant", "valid-minimal", lambda c: c[8][1].append(c[8][1][0]), MODEL),
    ("deny-not-token", "valid-licence", lambda c: _exchange(c).update({5: ["BTC"]}), MODEL),
    ("limit-unit-malformed", "valid-licence", _set_in((8, 1, 1, 6, 0, 1), "Aed"), MODEL),
    ("limit-metric-not-token", "valid-licence", _set_in((8, 1, 1, 6, 0, 0), "-x"), MODEL),
    ("limit-maximum-2**63", "valid-licence", _set_in((8, 1, 1, 6, 0, 2), 2**63), MODEL),
    ("limit-maximum-2**63-1", "valid-licence", _set_in((8, 1, 1, 6, 0, 2), 2**63 - 1), "valid"),
    ("limits-sorted", "valid-licence", _set_in((8, 1, 1, 6), [_DAILY, _LIMIT]), "valid"),
    ("limits-duplicate", "valid-licence", _set_in((8, 1, 1, 6), [_LIMIT, _LIMIT]), MODEL),
    (
        "limits-same-metric-two-units",
        "valid-licence",
        _set_in((8, 1, 1, 6), [_LIMIT, {**_LIMIT, 1: "USD"}]),
        "valid",
    ),
    # §2.2 items 1 and 2 (§2.4): empty arrays and duplicates ModelError, order DecodeError.
    ("empty-conditions", "valid-noc", lambda c: c.update({9: []}), MODEL),
    ("empty-exclusions", "valid-licence", lambda c: _exchange(c).update({1: []}), MODEL),
    ("empty-include", "valid-noc", lambda c: _grant0(c).update({3: {0: []}}), MODEL),
    ("empty-grants", "valid-noc", lambda c: c[8].update({1: []}), MODEL),
    ("empty-limits", "valid-licence", _set_in((8, 1, 1, 6), []), MODEL),
    ("empty-edges", "valid-licence", _set_in((11,), []), MODEL),
    ("unsorted-grants", "valid-noc", lambda c: c[8][1].reverse(), DECODE),
    (
        "duplicate-customer-type",
        "valid-noc",
        lambda c: _grant0(c).update({2: ["retail"] * 2}),
        MODEL,
    ),
    (
        "unsorted-customer-types",
        "valid-noc",
        lambda c: _grant0(c).update({2: ["retail", "professional"]}),
        DECODE,
    ),
    ("limits-out-of-order", "valid-licence", _set_in((8, 1, 1, 6), [_LIMIT, _DAILY]), DECODE),
    ("identifiers-sorted", "valid-noc", _set_in((4, 2), [_ID_A, _ID_B]), "valid"),
    ("identifiers-unsorted", "valid-noc", _set_in((4, 2), [_ID_B, _ID_A]), DECODE),
    ("identifiers-duplicate", "valid-noc", _set_in((4, 2), [_ID_A, _ID_A]), MODEL),
    ("holder-keys-duplicate", "valid-noc", lambda c: c[4][5].append(c[4][5][0]), MODEL),
    ("domains-sorted", "valid-noc", lambda c: c[4][4].append("z.example"), "valid"),
    ("domains-unsorted", "valid-noc", lambda c: c[4][4].insert(0, "z.example"), DECODE),
    # Text (§2.3) and value forms: ModelError; another CBOR type: DecodeError.
    ("number-64", "valid-noc", _set_in((2,), "N" * 64), "valid"),
    ("number-65", "valid-noc", _set_in((2,), "N" * 65), MODEL),
    ("number-empty", "valid-noc", _set_in((2,), ""), MODEL),
    ("number-not-text", "valid-noc", _set_in((2,), 1), DECODE),
    ("name-trailing-space", "valid-noc", _set_in((4, 0), "Example Exchange FZE "), MODEL),
    ("name-nbsp", "valid-noc", _set_in((4, 0), "\u00a0Example Exchange FZE"), MODEL),
    ("name-ideographic-space", "valid-noc", _set_in((4, 0), "Example Exchange\u3000"), MODEL),
    ("name-bidi", "valid-noc", _set_in((4, 0), "Example \u202eExchange"), MODEL),
    ("name-line-feed", "valid-noc", _set_in((4, 0), "Example\nExchange"), MODEL),
    ("name-c1", "valid-noc", _set_in((4, 0), "Example\u0085Exchange"), MODEL),
    ("name-bytes", "valid-noc", _set_in((4, 0), b"Example Exchange FZE"), DECODE),
    ("condition-multiline", "valid-noc", _set_in((9,), ["Report.\nMonthly."]), "valid"),
    ("condition-4097", "valid-noc", _set_in((9,), ["x" * 4097]), MODEL),
    ("condition-precedent-1025", "valid-licence", _set_in((8, 1, 1, 7), ["x" * 1025]), MODEL),
    ("trading-name-tab", "valid-noc", _set_in((4, 3), ["Example\tExchange"]), MODEL),
    ("jurisdiction-lowercase", "valid-noc", _set_in((3, 1), "ae-du"), MODEL),
    ("jurisdiction-not-text", "valid-noc", _set_in((3, 1), 784), DECODE),
    ("lei-lowercase", "valid-noc", _set_in((4, 1), "529900t8bm49aursdo55"), MODEL),
    ("lei-not-text", "valid-noc", _set_in((4, 1), 529900), DECODE),
    ("identifier-scheme-not-token", "valid-noc", _set_in((4, 2, 0, 0), "AE-DED"), MODEL),
    ("identifier-value-129", "valid-noc", _set_in((4, 2, 0, 1), "1" * 129), MODEL),
    ("domain-uppercase", "valid-noc", _set_in((4, 4), ["Example-exchange.ae"]), MODEL),
    ("domain-one-label", "valid-noc", _set_in((4, 4), ["localhost"]), MODEL),
    ("domain-hyphen-end", "valid-noc", _set_in((4, 4), ["example-.ae"]), MODEL),
    ("holder-key-31-bytes", "valid-noc", _set_in((4, 5), [bytes(31)]), MODEL),
    ("holder-key-text", "valid-noc", _set_in((4, 5), ["00" * 32]), DECODE),
    ("notice-code-not-token", "valid-noc", _set_in((10, 0, 0), "Not-An-Operating-Licence"), MODEL),
    ("notices-duplicate-code", "valid-noc", lambda c: c[10].append(c[10][0]), MODEL),
    ("time-2**63-1", "valid-noc", _set_in((7,), 2**63 - 1), "valid"),
    ("time-2**63", "valid-noc", _set_in((7,), 2**63), MODEL),  # §2.4 "a time out of range"
    ("time-negative", "valid-noc", _set_in((5,), -1), DECODE),  # a nint, not a uint
    ("time-text", "valid-noc", _set_in((5,), "2026-01-01"), DECODE),
    ("time-bool", "valid-noc", _set_in((5,), True), DECODE),
    ("limit-maximum-negative", "valid-licence", _set_in((8, 1, 1, 6, 0, 2), -1), DECODE),
    # §3.2, §3.8: a text string outside a literal choice (§2.4 reading, see _one_of).
    ("unknown-instrument", "valid-noc", _set_in((1,), "permit"), MODEL),
    ("instrument-not-text", "valid-noc", _set_in((1,), 0), DECODE),
    ("unknown-edge-kind", "valid-licence", _set_in((11, 0, 0), "replaces"), MODEL),
    ("edge-target-31-bytes", "valid-licence", _set_in((11, 0, 1), bytes(31)), MODEL),
    ("edge-target-text", "valid-licence", _set_in((11, 0, 1), "00" * 32), DECODE),
    # §3.8: edges sorted by kind (DecodeError), one per kind (ModelError).
    (
        "edges-two-kinds",
        "valid-licence",
        lambda c: c[11].insert(0, {0: "supersedes", 1: bytes(32)}),
        "valid",
    ),
    (
        "edges-out-of-order",
        "valid-licence",
        lambda c: c[11].append({0: "supersedes", 1: bytes(32)}),
        DECODE,
    ),
    ("edges-two-upgrades", "valid-licence", lambda c: c[11].append(c[11][0]), MODEL),
    # Shape of the CDDL (§2.4): DecodeError.
    ("version-2", "valid-noc", _set_in((0,), 2), DECODE),
    ("version-text", "valid-noc", _set_in((0,), "1"), DECODE),
    ("missing-issued-at", "valid-noc", _delete((5,)), DECODE),
    ("missing-scope", "valid-noc", _delete((8,)), DECODE),
    ("text-key", "valid-noc", _set_in(("x",), 1), DECODE),
    ("negative-key", "valid-noc", _set_in((-1,), 1), DECODE),
    ("issuer-unknown-key", "valid-noc", _set_in((3, 2), "x"), DECODE),
    ("issuer-not-map", "valid-noc", _set_in((3,), ["Authority", "AE"]), DECODE),
    ("subject-missing-name", "valid-noc", _delete((4, 0)), DECODE),
    ("scope-unknown-key", "valid-noc", _set_in((8, 2), 1), DECODE),
    ("grant-missing-territory", "valid-noc", _delete((8, 1, 0, 3)), DECODE),
    ("grant-unknown-key", "valid-noc", _set_in((8, 1, 2, 8), ["x"]), DECODE),
    ("grant-activity-not-text", "valid-noc", _set_in((8, 1, 0, 0), 1), DECODE),
    ("territory-unknown-key", "valid-noc", _set_in((8, 1, 0, 3, 2), ["SA"]), DECODE),
    ("limit-missing-unit", "valid-licence", _delete((8, 1, 1, 6, 0, 1)), DECODE),
    ("edge-unknown-key", "valid-licence", _set_in((11, 0, 2), 1), DECODE),
    ("conditions-not-array", "valid-noc", _set_in((9,), "Report monthly."), DECODE),
    ("customer-types-mixed", "valid-noc", _set_in((8, 1, 0, 2), [1, "retail"]), DECODE),
    # Size (§3, §2.4): at most 60,000 bytes of payload.
    ("payload-60000", "valid-noc", _payload_size(60_000), "valid"),
    ("payload-60001", "valid-noc", _payload_size(60_001), DECODE),
]


@pytest.mark.parametrize(
    ("base", "change", "expect"), [pytest.param(b, c, e, id=i) for i, b, c, e in CHANGES]
)
def test_changed_certificates(base: str, change: Change, expect: str) -> None:
    signed, public = _sign(_changed(base, change))
    if expect == "valid":
        payload = verify_signed(signed, CERTIFICATE_TYPE, public)
        check_certificate(payload, VOCABULARY)
        assert pycose_verify(signed, public) == payload
    else:
        assert_rejected(
            expect,
            lambda: check_certificate(verify_signed(signed, CERTIFICATE_TYPE, public), VOCABULARY),
        )


def test_changes_are_distinct_and_named_once() -> None:
    names = [name for name, *_ in CHANGES]
    assert len(names) == len(set(names))
    payloads = [_changed(base, change) for _, base, change, _ in CHANGES[2:]]
    assert len(payloads) == len(set(payloads))  # every change changes something else


def _kid() -> bytes:
    return key_id(_authority().public_key().public_bytes_raw())


def _protected_of_size(size: int) -> bytes:
    """{1: -19, 3: content type, 4: kid, 99: h'00…'} of exactly ``size`` bytes."""
    base = len(_protected({99: b""}))
    for n in range(size - base, size - base - 4, -1):
        header = _protected({99: bytes(n)})
        if len(header) == size:
            return header
    raise AssertionError(size)


@pytest.mark.parametrize(
    ("protected", "expect"),
    [
        # Step 4 decodes at most 1,024 bytes (DecodeError); a header that passes step 4
        # but has label 99 fails the allow-list of step 5 (SignatureError).
        pytest.param(_protected_of_size(1_024), SIGNATURE, id="1024-bytes"),
        pytest.param(_protected_of_size(1_025), DECODE, id="1025-bytes"),
        # Depth at most 4 (the map at depth 0; encoding.md §4's rule with 4 for 16).
        pytest.param(_protected({99: [[[0]]]}), SIGNATURE, id="depth-4"),
        pytest.param(_protected({99: [[[[0]]]]}), DECODE, id="depth-5"),
        pytest.param(_protected({99: [[[[]]]]}), SIGNATURE, id="depth-4-empty"),
        pytest.param(encode([-19, CERTIFICATE_TYPE]), DECODE, id="not-a-map"),
        pytest.param(b"", DECODE, id="empty-bytes"),
        pytest.param(_protected() + b"\x00", DECODE, id="trailing-byte"),
        pytest.param(encode({1: -8, 3: CERTIFICATE_TYPE, 4: _kid()}), SIGNATURE, id="alg-8"),
        pytest.param(encode({1: -19, 3: CERTIFICATE_TYPE}), SIGNATURE, id="no-kid"),
        pytest.param(encode({1: -19, 3: CERTIFICATE_TYPE, 4: _kid()[:31]}), SIGNATURE, id="kid-31"),
        pytest.param(
            encode({1: -19, 3: CERTIFICATE_TYPE, 4: _kid(), "x": 1}),
            SIGNATURE,
            id="text-label",
        ),
    ],
)
def test_protected_header_limits(protected: bytes, expect: str) -> None:
    """signing.md §2 item 2 and §4 steps 4-5, each a correctly signed document."""
    payload = h(load(VECTORS / "certificate" / "valid-noc.json")["payload"])
    signed, public = _sign_with(protected, payload)
    assert_rejected(expect, lambda: verify_signed(signed, CERTIFICATE_TYPE, public))


def test_resigned_vectors_are_byte_identical() -> None:
    # Ed25519 is deterministic: signing a valid vector's payload here gives its bytes.
    for name in ("valid-minimal", "valid-noc", "valid-licence", "valid-two-edges"):
        v = load(VECTORS / "certificate" / f"{name}.json")
        assert _sign(h(v["payload"]))[0] == h(v["signed"]), name


# --------------------------------------------------------------------------------------
# Queries refused by certificate.md §6 (ModelError), on the scope of a vector.
# --------------------------------------------------------------------------------------

_LICENCE_QUERY: Final = {"activity": "va.exchange", "customer_type": "retail", "territory": "AE-DU"}


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        pytest.param({}, "permitted", id="unchanged"),
        pytest.param({"product": "asset:btc"}, "permitted", id="product"),
        pytest.param({"product": "category:privacy"}, "not-permitted", id="denied-product"),
        pytest.param({"activity": "va.exchange.fiatt"}, MODEL, id="unknown-activity"),
        pytest.param({"activity": "VA.exchange"}, MODEL, id="activity-case"),
        pytest.param({"customer_type": "Retail"}, MODEL, id="unknown-customer-type"),
        pytest.param({"territory": "ae-du"}, MODEL, id="territory-lowercase"),
        pytest.param({"territory": "ARE"}, MODEL, id="territory-alpha-3"),
        pytest.param({"territory": "AE-"}, MODEL, id="territory-dash"),
        pytest.param({"territory": "AE-DUBA"}, MODEL, id="territory-long"),
        pytest.param({"territory": "SA"}, "not-permitted", id="other-country"),
        pytest.param({"product": "BTC"}, MODEL, id="product-not-token"),
        pytest.param({"product": ""}, MODEL, id="product-empty"),
        pytest.param({"amount": {"value": 5, "unit": "AED"}}, "permitted", id="amount"),
        pytest.param({"amount": {"value": -1, "unit": "AED"}}, MODEL, id="amount-negative"),
        pytest.param({"amount": {"value": 5, "unit": "aed$"}}, MODEL, id="amount-unit"),
        pytest.param(
            {"amount": {"value": 5, "unit": "AED", "metric": "Per"}}, MODEL, id="amount-metric"
        ),
        pytest.param(
            {"amount": {"value": 5, "unit": "AED", "metric": "per_transacton"}},
            MODEL,
            id="amount-metric-misspelt",
        ),
    ],
)
def test_query_refusals(change: dict[str, Any], expect: str) -> None:
    v = load(VECTORS / "scope" / "query-licence-custody-dubai.json")
    scope = _scope(h(v["scope"]))
    query = _query({**_LICENCE_QUERY, **change})
    if expect == MODEL:
        assert_rejected(MODEL, lambda: evaluate(scope, query, VOCABULARY))
    else:
        permitted, _ = evaluate(scope, query, VOCABULARY)
        assert ("permitted" if permitted else "not-permitted") == expect


def test_query_conditions_sorted_by_code_point() -> None:
    # §6: the union of the conditions precedent, sorted by code point, not by locale and
    # not by UTF-16 code unit: "Z" (U+005A) < "a" (U+0061) < "é" (U+00E9) < "Ａ" (U+FF21)
    # < "😀" (U+1F600, whose UTF-16 surrogate D83D would sort before FF21).
    texts = ["é first?", "a second", "Z third", "\U0001f600 fourth", "\uff21 fifth"]
    grants = [
        {0: "va.exchange", 2: ["retail"], 3: {0: ["AE"]}, 7: sorted(texts[:3])},
        {0: "va", 2: ["retail"], 3: {0: ["AE"]}, 7: sorted(texts[2:])},
    ]
    scope = check_scope({0: VOCABULARY.id, 1: sorted(grants, key=encode)}, VOCABULARY)
    query = _query({"activity": "va.exchange", "customer_type": "retail", "territory": "AE"})
    permitted, conditions = evaluate(scope, query, VOCABULARY)
    assert permitted
    assert conditions == ["Z third", "a second", "é first?", "\uff21 fifth", "\U0001f600 fourth"]


# --------------------------------------------------------------------------------------
# The replay above on logs the vectors do not have: story.json's entries followed by
# entries signed here with the test seeds of keys/ (root for key events, authority for
# certificates and status events), each exercising one rule of events.md §3-§5. These
# check this file's reading of the spec; no vector confirms them (see the module notes).
# --------------------------------------------------------------------------------------


def _private(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(h(load(VECTORS / "keys" / f"{name}.json")["seed"]))


def _entry(signer: str, content_type: str, payload: Mapping[int, Any]) -> bytes:
    """A COSE_Sign1 per signing.md §3, built by hand."""
    private = _private(signer)
    protected = encode(
        {1: -19, 3: content_type, 4: key_id(private.public_key().public_bytes_raw())}
    )
    body = encode(payload)
    signature = private.sign(sig_structure(protected, body))
    return encode(cbor2.CBORTag(18, [protected, {}, body, signature]))


def _story(n: int) -> list[bytes]:
    return [h(e) for e in load(VECTORS / "log" / "story.json")["entries"][:n]]


def _story_payload(n: int) -> dict[int, Any]:
    payload: dict[int, Any] = plain(cbor2.loads(open_sign1(_story(n + 1)[n]).payload))
    return payload


def _story_id(n: int) -> bytes:
    return hashlib.sha256(open_sign1(_story(n + 1)[n]).payload).digest()


_T0: Final = 1777593600  # the story's suspension time; its licence is issued 1767225600


def _status(
    kind: str, n: int | bytes, t: int, reason: str | None = None, grants: list[str] | None = None
) -> bytes:
    """A status event about story entry ``n`` (or a raw id), effective and decided at t."""
    payload: dict[int, Any] = {0: 1, 1: kind, 2: n if isinstance(n, bytes) else _story_id(n)}
    payload.update({3: t, 4: t})
    if reason is not None:
        payload[5] = reason
    if grants is not None:
        payload[7] = grants
    return _entry("authority", STATUS_EVENT_TYPE, payload)


def _revoke_key(key: str, invalidate_from: int) -> bytes:
    payload = {0: 1, 1: "revoke-key", 2: _keys()[key], 3: _T0, 4: _T0}
    return _entry("root", KEY_EVENT_TYPE, {**payload, 8: "key-compromise", 9: invalidate_from})


def _delegate(key: str, scope: Mapping[int, Any] | None = None) -> bytes:
    payload = _story_payload(0)
    payload[2] = _keys()[key]
    if scope is not None:
        payload[7] = scope
    return _entry("root", KEY_EVENT_TYPE, payload)


def _successor(
    change: Callable[[dict[int, Any]], object], then: Mapping[int, Any] | None = None
) -> bytes:
    """The story's licence (entry 2), changed (then updated with ``then``), then signed by
    the issuing key."""
    cert = _story_payload(2)
    change(cert)
    cert.update(then or {})
    return _entry("authority", CERTIFICATE_TYPE, cert)


def _second_licence(c: dict[int, Any]) -> None:
    c[2] = "VARA/LIC/2026/0002"
    c[6] = _T0
    c[11] = [{0: "supersedes", 1: _story_id(2)}]


_CUSTODY: Final = ["va.custody"]
_SA_SCOPE: Final = {
    0: "noc-ledger-activities/1",
    1: [{0: "prep", 2: ["retail"], 3: {0: ["SA"]}}],
}


def _provisional_then(instrument: str) -> list[bytes]:
    """A provisional licence P upgrading the story's NOC, then a certificate of
    ``instrument`` upgrading P (§4.3: only to a different, later instrument)."""

    def provisional(c: dict[int, Any]) -> None:
        c[1] = "provisional_licence"

    first = _successor(provisional)
    first_id = hashlib.sha256(open_sign1(first).payload).digest()

    def then(c: dict[int, Any]) -> None:
        c[1], c[2] = instrument, "VARA/X/2026/0003"
        c[11] = [{0: "upgrades", 1: first_id}]

    return [first, _successor(then)]


def _history_churn() -> list[bytes]:
    out = []
    for k in range(10):
        out.append(_status("suspend", 2, _T0 + 2 * k, "other", _CUSTODY))
        out.append(_status("reinstate", 2, _T0 + 2 * k + 1, None, _CUSTODY))
    return out


SCENARIOS: Final[list[tuple[str, Callable[[], list[bytes]], str]]] = [
    # §4.2: the table, item by item.
    (
        "grant-suspension-and-reinstatement",
        lambda: [
            *_story(3),
            _status("suspend", 2, _T0, "other", _CUSTODY),
            _status("reinstate", 2, _T0 + 1, None, _CUSTODY),
        ],
        "valid",
    ),
    (
        "whole-reinstatement-after-grant-suspension",
        lambda: [
            *_story(3),
            _status("suspend", 2, _T0, "other", _CUSTODY),
            _status("reinstate", 2, _T0 + 1),
        ],
        "valid",
    ),
    (
        "whole-suspension-over-grant-suspension",
        lambda: [
            *_story(3),
            _status("suspend", 2, _T0, "other", _CUSTODY),
            _status("suspend", 2, _T0 + 1, "other"),
        ],
        "valid",
    ),
    (
        "suspend-a-suspended-grant",
        lambda: [
            *_story(3),
            _status("suspend", 2, _T0, "other", _CUSTODY),
            _status("suspend", 2, _T0 + 1, "other", _CUSTODY),
        ],
        TRANSITION,
    ),
    (
        "reinstate-a-grant-not-suspended",
        lambda: [
            *_story(3),
            _status("suspend", 2, _T0, "other", _CUSTODY),
            _status("reinstate", 2, _T0 + 1, None, ["va.exchange"]),
        ],
        TRANSITION,
    ),
    (
        "suspend-a-grant-the-certificate-lacks",
        lambda: [*_story(3), _status("suspend", 2, _T0, "other", ["va.transfer"])],
        TRANSITION,
    ),
    (
        "suspend-a-descendant-of-a-grant",
        lambda: [*_story(3), _status("suspend", 2, _T0, "other", ["va.exchange.fiat"])],
        TRANSITION,
    ),
    (
        "reinstate-an-active-certificate",
        lambda: [*_story(3), _status("reinstate", 2, _T0)],
        TRANSITION,
    ),
    (
        "suspend-a-suspended-certificate",
        lambda: [*_story(4), _status("suspend", 2, _T0 + 1, "other")],
        TRANSITION,
    ),
    (
        "grant-suspension-while-suspended",
        lambda: [*_story(4), _status("suspend", 2, _T0 + 1, "other", _CUSTODY)],
        TRANSITION,
    ),
    ("surrender-while-suspended", lambda: [*_story(4), _status("surrender", 2, _T0 + 1)], "valid"),
    (
        "revoke-a-revoked-certificate",
        lambda: [*_story(5), _status("revoke", 2, 1790000000, "other")],
        TRANSITION,
    ),
    (
        "effective-before-current-state",
        lambda: [*_story(4), _status("revoke", 2, _T0 - 1, "other")],
        TRANSITION,
    ),
    (
        "effective-before-issuance",
        lambda: [*_story(3), _status("suspend", 2, 1767225599, "other")],
        TRANSITION,
    ),
    (
        "effective-at-issuance",
        lambda: [*_story(3), _status("suspend", 2, 1767225600, "other")],
        "valid",
    ),
    (
        "event-for-an-unknown-id",
        lambda: [*_story(3), _status("suspend", bytes(32), _T0, "other")],
        TRANSITION,
    ),
    (
        "event-for-a-key-id",
        lambda: [*_story(3), _status("suspend", key_id(_keys()["authority"]), _T0, "other")],
        TRANSITION,
    ),
    (
        "event-on-a-superseded-noc",
        lambda: [*_story(3), _status("suspend", 1, _T0, "other")],
        TRANSITION,
    ),
    ("history-keeps-16", lambda: [*_story(3), *_history_churn()], "valid"),
    # §4.3: successors.
    ("supersedes-a-licence", lambda: [*_story(3), _successor(_second_licence)], "valid"),
    ("supersedes-a-suspended-licence", lambda: [*_story(4), _successor(_second_licence)], "valid"),
    ("supersedes-a-revoked-licence", lambda: [*_story(5), _successor(_second_licence)], TRANSITION),
    (
        "supersedes-changing-the-instrument",
        lambda: [
            *_story(3),
            _successor(_second_licence, {1: "registration"}),
        ],
        TRANSITION,
    ),
    (
        "upgrades-a-licence",
        lambda: [
            *_story(3),
            _successor(_second_licence, {11: [{0: "upgrades", 1: _story_id(2)}]}),
        ],
        TRANSITION,
    ),
    (
        "upgrades-to-a-later-instrument",
        lambda: [*_story(2), *_provisional_then("licence")],
        "valid",
    ),
    (
        "upgrades-to-an-earlier-instrument",
        lambda: [*_story(2), *_provisional_then("in_principle_approval")],
        TRANSITION,
    ),
    (
        "upgrades-to-the-same-instrument",
        lambda: [*_story(2), *_provisional_then("provisional_licence")],
        TRANSITION,
    ),
    (
        "successor-before-the-predecessor-issued",
        lambda: [*_story(2), _successor(lambda c: c.update({6: 1767225599}))],
        TRANSITION,
    ),
    (
        "successor-before-the-predecessor-state",
        lambda: [*_story(4), _successor(_second_licence, {6: _T0 - 1})],
        TRANSITION,
    ),
    (
        "successor-without-the-lei",
        lambda: [*_story(2), _successor(lambda c: c[4].pop(1))],
        TRANSITION,
    ),
    (
        "successor-renamed",
        lambda: [*_story(2), _successor(lambda c: c[4].update({0: "Example Exchange Ltd"}))],
        "valid",
    ),
    (
        "edge-to-an-unknown-certificate",
        lambda: [*_story(2), _successor(lambda c: c.update({11: [{0: "upgrades", 1: bytes(32)}]}))],
        TRANSITION,
    ),
    # §5 items 3-4 and §3: keys.
    (
        "certificate-outside-the-window",
        lambda: [*_story(2), _successor(lambda c: c.update({5: 1830297600}))],
        SIGNATURE,
    ),
    (
        "status-event-outside-the-window",
        lambda: [*_story(3), _status("revoke", 2, 1830297600, "other")],
        SIGNATURE,
    ),
    ("delegated-twice", lambda: [*_story(1), _story(1)[0]], TRANSITION),
    (
        "delegation-beyond-the-root-scope",
        lambda: [*_story(1), _delegate("other", _SA_SCOPE)],
        SCOPE,
    ),
    ("second-key", lambda: [*_story(1), _delegate("other")], "valid"),
    (
        "revoke-key-from-its-own-index",
        lambda: [*_story(2), _revoke_key("authority", 2), _story(3)[2]],
        SIGNATURE,
    ),
    (
        "revoke-key-from-an-earlier-index",
        lambda: [*_story(3), _revoke_key("authority", 2), _status("suspend", 2, _T0, "other")],
        SIGNATURE,
    ),
    (
        "revoke-key-keeps-earlier-entries",
        lambda: [*_story(3), _revoke_key("authority", 3)],
        "valid",
    ),
    (
        "revoke-key-from-the-delegation",
        lambda: [*_story(2), _revoke_key("authority", 0)],
        TRANSITION,
    ),
    ("revoke-key-from-the-future", lambda: [*_story(2), _revoke_key("authority", 3)], TRANSITION),
    (
        "revoke-key-twice",
        lambda: [*_story(2), _revoke_key("authority", 2), _revoke_key("authority", 2)],
        TRANSITION,
    ),
    ("revoke-an-undelegated-key", lambda: [*_story(1), _revoke_key("other", 1)], TRANSITION),
    (
        "key-event-by-an-issuing-key",
        lambda: [*_story(1), _entry("authority", KEY_EVENT_TYPE, _story_payload(0))],
        SIGNATURE,
    ),
    (
        "certificate-by-the-root-key",
        lambda: [*_story(1), _entry("root", CERTIFICATE_TYPE, _story_payload(1))],
        SIGNATURE,
    ),
    (
        "presentation-in-the-log",
        lambda: [
            *_story(1),
            _entry("authority", "application/vnd.noc-ledger.presentation+cbor", {0: 1}),
        ],
        SIGNATURE,
    ),
    ("event-payload-rule", lambda: [*_story(3), _status("revoke", 2, _T0)], MODEL),
]


@pytest.mark.parametrize(
    ("build", "expect"), [pytest.param(b, e, id=name) for name, b, e in SCENARIOS]
)
def test_replay_scenarios(build: Callable[[], list[bytes]], expect: str) -> None:
    v = load(VECTORS / "log" / "story.json")
    entries = build()
    replay = _replay_for(v)
    for entry in entries[:-1]:
        replay.append(entry)
    if expect != "valid":
        before = dict(replay.records)
        assert_rejected(expect, lambda: replay.append(entries[-1]))
        assert replay.records == before and replay.size == len(entries) - 1
        return
    replay.append(entries[-1])
    key_ids = set(replay.delegations)
    for record_id, data in replay.status_items().items():
        check_record(record_id, data, key_ids)  # every record the replay writes is of §4.4


def test_replay_records_in_detail() -> None:
    """§4.4 on the scenarios above: partial suspension, history, successors, keys."""
    v = load(VECTORS / "log" / "story.json")

    def replay_of(entries: list[bytes]) -> LogReplay:
        replay = _replay_for(v)
        for entry in entries:
            replay.append(entry)
        return replay

    licence, noc = _story_id(2), _story_id(1)
    grants = replay_of([*_story(3), _status("suspend", 2, _T0, "other", _CUSTODY)])
    assert grants.records[licence] == {
        0: "active",
        1: _T0,
        2: 3,
        3: 2,
        4: 1767225600,
        5: "other",
        7: _CUSTODY,
        8: [["active", 1767225600, 2]],
    }
    whole = replay_of(
        [
            *_story(3),
            _status("suspend", 2, _T0, "other", _CUSTODY),
            _status("suspend", 2, _T0 + 1, "aml-cft-failure"),
        ]
    )
    assert whole.records[licence][0] == "suspended"
    assert whole.records[licence][7] == _CUSTODY  # §4.2: a whole suspension keeps the list
    reinstated = replay_of(
        [
            *_story(3),
            _status("suspend", 2, _T0, "other", _CUSTODY),
            _status("suspend", 2, _T0 + 1, "aml-cft-failure"),
            _status("reinstate", 2, _T0 + 2),
        ]
    )
    assert 7 not in reinstated.records[licence]  # a whole reinstatement clears it
    churn = replay_of([*_story(3), *_history_churn()])
    history = churn.records[licence][8]
    assert len(history) == 16 and history[-1] == ["active", _T0 + 18, 21]
    assert history[0] == ["active", _T0 + 3, 6]  # the 4 oldest of 20 dropped
    second = replay_of([*_story(3), _successor(_second_licence)])
    successor = hashlib.sha256(open_sign1(_successor(_second_licence)).payload).digest()
    assert second.records[licence][0] == "superseded"
    assert second.records[licence][6] == successor and second.records[noc][6] == licence
    revoked = replay_of([*_story(3), _revoke_key("authority", 3)])
    authority = key_id(_keys()["authority"])
    assert revoked.records[authority] == {0: "revoked", 1: 0, 2: 3, 3: 3}


# --------------------------------------------------------------------------------------
# verify/ (verification.md, bundle.md, policy.md)
# --------------------------------------------------------------------------------------


def _verify_vector(v: dict[str, Any]) -> Verified:
    query = None if v["query"] is None else _query(v["query"])
    return verify_bundle(h(v["bundle"]), parse_policy(v["policy"].encode("utf-8")), v["at"], query)


def _certificate_id(bundle: bytes) -> bytes:
    """The id of a bundle's certificate (certificate.md §3.10), from the entry alone."""
    entry = plain(cbor2.loads(bundle))[1][1]
    return hashlib.sha256(open_sign1(entry).payload).digest()


#: For each valid vector: the activities of the usable grants and the witnesses that cosigned.
_VALID_RESULTS: Final = {
    "licence-valid": (["va.exchange"], frozenset()),
    "partial-suspension-other-grant": (["prep.licence_application"], frozenset()),
    "quorum-met": (["prep.aml_registration"], frozenset({"witness.example"})),
    "revoked-asked-before": (["prep.aml_registration"], frozenset()),
    "valid": (["prep.aml_registration"], frozenset()),
    "valid-no-query": (
        ["prep.aml_registration", "prep.licence_application", "prep.local_incorporation"],
        frozenset(),
    ),
}


@pytest.mark.parametrize("path", _params("verify"))
def test_verify(path: Path) -> None:
    v = load(path)
    policy = parse_policy(v["policy"].encode("utf-8"))
    assert encode_policy(policy) == v["policy"]  # every vector's policy is canonical (§6)
    assert v["expect"] == ("valid" if v["error"] is None else VERDICTS[v["error"]])
    if v["expect"] != "valid":
        with pytest.raises(VerifyError) as caught:
            _verify_vector(v)
        assert caught.value.cls == v["error"], caught.value.reason
        status_error = isinstance(caught.value, CertificateStatusError)
        assert status_error == (v["error"] in CERTIFICATE_STATUS_CLASSES)
        if isinstance(caught.value, CertificateStatusError):  # §2: with reason, successor
            record = caught.value.record
            if v["error"] == REVOKED:
                assert record[5] == "false-information" and record[1] <= v["at"]
            if v["error"] == SUPERSEDED:
                licence = load(VECTORS / "verify" / "licence-valid.json")
                assert record[6] == _certificate_id(h(licence["bundle"]))
        return
    result = _verify_vector(v)
    activities, witnesses = _VALID_RESULTS[path.stem]
    assert [g[0] for g in result.grants] == activities
    assert result.witnesses == witnesses
    assert result.certificate_id == _certificate_id(h(v["bundle"]))
    assert result.index == plain(cbor2.loads(h(v["bundle"])))[1][0] == result.record[3]
    assert result.conditions == sorted({c for g in result.grants for c in g.get(7, [])})
    codes = [n[0] for n in result.notices]
    assert (NOT_AN_OPERATING_LICENCE in codes) == (result.certificate[1] == "noc")


def test_verify_vectors_cover_every_verdict() -> None:
    """verification.md §2: each of the eleven verdicts has a vector; the error classes of
    `invalid` that none exercises are DecodeError and ModelError."""
    seen = {(load(p)["expect"], load(p)["error"]) for p in _files("verify")}
    assert {e for e, _ in seen} == {"valid", *VERDICTS.values()}
    invalid = {c for e, c in seen if e == "invalid"}
    assert invalid == {SIGNATURE, QUORUM, INCLUSION, KEY_CHAIN, STATUS_PROOF}


def test_verify_vectors_are_one_log() -> None:
    """The bundles come from one log (the superseded NOC and the licence upgrading it are
    story.json's entries 1 and 2), proven against checkpoints of sizes 1, 11 and 12."""
    bundles = {p.stem: plain(cbor2.loads(h(load(p)["bundle"]))) for p in _files("verify")}
    noc = _certificate_id(encode(bundles["superseded"]))
    licence = _certificate_id(encode(bundles["licence-valid"]))
    assert (noc, licence) == (_story_id(1), _story_id(2))
    edges = plain(cbor2.loads(open_sign1(bundles["licence-valid"][1][1]).payload))[11]
    assert edges == [{0: "upgrades", 1: noc}]
    links = {b[2][0][1] for b in bundles.values()}
    assert links == {_story(1)[0]}  # one delegation, story.json's first entry
    sizes = {b[3].decode("utf-8").split("\n")[1] for b in bundles.values()}
    assert sizes == {"1", "11", "12"}


_VALID_AT: Final = 1768093200  # valid.json's `at`; its checkpoint's time is 1768089600


def _vector_with(name: str, **changes: Any) -> dict[str, Any]:
    v = load(VECTORS / "verify" / f"{name}.json")
    v.update(changes)
    return v


def _long_lived(policy: str) -> str:
    """The policy with a maximum status age of a year, so that `at` can move freely."""
    return policy.replace("max-status-age 172800", "max-status-age 31536000")


@pytest.mark.parametrize(
    ("name", "changes", "expect"),
    [
        # §3 step 4: at − time > max-status-age; equality is fresh, a later checkpoint too.
        pytest.param("valid", {"at": 1768089600 + 172800}, "valid", id="age-at-the-limit"),
        pytest.param("valid", {"at": 1768089600 + 172801}, STALE, id="age-above-the-limit"),
        pytest.param("valid", {"at": 1767225600}, "valid", id="checkpoint-after-at"),
        # Step 12: valid_from inclusive, valid_until exclusive.
        pytest.param("valid", {"at": 1767225599}, NOT_YET_VALID, id="before-valid-from"),
        pytest.param("expired", {"at": 1782777599}, "valid", id="before-valid-until"),
        pytest.param("expired", {"at": 1782777600}, EXPIRED, id="at-valid-until"),
        pytest.param("licence-valid", {"at": 1775001599}, NOT_YET_VALID, id="licence-not-yet"),
        # Step 13 (events.md §4.4): the history decides before `since`.
        pytest.param("revoked", {"at": 1768089599}, "valid", id="revoked-just-before"),
        pytest.param("revoked", {"at": 1768089600}, REVOKED, id="revoked-at-since"),
        pytest.param("suspended", {"at": 1768089599}, "valid", id="suspended-just-before"),
        pytest.param("ended", {"at": 1768089599}, "valid", id="surrendered-just-before"),
        pytest.param("superseded", {"at": 1775001599}, "valid", id="superseded-just-before"),
        # Step 14: a partial suspension matters only for a query the suspended grant serves.
        pytest.param("suspended-grant", {"query": None}, "valid", id="partial-no-query"),
        pytest.param("suspended-grant", {"at": 1768089599}, "valid", id="partial-before-since"),
        pytest.param(
            "valid",
            {"query": {"activity": "prep.aml", "customer_type": "retail", "territory": "AE"}},
            MODEL,
            id="query-unknown-activity",
        ),
        pytest.param(
            "valid",
            {"query": {"activity": "prep", "customer_type": "retail", "territory": "AE"}},
            OUT_OF_SCOPE,
            id="query-parent-activity",
        ),
        pytest.param(
            "valid",
            {
                "query": {
                    "activity": "prep.aml_registration",
                    "customer_type": "retail",
                    "territory": "AE-DU",
                }
            },
            "valid",
            id="query-subdivision",
        ),
        # The same bundles under the policy of valid.json (quorum none, no witness).
        pytest.param(
            "quorum",
            {"policy": load(VECTORS / "verify" / "valid.json")["policy"]},
            "valid",
            id="no-quorum-needed",
        ),
        pytest.param(
            "untrusted-log",
            {"policy": load(VECTORS / "verify" / "valid.json")["policy"]},
            "valid",
            id="trusted-log",
        ),
        pytest.param(
            "untrusted-root",
            {"policy": load(VECTORS / "verify" / "valid.json")["policy"]},
            "valid",
            id="trusted-root",
        ),
    ],
)
def test_verify_vector_variants(name: str, changes: dict[str, Any], expect: str) -> None:
    """The vectors' bundles at other times, with other queries and policies."""
    v = _vector_with(name, **changes)
    if expect == "valid":
        _verify_vector(v)
    else:
        assert_rejected(expect, lambda: _verify_vector(v))


def test_verify_quorum_met_without_witness_policy() -> None:
    # A cosignature by a witness the policy does not list is ignored (§3 step 3).
    v = _vector_with("quorum-met", policy=load(VECTORS / "verify" / "valid.json")["policy"])
    assert _verify_vector(v).witnesses == frozenset()


Edit = Callable[[dict[int, Any]], object]


def _bundle_of(name: str) -> dict[int, Any]:
    bundle: dict[int, Any] = plain(
        cbor2.loads(h(load(VECTORS / "verify" / f"{name}.json")["bundle"]))
    )
    return bundle


def _edit_bundle(edit: Edit, name: str = "valid") -> bytes:
    bundle = _bundle_of(name)
    edit(bundle)
    return encode(bundle)


def _swap_entries(b: dict[int, Any]) -> None:
    b[1], b[2][0] = b[2][0], b[1]


def _flip_cosignature(b: dict[int, Any]) -> None:
    note: bytes = b[3]
    line = note.rindex(b"\xe2\x80\x94 witness.example ")
    text = note[line:].decode("utf-8")
    name, sig = text[2:-1].split(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    b[3] = note[:line] + f"\u2014 {name} {base64.b64encode(raw).decode()}\n".encode()


def _checkpoint_body(b: dict[int, Any]) -> str:
    text: str = b[3].decode("utf-8")
    return text[: text.rindex("\n\n") + 1]


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        pytest.param(lambda b: None, "valid", id="unchanged"),
        # bundle.md §3: DecodeError.
        pytest.param(lambda b: b.update({0: 2}), DECODE, id="version-2"),
        pytest.param(lambda b: b.update({0: True}), DECODE, id="version-true"),
        pytest.param(lambda b: b.update({6: 0}), DECODE, id="unknown-key"),
        pytest.param(lambda b: b.pop(5), DECODE, id="missing-key"),
        pytest.param(lambda b: b.update({"x": 0}), DECODE, id="text-key"),
        pytest.param(lambda b: b.update({2: []}), DECODE, id="no-link"),
        pytest.param(lambda b: b.update({2: b[2] * 9}), DECODE, id="nine-links"),
        pytest.param(lambda b: b.update({2: b[2][0]}), DECODE, id="chain-not-array"),
        pytest.param(lambda b: b[1].__setitem__(0, 2**63), DECODE, id="index-2**63"),
        pytest.param(lambda b: b[1].__setitem__(0, -1), DECODE, id="index-negative"),
        pytest.param(lambda b: b[1].__setitem__(1, "entry"), DECODE, id="entry-text"),
        pytest.param(lambda b: b[1].append(0), DECODE, id="entry-of-four"),
        pytest.param(lambda b: b[1].__setitem__(2, [bytes(32)] * 65), DECODE, id="proof-65"),
        pytest.param(lambda b: b[1].__setitem__(2, bytes(32)), DECODE, id="proof-not-array"),
        pytest.param(lambda b: b.update({3: b[3].decode()}), DECODE, id="checkpoint-text"),
        pytest.param(lambda b: b[4].__setitem__(0, 1), DECODE, id="status-value-int"),
        pytest.param(lambda b: b[4].append(None), DECODE, id="evidence-of-three"),
        pytest.param(lambda b: b[4][1].update({4: 0}), DECODE, id="status-proof-key-4"),
        pytest.param(lambda b: b[5].__setitem__(1, [0]), DECODE, id="status-proof-array"),
        pytest.param(lambda b: b[4][1][2].__setitem__(0, bytes(32)), DECODE, id="zero-sibling"),
        pytest.param(lambda b: b[4][1].update({1: b"\xe9"}), DECODE, id="bitmap-padding"),
        # Step 2.
        pytest.param(lambda b: b.update({3: b"\xff" + b[3]}), DECODE, id="note-not-utf8"),
        pytest.param(lambda b: b.update({3: b[3][:-1]}), DECODE, id="note-without-final-lf"),
        pytest.param(
            lambda b: b.update({3: _signed_note("other.example/log" + _checkpoint_body(b)[28:])}),
            SIGNATURE,
            id="origin-without-log-key",
        ),
        pytest.param(
            lambda b: b.update({3: _signed_note(_checkpoint_body(b).replace("\n11\n", "\n011\n"))}),
            DECODE,
            id="signed-malformed-body",
        ),
        pytest.param(
            lambda b: b.update({3: b[3].replace(b"\n11\n", b"\n12\n")}),
            SIGNATURE,
            id="size-changed",
        ),
        # Step 5 and 6.
        pytest.param(lambda b: b[1].__setitem__(0, 2**63 - 1), NOT_COVERED, id="index-2**63-1"),
        pytest.param(lambda b: b[2][0].__setitem__(0, 11), NOT_COVERED, id="link-not-covered"),
        pytest.param(lambda b: b[1].__setitem__(0, 2), INCLUSION, id="index-changed"),
        pytest.param(lambda b: b[2][0][2].pop(), INCLUSION, id="link-proof-short"),
        pytest.param(lambda b: b[1].__setitem__(2, [bytes(32)] * 64), INCLUSION, id="proof-64"),
        pytest.param(lambda b: b[1][2].__setitem__(0, b[1][2][0][:31]), INCLUSION, id="hash-31"),
        # Step 7: the link (any failure KeyChainError); step 8: the certificate.
        pytest.param(lambda b: b[2].append(b[2][0]), KEY_CHAIN, id="two-links"),
        pytest.param(lambda b: b[2].__setitem__(0, b[1]), KEY_CHAIN, id="link-is-certificate"),
        pytest.param(_swap_entries, KEY_CHAIN, id="entries-swapped"),
        pytest.param(lambda b: b.update({1: b[2][0]}), SIGNATURE, id="certificate-is-link"),
        # Steps 10 and 11: evidence for another id, or a claim of absence.
        pytest.param(lambda b: b.update({4: b[5], 5: b[4]}), STATUS_PROOF, id="evidence-swapped"),
        pytest.param(lambda b: b[4].__setitem__(0, None), STATUS_PROOF, id="status-absent"),
        pytest.param(lambda b: b[5].__setitem__(0, None), STATUS_PROOF, id="key-absent"),
        pytest.param(
            lambda b: b[5].__setitem__(0, encode({0: "delegated", 1: 1})),
            STATUS_PROOF,
            id="key-record-changed",
        ),
        pytest.param(lambda b: b[4].__setitem__(0, b""), STATUS_PROOF, id="status-value-empty"),
    ],
)
def test_changed_bundles(edit: Edit, expect: str) -> None:
    """bundle.md §3 and verification.md §3 on valid.json's bundle, changed and re-encoded."""
    policy = parse_policy(load(VECTORS / "verify" / "valid.json")["policy"].encode("utf-8"))
    data = _edit_bundle(edit)
    if expect == "valid":
        verify_bundle(data, policy, _VALID_AT)
    else:
        assert_rejected(expect, lambda: verify_bundle(data, policy, _VALID_AT))


def test_bundle_encoding_limits() -> None:
    """bundle.md §2-§3: canonical and at most 1 MiB, before anything else."""
    policy = parse_policy(load(VECTORS / "verify" / "valid.json")["policy"].encode("utf-8"))
    data = h(load(VECTORS / "verify" / "valid.json")["bundle"])
    for bad in (
        data + b"\x00",  # trailing byte
        b"\xb9\x00\x06" + data[1:],  # the map's length not in shortest form
        encode([data]),  # not a map
        encode({**_bundle_of("valid"), 3: bytes(MAX_BUNDLE_SIZE)}),  # above 1 MiB
    ):
        assert_rejected(DECODE, lambda: verify_bundle(bad, policy, _VALID_AT))  # noqa: B023
    decode_bundle(data)


def test_verify_quorum_cosignature_forged() -> None:
    """§3 step 3: a known witness's bad cosignature fails the step (QuorumError, the class
    the step names; checkpoint.md §5.2 would call it SignatureError)."""
    v = _vector_with("quorum-met", bundle=_edit_bundle(_flip_cosignature, "quorum-met").hex())
    assert_rejected(QUORUM, lambda: _verify_vector(v))


# Bundles built here, from logs of the replay scenarios: the checkpoint signed with the log
# test key, the status map recomputed by the replay (or given, for a broken log), every
# proof generated by this file (log.md §4.1, revocation.md §3.2).

_ORIGIN: Final = "authority.example/noc-ledger"
_STORY_DELEGATION: Final = (1767139200, 1830297600)  # [effective at, valid until)
_ISSUED: Final = 1767225600  # the story's NOC and licence
_UPGRADE: Final = 1775001600  # the licence's valid_from: the NOC is superseded then
_REVOKED: Final = 1780185600  # the story's revocation of the licence


def _with_cosignature(note: bytes, timestamp: int) -> bytes:
    """checkpoint.md §5.1 with the witness test key (as witness.example)."""
    witness = parse_verifier_key(
        load(VECTORS / "checkpoint" / "valid-cosigned.json")["witness_key"]
    )
    private = _private("witness")
    text = note.decode("utf-8")
    signature = private.sign(cosigned_message(timestamp, text[: text.rindex("\n\n") + 1]))
    raw = witness.key_id + timestamp.to_bytes(8, "big") + signature
    return note + f"\u2014 {witness.name} {base64.b64encode(raw).decode('ascii')}\n".encode()


def _entry_id(entry: bytes) -> bytes:
    """SHA-256 of a signed document's payload (of the entry if it does not open)."""
    try:
        return hashlib.sha256(open_sign1(entry).payload).digest()
    except VerifyError:
        return hashlib.sha256(entry).digest()


def _delegated_key_id(link: bytes) -> bytes:
    """The key id of the key a key event names (zeros if the link does not open)."""
    try:
        return key_id(plain(cbor2.loads(open_sign1(link).payload))[2])
    except VerifyError:
        return bytes(32)


def _build_bundle(
    entries: list[bytes],
    cert_index: int,
    time: int,
    *,
    link_index: int = 0,
    size: int | None = None,
    records: Mapping[bytes, Mapping[int, Any]] | None = None,
    cosigned_at: int | None = None,
) -> bytes:
    """A bundle for entry ``cert_index`` at a checkpoint of the first ``size`` entries."""
    size = len(entries) if size is None else size
    if records is None:
        replay = _replay_for(load(VECTORS / "log" / "story.json"))
        for entry in entries[:size]:
            replay.append(entry)
        items = replay.status_items()
    else:
        items = {k: encode(r) for k, r in records.items()}
    leaves = [leaf_hash(e) for e in entries[:size]]
    note = _signed_note(
        encode_checkpoint(Checkpoint(_ORIGIN, size, mth(leaves), time, sm_root(items)))
    )
    if cosigned_at is not None:
        note = _with_cosignature(note, cosigned_at)

    def logged(i: int) -> list[Any]:
        return [i, entries[i], inclusion_path(i, leaves) if i < size else []]

    def evidence(key: bytes) -> list[Any]:
        proof = plain(cbor2.loads(encode_status_proof(*sm_prove(items, key))))
        return [items.get(key), proof]

    certificate_id = _entry_id(entries[cert_index])
    bundle = {
        0: 1,
        1: logged(cert_index),
        2: [logged(link_index)],
        3: note,
        4: evidence(certificate_id),
        5: evidence(_delegated_key_id(entries[link_index])),
    }
    return encode(bundle)


def _story_policy(change: Callable[[str], str] = lambda p: p) -> TrustPolicy:
    return parse_policy(
        change(_long_lived(load(VECTORS / "verify" / "valid.json")["policy"])).encode()
    )


def _with_witness_quorum(policy: str) -> str:
    witness = load(VECTORS / "checkpoint" / "valid-cosigned.json")["witness_key"]
    return policy.replace(
        "quorum none", f"witness witness.example {witness}\nquorum witness.example"
    )


def _with_root_scope(scope: Mapping[int, Any]) -> Callable[[str], str]:
    def change(policy: str) -> str:
        old = base64.b64encode(h(load(VECTORS / "log" / "story.json")["root_scope"])).decode()
        return policy.replace(old, base64.b64encode(encode(scope)).decode())

    return change


_PREP_SCOPE: Final = {
    0: "noc-ledger-activities/1",
    1: [{0: "prep", 2: ["institutional", "professional", "retail"], 3: {0: ["AE"]}}],
}
_VA_SCOPE: Final = {0: "noc-ledger-activities/1", 1: [{0: "va", 2: ["retail"], 3: {0: ["AE"]}}]}
_AML_QUERY: Final = Query("prep.aml_registration", "retail", "AE")
_CUSTODY_QUERY: Final = Query("va.custody", "institutional", "AE-DU")
_EXCHANGE_QUERY: Final = Query("va.exchange", "retail", "AE-DU")

# (name, bundle, at, query, change to the policy text (``str``: none), expected class)
BuiltCase = tuple[str, Callable[[], bytes], int, Query | None, Callable[[str], str], str]

BUILT: Final[list[BuiltCase]] = [
    (
        "licence-in-force",
        lambda: _build_bundle(_story(3), 2, _UPGRADE),
        _UPGRADE,
        None,
        str,
        "valid",
    ),
    (
        "noc-before-upgrade",
        lambda: _build_bundle(_story(3), 1, _UPGRADE),
        _UPGRADE - 1,
        _AML_QUERY,
        str,
        "valid",
    ),
    (
        "noc-upgraded",
        lambda: _build_bundle(_story(3), 1, _UPGRADE),
        _UPGRADE,
        _AML_QUERY,
        str,
        SUPERSEDED,
    ),
    ("licence-suspended", lambda: _build_bundle(_story(4), 2, _T0), _T0, None, str, SUSPENDED),
    (
        "licence-before-suspension",
        lambda: _build_bundle(_story(4), 2, _T0),
        _T0 - 1,
        None,
        str,
        "valid",
    ),
    (
        "licence-revoked",
        lambda: _build_bundle(_story(5), 2, _REVOKED),
        _REVOKED,
        None,
        str,
        REVOKED,
    ),
    # The history: suspended between the suspension and the revocation.
    (
        "licence-suspended-before-revocation",
        lambda: _build_bundle(_story(5), 2, _REVOKED),
        _REVOKED - 1,
        None,
        str,
        SUSPENDED,
    ),
    (
        "noc-expire-event",
        lambda: _build_bundle([*_story(2), _status("expire", 1, _T0)], 1, _T0),
        _T0,
        None,
        str,
        EXPIRED,
    ),
    (
        "noc-lapse-event",
        lambda: _build_bundle([*_story(2), _status("lapse", 1, _T0)], 1, _T0),
        _T0,
        None,
        str,
        ENDED,
    ),
    (
        "noc-surrender-event",
        lambda: _build_bundle([*_story(2), _status("surrender", 1, _T0)], 1, _T0),
        _T0,
        None,
        str,
        ENDED,
    ),
    # events.md §3.2, verification.md §3 step 10: the key's record decides.
    (
        "key-retired-after",
        lambda: _build_bundle([*_story(3), _revoke_key("authority", 3)], 2, _T0),
        _T0,
        None,
        str,
        "valid",
    ),
    (
        "key-compromised",
        lambda: _build_bundle([*_story(3), _revoke_key("authority", 2)], 2, _T0),
        _T0,
        None,
        str,
        KEY_CHAIN,
    ),
    (
        "key-compromised-later",
        lambda: _build_bundle([*_story(3), _revoke_key("authority", 2)], 1, _T0),
        _UPGRADE - 1,
        None,
        str,
        "valid",
    ),
    (
        "link-is-key-revocation",
        lambda: _build_bundle([*_story(3), _revoke_key("authority", 3)], 2, _T0, link_index=3),
        _T0,
        None,
        str,
        KEY_CHAIN,
    ),
    # Step 14 with grants suspended (and a whole suspension over them: step 13).
    (
        "grant-suspended",
        lambda: _build_bundle([*_story(3), _status("suspend", 2, _T0, "other", _CUSTODY)], 2, _T0),
        _T0,
        _CUSTODY_QUERY,
        str,
        SUSPENDED,
    ),
    (
        "other-grant-usable",
        lambda: _build_bundle([*_story(3), _status("suspend", 2, _T0, "other", _CUSTODY)], 2, _T0),
        _T0,
        _EXCHANGE_QUERY,
        str,
        "valid",
    ),
    (
        "grant-suspended-later",
        lambda: _build_bundle([*_story(3), _status("suspend", 2, _T0, "other", _CUSTODY)], 2, _T0),
        _T0 - 1,
        _CUSTODY_QUERY,
        str,
        "valid",
    ),
    (
        "grant-reinstated",
        lambda: _build_bundle(
            [
                *_story(3),
                _status("suspend", 2, _T0, "other", _CUSTODY),
                _status("reinstate", 2, _T0 + 1, None, _CUSTODY),
            ],
            2,
            _T0 + 1,
        ),
        _T0 + 1,
        _CUSTODY_QUERY,
        str,
        "valid",
    ),
    (
        "whole-over-grant-suspension",
        lambda: _build_bundle(
            [
                *_story(3),
                _status("suspend", 2, _T0, "other", _CUSTODY),
                _status("suspend", 2, _T0 + 1, "other"),
            ],
            2,
            _T0 + 1,
        ),
        _T0 + 1,
        _EXCHANGE_QUERY,
        str,
        SUSPENDED,
    ),
    # Steps 3, 5 and 7 against the policy.
    (
        "not-covered",
        lambda: _build_bundle(_story(3), 2, _UPGRADE, size=2),
        _UPGRADE,
        None,
        str,
        NOT_COVERED,
    ),
    (
        "quorum-missing",
        lambda: _build_bundle(_story(3), 2, _UPGRADE),
        _UPGRADE,
        None,
        _with_witness_quorum,
        QUORUM,
    ),
    (
        "quorum-met",
        lambda: _build_bundle(_story(3), 2, _UPGRADE, cosigned_at=_UPGRADE + 5),
        _UPGRADE,
        None,
        _with_witness_quorum,
        "valid",
    ),
    (
        "root-scope-narrower",
        lambda: _build_bundle(_story(3), 1, _UPGRADE),
        _UPGRADE - 1,
        None,
        _with_root_scope(_PREP_SCOPE),
        KEY_CHAIN,
    ),
]


@pytest.mark.parametrize(
    ("build", "at", "query", "policy", "expect"),
    [pytest.param(b, a, q, p, e, id=name) for name, b, a, q, p, e in BUILT],
)
def test_built_bundles(
    build: Callable[[], bytes],
    at: int,
    query: Query | None,
    policy: Callable[[str], str],
    expect: str,
) -> None:
    data = build()
    trust = _story_policy(policy)
    if expect == "valid":
        result = verify_bundle(data, trust, at, query)
        assert result.record == plain(cbor2.loads(plain(cbor2.loads(data))[4][0]))
    else:
        assert_rejected(expect, lambda: verify_bundle(data, trust, at, query))


def _recertified(change: Mapping[int, Any]) -> bytes:
    """The story's NOC with ``change``, signed by the issuing key."""
    return _entry("authority", CERTIFICATE_TYPE, {**_story_payload(1), **change})


def _records(
    entries: list[bytes],
    cert_index: int,
    link_index: int,
    cert: Mapping[int, Any] | None,
    key: Mapping[int, Any] | None,
) -> dict[bytes, Mapping[int, Any]]:
    out: dict[bytes, Mapping[int, Any]] = {}
    if cert is not None:
        out[_entry_id(entries[cert_index])] = cert
    if key is not None:
        out[_delegated_key_id(entries[link_index])] = key
    return out


_ACTIVE: Final = {0: "active", 1: _ISSUED, 2: 1, 3: 1, 4: _ISSUED}
_DELEGATED: Final = {0: "delegated", 1: 0}


@pytest.mark.parametrize(
    ("entries", "cert_index", "link_index", "cert", "key", "expect"),
    [
        pytest.param(lambda: _story(2), 1, 0, _ACTIVE, _DELEGATED, "valid", id="honest"),
        # Step 9: what an honest log refuses (events.md §5 item 3).
        pytest.param(
            lambda: [_story(1)[0], _recertified({5: _STORY_DELEGATION[0] - 1})],
            1,
            0,
            {**_ACTIVE, 1: _STORY_DELEGATION[0] - 1, 4: _STORY_DELEGATION[0] - 1},
            _DELEGATED,
            KEY_CHAIN,
            id="issued-before-the-delegation",
        ),
        pytest.param(
            lambda: [_story(1)[0], _recertified({5: _STORY_DELEGATION[1]})],
            1,
            0,
            {**_ACTIVE, 1: _STORY_DELEGATION[1], 4: _STORY_DELEGATION[1]},
            _DELEGATED,
            KEY_CHAIN,
            id="issued-at-valid-until",
        ),
        pytest.param(
            lambda: [_delegate("authority", _VA_SCOPE), _story(2)[1]],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            KEY_CHAIN,
            id="scope-beyond-the-delegation",
        ),
        # Steps 7 and 8: each fails with the class it names, whatever the kind of fault.
        pytest.param(
            lambda: [encode([1]), _story(2)[1]],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            KEY_CHAIN,
            id="link-not-a-signed-document",
        ),
        pytest.param(
            lambda: [
                _entry("root", KEY_EVENT_TYPE, {**_story_payload(0), 1: "revoke"}),
                _story(2)[1],
            ],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            KEY_CHAIN,
            id="link-payload-model-error",
        ),
        pytest.param(
            lambda: [_entry("root", KEY_EVENT_TYPE, {**_story_payload(0), 0: 2}), _story(2)[1]],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            KEY_CHAIN,
            id="link-payload-decode-error",
        ),
        pytest.param(
            lambda: [_entry("authority", KEY_EVENT_TYPE, _story_payload(0)), _story(2)[1]],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            KEY_CHAIN,
            id="link-not-signed-by-a-root",
        ),
        pytest.param(
            lambda: [_story(1)[0], encode([1])],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            SIGNATURE,
            id="certificate-not-a-signed-document",
        ),
        pytest.param(
            lambda: [_story(1)[0], _entry("other", CERTIFICATE_TYPE, _story_payload(1))],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            SIGNATURE,
            id="certificate-by-another-key",
        ),
        pytest.param(
            lambda: [_story(1)[0], _recertified({0: 2})],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            DECODE,
            id="certificate-payload-decode-error",
        ),
        pytest.param(
            lambda: [_story(1)[0], _recertified({10: []})],
            1,
            0,
            _ACTIVE,
            _DELEGATED,
            MODEL,
            id="certificate-payload-model-error",
        ),
        pytest.param(
            lambda: [_story(2)[1], _story(1)[0]],
            0,
            1,
            {**_ACTIVE, 2: 0, 3: 0},
            {0: "delegated", 1: 1},
            KEY_CHAIN,
            id="certificate-before-the-delegation",
        ),
        # Steps 10 and 11: records absent, of another entry, not decoding, silent.
        pytest.param(
            lambda: _story(2), 1, 0, None, _DELEGATED, STATUS_PROOF, id="no-status-record"
        ),
        pytest.param(lambda: _story(2), 1, 0, _ACTIVE, None, STATUS_PROOF, id="no-key-record"),
        pytest.param(
            lambda: _story(2),
            1,
            0,
            _ACTIVE,
            {0: "delegated", 1: 1},
            STATUS_PROOF,
            id="key-record-of-another-delegation",
        ),
        pytest.param(
            lambda: _story(2),
            1,
            0,
            _ACTIVE,
            {0: "retired", 1: 0},
            STATUS_PROOF,
            id="key-record-not-decoding",
        ),
        pytest.param(
            lambda: _story(2),
            1,
            0,
            {**_ACTIVE, 3: 0},
            _DELEGATED,
            STATUS_PROOF,
            id="record-of-another-issuance",
        ),
        pytest.param(
            lambda: _story(2),
            1,
            0,
            {0: "active", 1: _ISSUED},
            _DELEGATED,
            STATUS_PROOF,
            id="record-not-decoding",
        ),
        pytest.param(
            lambda: _story(2),
            1,
            0,
            {**_ACTIVE, 0: "suspended", 1: _T0, 2: 1},
            _DELEGATED,
            STALE,
            id="record-cannot-tell",
        ),
    ],
)
def test_bundles_of_broken_logs(
    entries: Callable[[], list[bytes]],
    cert_index: int,
    link_index: int,
    cert: Mapping[int, Any] | None,
    key: Mapping[int, Any] | None,
    expect: str,
) -> None:
    """Steps 9-13 on bundles whose status map is given, not derived (a log that broke the
    rules of events.md §5, or signed a map that is not its own)."""
    log = entries()
    records = _records(log, cert_index, link_index, cert, key)
    data = _build_bundle(log, cert_index, _T0, link_index=link_index, records=records)
    policy = _story_policy()
    if expect == "valid":
        verify_bundle(data, policy, _T0 - 1, _AML_QUERY)
    else:
        assert_rejected(expect, lambda: verify_bundle(data, policy, _T0 - 1, _AML_QUERY))


# policy.md


def _policy_example() -> str:
    spec = (ROOT / "spec" / "policy.md").read_text(encoding="utf-8")
    start = spec.index("```\n", spec.index("<!-- example:begin -->")) + 4
    return spec[start : spec.index("```", start)]


def test_policy_spec_example() -> None:
    """policy.md §9: the keys from their seeds, the canonical form, the quorum examples."""

    def public(seed_text: str) -> bytes:
        seed = hashlib.sha256(seed_text.encode()).digest()
        return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()

    text = _policy_example()
    policy = parse_policy(text.encode("utf-8"))
    assert policy.authority == "Example Virtual Assets Regulatory Authority"
    assert [r.public_key for r in policy.roots] == [public("noc-ledger example root key")]
    assert len(encode(policy.roots[0].scope)) == 126
    assert policy.logs["log.noc-ledger.example"].public_key == public("noc-ledger example log key")
    for n, suffix in ((1, ""), (2, " 2"), (3, " 3")):
        witness = policy.witnesses[f"witness.example/w{n}"]
        assert witness.public_key == public(f"noc-ledger example witness key{suffix}")
    assert policy.max_status_age == 86_400
    lines = [line for line in text.split("\n") if line and not line.startswith("#")]
    assert encode_policy(policy) == "".join(line + "\n" for line in lines)  # canonical
    w1, w2, w3 = (f"witness.example/w{n}" for n in (1, 2, 3))
    assert quorum_met(policy, frozenset({w1, w3}))
    assert not quorum_met(policy, frozenset({w2, w3}))
    assert not quorum_met(policy, frozenset({w1}))
    assert not quorum_met(policy, frozenset({w1, "outside"}))  # a group name counts nothing


_BASE_POLICY: Final = _with_witness_quorum(load(VECTORS / "verify" / "valid.json")["policy"])
_ROOT_LINE: Final = next(line for line in _BASE_POLICY.split("\n") if line.startswith("root "))
_LOG_LINE: Final = next(line for line in _BASE_POLICY.split("\n") if line.startswith("log "))
_WITNESS_LINE: Final = next(x for x in _BASE_POLICY.split("\n") if x.startswith("witness "))
_WITNESS_KEY: Final = _WITNESS_LINE.split(" ")[2]


def _policy_with(old: str, new: str) -> str:
    assert old in _BASE_POLICY
    return _BASE_POLICY.replace(old, new, 1)


def _vkey(name: str, key: str, sig_type: int) -> str:
    public = _keys()[key]
    return format_verifier_key(
        NoteVerifier(name, note_key_id(name, sig_type, public), sig_type, public)
    )


def _root_line(key: bytes, scope: Mapping[int, Any] = _PREP_SCOPE) -> str:
    return f"root {base64.b64encode(key).decode()} {base64.b64encode(encode(scope)).decode()}"


def _extra_roots(n: int) -> str:
    return "".join(_root_line(hashlib.sha256(b"%d" % i).digest()) + "\n" for i in range(n))


def _extra_logs(n: int) -> str:
    """``n`` log lines for other origins, each with its own key (never checked as a point)."""
    lines = []
    for i in range(n):
        name, public = f"l{i}.example", hashlib.sha256(b"log %d" % i).digest()
        verifier = NoteVerifier(name, note_key_id(name, 1, public), 1, public)
        lines.append(f"\nlog {format_verifier_key(verifier)}")
    return "".join(lines)


def _extra_witnesses(n: int) -> str:
    lines = []
    for i in range(n):
        name, public = f"w{i}.example", hashlib.sha256(b"witness %d" % i).digest()
        verifier = NoteVerifier(name, note_key_id(name, 4, public), 4, public)
        lines.append(f"\nwitness {name} {format_verifier_key(verifier)}")
    return "".join(lines)


def _extra_groups(n: int) -> str:
    # A chain, since a name may be a member of one group only (§4.7 rule 5).
    chain = "".join(f"group g{i} 1 g{i - 1}\n" for i in range(1, n))
    return "group g0 1 witness.example\n" + chain


def _padded(size: int) -> str:
    pad = size - len(_BASE_POLICY.encode()) - 2
    return "#" + "x" * pad + "\n" + _BASE_POLICY


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_BASE_POLICY, id="base"),
        pytest.param(
            "# c\n\n" + _BASE_POLICY.replace("\n", "\n\n# é, ü c\n"), id="comments-blank-lines"
        ),
        pytest.param(_padded(MAX_POLICY_SIZE), id="65536-bytes"),
        pytest.param(
            _policy_with("authority Virtual Assets Regulatory Authority\n", ""), id="no-authority"
        ),
        pytest.param(
            _policy_with("Virtual Assets Regulatory Authority", "é" * 256), id="authority-256"
        ),
        pytest.param(_policy_with("172800", str(2**63 - 1)), id="age-max"),
        pytest.param(_policy_with("172800", "1"), id="age-1"),
        pytest.param(
            _policy_with(_WITNESS_LINE, _WITNESS_LINE + _extra_witnesses(63)), id="64-witnesses"
        ),
        pytest.param(
            _policy_with("quorum witness.example", _extra_groups(64) + "quorum g63"), id="64-groups"
        ),
        pytest.param(_policy_with(_LOG_LINE, _LOG_LINE + _extra_logs(15)), id="16-logs"),
        pytest.param(
            _policy_with(
                "quorum witness.example", "group g any witness.example\ngroup h all g\nquorum h"
            ),
            id="groups-any-all",
        ),
        pytest.param(
            _policy_with(_ROOT_LINE, _ROOT_LINE + "\n" + _extra_roots(15)[:-1]), id="16-roots"
        ),
        pytest.param(
            _policy_with("quorum witness.example\n", "") + "quorum none\n", id="quorum-last"
        ),
    ],
)
def test_policy_accepted(text: str) -> None:
    """§5 on accepted files: order, comments, blank lines carry no meaning (§6)."""
    policy = parse_policy(text.encode("utf-8"))
    canonical = encode_policy(policy)
    assert _policy_value(parse_policy(canonical.encode("utf-8"))) == _policy_value(policy)
    assert encode_policy(parse_policy(canonical.encode("utf-8"))) == canonical


def _policy_value(policy: TrustPolicy) -> tuple[Any, ...]:
    """The policy as a value: the order of roots and of group members carries no meaning."""
    groups = {n: (g.threshold, sorted(g.members)) for n, g in policy.groups.items()}
    roots = sorted((r.public_key, encode(r.scope)) for r in policy.roots)
    fields = (policy.logs, policy.witnesses, policy.quorum, policy.max_status_age)
    return (policy.authority, roots, groups, *fields)


def test_policy_canonical_form_ignores_order() -> None:
    lines = _BASE_POLICY[:-1].split("\n")
    shuffled = [lines[0], lines[-1], lines[4], lines[2], lines[3], lines[1], lines[5]]
    text = "".join(line + "\n" for line in shuffled)
    assert encode_policy(parse_policy(text.encode())) == _BASE_POLICY


_OTHER_AS_WITNESS: Final = _vkey("other.example", "other", COSIGNATURE_TYPE)


@pytest.mark.parametrize(
    "text",
    [
        # §5 steps 1-4, §3.2.
        pytest.param("", id="empty"),
        pytest.param(_BASE_POLICY[:-1], id="no-final-lf"),
        pytest.param(_BASE_POLICY.replace("\n", "\r\n"), id="crlf"),
        pytest.param(_padded(MAX_POLICY_SIZE + 1), id="65537-bytes"),
        pytest.param("# \t\n" + _BASE_POLICY, id="tab-in-comment"),
        pytest.param("# \u202e\n" + _BASE_POLICY, id="bidi-in-comment"),
        pytest.param("\ufeff" + _BASE_POLICY, id="bom"),
        pytest.param("# \u00a0\n" + _BASE_POLICY, id="nbsp-in-comment"),
        pytest.param("# \u0085\n" + _BASE_POLICY, id="c1-in-comment"),
        pytest.param("# \x7f\n" + _BASE_POLICY, id="del-in-comment"),
        pytest.param(
            _policy_with("Regulatory Authority", "Regulatory\u3000Authority"),
            id="ideographic-space",
        ),
        # §3.3.
        pytest.param(_policy_with("quorum ", " quorum "), id="leading-sp"),
        pytest.param(_policy_with("172800", "172800 "), id="trailing-sp"),
        pytest.param(
            _policy_with("quorum witness.example", "quorum  witness.example"), id="double-sp"
        ),
        pytest.param(
            _policy_with("quorum witness.example", "quorum witness.example # note"),
            id="trailing-comment",
        ),
        pytest.param(" # comment\n" + _BASE_POLICY, id="indented-comment"),
        # §5 steps 6-8, §4.1.
        pytest.param(_BASE_POLICY.replace("noc-ledger-policy 1\n", ""), id="no-header"),
        pytest.param(_policy_with("noc-ledger-policy 1", "noc-ledger-policy 2"), id="version-2"),
        pytest.param(
            _policy_with("noc-ledger-policy 1", "noc-ledger-policy 1 1"), id="header-arguments"
        ),
        pytest.param(
            _policy_with(
                "noc-ledger-policy 1\nauthority", "authority x\nnoc-ledger-policy 1\nauthority"
            ),
            id="header-second",
        ),
        pytest.param(_BASE_POLICY + "noc-ledger-policy 1\n", id="two-headers"),
        pytest.param(_BASE_POLICY + "mirror example.com\n", id="unknown-keyword"),
        pytest.param(_policy_with("quorum ", "Quorum "), id="keyword-case"),
        pytest.param(
            _policy_with("authority Virtual", "authority Virtual\nauthority Virtual"),
            id="two-authorities",
        ),
        pytest.param(
            _policy_with("Virtual Assets Regulatory Authority", "é" * 257), id="authority-257"
        ),
        pytest.param(
            _policy_with("authority Virtual Assets Regulatory Authority", "authority"),
            id="authority-empty",
        ),
        # §4.4 roots.
        pytest.param(_policy_with(_ROOT_LINE + "\n", ""), id="no-root"),
        pytest.param(
            _policy_with(_ROOT_LINE, _ROOT_LINE + "\n" + _extra_roots(16)[:-1]), id="17-roots"
        ),
        pytest.param(_policy_with(_ROOT_LINE, _ROOT_LINE + "\n" + _ROOT_LINE), id="root-twice"),
        pytest.param(
            _policy_with(
                "root Td5rvyMe9GgXy5uK7en+wMCYoVpUBgDnUAwvCwkNDTY=",
                "root Td5rvyMe9GgXy5uK7en+wMCYoVpUBgDnUAwvCwkNDTZ=",
            ),
            id="root-key-unused-bits",
        ),
        pytest.param(
            _policy_with(
                "root Td5rvyMe9GgXy5uK7en+wMCYoVpUBgDnUAwvCwkNDTY=",
                "root Td5rvyMe9GgXy5uK7en+wMCYoVpUBgDnUAwvCwkNDQ==",
            ),
            id="root-key-31",
        ),
        pytest.param(
            _policy_with(_ROOT_LINE, _ROOT_LINE.rsplit(" ", 1)[0]), id="root-without-scope"
        ),
        pytest.param(_policy_with(_ROOT_LINE, _ROOT_LINE + " x"), id="root-three-arguments"),
        pytest.param(_policy_with(_ROOT_LINE, _ROOT_LINE[:-4]), id="root-scope-truncated"),
        pytest.param(
            _policy_with(_ROOT_LINE, _ROOT_LINE[:-2] + "=="), id="root-scope-not-canonical"
        ),
        pytest.param(
            _policy_with(_ROOT_LINE, _root_line(_keys()["root"], {**_PREP_SCOPE, 1: []})),
            id="root-scope-no-grants",
        ),
        pytest.param(
            _policy_with(_ROOT_LINE, _root_line(_keys()["root"], {**_PREP_SCOPE, 0: "other/1"})),
            id="root-scope-vocabulary",
        ),
        pytest.param(
            _policy_with(
                _ROOT_LINE,
                _ROOT_LINE.rsplit(" ", 1)[0]
                + " "
                + base64.b64encode(
                    encode({0: "noc-ledger-activities/1", 1: [_PREP_SCOPE[1][0], _VA_SCOPE[1][0]]})
                ).decode(),
            ),
            id="root-scope-unsorted",
        ),
        pytest.param(
            _policy_with(
                _ROOT_LINE,
                _ROOT_LINE.rsplit(" ", 1)[0]
                + " "
                + base64.b64encode(encode(_PREP_SCOPE) + b"\x00").decode(),
            ),
            id="root-scope-trailing-byte",
        ),
        # §4.5 logs.
        pytest.param(_policy_with(_LOG_LINE + "\n", ""), id="no-log"),
        pytest.param(_policy_with(_LOG_LINE, _LOG_LINE + "\n" + _LOG_LINE), id="log-twice"),
        pytest.param(
            _policy_with(_LOG_LINE, _LOG_LINE + "\nlog " + _vkey(_ORIGIN, "other", 1)),
            id="origin-twice",
        ),
        pytest.param(
            _policy_with(_LOG_LINE, "log " + _vkey(_ORIGIN, "log", 4)), id="log-type-0x04"
        ),
        pytest.param(_policy_with(_LOG_LINE, _LOG_LINE + " x"), id="log-two-arguments"),
        pytest.param(_policy_with(_LOG_LINE, _LOG_LINE[:-1] + "L"), id="log-key-damaged"),
        pytest.param(_policy_with(_LOG_LINE, _LOG_LINE + _extra_logs(16)), id="17-logs"),
        pytest.param(
            _policy_with(_WITNESS_LINE, _WITNESS_LINE + _extra_witnesses(64)), id="65-witnesses"
        ),
        pytest.param(
            _policy_with("quorum witness.example", _extra_groups(65) + "quorum g0"), id="65-groups"
        ),
        # §4.7 rule 5: the witness would count twice towards h.
        pytest.param(
            _policy_with(
                "quorum witness.example",
                "group g any witness.example\ngroup h 2 g witness.example\nquorum h",
            ),
            id="member-of-two-groups",
        ),
        # §4.6 witnesses, §4.1 rule 3.
        pytest.param(
            _policy_with("witness witness.example witness", "witness w witness"),
            id="witness-name-not-key-name",
        ),
        pytest.param(
            _policy_with(_WITNESS_KEY, _vkey("witness.example", "witness", 1)),
            id="witness-type-0x01",
        ),
        pytest.param(
            _policy_with(_WITNESS_LINE, f"witness none {_vkey('none', 'witness', 4)}"),
            id="witness-named-none",
        ),
        pytest.param(
            _policy_with(_WITNESS_LINE, f"witness all {_vkey('all', 'witness', 4)}"),
            id="witness-named-all",
        ),
        pytest.param(
            _policy_with(_WITNESS_LINE, _WITNESS_LINE + "\n" + _WITNESS_LINE), id="witness-twice"
        ),
        pytest.param(
            _policy_with(_WITNESS_LINE, _WITNESS_LINE + f"\nwitness x {_vkey('x', 'witness', 4)}"),
            id="witness-key-twice",
        ),
        pytest.param(
            _policy_with(_WITNESS_LINE, f"witness l {_vkey('l', 'log', 4)}"),
            id="witness-is-the-log",
        ),
        pytest.param(
            _policy_with(_WITNESS_LINE, f"witness r {_vkey('r', 'root', 4)}"),
            id="witness-is-the-root",
        ),
        pytest.param(
            _policy_with(_LOG_LINE, f"log {_vkey(_ORIGIN, 'root', 1)}"), id="log-is-the-root"
        ),
        # §4.7 groups.
        pytest.param(
            _policy_with("quorum witness.example", "group g 1\nquorum g"), id="group-empty"
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group g 0 witness.example\nquorum g"),
            id="threshold-0",
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group g 2 witness.example\nquorum g"),
            id="threshold-above-n",
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group g 01 witness.example\nquorum g"),
            id="threshold-leading-0",
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group g ANY witness.example\nquorum g"),
            id="threshold-case",
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group g 1 w2\nquorum g"), id="member-undefined"
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group g 1 g\nquorum g"), id="member-itself"
        ),
        pytest.param(
            _policy_with(
                "quorum witness.example", "group g 1 h\ngroup h 1 witness.example\nquorum g"
            ),
            id="member-defined-later",
        ),
        pytest.param(
            _policy_with(
                "quorum witness.example", "group g 1 witness.example witness.example\nquorum g"
            ),
            id="member-twice",
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group g 1 none\nquorum g"), id="member-none"
        ),
        pytest.param(
            _policy_with(
                "quorum witness.example",
                "group witness.example 1 witness.example\nquorum witness.example",
            ),
            id="group-named-as-witness",
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group any 1 witness.example\nquorum any"),
            id="group-named-any",
        ),
        pytest.param(
            _policy_with(
                "quorum witness.example",
                "group g 1 witness.example\ngroup g 1 witness.example\nquorum g",
            ),
            id="group-twice",
        ),
        pytest.param(
            _policy_with("quorum witness.example", "group a+b 1 witness.example\nquorum a+b"),
            id="group-name-plus",
        ),
        # §4.8 quorum, §4.9 max-status-age.
        pytest.param(_policy_with("quorum witness.example\n", ""), id="no-quorum"),
        pytest.param(
            _policy_with("quorum witness.example", "quorum witness.example\nquorum none"),
            id="two-quorums",
        ),
        pytest.param(_policy_with("quorum witness.example", "quorum w2"), id="quorum-undefined"),
        pytest.param(
            _policy_with(
                _WITNESS_LINE + "\nquorum witness.example",
                "quorum witness.example\n" + _WITNESS_LINE,
            ),
            id="quorum-before-witness",
        ),
        pytest.param(_policy_with("quorum witness.example", "quorum"), id="quorum-no-argument"),
        pytest.param(_policy_with("max-status-age 172800\n", ""), id="no-max-status-age"),
        pytest.param(_policy_with("172800", "0"), id="age-0"),
        pytest.param(_policy_with("172800", str(2**63)), id="age-2**63"),
        pytest.param(_policy_with("172800", "0172800"), id="age-leading-0"),
        pytest.param(_policy_with("172800", "+172800"), id="age-plus"),
        pytest.param(_policy_with("172800", "1.5"), id="age-fraction"),
        pytest.param(
            _policy_with("max-status-age 172800", "max-status-age 172800\nmax-status-age 172800"),
            id="two-ages",
        ),
    ],
)
def test_policy_refused(text: str) -> None:
    """policy.md §3-§5: every failure is PolicyError."""
    assert_rejected(POLICY, lambda: parse_policy(text.encode("utf-8")))


def test_policy_refuses_bytes_that_are_not_utf8() -> None:
    for bad in (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80"):  # invalid, overlong, a surrogate
        assert_rejected(POLICY, lambda: parse_policy(bad + _BASE_POLICY.encode()))  # noqa: B023
