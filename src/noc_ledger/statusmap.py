"""The status map: a sparse Merkle tree keyed by certificate id (spec/revocation.md §2-§4).

GUIDE D7: a plain append-only log proves inclusion, never absence. Each checkpoint therefore
also commits to the root of this map, and a bundle carries a :class:`StatusProof` that a
certificate's key is present with a given value (its current status) or absent.

The tree is a binary trie on the 256 key bits (bit 0 = the most significant bit of byte 0)
with *shortcut leaves*: a subtree holding exactly one entry is that entry's leaf hash, placed
at the highest depth where it is alone; an empty subtree is :data:`EMPTY_ROOT` (32 zero
bytes); a subtree with two or more entries is a node. Depth is therefore about log2(n) and an
update costs O(log n) hashes, not 256. Hashing (spec/revocation.md §2.2)::

    value_hash(v)   = SHA-256(0x12 || v)
    leaf_hash(k, vh) = SHA-256(0x10 || k || vh)
    node_hash(l, r) = SHA-256(0x11 || l || r)

The prefixes 0x10-0x12 are disjoint from the log's RFC 9162 prefixes 0x00/0x01, so no hash of
this map can be taken for a log hash, or the reverse.

This module is pure: it reads no file, clock or network. Nodes live in a caller-supplied
content-addressed :class:`NodeStore` (spec/revocation.md §4.1), never overwritten, so every
root ever returned stays readable and provable. Verification (:func:`verify_status`) takes
root, key and value from the caller and only sibling hashes (and, for absence, the other
leaf) from the proof (GUIDE §3 rule 2).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, cast

from noc_ledger import codec
from noc_ledger.codec import CborValue
from noc_ledger.errors import (
    DecodeError,
    EncodeError,
    StatusMapError,
    StatusProofError,
    StorageError,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "KEY_SIZE",
    "MAX_DEPTH",
    "MAX_STATUS_PROOF_SIZE",
    "MAX_VALUE_SIZE",
    "MemoryNodeStore",
    "NodeStore",
    "StatusMapError",
    "StatusProof",
    "StatusProofError",
    "leaf_hash",
    "lookup",
    "node_hash",
    "prove_status",
    "root_of",
    "stored_children",
    "stored_node_hash",
    "update",
    "value_hash",
    "verify_status",
]


#: spec/revocation.md §2.1-§2.2.
HASH_SIZE: Final = 32
KEY_SIZE: Final = 32
MAX_VALUE_SIZE: Final = 1024
#: A key has 256 bits, so no terminal lies deeper than 256 (spec/revocation.md §2.3).
MAX_DEPTH: Final = 256
#: The hash of the empty subtree and the root of the empty map: 32 zero bytes, a constant
#: rather than a hash, so empty subtrees cost no hashing (spec/revocation.md §2.2).
EMPTY_ROOT: Final = bytes(HASH_SIZE)
#: The largest structurally valid encoded proof: depth 256, every sibling non-empty, and an
#: other leaf (spec/revocation.md §3.3): 1 + (1+3) + (1+34) + (1+3+256·34) + (1+1+2·34).
MAX_STATUS_PROOF_SIZE: Final = 8818

# Domain-separation prefixes (spec/revocation.md §2.2), disjoint from RFC 9162's 0x00/0x01.
_LEAF: Final = b"\x10"
_NODE: Final = b"\x11"
_VALUE: Final = b"\x12"
_NODE_SIZE: Final = 1 + 2 * HASH_SIZE
_LEAF_MIN: Final = 1 + KEY_SIZE + 1
_LEAF_MAX: Final = 1 + KEY_SIZE + MAX_VALUE_SIZE
_TOP: Final = MAX_DEPTH - 1  # shift that brings key bit 0 to the least significant position

_sha256 = hashlib.sha256


# --------------------------------------------------------------------------------------------
# Hashing (spec/revocation.md §2.2)
# --------------------------------------------------------------------------------------------


def value_hash(value: bytes) -> bytes:
    """Return ``SHA-256(0x12 || value)`` (spec/revocation.md §2.2).

    Raises:
        TypeError: ``value`` is not bytes-like.
    """
    return _sha256(_VALUE + value).digest()


def leaf_hash(key: bytes, value_hash: bytes) -> bytes:
    """Return ``SHA-256(0x10 || key || value_hash)``, the hash of a shortcut leaf (§2.2).

    Raises:
        TypeError: an argument is not bytes-like.
    """
    return _sha256(_LEAF + key + value_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x11 || left || right)``, the hash of an inner node (§2.2).

    Raises:
        TypeError: an argument is not bytes-like.
    """
    return _sha256(_NODE + left + right).digest()


