"""spec/verification.md §5: split views and rollbacks, caught by the verifier's checkpoint
store — with checkpoints, proofs and bundles from real ledgers, and the file store shared by
processes."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from noc_ledger import signing
from noc_ledger.checkpoint import Checkpoint, cosign, decode_checkpoint_note, sign_checkpoint
from noc_ledger.client import FileCheckpointStore
from noc_ledger.errors import (
    ConsistencyError,
    DecodeError,
    InconsistencyError,
    QuorumError,
    SignatureError,
    StaleError,
    StorageError,
)
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.note import Verifier
from noc_ledger.policy import RootKey, TrustPolicy, make_policy
from noc_ledger.splitview import (
    CheckpointStore,
    MemoryCheckpointStore,
    Observation,
    Relation,
    observe_bundle,
    observe_checkpoint,
)
from tests.ledger_story import AUTHORITY, ISSUER, LOG, ORIGIN, ROOT, ROOT_SCOPE, delegation, noc
from tools.gen_vectors import DAY, T0

SRC = Path(__file__).resolve().parent.parent / "src"
LOG_KEY = Verifier.for_key(ORIGIN, LOG.public_key)
WITNESS = signing.Ed25519Signer(hashlib.sha256(b"splitview: witness").digest())
WITNESS_KEY = Verifier.for_key("witness.example", WITNESS.public_key, sig_type=0x04)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def make_ledger(numbers: list[int]) -> Ledger:
    """A log of one delegation and a NOC per number, one checkpoint per entry, a minute
    apart: sizes 1 … len(numbers) + 1."""
    clock = Clock()
    ledger = Ledger(MemoryStore(), origin=ORIGIN, authority=AUTHORITY, log_signer=LOG, clock=clock)
    ledger.record_key_event(delegation(ISSUER), ROOT)
    for n in numbers:
        clock.now += 60
        ledger.issue(noc(n), ISSUER)
    return ledger


@pytest.fixture(scope="module")
def main() -> Ledger:
    return make_ledger([1, 2, 3, 4, 5])


@pytest.fixture(scope="module")
def fork() -> Ledger:
    # Same origin, same log key, same first two entries; different entries from index 2 on:
    # what a log shows a victim it has split off from everyone else.
    return make_ledger([1, 901, 902, 903, 904])


def observe(
    store: CheckpointStore, note: bytes, proof: list[bytes] | None = None, **kw: object
) -> Observation:
    return observe_checkpoint(
        store,
        note,
        origin=ORIGIN,
        log_key=LOG_KEY,
        consistency_proof=proof,
        **kw,  # type: ignore[arg-type]
    )


def resign(note: bytes, **changes: object) -> bytes:
    """The log's signature over a changed checkpoint: what a misbehaving log can sign."""
    cp = dataclasses.replace(decode_checkpoint_note(note), **changes)  # type: ignore[arg-type]
    return sign_checkpoint(cp, LOG)


STORES: list[Callable[[Path], CheckpointStore]] = [
    lambda _p: MemoryCheckpointStore(),
    lambda p: FileCheckpointStore(p / "state"),
]
store_kinds = pytest.mark.parametrize("make_store", STORES, ids=["memory", "file"])


# ---------------------------------------------------------------------------------------
# §5.2: observing checkpoints


def test_the_fixtures_are_what_the_tests_need(main: Ledger, fork: Ledger) -> None:
    assert main.size() == fork.size() == 6
    assert decode_checkpoint_note(main.checkpoint_at(2)).root == (
        decode_checkpoint_note(fork.checkpoint_at(2)).root
    )
    for size in range(3, 7):
        assert decode_checkpoint_note(main.checkpoint_at(size)).root != (
            decode_checkpoint_note(fork.checkpoint_at(size)).root
        )


