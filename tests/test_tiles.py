"""noc_ledger.tiles: the pure C2SP tlog-tiles layout (spec/tiles.md §3-§6)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import merkle, tiles
from noc_ledger.errors import DecodeError, EncodeError, OutOfRangeError
from noc_ledger.tiles import ENTRIES, TILE_WIDTH, Tile
from tests import independent_tiles

# One store shared by the tests: entry i is its index as 4 bytes.
_N = 70_000
_STORE = merkle.MemoryHashStore()
for _i in range(_N):
    _STORE.append(_i.to_bytes(4, "big"))
_LEAVES = _STORE.read_hashes([merkle.stored_hash_index(0, i) for i in range(_N)])


def _reader(size: int) -> tiles.TileHashReader:
    return tiles.TileHashReader(size, lambda ts: [tiles.read_hash_tile(_STORE, t) for t in ts])


# -- paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_encode_index_examples(n: int, text: str) -> None:
    assert tiles.encode_index(n) == text
    assert independent_tiles.tile_path("0", n, 256) == f"tile/0/{text}"


def test_paths_of_the_c2sp_examples() -> None:
    assert tiles.tile_path(Tile(0, 1234067, 256)) == "tile/0/x001/x234/067"
    assert tiles.tile_path(Tile(2, 0, 1)) == "tile/2/000.p/1"
    assert tiles.tile_path(Tile(ENTRIES, 1000, 17)) == "tile/entries/x001/000.p/17"


@given(
    level=st.one_of(st.just(ENTRIES), st.integers(0, 6)),
    data=st.data(),
    width=st.integers(1, TILE_WIDTH),
)
def test_path_round_trip(level: int, data: st.DataObject, width: int) -> None:
    # Any tile that starts below 2^63 leaves.
    n = data.draw(st.integers(0, tiles.MAX_SIZE >> (8 * (max(level, 0) + 1))))
    tile = Tile(level, n, width)
    path = tiles.tile_path(tile)
    assert tiles.parse_tile_path(path) == tile
    level_text = "entries" if level == ENTRIES else str(level)
    assert path == independent_tiles.tile_path(level_text, n, width)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "checkpoint",
        "/tile/0/000",
        "tile/0/000/",
        "tile/0/0",
        "tile/0/00",
        "tile/0/0000",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/x000/001",  # the canonical spelling of 1 is 001
        "tile/0/001/002",  # all but the last element start with x
        "tile/0/x001",
        "tile/0/X001/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000.P/1",
        "tile/entries/000.p/300",
        "tile/Entries/000",
        "tile/data/000",
        "tile/0/../000",
        "tile/0/./000",
        "tile/0//000",
        "tile/0/%30%30%30",
        "tile/0/000?x",
        "tile/0/000\n",
        "tile/0/ 000",
        "tile/0/０００",  # fullwidth digits
        "tile/0/x001/x001/x001/x001/x001/x001/x001/000",
        "tile/7/x001/000",  # starts far beyond 2^63 leaves
    ],
)
def test_non_canonical_paths_are_rejected(path: str) -> None:
    with pytest.raises(DecodeError):
        tiles.parse_tile_path(path)


@given(st.text(max_size=40))
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        tile = tiles.parse_tile_path(text)
    except DecodeError:
        return
    assert tiles.tile_path(tile) == text


@pytest.mark.parametrize(
    ("level", "n", "width"),
    [(-2, 0, 1), (64, 0, 1), (0, -1, 1), (0, 0, 0), (0, 0, 257), (True, 0, 1), (0, 2**60, 1)],
)
def test_tile_fields_are_checked(level: int, n: int, width: int) -> None:
    with pytest.raises(OutOfRangeError):
        Tile(level, n, width)


# -- which tiles a tree has ------------------------------------------------------------


def test_tiles_of_the_c2sp_examples() -> None:
    # c2sp.org/tlog-tiles: 70,000 entries -> 273 full level-0 tiles, a partial of 112, one
    # full level-1 tile, a partial level-1 tile of 17 and a partial level-2 tile of 1.
    found = list(tiles.hash_tiles_for_size(70_000))
    assert [t for t in found if t.level == 0 and not t.is_partial] == [
        Tile(0, n, 256) for n in range(273)
    ]
    assert [t for t in found if t.is_partial or t.level > 0] == [
        Tile(0, 273, 112),
        Tile(1, 0, 256),
        Tile(1, 1, 17),
        Tile(2, 0, 1),
    ]
    assert list(tiles.hash_tiles_for_size(256)) == [Tile(0, 0, 256), Tile(1, 0, 1)]
    assert list(tiles.hash_tiles_for_size(0)) == []
    assert list(tiles.bundles_for_size(257)) == [Tile(ENTRIES, 0, 256), Tile(ENTRIES, 1, 1)]


@settings(deadline=None)
@given(st.integers(0, 2**21))
def test_tiles_cover_each_level_exactly(size: int) -> None:
    hash_tiles = list(tiles.hash_tiles_for_size(size))
    level = 0
    while size >> (8 * level):
        count = size >> (8 * level)
        mine = [t for t in hash_tiles if t.level == level]
        assert sum(t.width for t in mine) == count
        assert [t.n for t in mine] == list(range(len(mine)))
        assert all(not t.is_partial for t in mine[:-1])
        assert mine[-1].end == count << (8 * level)
        level += 1
    assert all(t.level < level for t in hash_tiles)


def test_size_is_checked() -> None:
    for size in (-1, 2**63, True, 1.0):
        with pytest.raises(OutOfRangeError):
            list(tiles.hash_tiles_for_size(size))  # type: ignore[arg-type]
    for after in (-1, 2**63, True, 11):
        with pytest.raises(OutOfRangeError):
            list(tiles.hash_tiles_for_size(10, after=after))
        with pytest.raises(OutOfRangeError):
            list(tiles.bundles_for_size(10, after=after))


# -- hash tiles from stored hashes -----------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(1, _N))
def test_hash_tiles_hold_the_subtree_hashes(size: int) -> None:
    for tile in tiles.hash_tiles_for_size(size):
        hashes = tiles.decode_hash_tile(tiles.read_hash_tile(_STORE, tile), tile.width)
        span = 1 << tile.hash_level
        for i in (0, tile.width - 1):
            first = (tile.n * TILE_WIDTH + i) * span
            assert hashes[i] == merkle.root_of(_LEAVES[first : first + span])


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, _N), data=st.data())
def test_tiles_reassemble_the_stored_hashes(size: int, data: st.DataObject) -> None:
    count = merkle.stored_hash_count(size)
    indexes = data.draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=50))
    assert _reader(size).read_hashes(indexes) == _STORE.read_hashes(indexes)


def test_every_stored_hash_of_a_small_tree() -> None:
    for size in (1, 255, 256, 257, 513, 4097):
        indexes = list(range(merkle.stored_hash_count(size)))
        assert _reader(size).read_hashes(indexes) == _STORE.read_hashes(indexes)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, _N), data=st.data())
def test_proofs_from_tiles_verify(size: int, data: st.DataObject) -> None:
    root = merkle.root_of(_LEAVES[:size])
    reader = _reader(size)
    assert merkle.root_from_reader(size, reader) == root
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.prove_inclusion(index, size, reader)
    merkle.verify_inclusion(
        index=index, size=size, leaf_hash=_LEAVES[index], proof=proof, root=root
    )
    size1 = data.draw(st.integers(1, size))
    proof = merkle.prove_consistency(size1, size, reader)
    merkle.verify_consistency(
        size1=size1,
        size2=size,
        proof=proof,
        root1=merkle.root_of(_LEAVES[:size1]),
        root2=root,
    )


def test_tile_reads_are_batched_and_bounded_by_size() -> None:
    calls: list[list[Tile]] = []

    def read(ts: object) -> list[bytes]:
        assert isinstance(ts, list)
        calls.append(ts)
        return [tiles.read_hash_tile(_STORE, t) for t in ts]

    reader = tiles.TileHashReader(70_000, read)
    merkle.prove_inclusion(12_345, 70_000, reader)
    assert len(calls) == 1
    assert len(calls[0]) == len(set(calls[0]))
    # Hash of leaves [0, 512) at size 511 is not in that tree.
    with pytest.raises(OutOfRangeError):
        tiles.TileHashReader(511, read).read_hashes([merkle.stored_hash_index(9, 0)])
    with pytest.raises(OutOfRangeError):
        tiles.locate_stored_hash(merkle.stored_hash_count(10), 10)


def test_locations() -> None:
    loc = tiles.locate_stored_hash(merkle.stored_hash_index(8, 3), 70_000)
    assert loc == tiles.HashLocation(Tile(1, 0, 256), 3, 1)
    loc = tiles.locate_stored_hash(merkle.stored_hash_index(3, 33), 300)
    assert loc == tiles.HashLocation(Tile(0, 1, 44), 8, 8)
    loc = tiles.locate_stored_hash(merkle.stored_hash_index(0, 299), 300)
    assert loc == tiles.HashLocation(Tile(0, 1, 44), 43, 1)


def test_a_short_or_long_tile_is_a_decode_error() -> None:
    good = tiles.read_hash_tile(_STORE, Tile(0, 0, 10))

    def reader(data: bytes) -> tiles.TileHashReader:
        return tiles.TileHashReader(10, lambda ts: [data for _ in ts])

    assert reader(good).read_hashes([0]) == _STORE.read_hashes([0])
    for bad in (good[:-1], good + b"\x00", b"", good * 2):
        with pytest.raises(DecodeError):
            reader(bad).read_hashes([0])
    with pytest.raises(DecodeError):
        tiles.TileHashReader(10, lambda ts: []).read_hashes([0])


def test_encode_hash_tile_checks() -> None:
    for bad in ([], [b"\x00" * 31], [b"\x00" * 32] * 257):
        with pytest.raises(EncodeError):
            tiles.encode_hash_tile(bad)
    with pytest.raises(OutOfRangeError):
        tiles.tile_hash_indexes(Tile(ENTRIES, 0, 1))


# -- entry bundles ---------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=TILE_WIDTH))
def test_bundle_round_trip(entries: list[bytes]) -> None:
    data = tiles.encode_entry_bundle(entries)
    assert data == b"".join(len(e).to_bytes(2, "big") + e for e in entries)
    assert tiles.decode_entry_bundle(data, len(entries)) == entries


@given(
    entries=st.lists(st.binary(max_size=40), min_size=1, max_size=20),
    cut=st.integers(1, 50),
    extra=st.binary(min_size=1, max_size=5),
)
def test_bundle_decoding_is_strict(entries: list[bytes], cut: int, extra: bytes) -> None:
    data = tiles.encode_entry_bundle(entries)
    width = len(entries)
    with pytest.raises(DecodeError):
        tiles.decode_entry_bundle(data + extra, width)  # trailing bytes
    if cut <= len(data):
        with pytest.raises(DecodeError):
            tiles.decode_entry_bundle(data[:-cut], width)  # truncated
    with pytest.raises(DecodeError):
        tiles.decode_entry_bundle(data, width + 1)  # fewer entries than the width
    if width > 1:
        with pytest.raises(DecodeError):
            tiles.decode_entry_bundle(data, width - 1)  # more entries than the width


def test_bundle_limits() -> None:
    biggest = b"\xab" * 0xFFFF
    assert tiles.decode_entry_bundle(tiles.encode_entry_bundle([biggest]), 1) == [biggest]
    with pytest.raises(EncodeError):
        tiles.encode_entry_bundle([biggest + b"\x00"])
    with pytest.raises(EncodeError):
        tiles.encode_entry_bundle([])
    with pytest.raises(EncodeError):
        tiles.encode_entry_bundle([b""] * 257)
    with pytest.raises(DecodeError):
        tiles.decode_entry_bundle(b"\x00" * (tiles.MAX_BUNDLE_SIZE + 1), 256)
    with pytest.raises(DecodeError):
        tiles.decode_entry_bundle(b"", 1)
    with pytest.raises(DecodeError):
        tiles.decode_entry_bundle("text", 1)  # type: ignore[arg-type]


def test_entries_hash_to_level_zero() -> None:
    entries = [i.to_bytes(4, "big") for i in range(256)]
    bundle = tiles.decode_entry_bundle(tiles.encode_entry_bundle(entries), 256)
    tile = tiles.decode_hash_tile(tiles.read_hash_tile(_STORE, Tile(0, 0, 256)), 256)
    assert [hashlib.sha256(b"\x00" + e).digest() for e in bundle] == tile


# -- the inner levels of tiles (TileLevels) ----------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, _N),
    data=st.data(),
)
def test_levels_serve_the_same_hashes_as_hashing_each_run(size: int, data: st.DataObject) -> None:
    # Any stored hash of a tree of ``size`` (many of them roots of runs inside a tile, full
    # or partial) read through a shared TileLevels equals the one hashed on its own, and
    # the store's own; asked twice, the second time served from the levels.
    levels = tiles.TileLevels(max_tiles=4)
    with_levels = tiles.TileHashReader(
        size, lambda ts: [tiles.read_hash_tile(_STORE, t) for t in ts], levels
    )
    candidates = [
        merkle.stored_hash_index(level, n)
        for level in range(0, size.bit_length())
        for n in range(size >> level)
    ]
    picked = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=40))
    expected = _STORE.read_hashes(picked)
    assert _reader(size).read_hashes(picked) == expected
    assert with_levels.read_hashes(picked) == expected
    assert with_levels.read_hashes(picked) == expected


def test_levels_are_bounded_and_keyed_by_width() -> None:
    levels = tiles.TileLevels(max_tiles=2)
    full = [bytes([i]) * 32 for i in range(TILE_WIDTH)]
    a = levels.get(Tile(0, 0, TILE_WIDTH), full)
    assert [len(level) for level in a] == [256, 128, 64, 32, 16, 8, 4, 2, 1]
    assert a[8][0] == tiles.subtree_root(full)
    # A partial tile of the same position is another key: only its complete runs.
    p = levels.get(Tile(0, 0, 5), full[:5])
    assert [len(level) for level in p] == [5, 2, 1]
    assert p[2][0] == tiles.subtree_root(full[:4])
    levels.get(Tile(0, 1, TILE_WIDTH), full)
    assert len(levels._tiles) == 2
    assert Tile(0, 0, TILE_WIDTH) not in levels._tiles  # the least recently used went
    with pytest.raises(ValueError, match="positive"):
        tiles.TileLevels(0)
