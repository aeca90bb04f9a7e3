"""Publish a ledger's log as a C2SP tlog-tiles directory, incrementally (spec/tiles.md §8).

:func:`export_tiles` writes the entry bundles and hash tiles of the tree a given signed
checkpoint commits to, then the checkpoint itself, into a directory that any static web
server, object store or CDN can serve (or ``noc-ledger serve``).

The rules it keeps (spec/tiles.md §8):

1. The checkpoint is taken as given (it may carry witness cosignatures added after the log
   signed it) but only after checking it is this log's: its size is at most the store's,
   and its root is the root the store computes for that size; with ``log_key`` its log
   signature is verified first (spec/checkpoint.md §4.3).
2. Tiles and bundles first, each written atomically (temporary file in the same directory,
   ``fsync``, rename, then the directories ``fsync``'d), the checkpoint last: a reader never
   sees a checkpoint whose tiles are missing.
3. Incremental: only resources of the new tree that the previously published tree lacks are
   written. A full tile is never rewritten; a full tile found beyond the published tree (a
   crashed earlier run) is checked byte for byte instead.
4. A checkpoint smaller than the published one, or of the same size with another root, is
   refused (:class:`~noc_ledger.errors.InconsistencyError`); nothing is written.
5. After the checkpoint, partial tiles whose full tile now exists are removed (C2SP
   tlog-tiles allows it; readers fall back to the full tile, spec/tiles.md §4.3).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from noc_ledger import merkle
from noc_ledger.checkpoint import Checkpoint, decode_checkpoint_note, open_checkpoint
from noc_ledger.errors import (
    DecodeError,
    InconsistencyError,
    OutOfRangeError,
    StorageError,
)
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.store import Reader, Store
from noc_ledger.note import Verifier
from noc_ledger.tiles import (
    CHECKPOINT_PATH,
    MAX_CHECKPOINT_SIZE,
    Tile,
    bundles_for_size,
    encode_entry_bundle,
    hash_tiles_for_size,
    read_hash_tile,
    tile_path,
)

__all__ = ["ExportReport", "export_tiles"]

#: ``progress(done, total)``: resources written so far and in all (checkpoint included).
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What one :func:`export_tiles` run did.

    ``size`` is the exported tree's; ``previous_size`` the size published there before (0 if
    nothing was); ``tiles_written`` and ``bundles_written`` count the resources written this
    run, ``bytes_written`` their bytes (checkpoint included); ``partials_removed`` counts the
    superseded partial tiles deleted.
    """

    size: int
    previous_size: int
    tiles_written: int
    bundles_written: int
    bytes_written: int
    partials_removed: int


@contextlib.contextmanager
def _reader_of(source: Ledger | Store | Reader) -> Iterator[Reader]:
    if isinstance(source, Ledger):
        # The ledger's own store: one consistent snapshot for the whole export.
        with source._store.snapshot() as reader:  # a private attribute, same package
            yield reader
    elif hasattr(source, "snapshot"):
        snapshot: AbstractContextManager[Reader] = source.snapshot()
        with snapshot as reader:
            yield reader
    else:
        yield source


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Temporary file beside ``path``, written and fsync'd, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_existing(path: Path, limit: int) -> bytes | None:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return None
    if len(data) > limit:
        raise StorageError(f"{path} is over {limit} bytes")
    return data


def _published(out_dir: Path, origin: str) -> tuple[Checkpoint, bytes] | None:
    """The checkpoint already published in ``out_dir``, if any."""
    data = _read_existing(out_dir / CHECKPOINT_PATH, MAX_CHECKPOINT_SIZE)
    if data is None:
        return None
    try:
        published = decode_checkpoint_note(data)
    except DecodeError as exc:
        raise StorageError(f"{out_dir}: the published checkpoint is malformed: {exc}") from None
    if published.origin != origin:
        raise StorageError(
            f"{out_dir} publishes another log ({published.origin!r}, not {origin!r})"
        )
    return published, data


def export_tiles(
    source: Ledger | Store | Reader,
    out_dir: str | Path,
    *,
    checkpoint: bytes,
    log_key: Verifier | None = None,
    progress: Progress | None = None,
) -> ExportReport:
    """Publish the tree of ``checkpoint`` from ``source`` as tiles in ``out_dir``.

    ``source`` is a :class:`~noc_ledger.ledger.ledger.Ledger`, a store, or one reader of a
    store; ``checkpoint`` a signed checkpoint note of that log, verbatim (cosignatures
    included); ``log_key`` the log's verifier (its key name is the origin): when given, the
    note's log signature is verified before anything else. Without it, the checkpoint is
    accepted as this log's only if its root is the store's root at its size (rule 1).

    Raises:
        DecodeError: ``checkpoint`` is not a checkpoint note.
        SignatureError: with ``log_key``, the log signature does not verify.
        OutOfRangeError: the checkpoint is larger than the store's log.
        InconsistencyError: the checkpoint's root is not the store's root at its size, or
            ``out_dir`` already publishes a larger checkpoint, or one of the same size
            with another root (rollback or fork): nothing is written.
        StorageError: ``out_dir`` publishes another origin, holds a full tile that differs
            from the log's, or a file cannot be written (an OSError, translated); the
            store failed.
    """
    out = Path(out_dir)
    # Rule 1: verify the signature over the exact bytes before reading what they say.
    if log_key is not None:
        cp = open_checkpoint(checkpoint, origin=log_key.name, log_key=log_key).checkpoint
    else:
        cp = decode_checkpoint_note(checkpoint)
    try:
        with _reader_of(source) as reader:
            return _export(reader, out, cp, checkpoint, progress)
    except OSError as exc:
        raise StorageError(f"cannot write tiles to {out}: {exc.strerror or exc}") from None


