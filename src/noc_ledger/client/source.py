"""Reading a published log: a tiles directory or an http(s) base URL (spec/tiles.md §6-§7).

:class:`LogSource` is what auditors, monitors and verifiers code against. Two
implementations: :class:`DirectorySource` (a local directory written by
``noc_ledger.ledger.tiles_export`` or any C2SP tlog-tiles writer) and :class:`HttpSource`
(an ``http://`` or ``https://`` prefix, read with :mod:`urllib`). :func:`open_source` picks
one from a location string.

Everything read is bounded: the checkpoint by :data:`~noc_ledger.tiles.MAX_CHECKPOINT_SIZE`,
a hash tile by its width × 32 bytes, an entry bundle by
:data:`~noc_ledger.tiles.MAX_BUNDLE_SIZE`; every HTTP request by a timeout per socket
operation and an overall deadline. HTTP redirects are not followed (spec/tiles.md §7.3).

Nothing read here is trusted. The checkpoint comes back verbatim and unverified; entries and
hashes are what the files say. The caller verifies the checkpoint, takes ``size`` from it,
and checks what it computes from entries and hashes (roots, proofs) against that checkpoint's
root — :func:`prove_inclusion` and :func:`prove_consistency` give proofs built from tiles
that ``noc_ledger.merkle.verify_*`` then checks.
"""

from __future__ import annotations

import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol

from noc_ledger import merkle
from noc_ledger.errors import FetchError, OutOfRangeError
from noc_ledger.tiles import (
    CHECKPOINT_PATH,
    ENTRIES,
    MAX_BUNDLE_SIZE,
    MAX_CHECKPOINT_SIZE,
    MAX_SIZE,
    TILE_WIDTH,
    Tile,
    TileHashReader,
    TileLevels,
    decode_entry_bundle,
    decode_hash_tile,
    subtree_root,
    tile_for,
    tile_path,
)

__all__ = [
    "DirectorySource",
    "HttpSource",
    "LogSource",
    "open_source",
    "prove_consistency",
    "prove_inclusion",
    "root_at",
]

#: Full hash tiles kept in memory per source (8 KiB each): they never change.
_CACHE_TILES: Final = 256


class LogSource(Protocol):
    """A published log (spec/tiles.md): its checkpoint, entry bundles and hash tiles."""

    #: The directory path or base URL, for messages.
    location: str

    def read_checkpoint(self) -> bytes:
        """The published checkpoint note, verbatim and UNVERIFIED.

        Raises:
            FetchError: missing, unreadable, or over MAX_CHECKPOINT_SIZE.
        """
        ...

    def read_entries(self, start: int, end: int, *, size: int) -> list[bytes]:
        """Entries ``[start, end)`` verbatim, from the entry bundles of a tree of ``size``
        (``size`` from a checkpoint the caller verified).

        Raises:
            OutOfRangeError: ``not 0 <= start <= end <= size``.
            FetchError: a bundle is missing or unreadable.
            DecodeError: a bundle is malformed (length prefixes, entry count, trailing bytes).
        """
        ...

    def read_hashes(self, indexes: Sequence[int], *, size: int) -> list[bytes]:
        """Stored node hashes (spec/log.md §6 numbering) from the hash tiles of a tree of
        ``size``, in the order asked.

        Raises:
            OutOfRangeError: an index is not stored in a tree of ``size``.
            FetchError: a tile is missing or unreadable.
            DecodeError: a tile is not exactly its width of hashes.
        """
        ...


def _tile_limit(tile: Tile) -> int:
    return MAX_BUNDLE_SIZE if tile.is_entries else TILE_WIDTH * merkle.HASH_SIZE


