"""Run the audit of spec/audit.md against a published log, with a durable state directory.

The pure steps are :mod:`noc_ledger.audit`; this module fetches (through a log source: a
tiles directory or an HTTP base URL, spec/tiles.md), persists and reports.

State directory layout (spec/audit.md §6):

* ``audit.sqlite`` — the state (spec/audit.md §2) in a SQLite database
  (:class:`~noc_ledger.client.audit_store.SqliteAuditStore`): the header row, the records,
  the status map's nodes and the key events. Each chunk of entries is one transaction, so
  an interrupted audit resumes at the last chunk committed (after a power loss, possibly an
  earlier one: chunk commits are not flushed one by one, but every change of the audited or
  target checkpoint is, with all commits before it). The
  audited checkpoint only ever advances after :func:`~noc_ledger.audit.finish` accepted the
  whole range: a chunk's progress is stored as progress *towards* a target, never as
  audited. A version 1 ``state.cbor`` is refused (start a new state directory).
* ``state.lock`` — locked (``flock``, exclusive) for the whole run: one auditor per
  directory at a time.
* ``fork-<h>.first.checkpoint`` and ``fork-<h>.second.checkpoint`` — on an
  :class:`~noc_ledger.errors.InconsistencyError`, the two signed notes verbatim (``h``: the
  first 16 hex digits of SHA-256 of both), written before the error is raised again.

Without a state directory the same database lives in a temporary directory, deleted at
the end of the run: memory stays bounded by the chunk however long the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from noc_ledger import audit, merkle
from noc_ledger.audit import AuditState
from noc_ledger.client.audit_store import SqliteAuditStore
from noc_ledger.errors import FetchError, InconsistencyError, StorageError
from noc_ledger.policy import TrustPolicy

__all__ = ["AuditResult", "Auditor", "LogReader", "fork_evidence_paths", "run_audit"]

STATE_DB: Final = "audit.sqlite"
#: spec/audit.md §6: the version 1 state file, refused.
LEGACY_STATE_FILE: Final = "state.cbor"
LOCK_FILE: Final = "state.lock"
#: Entries per fetch and per transaction: eight full entry bundles (c2sp.org/tlog-tiles).
#: Larger chunks rewrite the top of the status map less often and commit fewer times; the
#: entries of one chunk (at most 8 x 256 x 64 KiB) are the memory it costs.
DEFAULT_CHUNK: Final = 2048

#: ``progress(done, total)``: entries replayed so far in this run, and how many it needs.
Progress = Callable[[int, int], None]


class LogReader(Protocol):
    """What the auditor needs of a log source (``noc_ledger.client.source.LogSource``)."""

    location: str

    def read_checkpoint(self) -> bytes: ...

    def read_entries(self, start: int, end: int, *, size: int) -> list[bytes]: ...

    def read_hashes(self, indexes: Sequence[int], *, size: int) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class AuditResult:
    """What one run did: ``entries`` replayed in this run, and the audited checkpoint."""

    entries: int
    state: AuditState
    previous_size: int

    @property
    def size(self) -> int:
        return self.state.size

    @property
    def root(self) -> bytes:
        return self.state.root

    @property
    def checkpoint(self) -> bytes:
        return self.state.checkpoint


class _Hashes:
    """merkle.HashReader over a source's hash tiles of a tree of ``size``."""

    def __init__(self, source: LogReader, size: int) -> None:
        self._source = source
        self._size = size

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return self._source.read_hashes(indexes, size=self._size)


def fork_evidence_paths(state_dir: Path, first: bytes, second: bytes) -> tuple[Path, Path]:
    """Where the evidence of one fork is written in ``state_dir``."""
    h = hashlib.sha256(len(first).to_bytes(8, "big") + first + second).hexdigest()[:16]
    return state_dir / f"fork-{h}.first.checkpoint", state_dir / f"fork-{h}.second.checkpoint"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


