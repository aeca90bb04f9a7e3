"""RFC 9162 Merkle tree hashing, proofs and their verification (spec/log.md §3-§6).

This module is pure: it reads no file, clock or network and knows no model type. Entries are
opaque bytes; a storage backend supplies stored node hashes through the one-method
:class:`HashReader` protocol, laid out by "stored hash index" as in golang.org/x/mod/sumdb/tlog
(spec/log.md §6), so that a tree root or a proof costs O(log n) hash reads and a single
``read_hashes`` call.

Conventions (GUIDE D5, spec/log.md §3): SHA-256; leaf hash ``SHA-256(0x00 || entry)``; node
hash ``SHA-256(0x01 || left || right)``; the empty tree's root is ``SHA-256("")``; leaves are
numbered from zero. A subtree "at level L, number n" is the complete subtree whose leaves are
``[n * 2**L, (n + 1) * 2**L)``; its hash is the RFC 9162 MTH of those leaves.

Verification (``verify_*``) takes index, size and roots from the caller (from a verified
checkpoint), never from the proof, and raises :class:`~noc_ledger.errors.InclusionError` or
:class:`~noc_ledger.errors.ConsistencyError` for every malformed or non-verifying input,
including inputs of the wrong type. Proof generation (``prove_*``) raises
:class:`~noc_ledger.errors.OutOfRangeError` (also a ``ValueError``) for impossible
arguments (they are caller bugs, not verification failures) and
:class:`~noc_ledger.errors.StorageError` when the reader returns something that is not a
list of exactly the hashes asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from noc_ledger.errors import ConsistencyError, InclusionError, OutOfRangeError, StorageError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "HashReader",
    "MemoryHashStore",
    "leaf_hash",
    "node_hash",
    "prove_consistency",
    "prove_inclusion",
    "root_from_reader",
    "root_of",
    "split_stored_hash_index",
    "stored_hash_count",
    "stored_hash_index",
    "stored_hashes_for_append",
    "verify_consistency",
    "verify_inclusion",
]

#: Size in bytes of every hash in the tree (SHA-256), spec/log.md §3.
HASH_SIZE = 32

_sha256 = hashlib.sha256

#: Root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT: bytes = _sha256(b"").digest()

# Domain-separation prefixes (RFC 9162 §2.1.1): a leaf hash can never be read as a node hash.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


# --------------------------------------------------------------------------------------------
# Hashing (RFC 9162 §2.1.1, spec/log.md §3)
# --------------------------------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || entry)`` (spec/log.md §3.1).

    Raises:
        TypeError: ``entry`` is not bytes-like (a programming error; entries are bytes).
    """
    return _sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)`` (§3.1).

    Raises:
        TypeError: an argument is not bytes-like.
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the tree hash (RFC 9162 §2.1.1 MTH) of the given leaf hashes, computed directly.

    Iterative, O(n) time: leaves are pushed onto a stack of complete subtrees and merged as
    each subtree completes, then the remaining subtrees are folded right to left, which is
    exactly MTH's "split at the largest power of two smaller than n" (spec/log.md §3.2).

    Raises:
        TypeError: an element is not bytes-like.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    stack: list[bytes] = []
    for index, leaf in enumerate(leaf_hashes):
        # Merge once per trailing one bit of the leaf's index: those are the subtrees that
        # this leaf completes (the same rule as the stored-hash layout, spec/log.md §6).
        h, m = leaf, index
        while m & 1:
            h = _sha256(_NODE_PREFIX + stack.pop() + h).digest()
            m >>= 1
        stack.append(h)
    h = stack.pop()
    while stack:
        h = _sha256(_NODE_PREFIX + stack.pop() + h).digest()
    return h


# --------------------------------------------------------------------------------------------
# Stored hashes (spec/log.md §6; the layout of golang.org/x/mod/sumdb/tlog)
# --------------------------------------------------------------------------------------------


class HashReader(Protocol):
    """A source of stored node hashes, addressed by stored hash index (spec/log.md §6)."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the stored hashes at ``indexes``, in the same order, one per index.

        Raises:
            StorageError: an index is not stored, or the store failed.
        """
        ...


def _require_count(name: str, value: object) -> int:
    # bool is an int subclass; a True index is always a bug, never the number 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise OutOfRangeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise OutOfRangeError(f"{name} must be >= 0, got {value}")
    return value