def _entry_leaf(key: bytes, value: bytes) -> bytes:
    return _sha256(_LEAF + key + _sha256(_VALUE + value).digest()).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _check_key(key: object) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise StatusMapError(f"a key must be {KEY_SIZE} bytes, got {_describe(key)}")
    return key


def _check_value(value: object) -> bytes:
    if not isinstance(value, bytes) or not 1 <= len(value) <= MAX_VALUE_SIZE:
        raise StatusMapError(f"a value must be 1 to {MAX_VALUE_SIZE} bytes, got {_describe(value)}")
    return value


def _check_root(root: object) -> bytes:
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        raise StatusMapError(f"a root must be {HASH_SIZE} bytes, got {_describe(root)}")
    return root


def _describe(value: object) -> str:
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    return type(value).__name__


def _split(ints: Sequence[int], lo: int, hi: int, depth: int) -> int:
    """Index of the first key in ``ints[lo:hi]`` whose bit ``depth`` is 1.

    All keys in the range share their first ``depth`` bits (they lie under one subtree at
    ``depth``) and are sorted, so those with bit ``depth`` = 0 come first (§2.3 item 3).
    """
    shift = _TOP - depth
    threshold = ((ints[lo] >> shift) | 1) << shift
    return bisect_left(ints, threshold, lo, hi)