class _TileSource:
    """What both sources share: tiles and bundles over one ``_fetch(path, limit)``."""

    location: str

    def __init__(self) -> None:
        self._cache: OrderedDict[Tile, bytes] = OrderedDict()
        self._levels = TileLevels()

    def _fetch(self, path: str, limit: int) -> bytes | None:
        """The resource at ``path`` (at most ``limit`` bytes), or None if it does not exist.

        Raises:
            FetchError: it exists but cannot be read, or is over ``limit``.
        """
        raise NotImplementedError

    def read_checkpoint(self) -> bytes:
        data = self._fetch(CHECKPOINT_PATH, MAX_CHECKPOINT_SIZE)
        if data is None:
            raise FetchError(f"{self.location}: no checkpoint")
        return data

    def _read_tile(self, tile: Tile) -> bytes:
        """The bytes of ``tile``; a missing partial tile is read as the prefix of its full
        tile, which replaced it (spec/tiles.md §4.3).

        Raises:
            FetchError: neither exists, or a read failed.
        """
        # A partial hash tile of a given width never changes either (the tree only grows,
        # spec/tiles.md §4.3): every proof against one checkpoint reads the same right
        # edge, so partial tiles are cached beside full ones, under their own width.
        for key in (tile, tile.full()) if tile.is_partial else (tile,):
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached if key == tile else self._prefix(tile, cached)
        data = self._fetch(tile_path(tile), _tile_limit(tile))
        if data is not None:
            if not tile.is_entries:
                self._remember(tile, data)
            return data
        if tile.is_partial:
            full = tile.full()
            data = self._fetch(tile_path(full), _tile_limit(full))
            if data is not None:
                return self._prefix(tile, data)
            if tile.level >= 1:
                return self._from_level_below(tile)
        raise FetchError(f"{self.location}: {tile_path(tile)} not found")

    def _from_level_below(self, tile: Tile) -> bytes:
        """A partial hash tile of an older tree, neither published nor replaced by its full
        tile, rebuilt from the full tiles one level down: hash ``i`` is the root of full
        tile ``(L - 1, 256N + i)``, which every larger tree publishes (spec/tiles.md §6 step 4).
        Up to 255 full-tile reads, so only as a last resort."""
        out = bytearray()
        for i in range(tile.width):
            below = Tile(tile.level - 1, tile.n * TILE_WIDTH + i, TILE_WIDTH)
            out += subtree_root(decode_hash_tile(self._read_tile(below), TILE_WIDTH))
        return bytes(out)

    def _remember(self, tile: Tile, data: bytes) -> None:
        if len(data) != tile.width * merkle.HASH_SIZE:
            return  # malformed: decoding reports it; never cache it
        self._cache[tile] = data
        while len(self._cache) > _CACHE_TILES:
            self._cache.popitem(last=False)

    @staticmethod
    def _prefix(tile: Tile, full: bytes) -> bytes:
        """The first ``tile.width`` hashes (entries) of a full tile's bytes."""
        if not tile.is_entries:
            return full[: tile.width * merkle.HASH_SIZE]
        entries = decode_entry_bundle(full, TILE_WIDTH)
        out = bytearray()
        for entry in entries[: tile.width]:
            out += len(entry).to_bytes(2, "big") + entry
        return bytes(out)

    def read_entries(self, start: int, end: int, *, size: int) -> list[bytes]:
        for name, value in (("start", start), ("end", end), ("size", size)):
            if type(value) is not int:
                raise OutOfRangeError(f"{name} must be an int")
        if not 0 <= start <= end <= size <= MAX_SIZE:
            raise OutOfRangeError(f"entries [{start}, {end}) are not in a tree of size {size}")
        out: list[bytes] = []
        if start == end:
            return out
        # Straight to the bundles that hold [start, end): walking the bundle list from 0
        # would make reading a log chunk by chunk quadratic in its size.
        for number in range(start // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1):
            bundle = tile_for(ENTRIES, number * TILE_WIDTH, size)
            entries = decode_entry_bundle(self._read_tile(bundle), bundle.width)
            base = bundle.n * TILE_WIDTH
            out.extend(entries[max(start - base, 0) : end - base])
        return out

    def _read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        return [self._read_tile(t) for t in tiles]

    def read_hashes(self, indexes: Sequence[int], *, size: int) -> list[bytes]:
        return TileHashReader(size, self._read_tiles, self._levels).read_hashes(indexes)


class DirectorySource(_TileSource):
    """A tiles directory on the local file system.

    Only regular files are read (a symbolic link or device at a tile's path is an error),
    each with its size checked before it is read.
    """

    def __init__(self, root: str | Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.location = str(self.root)

    def _fetch(self, path: str, limit: int) -> bytes | None:
        target = self.root / path
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FetchError(f"{self.location}: cannot read {path}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise FetchError(f"{self.location}: {path} is not a regular file")
            if info.st_size > limit:
                raise FetchError(f"{self.location}: {path} is over {limit} bytes")
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise FetchError(f"{self.location}: cannot read {path}: {exc.strerror}") from None
        finally:
            os.close(fd)
        if len(data) > limit:
            raise FetchError(f"{self.location}: {path} is over {limit} bytes")
        return data


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answered, never followed (spec/tiles.md §7.3)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class HttpSource(_TileSource):
    """A log published over HTTP(S) at ``base_url`` (the C2SP prefix).

    Each request has ``timeout`` seconds per socket operation and ``4 × timeout`` in all;
    responses are read up to their limit plus one byte. 404 and 410 mean "not there";
    every other non-200 status, a redirect, a timeout or an oversized body is a FetchError.
    ``Content-Encoding: gzip`` is accepted and decompressed within the same limit.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        super().__init__()
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise FetchError(f"not an http(s) URL: {base_url!r}")
        if parsed.query or parsed.fragment:
            raise FetchError(f"a log prefix has no query or fragment: {base_url!r}")
        if not (isinstance(timeout, int | float) and 0 < timeout <= 600):
            raise FetchError("timeout must be in (0, 600] seconds")
        self.base_url = base_url.rstrip("/") + "/"
        self.location = self.base_url
        self.timeout = float(timeout)
        self._opener = urllib.request.build_opener(_NoRedirect())

    def _fetch(self, path: str, limit: int) -> bytes | None:
        url = self.base_url + path
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            url, headers={"Accept-Encoding": "gzip, identity", "User-Agent": "noc-ledger"}
        )
        deadline = time.monotonic() + 4 * self.timeout
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                if response.status != 200:
                    raise FetchError(f"{url}: HTTP {response.status}")
                encoding = (response.headers.get("Content-Encoding") or "identity").lower()
                if encoding not in ("identity", "gzip"):
                    raise FetchError(f"{url}: unsupported Content-Encoding {encoding!r}")
                raw = _read_bounded(response, limit, deadline, url)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                return None
            raise FetchError(f"{url}: HTTP {exc.code}") from None
        except FetchError:
            raise
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad responses
            raise FetchError(f"{url}: {exc}") from None
        except Exception as exc:  # http.client.HTTPException and kin: one typed error
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        if encoding == "gzip":
            return _gunzip(raw, limit, url)
        return raw


def _read_bounded(response: object, limit: int, deadline: float, url: str) -> bytes:
    """Read at most ``limit`` bytes before ``deadline``; FetchError beyond either."""
    read = getattr(response, "read")  # noqa: B009 - typed loosely: http.client's response
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise FetchError(f"{url}: response too slow")
        chunk = read(min(65536, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise FetchError(f"{url}: response over {limit} bytes")
    return b"".join(chunks)


def _gunzip(data: bytes, limit: int, url: str) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise FetchError(f"{url}: bad gzip body: {exc}") from None
    if len(out) > limit:
        raise FetchError(f"{url}: response over {limit} bytes after decompression")
    if not decompressor.eof or decompressor.unused_data:
        raise FetchError(f"{url}: truncated or trailing gzip data")
    return out


def open_source(location: str, *, timeout: float = 10.0) -> LogSource:
    """A :class:`LogSource` for a local tiles directory or an ``http(s)://`` base URL.

    Raises:
        FetchError: an http(s) location that is not a usable URL, or a local one that is not
            a directory.
    """
    if location.startswith(("http://", "https://")):
        return HttpSource(location, timeout=timeout)
    if "://" in location:
        raise FetchError(f"unsupported location {location!r}: a directory or http(s) URL")
    if not Path(location).is_dir():
        raise FetchError(f"{location}: not a directory")
    return DirectorySource(location)


class _SizedReader:
    """A merkle.HashReader over a source's hash tiles for one tree size."""

    def __init__(self, source: LogSource, size: int) -> None:
        self._source = source
        self._size = size

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return self._source.read_hashes(indexes, size=self._size)


def root_at(source: LogSource, size: int) -> bytes:
    """The root of the tree of ``size``, computed from the source's hash tiles.

    Compare it with a verified checkpoint's root: equal means the tiles are that tree's.

    Raises:
        OutOfRangeError, FetchError, DecodeError: as :meth:`LogSource.read_hashes`.
    """
    return merkle.root_from_reader(size, _SizedReader(source, size))


def prove_inclusion(source: LogSource, index: int, size: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of ``index`` in the tree of ``size``, from hash tiles.

    Check it with :func:`noc_ledger.merkle.verify_inclusion` against the root of a verified
    checkpoint of ``size``.

    Raises:
        OutOfRangeError: ``index >= size`` or a bad argument.
        FetchError, DecodeError: as :meth:`LogSource.read_hashes`.
    """
    return merkle.prove_inclusion(index, size, _SizedReader(source, size))


def prove_consistency(source: LogSource, size1: int, size2: int) -> list[bytes]:
    """The RFC 9162 consistency proof from ``size1`` to ``size2``, from the hash tiles of
    the tree of ``size2``.

    Raises:
        OutOfRangeError: ``size1 == 0``, ``size1 > size2`` or a bad argument.
        FetchError, DecodeError: as :meth:`LogSource.read_hashes`.
    """
    return merkle.prove_consistency(size1, size2, _SizedReader(source, size2))
