"""The C2SP tlog-tiles layout of a log, as pure functions (spec/tiles.md).

This module reads no file, clock or network. It knows:

* the resource paths (``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]``, ``checkpoint``)
  and how to encode and strictly parse them (spec/tiles.md §3);
* which tiles and entry bundles a tree of a given size has (§4);
* the contents of a hash tile, taken from a :class:`noc_ledger.merkle.HashReader` (§5.1);
* the entry bundle format, encoded and strictly decoded (§5.2);
* where each stored hash (spec/log.md §6) lives in the tiles of a tree, so that a client can
  serve :func:`noc_ledger.merkle.prove_inclusion` and ``prove_consistency`` from tiles
  (:class:`TileHashReader`, §6).

A :class:`Tile` with ``level == ENTRIES`` names an entry bundle; any other level names a
hash tile. Errors: :class:`~noc_ledger.errors.DecodeError` for a malformed path, tile or
bundle; :class:`~noc_ledger.errors.OutOfRangeError` (a ``ValueError``) for arguments that
name nothing in the tree asked about.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from noc_ledger.errors import DecodeError, EncodeError, OutOfRangeError
from noc_ledger.merkle import (
    HASH_SIZE,
    HashReader,
    split_stored_hash_index,
    stored_hash_index,
)

__all__ = [
    "CHECKPOINT_PATH",
    "ENTRIES",
    "MAX_BUNDLE_SIZE",
    "MAX_CHECKPOINT_SIZE",
    "MAX_ENTRY_SIZE",
    "MAX_HASH_TILE_SIZE",
    "MAX_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "HashLocation",
    "Tile",
    "TileHashReader",
    "TileLevels",
    "bundles_for_size",
    "decode_entry_bundle",
    "decode_hash_tile",
    "encode_entry_bundle",
    "encode_hash_tile",
    "encode_index",
    "hash_tiles_for_size",
    "locate_stored_hash",
    "parse_tile_path",
    "read_hash_tile",
    "resources_for_size",
    "subtree_root",
    "tile_for",
    "tile_hash_indexes",
    "tile_path",
]

#: Levels of the Merkle tree one tile spans (C2SP tlog-tiles: 8, fixed).
TILE_HEIGHT: Final = 8
#: Hashes in a full tile, entries in a full bundle.
TILE_WIDTH: Final = 1 << TILE_HEIGHT
#: The ``level`` of a :class:`Tile` that is an entry bundle (``tile/entries/...``).
ENTRIES: Final = -1
#: The largest hash tile level a path may name (C2SP tlog-tiles: 0 to 63).
MAX_LEVEL: Final = 63
#: An entry is at most this many bytes (spec/log.md §2 item 2; the uint16 length prefix).
MAX_ENTRY_SIZE: Final = 0xFFFF
#: A full hash tile: 256 hashes of 32 bytes.
MAX_HASH_TILE_SIZE: Final = TILE_WIDTH * HASH_SIZE
#: A full entry bundle of the largest entries: 256 × (2 + 65,535) bytes.
MAX_BUNDLE_SIZE: Final = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)
#: The largest checkpoint note a reader fetches (spec/tiles.md §2 item 1, §7.3): a body
#: and up to 100 signature lines fit many times over.
MAX_CHECKPOINT_SIZE: Final = 64 << 10
#: The largest tree size (spec/checkpoint.md §3.1: a checkpoint size is below 2^63).
MAX_SIZE: Final = (1 << 63) - 1
#: The checkpoint's path under the prefix.
CHECKPOINT_PATH: Final = "checkpoint"

_sha256 = hashlib.sha256
_NODE_PREFIX: Final = b"\x01"

# spec/tiles.md §3: the grammar, with no room for a second spelling of any resource. <L> is a
# decimal without leading zeroes; each element of <N> is three digits, all but the last with
# an "x"; <W> is 1-255 without leading zeroes (the range is checked after the match).
_DECIMAL: Final = r"(?:0|[1-9][0-9]*)"
_PATH_RE: Final = re.compile(
    rf"tile/(?P<level>entries|{_DECIMAL})/(?P<n>(?:x[0-9]{{3}}/)*[0-9]{{3}})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


@dataclass(frozen=True, slots=True, order=True)
class Tile:
    """A hash tile (``level`` 0-63) or an entry bundle (``level == ENTRIES``).

    ``n`` is the tile's number within its level; ``width`` the number of hashes (entries) it
    holds, 256 for a full tile and 1-255 for a partial one (spec/tiles.md §4).

    Raises (on construction):
        OutOfRangeError: a field is outside those ranges, or the tile would start at or
            beyond :data:`MAX_SIZE` leaves.
    """

    level: int
    n: int
    width: int

    def __post_init__(self) -> None:
        for name in ("level", "n", "width"):
            value = getattr(self, name)
            if type(value) is not int:
                raise OutOfRangeError(f"tile {name} must be an int")
        if not (self.level == ENTRIES or 0 <= self.level <= MAX_LEVEL):
            raise OutOfRangeError(f"tile level {self.level} is not ENTRIES or 0-{MAX_LEVEL}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise OutOfRangeError(f"tile width {self.width} is not 1-{TILE_WIDTH}")
        if self.n < 0 or self.start >= MAX_SIZE:
            raise OutOfRangeError(f"tile number {self.n} at level {self.level} is out of range")

    @property
    def is_entries(self) -> bool:
        """True for an entry bundle."""
        return self.level == ENTRIES

    @property
    def is_partial(self) -> bool:
        """True for a partial tile (fewer than 256 hashes or entries)."""
        return self.width < TILE_WIDTH

    @property
    def hash_level(self) -> int:
        """The Merkle tree level of the hashes in this tile (8 × level; 0 for a bundle)."""
        return 0 if self.level == ENTRIES else TILE_HEIGHT * self.level

    @property
    def start(self) -> int:
        """Index of the first entry this tile's hashes (entries) cover."""
        return self.n << (self.hash_level + TILE_HEIGHT)

    @property
    def end(self) -> int:
        """Index one past the last entry this tile's ``width`` hashes (entries) cover."""
        return (self.n * TILE_WIDTH + self.width) << self.hash_level

    def full(self) -> Tile:
        """The full tile of the same level and number."""
        return Tile(self.level, self.n, TILE_WIDTH)