class Auditor:
    """Audit one log from ``source`` under ``policy``, keeping state in ``state_dir``
    (``None``: a temporary database, deleted after the run; nothing resumes).

    Args:
        source: where the log is published.
        policy: the auditor's trust: the log's key by origin, the authority roots, the
            witnesses and quorum.
        state_dir: the directory of the layout above (created if missing).
        chunk: entries per fetch and per transaction.
        progress: called after every chunk.
    """

    def __init__(
        self,
        source: LogReader,
        policy: TrustPolicy,
        *,
        state_dir: Path | None = None,
        chunk: int = DEFAULT_CHUNK,
        progress: Progress | None = None,
    ) -> None:
        if type(chunk) is not int or chunk < 1:
            raise ValueError("chunk is a positive int")
        self._source = source
        self._policy = policy
        self._dir = state_dir
        self._chunk = chunk
        self._progress = progress
        #: The step running, or that raised: "checkpoint", "fetch", "replay", "roots",
        #: "done" — tools tell an entry the rules refuse ("replay") from other errors.
        self.step = "checkpoint"

    # -- state -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _store(self) -> Iterator[SqliteAuditStore]:
        if self._dir is None:
            with tempfile.TemporaryDirectory(prefix="noc-ledger-audit-") as tmp:
                store = SqliteAuditStore(Path(tmp) / STATE_DB, source=self._source, durable=False)
                try:
                    yield store
                finally:
                    store.close()
            return
        if (self._dir / LEGACY_STATE_FILE).exists():
            raise StorageError(
                f"{self._dir} holds a version 1 audit state ({LEGACY_STATE_FILE}), which is no "
                "longer read: start a new state directory (spec/audit.md §6)"
            )
        store = SqliteAuditStore(self._dir / STATE_DB, source=self._source)
        try:
            yield store
        finally:
            store.close()

    @staticmethod
    def load(store: SqliteAuditStore) -> AuditState:
        """The state stored in ``store``, or the initial one if there is none.

        Raises:
            StorageError: the database failed, or its status map lacks the header's root.
            DecodeError: the header is not a valid state (spec/audit.md §2.2).
        """
        header = store.load_header()
        if header is None:
            return audit.initial_state(store)
        state = audit.decode_state(header, store=store)
        # A cheap check that header and tables belong together (spec/audit.md §6).
        if not store.holds_map_root(state.map_root):
            raise StorageError(f"{store.path}: the status map does not hold the header's root")
        return state

    @staticmethod
    def _commit(store: SqliteAuditStore, state: AuditState) -> None:
        store.put_header(audit.encode_state(state))

    def _evidence(self, exc: InconsistencyError) -> None:
        if self._dir is None or not exc.first or not exc.second:
            return
        first, second = fork_evidence_paths(self._dir, exc.first, exc.second)
        try:
            _write_atomic(first, exc.first)
            _write_atomic(second, exc.second)
        except OSError as err:
            raise StorageError(
                f"cannot write fork evidence ({exc}): {err.strerror or err}"
            ) from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._dir is None:
            yield
            return
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open {self._dir}: {exc.strerror or exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StorageError(f"another audit is running in {self._dir}") from None
            yield
        finally:
            os.close(fd)

    # -- the run -----------------------------------------------------------------------

    def run(self) -> AuditResult:
        """Finish any interrupted target, then audit the source's current checkpoint.

        Raises:
            InconsistencyError: a fork or rollback (evidence written first, see above).
            FetchError: the source could not be read.
            DecodeError, SignatureError, QuorumError, ScopeError, TransitionError,
            ModelError, InclusionError, StatusRootError: see :mod:`noc_ledger.audit`.
            StorageError: the state directory failed, or holds a version 1 state.
        """
        with self._locked(), self._store() as store:
            self.step = "checkpoint"
            state = self.load(store)
            previous = state.size
            start = state.position
            try:
                if state.target:
                    state = self._complete(store, state, start)
                self.step = "checkpoint"
                note = self._source.read_checkpoint()
                target = audit.open_target(self._policy, state, note)
                cp = target.checkpoint
                proof: list[bytes] = []
                if state.size > 0 and cp.size > state.size:
                    proof = merkle.prove_consistency(
                        state.size, cp.size, _Hashes(self._source, cp.size)
                    )
                begun = audit.begin(state, target, consistency_proof=proof)
                if begun.target:
                    with store.transaction():
                        self._commit(store, begun)
                    state = self._complete(store, begun, start)
                elif begun.checkpoint != state.checkpoint:
                    with store.transaction():
                        self._commit(store, begun)
                    state = begun
            except InconsistencyError as exc:
                self._evidence(exc)
                raise
            self.step = "done"
            return AuditResult(state.position - start, state, previous)

    def _complete(self, store: SqliteAuditStore, state: AuditState, start: int) -> AuditState:
        target = state.target_checkpoint
        assert target is not None
        total = target.size - start
        while state.position < target.size:
            end = min(state.position + self._chunk, target.size)
            self.step = "fetch"
            entries = self._source.read_entries(state.position, end, size=target.size)
            if len(entries) != end - state.position:
                raise FetchError(
                    f"{self._source.location} returned {len(entries)} entries for "
                    f"[{state.position}, {end})"
                )
            self.step = "replay"
            # One transaction per chunk (spec/audit.md §6): the records, the status map's
            # nodes and the header move together, or not at all. Not flushed: losing it
            # to a power cut only means replaying the chunk again.
            with store.transaction(flush=False):
                advanced = audit.advance(self._policy, state, entries)
                self.step = "fetch"
                self._commit(store, advanced)
            state = advanced
            del entries
            if self._progress is not None:
                self._progress(state.position - start, total)
        self.step = "roots"
        with store.transaction():
            finished = audit.finish(state)
            self._commit(store, finished)
        return finished


def run_audit(
    source: LogReader,
    policy: TrustPolicy,
    *,
    state_dir: Path | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> AuditResult:
    """``Auditor(...).run()`` in one call."""
    return Auditor(source, policy, state_dir=state_dir, chunk=chunk, progress=progress).run()
