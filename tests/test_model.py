"""spec/certificate.md §3, §7: the certificate model, its encoding and its signature."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import codec, signing
from noc_ledger.errors import DecodeError, ModelError, NocLedgerError, SignatureError
from noc_ledger.model import (
    NOC_DISCLAIMER_CODE,
    NOC_DISCLAIMER_TEXT,
    Certificate,
    Edge,
    EdgeKind,
    Identifier,
    Instrument,
    Issuer,
    LegalNotice,
    Subject,
    certificate_id,
    check_lei,
    sign_certificate,
    verify_certificate,
)
from noc_ledger.scope import Grant, Limit, Query, Scope, Territory, evaluate

SIGNER = signing.Ed25519Signer(hashlib.sha256(b"test issuing key").digest())
OTHER = signing.Ed25519Signer(hashlib.sha256(b"another key").digest())
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
UAE = Territory(("AE",))
ALL = ("institutional", "professional", "retail")


def noc(**changes: Any) -> Certificate:
    base = Certificate(
        instrument=Instrument.NOC,
        number="VARA/NOC/2026/0001",
        issuer=Issuer("Virtual Assets Regulatory Authority", "AE-DU"),
        subject=Subject(
            legal_name="Binance FZE",
            lei="529900T8BM49AURSDO55",
            identifiers=(Identifier("ae-ded-licence", "123456"),),
            trading_names=("Binance",),
            domains=("binance.com",),
            holder_keys=(OTHER.public_key,),
        ),
        issued_at=T0,
        valid_from=T0,
        valid_until=T0 + 180 * 86400,
        scope=Scope(
            (
                Grant("prep.aml_registration", ALL, UAE),
                Grant("prep.local_incorporation", ALL, UAE),
                Grant("prep.licence_application", ALL, UAE),
            )
        ),
        conditions=("Report progress monthly.",),
        legal_notices=(LegalNotice(NOC_DISCLAIMER_CODE, NOC_DISCLAIMER_TEXT),),
    )
    return dataclasses.replace(base, **changes)


def licence(**changes: Any) -> Certificate:
    base = noc(
        instrument=Instrument.LICENCE,
        number="VARA/LIC/2026/0001",
        scope=Scope(
            (
                Grant(
                    "va.exchange",
                    ("retail", "professional"),
                    UAE,
                    limits=(Limit("per_transaction", "AED", 1_000_000),),
                ),
            )
        ),
        legal_notices=(),
        edges=(Edge(EdgeKind.UPGRADES, noc().id),),
    )
    return dataclasses.replace(base, **changes)


def test_round_trip_and_id() -> None:
    for cert in (noc(), licence()):
        data = cert.to_cbor()
        assert Certificate.from_cbor(data) == cert
        assert cert.id == hashlib.sha256(data).digest() == certificate_id(data)


def test_payload_is_deterministic_regardless_of_input_order() -> None:
    a = noc(subject=Subject("X Ltd", trading_names=("B", "A"), domains=("b.ae", "a.ae")))
    b = noc(subject=Subject("X Ltd", trading_names=("A", "B"), domains=("a.ae", "b.ae")))
    assert a.to_cbor() == b.to_cbor()


def test_sign_and_verify() -> None:
    signed = sign_certificate(noc(), SIGNER)
    verified = verify_certificate(signed, public_key=SIGNER.public_key)
    assert verified.certificate == noc()
    assert verified.id == noc().id
    assert verified.key_id == SIGNER.key_id
    with pytest.raises(SignatureError):
        verify_certificate(signed, public_key=OTHER.public_key)


def test_id_does_not_depend_on_signature() -> None:
    # Re-signing by another key yields other bytes but the same certificate id (D4).
    a = verify_certificate(sign_certificate(noc(), SIGNER), public_key=SIGNER.public_key)
    b = verify_certificate(sign_certificate(noc(), OTHER), public_key=OTHER.public_key)
    assert a.signed != b.signed and a.id == b.id


def test_noc_semantics() -> None:
    cert = noc()
    assert evaluate(cert.scope, Query("prep.aml_registration", "retail", "AE")).permitted
    assert not evaluate(cert.scope, Query("va.exchange.fiat", "retail", "AE")).permitted
    notice = cert.legal_notice(NOC_DISCLAIMER_CODE)
    assert notice is not None and "does not constitute a full operating licence" in notice.text
    assert cert.is_valid_at(T0) and not cert.is_valid_at(T0 - 1)
    assert not cert.is_valid_at(T0 + 180 * 86400)


@pytest.mark.parametrize(
    "lei",
    [
        "529900T8BM49AURSDO55",  # GLEIF's own documentation example
        "5493001KJTIIGC8Y1R12",
        "HWUPKR0MPOU8FGXBT394",
    ],
)
def test_valid_leis(lei: str) -> None:
    check_lei(lei)


@pytest.mark.parametrize(
    "lei",
    ["529900T8BM49AURSDO56", "529900T8BM49AURSDO5", "529900t8bm49aursdo55", "52990OT8BM49AURSDO55"],
)
def test_invalid_leis(lei: str) -> None:
    with pytest.raises(ModelError):
        check_lei(lei)


@pytest.mark.parametrize(
    "change",
    [
        {"scope": Scope((Grant("va.exchange.fiat", ALL, UAE),))},  # NOC operating activity
        {"legal_notices": ()},  # NOC without disclaimer
        {"edges": (Edge(EdgeKind.UPGRADES, b"\x00" * 32),)},  # NOC upgrading
        {"valid_until": T0},  # empty validity
        {"number": ""},
        {"number": "NOC\u202e1"},  # bidi override
        {"instrument": "permit"},
        {"issued_at": -1},
        {"conditions": (" padded",)},
        {
            "legal_notices": (
                LegalNotice(NOC_DISCLAIMER_CODE, "a"),
                LegalNotice(NOC_DISCLAIMER_CODE, "b"),
            )
        },
        {
            "edges": (
                Edge(EdgeKind.SUPERSEDES, b"\x00" * 32),
                Edge(EdgeKind.SUPERSEDES, b"\x01" * 32),
            )
        },
    ],
)
def test_model_rules(change: dict[str, Any]) -> None:
    with pytest.raises(ModelError):
        noc(**change)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Subject("X", lei="529900T8BM49AURSDO56"),
        lambda: Subject("X", domains=("Binance.com",)),
        lambda: Subject("X", domains=("localhost",)),
        lambda: Subject("X", domains=("-a.com",)),
        lambda: Subject("X", holder_keys=(b"\x00" * 31,)),
        lambda: Subject("X", trading_names=("A", "A")),
        lambda: Subject("X\x00"),
        lambda: Issuer("VARA", "Dubai"),
        lambda: Identifier("Bad Scheme", "1"),
        lambda: Edge("replaces", b"\x00" * 32),  # type: ignore[arg-type]
        lambda: Edge(EdgeKind.UPGRADES, b"\x00" * 31),
    ],
)
def test_part_rules(build: Any) -> None:
    with pytest.raises(ModelError):
        build()


def _mutate_payload(mutator: Any) -> bytes:
    item = noc().to_item()
    mutator(item)
    return codec.encode(item)


@pytest.mark.parametrize(
    ("mutator", "error"),
    [
        (lambda m: m.__setitem__(0, 2), DecodeError),  # unknown version
        (lambda m: m.__setitem__(99, 1), DecodeError),  # unknown key
        (lambda m: m.pop(2), DecodeError),  # missing key
        (lambda m: m.__setitem__(5, "2026-01-01"), DecodeError),  # wrong type
        (lambda m: m[4].__setitem__(1, "529900T8BM49AURSDO56"), ModelError),  # bad LEI
        (lambda m: m[4].__setitem__(3, ["B", "A"]), DecodeError),  # unsorted set
        (lambda m: m[4].__setitem__(3, []), ModelError),  # empty array instead of absent
        (lambda m: m.__setitem__(1, "licence!"), ModelError),
        (lambda m: m.pop(10), ModelError),  # NOC without disclaimer
        (lambda m: m[8][1][0].__setitem__(0, "va.custody"), ModelError),  # NOC operating
        (lambda m: m[8][1].reverse(), DecodeError),  # grants out of order
    ],
)
def test_from_cbor_rejects(mutator: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Certificate.from_cbor(_mutate_payload(mutator))


def test_non_canonical_payload_rejected_even_if_signed() -> None:
    # A signer could sign non-canonical bytes; the verifier must still refuse them, since
    # another verifier's decoder might read them differently (spec §2.2).
    payload = noc().to_cbor()
    assert payload[0] >> 5 == 5  # a map
    long_form = bytes([0xB8, payload[0] & 0x1F]) + payload[1:]  # map length, non-shortest
    signed = signing.sign1(
        SIGNER, content_type=signing.CONTENT_TYPES["certificate"], payload=long_form
    )
    with pytest.raises(DecodeError):
        verify_certificate(signed, public_key=SIGNER.public_key)


def test_wrong_content_type_rejected() -> None:
    signed = signing.sign1(
        SIGNER, content_type=signing.CONTENT_TYPES["status-event"], payload=noc().to_cbor()
    )
    with pytest.raises(SignatureError, match="content type"):
        verify_certificate(signed, public_key=SIGNER.public_key)


@settings(max_examples=200)
@given(st.data())
def test_any_mutation_of_a_signed_certificate_fails_typed(data: st.DataObject) -> None:
    signed = sign_certificate(noc(), SIGNER)
    pos = data.draw(st.integers(0, len(signed) - 1))
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    if kind == "flip":
        bit = data.draw(st.integers(0, 7))
        bad = signed[:pos] + bytes([signed[pos] ^ (1 << bit)]) + signed[pos + 1 :]
    elif kind == "truncate":
        bad = signed[:pos]
    else:
        bad = signed[:pos] + data.draw(st.binary(min_size=1, max_size=3)) + signed[pos:]
    with pytest.raises(NocLedgerError):
        verify_certificate(bad, public_key=SIGNER.public_key)