# --------------------------------------------------------------------------------------------
# Paths (spec/tiles.md §3)


def encode_index(n: int) -> str:
    """Encode a tile number as C2SP path elements: 1234067 -> ``x001/x234/067``.

    Raises:
        OutOfRangeError: ``n`` is negative or not an int.
    """
    if type(n) is not int or n < 0:
        raise OutOfRangeError("a tile number is a non-negative int")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_path(tile: Tile) -> str:
    """The resource path of ``tile`` under the log's prefix, without a leading slash."""
    level = "entries" if tile.is_entries else str(tile.level)
    suffix = f".p/{tile.width}" if tile.is_partial else ""
    return f"tile/{level}/{encode_index(tile.n)}{suffix}"


def parse_tile_path(path: str) -> Tile:
    """The tile a resource path names, accepting only the one canonical spelling.

    ``path`` is relative to the prefix, without a leading slash (``tile/0/x001/234``).
    Rejected: anything outside the grammar of spec/tiles.md §3 (other characters, a leading
    or trailing slash, leading zeroes in ``<L>`` or ``<W>``), a width of 256 or more
    (a full tile has no ``.p`` suffix), a number with a leading ``x000`` element (its
    canonical form is shorter), and a tile that starts at or beyond :data:`MAX_SIZE`.

    Raises:
        DecodeError: ``path`` is not the canonical path of a tile.
    """
    if not isinstance(path, str) or len(path) > 200:
        raise DecodeError("not a tile path")
    m = _PATH_RE.fullmatch(path)
    if m is None:
        raise DecodeError(f"not a tile path: {path!r}")
    groups = m.group("n").split("/")
    if len(groups) > 1 and groups[0] == "x000":
        raise DecodeError(f"tile number has a leading zero element: {path!r}")
    if len(groups) > 7:  # 21 digits: beyond any tile of a tree below 2^63 leaves
        raise DecodeError(f"tile number too large: {path!r}")
    n = int("".join(g.lstrip("x") for g in groups))
    level_text = m.group("level")
    if level_text == "entries":
        level = ENTRIES
    else:
        if len(level_text) > 2 or int(level_text) > MAX_LEVEL:
            raise DecodeError(f"tile level out of range: {path!r}")
        level = int(level_text)
    width_text = m.group("width")
    width = TILE_WIDTH if width_text is None else int(width_text)
    if width_text is not None and width >= TILE_WIDTH:
        raise DecodeError(f"partial tile width must be 1-255: {path!r}")
    try:
        tile = Tile(level, n, width)
    except OutOfRangeError as exc:
        raise DecodeError(f"{path!r}: {exc}") from None
    if tile_path(tile) != path:  # belt and braces: one spelling per tile
        raise DecodeError(f"not the canonical path: {path!r}")
    return tile


