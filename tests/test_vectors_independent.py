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
* log.md §3-§5: RFC 9162 tree hashing, proof generation and verification.

Every failure is reported with the class the spec names for it, and a rejected vector must
fail with exactly its ``expect`` class: encoding.md §6 (every failure: DecodeError),
signing.md §4 (DecodeError for steps 1, 2 and 4, SignatureError for steps 3 and 5-8),
certificate.md §2.4 (payloads: DecodeError for bytes and shape, ModelError for values),
§3.9 and §6 (ModelError), log.md §4.2 and §5.2 (InclusionError, ConsistencyError). The
few places where the text leaves the class to interpretation are marked "§2.4 reading" or
"§6 reading" below, with the text they follow.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

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
    "encoding": 36,
    "keys": 3,
    "merkle": 30,
    "scope": 24,
}

DECODE: Final = "DecodeError"
SIGNATURE: Final = "SignatureError"
MODEL: Final = "ModelError"
INCLUSION: Final = "InclusionError"
CONSISTENCY: Final = "ConsistencyError"


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


def verify_signed(data: bytes, expected_type: str, public_key: bytes) -> bytes:
    """signing.md §4 steps 1-8; returns the payload bytes for step 9."""
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
    # 6. The expected kind.
    if header[3] != expected_type:
        fail(SIGNATURE, f"content type {header[3]} is not {expected_type}")
    # 7. kid = key id of the trusted key.
    if header[4] != key_id(public_key):
        fail(SIGNATURE, "kid is not the key id of the trusted key")
    # 8. Strict Ed25519 over the Sig_structure.
    if not verify_strict_reference(public_key, sig_structure(protected, payload), signature):
        fail(SIGNATURE, "Ed25519 signature does not verify (strict rule)")
    assert isinstance(payload, bytes)
    return payload


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
        "encoding": {"valid", DECODE},
        "keys": {"valid"},
        "merkle": {"valid", INCLUSION, CONSISTENCY},
        "scope": {"permitted", "not-permitted", "within", "not-within", MODEL},
    }
    for folder, allowed in expects.items():
        for path in _files(folder):
            assert load(path)["expect"] in allowed, path


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
    for path in _files("certificate"):
        v = load(path)
        name = f"certificate/{path.stem}"
        signed = h(v["signed"])
        yield name, "signed", signed, ANY_TAG
        item = cbor2.loads(first_item(signed))
        parts = plain(item.value if isinstance(item, cbor2.CBORTag) else item)
        yield name, "protected", parts[0], STRICT
        yield name, "payload", parts[2], STRICT
        if "payload" in v:
            yield name, "payload field", h(v["payload"]), STRICT
    for path in _files("scope"):
        v = load(path)
        for part in ("scope", "inner", "outer"):
            if part in v:
                yield f"scope/{path.stem}", part, h(v[part]), STRICT


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
    # 11 valid encoding inputs, 3 thumbprint inputs, per certificate vector its signed
    # document, protected header and payload (30 x 3) plus the payload field of the 4 valid
    # ones, and the scopes of 15 query and 9 subset vectors (15 + 9 x 2).
    assert seen == 11 + 3 + 30 * 3 + 4 + 15 + 9 * 2


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