def stored_hash_index(level: int, n: int) -> int:
    """Return the stored hash index of the subtree at ``level``, number ``n`` (§6.2).

    Hashes are stored in the order they become available. The subtree covering leaves
    ``[n * 2**level, (n + 1) * 2**level)`` becomes available when its last leaf
    ``m = (n + 1) * 2**level - 1`` is appended; that append stores, from index
    ``stored_hash_count(m)``, the leaf hash of ``m`` and then one hash per level it completes,
    so this subtree's hash lands at ``stored_hash_count(m) + level``.

    Raises:
        OutOfRangeError: ``level`` or ``n`` is negative or not an int.
    """
    _require_count("level", level)
    _require_count("n", n)
    last = ((n + 1) << level) - 1
    return 2 * last - last.bit_count() + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Return ``(level, n)`` such that ``stored_hash_index(level, n) == index`` (§6.2).

    Raises:
        OutOfRangeError: ``index`` is negative or not an int.
    """
    _require_count("index", index)
    # Find the leaf m whose append stored this index: the largest m with
    # stored_hash_count(m) <= index. stored_hash_count(m) = 2m - popcount(m) lies in
    # [2m - bit_length(m), 2m], so m is index // 2 plus at most about log2(index) steps.
    m = index >> 1
    base = 2 * m - m.bit_count()
    while True:
        following = 2 * (m + 1) - (m + 1).bit_count()
        if following > index:
            break
        m += 1
        base = following
    level = index - base
    return level, m >> level


def stored_hash_count(n: int) -> int:
    """Return how many hashes are stored for a tree of ``n`` leaves: ``2n - popcount(n)`` (§6.2).

    Raises:
        OutOfRangeError: ``n`` is negative or not an int.
    """
    _require_count("n", n)
    return 2 * n - n.bit_count()


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    """One batched read, checked: a reader's mistake must not turn into a wrong proof."""
    hashes = reader.read_hashes(indexes)
    if not isinstance(hashes, list) or len(hashes) != len(indexes):
        raise StorageError(f"hash reader returned {_describe(hashes)} for {len(indexes)} indexes")
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise StorageError(f"hash reader returned a non-hash value: {_describe(h)}")
    return hashes


def _describe(value: object) -> str:
    if isinstance(value, bytes | list):
        return f"{type(value).__name__} of length {len(value)}"
    return type(value).__name__


def stored_hashes_for_append(n: int, entry_leaf_hash: bytes, reader: HashReader) -> list[bytes]:
    """Return the hashes to store when appending leaf ``n`` with leaf hash ``entry_leaf_hash``.

    The result is in stored index order and starts at index ``stored_hash_count(n)``: the leaf
    hash, then one hash per level ``1..t`` where ``t`` is the number of trailing one bits of
    ``n`` (the subtrees this leaf completes, spec/log.md §6.3). ``reader`` must already hold
    the hashes of leaves ``0..n-1``; at most ``t`` of them are read, in one call.

    Raises:
        OutOfRangeError: ``n`` is negative or not an int, or ``entry_leaf_hash`` is not 32 bytes.
        StorageError: the reader failed or returned something other than the hashes asked for.
    """
    _require_count("n", n)
    if not isinstance(entry_leaf_hash, bytes) or len(entry_leaf_hash) != HASH_SIZE:
        raise OutOfRangeError("entry_leaf_hash must be 32 bytes")
    # The left sibling at level L is the complete subtree number (n >> L) - 1 at level L.
    indexes: list[int] = []
    level = 0
    m = n
    while m & 1:
        last = (m << level) - 1  # last leaf of subtree (level, m - 1) is m * 2**level - 1
        indexes.append(2 * last - last.bit_count() + level)
        m >>= 1
        level += 1
    out = [entry_leaf_hash]
    if indexes:
        h = entry_leaf_hash
        for sibling in _read(reader, indexes):
            h = _sha256(_NODE_PREFIX + sibling + h).digest()
            out.append(h)
    return out


def _subtree_indexes(lo: int, hi: int, out: list[int]) -> int:
    """Append the stored indexes of the complete subtrees that tile ``[lo, hi)``; return count.

    Callers only pass ranges that occur in RFC 9162's recursion (spec/log.md §3.2): ``lo`` is a
    multiple of a power of two at least ``hi - lo``, so taking the largest power of two that
    fits, left to right, yields aligned complete subtrees of strictly decreasing size, whose
    right-to-left fold is MTH(D[lo:hi]).
    """
    count = 0
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        last = lo + (1 << level) - 1
        out.append(2 * last - last.bit_count() + level)
        lo = last + 1
        count += 1
    return count