# --------------------------------------------------------------------------------------------
# Which tiles a tree has (spec/tiles.md §4)


def _check_size(size: object) -> int:
    if type(size) is not int or not 0 <= size <= MAX_SIZE:
        raise OutOfRangeError("a tree size is an int in [0, 2^63 - 1]")
    return size


def _level_tiles(level: int, count: int, after: int = 0) -> Iterator[Tile]:
    """The tiles holding ``count`` hashes (entries) of one level: full ones, then a partial;
    without those a level of ``after <= count`` hashes already holds (its full tiles, and
    its partial one if the level still ends there)."""
    full, rest = divmod(count, TILE_WIDTH)
    for n in range(after // TILE_WIDTH, full):
        yield Tile(level, n, TILE_WIDTH)
    if rest and after != count:
        yield Tile(level, full, rest)


def _check_after(size: int, after: int) -> None:
    _check_size(after)
    if after > size:
        raise OutOfRangeError(f"a tree of size {after} is not a prefix of one of size {size}")


def hash_tiles_for_size(size: int, *, after: int = 0) -> Iterator[Tile]:
    """The hash tiles of a tree of ``size`` entries, level by level, in increasing number.

    Level ``L`` holds ``floor(size / 256**L)`` hashes: its full tiles and, if that is not a
    multiple of 256, one partial tile of the remainder (C2SP tlog-tiles "Partial Tiles").
    The empty tree has no tiles. With ``after``, only those the tree of ``after`` entries
    does not also have (what publishing ``size`` after ``after`` writes, spec/tiles.md §8
    rule 3: a full tile stays, a partial one is superseded by a wider one).

    Raises:
        OutOfRangeError: ``size`` or ``after`` is not an int in [0, 2^63 - 1], or
            ``after > size``.
    """
    _check_size(size)
    _check_after(size, after)
    level = 0
    count = size
    while count:
        yield from _level_tiles(level, count, after >> (TILE_HEIGHT * level))
        level += 1
        count >>= TILE_HEIGHT


def bundles_for_size(size: int, *, after: int = 0) -> Iterator[Tile]:
    """The entry bundles of a tree of ``size`` entries (the same numbers as level 0); with
    ``after``, only those the tree of ``after`` entries does not also have.

    Raises:
        OutOfRangeError: ``size`` or ``after`` is not an int in [0, 2^63 - 1], or
            ``after > size``.
    """
    _check_size(size)
    _check_after(size, after)
    return _level_tiles(ENTRIES, size, after)


def resources_for_size(size: int) -> list[Tile]:
    """Every entry bundle and hash tile a tree of ``size`` entries is published as.

    Raises:
        OutOfRangeError: ``size`` is not an int in [0, 2^63 - 1].
    """
    return [*bundles_for_size(size), *hash_tiles_for_size(size)]


def tile_for(level: int, n: int, size: int) -> Tile:
    """The tile of a tree of ``size`` that holds hash (entry) number ``n`` of tile ``level``.

    Raises:
        OutOfRangeError: that hash (entry) is not complete in a tree of ``size``.
    """
    _check_size(size)
    shift = 0 if level == ENTRIES else TILE_HEIGHT * level
    count = size >> shift
    if n >= count:
        raise OutOfRangeError(f"hash {n} of tile level {level} is not in a tree of size {size}")
    number = n >> TILE_HEIGHT
    width = min(TILE_WIDTH, count - number * TILE_WIDTH)
    return Tile(level, number, width)


# --------------------------------------------------------------------------------------------
# Tile contents (spec/tiles.md §5)


def tile_hash_indexes(tile: Tile) -> list[int]:
    """The stored hash indexes (spec/log.md §6.2) of the hashes of a hash tile, in order.

    Hash ``i`` of tile ``(L, N)`` is the hash of the complete subtree at Merkle level ``8L``,
    number ``256N + i`` (C2SP tlog-tiles "Merkle Tree").

    Raises:
        OutOfRangeError: ``tile`` is an entry bundle.
    """
    if tile.is_entries:
        raise OutOfRangeError("an entry bundle holds entries, not hashes")
    base = tile.n * TILE_WIDTH
    return [stored_hash_index(tile.hash_level, base + i) for i in range(tile.width)]


def encode_hash_tile(hashes: Sequence[bytes]) -> bytes:
    """The bytes of a hash tile: its hashes concatenated.

    Raises:
        EncodeError: not 1-256 hashes of 32 bytes each.
    """
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise EncodeError(f"a tile holds 1-{TILE_WIDTH} hashes")
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise EncodeError(f"a tile holds {HASH_SIZE}-byte hashes")
    return b"".join(hashes)


def read_hash_tile(reader: HashReader, tile: Tile) -> bytes:
    """The bytes of hash tile ``tile``, its hashes read from ``reader`` in one call.

    The caller must only ask for tiles of a tree whose hashes ``reader`` stores
    (:func:`hash_tiles_for_size`).

    Raises:
        OutOfRangeError: ``tile`` is an entry bundle.
        EncodeError: the reader returned something other than one 32-byte hash per index.
        StorageError: raised by the reader.
    """
    indexes = tile_hash_indexes(tile)
    hashes = reader.read_hashes(indexes)
    if not isinstance(hashes, list) or len(hashes) != len(indexes):
        raise EncodeError("hash reader returned the wrong number of hashes")
    return encode_hash_tile(hashes)


def decode_hash_tile(data: bytes, width: int) -> list[bytes]:
    """The hashes of a hash tile of ``width`` hashes.

    Raises:
        DecodeError: ``data`` is not exactly ``width`` × 32 bytes.
    """
    if not isinstance(data, bytes) or len(data) != width * HASH_SIZE:
        raise DecodeError(
            f"a hash tile of width {width} is {width * HASH_SIZE} bytes, "
            f"got {len(data) if isinstance(data, bytes) else type(data).__name__}"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length, then its bytes.

    Raises:
        EncodeError: not 1-256 entries, or an entry that is not bytes of at most 65,535.
    """
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise EncodeError(f"a bundle holds 1-{TILE_WIDTH} entries")
    parts: list[bytes] = []
    for entry in entries:
        if not isinstance(entry, bytes) or len(entry) > MAX_ENTRY_SIZE:
            raise EncodeError(f"an entry is bytes of at most {MAX_ENTRY_SIZE}")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(entry)
    return b"".join(parts)


def decode_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """The entries of a bundle that must hold exactly ``width`` of them.

    Raises:
        DecodeError: ``data`` is not bytes, is over :data:`MAX_BUNDLE_SIZE`, a length prefix
            runs past the end, there are fewer or more than ``width`` entries, or bytes
            follow the last one.
    """
    if not isinstance(data, bytes) or len(data) > MAX_BUNDLE_SIZE:
        raise DecodeError("an entry bundle is bytes of at most MAX_BUNDLE_SIZE")
    if not 1 <= width <= TILE_WIDTH:
        raise DecodeError(f"a bundle width is 1-{TILE_WIDTH}")
    view = memoryview(data)
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(entries) == width:
            raise DecodeError(f"bytes follow entry {width} of a bundle of width {width}")
        if offset + 2 > len(data):
            raise DecodeError("truncated length prefix in an entry bundle")
        length = int.from_bytes(view[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise DecodeError("an entry runs past the end of its bundle")
        entries.append(bytes(view[offset : offset + length]))
        offset += length
    if len(entries) != width:
        raise DecodeError(f"an entry bundle of width {width} holds {len(entries)} entries")
    return entries


# --------------------------------------------------------------------------------------------
# Stored hashes from tiles (spec/tiles.md §6)


@dataclass(frozen=True, slots=True)
class HashLocation:
    """Where a stored hash lives: ``count`` consecutive hashes of ``tile`` from ``offset``,
    whose Merkle tree hash (a perfect subtree, ``count`` a power of two) is the stored hash.
    ``count == 1`` means the tile holds the hash itself."""

    tile: Tile
    offset: int
    count: int


def locate_stored_hash(index: int, size: int) -> HashLocation:
    """Where the stored hash ``index`` (spec/log.md §6.2) is in the tiles of a tree of ``size``.

    The hash of subtree ``(level, n)`` is in tile level ``level // 8``: directly if ``level``
    is a multiple of 8, otherwise as the root of the ``2**(level % 8)`` tile hashes below it
    (spec/tiles.md §6 step 2).

    Raises:
        OutOfRangeError: ``index`` is not a non-negative int, or its subtree is not complete
            in a tree of ``size`` (such a hash is not stored at that size).
    """
    _check_size(size)
    level, n = split_stored_hash_index(index)
    if (n + 1) << level > size:
        raise OutOfRangeError(f"stored hash {index} is not in a tree of size {size}")
    tile_level, k = divmod(level, TILE_HEIGHT)
    first = n << k  # the first hash, at Merkle level 8 * tile_level, under this subtree
    tile = tile_for(tile_level, first, size)
    return HashLocation(tile, first - tile.n * TILE_WIDTH, 1 << k)


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash over a power-of-two number (1-256) of hashes of equal subtrees:
    the hash of the perfect subtree they are the leaves of (RFC 9162 §2.1.1). Over a full
    hash tile's 256 hashes it is the tile's hash in the level above (C2SP tlog-tiles).

    Raises:
        OutOfRangeError: the count is not a power of two.
    """
    if not hashes or len(hashes) & (len(hashes) - 1):
        raise OutOfRangeError("subtree_root needs a power-of-two number of hashes")
    level = list(hashes)
    while len(level) > 1:
        level = [
            _sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level), 2)
        ]
    return level[0]


