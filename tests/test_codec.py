"""spec/encoding.md: the deterministic profile, checked against hand-made cases and against
cbor2 as an independent implementation."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import codec
from noc_ledger.errors import DecodeError, EncodeError

ints = st.integers(min_value=-(2**64), max_value=2**64 - 1)
keys = st.one_of(ints, st.text(max_size=8))
values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, st.binary(max_size=40), st.text(max_size=40)),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=30,
)


@given(values)
def test_round_trip(value: Any) -> None:
    data = codec.encode(value)
    assert codec.decode(data) == value
    assert codec.encode(codec.decode(data)) == data


@given(values)
def test_cbor2_reads_what_we_write(value: Any) -> None:
    # An independent decoder sees the same value.
    assert cbor2.loads(codec.encode(value)) == value


@given(st.dictionaries(keys, st.integers(0, 3), min_size=2, max_size=8))
def test_map_keys_in_bytewise_order_of_encodings(value: dict[Any, int]) -> None:
    data = codec.encode(value)
    # Recover the encoded keys with cbor2 one by one, independently of our encoder.
    encoded = [cbor2.dumps(k) for k in cbor2.loads(data)]
    assert encoded == sorted(encoded)


def test_bytewise_not_length_first() -> None:
    # spec §3 rule 3: 24 (1818) sorts before -1 (20) bytewise; length-first would differ.
    assert codec.encode({-1: 0, 24: 0}) == bytes.fromhex("a2181800" + "2000")
    assert codec.encode({1: 1, -1: 6, -2: b""}) == bytes.fromhex("a3010120062140")


@pytest.mark.parametrize(
    ("value", "hex_"),
    [
        (0, "00"),
        (23, "17"),
        (24, "1818"),
        (255, "18ff"),
        (256, "190100"),
        (65535, "19ffff"),
        (65536, "1a00010000"),
        (2**32 - 1, "1affffffff"),
        (2**32, "1b0000000100000000"),
        (2**64 - 1, "1bffffffffffffffff"),
        (-1, "20"),
        (-24, "37"),
        (-25, "3818"),
        (-(2**64), "3bffffffffffffffff"),
        (b"", "40"),
        ("a", "6161"),
        ("ü", "62c3bc"),
        ([], "80"),
        ({}, "a0"),
        (False, "f4"),
        (True, "f5"),
        (None, "f6"),
        (codec.Tag(18, []), "d280"),
    ],
)
def test_known_encodings(value: Any, hex_: str) -> None:
    # Values from RFC 8949 Appendix A.
    assert codec.encode(value).hex() == hex_
    assert codec.decode(bytes.fromhex(hex_), tags=frozenset({18})) == value


@pytest.mark.parametrize(
    ("hex_", "why"),
    [
        ("1817", "non-shortest uint"),
        ("190017", "non-shortest uint 2"),
        ("1a000000ff", "non-shortest uint 4"),
        ("1b00000000ffffffff", "non-shortest uint 8"),
        ("3817", "non-shortest negative"),
        ("5801ff", "non-shortest length"),
        ("5fff", "indefinite bytes"),
        ("7fff", "indefinite text"),
        ("9fff", "indefinite array"),
        ("bfff", "indefinite map"),
        ("ff", "break"),
        ("f7", "undefined"),
        ("f0", "simple 16"),
        ("f820", "simple 32"),
        ("f93c00", "half float"),
        ("fa3f800000", "single float"),
        ("fb3ff0000000000000", "double float"),
        ("c249010000000000000000", "bignum tag"),
        ("d280", "tag 18 not allowed by default"),
        ("1c", "reserved ai 28"),
        ("a202000100", "unsorted keys"),
        ("a201000100", "duplicate keys"),
        ("a2616200616100", "unsorted text keys"),
        ("a2200018180 0".replace(" ", ""), "-1 before 24 (length-first order)"),
        ("a14100 00".replace(" ", ""), "byte-string key"),
        ("a18000 00".replace(" ", ""), "array key"),
        ("62c328", "invalid utf-8"),
        ("63eda080", "utf-8 surrogate"),
        ("0000", "trailing bytes"),
        ("", "empty input"),
        ("19ff", "truncated argument"),
        ("4301", "truncated bytes"),
        ("830102", "truncated array"),
        ("9b00000000ffffffff", "huge array claim"),
        ("bb00000000ffffffff", "huge map claim"),
        ("5b00000000ffffffff", "huge bytes claim"),
    ],
)
def test_rejects_non_canonical(hex_: str, why: str) -> None:
    with pytest.raises(DecodeError):
        codec.decode(bytes.fromhex(hex_))


def test_depth_limit() -> None:
    nested = b"\x81" * 16 + b"\x00"
    assert codec.decode(nested) is not None
    with pytest.raises(DecodeError, match="nesting"):
        codec.decode(b"\x81" * 17 + b"\x00")
    with pytest.raises(DecodeError, match="nesting"):
        codec.decode(b"\x81\x81\x00", max_depth=1)


def test_size_limit() -> None:
    with pytest.raises(DecodeError, match="exceeds"):
        codec.decode(b"\x41" + b"\x00", max_size=1)
    with pytest.raises(DecodeError, match="expected bytes"):
        codec.decode(bytearray(b"\x00"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [1.0, 2**64, -(2**64) - 1, {b"k": 1}, {(1,): 1}, {True: 1}, "\ud800", {1, 2}, object()],
)
def test_encoder_refuses_values_outside_profile(value: Any) -> None:
    with pytest.raises(EncodeError):
        codec.encode(value)


def test_encoder_depth_limit() -> None:
    value: Any = 0
    for _ in range(17):
        value = [value]
    with pytest.raises(EncodeError):
        codec.encode(value)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_any_bytes_decode_or_decode_error(data: bytes) -> None:
    try:
        value = codec.decode(data, tags=frozenset({18}))
    except DecodeError:
        return
    # Whatever is accepted is canonical: it re-encodes to the same bytes.
    assert codec.encode(value) == data


@settings(max_examples=300)
@given(values)
def test_cbor2_non_canonical_forms_rejected(value: Any) -> None:
    # cbor2 (canonical=False) writes maps in insertion order; when that differs from our
    # order the bytes are not canonical and must be refused.
    other = cbor2.dumps(value)
    if other == codec.encode(value):
        assert codec.decode(other) == value
    else:
        with pytest.raises(DecodeError):
            codec.decode(other)