def _fold(hashes: list[bytes], start: int, count: int) -> bytes:
    """Fold ``hashes[start:start+count]`` (subtrees left to right) into one MTH, right to left."""
    i = start + count - 1
    h = hashes[i]
    while i > start:
        i -= 1
        h = _sha256(_NODE_PREFIX + hashes[i] + h).digest()
    return h


def _ranges_to_hashes(ranges: list[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """Return MTH of each range, reading every needed stored hash in one batched call."""
    indexes: list[int] = []
    counts = [_subtree_indexes(lo, hi, indexes) for lo, hi in ranges]
    hashes = _read(reader, indexes)
    if len(counts) == len(indexes):  # every range is one complete subtree: no folding
        return hashes
    out: list[bytes] = []
    start = 0
    for count in counts:
        out.append(hashes[start] if count == 1 else _fold(hashes, start, count))
        start += count
    return out


def root_from_reader(size: int, reader: HashReader) -> bytes:
    """Return the tree hash of the first ``size`` leaves (spec/log.md §3.2).

    Reads ``popcount(size)`` stored hashes in one call; ``size == 0`` reads nothing.

    Raises:
        OutOfRangeError: ``size`` is negative or not an int.
        StorageError: the reader failed or returned something other than the hashes asked for.
    """
    _require_count("size", size)
    if size == 0:
        return EMPTY_ROOT
    return _ranges_to_hashes([(0, size)], reader)[0]


def prove_inclusion(index: int, size: int, reader: HashReader) -> list[bytes]:
    """Return the RFC 9162 §2.1.3.1 inclusion proof PATH(index, D[0:size]) (spec/log.md §4.1).

    The proof lists sibling subtree hashes from the leaf upwards. One ``read_hashes`` call of
    at most ``2 * log2(size)`` indexes.

    Raises:
        OutOfRangeError: ``index`` or ``size`` is negative or not an int, or ``index >= size``.
        StorageError: the reader failed or returned something other than the hashes asked for.
    """
    _require_count("index", index)
    _require_count("size", size)
    if index >= size:
        raise OutOfRangeError(f"index {index} is not in a tree of size {size}")
    # Walk RFC 9162's recursion top-down without recursing: at each step split D[lo:hi] at
    # the largest power of two k < hi - lo, keep the half holding the leaf and record the
    # other half as a proof element. PATH appends the sibling after the recursive part, so
    # the elements come out top-down and the proof is their reverse.
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    if not ranges:
        return []
    ranges.reverse()
    return _ranges_to_hashes(ranges, reader)


def prove_consistency(size1: int, size2: int, reader: HashReader) -> list[bytes]:
    """Return the RFC 9162 §2.1.4.1 consistency proof PROOF(size1, D[0:size2]) (§5.1).

    ``size1 == size2`` gives the empty proof. One ``read_hashes`` call of at most about
    ``2 * log2(size2)`` indexes.

    Raises:
        OutOfRangeError: a size is negative or not an int, ``size1 == 0`` (no consistency proof
            from the empty tree exists, spec/log.md §5.2), or ``size1 > size2``.
        StorageError: the reader failed or returned something other than the hashes asked for.
    """
    _require_count("size1", size1)
    _require_count("size2", size2)
    if size1 == 0:
        raise OutOfRangeError("no consistency proof exists from the empty tree (size1 == 0)")
    if size1 > size2:
        raise OutOfRangeError(f"size1 {size1} is greater than size2 {size2}")
    if size1 == size2:
        return []
    # SUBPROOF(m, D[lo:hi], b) unrolled top-down, as in prove_inclusion. m counts the old
    # tree's leaves inside D[lo:hi]; b stays True while D[lo:hi] is a prefix of the whole tree
    # (then the old root is known to the verifier and is not sent).
    ranges: list[tuple[int, int]] = []
    lo, hi, m, b = 0, size2, size1, True
    while True:
        n = hi - lo
        if m == n:
            if not b:
                ranges.append((lo, hi))
            break
        mid = lo + (1 << ((n - 1).bit_length() - 1))
        if m <= mid - lo:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            m -= mid - lo
            lo = mid
            b = False
    ranges.reverse()
    return _ranges_to_hashes(ranges, reader)


class MemoryHashStore:
    """An in-memory append-only tree: every stored hash in one list, in stored index order.

    Implements :class:`HashReader`. ``append`` keeps the right edge of the tree (the roots of
    the complete subtrees tiling ``[0, size)``) so that it needs no reads: its stored hashes are
    identical to what :func:`stored_hashes_for_append` produces (spec/log.md §6.3).
    """

    __slots__ = ("_frontier", "_hashes", "_size")

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self._frontier: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, entry: bytes) -> int:
        """Append ``entry`` as the next leaf and return its zero-based index.

        Raises:
            TypeError: ``entry`` is not bytes-like.
        """
        n = self._size
        h = _sha256(_LEAF_PREFIX + entry).digest()
        hashes = self._hashes
        hashes.append(h)
        frontier = self._frontier
        m = n
        while m & 1:  # one merge per subtree that leaf n completes (spec/log.md §6.3)
            h = _sha256(_NODE_PREFIX + frontier.pop() + h).digest()
            hashes.append(h)
            m >>= 1
        frontier.append(h)
        self._size = n + 1
        return n

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the stored hashes at ``indexes``, in order.

        Raises:
            StorageError: an index is negative, not an int, or not yet stored.
        """
        hashes = self._hashes
        try:
            out = [hashes[i] for i in indexes]
        except (IndexError, TypeError) as exc:
            raise StorageError(f"stored hash index not available: {exc}") from exc
        if indexes and min(indexes) < 0:  # Python would silently index from the end
            raise StorageError("stored hash index must be >= 0")
        return out


# --------------------------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2, spec/log.md §4.2 and §5.2)
# --------------------------------------------------------------------------------------------


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _check_proof(proof: object, error: type[InclusionError | ConsistencyError]) -> list[bytes]:
    # A bytes/str object is a Sequence too; a single hash passed as the proof must not be
    # taken for a proof of 32 one-byte "hashes".
    if not isinstance(proof, Sequence) or isinstance(proof, bytes | bytearray | str):
        raise error(f"proof must be a sequence of hashes, got {type(proof).__name__}")
    items = list(proof)
    for position, element in enumerate(items):
        if not _is_hash(element):
            raise error(f"proof element {position} is not a {HASH_SIZE}-byte hash")
    return items


def _inclusion_proof_size(index: int, size: int) -> int:
    """Exact length of PATH(index, D[0:size]) for 0 <= index < size (spec/log.md §4.2).

    The proof has one element per level below the point where the paths to leaf ``index``
    and to the last leaf ``size - 1`` merge ("inner"), plus one per left-hand subtree on the
    right border above that point ("border").
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_size(size1: int, size2: int) -> int:
    """Exact length of PROOF(size1, D[0:size2]) for 0 < size1 < size2 (spec/log.md §5.2).

    Levels below the lowest set bit of ``size1`` are shared whole subtrees and contribute
    nothing; above them the proof is an inclusion proof of the old tree's last such subtree,
    preceded by that subtree's hash unless ``size1`` is a power of two (then it is the old
    root, which the verifier already has).
    """
    shift = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> shift
    last = (size2 - 1) >> shift
    inner = (index ^ last).bit_length()
    return inner + (index >> inner).bit_count() + (1 if index else 0)


def verify_inclusion(
    *, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    ``index``, ``size`` and ``root`` MUST come from the caller (a verified checkpoint), never
    from the proof (GUIDE §3 rule 2). Procedure: spec/log.md §4.2, RFC 9162 §2.1.3.2.

    Raises:
        InclusionError: ``index``/``size`` are not non-negative ints or ``index >= size``;
            ``leaf_hash`` or ``root`` is not 32 bytes; ``proof`` is not a sequence of 32-byte
            hashes of exactly the length that (index, size) requires; or the computed root
            differs from ``root`` (the message carries both, in hex).
    """
    # spec/log.md §4.2 step 1: the position, from the caller.
    if not _is_count(index) or not _is_count(size):
        raise InclusionError("index and size must be non-negative ints")
    if index >= size:
        raise InclusionError(f"index {index} is not in a tree of size {size}")
    # Steps 2-3: every hash is exactly 32 bytes.
    if not _is_hash(leaf_hash):
        raise InclusionError(f"leaf_hash is not a {HASH_SIZE}-byte hash")
    if not _is_hash(root):
        raise InclusionError(f"root is not a {HASH_SIZE}-byte hash")
    path = _check_proof(proof, InclusionError)
    # Step 4: the proof length is fixed by (index, size); a longer or shorter one is rejected
    # before any hashing (padding or truncation is never "close enough").
    expected = _inclusion_proof_size(index, size)
    if len(path) != expected:
        raise InclusionError(
            f"proof has {len(path)} hashes; index {index} in size {size} needs {expected}"
        )
    # Step 5: RFC 9162 §2.1.3.2 steps 2-4.
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:  # unreachable after the length check; kept as the RFC states it
            raise InclusionError("proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check; kept as the RFC states it
        raise InclusionError("proof is shorter than the path to the root")
    # Step 6: compare with the caller's root (RFC 9162 §2.1.3.2 step 5).
    if r != root:
        raise InclusionError(
            f"root mismatch: expected {root.hex()}, computed {r.hex()} (index {index}, size {size})"
        )


def verify_consistency(
    *, size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Verify that the tree of ``size1`` leaves with ``root1`` is a prefix of ``size2``/``root2``.

    Sizes and roots MUST come from the caller (two verified checkpoints), never from the proof
    (GUIDE §3 rule 2). Procedure: spec/log.md §5.2, RFC 9162 §2.1.4.2.

    Raises:
        ConsistencyError: a size is not a non-negative int; ``size1 == 0`` (even when
            ``size2 == 0``); ``size1 > size2``; ``root1`` or ``root2`` is not 32 bytes;
            ``proof`` is not a sequence of 32-byte hashes of exactly the length that
            (size1, size2) requires (empty when the sizes are equal); with equal sizes, the
            roots differ; or a computed root differs from the given one (the message carries
            expected and computed, in hex).
    """
    # spec/log.md §5.2 steps 1-3: the sizes, from the caller.
    if not _is_count(size1) or not _is_count(size2):
        raise ConsistencyError("size1 and size2 must be non-negative ints")
    if size1 == 0:
        # Every tree extends the empty tree; a "proof" of it proves nothing, so it is refused
        # rather than accepted vacuously (spec/log.md §5.2).
        raise ConsistencyError("no consistency proof from the empty tree (size1 == 0)")
    if size1 > size2:
        raise ConsistencyError(f"size1 {size1} is greater than size2 {size2}")
    # Steps 4-5: every hash is exactly 32 bytes, even when the sizes are equal.
    if not _is_hash(root1):
        raise ConsistencyError(f"root1 is not a {HASH_SIZE}-byte hash")
    if not _is_hash(root2):
        raise ConsistencyError(f"root2 is not a {HASH_SIZE}-byte hash")
    path = _check_proof(proof, ConsistencyError)
    # Step 6: equal sizes: the empty proof, and the same root.
    if size1 == size2:
        if path:
            raise ConsistencyError(f"proof must be empty for equal sizes, has {len(path)} hashes")
        if root1 != root2:
            raise ConsistencyError(
                f"root mismatch for equal sizes {size1}: root1 {root1.hex()}, root2 {root2.hex()}"
            )
        return
    # Step 7: exact proof length for (size1, size2).
    expected = _consistency_proof_size(size1, size2)
    if len(path) != expected:
        raise ConsistencyError(
            f"proof has {len(path)} hashes; sizes {size1} -> {size2} need {expected}"
        )
    # Step 8: RFC 9162 §2.1.4.2 steps 1-6 (step 1, the empty proof, failed at step 7).
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: the old root is the first node
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check; kept as the RFC states it
            raise ConsistencyError("proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check; kept as the RFC states it
        raise ConsistencyError("proof is shorter than the path to the root")
    # Step 9: compare with the caller's roots (RFC 9162 §2.1.4.2 step 7).
    if fr != root1:
        raise ConsistencyError(
            f"root1 mismatch: expected {root1.hex()}, computed {fr.hex()} "
            f"(sizes {size1} -> {size2})"
        )
    if sr != root2:
        raise ConsistencyError(
            f"root2 mismatch: expected {root2.hex()}, computed {sr.hex()} "
            f"(sizes {size1} -> {size2})"
        )