class TileHashReader:
    """A :class:`noc_ledger.merkle.HashReader` for a tree of ``size`` that reads hash tiles.

    ``read_tiles`` fetches the bytes of several hash tiles (any I/O is the caller's); each
    batch of stored hashes asked for becomes one ``read_tiles`` call of distinct tiles, and
    each tile's bytes are checked to be exactly its width of hashes. ``size`` MUST come
    from a verified checkpoint: only hashes of that tree are served.

    Note: the hashes are whatever the tiles say. Only a root or proof computed from them and
    checked against the verified checkpoint's root (``merkle.verify_*``) is evidence.
    """

    def __init__(
        self,
        size: int,
        read_tiles: Callable[[Sequence[Tile]], list[bytes]],
        levels: TileLevels | None = None,
    ) -> None:
        self.size = _check_size(size)
        self._read_tiles = read_tiles
        self._levels = levels

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """The stored hashes at ``indexes``, in order.

        Raises:
            OutOfRangeError: an index is not stored in a tree of ``size``.
            DecodeError: a tile is not exactly its width of hashes.
            FetchError: raised by ``read_tiles``.
        """
        locations = [locate_stored_hash(i, self.size) for i in indexes]
        tiles = sorted({loc.tile for loc in locations})
        if not tiles:
            return []
        data = self._read_tiles(tiles)
        if not isinstance(data, list) or len(data) != len(tiles):
            raise DecodeError("tile reader returned the wrong number of tiles")
        decoded = {t: decode_hash_tile(d, t.width) for t, d in zip(tiles, data, strict=True)}
        out: list[bytes] = []
        for loc in locations:
            hashes = decoded[loc.tile]
            if loc.count == 1:
                out.append(hashes[loc.offset])
            elif self._levels is None:
                out.append(subtree_root(hashes[loc.offset : loc.offset + loc.count]))
            else:
                k = loc.count.bit_length() - 1
                out.append(self._levels.get(loc.tile, hashes)[k][loc.offset >> k])
        return out