@store_kinds
def test_forward_with_proofs(
    main: Ledger, tmp_path: Path, make_store: Callable[[Path], CheckpointStore]
) -> None:
    store = make_store(tmp_path)
    assert store.latest(ORIGIN) is None
    first = observe(store, main.checkpoint_at(2))
    assert first.relation is Relation.FIRST and first.stored and first.is_latest
    assert store.latest(ORIGIN) == main.checkpoint_at(2)
    for old, new in ((2, 4), (4, 5), (5, 6)):
        seen = observe(store, main.checkpoint_at(new), main.prove_consistency(old, new))
        assert seen.relation is Relation.NEWER and seen.stored and seen.is_latest
        assert seen.checkpoint.size == seen.latest.size == new
        assert store.latest(ORIGIN) == main.checkpoint_at(new)
    # Seeing the newest again changes nothing.
    again = observe(store, main.checkpoint_at(6))
    assert again.relation is Relation.SAME and not again.stored and again.is_latest


def test_forward_without_a_proof_asks_for_one(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(2))
    with pytest.raises(ConsistencyError, match="proof from size 2 to 4 is required") as caught:
        observe(store, main.checkpoint_at(4))
    assert not isinstance(caught.value, InconsistencyError)
    assert store.latest(ORIGIN) == main.checkpoint_at(2)


def test_forward_with_a_wrong_proof_is_evidence(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(2))
    proof = main.prove_consistency(2, 4)
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    for bad in (proof, main.prove_consistency(3, 4), []):
        with pytest.raises(InconsistencyError) as caught:
            observe(store, main.checkpoint_at(4), bad)
        assert caught.value.first == main.checkpoint_at(2)
        assert caught.value.second == main.checkpoint_at(4)
    assert store.latest(ORIGIN) == main.checkpoint_at(2)


def test_a_proof_for_another_stored_size_is_set_aside(main: Ledger) -> None:
    # The caller fetched a proof from size 3, but the store holds size 2 (another process
    # moved it, say): the proof is not checked against checkpoints it was not made for.
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(2))
    with pytest.raises(ConsistencyError, match="is required") as caught:
        observe(store, main.checkpoint_at(4), main.prove_consistency(3, 4), stored_size=3)
    assert not isinstance(caught.value, InconsistencyError)
    seen = observe(store, main.checkpoint_at(4), main.prove_consistency(2, 4), stored_size=2)
    assert seen.relation is Relation.NEWER
    with pytest.raises(ConsistencyError):
        observe(store, main.checkpoint_at(5), main.prove_consistency(4, 5), stored_size=-1)


def test_a_proof_where_none_applies_is_refused(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    proof = main.prove_consistency(2, 4)
    with pytest.raises(ConsistencyError, match="nothing has been seen"):
        observe(store, main.checkpoint_at(4), proof)
    observe(store, main.checkpoint_at(4))
    with pytest.raises(ConsistencyError, match="sizes are equal"):
        observe(store, main.checkpoint_at(4), proof)
    assert observe(store, main.checkpoint_at(4), []).relation is Relation.SAME
    with pytest.raises(ConsistencyError, match="sequence"):
        observe(store, main.checkpoint_at(5), b"\x00" * 32)  # type: ignore[arg-type]


def test_split_view_same_size_different_root(main: Ledger, fork: Ledger) -> None:
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(4))
    with pytest.raises(InconsistencyError, match="different roots") as caught:
        observe(store, fork.checkpoint_at(4))
    assert caught.value.first == main.checkpoint_at(4)
    assert caught.value.second == fork.checkpoint_at(4)
    # Both pieces of evidence are the log's signed notes, checkable by anyone.
    for note in (caught.value.first, caught.value.second):
        observe(MemoryCheckpointStore(), note)
    assert store.latest(ORIGIN) == main.checkpoint_at(4)


def test_same_size_different_status_root(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(4))
    other = resign(main.checkpoint_at(4), status_root=b"\x07" * 32)
    with pytest.raises(InconsistencyError, match="status roots") as caught:
        observe(store, other)
    assert (caught.value.first, caught.value.second) == (main.checkpoint_at(4), other)


