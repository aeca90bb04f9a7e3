"""The member memo of ``Certificate.from_cbor`` and the decoder it rests on
(``codec.decode_map_spans``): decoding through the memo gives exactly what a fresh decode
gives, refuses exactly what a fresh decode refuses, and remembers nothing of a refused
payload."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import codec, model
from noc_ledger.errors import DecodeError, ModelError, NocLedgerError
from noc_ledger.model import Certificate, Identifier, Subject
from noc_ledger.scope import Grant, Scope, Territory
from tests.test_model import ALL, UAE, licence, noc


@pytest.fixture
def memo(monkeypatch: pytest.MonkeyPatch) -> model._PartMemo:
    fresh = model._PartMemo()
    monkeypatch.setattr(model, "_PARTS", fresh)
    return fresh


def _entries(memo: model._PartMemo) -> int:
    return sum(len(table[0]) for table in memo._tables.values())


# -- codec.decode_map_spans ---------------------------------------------------------------


def test_spans_are_the_exact_bytes_of_each_value() -> None:
    item = {1: "a", 2: [1, 2, {"x": b"yz"}], "k": None}
    data = codec.encode(item)
    spans, values = codec.decode_map_spans(data)
    assert values == item
    assert spans == {k: codec.encode(v) for k, v in item.items()}


def test_a_known_value_is_stepped_over_and_left_out() -> None:
    data = codec.encode({1: [1, 2, 3], 2: "tail"})
    raw = codec.encode([1, 2, 3])
    asked: list[tuple[Any, int]] = []

    def known(key: Any, buf: bytes, pos: int) -> int:
        asked.append((key, pos))
        return pos + len(raw) if buf.startswith(raw, pos) else -1

    spans, values = codec.decode_map_spans(data, known=known)
    assert values == {2: "tail"}
    assert spans == {1: raw, 2: codec.encode("tail")}
    assert [k for k, _ in asked] == [1, 2]


@pytest.mark.parametrize("end", [-1, 0, 2, 10**6])
def test_an_end_outside_the_value_is_ignored(end: int) -> None:
    # An end at or before the value's start, or past the data, cannot be a recognised
    # value: the decoder decodes it instead.
    data = codec.encode({1: [1, 2, 3]})
    spans, values = codec.decode_map_spans(data, known=lambda k, b, p: end)
    assert values == {1: [1, 2, 3]}
    assert spans == {1: codec.encode([1, 2, 3])}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (codec.encode([1]), "expected a map"),
        (b"", "expected a map"),
        (bytes([0xB8, 0x01, 0x01, 0x01]), "shortest form"),
        (bytes([0xBF, 0x01, 0x01, 0xFF]), "indefinite"),
        (bytes([0xA2, 0x02, 0x01, 0x01, 0x01]), "not sorted"),
        (bytes([0xA2, 0x01, 0x01, 0x01, 0x01]), "duplicate"),
        (bytes([0xA5, 0x01]), "truncated map"),
        (codec.encode({1: 1}) + b"\x00", "trailing"),
        (bytes([0xA1, 0x01, 0xF9, 0x00, 0x00]), "floating"),
    ],
)
def test_spans_refuse_what_decode_refuses(data: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        codec.decode_map_spans(data)


def test_spans_apply_the_size_and_depth_limits() -> None:
    deep: Any = 0
    for _ in range(5):
        deep = [deep]
    data = codec.encode({1: deep})
    with pytest.raises(DecodeError, match="deeper"):
        codec.decode_map_spans(data, max_depth=5)
    codec.decode_map_spans(data, max_depth=6)
    with pytest.raises(DecodeError, match="exceeds"):
        codec.decode_map_spans(data, max_size=len(data) - 1)


# -- Certificate.from_cbor through the memo -------------------------------------------


def _variants() -> list[Certificate]:
    other_scope = Scope((Grant("prep.aml_registration", ALL, Territory(("AE-DU",))),))
    return [
        noc(),
        noc(number="VARA/NOC/2026/0002"),
        noc(subject=Subject("HTX FZE", identifiers=(Identifier("ae-ded-licence", "9"),))),
        noc(scope=other_scope, conditions=()),
        noc(scope=Scope((Grant("prep.aml_registration", ALL, UAE),))),
        licence(),
        licence(number="VARA/LIC/2026/0009", conditions=("One.", "Two.")),
    ]


def test_memo_decodes_exactly_what_a_fresh_decode_does(memo: model._PartMemo) -> None:
    certs = _variants()
    payloads = [c.to_cbor() for c in certs]
    first = [Certificate.from_cbor(p) for p in payloads]
    assert _entries(memo) > 0
    second = [Certificate.from_cbor(p) for p in payloads]  # members from the memo
    for cert, a, b, payload in zip(certs, first, second, payloads, strict=True):
        assert a == cert == b
        assert a.to_cbor() == b.to_cbor() == payload
        assert b.id == cert.id
    # The second decode shared the first one's members rather than building new ones.
    assert second[1].scope is first[0].scope


@settings(max_examples=60, deadline=None)
@given(
    numbers=st.lists(st.integers(1, 10**6), min_size=1, max_size=8),
    names=st.lists(st.sampled_from(["Binance FZE", "HTX FZE", "OKX Middle East"]), min_size=8),
    conditions=st.lists(st.sampled_from(["A.", "B.", "Report monthly."]), max_size=3),
)
def test_memo_is_invisible_to_callers(
    numbers: list[int], names: list[str], conditions: list[str]
) -> None:
    with mock.patch.object(model, "_PARTS", model._PartMemo()):
        for n, name in zip(numbers, names, strict=False):
            cert = noc(
                number=f"VARA/NOC/2026/{n}",
                subject=Subject(name),
                conditions=tuple(conditions),
            )
            payload = cert.to_cbor()
            for _ in range(2):
                got = Certificate.from_cbor(payload)
                assert got == cert
                assert got.to_cbor() == payload


def test_a_refused_payload_leaves_nothing_in_the_memo(memo: model._PartMemo) -> None:
    # A valid scope, issuer and notices beside a broken subject LEI: the payload is
    # refused, and none of its members may be remembered as checked.
    item = noc().to_item()
    item[4][1] = "529900T8BM49AURSDO56"
    with pytest.raises(ModelError):
        Certificate.from_cbor(codec.encode(item))
    assert _entries(memo) == 0
    # The same for a payload that fails only the canonical check at the end.
    item = noc().to_item()
    item[9] = ["B.", "A."]  # conditions are a list in order: still canonical
    Certificate.from_cbor(codec.encode(item))
    assert _entries(memo) > 0


def test_a_remembered_member_does_not_excuse_another(memo: model._PartMemo) -> None:
    Certificate.from_cbor(noc().to_cbor())
    bad = noc().to_item()
    bad[4][3] = ["B", "A"]  # unsorted trading names beside a remembered scope and issuer
    with pytest.raises(DecodeError):
        Certificate.from_cbor(codec.encode(bad))
    bad = noc().to_item()
    bad[8][1].reverse()  # grants out of order: not the remembered scope's bytes
    with pytest.raises(DecodeError):
        Certificate.from_cbor(codec.encode(bad))


def test_remembered_bytes_serve_only_their_own_member(memo: model._PartMemo) -> None:
    cert = noc()
    Certificate.from_cbor(cert.to_cbor())
    raw = codec.encode(cert.scope.to_item())
    assert memo.known(8, raw, 0) == len(raw)
    assert memo.known(3, raw, 0) == -1
    assert memo.known("8", raw, 0) == -1
    assert memo.known(8, raw[:-1] + b"\x00", 0) == -1
    assert memo.get(3, raw) is None


def test_memo_is_bounded(memo: model._PartMemo) -> None:
    for n in range(model._PartMemo.LIMIT + 10):
        cert = noc(subject=Subject(f"Exchange number {n:04d} FZE"))
        Certificate.from_cbor(cert.to_cbor())
    assert len(memo._tables[4][0]) == model._PartMemo.LIMIT
    assert sum(len(v) for v in memo._tables[4][1].values()) == model._PartMemo.LIMIT
    first = codec.encode(Subject("Exchange number 0000 FZE").to_item())
    last = codec.encode(Subject(f"Exchange number {model._PartMemo.LIMIT + 9:04d} FZE").to_item())
    assert memo.get(4, first) is None
    assert memo.get(4, last) is not None


def test_a_member_evicted_mid_decode_is_decoded_again(
    memo: model._PartMemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = noc()
    Certificate.from_cbor(cert.to_cbor())
    # The decoder steps over the remembered members, then the look-up misses (another
    # thread evicted them): they are decoded from their bytes instead.
    monkeypatch.setattr(memo, "get", lambda key, raw: None)
    again = Certificate.from_cbor(cert.to_cbor())
    assert again == cert
    assert again.to_cbor() == cert.to_cbor()


def test_short_members_are_not_remembered(memo: model._PartMemo) -> None:
    memo.put(9, b"\x81\x61A", ("A",))
    assert memo.get(9, b"\x81\x61A") is None


def test_threads_share_the_memo_safely(memo: model._PartMemo) -> None:
    # Decoders in several threads, with a memo small enough to evict all the time: every
    # result is the certificate encoded, and nothing raises.
    certs = [
        noc(number=f"VARA/NOC/2026/{n}", subject=Subject(f"Exchange {n % 7} FZE"))
        for n in range(40)
    ]
    payloads = [c.to_cbor() for c in certs]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for round_ in range(30):
                i = (offset + round_) % len(certs)
                got = Certificate.from_cbor(payloads[i])
                assert got == certs[i] and got.to_cbor() == payloads[i]
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    with mock.patch.object(model._PartMemo, "LIMIT", 3):
        threads = [threading.Thread(target=work, args=(k * 5,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert all(len(values) <= 3 for values, _ in memo._tables.values())


def _outcome(payload: bytes) -> tuple[str, bytes]:
    try:
        return "ok", Certificate.from_cbor(payload).to_cbor()
    except NocLedgerError as exc:
        return type(exc).__name__, b""


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_payloads_get_the_same_verdict_with_a_warm_memo(data: st.DataObject) -> None:
    # Differential: a payload one byte off a valid one (flipped, dropped or inserted,
    # anywhere, including inside remembered members) is accepted or refused, with the same
    # error class, whether the memo holds the valid payload's members or nothing.
    base = data.draw(st.sampled_from([noc(), licence(), noc(conditions=("A.", "B."))]))
    payload = base.to_cbor()
    pos = data.draw(st.integers(0, len(payload) - 1))
    kind = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    if kind == "flip":
        bit = data.draw(st.integers(0, 7))
        bad = payload[:pos] + bytes([payload[pos] ^ (1 << bit)]) + payload[pos + 1 :]
    elif kind == "drop":
        bad = payload[:pos] + payload[pos + 1 :]
    else:
        bad = payload[:pos] + bytes([data.draw(st.integers(0, 255))]) + payload[pos:]
    with mock.patch.object(model, "_PARTS", model._PartMemo()):
        cold = _outcome(bad)
    warm_memo = model._PartMemo()
    with mock.patch.object(model, "_PARTS", warm_memo):
        Certificate.from_cbor(payload)  # remembers the valid payload's members
        warm = _outcome(bad)
    assert warm == cold
