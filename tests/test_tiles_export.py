"""Exporting a ledger as C2SP tiles (noc_ledger.ledger.tiles_export, spec/tiles.md §8), and
reading the result back through the directory LogSource (spec/tiles.md §6)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import merkle, signing
from noc_ledger.checkpoint import Checkpoint, cosign, decode_checkpoint_note, sign_checkpoint
from noc_ledger.client.source import (
    DirectorySource,
    open_source,
    prove_consistency,
    prove_inclusion,
    root_at,
)
from noc_ledger.errors import (
    DecodeError,
    FetchError,
    InconsistencyError,
    OutOfRangeError,
    SignatureError,
    StorageError,
)
from noc_ledger.ledger import tiles_export
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.ledger.tiles_export import export_tiles
from noc_ledger.note import Verifier
from noc_ledger.tiles import resources_for_size
from tests import independent_tiles
from tests.ledger_story import ISSUER, LOG, ORIGIN, new_ledger, noc

LOG_KEY = Verifier.for_key(ORIGIN, LOG.public_key)
WITNESS = signing.Ed25519Signer(hashlib.sha256(b"tiles test: witness").digest())
#: Checkpoint sizes the shared ledger has (one per batch).
SIZES = (1, 200, 256, 300, 600)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    led = new_ledger(MemoryStore())
    while led.size() < SIZES[-1]:
        nxt = next(s for s in SIZES if s > led.size())
        led.issue_batch([noc() for _ in range(nxt - led.size())], ISSUER)
    assert led.size() == SIZES[-1]
    for size in SIZES:
        led.checkpoint_at(size)
    return led


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _check_readable(out: Path, ledger: Ledger) -> None:
    """Every published checkpoint's tiles are all there and are the log's."""
    source = DirectorySource(out)
    note = source.read_checkpoint()
    cp = decode_checkpoint_note(note)
    assert source.read_entries(0, cp.size, size=cp.size) == ledger.entries(0, cp.size)
    assert root_at(source, cp.size) == cp.root


def test_export_is_byte_identical_to_the_independent_writer(ledger: Ledger, tmp_path: Path) -> None:
    note = ledger.checkpoint_at(600)
    report = export_tiles(ledger, tmp_path / "ours", checkpoint=note, log_key=LOG_KEY)
    independent_tiles.write_tiles(ledger.entries(0, 600), note, tmp_path / "theirs")
    ours, theirs = _files(tmp_path / "ours"), _files(tmp_path / "theirs")
    assert ours == theirs
    # 3 bundles (2 full, one of 88), 3 level-0 tiles, 1 level-1 tile of width 2.
    assert sorted(ours) == [
        "checkpoint",
        "tile/0/000",
        "tile/0/001",
        "tile/0/002.p/88",
        "tile/1/000.p/2",
        "tile/entries/000",
        "tile/entries/001",
        "tile/entries/002.p/88",
    ]
    assert (report.size, report.previous_size) == (600, 0)
    assert (report.tiles_written, report.bundles_written) == (4, 3)
    assert report.bytes_written == sum(len(v) for v in ours.values())


def test_client_reads_entries_hashes_and_proofs(ledger: Ledger, tmp_path: Path) -> None:
    note = ledger.checkpoint_at(600)
    export_tiles(ledger, tmp_path, checkpoint=note)
    source = open_source(str(tmp_path))
    assert source.read_checkpoint() == note
    cp = decode_checkpoint_note(source.read_checkpoint())
    assert source.read_entries(0, 600, size=600) == ledger.entries(0, 600)
    assert source.read_entries(255, 513, size=600) == ledger.entries(255, 513)
    assert source.read_entries(7, 7, size=600) == []
    assert root_at(source, 600) == cp.root
    for size in SIZES:
        # The tree of an older checkpoint is served from the newer tiles (prefixes).
        old = decode_checkpoint_note(ledger.checkpoint_at(size))
        assert root_at(source, size) == old.root
        assert source.read_entries(0, size, size=size) == ledger.entries(0, size)
    for index in (0, 1, 255, 256, 299, 599):
        proof = prove_inclusion(source, index, 600)
        assert proof == ledger.prove_inclusion(index, 600)
        merkle.verify_inclusion(
            index=index,
            size=600,
            leaf_hash=merkle.leaf_hash(ledger.entries(index, index + 1)[0]),
            proof=proof,
            root=cp.root,
        )
    for size1 in SIZES:
        proof = prove_consistency(source, size1, 600)
        assert proof == ledger.prove_consistency(size1, 600)
        old = decode_checkpoint_note(ledger.checkpoint_at(size1))
        merkle.verify_consistency(
            size1=size1, size2=600, proof=proof, root1=old.root, root2=cp.root
        )
    with pytest.raises(OutOfRangeError):
        source.read_entries(0, 601, size=600)
    with pytest.raises(OutOfRangeError):
        source.read_entries(5, 4, size=600)
    with pytest.raises(OutOfRangeError):
        prove_inclusion(source, 600, 600)
    with pytest.raises(FetchError):  # no tiles for a tree larger than the published one
        source.read_entries(0, 700, size=700)


def test_incremental_export(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "tiles"
    first = export_tiles(ledger, out, checkpoint=ledger.checkpoint_at(200))
    assert (first.tiles_written, first.bundles_written) == (1, 1)
    assert sorted(_files(out)) == ["checkpoint", "tile/0/000.p/200", "tile/entries/000.p/200"]
    # Same checkpoint again: nothing but the checkpoint is written.
    again = export_tiles(ledger, out, checkpoint=ledger.checkpoint_at(200))
    assert (again.previous_size, again.tiles_written, again.bundles_written) == (200, 0, 0)
    second = export_tiles(ledger, out, checkpoint=ledger.checkpoint_at(256))
    # The full tile and bundle replace the partial ones, which are then removed.
    assert (second.tiles_written, second.bundles_written, second.partials_removed) == (2, 1, 2)
    assert sorted(_files(out)) == ["checkpoint", "tile/0/000", "tile/1/000.p/1", "tile/entries/000"]
    full = out / "tile/0/000"
    inode = full.stat().st_ino
    third = export_tiles(ledger, out, checkpoint=ledger.checkpoint_at(300))
    assert (third.previous_size, third.tiles_written, third.bundles_written) == (256, 1, 1)
    fourth = export_tiles(ledger, out, checkpoint=ledger.checkpoint_at(600))
    assert fourth.previous_size == 300
    # A full tile is never rewritten (an atomic rewrite would give it a new inode).
    assert full.stat().st_ino == inode
    theirs = tmp_path / "theirs"
    independent_tiles.write_tiles(ledger.entries(0, 600), ledger.checkpoint_at(600), theirs)
    ours = _files(out)
    expected = _files(theirs)
    assert {k: ours[k] for k in expected} == expected
    # What remains beyond a fresh export: the old partial level-1 tile (its full tile does
    # not exist yet), kept for readers of the older checkpoint.
    assert sorted(set(ours) - set(expected)) == ["tile/1/000.p/1"]
    _check_readable(out, ledger)


def test_rollback_and_fork_are_refused(ledger: Ledger, tmp_path: Path) -> None:
    export_tiles(ledger, tmp_path, checkpoint=ledger.checkpoint_at(300))
    before = _files(tmp_path)
    with pytest.raises(InconsistencyError) as info:
        export_tiles(ledger, tmp_path, checkpoint=ledger.checkpoint_at(256))
    assert info.value.first == ledger.checkpoint_at(300)
    assert info.value.second == ledger.checkpoint_at(256)
    assert _files(tmp_path) == before
    # Another log's tree of the same origin published there: refused as a fork.
    other = new_ledger(MemoryStore())
    other.issue_batch([noc() for _ in range(400)], ISSUER)
    with pytest.raises(InconsistencyError):
        export_tiles(other, tmp_path, checkpoint=other.checkpoint())
    assert _files(tmp_path) == before


def test_checkpoint_must_be_this_logs(ledger: Ledger, tmp_path: Path) -> None:
    other = new_ledger(MemoryStore())
    other.issue_batch([noc() for _ in range(3)], ISSUER)
    foreign = other.checkpoint()
    with pytest.raises(InconsistencyError):
        export_tiles(ledger, tmp_path, checkpoint=foreign)
    # Signed by another key: refused before anything is read.
    forger = signing.Ed25519Signer(hashlib.sha256(b"forger").digest())
    cp = decode_checkpoint_note(ledger.checkpoint_at(200))
    forged = sign_checkpoint(cp, forger)
    with pytest.raises(SignatureError):
        export_tiles(ledger, tmp_path, checkpoint=forged, log_key=LOG_KEY)
    # Larger than the log.
    big = Checkpoint(ORIGIN, 601, cp.root, cp.time, cp.status_root)
    with pytest.raises(OutOfRangeError):
        export_tiles(ledger, tmp_path, checkpoint=sign_checkpoint(big, LOG))
    with pytest.raises(DecodeError):
        export_tiles(ledger, tmp_path, checkpoint=b"not a note")
    assert not tmp_path.joinpath("checkpoint").exists()
    # Another origin already published in the directory.
    tmp_path.joinpath("checkpoint").write_bytes(
        sign_checkpoint(Checkpoint("other.example", 0, merkle.EMPTY_ROOT, 0, bytes(32)), LOG)
    )
    with pytest.raises(StorageError):
        export_tiles(ledger, tmp_path, checkpoint=ledger.checkpoint_at(200))


def test_cosigned_checkpoint_is_published_verbatim(ledger: Ledger, tmp_path: Path) -> None:
    note = cosign(ledger.checkpoint_at(300), "witness.example/w", WITNESS, time=1_800_000_000)
    export_tiles(ledger, tmp_path, checkpoint=note, log_key=LOG_KEY)
    assert DirectorySource(tmp_path).read_checkpoint() == note


def test_store_and_reader_sources(ledger: Ledger, tmp_path: Path) -> None:
    store = ledger._store
    note = ledger.checkpoint_at(300)
    export_tiles(store, tmp_path / "a", checkpoint=note)
    with store.snapshot() as reader:
        export_tiles(reader, tmp_path / "b", checkpoint=note)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


class _CrashError(Exception):
    pass


@pytest.mark.parametrize("crash_after", [0, 1, 3, 5])
def test_crash_leaves_no_checkpoint_without_its_tiles(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_after: int
) -> None:
    out = tmp_path / "tiles"
    export_tiles(ledger, out, checkpoint=ledger.checkpoint_at(200))
    real = tiles_export._write_atomic
    writes: list[Path] = []

    def crashing(path: Path, data: bytes) -> None:
        if len(writes) == crash_after:
            raise _CrashError(str(path))
        writes.append(path)
        real(path, data)

    monkeypatch.setattr(tiles_export, "_write_atomic", crashing)
    with pytest.raises(_CrashError):
        export_tiles(ledger, out, checkpoint=ledger.checkpoint_at(600))
    # The old checkpoint is still the published one, and all of its tiles are readable.
    assert DirectorySource(out).read_checkpoint() == ledger.checkpoint_at(200)
    _check_readable(out, ledger)
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]
    monkeypatch.setattr(tiles_export, "_write_atomic", real)
    export_tiles(ledger, out, checkpoint=ledger.checkpoint_at(600))
    _check_readable(out, ledger)


def test_a_foreign_full_tile_is_not_overwritten(ledger: Ledger, tmp_path: Path) -> None:
    export_tiles(ledger, tmp_path, checkpoint=ledger.checkpoint_at(200))
    bad = tmp_path / "tile/0/000"
    bad.write_bytes(b"\x00" * 8192)
    with pytest.raises(StorageError):
        export_tiles(ledger, tmp_path, checkpoint=ledger.checkpoint_at(256))
    assert bad.read_bytes() == b"\x00" * 8192
    assert DirectorySource(tmp_path).read_checkpoint() == ledger.checkpoint_at(200)


def test_progress_is_reported(ledger: Ledger, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    export_tiles(
        ledger,
        tmp_path,
        checkpoint=ledger.checkpoint_at(600),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (8, 8)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# -- a larger synthetic log: level-1 full tiles and level-2 partials ----------------------


class _ListReader:
    """A store reader over a list of entries (only what the exporter reads)."""

    def __init__(self, entries: Sequence[bytes]) -> None:
        self._entries = list(entries)
        self._hashes = merkle.MemoryHashStore()
        for e in entries:
            self._hashes.append(e)

    def size(self) -> int:
        return len(self._entries)

    def read_entries(self, start: int, end: int) -> list[bytes]:
        return self._entries[start:end]

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return self._hashes.read_hashes(indexes)


def test_large_log_matches_the_independent_writer(tmp_path: Path) -> None:
    size = 65_536 + 300
    entries = [i.to_bytes(3, "big") for i in range(size)]
    reader = _ListReader(entries)
    root = merkle.root_from_reader(size, reader)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root, 1, bytes(32)), LOG)
    export_tiles(reader, tmp_path / "ours", checkpoint=note, log_key=LOG_KEY)  # type: ignore[arg-type]
    independent_tiles.write_tiles(entries, note, tmp_path / "theirs")
    ours = _files(tmp_path / "ours")
    assert ours == _files(tmp_path / "theirs")
    assert {"tile/1/000", "tile/1/001.p/1", "tile/2/000.p/1", "tile/0/257.p/44"} <= set(ours)
    source = DirectorySource(tmp_path / "ours")
    assert root_at(source, size) == root
    assert source.read_entries(65_530, 65_540, size=size) == entries[65_530:65_540]
    for index in (0, 65_535, 65_536, size - 1):
        merkle.verify_inclusion(
            index=index,
            size=size,
            leaf_hash=merkle.leaf_hash(entries[index]),
            proof=prove_inclusion(source, index, size),
            root=root,
        )


# -- the directory source on its own --------------------------------------------------------


def test_directory_source_reads_only_bounded_regular_files(tmp_path: Path) -> None:
    entries = [b"e%d" % i for i in range(10)]
    independent_tiles.write_tiles(entries, b"note\n", tmp_path)
    source = DirectorySource(tmp_path)
    (tmp_path / "tile/0/000.p/10").write_bytes(b"\x00" * 321)
    with pytest.raises(DecodeError):
        source.read_hashes([0], size=10)
    (tmp_path / "tile/0/000.p/10").unlink()
    os.symlink(tmp_path / "tile/entries/000.p/10", tmp_path / "tile/0/000.p/10")
    with pytest.raises(FetchError):
        source.read_hashes([0], size=10)
    (tmp_path / "tile/entries/000.p/10").write_bytes(b"\x00\x01x")
    with pytest.raises(DecodeError):
        source.read_entries(0, 10, size=10)
    (tmp_path / "checkpoint").write_bytes(b"x" * (64 << 10 | 1))
    with pytest.raises(FetchError):
        source.read_checkpoint()
    (tmp_path / "checkpoint").unlink()
    with pytest.raises(FetchError):
        source.read_checkpoint()
    with pytest.raises(FetchError):
        open_source(str(tmp_path / "missing"))
    with pytest.raises(FetchError):
        open_source("ftp://example.org/log")


def test_missing_partial_falls_back_to_the_full_tile(tmp_path: Path) -> None:
    entries = [b"entry %d" % i for i in range(300)]
    independent_tiles.write_tiles(entries, b"note\n", tmp_path)
    # A reader of the tree of size 100 finds tile/0/000.p/100 gone (superseded by the full).
    source = DirectorySource(tmp_path)
    assert source.read_entries(0, 100, size=100) == entries[:100]
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert root_at(source, 100) == merkle.root_of(leaves[:100])
    with pytest.raises(FetchError):  # neither the partial nor the full tile exists
        source.read_entries(256, 270, size=270)


def test_proofs_against_one_checkpoint_read_each_tile_once(ledger: Ledger, tmp_path: Path) -> None:
    # The right edge (partial tiles) and the upper tiles are shared by every proof against
    # one checkpoint: cached after the first read, partial tiles included, and the answers
    # stay the store's.
    note = ledger.checkpoint_at(600)
    export_tiles(ledger, tmp_path, checkpoint=note)
    fetched: list[str] = []

    class Counting(DirectorySource):
        def _fetch(self, path: str, limit: int) -> bytes | None:
            fetched.append(path)
            return super()._fetch(path, limit)

    source = Counting(tmp_path)
    for index in range(0, 600, 7):
        assert prove_inclusion(source, index, 600) == ledger.prove_inclusion(index, 600)
    for size1 in range(1, 600, 13):
        assert prove_consistency(source, size1, 600) == ledger.prove_consistency(size1, 600)
    assert any(".p/" in path for path in fetched)  # partial tiles were needed
    assert len(fetched) == len(set(fetched))


_SIZES = st.one_of(
    st.integers(0, 3 * 65_536 + 600),
    # Around the sizes where a level fills up or a new one starts.
    st.sampled_from([0, 1, 255, 256, 257, 65_535, 65_536, 65_537, 16_777_216]).flatmap(
        lambda n: st.integers(max(0, n - 2), n + 2)
    ),
)


@settings(max_examples=400, deadline=None)
@given(_SIZES, _SIZES)
def test_the_new_resources_are_the_set_difference_generated(a: int, b: int) -> None:
    # Rule 3, generated instead of listed (memory flat in the log's size): the same tiles,
    # in the same order, as the set difference of the two trees' resources.
    previous, size = min(a, b), max(a, b)
    old = set(resources_for_size(previous))
    expected = [t for t in resources_for_size(size) if t not in old]
    assert list(tiles_export._new_resources(size, previous)) == expected