def test_same_tree_resigned(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    note = main.checkpoint_at(4)
    cp = decode_checkpoint_note(note)
    observe(store, note)
    later = resign(note, time=cp.time + 3600)
    seen = observe(store, later)
    assert seen.relation is Relation.SAME and seen.stored and seen.latest.time == cp.time + 3600
    # The fresher one is kept: an earlier signing of the same tree is consistent, not newest.
    earlier = observe(store, note)
    assert earlier.relation is Relation.SAME and not earlier.stored and earlier.is_latest
    assert earlier.latest_note == later and store.latest(ORIGIN) == later
    # Cosignatures do not change the tree either.
    cosigned = cosign(later, "witness.example", WITNESS, time=T0)
    assert observe(store, cosigned).relation is Relation.SAME


def test_forked_log_larger_size(main: Ledger, fork: Ledger) -> None:
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(3))
    # Neither the fork's own proof nor the honest log's proves the fork extends size 3.
    for proof in (fork.prove_consistency(3, 5), main.prove_consistency(3, 5)):
        with pytest.raises(InconsistencyError) as caught:
            observe(store, fork.checkpoint_at(5), proof)
        assert caught.value.first == main.checkpoint_at(3)
        assert caught.value.second == fork.checkpoint_at(5)
    # The fork shares the first two entries: from size 2 it does extend what was seen.
    shared = MemoryCheckpointStore()
    observe(shared, main.checkpoint_at(2))
    seen = observe(shared, fork.checkpoint_at(5), fork.prove_consistency(2, 5))
    assert seen.relation is Relation.NEWER
    # ... and from then on the honest log is the one that looks forked.
    with pytest.raises(InconsistencyError):
        observe(shared, main.checkpoint_at(6), main.prove_consistency(5, 6))


def test_size_and_time_must_grow_together(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(3))
    t3 = decode_checkpoint_note(main.checkpoint_at(3)).time
    # A larger tree signed before the smaller one: no signing order makes both honest, even
    # though the tree itself extends (the proof is valid).
    backdated = resign(main.checkpoint_at(5), time=t3 - 1)
    with pytest.raises(InconsistencyError, match="earlier than") as caught:
        observe(store, backdated, main.prove_consistency(3, 5))
    assert caught.value.second == backdated
    # A smaller tree signed after the larger one.
    postdated = resign(main.checkpoint_at(2), time=t3 + 1)
    with pytest.raises(InconsistencyError, match="later than"):
        observe(store, postdated, main.prove_consistency(2, 3), accept_older=True)


def test_rolled_back_checkpoint(main: Ledger, fork: Ledger) -> None:
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(5))
    old = main.checkpoint_at(3)
    # Default: can't tell — its status may have been superseded by entries 3 and 4.
    with pytest.raises(StaleError, match="older than the newest seen"):
        observe(store, old)
    with pytest.raises(StaleError):
        observe(store, old, main.prove_consistency(3, 5))
    # Accepted for what it proves as of its time, once proven a prefix; never stored.
    with pytest.raises(ConsistencyError, match="proof from size 3 to 5 is required") as caught:
        observe(store, old, accept_older=True)
    assert not isinstance(caught.value, InconsistencyError)
    seen = observe(store, old, main.prove_consistency(3, 5), accept_older=True)
    assert seen.relation is Relation.OLDER and not seen.is_latest and not seen.stored
    assert seen.checkpoint.size == 3 and seen.latest.size == 5
    assert seen.latest_note == store.latest(ORIGIN) == main.checkpoint_at(5)
    # An older checkpoint that is *not* a prefix is evidence, whatever accept_older says.
    for accept_older in (False, True):
        with pytest.raises(InconsistencyError) as caught2:
            observe(
                store,
                fork.checkpoint_at(3),
                main.prove_consistency(3, 5),
                accept_older=accept_older,
            )
        assert caught2.value.first == main.checkpoint_at(5)
        assert caught2.value.second == fork.checkpoint_at(3)
    assert store.latest(ORIGIN) == main.checkpoint_at(5)


def test_the_empty_tree(main: Ledger) -> None:
    empty = resign(main.checkpoint_at(1), size=0, root=hashlib.sha256(b"").digest())
    empty = resign(empty, time=T0 - 1)
    store = MemoryCheckpointStore()
    observe(store, empty)
    # Every tree extends the empty tree: no proof needed (and none accepted).
    with pytest.raises(ConsistencyError, match="empty tree"):
        observe(store, main.checkpoint_at(2), main.prove_consistency(1, 2))
    assert observe(store, main.checkpoint_at(2)).relation is Relation.NEWER
    assert observe(store, empty, accept_older=True).relation is Relation.OLDER