def _export(
    reader: Reader, out: Path, cp: Checkpoint, note: bytes, progress: Progress | None
) -> ExportReport:
    size = cp.size
    if size > reader.size():
        raise OutOfRangeError(f"checkpoint size {size} is beyond the log's {reader.size()}")
    root = merkle.root_from_reader(size, reader)
    if root != cp.root:
        raise InconsistencyError(
            f"checkpoint of size {size} has root {cp.root.hex()}, the log {root.hex()}",
            second=note,
        )
    previous = _published(out, cp.origin)
    previous_size = 0
    if previous is not None:
        old, old_note = previous
        # Rule 4: never move the published tree backwards or sideways.
        if old.size > size:
            raise InconsistencyError(
                f"{out} already publishes size {old.size}; refusing size {size} (rollback)",
                first=old_note,
                second=note,
            )
        if old.root != merkle.root_from_reader(old.size, reader):
            raise InconsistencyError(
                f"{out} publishes a tree of size {old.size} that is not this log's",
                first=old_note,
                second=note,
            )
        previous_size = old.size
    # Rule 3: the resources of the new tree that the published one lacks, generated (once
    # more to count them for progress) rather than listed, so that memory does not grow
    # with the log (bench/README.md: the list cost 7.8 MiB at 10 M entries).
    total = sum(1 for _ in _new_resources(size, previous_size)) + 1
    tiles_written = bundles_written = bytes_written = 0
    directories: set[Path] = set()
    for done, tile in enumerate(_new_resources(size, previous_size)):
        data = _contents(reader, tile)
        path = out / tile_path(tile)
        if not tile.is_partial:
            existing = _read_existing(path, len(data))
            if existing is not None:
                # A crashed earlier run wrote it (atomically): it must be the same bytes.
                if existing != data:
                    raise StorageError(f"{path} exists and differs from the log's tile")
                if progress is not None:
                    progress(done + 1, total)
                continue
        _write_atomic(path, data)
        directories.add(path.parent)
        bytes_written += len(data)
        if tile.is_entries:
            bundles_written += 1
        else:
            tiles_written += 1
        if progress is not None:
            progress(done + 1, total)
    # Rule 2: every renamed tile is durable before the checkpoint that needs it appears.
    # A new directory's own entry lives in its parent: sync the ancestors too, deepest first.
    to_sync = {
        out / p for d in directories for p in (d.relative_to(out), *d.relative_to(out).parents)
    }
    for directory in sorted(to_sync, key=lambda p: len(p.parts), reverse=True):
        _fsync_dir(directory)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / CHECKPOINT_PATH, note)
    _fsync_dir(out)
    bytes_written += len(note)
    if progress is not None:
        progress(total, total)
    removed = _remove_superseded(out, _new_resources(size, previous_size))
    return ExportReport(
        size=size,
        previous_size=previous_size,
        tiles_written=tiles_written,
        bundles_written=bundles_written,
        bytes_written=bytes_written,
        partials_removed=removed,
    )


def _contents(reader: Reader, tile: Tile) -> bytes:
    if tile.is_entries:
        return encode_entry_bundle(reader.read_entries(tile.start, tile.end))
    return read_hash_tile(reader, tile)


def _new_resources(size: int, previous: int) -> Iterator[Tile]:
    """Rule 3: the resources of the tree of ``size`` that the published tree of
    ``previous`` lacks, in the order of :func:`noc_ledger.tiles.resources_for_size`."""
    return itertools.chain(
        bundles_for_size(size, after=previous), hash_tiles_for_size(size, after=previous)
    )


def _remove_superseded(out: Path, written: Iterable[Tile]) -> int:
    """Rule 5: delete ``<N>.p/`` beside every full tile just published."""
    removed = 0
    for tile in written:
        if tile.is_partial:
            continue
        partials = out / (tile_path(tile) + ".p")
        if partials.is_dir() and not partials.is_symlink():
            removed += sum(1 for _ in partials.iterdir())
            shutil.rmtree(partials, ignore_errors=True)
    return removed
