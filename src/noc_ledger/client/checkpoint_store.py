"""A verifier's checkpoint store in a directory: one file per log origin, safe between
processes (spec/verification.md §5.1; the interface is :class:`noc_ledger.splitview.
CheckpointStore`).

Layout, for an origin ``o`` with ``h`` = lowercase hex of SHA-256 of ``o`` in UTF-8:

* ``<h>.checkpoint`` — the newest accepted checkpoint note of ``o``, byte for byte;
* ``<h>.lock`` — an empty file, locked (``flock``, exclusive) by every compare-and-set.

The file name is a hash so that no origin — whatever characters it holds — can name a path
outside the directory or collide with another origin's file on a case-insensitive file
system. The origin is also the note's first line, so a file moved to another origin's name
is detected when read.

How the store's rules are met:

* **Atomic replacement.** A new note is written to a temporary file in the same directory,
  flushed and ``fsync``'d, then renamed over the old one (``os.replace``, atomic on POSIX),
  and the directory is ``fsync``'d so that the rename itself survives a crash. A reader sees
  the old note or the new one, never a mixture; readers take no lock.
* **Compare-and-set.** The read of the current note, the comparison and the rename happen
  under an exclusive ``flock`` of the origin's lock file. ``flock`` locks belong to an open
  file description and every call opens its own, so two processes — or two threads of one
  process — cannot both advance from the same old note.
* **Errors.** Every ``OSError``, and a file that is not a checkpoint note of its origin,
  becomes a :class:`~noc_ledger.errors.StorageError`: the store fails closed and is never
  silently reset (a verifier that forgot its newest checkpoint would accept a rollback).

POSIX only (``fcntl``). The directory must be on a local file system: ``flock`` over NFS is
not dependable.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Final

from noc_ledger.checkpoint import decode_checkpoint_note
from noc_ledger.errors import DecodeError, StorageError
from noc_ledger.note import MAX_NOTE_SIZE, check_key_name

__all__ = ["FileCheckpointStore"]

_NOTE_SUFFIX: Final = ".checkpoint"
_LOCK_SUFFIX: Final = ".lock"


def _file_stem(origin: object) -> str:
    if not isinstance(origin, str):
        raise StorageError("an origin is a string")
    try:
        check_key_name(origin)
    except DecodeError as exc:
        raise StorageError(f"not an origin: {exc}") from None
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def _check_note(data: bytes, origin: str, what: str) -> bytes:
    """``data`` is a checkpoint note of ``origin`` (its signature is the caller's to check:
    :func:`noc_ledger.splitview.observe_checkpoint` re-verifies every note it reads)."""
    if len(data) > MAX_NOTE_SIZE:
        raise StorageError(f"{what} for {origin} exceeds {MAX_NOTE_SIZE} bytes")
    try:
        checkpoint = decode_checkpoint_note(data)
    except DecodeError as exc:
        raise StorageError(f"{what} for {origin} is not a checkpoint note: {exc}") from None
    if checkpoint.origin != origin:
        raise StorageError(f"{what} for {origin} is a checkpoint of {checkpoint.origin}")
    return data


class FileCheckpointStore:
    """A :class:`noc_ledger.splitview.CheckpointStore` in ``directory`` (created, mode 0700,
    if missing). Several instances, in several processes, may share one directory.

    Raises (on construction):
        StorageError: the directory cannot be created or is not a directory.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._dir = Path(directory)
        try:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"checkpoint store {self._dir}: {exc}") from None
        if not self._dir.is_dir():
            raise StorageError(f"checkpoint store {self._dir}: not a directory")

    @property
    def directory(self) -> Path:
        return self._dir

    def path_for(self, origin: str) -> Path:
        """The file holding ``origin``'s newest checkpoint (which may not exist yet).

        Raises:
            StorageError: ``origin`` is not a valid origin (a key name, spec/checkpoint.md
                §2.1).
        """
        return self._dir / (_file_stem(origin) + _NOTE_SUFFIX)

    def _read(self, path: Path, origin: str) -> bytes | None:
        try:
            with path.open("rb") as f:
                # One byte over the limit is enough to tell an oversized file.
                data = f.read(MAX_NOTE_SIZE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"checkpoint store {path}: {exc}") from None
        return _check_note(data, origin, f"stored checkpoint {path.name}")

    def latest(self, origin: str) -> bytes | None:
        """The note stored for ``origin``, or ``None`` if there is none.

        Raises:
            StorageError: ``origin`` is not a valid origin; the file cannot be read; or it
                is not a checkpoint note of ``origin`` (damaged, truncated, or moved).
        """
        return self._read(self.path_for(origin), origin)

    def compare_and_set(self, origin: str, expected: bytes | None, new: bytes) -> bool:
        """If the note stored for ``origin`` is ``expected`` (``None``: there is none),
        durably replace it with ``new`` and return ``True``; otherwise return ``False``.

        Raises:
            StorageError: ``origin`` is not a valid origin; ``expected`` is not bytes or
                ``None``; ``new`` is not a checkpoint note of ``origin``; the current file is
                damaged; or the file system failed (before the rename, the stored note is
                unchanged; after it, only the directory's fsync failed and either note may
                survive a crash).
        """
        stem = _file_stem(origin)
        if expected is not None and not isinstance(expected, bytes):
            raise StorageError("expected is a note (bytes) or None")
        if not isinstance(new, bytes):
            raise StorageError("a stored note is bytes")
        _check_note(new, origin, "new checkpoint")
        path = self._dir / (stem + _NOTE_SUFFIX)
        try:
            lock = os.open(
                self._dir / (stem + _LOCK_SUFFIX), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            raise StorageError(f"checkpoint store {self._dir}: lock: {exc}") from None
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
            except OSError as exc:
                raise StorageError(f"checkpoint store {self._dir}: lock: {exc}") from None
            if self._read(path, origin) != expected:
                return False
            self._replace(path, stem, new)
            return True
        finally:
            # Closing the descriptor releases the lock.
            os.close(lock)

    def _replace(self, path: Path, stem: str, data: bytes) -> None:
        """Write-temp, fsync, rename, fsync the directory (module docstring)."""
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=self._dir)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            tmp = None
            directory = os.open(self._dir, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            raise StorageError(f"checkpoint store {path}: write: {exc}") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
