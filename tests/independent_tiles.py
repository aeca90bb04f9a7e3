"""An independent C2SP tlog-tiles writer, from the text of c2sp.org/tlog-tiles alone.

It shares no code with noc_ledger (it imports neither ``noc_ledger.tiles`` nor
``noc_ledger.merkle``): its own RFC 6962/9162 hashing with hashlib, its own path encoding,
its own idea of which tiles a tree has. Tests compare our exporter's output with it byte for
byte, and read its output with our client; the auditor's tests reuse it to publish logs.

    write_tiles(entries, checkpoint, out_dir)

writes ``out_dir/checkpoint`` (the note, verbatim), every hash tile ``tile/<L>/<N>[.p/<W>]``
and every entry bundle ``tile/entries/<N>[.p/<W>]`` of the tree of ``len(entries)`` entries.
It does not check that the checkpoint matches the entries: tests use that to publish lies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["mth", "tile_path", "write_tiles"]


def _leaf(entry: bytes) -> bytes:
    # RFC 6962 §2.1: MTH({d(0)}) = SHA-256(0x00 || d(0)).
    return hashlib.sha256(b"\x00" + entry).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaf_hashes: list[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash, recursively, over leaf hashes."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return _node(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def tile_path(level: str, index: int, width: int) -> str:
    """``tile/<level>/<N>[.p/<W>]``: N in zero-padded 3-digit elements, all but the last
    prefixed with ``x`` (1234067 -> x001/x234/067); ``.p/<W>`` only when W < 256."""
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    elements = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    n = "/".join(["x" + e for e in elements[:-1]] + elements[-1:])
    suffix = f".p/{width}" if width < 256 else ""
    return f"tile/{level}/{n}{suffix}"


def _write(out_dir: Path, path: str, data: bytes) -> None:
    target = out_dir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def write_tiles(entries: list[bytes], checkpoint: bytes, out_dir: Path) -> None:
    """Publish ``entries`` with ``checkpoint`` as a tiles directory at ``out_dir``."""
    size = len(entries)
    # Level 0 holds the leaf hashes; each hash at level l+1 is the MTH of a full tile at
    # level l, which is the MTH of its 256 hashes ("Merkle Tree" section).
    level_hashes = [_leaf(e) for e in entries]
    level = 0
    while level_hashes:
        for start in range(0, len(level_hashes), 256):
            chunk = level_hashes[start : start + 256]
            _write(out_dir, tile_path(str(level), start // 256, len(chunk)), b"".join(chunk))
        # Only full tiles are hashed into the level above ("Partial Tiles").
        full = len(level_hashes) // 256
        level_hashes = [mth(level_hashes[i * 256 : (i + 1) * 256]) for i in range(full)]
        level += 1
    # Entry bundles: big-endian uint16 length-prefixed entries ("Log entries").
    for start in range(0, size, 256):
        chunk = entries[start : start + 256]
        bundle = b"".join(len(e).to_bytes(2, "big") + e for e in chunk)
        _write(out_dir, tile_path("entries", start // 256, len(chunk)), bundle)
    _write(out_dir, "checkpoint", checkpoint)