class TileLevels:
    """The inner Merkle levels of recently used hash tiles: level ``k`` of a tile holds the
    roots of its aligned runs of ``2**k`` hashes (complete runs only, for a partial tile).

    A proof needs stored hashes of heights between a tile's (C2SP tlog-tiles stores only
    every eighth level); each is the root of a run of the tile's hashes. Hashing all levels
    of a tile once (at most 255 hashes) and keeping them serves every later hash of that
    tile, such as the upper tiles and the right edge that all proofs against one checkpoint
    share, without hashing again. Bounded: at most ``max_tiles`` tiles, least recently used
    dropped first. Keyed by tile (with its width): a tile's hashes never change.
    """

    def __init__(self, max_tiles: int = 64) -> None:
        if type(max_tiles) is not int or max_tiles < 1:
            raise ValueError("max_tiles is a positive int")
        self._max = max_tiles
        self._tiles: OrderedDict[Tile, list[list[bytes]]] = OrderedDict()

    def get(self, tile: Tile, hashes: Sequence[bytes]) -> list[list[bytes]]:
        """The levels of ``tile``, whose hashes are ``hashes`` (computed on first use)."""
        levels = self._tiles.get(tile)
        if levels is not None:
            self._tiles.move_to_end(tile)
            return levels
        levels = [list(hashes)]
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append(
                [
                    _sha256(_NODE_PREFIX + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )
        self._tiles[tile] = levels
        while len(self._tiles) > self._max:
            self._tiles.popitem(last=False)
        return levels
