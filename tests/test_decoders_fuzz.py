"""Every decoder, fed random and mutated bytes, raises only NocLedgerError subclasses
(never another exception) and never accepts a mutated signed document."""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import codec, signing
from noc_ledger.errors import NocLedgerError
from noc_ledger.model import Certificate, verify_certificate
from noc_ledger.scope import Scope
from noc_ledger.vocabulary import parse_vocabulary
from tools.gen_vectors import AUTHORITY, sample_licence, sample_noc

SIGNED = signing.sign1(
    AUTHORITY, content_type=signing.CONTENT_TYPES["certificate"], payload=sample_licence().to_cbor()
)
PAYLOAD = sample_noc().to_cbor()
SCOPE = codec.encode(sample_licence().scope.to_item())
VOCABULARY = (
    importlib.resources.files("noc_ledger.vocabulary").joinpath("activities-1.json").read_bytes()
)
PEM = signing.encode_private_key(
    signing.Ed25519Signer(hashlib.sha256(b"k").digest()), b"passphrase"
)

DECODERS: dict[str, tuple[Callable[[bytes], Any], bytes]] = {
    "codec.decode": (lambda b: codec.decode(b, tags=frozenset({18})), SIGNED),
    "signing.decode_sign1": (signing.decode_sign1, SIGNED),
    "signing.verify_sign1": (
        lambda b: signing.verify_sign1(
            b, content_type=signing.CONTENT_TYPES["certificate"], public_key=AUTHORITY.public_key
        ),
        SIGNED,
    ),
    "model.verify_certificate": (
        lambda b: verify_certificate(b, public_key=AUTHORITY.public_key),
        SIGNED,
    ),
    "Certificate.from_cbor": (Certificate.from_cbor, PAYLOAD),
    "Scope.from_item": (lambda b: Scope.from_item(codec.decode(b)), SCOPE),
    "vocabulary.parse_vocabulary": (parse_vocabulary, VOCABULARY),
    "signing.decode_private_key": (lambda b: signing.decode_private_key(b, b"passphrase"), PEM),
}


def _mutate(data: bytes, source: st.DataObject) -> bytes:
    draw = source.draw
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "replace", "dup"]))
    pos = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "flip" and data:
        return data[:pos] + bytes([data[pos] ^ (1 << draw(st.integers(0, 7)))]) + data[pos + 1 :]
    if kind == "truncate":
        return data[:pos]
    if kind == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=4)) + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + 1 + draw(st.integers(0, 3)) :]
    if kind == "replace" and data:
        return data[:pos] + bytes([draw(st.integers(0, 255))]) + data[pos + 1 :]
    return data + data[pos:]


@pytest.mark.parametrize("name", sorted(DECODERS))
@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_and_mutated_input_gives_typed_errors(name: str, data: st.DataObject) -> None:
    decode, sample = DECODERS[name]
    assert decode(sample) is not None  # the seed itself is accepted
    raw = data.draw(st.one_of(st.binary(max_size=200), st.just(sample)))
    candidate = _mutate(raw, data) if raw == sample else raw
    try:
        decode(candidate)
    except NocLedgerError:
        return
    # Accepted: only possible for inputs that are still meaningful; a signed document
    # must never be accepted once changed.
    if name in {"signing.verify_sign1", "model.verify_certificate"}:
        assert candidate == sample


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_wrong_python_types_give_typed_errors(name: str) -> None:
    decode, _ = DECODERS[name]
    for bad in (None, "text", 1, bytearray(b"\xa0"), memoryview(b"\xa0")):
        with pytest.raises(NocLedgerError):
            decode(bad)  # type: ignore[arg-type]


def test_every_single_byte_change_of_a_signed_certificate_is_rejected() -> None:
    # Exhaustive over positions (one flipped bit each, rotating which bit) plus every
    # truncation: the signature covers everything, so nothing may pass.
    for pos in range(len(SIGNED)):
        mutated = SIGNED[:pos] + bytes([SIGNED[pos] ^ (1 << (pos % 8))]) + SIGNED[pos + 1 :]
        with pytest.raises(NocLedgerError):
            verify_certificate(mutated, public_key=AUTHORITY.public_key)
        with pytest.raises(NocLedgerError):
            verify_certificate(SIGNED[:pos], public_key=AUTHORITY.public_key)
