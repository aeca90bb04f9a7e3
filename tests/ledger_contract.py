"""The storage contract suite (ledger/store.py, GUIDE D12): every backend passes it.

A backend's test module subclasses :class:`StoreContract` (and :class:`PersistentStoreContract`
when the store outlives its object) and implements the hooks; pytest then collects every
``test_*`` method below for that backend. The five rules of ledger/store.py are checked:

1. one writer at a time (threads; processes are backend-specific, see test_ledger_store.py);
2. all or nothing: rollback on exception leaves nothing behind;
3. append-only: stored hashes equal an independent reference, checkpoint rules;
4. snapshots see one committed state;
5. failures are StorageError (or OutOfRangeError for ranges, TypeError for wrong types).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import pytest

from noc_ledger import merkle
from noc_ledger.errors import OutOfRangeError, StorageError
from noc_ledger.ledger.store import Reader, Store


class AuditableStore(Store, Protocol):
    """A store with the audit hook the backends provide beside the protocol."""

    def check_integrity(self) -> int: ...


class AbortError(Exception):
    """Raised inside transactions to force a rollback."""


def entry(i: int, tag: str = "e") -> bytes:
    """A distinct entry of varying length (some empty-ish, some long)."""
    return f"{tag}{i}:".encode() + bytes([i % 251]) * (i % 97)


def state_of(reader: Reader) -> dict[str, object]:
    """Everything a reader can see, for before/after comparisons."""
    size = reader.size()
    return {
        "size": size,
        "entries": reader.read_entries(0, size),
        "hashes": reader.read_hashes(range(merkle.stored_hash_count(size))),
        "kv": {ns: list(reader.scan(ns)) for ns in ("a", "b", "c")},
        "latest": reader.latest_checkpoint(),
        "checkpoints": {s: reader.checkpoint_at(s) for s in range(size + 3)},
    }


def reference_for(entries: Sequence[bytes]) -> merkle.MemoryHashStore:
    ref = merkle.MemoryHashStore()
    for e in entries:
        ref.append(e)
    return ref


class StoreContract:
    """The contract, parametrised by the hooks below."""

    # Hooks ----------------------------------------------------------------------------------

    def open_store(self, tmp_path: Path) -> AuditableStore:
        """A new, empty store (may keep its files under ``tmp_path``)."""
        raise NotImplementedError

    def corrupt_hash(self, store: AuditableStore, index: int, value: bytes) -> None:
        """Overwrite committed stored hash ``index`` behind the store's back."""
        raise NotImplementedError

    def corrupt_entry(self, store: AuditableStore, index: int, value: bytes) -> None:
        """Overwrite committed entry ``index`` behind the store's back."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[AuditableStore]:
        s = self.open_store(tmp_path)
        try:
            yield s
        finally:
            s.close()

    # Helpers ----------------------------------------------------------------------------------

    @staticmethod
    def fill(store: Store, count: int, *, tag: str = "e") -> list[bytes]:
        items = [entry(i, tag) for i in range(count)]
        with store.transaction() as txn:
            txn.append(items)
        return items

    # Empty store ------------------------------------------------------------------------------

    def test_empty_store(self, store: AuditableStore) -> None:
        with store.snapshot() as view:
            assert view.size() == 0
            assert view.read_entries(0, 0) == []
            assert view.read_hashes([]) == []
            with pytest.raises(StorageError):
                view.read_hashes([0])
            assert merkle.root_from_reader(0, view) == merkle.EMPTY_ROOT
            assert view.find_entry(merkle.leaf_hash(b"x")) is None
            assert view.get("a", b"k") is None
            assert view.get_many("a", [b"k", b"l"]) == [None, None]
            assert list(view.scan("a")) == []
            assert view.latest_checkpoint() is None
            assert view.checkpoint_at(0) is None
        assert store.check_integrity() == 0

    # Rule 3: append, read back, stored hashes --------------------------------------------------

    def test_append_read_round_trip(self, store: AuditableStore) -> None:
        items = [b"", b"\x00", b"a" * 65_535, *(entry(i) for i in range(50))]
        with store.transaction() as txn:
            assert txn.append(items[:3]) == 0
            assert txn.append([]) == 3
            assert txn.append(items[3:]) == 3
            assert txn.size() == len(items)
            assert txn.read_entries(0, len(items)) == items  # own writes visible (rule 1)
        with store.transaction() as txn:
            assert txn.append([b"tail"]) == len(items)
        items.append(b"tail")
        with store.snapshot() as view:
            assert view.size() == len(items)
            assert view.read_entries(0, len(items)) == items
            assert view.read_entries(5, 9) == items[5:9]
            assert view.read_entries(len(items), len(items)) == []
            for e in view.read_entries(0, len(items)):
                assert type(e) is bytes

    def test_append_refuses_bad_entries(self, store: AuditableStore) -> None:
        self.fill(store, 3)
        with store.transaction() as txn:
            with pytest.raises(StorageError):
                txn.append([b"ok", b"x" * 65_536])
            with pytest.raises(TypeError):
                txn.append([b"ok", "text"])  # type: ignore[list-item]
            # Refused before anything was written; the transaction goes on.
            assert txn.size() == 3
            assert txn.append([b"fine"]) == 3
        with store.snapshot() as view:
            assert view.read_entries(0, 4)[3] == b"fine"
        assert store.check_integrity() == 4

    @pytest.mark.parametrize("seed", [1, 2])
    def test_stored_hashes_match_reference(self, store: AuditableStore, seed: int) -> None:
        rng = random.Random(seed)
        ref = merkle.MemoryHashStore()
        items: list[bytes] = []
        sizes_seen = [0]
        # Grow in many transactions, each with several append calls of random lengths, so
        # that siblings are read from earlier calls, earlier transactions and the same call.
        while len(items) < 700:
            with store.transaction() as txn:
                for _ in range(rng.randint(1, 3)):
                    batch = [entry(len(items) + k) for k in range(rng.choice([1, 1, 2, 3, 7, 40]))]
                    assert txn.append(batch) == len(items)
                    items.extend(batch)
                    for e in batch:
                        ref.append(e)
                count = merkle.stored_hash_count(len(items))
                assert txn.read_hashes(range(count)) == ref.read_hashes(range(count))
            sizes_seen.append(len(items))
        size = len(items)
        count = merkle.stored_hash_count(size)
        with store.snapshot() as view:
            assert view.read_hashes(range(count)) == ref.read_hashes(range(count))
            with pytest.raises(StorageError):
                view.read_hashes([count])
            leaves = [merkle.leaf_hash(e) for e in items]
            for s in sorted({*sizes_seen, *range(0, 70), 127, 128, 129, 255, 256, 257, 511, 512}):
                if s > size:
                    continue
                root = merkle.root_from_reader(s, view)
                assert root == merkle.root_from_reader(s, ref) == merkle.root_of(leaves[:s])
            # Inclusion and consistency proofs through the store equal the reference's and
            # verify against the independently computed roots.
            pairs = [(i, s) for s in range(1, 40) for i in range(s)]
            pairs += [
                (rng.randrange(s), s) for s in (rng.randrange(1, size + 1) for _ in range(300))
            ]
            for i, s in pairs:
                proof = merkle.prove_inclusion(i, s, view)
                assert proof == merkle.prove_inclusion(i, s, ref)
                merkle.verify_inclusion(
                    index=i,
                    size=s,
                    leaf_hash=leaves[i],
                    proof=proof,
                    root=merkle.root_of(leaves[:s]),
                )
            size_pairs = [(a, b) for b in range(1, 40) for a in range(1, b + 1)]
            for _ in range(200):
                a, b = rng.randrange(1, size + 1), rng.randrange(1, size + 1)
                size_pairs.append((min(a, b), max(a, b)))
            for s1, s2 in size_pairs:
                proof = merkle.prove_consistency(s1, s2, view)
                assert proof == merkle.prove_consistency(s1, s2, ref)
                merkle.verify_consistency(
                    size1=s1,
                    size2=s2,
                    proof=proof,
                    root1=merkle.root_of(leaves[:s1]),
                    root2=merkle.root_of(leaves[:s2]),
                )
        assert store.check_integrity() == size

    def test_read_hashes_order_duplicates_and_errors(self, store: AuditableStore) -> None:
        items = self.fill(store, 20)
        ref = reference_for(items)
        with store.snapshot() as view:
            asked = [7, 0, 7, 30, 1, 0]
            assert view.read_hashes(asked) == ref.read_hashes(asked)
            count = merkle.stored_hash_count(20)
            for bad in ([count], [0, count + 5], [-1], [1 << 70]):
                with pytest.raises(StorageError):
                    view.read_hashes(bad)

    def test_read_entries_range_errors(self, store: AuditableStore) -> None:
        self.fill(store, 5)
        for opener in (store.snapshot, store.transaction):
            with opener() as reader:
                for start, end in [(-1, 0), (0, 6), (3, 2), (6, 6), (0, -1)]:
                    with pytest.raises(OutOfRangeError):
                        reader.read_entries(start, end)
                with pytest.raises(OutOfRangeError):
                    reader.read_entries("0", 1)  # type: ignore[arg-type]
                with pytest.raises(OutOfRangeError):
                    reader.read_entries(True, 2)
                assert reader.read_entries(5, 5) == []

    def test_find_entry(self, store: AuditableStore) -> None:
        items = self.fill(store, 30)
        with store.transaction() as txn:
            # A duplicate is legal at the store level (the ledger prevents them);
            # find_entry answers the lowest index.
            txn.append([items[4], b"new"])
            assert txn.find_entry(merkle.leaf_hash(b"new")) == 31
            assert txn.find_entry(merkle.leaf_hash(items[4])) == 4
            txn.append([b"dup-in-txn", b"dup-in-txn"])
            assert txn.find_entry(merkle.leaf_hash(b"dup-in-txn")) == 32
        with store.snapshot() as view:
            for i, e in enumerate(items):
                assert view.find_entry(merkle.leaf_hash(e)) == i
            assert view.find_entry(merkle.leaf_hash(b"new")) == 31
            assert view.find_entry(merkle.leaf_hash(b"dup-in-txn")) == 32
            assert view.find_entry(merkle.leaf_hash(b"absent")) is None
            assert view.find_entry(b"short") is None
        assert store.check_integrity() == 34

    # Derived state ----------------------------------------------------------------------------

    def test_kv_get_put_many(self, store: AuditableStore) -> None:
        with store.transaction() as txn:
            txn.put("a", b"k1", b"v1")
            txn.put("a", b"k1", b"v1b")  # replace
            txn.put("a", b"empty", b"")
            txn.put_many("a", [(b"k2", b"v2"), (b"k3", b"v3")])
            txn.put("b", b"k1", b"other namespace")
            assert txn.get("a", b"k1") == b"v1b"
            assert txn.get_many("a", [b"k3", b"zz", b"k1", b"k3"]) == [b"v3", None, b"v1b", b"v3"]
        with store.snapshot() as view:
            assert view.get("a", b"k1") == b"v1b"
            assert view.get("a", b"empty") == b""
            assert view.get("b", b"k1") == b"other namespace"
            assert view.get("c", b"k1") is None
            assert view.get_many("a", [b"k3", b"zz", b"k1", b"k3", b"empty"]) == [
                b"v3",
                None,
                b"v1b",
                b"v3",
                b"",
            ]
            assert view.get_many("a", []) == []
            many = [bytes([i]) for i in range(256)]
            assert view.get_many("a", many * 3) == [None] * 768
        with store.transaction() as txn:
            with pytest.raises(TypeError):
                txn.put("a", "text", b"v")  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                txn.put("a", b"k", "text")  # type: ignore[arg-type]

    def test_scan_order_and_prefix(self, store: AuditableStore) -> None:
        keys = [b"", b"\x00", b"\x00\x00", b"a", b"a\x00", b"a\xff", b"a\xff\xff", b"ab", b"b"]
        keys += [b"\xff", b"\xff\xff", b"\xff\x00", b"\x7f", b"\x80"]
        shuffled = list(keys)
        random.Random(3).shuffle(shuffled)
        with store.transaction() as txn:
            txn.put_many("a", [(k, b"v" + k) for k in shuffled])
            txn.put("b", b"a", b"not in a")
            in_txn = list(txn.scan("a"))
        ordered = sorted(keys)
        assert in_txn == [(k, b"v" + k) for k in ordered]
        with store.snapshot() as view:
            assert list(view.scan("a")) == [(k, b"v" + k) for k in ordered]
            for prefix in [b"", b"a", b"a\xff", b"\xff", b"\xff\xff", b"\x00", b"zz", b"ab"]:
                got = [k for k, _ in view.scan("a", prefix)]
                assert got == [k for k in ordered if k.startswith(prefix)], prefix
            assert list(view.scan("b")) == [(b"a", b"not in a")]
            assert list(view.scan("nothing")) == []

    def test_scan_large_namespace(self, store: AuditableStore) -> None:
        keys = [i.to_bytes(2, "big") for i in range(1500)]
        with store.transaction() as txn:
            txn.put_many("a", [(k, k) for k in reversed(keys)])
            # Writes during a scan of the same namespace (paged backends) do not break it.
            seen = 0
            for k, _ in txn.scan("a", b"\x01"):
                txn.put("a", k + b"!", b"added")
                seen += 1
            assert seen == 256
        with store.snapshot() as view:
            got = list(view.scan("a"))
            assert [k for k, _ in got] == sorted([*keys, *(k + b"!" for k in keys[256:512])])
            assert [k for k, _ in view.scan("a", b"\x02")] == sorted([k for k in keys if k[0] == 2])

    # Checkpoints ------------------------------------------------------------------------------

    def test_checkpoint_rules(self, store: AuditableStore) -> None:
        self.fill(store, 10)
        with store.transaction() as txn:
            with pytest.raises(StorageError):
                txn.put_checkpoint(11, b"too big")
            txn.put_checkpoint(0, b"cp0")
            txn.put_checkpoint(4, b"cp4")
            txn.put_checkpoint(4, b"cp4")  # same size, same bytes: fine
            with pytest.raises(StorageError):
                txn.put_checkpoint(4, b"cp4 other")
            with pytest.raises(StorageError):
                txn.put_checkpoint(3, b"cp3")  # below the latest
            assert txn.latest_checkpoint() == (4, b"cp4")
            txn.append([b"x"])
            txn.put_checkpoint(11, b"cp11")  # the transaction's own entries count
        with store.snapshot() as view:
            assert view.latest_checkpoint() == (11, b"cp11")
            assert view.checkpoint_at(0) == b"cp0"
            assert view.checkpoint_at(4) == b"cp4"
            assert view.checkpoint_at(5) is None
            assert view.checkpoint_at(11) == b"cp11"
        with store.transaction() as txn:  # the rules hold across transactions
            txn.put_checkpoint(11, b"cp11")
            txn.put_checkpoint(4, b"cp4")  # re-recording a stored one is idempotent
            for size, note in [(11, b"cp11 other"), (10, b"cp10"), (12, b"cp12")]:
                with pytest.raises(StorageError):
                    txn.put_checkpoint(size, note)
            txn.put("a", b"after refusals", b"still commits")
        with store.snapshot() as view:
            assert view.latest_checkpoint() == (11, b"cp11")
            assert view.get("a", b"after refusals") == b"still commits"

    # Rule 2: rollback -------------------------------------------------------------------------

    def _populate(self, store: Store) -> None:
        with store.transaction() as txn:
            txn.append([entry(i) for i in range(13)])
            txn.put_many("a", [(b"k1", b"v1"), (b"k2", b"v2")])
            txn.put("b", b"k", b"v")
            txn.put_checkpoint(13, b"cp13")

    @pytest.mark.parametrize("error", [AbortError, KeyboardInterrupt, StorageError])
    def test_rollback_leaves_nothing(
        self, store: AuditableStore, error: type[BaseException]
    ) -> None:
        self._populate(store)
        with store.snapshot() as view:
            before = state_of(view)
        with pytest.raises(error), store.transaction() as txn:
            txn.append([entry(i, "rolled back") for i in range(20)])
            txn.put("a", b"k1", b"overwritten")
            txn.put("a", b"k3", b"new")
            txn.put_many("c", [(b"x", b"y")])
            txn.put_checkpoint(33, b"cp33")
            assert txn.size() == 33
            raise error("abort")
        with store.snapshot() as view:
            assert state_of(view) == before
            assert view.find_entry(merkle.leaf_hash(entry(0, "rolled back"))) is None
            with pytest.raises(StorageError):
                view.read_hashes([merkle.stored_hash_count(13)])
        # The log continues exactly where it was, with correct hashes.
        with store.transaction() as txn:
            assert txn.append([b"after"]) == 13
            assert txn.checkpoint_at(33) is None
        expected = reference_for([entry(i) for i in range(13)] + [b"after"])
        with store.snapshot() as view:
            assert merkle.root_from_reader(14, view) == merkle.root_from_reader(14, expected)
        assert store.check_integrity() == 14

    def test_transaction_and_snapshot_end_with_block(self, store: AuditableStore) -> None:
        self.fill(store, 3)
        with store.transaction() as txn:
            txn.put("a", b"k", b"v")
        with pytest.raises(StorageError):
            txn.size()
        with pytest.raises(StorageError):
            txn.append([b"late"])
        with store.snapshot() as view:
            scan = view.scan("a")
        with pytest.raises(StorageError):
            view.read_entries(0, 1)
        with pytest.raises(StorageError):
            list(scan)
        with store.snapshot() as view:
            assert view.size() == 3

    def test_nested_transaction_refused(self, store: AuditableStore) -> None:
        with store.transaction() as txn:
            txn.append([b"outer"])
            with pytest.raises(StorageError), store.transaction():
                pass
        with store.snapshot() as view:
            assert view.read_entries(0, 1) == [b"outer"]

    # Rule 4: snapshots ------------------------------------------------------------------------

    def test_snapshot_isolation(self, store: AuditableStore) -> None:
        self._populate(store)
        with store.snapshot() as old:
            before = state_of(old)
            with store.transaction() as txn:
                txn.append([b"later"])
                txn.put("a", b"k1", b"changed")
                txn.put("a", b"k9", b"added")
                txn.put("c", b"k", b"new namespace")
                txn.put_checkpoint(14, b"cp14")
                # Uncommitted writes are invisible to a snapshot opened meanwhile.
                with store.snapshot() as during:
                    assert state_of(during) == before
            # A second commit, after the first made new copies (copy-on-write backends).
            with store.transaction() as txn:
                txn.put("a", b"k1", b"changed again")
                txn.put("b", b"k", b"changed too")
            assert state_of(old) == before
            assert old.find_entry(merkle.leaf_hash(b"later")) is None
            with store.snapshot() as new:
                assert new.size() == 14
                assert new.get("a", b"k1") == b"changed again"
                assert new.get("b", b"k") == b"changed too"
                assert new.get("c", b"k") == b"new namespace"
                assert new.latest_checkpoint() == (14, b"cp14")
                assert new.find_entry(merkle.leaf_hash(b"later")) == 13
            assert state_of(old) == before

    def test_snapshot_pins_state_at_open(self, store: AuditableStore) -> None:
        # Nothing is read before the commit: the snapshot's state is fixed when it is
        # opened, not at its first read (SQLite: a deferred BEGIN alone would not do it).
        self._populate(store)
        with store.snapshot() as old:
            with store.transaction() as txn:
                txn.append([b"later"])
                txn.put("a", b"k1", b"changed")
                txn.put_checkpoint(14, b"cp14")
            assert old.get("a", b"k1") == b"v1"
            assert old.latest_checkpoint() == (13, b"cp13")
            assert old.find_entry(merkle.leaf_hash(b"later")) is None
            assert old.size() == 13

    def test_threads_serialise_and_snapshots_stay_consistent(self, store: AuditableStore) -> None:
        writers, rounds = 4, 25
        errors: list[BaseException] = []
        done = threading.Event()

        def write(w: int) -> None:
            try:
                for r in range(rounds):
                    with store.transaction() as txn:
                        size = txn.size()
                        assert txn.append([f"w{w}r{r}".encode()]) == size
                        # Derived state kept in step with the entries, as the ledger does.
                        txn.put("a", b"size", str(size + 1).encode())
                        txn.put("a", f"at{size}".encode(), f"w{w}r{r}".encode())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        def read() -> None:
            try:
                while not done.is_set():
                    with store.snapshot() as view:
                        size = view.size()
                        assert view.get("a", b"size") == (str(size).encode() if size else None)
                        if size:
                            last = view.read_entries(size - 1, size)[0]
                            assert view.get("a", f"at{size - 1}".encode()) == last
                            merkle.root_from_reader(size, view)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        reader = threading.Thread(target=read)
        reader.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        reader.join()
        assert errors == []
        with store.snapshot() as view:
            entries = view.read_entries(0, view.size())
        assert sorted(entries) == sorted(
            f"w{w}r{r}".encode() for w in range(writers) for r in range(rounds)
        )
        assert store.check_integrity() == writers * rounds

    # Audit --------------------------------------------------------------------------------------

    @pytest.mark.parametrize("index", [0, 5, 14, 37])
    def test_check_integrity_detects_bad_hash(self, store: AuditableStore, index: int) -> None:
        self.fill(store, 20)
        assert store.check_integrity() == 20
        with store.snapshot() as view:
            good = view.read_hashes([index])[0]
        self.corrupt_hash(store, index, bytes(32))
        with pytest.raises(StorageError, match=rf"stored hash {index}\b"):
            store.check_integrity()
        self.corrupt_hash(store, index, good)
        assert store.check_integrity() == 20

    def test_check_integrity_detects_bad_entry(self, store: AuditableStore) -> None:
        self.fill(store, 20)
        self.corrupt_entry(store, 9, b"forged")
        with pytest.raises(StorageError, match=r"entry 9\b"):
            store.check_integrity()

    # Lifecycle --------------------------------------------------------------------------------

    def test_closed_store_refuses(self, tmp_path: Path) -> None:
        store = self.open_store(tmp_path)
        self.fill(store, 2)
        store.close()
        store.close()  # idempotent
        with pytest.raises(StorageError), store.transaction():
            pass
        with pytest.raises(StorageError), store.snapshot():
            pass


class PersistentStoreContract(StoreContract):
    """For stores whose state outlives the object (files, servers)."""

    def reopen(self, store: AuditableStore, tmp_path: Path) -> AuditableStore:
        """Close ``store`` and open the same storage again."""
        raise NotImplementedError

    def test_reopen_gives_same_state(self, tmp_path: Path) -> None:
        store = self.open_store(tmp_path)
        self._populate(store)
        with store.transaction() as txn:
            txn.append([entry(i, "more") for i in range(100)])
            txn.put_checkpoint(50, b"cp50")
        with store.snapshot() as view:
            before = state_of(view)
        store = self.reopen(store, tmp_path)
        try:
            with store.snapshot() as view:
                assert state_of(view) == before
            # Appending after reopening reads the right edge from storage.
            with store.transaction() as txn:
                assert txn.append([b"after reopen", b"and another"]) == 113
            items = [entry(i) for i in range(13)] + [entry(i, "more") for i in range(100)]
            ref = reference_for([*items, b"after reopen", b"and another"])
            with store.snapshot() as view:
                count = merkle.stored_hash_count(115)
                assert view.read_hashes(range(count)) == ref.read_hashes(range(count))
            assert store.check_integrity() == 115
        finally:
            store.close()