def _build(
    ints: Sequence[int],
    leaves: Sequence[bytes],
    lo: int,
    hi: int,
    depth: int,
    out: dict[bytes, bytes] | None,
) -> bytes:
    """MH(S, depth) of spec/revocation.md §2.3 for the entries ``lo:hi`` (sorted by key,
    sharing their first ``depth`` bits), given their leaf hashes. New inner nodes are added
    to ``out`` (stored form, §4.1) unless ``out`` is None."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        # §2.3 item 2: a single entry is a shortcut leaf at this depth.
        return leaves[lo]
    mid = _split(ints, lo, hi, depth)
    raw = (
        _NODE
        + _build(ints, leaves, lo, mid, depth + 1, out)
        + _build(ints, leaves, mid, hi, depth + 1, out)
    )
    h = _sha256(raw).digest()
    if out is not None:
        out[h] = raw
    return h


def root_of(items: Mapping[bytes, bytes]) -> bytes:
    """Return the root of the map holding exactly ``items``, computed from scratch.

    The audit path (spec/revocation.md §6): an auditor recomputes the root for any
    checkpoint from the log entries and compares it with the committed one. Nothing is
    stored. O(n log n) time for the sort, about 3n hashes.

    Raises:
        StatusMapError: a key is not 32 bytes or a value is not 1 to 1,024 bytes.
    """
    rows = sorted(
        (int.from_bytes(_check_key(k), "big"), k, _check_value(v)) for k, v in items.items()
    )
    ints = [r[0] for r in rows]
    leaves = [_entry_leaf(r[1], r[2]) for r in rows]
    return _build(ints, leaves, 0, len(rows), 0, None)


# --------------------------------------------------------------------------------------------
# Node storage (spec/revocation.md §4.1)
# --------------------------------------------------------------------------------------------


class NodeStore(Protocol):
    """Content-addressed storage of status-map nodes (spec/revocation.md §4.1).

    A node is stored under its hash: an inner node as ``0x11 || left || right`` (65 bytes),
    a leaf as ``0x10 || key || value``. Nodes are never overwritten or deleted, so every root
    ever produced stays readable; writing a hash that is already stored writes the same
    bytes again and changes nothing.
    """

    def get_nodes(self, hashes: Sequence[bytes]) -> list[bytes | None]:
        """Return the stored node for each hash, in order, ``None`` where none is stored.

        Raises:
            StorageError: the store failed.
        """
        ...

    def put_nodes(self, items: Mapping[bytes, bytes]) -> None:
        """Store each ``hash -> node``. Durable (for a persistent store) on return.

        Raises:
            StorageError: the store failed; nothing or only whole nodes were written.
        """
        ...


class MemoryNodeStore:
    """An in-memory :class:`NodeStore`: one dict from hash to stored node."""

    __slots__ = ("_nodes",)

    def __init__(self) -> None:
        self._nodes: dict[bytes, bytes] = {}

    def __len__(self) -> int:
        """Number of stored nodes (every version's nodes, shared ones once)."""
        return len(self._nodes)

    def get_nodes(self, hashes: Sequence[bytes]) -> list[bytes | None]:
        """Return the stored node for each hash, in order, ``None`` where none is stored."""
        get = self._nodes.get
        return [get(h) for h in hashes]

    def put_nodes(self, items: Mapping[bytes, bytes]) -> None:
        """Store each ``hash -> node``. Content addressing makes a repeated hash carry the
        same bytes, so updating in place never changes a stored node (§4.1 item 2)."""
        self._nodes.update(items)


# A parsed node: (is_leaf, a, b) with (key, value) for a leaf, (left, right) for a node.
_Node = tuple[bool, bytes, bytes]


class _Reader:
    """Batched, verifying reads from a NodeStore (spec/revocation.md §4.1 item 3)."""

    __slots__ = ("cache", "store")

    def __init__(self, store: NodeStore) -> None:
        self.store = store
        self.cache: dict[bytes, _Node] = {}

    def fetch(self, hashes: Sequence[bytes]) -> None:
        cache = self.cache
        need = [h for h in dict.fromkeys(hashes) if h not in cache]
        if not need:
            return
        got = self.store.get_nodes(need)
        if not isinstance(got, Sequence) or len(got) != len(need):
            raise StorageError(f"node store answered {len(need)} hashes with something else")
        for h, raw in zip(need, got, strict=True):
            cache[h] = _parse(h, raw)

    def node(self, h: bytes) -> _Node:
        found = self.cache.get(h)
        if found is None:
            self.fetch((h,))
            found = self.cache[h]
        return found


def stored_node_hash(raw: bytes) -> bytes | None:
    """The hash a stored node (spec/revocation.md §4.1 item 1) is named by: SHA-256 of an
    inner node ``0x11 || left || right``, the leaf hash of a leaf ``0x10 || key || value``;
    ``None`` if ``raw`` is neither."""
    if len(raw) == _NODE_SIZE and raw[:1] == _NODE:
        return _sha256(raw).digest()
    if _LEAF_MIN <= len(raw) <= _LEAF_MAX and raw[:1] == _LEAF:
        return _entry_leaf(raw[1 : 1 + KEY_SIZE], raw[1 + KEY_SIZE :])
    return None


def stored_children(raw: bytes) -> tuple[bytes, bytes] | None:
    """The (left, right) child hashes of a stored inner node; ``None`` for a leaf or
    anything else. Unverified: check ``raw`` against its name first."""
    if len(raw) == _NODE_SIZE and raw[:1] == _NODE:
        return raw[1 : 1 + HASH_SIZE], raw[1 + HASH_SIZE :]
    return None


def _parse(h: bytes, raw: object) -> _Node:
    """Check a stored node against the hash it was stored under and split it.

    A store that returns a missing, malformed or different node must not yield a wrong
    value, proof or root (spec/revocation.md §4.1 item 3): it is a StorageError.
    """
    if raw is None:
        raise StorageError(f"status-map node {h.hex()} is not stored")
    if not isinstance(raw, bytes):
        raise StorageError(f"status-map node {h.hex()}: store returned {type(raw).__name__}")
    if stored_node_hash(raw) != h:
        raise StorageError(f"stored status-map node does not hash to {h.hex()}")
    if raw[:1] == _NODE:
        return (False, raw[1 : 1 + HASH_SIZE], raw[1 + HASH_SIZE :])
    return (True, raw[1 : 1 + KEY_SIZE], raw[1 + KEY_SIZE :])


# --------------------------------------------------------------------------------------------
# Updating (spec/revocation.md §4.2)
# --------------------------------------------------------------------------------------------


class _Updater:
    """One batch update: changes sorted by key, as parallel lists.

    ``leaves[i]`` is the new leaf hash of change i, or None for a deletion.
    """

    __slots__ = ("has_deletes", "ints", "leaves", "out", "reader")

    def __init__(
        self,
        ints: list[int],
        leaves: list[bytes | None],
        reader: _Reader,
        out: dict[bytes, bytes],
    ) -> None:
        self.ints = ints
        self.leaves = leaves
        self.reader = reader
        self.out = out
        self.has_deletes = any(leaf is None for leaf in leaves)

    def prefetch(self, root: bytes) -> None:
        """Read every node the update will visit, one batched read per depth (§4.2)."""
        frontier = [(root, 0, len(self.ints), 0)] if root != EMPTY_ROOT else []
        reader = self.reader
        while frontier:
            reader.fetch([f[0] for f in frontier])
            nxt = []
            for h, lo, hi, depth in frontier:
                is_leaf, left, right = reader.cache[h]
                if is_leaf:
                    continue
                if depth >= MAX_DEPTH:
                    raise StorageError(f"status-map node {h.hex()} lies at depth 256")
                mid = _split(self.ints, lo, hi, depth)
                if lo < mid and left != EMPTY_ROOT:
                    nxt.append((left, lo, mid, depth + 1))
                if mid < hi and right != EMPTY_ROOT:
                    nxt.append((right, mid, hi, depth + 1))
            frontier = nxt

    def inserts(self, lo: int, hi: int) -> tuple[list[int], list[bytes]]:
        """Keys and leaf hashes of the insertions (not deletions) among changes ``lo:hi``."""
        ints: list[int] = []
        leaves: list[bytes] = []
        for i in range(lo, hi):
            leaf = self.leaves[i]
            if leaf is not None:
                ints.append(self.ints[i])
                leaves.append(leaf)
        return ints, leaves

    def update(self, h: bytes, lo: int, hi: int, depth: int) -> tuple[bytes, bool]:
        """New hash of the subtree with hash ``h`` at ``depth`` after changes ``lo:hi``
        (all under that subtree), and whether the result is a single leaf."""
        if h == EMPTY_ROOT:
            # Only the insertions matter; deleting an absent key is a no-op.
            if self.has_deletes:
                ints, leaves = self.inserts(lo, hi)
                n = len(ints)
                return _build(ints, leaves, 0, n, depth, self.out), n == 1
            # No deletions in the batch: every leaves[i] is a hash, no copy needed.
            all_leaves = cast("list[bytes]", self.leaves)
            return _build(self.ints, all_leaves, lo, hi, depth, self.out), hi - lo == 1
        is_leaf, a, b = self.reader.node(h)
        if is_leaf:
            # The existing entry (key a) joins the changes unless they replace or delete it.
            # Its leaf hash does not depend on depth (§2.4), so it is reused wherever it
            # lands, with no hashing and no write.
            old = int.from_bytes(a, "big")
            pos = bisect_left(self.ints, old, lo, hi)
            replaced = pos < hi and self.ints[pos] == old
            ints, leaves = self.inserts(lo, pos)
            if not replaced:
                ints.append(old)
                leaves.append(h)
            more_ints, more_leaves = self.inserts(pos, hi)
            ints += more_ints
            leaves += more_leaves
            n = len(ints)
            return _build(ints, leaves, 0, n, depth, self.out), n == 1
        if depth >= MAX_DEPTH:
            raise StorageError(f"status-map node {h.hex()} lies at depth 256")
        mid = _split(self.ints, lo, hi, depth)
        left: tuple[bytes, bool | None] = (a, None)  # None: not known whether a leaf
        right: tuple[bytes, bool | None] = (b, None)
        if lo < mid:
            left = self.update(a, lo, mid, depth + 1)
        if mid < hi:
            right = self.update(b, mid, hi, depth + 1)
        new_a, new_b = left[0], right[0]
        if new_a == a and new_b == b:
            return h, False
        if EMPTY_ROOT in (new_a, new_b):
            # §2.3: a subtree with fewer than two entries is not a node. If one side is now
            # empty and the other is a single leaf, that leaf moves up (unchanged hash).
            other, other_is_leaf = right if new_a == EMPTY_ROOT else left
            if other == EMPTY_ROOT:
                return EMPTY_ROOT, False
            if other_is_leaf is None:  # an untouched sibling: one extra read, deletions only
                other_is_leaf = self.reader.node(other)[0]
            if other_is_leaf:
                return other, True
        raw = _NODE + new_a + new_b
        new = _sha256(raw).digest()
        self.out[new] = raw
        return new, False


def update(root: bytes, changes: Mapping[bytes, bytes | None], store: NodeStore) -> bytes:
    """Apply ``changes`` to the map with ``root`` and return the new root.

    Each change sets ``key -> value`` (insert or replace) or, with ``None``, deletes the key
    (deleting an absent key is a no-op). The result is the root of the new contents as
    defined by spec/revocation.md §2.3, whatever the batching. New nodes are written to
    ``store`` in one ``put_nodes`` call; nothing is overwritten, so ``root`` stays readable.
    Reads are batched: one ``get_nodes`` call per depth of the tree touched (§4.2), plus one
    per deletion that leaves a node with a single untouched child.

    Raises:
        StatusMapError: ``root`` is not 32 bytes, a key is not 32 bytes, or a value is
            neither ``None`` nor 1 to 1,024 bytes.
        StorageError: the store failed, or a node is missing or does not hash to its name.
    """
    _check_root(root)
    if not changes:
        return root
    rows = sorted(
        (int.from_bytes(_check_key(k), "big"), k, None if v is None else _check_value(v))
        for k, v in changes.items()
    )
    out: dict[bytes, bytes] = {}
    ints: list[int] = []
    leaves: list[bytes | None] = []
    for i, k, v in rows:
        ints.append(i)
        if v is None:
            leaves.append(None)
            continue
        raw = _LEAF + k + v
        h = _entry_leaf(k, v)
        out[h] = raw  # stored form of a leaf keeps the value itself (§4.1 item 1)
        leaves.append(h)
    reader = _Reader(store)
    updater = _Updater(ints, leaves, reader, out)
    updater.prefetch(root)
    new_root, _ = updater.update(root, 0, len(ints), 0)
    if out:
        store.put_nodes(out)
    return new_root


# --------------------------------------------------------------------------------------------
# Lookup and proofs (spec/revocation.md §3.2)
# --------------------------------------------------------------------------------------------


def _descend(root: bytes, key: bytes, store: NodeStore) -> tuple[list[bytes], _Node | None]:
    """Follow ``key``'s path from ``root`` to its terminal (§2.3): the siblings passed, root
    side first, and the terminal leaf, or None when the terminal is EMPTY."""
    k = int.from_bytes(key, "big")
    reader = _Reader(store)
    siblings: list[bytes] = []
    h = root
    depth = 0
    while h != EMPTY_ROOT:
        node = reader.node(h)
        if node[0]:
            return siblings, node
        if depth >= MAX_DEPTH:
            raise StorageError(f"status-map node {h.hex()} lies at depth 256")
        if (k >> (_TOP - depth)) & 1:
            siblings.append(node[1])
            h = node[2]
        else:
            siblings.append(node[2])
            h = node[1]
        depth += 1
    return siblings, None


def lookup(root: bytes, key: bytes, store: NodeStore) -> bytes | None:
    """Return the value of ``key`` in the map with ``root``, or ``None`` if it is absent.

    Raises:
        StatusMapError: ``root`` or ``key`` is not 32 bytes.
        StorageError: the store failed, or a node is missing or does not hash to its name.
    """
    _check_root(root)
    _check_key(key)
    _, terminal = _descend(root, key, store)
    if terminal is not None and terminal[1] == key:
        return terminal[2]
    return None


def prove_status(root: bytes, key: bytes, store: NodeStore) -> StatusProof:
    """Return the status proof for ``key`` in the map with ``root`` (spec/revocation.md §3.2).

    A presence proof if ``key`` is in the map, otherwise an absence proof; which one is
    decided by the verifier's ``value`` (use :func:`lookup` for the value). Works for every
    root the store has ever held.

    Raises:
        StatusMapError: ``root`` or ``key`` is not 32 bytes.
        StorageError: the store failed, or a node is missing or does not hash to its name.
    """
    _check_root(root)
    _check_key(key)
    siblings, terminal = _descend(root, key, store)
    if terminal is None or terminal[1] == key:
        return StatusProof(tuple(siblings))
    # §3.1: absence ending at another key's shortcut leaf carries that leaf's key and value
    # hash (never its value).
    return StatusProof(tuple(siblings), terminal[1], value_hash(terminal[2]))


# --------------------------------------------------------------------------------------------
# The proof and its encoding (spec/revocation.md §3.1, §3.3)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusProof:
    """A status proof (spec/revocation.md §3.1): untrusted until :func:`verify_status`.

    ``siblings[i]`` is the hash of the sibling subtree at depth ``i + 1`` on the queried
    key's path (root side first; :data:`EMPTY_ROOT` for an empty one), so ``len(siblings)``
    is the depth of the path's terminal. ``other_key`` and ``other_value_hash`` are set,
    together, only for an absence proof that ends at another key's shortcut leaf. The proof
    holds no root, key, value or present/absent flag: the verifier brings those.

    Construction does not validate; :func:`verify_status` and :meth:`from_item` do.
    """

    siblings: tuple[bytes, ...]
    other_key: bytes | None = None
    other_value_hash: bytes | None = None

    @property
    def depth(self) -> int:
        """Depth of the terminal: the number of siblings."""
        return len(self.siblings)

    def to_item(self) -> CborValue:
        """The CBOR item of spec/revocation.md §3.3: depth, bitmap of non-empty siblings,
        the non-empty siblings, and the other leaf if any.

        Raises:
            EncodeError: the proof cannot be written in the format: more than 256 siblings,
                a sibling or other-leaf field that is not 32 bytes, or only one of
                ``other_key`` and ``other_value_hash``.
        """
        siblings = self.siblings
        depth = len(siblings)
        if depth > MAX_DEPTH:
            raise EncodeError(f"a status proof has at most {MAX_DEPTH} siblings, not {depth}")
        bitmap = bytearray((depth + 7) // 8)
        present: list[bytes] = []
        for i, s in enumerate(siblings):
            if not _is_hash(s):
                raise EncodeError(f"sibling {i} is not a {HASH_SIZE}-byte hash")
            if s != EMPTY_ROOT:
                bitmap[i >> 3] |= 0x80 >> (i & 7)
                present.append(s)
        item: dict[int, CborValue] = {0: depth}
        if depth:
            item[1] = bytes(bitmap)
        if present:
            item[2] = present
        if (self.other_key is None) != (self.other_value_hash is None):
            raise EncodeError("other_key and other_value_hash go together")
        if self.other_key is not None:
            if not _is_hash(self.other_key) or not _is_hash(self.other_value_hash):
                raise EncodeError(f"the other leaf's key and value hash must be {HASH_SIZE} bytes")
            item[3] = [self.other_key, self.other_value_hash]
        return item

    @classmethod
    def from_item(cls, value: CborValue) -> StatusProof:
        """Read a proof from its decoded CBOR item, enforcing spec/revocation.md §3.3.

        Raises:
            DecodeError: not a map of the keys 0-3 with the types and sizes of §3.3: depth
                not an integer 0-256; bitmap missing, present for depth 0, of the wrong
                length or with a padding bit set; hashes missing, an empty array, not
                exactly one per set bit, not 32 bytes each, or one equal to EMPTY; an other
                leaf that is not two 32-byte strings.
        """
        if not isinstance(value, dict):
            raise DecodeError("status proof: expected a map")
        unknown = value.keys() - {0, 1, 2, 3}
        if unknown:
            raise DecodeError(f"status proof: unknown keys {sorted(unknown, key=str)}")
        if 0 not in value:
            raise DecodeError("status proof: missing depth (key 0)")
        depth = value[0]
        if type(depth) is not int or not 0 <= depth <= MAX_DEPTH:
            raise DecodeError(f"status proof: depth must be an integer 0 to {MAX_DEPTH}")
        # §3.3 rule 3: the bitmap is present iff depth > 0, ceil(depth / 8) bytes, padding 0.
        if depth == 0:
            if 1 in value:
                raise DecodeError("status proof: a bitmap with depth 0")
            bitmap = b""
        else:
            if 1 not in value:
                raise DecodeError("status proof: missing bitmap (key 1)")
            bitmap = value[1]
            if not isinstance(bitmap, bytes) or len(bitmap) != (depth + 7) // 8:
                raise DecodeError(f"status proof: bitmap must be {(depth + 7) // 8} bytes")
            if depth & 7 and bitmap[-1] & (0xFF >> (depth & 7)):
                raise DecodeError("status proof: bitmap padding bits must be 0")
        count = int.from_bytes(bitmap, "big").bit_count()
        # §3.3 rule 4: exactly one hash per set bit, none EMPTY; no empty array.
        if count == 0:
            if 2 in value:
                raise DecodeError("status proof: hashes present but no bitmap bit set")
            hashes: list[CborValue] = []
        else:
            if 2 not in value:
                raise DecodeError("status proof: missing hashes (key 2)")
            hashes = value[2]
            if not isinstance(hashes, list) or len(hashes) != count:
                raise DecodeError(f"status proof: expected an array of {count} hashes")
            for h in hashes:
                if not _is_hash(h):
                    raise DecodeError(f"status proof: a sibling is not a {HASH_SIZE}-byte hash")
                if h == EMPTY_ROOT:
                    raise DecodeError("status proof: an empty sibling must be a 0 bit, not a hash")
        it = iter(hashes)
        siblings = tuple(
            next(it) if bitmap[i >> 3] & (0x80 >> (i & 7)) else EMPTY_ROOT for i in range(depth)
        )
        # §3.3 rule 5: the other leaf.
        other_key = other_value_hash = None
        if 3 in value:
            other = value[3]
            if (
                not isinstance(other, list)
                or len(other) != 2
                or not _is_hash(other[0])
                or not _is_hash(other[1])
            ):
                raise DecodeError("status proof: other leaf must be [32-byte key, 32-byte hash]")
            other_key, other_value_hash = other
        return cls(siblings, other_key, other_value_hash)

    def to_cbor(self) -> bytes:
        """The deterministic encoding of :meth:`to_item` (spec/revocation.md §3.3).

        Raises:
            EncodeError: as :meth:`to_item`.
        """
        return codec.encode(self.to_item())

    @classmethod
    def from_cbor(cls, data: bytes) -> StatusProof:
        """Decode a proof strictly (spec/encoding.md §5, spec/revocation.md §3.3).

        Raises:
            DecodeError: longer than :data:`MAX_STATUS_PROOF_SIZE`, not canonical CBOR,
                nested deeper than 2, or not a proof per :meth:`from_item`.
        """
        return cls.from_item(codec.decode(data, max_size=MAX_STATUS_PROOF_SIZE, max_depth=2))


# --------------------------------------------------------------------------------------------
# Verification (spec/revocation.md §3.4)
# --------------------------------------------------------------------------------------------


def verify_status(*, root: bytes, key: bytes, value: bytes | None, proof: StatusProof) -> None:
    """Verify that in the map with ``root``, ``key`` maps to ``value`` (``None``: is absent).

    ``root`` MUST come from a verified checkpoint, ``key`` from the certificate the caller
    holds and ``value`` from the caller; only sibling hashes and, for absence, the other
    leaf are taken from ``proof`` (GUIDE §3 rule 2). Procedure: spec/revocation.md §3.4.

    Raises:
        StatusProofError: ``root`` or ``key`` is not 32 bytes; ``value`` is neither ``None``
            nor 1 to 1,024 bytes; ``proof`` is not a :class:`StatusProof` of at most 256
            32-byte siblings with both or neither other-leaf fields (32 bytes each); the
            deepest sibling is EMPTY; a presence proof carries an other leaf; an absence
            proof ending at EMPTY has depth 256; the other leaf's key equals ``key`` or is
            not on ``key``'s path; or the computed root differs from ``root`` (the message
            carries both, in hex).
    """
    # §3.4 step 1: the caller's inputs.
    if not _is_hash(root):
        raise StatusProofError(f"root is not a {HASH_SIZE}-byte hash")
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise StatusProofError(f"key is not {KEY_SIZE} bytes")
    if value is not None and (
        not isinstance(value, bytes) or not 1 <= len(value) <= MAX_VALUE_SIZE
    ):
        raise StatusProofError(f"value is neither None nor 1 to {MAX_VALUE_SIZE} bytes")
    # Step 2: the proof's shape.
    if not isinstance(proof, StatusProof):
        raise StatusProofError(f"proof must be a StatusProof, got {type(proof).__name__}")
    siblings = proof.siblings
    if not isinstance(siblings, tuple | list):
        raise StatusProofError("proof siblings must be a sequence of hashes")
    depth = len(siblings)
    if depth > MAX_DEPTH:
        raise StatusProofError(f"proof has {depth} siblings; a key has {MAX_DEPTH} bits")
    for i, s in enumerate(siblings):
        if not _is_hash(s):
            raise StatusProofError(f"sibling {i} is not a {HASH_SIZE}-byte hash")
    other_key, other_value_hash = proof.other_key, proof.other_value_hash
    other: tuple[bytes, bytes] | None = None
    if other_key is not None or other_value_hash is not None:
        if not (
            isinstance(other_key, bytes)
            and len(other_key) == KEY_SIZE
            and isinstance(other_value_hash, bytes)
            and len(other_value_hash) == HASH_SIZE
        ):
            raise StatusProofError(f"the other leaf must be a {KEY_SIZE}-byte key and hash")
        other = (other_key, other_value_hash)
    # Step 3: a terminal whose sibling is empty would be alone in its parent, which would
    # then be the terminal (§2.3): the proof is not the canonical one.
    if depth and siblings[-1] == EMPTY_ROOT:
        raise StatusProofError("the deepest sibling is EMPTY: the terminal would sit higher")
    k = int.from_bytes(key, "big")
    # Step 4: the terminal hash, from the caller's key and value.
    if value is not None:
        if other is not None:
            raise StatusProofError("a presence proof carries no other leaf")
        r = _entry_leaf(key, value)
    elif other is None:
        if depth == MAX_DEPTH:
            raise StatusProofError("an empty subtree at depth 256 is never a terminal")
        r = EMPTY_ROOT
    else:
        if other[0] == key:
            # Without this check an absence proof could point at the key's own leaf.
            raise StatusProofError("the other leaf of an absence proof is the queried key")
        o = int.from_bytes(other[0], "big")
        if depth and (o ^ k) >> (MAX_DEPTH - depth):
            raise StatusProofError(f"the other leaf is not on the key's path to depth {depth}")
        r = leaf_hash(other[0], other[1])
    # Step 5: fold from the terminal up, the key's bit at each depth choosing the side.
    sha = _sha256
    for i in range(depth - 1, -1, -1):
        if (k >> (_TOP - i)) & 1:
            r = sha(_NODE + siblings[i] + r).digest()
        else:
            r = sha(_NODE + r + siblings[i]).digest()
    # Step 6: the caller's root.
    if r != root:
        raise StatusProofError(
            f"root mismatch: expected {root.hex()}, computed {r.hex()} (depth {depth})"
        )
