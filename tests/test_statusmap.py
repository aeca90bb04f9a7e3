"""Tests for noc_ledger.statusmap (spec/revocation.md §2-§4).

1. A deliberately plain recursive reference of spec/revocation.md §2.3 (``ref_root``), with
   its own hashing, against ``root_of`` and against ``update`` applied in random batches
   with insertions, replacements and deletions.
2. Proofs: presence and absence proofs for random maps (empty, one entry, keys sharing 30
   or 31 leading bytes) verify, round-trip through CBOR, and old roots stay provable.
3. Mutations (GUIDE §3 rule 6): any change to a valid proof, its encoding or the caller's
   root, key or value raises StatusProofError or DecodeError, never anything else and
   never success.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import codec, statusmap
from noc_ledger.codec import CborValue
from noc_ledger.errors import DecodeError, StorageError, VerificationError
from noc_ledger.statusmap import (
    EMPTY_ROOT,
    MAX_STATUS_PROOF_SIZE,
    MemoryNodeStore,
    StatusMapError,
    StatusProof,
    StatusProofError,
    leaf_hash,
    lookup,
    node_hash,
    prove_status,
    root_of,
    update,
    value_hash,
    verify_status,
)

# No example database: these tests must not leave files in the repository.
PROPERTY = settings(max_examples=100, deadline=None, database=None)
HEAVY = settings(max_examples=50, deadline=None, database=None)
MUTATION = settings(max_examples=60, deadline=None, database=None)

# --------------------------------------------------------------------------------------------
# Reference: spec/revocation.md §2.2-§2.3 transcribed as recursion over the sorted entries.
# --------------------------------------------------------------------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _bit(key: bytes, i: int) -> int:
    return (key[i // 8] >> (7 - i % 8)) & 1


def ref_root(entries: Sequence[tuple[bytes, bytes]], depth: int = 0) -> bytes:
    """MH(S, depth): EMPTY, a shortcut leaf, or a node over the split on bit ``depth``."""
    if not entries:
        return bytes(32)
    if len(entries) == 1:
        key, value = entries[0]
        return _h(b"\x10" + key + _h(b"\x12" + value))
    left = [e for e in entries if _bit(e[0], depth) == 0]
    right = [e for e in entries if _bit(e[0], depth) == 1]
    return _h(b"\x11" + ref_root(left, depth + 1) + ref_root(right, depth + 1))


def ref(items: Mapping[bytes, bytes]) -> bytes:
    return ref_root(sorted(items.items()))


# --------------------------------------------------------------------------------------------
# Strategies: random keys, and keys sharing 30 or 31 leading bytes (deep trees, up to 256).
# --------------------------------------------------------------------------------------------

PREFIX = bytes.fromhex("a5" * 30)
KEYS = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=2, max_size=2).map(PREFIX.__add__),
    st.integers(0, 255).map(lambda b: PREFIX + b"\x00" + bytes([b])),
)
VALUES = st.one_of(
    st.binary(min_size=1, max_size=24),
    st.sampled_from([b"\x00", b"\x01", b"\xff" * 1024]),
)
MAPS = st.dictionaries(KEYS, VALUES, max_size=40)
BATCHES = st.lists(
    st.dictionaries(KEYS, st.one_of(st.none(), VALUES), max_size=25), min_size=1, max_size=6
)


def apply(model: dict[bytes, bytes], changes: Mapping[bytes, bytes | None]) -> None:
    for key, value in changes.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


def build(items: Mapping[bytes, bytes]) -> tuple[bytes, MemoryNodeStore]:
    store = MemoryNodeStore()
    return update(EMPTY_ROOT, dict(items), store), store


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def rejected(check: Callable[..., object], *args: object, **kwargs: object) -> None:
    """``check(*args, **kwargs)`` must fail with StatusProofError or DecodeError, and
    nothing else."""
    try:
        check(*args, **kwargs)
    except (StatusProofError, DecodeError):
        return
    raise AssertionError("a mutated proof or claim was accepted")


def verify_encoded(data: bytes, *, root: bytes, key: bytes, value: bytes | None) -> None:
    verify_status(root=root, key=key, value=value, proof=StatusProof.from_cbor(data))


# --------------------------------------------------------------------------------------------
# Hashing and the tree (spec/revocation.md §2)
# --------------------------------------------------------------------------------------------


def test_hash_definitions() -> None:
    key, value = bytes(range(32)), b"status"
    assert bytes(32) == EMPTY_ROOT
    assert value_hash(value) == _h(b"\x12" + value)
    assert leaf_hash(key, value_hash(value)) == _h(b"\x10" + key + _h(b"\x12" + value))
    assert node_hash(key, EMPTY_ROOT) == _h(b"\x11" + key + bytes(32))
    # The root of a one-entry map is its leaf hash; of the empty map, EMPTY.
    assert root_of({}) == EMPTY_ROOT
    assert root_of({key: value}) == leaf_hash(key, value_hash(value))


def test_shortcut_leaves_sit_where_they_are_alone() -> None:
    a, b, c = bytes(32), b"\x80" + bytes(31), b"\x40" + bytes(31)
    la, lb, lc = (leaf_hash(k, value_hash(b"v")) for k in (a, b, c))
    assert root_of({a: b"v", b: b"v"}) == node_hash(la, lb)
    # a and c share bit 0 = 0: they split one level down, b stays at depth 1.
    assert root_of({a: b"v", b: b"v", c: b"v"}) == node_hash(node_hash(la, lc), lb)
    # Two entries on one side: the node has an EMPTY child rather than a shortcut.
    assert root_of({a: b"v", c: b"v"}) == node_hash(node_hash(la, lc), EMPTY_ROOT)


@PROPERTY
@given(MAPS)
def test_root_of_matches_reference(items: dict[bytes, bytes]) -> None:
    assert root_of(items) == ref(items)


@PROPERTY
@given(MAPS, BATCHES)
def test_update_in_batches_matches_reference(
    initial: dict[bytes, bytes], batches: list[dict[bytes, bytes | None]]
) -> None:
    root, store = build(initial)
    model = dict(initial)
    assert root == ref(model)
    for changes in batches:
        root = update(root, changes, store)
        apply(model, changes)
        assert root == ref(model)
        for key in list(model) + list(changes):
            assert lookup(root, key, store) == model.get(key)


@PROPERTY
@given(MAPS, st.randoms(use_true_random=False))
def test_batching_and_order_do_not_matter(items: dict[bytes, bytes], rnd: random.Random) -> None:
    # The same final contents reached one key at a time in a shuffled order, with deletions
    # of keys that were never there, give the one root of §2.3.
    store = MemoryNodeStore()
    root = EMPTY_ROOT
    keys = list(items)
    rnd.shuffle(keys)
    for key in keys:
        root = update(root, {key: b"temporary"}, store)
        root = update(root, {key: items[key], bytes(31) + b"\x07": None}, store)
    assert root == root_of(items)


def test_update_edge_cases() -> None:
    store = MemoryNodeStore()
    key = bytes(32)
    assert update(EMPTY_ROOT, {}, store) == EMPTY_ROOT
    assert update(EMPTY_ROOT, {key: None}, store) == EMPTY_ROOT
    assert len(store) == 0
    root = update(EMPTY_ROOT, {key: b"v"}, store)
    assert update(root, {}, store) == root
    assert update(root, {b"\x01" * 32: None}, store) == root
    assert update(root, {key: None}, store) == EMPTY_ROOT
    # Deleting every key of a deep pair collapses the whole chain of one-sided nodes.
    a, b = PREFIX + b"\x00\x00", PREFIX + b"\x00\x01"
    root = update(EMPTY_ROOT, {a: b"1", b: b"2"}, store)
    assert update(root, {a: None}, store) == root_of({b: b"2"})
    assert update(root, {a: None, b: None}, store) == EMPTY_ROOT


# --------------------------------------------------------------------------------------------
# Proofs (spec/revocation.md §3)
# --------------------------------------------------------------------------------------------


def check_proof(root: bytes, key: bytes, store: MemoryNodeStore, expected: bytes | None) -> None:
    """``prove`` gives a proof that verifies for the right answer only and round-trips."""
    proof = prove_status(root, key, store)
    verify_status(root=root, key=key, value=expected, proof=proof)
    assert StatusProof.from_cbor(proof.to_cbor()) == proof
    if expected is None:
        rejected(verify_status, root=root, key=key, value=b"x", proof=proof)
    else:
        rejected(verify_status, root=root, key=key, value=None, proof=proof)
        rejected(verify_status, root=root, key=key, value=expected + b"!", proof=proof)


@PROPERTY
@given(MAPS, st.lists(KEYS, max_size=10))
def test_proofs_verify(items: dict[bytes, bytes], queries: list[bytes]) -> None:
    root, store = build(items)
    for key in list(items) + queries:
        check_proof(root, key, store, items.get(key))


def test_proof_edge_cases() -> None:
    # Empty map: absence at depth 0, nothing else.
    store = MemoryNodeStore()
    key = bytes(range(32))
    proof = prove_status(EMPTY_ROOT, key, store)
    assert proof == StatusProof(())
    verify_status(root=EMPTY_ROOT, key=key, value=None, proof=proof)
    rejected(verify_status, root=EMPTY_ROOT, key=key, value=b"v", proof=proof)
    # One entry: presence at depth 0; any other key ends at that leaf.
    root, store = build({key: b"v"})
    assert prove_status(root, key, store) == StatusProof(())
    other = prove_status(root, bytes(32), store)
    assert other == StatusProof((), key, value_hash(b"v"))
    verify_status(root=root, key=bytes(32), value=None, proof=other)
    # Keys differing only in bit 255: presence at depth 256, the deepest possible.
    a, b, c = PREFIX + b"\x00\x00", PREFIX + b"\x00\x01", PREFIX + b"\x00\x02"
    root, store = build({a: b"1", b: b"2"})
    assert prove_status(root, a, store).depth == 256
    check_proof(root, a, store, b"1")
    check_proof(root, b, store, b"2")
    # c differs from both at bit 254: absence at an empty subtree of depth 255.
    proof = prove_status(root, c, store)
    assert proof.depth == 255 and proof.other_key is None
    check_proof(root, c, store, None)


@HEAVY
@given(MAPS, BATCHES, st.lists(KEYS, max_size=5))
def test_old_roots_stay_provable(
    initial: dict[bytes, bytes], batches: list[dict[bytes, bytes | None]], extra: list[bytes]
) -> None:
    root, store = build(initial)
    model = dict(initial)
    history = [(root, dict(model))]
    touched = set(initial) | set(extra)
    for changes in batches:
        root = update(root, changes, store)
        apply(model, changes)
        history.append((root, dict(model)))
        touched |= set(changes)
    for old_root, contents in history:
        for key in touched:
            assert lookup(old_root, key, store) == contents.get(key)
            check_proof(old_root, key, store, contents.get(key))


def test_largest_proof_has_the_specified_size() -> None:
    siblings = tuple(_h(bytes([i % 256, i // 256])) for i in range(256))
    proof = StatusProof(siblings, b"\x01" * 32, b"\x02" * 32)
    data = proof.to_cbor()
    assert len(data) == MAX_STATUS_PROOF_SIZE
    assert StatusProof.from_cbor(data) == proof
    with pytest.raises(DecodeError):
        StatusProof.from_cbor(data + b"\x00")


def test_encoding_is_compressed() -> None:
    # spec/revocation.md §3.3: bitmap of non-empty siblings, root side first, MSB first.
    s = b"\x33" * 32
    proof = StatusProof((EMPTY_ROOT, s, EMPTY_ROOT, EMPTY_ROOT, EMPTY_ROOT, EMPTY_ROOT, s, s, s))
    assert proof.to_item() == {0: 9, 1: bytes([0b01000011, 0b10000000]), 2: [s, s, s, s]}
    assert StatusProof(()).to_item() == {0: 0}
    assert StatusProof((), s, s).to_item() == {0: 0, 3: [s, s]}


# --------------------------------------------------------------------------------------------
# Mutations (GUIDE §3 rule 6)
# --------------------------------------------------------------------------------------------


def _positions(depth: int, rnd: random.Random) -> list[int]:
    """Sibling positions to mutate: the ends (where canonicity rules bite) and a few more."""
    if depth == 0:
        return []
    ends = {0, 1, 2, depth - 3, depth - 2, depth - 1}
    return sorted({i for i in ends if 0 <= i < depth} | {rnd.randrange(depth) for _ in range(3)})


def proof_mutations(proof: StatusProof, rnd: random.Random) -> Iterator[StatusProof]:
    s, ok, ovh = proof.siblings, proof.other_key, proof.other_value_hash
    randhash = rnd.randbytes(32)
    for i in _positions(len(s), rnd):
        yield StatusProof((*s[:i], flip(s[i], rnd.randrange(256)), *s[i + 1 :]), ok, ovh)
        yield StatusProof((*s[:i], *s[i + 1 :]), ok, ovh)  # drop a sibling
        if s[i] != EMPTY_ROOT:
            yield StatusProof((*s[:i], EMPTY_ROOT, *s[i + 1 :]), ok, ovh)
    for i in {0, len(s), rnd.randrange(len(s) + 1)}:  # add a sibling
        yield StatusProof((*s[:i], randhash, *s[i:]), ok, ovh)
        yield StatusProof((*s[:i], EMPTY_ROOT, *s[i:]), ok, ovh)
    if s:
        yield StatusProof(s * 2, ok, ovh)
    if len(set(s)) > 1:
        yield StatusProof(tuple(reversed(s)), ok, ovh)
    if ok is not None and ovh is not None:
        yield StatusProof(s)  # drop the other leaf
        yield StatusProof(s, flip(ok, rnd.randrange(256)), ovh)
        yield StatusProof(s, ok, flip(ovh, rnd.randrange(256)))
        yield StatusProof(s, ok, None)
        yield StatusProof(s, None, ovh)
        yield StatusProof(s, ok[:31], ovh)
        yield StatusProof(s, ok, ovh + b"\x00")
    else:
        yield StatusProof(s, randhash, rnd.randbytes(32))  # add an other leaf
    if s:
        yield StatusProof((*s[:-1], s[-1][:31]), ok, ovh)
        yield StatusProof((*s[:-1], s[-1] + b"\x00"), ok, ovh)
        yield StatusProof((*s[:-1], s[-1].hex()), ok, ovh)  # type: ignore[arg-type]
    yield StatusProof((randhash,) * 257, ok, ovh)


def item_mutations(item: dict[int, CborValue], rnd: random.Random) -> Iterator[CborValue]:
    """Changes to the decoded CBOR item: every field of spec/revocation.md §3.3."""
    depth = item[0]
    for d in (depth - 1, depth + 1, 257, -1, True, b"\x00"):
        yield {**item, 0: d}
    yield {k: v for k, v in item.items() if k != 0}
    yield {**item, 4: 0}
    yield {**item, "x": 0}
    yield [item[k] for k in sorted(item)]
    if 1 in item:
        bitmap = item[1]
        for bit in {0, depth - 1, rnd.randrange(len(bitmap) * 8), len(bitmap) * 8 - 1}:
            yield {**item, 1: flip(bitmap, bit)}
        yield {**item, 1: bitmap + b"\x00"}
        yield {**item, 1: bitmap[:-1]}
        yield {k: v for k, v in item.items() if k != 1}
    else:
        yield {**item, 1: b""}
        yield {**item, 1: b"\x80"}
    if 2 in item:
        hashes = item[2]
        i = rnd.randrange(len(hashes))
        yield {**item, 2: hashes[:i] + hashes[i + 1 :]}
        yield {**item, 2: [*hashes[:i], rnd.randbytes(32), *hashes[i:]]}
        yield {**item, 2: [*hashes[:i], EMPTY_ROOT, *hashes[i + 1 :]]}
        yield {**item, 2: [*hashes[:i], hashes[i][:31], *hashes[i + 1 :]]}
        yield {**item, 2: [*hashes[:i], flip(hashes[i], rnd.randrange(256)), *hashes[i + 1 :]]}
        yield {**item, 2: hashes[0]}
        yield {k: v for k, v in item.items() if k != 2}
    else:
        yield {**item, 2: []}
        yield {**item, 2: [rnd.randbytes(32)]}
    if 3 in item:
        key, vh = item[3]
        yield {**item, 3: [key]}
        yield {**item, 3: [key, vh, vh]}
        yield {**item, 3: [key[:31], vh]}
        yield {**item, 3: key + vh}
        yield {**item, 3: [flip(key, rnd.randrange(256)), vh]}
        yield {k: v for k, v in item.items() if k != 3}
    else:
        yield {**item, 3: [rnd.randbytes(32), rnd.randbytes(32)]}
        yield {**item, 3: []}


def caller_mutations(
    root: bytes, key: bytes, value: bytes | None, proof: StatusProof, rnd: random.Random
) -> Iterator[tuple[bytes, bytes, bytes | None]]:
    """Wrong roots, keys and values from the caller, each of which must be rejected."""
    yield flip(root, rnd.randrange(256)), key, value
    yield root[:31], key, value
    yield root, key[:31], value
    if value is None:
        yield root, key, b"x"  # claim presence of an absent key
        # Any key sharing the path's prefix is legitimately absent too; one that leaves the
        # path (a bit above the terminal flipped) must be rejected.
        if proof.depth:
            yield root, flip(key, rnd.randrange(proof.depth)), None
        if proof.other_key is not None:
            yield root, proof.other_key, None
    else:
        yield root, key, None  # claim absence of a present key
        yield root, key, value + b"\x00"
        yield root, key, flip(value, rnd.randrange(len(value) * 8))
        yield root, key, b""
        yield root, key, b"x" * 1025
        yield root, flip(key, rnd.randrange(256)), value


@MUTATION
@given(MAPS, st.lists(KEYS, max_size=3), st.randoms(use_true_random=False))
def test_every_mutation_is_rejected(
    items: dict[bytes, bytes], queries: list[bytes], rnd: random.Random
) -> None:
    root, store = build(items)
    present = list(items)
    rnd.shuffle(present)
    for key in present[:3] + queries:
        value = items.get(key)
        proof = prove_status(root, key, store)
        verify_status(root=root, key=key, value=value, proof=proof)
        claim = {"root": root, "key": key, "value": value}
        for bad in proof_mutations(proof, rnd):
            rejected(verify_status, **claim, proof=bad)
        for bad_item in item_mutations(proof.to_item(), rnd):
            rejected(verify_encoded, codec.encode(bad_item), **claim)
        data = proof.to_cbor()
        for bit in {rnd.randrange(len(data) * 8) for _ in range(24)}:
            rejected(verify_encoded, flip(data, bit), **claim)
        for r, k, v in caller_mutations(root, key, value, proof, rnd):
            rejected(verify_status, root=r, key=k, value=v, proof=proof)


@PROPERTY
@given(MAPS.filter(bool), st.randoms(use_true_random=False))
def test_absence_cannot_point_at_the_keys_own_leaf(
    items: dict[bytes, bytes], rnd: random.Random
) -> None:
    # The forgery spec/revocation.md §3.4 step 4.3 exists for: the presence proof's siblings
    # with the key's own leaf as "other leaf" fold to the true root.
    root, store = build(items)
    key = rnd.choice(list(items))
    presence = prove_status(root, key, store)
    forged = StatusProof(presence.siblings, key, value_hash(items[key]))
    with pytest.raises(StatusProofError, match="queried key"):
        verify_status(root=root, key=key, value=None, proof=forged)
    # An absence proof of another key does not prove absence of this one either.
    other = prove_status(root, flip(key, 255), store)
    rejected(verify_status, root=root, key=key, value=None, proof=other)


def test_non_canonical_proofs_are_rejected() -> None:
    a, b = PREFIX + b"\x00\x00", PREFIX + b"\x00\x01"
    root, store = build({a: b"1", b: b"2"})
    s = prove_status(root, a, store).siblings
    # The deepest sibling EMPTY: the leaf would sit higher. (In the map {x, y} with x, y
    # differing in bit 0, x's leaf is at depth 1 with y's leaf as its sibling.)
    x, y = bytes(32), b"\x80" + bytes(31)
    xy_root, xy_store = build({x: b"1", y: b"2"})
    t = prove_status(xy_root, x, xy_store).siblings
    assert t == (leaf_hash(y, value_hash(b"2")),)
    with pytest.raises(StatusProofError, match="deepest sibling"):
        verify_status(root=xy_root, key=x, value=b"1", proof=StatusProof((*t, EMPTY_ROOT)))
    # Absence at EMPTY at depth 256.
    with pytest.raises(StatusProofError, match="never a terminal"):
        verify_status(root=root, key=b, value=None, proof=StatusProof(s))
    # A presence proof carrying an other leaf.
    with pytest.raises(StatusProofError, match="no other leaf"):
        verify_status(root=root, key=a, value=b"1", proof=StatusProof(s, b, value_hash(b"2")))
    # An other leaf that is not on the key's path.
    with pytest.raises(StatusProofError, match="not on the key's path"):
        verify_status(
            root=xy_root, key=x, value=None, proof=StatusProof(t, b"\xff" * 32, bytes(32))
        )
    # More siblings than key bits.
    with pytest.raises(StatusProofError, match="256 bits"):
        verify_status(root=root, key=a, value=b"1", proof=StatusProof((s[-1],) * 257))
    # Not a proof at all.
    with pytest.raises(StatusProofError):
        verify_status(root=root, key=a, value=b"1", proof=s)  # type: ignore[arg-type]
    with pytest.raises(StatusProofError):
        verify_status(root=root, key=a, value=b"1", proof=StatusProof(b"".join(s)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xa0",  # {}
        b"\xa1\x00\x18\x00",  # depth 0 in a non-shortest form
        b"\xa1\x00\xf4",  # depth false
        b"\xa2\x00\x00\x00\x00",  # duplicate key
        b"\xa1\x00\x00\x00",  # trailing byte
        b"\x80",  # an array
        b"\xa1\x00\x19\x01\x01",  # depth 257
        b"\xa1\x00\x01",  # depth 1 without a bitmap
        b"\xa2\x00\x01\x01\x40",  # empty bitmap
    ],
)
def test_malformed_encodings_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        StatusProof.from_cbor(data)


H1, H2 = b"\x11" * 32, b"\x22" * 32


@pytest.mark.parametrize(
    "item",
    [
        {0: 0, 1: b""},  # bitmap with depth 0
        {0: 0, 2: []},  # empty hash array
        {0: 3, 1: b"\x20"},  # bit set, no hashes
        {0: 3, 1: b"\x00", 2: [H1]},  # hashes, no bit set
        {0: 3, 1: b"\x20", 2: [H1, H2]},  # more hashes than bits
        {0: 3, 1: b"\x60", 2: [H1]},  # fewer hashes than bits
        {0: 3, 1: b"\x21", 2: [H1, H2]},  # a padding bit set (and a hash for it)
        {0: 9, 1: b"\x80", 2: [H1]},  # bitmap one byte short
        {0: 3, 1: b"\x20\x00", 2: [H1]},  # bitmap one byte long
        {0: 1, 1: b"\x80", 2: [EMPTY_ROOT]},  # an empty sibling written as a hash
        {0: 1, 1: b"\x80", 2: [H1[:31]]},
        {0: 1, 1: b"\x80", 2: H1},
        {0: 0, 3: [H1]},
        {0: 0, 3: [H1, H2[:31]]},
        {0: 0, 3: [H1, H2, H2]},
        {0: 0, 4: 0},
        {1: b"\x80", 2: [H1]},
    ],
)
def test_non_canonical_encodings_raise_decode_error(item: dict[int, CborValue]) -> None:
    # spec/revocation.md §3.3: one encoding per proof; these are all rejected while decoding,
    # before verification.
    with pytest.raises(DecodeError):
        StatusProof.from_cbor(codec.encode(item))


def test_status_proof_error_is_a_verification_error() -> None:
    assert issubclass(StatusProofError, VerificationError)


# --------------------------------------------------------------------------------------------
# Inputs and storage
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s: update(EMPTY_ROOT, {bytes(31): b"v"}, s),
        lambda s: update(EMPTY_ROOT, {bytes(32): b""}, s),
        lambda s: update(EMPTY_ROOT, {bytes(32): b"v" * 1025}, s),
        lambda s: update(EMPTY_ROOT, {"k" * 32: b"v"}, s),  # type: ignore[dict-item]
        lambda s: update(bytes(31), {bytes(32): b"v"}, s),
        lambda s: lookup(EMPTY_ROOT, bytes(33), s),
        lambda s: prove_status(EMPTY_ROOT, bytes(31), s),
        lambda s: prove_status(b"", bytes(32), s),
        lambda s: root_of({bytes(32): bytearray(b"v")}),  # type: ignore[dict-item]
    ],
)
def test_invalid_inputs_raise_status_map_error(call: Callable[[MemoryNodeStore], object]) -> None:
    with pytest.raises(StatusMapError):
        call(MemoryNodeStore())


@pytest.mark.parametrize(
    ("root", "key", "value"),
    [
        (bytes(31), bytes(32), None),
        ("00" * 32, bytes(32), None),
        (EMPTY_ROOT, bytes(31), None),
        (EMPTY_ROOT, bytearray(32), None),
        (EMPTY_ROOT, bytes(32), b""),
        (EMPTY_ROOT, bytes(32), "v"),
        (EMPTY_ROOT, bytes(32), b"v" * 1025),
    ],
)
def test_verify_rejects_bad_caller_inputs(root: object, key: object, value: object) -> None:
    with pytest.raises(StatusProofError):
        verify_status(root=root, key=key, value=value, proof=StatusProof(()))  # type: ignore[arg-type]


class TamperingStore(MemoryNodeStore):
    """Answers with a corrupted node, another well-formed node, a short list, or nothing."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.armed = False

    def get_nodes(self, hashes: Sequence[bytes]) -> list[bytes | None]:
        nodes = super().get_nodes(hashes)
        if not self.armed:
            return nodes
        if self.mode == "short":
            return nodes[:-1]
        if self.mode == "missing":
            return [None for _ in nodes]
        if self.mode in ("swap-node", "swap-leaf"):
            # A well-formed inner node (leaf) that is stored under another hash.
            kind = 0x11 if self.mode == "swap-node" else 0x10
            stored = [o for o in self._nodes.values() if o[0] == kind]
            return [
                n if n is None or n[0] != kind else next(o for o in stored if o != n) for n in nodes
            ]
        return [None if n is None else n[:-1] + bytes([n[-1] ^ 1]) for n in nodes]


