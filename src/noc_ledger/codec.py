"""The deterministic CBOR profile of spec/encoding.md (GUIDE D1).

One value has exactly one encoding: RFC 8949 §4.2.1 core deterministic encoding (shortest
arguments, definite lengths, map keys sorted by the bytewise order of their encoded form),
restricted to the data model of spec/encoding.md §2: unsigned and negative integers in
[-2**64, 2**64 - 1], byte strings, text strings (valid UTF-8), arrays, maps whose keys are
integers or text strings, ``false``, ``true``, ``null``, and only the tags a caller names.

The decoder is written here rather than delegated to a general-purpose CBOR library because
strictness is the point: general decoders accept duplicate keys, indefinite lengths and
non-shortest arguments, and turn tags into Python objects (shared references can even build
cyclic structures). This decoder rejects every input that is not the one canonical
encoding of its value, while it reads it, so no re-encoding pass is needed (§3).

Values map to Python as: ``int``, ``bytes``, ``str``, ``list`` (``tuple`` is accepted when
encoding), ``dict``, ``bool``, ``None`` and :class:`Tag`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from noc_ledger.errors import DecodeError, EncodeError

__all__ = [
    "COSE_SIGN1_TAG",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "CborValue",
    "KnownItem",
    "Tag",
    "decode",
    "decode_map_spans",
    "encode",
]

#: spec/encoding.md §4: limits a decoder applies unless its caller asks for tighter ones.
DEFAULT_MAX_SIZE: Final = 1 << 20
DEFAULT_MAX_DEPTH: Final = 16
#: RFC 9052 §4.2: the only tag the spec names (spec/signing.md §2).
COSE_SIGN1_TAG: Final = 18

_UINT_LIMIT: Final = 1 << 64


@dataclass(frozen=True, slots=True)
class Tag:
    """A CBOR tag (major type 6) around one value."""

    number: int
    value: CborValue


CborValue: TypeAlias = Any
"""Any value of the data model (spec/encoding.md §2). Typed as ``Any`` because the data
model is recursive; the model layer narrows it."""

KnownItem: TypeAlias = Callable[[Any, bytes, int], int]
"""``known(key, data, pos) -> end or -1``: see :func:`decode_map_spans`."""


# ---------------------------------------------------------------------------------------
# Encoding (spec/encoding.md §3)


#: Initial bytes for arguments below 24, by major type: the common case, looked up rather
#: than computed.
_SMALL: Final = tuple(tuple(bytes(((major << 5) | n,)) for n in range(24)) for major in range(8))


def _head(major: int, arg: int) -> bytes:
    """The initial byte and shortest argument of RFC 8949 §3 / §4.2.1 (rule 1)."""
    if arg < 24:
        return _SMALL[major][arg]
    mt = major << 5
    if arg < 0x100:
        return bytes((mt | 24, arg))
    if arg < 0x10000:
        return bytes((mt | 25,)) + arg.to_bytes(2, "big")
    if arg < 0x100000000:
        return bytes((mt | 26,)) + arg.to_bytes(4, "big")
    return bytes((mt | 27,)) + arg.to_bytes(8, "big")


def _encode_into(value: CborValue, out: bytearray, depth: int) -> None:
    # Dispatch on the exact type first (the hot path); subclasses and other mappings
    # fall through to the slower checks at the end.
    if depth > DEFAULT_MAX_DEPTH:
        raise EncodeError(f"nesting deeper than {DEFAULT_MAX_DEPTH}")
    t = type(value)
    if t is int:
        if value >= 0:
            if value >= _UINT_LIMIT:
                raise EncodeError(f"integer {value} exceeds 2**64 - 1")
            out += _head(0, value)
        else:
            arg = -1 - value
            if arg >= _UINT_LIMIT:
                raise EncodeError(f"integer {value} is below -2**64")
            out += _head(1, arg)
    elif t is str:
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"text is not valid Unicode: {exc.reason}") from None
        out += _head(3, len(raw))
        out += raw
    elif t is bytes:
        out += _head(2, len(value))
        out += value
    elif t is dict or (t is not bool and isinstance(value, Mapping)):
        _encode_map(value, out, depth)
    elif t is list or t is tuple:
        out += _head(4, len(value))
        for item in value:
            _encode_into(item, out, depth + 1)
    elif value is True:
        out += b"\xf5"
    elif value is False:
        out += b"\xf4"
    elif value is None:
        out += b"\xf6"
    elif isinstance(value, Tag):
        if type(value.number) is not int or not 0 <= value.number < _UINT_LIMIT:
            raise EncodeError(f"invalid tag number {value.number!r}")
        out += _head(6, value.number)
        _encode_into(value.value, out, depth + 1)
    else:
        raise EncodeError(f"type {t.__name__} is not in the CBOR profile")


def _encode_map(value: Mapping[CborValue, CborValue], out: bytearray, depth: int) -> None:
    pairs: list[tuple[bytes, bytes]] = []
    for key, item in value.items():
        if type(key) is not int and type(key) is not str:
            raise EncodeError(f"map key of type {type(key).__name__} is not allowed")
        kbuf = bytearray()
        _encode_into(key, kbuf, depth + 1)
        vbuf = bytearray()
        _encode_into(item, vbuf, depth + 1)
        pairs.append((bytes(kbuf), bytes(vbuf)))
    # RFC 8949 §4.2.1: sort by the bytewise lexicographic order of encoded keys (not the
    # length-first order of RFC 7049 §3.9).
    pairs.sort()
    out += _head(5, len(pairs))
    for k, v in pairs:
        out += k
        out += v


def encode(value: CborValue) -> bytes:
    """Encode ``value`` in the deterministic profile (spec/encoding.md §3).

    Raises:
        EncodeError: the value holds a type outside the profile (float, set, …), an
            integer out of range, a map key that is not an int or str, a string that is
            not valid Unicode, or nesting deeper than :data:`DEFAULT_MAX_DEPTH`.
    """
    out = bytearray()
    _encode_into(value, out, 0)
    return bytes(out)


# ---------------------------------------------------------------------------------------
# Decoding (spec/encoding.md §5)

_MIN_FOR_AI: Final = {24: 24, 25: 0x100, 26: 0x10000, 27: 0x100000000}
_WIDTH_FOR_AI: Final = {24: 1, 25: 2, 26: 4, 27: 8}


class _Decoder:
    __slots__ = ("data", "end", "max_depth", "pos", "tags")

    def __init__(self, data: bytes, max_depth: int, tags: frozenset[int]) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)
        self.max_depth = max_depth
        self.tags = tags

    def fail(self, what: str, at: int) -> DecodeError:
        return DecodeError(f"{what} (at byte {at})")

    def item(self, depth: int) -> CborValue:
        data = self.data
        start = self.pos
        if start >= self.end:
            raise self.fail("truncated: expected a data item", start)
        # spec/encoding.md §4: every item's depth (outermost 0, +1 inside each array, map
        # or tag) is at most max_depth.
        if depth > self.max_depth:
            raise self.fail(f"nesting deeper than {self.max_depth}", start)
        ib = data[start]
        pos = start + 1
        major = ib >> 5
        ai = ib & 0x1F
        if major == 7:
            self.pos = pos
            # spec/encoding.md §2: only false, true and null among simple values;
            # no floats (ai 25-27), no undefined, no break outside indefinite items.
            if ai == 20:
                return False
            if ai == 21:
                return True
            if ai == 22:
                return None
            if ai in (25, 26, 27):
                raise self.fail("floating-point values are not allowed", start)
            if ai == 31:
                raise self.fail("unexpected break / indefinite length", start)
            raise self.fail(f"simple value (additional info {ai}) is not allowed", start)
        if ai < 24:
            arg = ai
        else:
            arg, pos = self.head(start)

        if major == 0:
            self.pos = pos
            return arg
        if major == 1:
            self.pos = pos
            return -1 - arg
        if major in (2, 3):
            if arg > self.end - pos:
                raise self.fail("truncated string", start)
            raw = data[pos : pos + arg]
            self.pos = pos + arg
            if major == 2:
                return raw
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail("text string is not valid UTF-8", start) from None
        self.pos = pos
        if major == 4:
            # Every item takes at least one byte: a count larger than what is left is
            # truncated input, and is refused before any allocation (spec §4).
            if arg > self.end - pos:
                raise self.fail("truncated array", start)
            return [self.item(depth + 1) for _ in range(arg)]
        if major == 5:
            if arg > (self.end - pos) // 2:
                raise self.fail("truncated map", start)
            return self.map_body(arg, depth, None, None)
        # major == 6
        if arg not in self.tags:
            raise self.fail(f"tag {arg} is not allowed here", start)
        return Tag(arg, self.item(depth + 1))

    def head(self, start: int) -> tuple[int, int]:
        """The argument of the item of major type 0-6 at ``start``, and the offset after
        its head (spec/encoding.md §5 steps 3-4)."""
        data = self.data
        ai = data[start] & 0x1F
        pos = start + 1
        if ai < 24:
            return ai, pos
        if ai <= 27:
            width = _WIDTH_FOR_AI[ai]
            if pos + width > self.end:
                raise self.fail("truncated argument", start)
            arg = int.from_bytes(data[pos : pos + width], "big")
            # RFC 8949 §4.2.1 rule 1: the argument must use the shortest form.
            if arg < _MIN_FOR_AI[ai]:
                raise self.fail("argument not in shortest form", start)
            return arg, pos + width
        if ai == 31:
            raise self.fail("indefinite-length items are not allowed", start)
        raise self.fail(f"reserved additional information value {ai}", start)

    def map_body(
        self,
        count: int,
        depth: int,
        known: KnownItem | None,
        spans: dict[CborValue, bytes] | None,
    ) -> dict[CborValue, CborValue]:
        """The ``count`` entries of a map at ``depth`` whose head was read. With ``spans``,
        each value's encoded bytes are recorded there; a value ``known`` recognises is
        stepped over, not decoded, and left out of the result (see decode_map_spans)."""
        data = self.data
        result: dict[CborValue, CborValue] = {}
        previous = b""
        for _ in range(count):
            kstart = self.pos
            key = self.item(depth + 1)
            if type(key) is not int and not isinstance(key, str):
                raise self.fail("map key must be an integer or a text string", kstart)
            encoded_key = data[kstart : self.pos]
            # §4.2.1: keys in strictly increasing bytewise order of their encodings.
            # Because each key is itself canonical, equal keys have equal encodings,
            # so this one comparison also rejects duplicates.
            if encoded_key <= previous:
                what = "duplicate map key" if encoded_key == previous else "map keys not sorted"
                raise self.fail(what, kstart)
            previous = encoded_key
            vstart = self.pos
            end = -1 if known is None else known(key, data, vstart)
            if vstart < end <= self.end:
                self.pos = end
            else:
                result[key] = self.item(depth + 1)
            if spans is not None:
                spans[key] = data[vstart : self.pos]
        return result


def decode(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
    tags: frozenset[int] = frozenset(),
) -> CborValue:
    """Decode one complete data item that must be in the deterministic profile.

    Args:
        data: exactly one encoded data item, nothing before or after it.
        max_size: inputs longer than this are refused before reading (spec §4).
        max_depth: maximum nesting of arrays, maps and tags (spec §4).
        tags: tag numbers allowed anywhere in the item; none by default.

    Raises:
        DecodeError: ``data`` is not bytes, is longer than ``max_size``, is truncated or
            has trailing bytes, or is not the canonical encoding of a value of the
            profile (non-shortest argument, indefinite length, unsorted or duplicate map
            keys, float, undefined or other simple value, tag not in ``tags``, invalid
            UTF-8, map key that is not an int or text, nesting deeper than ``max_depth``).
    """
    if not isinstance(data, bytes):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    if len(data) > max_size:
        raise DecodeError(f"input of {len(data)} bytes exceeds the limit of {max_size}")
    decoder = _Decoder(data, max_depth, tags)
    value = decoder.item(0)
    if decoder.pos != len(data):
        raise DecodeError(f"{len(data) - decoder.pos} trailing bytes after the data item")
    return value


def decode_map_spans(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
    known: KnownItem | None = None,
) -> tuple[dict[CborValue, bytes], dict[CborValue, CborValue]]:
    """Decode one map exactly as :func:`decode` does, and also return the encoded bytes of
    each of its values: ``(spans, values)``, both keyed by the map's keys.

    ``known(key, data, pos)``, if given, is asked before each value is decoded; it returns
    the end offset of the value at ``pos`` if the caller recognises its bytes, else -1. A
    recognised value is stepped over: its bytes are in ``spans`` but it is absent from
    ``values``. This is sound because a data item's encoding is self-delimiting: bytes at
    ``pos`` that equal the whole encoding of an item this decoder accepted before (with the
    same ``max_depth``, as the value of a map at depth 0) are that item, so decoding them
    again would accept them again and end at the same offset. ``known`` must therefore only
    recognise such bytes, compared in full (a prefix match is not enough).

    Raises:
        DecodeError: as :func:`decode`, or ``data`` is not a map.
    """
    if not isinstance(data, bytes):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    if len(data) > max_size:
        raise DecodeError(f"input of {len(data)} bytes exceeds the limit of {max_size}")
    if not data or data[0] >> 5 != 5:
        raise DecodeError("expected a map")
    decoder = _Decoder(data, max_depth, frozenset())
    count, decoder.pos = decoder.head(0)
    if count > (len(data) - decoder.pos) // 2:
        raise DecodeError("truncated map (at byte 0)")
    spans: dict[CborValue, bytes] = {}
    values = decoder.map_body(count, 0, known, spans)
    if decoder.pos != len(data):
        raise DecodeError(f"{len(data) - decoder.pos} trailing bytes after the data item")
    return spans, values


def require_map(value: CborValue, what: str) -> dict[CborValue, CborValue]:
    """Narrow a decoded value to a map. Raises DecodeError naming ``what`` otherwise."""
    if not isinstance(value, dict):
        raise DecodeError(f"{what}: expected a map")
    return value


def require_array(value: CborValue, what: str) -> Sequence[CborValue]:
    """Narrow a decoded value to an array. Raises DecodeError naming ``what`` otherwise."""
    if not isinstance(value, list):
        raise DecodeError(f"{what}: expected an array")
    return value