def test_signature_and_origin_come_first(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    observe(store, main.checkpoint_at(2))
    other_log = signing.Ed25519Signer(hashlib.sha256(b"splitview: other log").digest())
    forged = sign_checkpoint(decode_checkpoint_note(main.checkpoint_at(4)), other_log)
    with pytest.raises(SignatureError):
        observe(store, forged, main.prove_consistency(2, 4))
    with pytest.raises(DecodeError):
        observe(store, b"not a note")
    with pytest.raises(SignatureError):
        observe_checkpoint(
            store,
            main.checkpoint_at(4),
            origin="other.example",
            log_key=LOG_KEY,
            consistency_proof=None,
        )
    assert store.latest(ORIGIN) == main.checkpoint_at(2)


def test_a_stored_note_that_does_not_verify_is_a_storage_error(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    other_log = signing.Ed25519Signer(hashlib.sha256(b"splitview: other log").digest())
    assert store.compare_and_set(
        ORIGIN, None, sign_checkpoint(decode_checkpoint_note(main.checkpoint_at(2)), other_log)
    )
    with pytest.raises(StorageError, match="does not verify"):
        observe(store, main.checkpoint_at(2))
    garbage = MemoryCheckpointStore()
    garbage.compare_and_set(ORIGIN, None, b"garbage")
    with pytest.raises(StorageError):
        observe(garbage, main.checkpoint_at(2))


class RacingStore(MemoryCheckpointStore):
    """Another writer advances the store just before each of our compare-and-sets."""

    def __init__(self, interleave: list[bytes]) -> None:
        super().__init__()
        self._interleave = interleave

    def compare_and_set(self, origin: str, expected: bytes | None, new: bytes) -> bool:
        if self._interleave:
            current = self.latest(origin)
            assert super().compare_and_set(origin, current, self._interleave.pop(0))
        return super().compare_and_set(origin, expected, new)


def test_losing_a_compare_and_set_decides_again(main: Ledger) -> None:
    # Lost to a writer that stored the same tree: done, nothing to write.
    store = RacingStore([main.checkpoint_at(4)])
    store._notes[ORIGIN] = main.checkpoint_at(2)
    seen = observe(store, main.checkpoint_at(4), main.prove_consistency(2, 4))
    assert seen.relation is Relation.SAME and store.latest(ORIGIN) == main.checkpoint_at(4)
    # Lost to a writer that stored size 3: the proof from 2 no longer applies and is set
    # aside — a request for a new proof, not a false accusation.
    store = RacingStore([main.checkpoint_at(3)])
    store._notes[ORIGIN] = main.checkpoint_at(2)
    with pytest.raises(ConsistencyError, match="from size 3 to 4 is required") as caught:
        observe(store, main.checkpoint_at(4), main.prove_consistency(2, 4))
    assert not isinstance(caught.value, InconsistencyError)
    # Lost forever: give up with a StorageError.
    notes = [resign(main.checkpoint_at(2), time=T0 + 1000 + i) for i in range(40)]
    store = RacingStore(notes[1:])
    store._notes[ORIGIN] = notes[0]
    with pytest.raises(StorageError, match="kept changing"):
        observe(store, resign(main.checkpoint_at(2), time=T0 + 5000))


# ---------------------------------------------------------------------------------------
# §5.4: bundles


def policy(**changes: object) -> TrustPolicy:
    args: dict[str, object] = {
        "roots": [RootKey(ROOT.public_key, ROOT_SCOPE)],
        "logs": [LOG_KEY],
        "quorum": None,
        "max_status_age": 2 * DAY,
    }
    args.update(changes)
    return make_policy(**args)  # type: ignore[arg-type]


def test_observe_bundle(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    cert_id = noc(2).id
    first = observe_bundle(store, main.bundle(cert_id, size=4), policy())
    assert first.relation is Relation.FIRST and first.checkpoint.size == 4
    seen = observe_bundle(store, main.bundle(cert_id), policy(), main.prove_consistency(4, 6))
    assert seen.relation is Relation.NEWER and seen.latest.size == 6
    # A bundle made before the newest checkpoint seen: a rolled-back view of the status.
    with pytest.raises(StaleError):
        observe_bundle(store, main.bundle(cert_id, size=4), policy())
    older = observe_bundle(
        store,
        main.bundle(cert_id, size=4),
        policy(),
        main.prove_consistency(4, 6),
        accept_older=True,
    )
    assert not older.is_latest and older.latest.size == 6
    with pytest.raises(InconsistencyError):
        observe_bundle(store, main.bundle(cert_id, size=5), policy(), main.prove_consistency(4, 6))


def test_observe_bundle_checks_the_policy_first(main: Ledger) -> None:
    store = MemoryCheckpointStore()
    bundle = main.bundle(noc(1).id)
    other = Verifier.for_key("other.example/log", LOG.public_key)
    with pytest.raises(SignatureError, match="not a log of the trust policy"):
        observe_bundle(store, bundle, policy(logs=[other]))
    witnessed = policy(witnesses=[WITNESS_KEY], quorum="witness.example")
    # Without the witness's cosignature the checkpoint is refused and never stored.
    with pytest.raises(QuorumError):
        observe_bundle(store, bundle, witnessed)
    assert store.latest(ORIGIN) is None
    with pytest.raises(DecodeError):
        observe_bundle(store, b"\xa0", policy())


# ---------------------------------------------------------------------------------------
# §5.1: the stores


@store_kinds
def test_store_contract(
    main: Ledger, tmp_path: Path, make_store: Callable[[Path], CheckpointStore]
) -> None:
    store = make_store(tmp_path)
    a, b, c = main.checkpoint_at(2), main.checkpoint_at(3), main.checkpoint_at(4)
    assert isinstance(store, CheckpointStore)
    assert store.latest(ORIGIN) is None
    assert not store.compare_and_set(ORIGIN, a, b)
    assert store.compare_and_set(ORIGIN, None, a)
    assert not store.compare_and_set(ORIGIN, None, b)
    assert not store.compare_and_set(ORIGIN, c, b)
    assert store.compare_and_set(ORIGIN, a, b)
    assert store.latest(ORIGIN) == b
    assert store.latest("other.example") is None
    with pytest.raises(StorageError):
        store.compare_and_set(ORIGIN, "text", c)  # type: ignore[arg-type]
    with pytest.raises(StorageError):
        store.compare_and_set(ORIGIN, b, None)  # type: ignore[arg-type]
    assert store.latest(ORIGIN) == b


def test_file_store_persists_across_instances(main: Ledger, tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    first = FileCheckpointStore(directory)
    observe(first, main.checkpoint_at(2))
    observe(first, main.checkpoint_at(4), main.prove_consistency(2, 4))
    name = hashlib.sha256(ORIGIN.encode()).hexdigest() + ".checkpoint"
    assert first.path_for(ORIGIN) == directory / name
    assert (directory / name).read_bytes() == main.checkpoint_at(4)
    # No temporary file is left behind.
    assert sorted(p.name for p in directory.iterdir()) == sorted([name, name[:-11] + ".lock"])
    second = FileCheckpointStore(directory)
    assert second.latest(ORIGIN) == main.checkpoint_at(4)
    with pytest.raises(StaleError):
        observe(second, main.checkpoint_at(3))
    with pytest.raises(ConsistencyError):
        observe(second, main.checkpoint_at(6))


def test_file_store_refuses_what_it_could_not_read_back(main: Ledger, tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    with pytest.raises(StorageError, match="not a checkpoint note"):
        store.compare_and_set(ORIGIN, None, b"garbage")
    with pytest.raises(StorageError, match="is a checkpoint of"):
        store.compare_and_set("other.example", None, main.checkpoint_at(2))
    with pytest.raises(StorageError, match="not an origin"):
        store.latest("two words")
    with pytest.raises(StorageError):
        store.latest(b"bytes")  # type: ignore[arg-type]
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(StorageError, match="file"):
        FileCheckpointStore(file)
    with pytest.raises(StorageError):
        FileCheckpointStore(file / "below")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-5],
        lambda data: data[:10],
        lambda data: b"",
        lambda data: data.replace(b"\n\n", b"\n"),
        lambda data: b"\xff" + data,
    ],
    ids=["truncated", "torn", "empty", "no-separator", "not-utf8"],
)
def test_corrupted_file_is_a_storage_error(
    main: Ledger, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    store = FileCheckpointStore(tmp_path)
    observe(store, main.checkpoint_at(2))
    path = store.path_for(ORIGIN)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(StorageError):
        store.latest(ORIGIN)
    with pytest.raises(StorageError):
        observe(store, main.checkpoint_at(3), main.prove_consistency(2, 3))
    with pytest.raises(StorageError):
        store.compare_and_set(ORIGIN, None, main.checkpoint_at(3))
    # The store fails closed: it is not reset behind the verifier's back.
    assert path.read_bytes() == damage(main.checkpoint_at(2))


def test_a_file_with_a_valid_note_but_a_bad_signature(main: Ledger, tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    observe(store, main.checkpoint_at(2))
    path = store.path_for(ORIGIN)
    data = path.read_bytes()
    # Flip the tree size in the signed text: still a checkpoint note, no longer the log's.
    path.write_bytes(data.replace(b"\n2\n", b"\n3\n", 1))
    assert store.latest(ORIGIN) != data
    with pytest.raises(StorageError, match="does not verify"):
        observe(store, main.checkpoint_at(3), main.prove_consistency(2, 3))


def test_file_store_oversized_file(tmp_path: Path, main: Ledger) -> None:
    store = FileCheckpointStore(tmp_path)
    store.path_for(ORIGIN).write_bytes(main.checkpoint_at(2) + b"\x00" * (1 << 20))
    with pytest.raises(StorageError, match="exceeds"):
        store.latest(ORIGIN)


_WORKER = r"""
import hashlib, os, sys, time
from pathlib import Path
from noc_ledger import signing
from noc_ledger.checkpoint import Checkpoint, decode_checkpoint_note, sign_checkpoint
from noc_ledger.client import FileCheckpointStore

directory, origin, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
signer = signing.Ed25519Signer(hashlib.sha256(b"splitview: counter log").digest())
store = FileCheckpointStore(directory)
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.005)
won, lost = [], 0
while len(won) < count:
    current = store.latest(origin)
    size = 0 if current is None else decode_checkpoint_note(current).size
    new = sign_checkpoint(
        Checkpoint(origin, size + 1, hashlib.sha256(str(size + 1).encode()).digest(),
                   size + 1, b"\x00" * 32),
        signer,
    )
    if store.compare_and_set(origin, current, new):
        won.append(size + 1)
    else:
        lost += 1
print(lost, *won)
"""


def test_file_store_compare_and_set_between_processes(tmp_path: Path) -> None:
    # Each worker advances a counter by read, compute, compare-and-set. If two processes
    # could both advance from the same old value, some size would be won twice and the
    # final size would fall short of the number of wins.
    directory, go = tmp_path / "state", tmp_path / "go"
    origin, workers, count = "counter.example", 4, 40
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(directory), origin, str(count), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    # Start them together, once all are up, so that they really contend.
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < workers and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    won: list[int] = []
    lost = 0
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        first, *rest = (int(x) for x in out.split())
        lost += first
        won += rest
    assert sorted(won) == list(range(1, workers * count + 1))
    final = FileCheckpointStore(directory).latest(origin)
    assert final is not None and decode_checkpoint_note(final).size == workers * count
    # The test means something only if the workers really contended.
    assert lost > 0
    assert not [p for p in directory.iterdir() if p.suffix == ".tmp"]


def test_checkpoint_values_are_checked_by_the_model() -> None:
    # The worker above builds checkpoints the same way; make sure that way is valid.
    cp = Checkpoint("counter.example", 1, b"\x01" * 32, 1, b"\x00" * 32)
    assert decode_checkpoint_note(sign_checkpoint(cp, LOG)) == cp