@pytest.mark.parametrize("mode", ["short", "missing", "corrupt", "swap-node", "swap-leaf"])
def test_store_failures_raise_storage_error(mode: str) -> None:
    store = TamperingStore(mode)
    items = {bytes([i]) * 32: bytes([i]) for i in range(1, 20)}
    root = update(EMPTY_ROOT, items, store)
    store.armed = True
    key = bytes([3]) * 32
    for call in (
        lambda: lookup(root, key, store),
        lambda: prove_status(root, key, store),
        lambda: update(root, {key: b"new"}, store),
        lambda: update(root, {key: None}, store),
    ):
        with pytest.raises(StorageError):
            call()


def test_unknown_root_raises_storage_error() -> None:
    with pytest.raises(StorageError):
        lookup(b"\x01" * 32, bytes(32), MemoryNodeStore())


def test_large_batch_into_large_map() -> None:
    # 10,000 changes (replacements, deletions, insertions) into a 100,000-entry map.
    rnd = random.Random(20240601)
    items = {rnd.randbytes(32): rnd.randbytes(16) for _ in range(100_000)}
    store = MemoryNodeStore()
    root = update(EMPTY_ROOT, items, store)
    keys = list(items)
    changes: dict[bytes, bytes | None] = {}
    for i in range(10_000):
        if i % 3 == 0:
            changes[rnd.randbytes(32)] = rnd.randbytes(16)
        else:
            changes[keys[rnd.randrange(len(keys))]] = None if i % 3 == 1 else rnd.randbytes(16)
    old_root = root
    root = update(root, changes, store)
    final = dict(items)
    apply(final, changes)
    assert root == root_of(final)
    for key in rnd.sample(keys, 100) + rnd.sample(list(changes), 100):
        check_proof(root, key, store, final.get(key))
        check_proof(old_root, key, store, items.get(key))


def test_a_stored_node_is_named_by_its_hash() -> None:
    key, value = bytes(range(32)), b"record"
    leaf = b"\x10" + key + value
    left, right = statusmap.leaf_hash(key, statusmap.value_hash(value)), bytes(32)
    inner = b"\x11" + left + right
    assert statusmap.stored_node_hash(leaf) == left
    assert statusmap.stored_node_hash(inner) == statusmap.node_hash(left, right)
    assert statusmap.stored_children(inner) == (left, right)
    assert statusmap.stored_children(leaf) is None
    # A leaf whose value makes it as long as an inner node is still a leaf.
    long_leaf = b"\x10" + key + bytes(32)
    assert statusmap.stored_children(long_leaf) is None
    assert statusmap.stored_node_hash(long_leaf) == statusmap.leaf_hash(
        key, statusmap.value_hash(bytes(32))
    )
    for bad in (b"", b"\x11" + left, b"\x10" + key, b"\x12" + left + right, inner + b"\x00"):
        assert statusmap.stored_node_hash(bad) is None
