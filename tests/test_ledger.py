"""The ledger (spec/events.md §5): receipts, rules on append, proofs, audit — on every
backend."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from noc_ledger import merkle, signing, statusmap
from noc_ledger.checkpoint import decode_checkpoint_note, open_checkpoint, sign_checkpoint
from noc_ledger.errors import ScopeError, SignatureError, StorageError, TransitionError
from noc_ledger.events import CertState, CertStatus, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.ledger.store import Store
from noc_ledger.model import sign_certificate
from noc_ledger.note import Verifier
from noc_ledger.scope import Grant, Scope, Territory
from tests.ledger_story import ISSUER, LOG, ORIGIN, event, new_ledger, noc
from tools.gen_vectors import sample_licence, sample_noc

LOG_KEY = Verifier.for_key(ORIGIN, LOG.public_key)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "ledger.db")
    yield s
    s.close()


def _verify_receipt(ledger: Ledger, index: int, note: bytes, size: int) -> None:
    cp = open_checkpoint(note, origin=ORIGIN, log_key=LOG_KEY).checkpoint
    assert cp.size == size and index < size
    entry = ledger.entries(index, index + 1)[0]
    merkle.verify_inclusion(
        index=index,
        size=cp.size,
        leaf_hash=merkle.leaf_hash(entry),
        proof=ledger.prove_inclusion(index, cp.size),
        root=cp.root,
    )


def test_issue_returns_a_verifiable_receipt(store: Store) -> None:
    ledger = new_ledger(store)
    receipt = ledger.issue(sample_noc(), ISSUER)
    assert receipt.index == 1 and receipt.id == sample_noc().id and not receipt.duplicate
    _verify_receipt(ledger, receipt.index, receipt.checkpoint, receipt.size)
    status = ledger.status(sample_noc().id)
    assert status is not None and status.state is CertState.ACTIVE


def test_resubmission_is_idempotent(store: Store) -> None:
    ledger = new_ledger(store)
    first = ledger.issue(sample_noc(), ISSUER)
    again = ledger.issue(sample_noc(), ISSUER)
    assert again.duplicate and again.index == first.index and ledger.size() == 2


def test_refused_event_writes_nothing(store: Store) -> None:
    ledger = new_ledger(store)
    good = noc()
    size_before = ledger.size()
    # The second entry of the batch is refused: the first must not be written either.
    with pytest.raises(TransitionError, match="entry 1 of the batch"):
        ledger.submit(
            [
                sign_certificate(good, ISSUER),
                event(StatusEventKind.REVOKE, b"\x01" * 32).sign(ISSUER),
            ]
        )
    assert ledger.size() == size_before and ledger.status(good.id) is None
    ledger.audit()


def test_scope_beyond_delegation_cannot_be_issued(store: Store) -> None:
    ledger = new_ledger(store)
    saudi = dataclasses.replace(
        sample_licence(),
        edges=(),
        scope=Scope((Grant("va.custody", ("retail",), Territory(("SA",))),)),
    )
    with pytest.raises(ScopeError):
        ledger.issue(saudi, ISSUER)
    from noc_ledger import signing

    stranger = signing.Ed25519Signer(b"\x05" * 32)
    with pytest.raises(SignatureError):
        ledger.issue(noc(), stranger)
    assert ledger.size() == 1


def test_lifecycle_and_status_proofs(store: Store) -> None:
    ledger = new_ledger(store)
    n = sample_noc()
    ledger.issue(n, ISSUER)
    early = ledger.prove_status(n.id)
    licence = ledger.issue(sample_licence(), ISSUER)
    ledger.record(
        event(StatusEventKind.SUSPEND, licence.id, sample_licence().valid_from + 1), ISSUER
    )
    latest = ledger.prove_status(n.id)
    record = CertStatus.from_cbor(latest.value or b"")
    assert record.state is CertState.SUPERSEDED and record.successor == licence.id
    cp = open_checkpoint(latest.checkpoint, origin=ORIGIN, log_key=LOG_KEY).checkpoint
    statusmap.verify_status(root=cp.status_root, key=n.id, value=latest.value, proof=latest.proof)
    # The proof at the earlier checkpoint still verifies there, with the old status.
    old_cp = open_checkpoint(early.checkpoint, origin=ORIGIN, log_key=LOG_KEY).checkpoint
    assert CertStatus.from_cbor(early.value or b"").state is CertState.ACTIVE
    statusmap.verify_status(root=old_cp.status_root, key=n.id, value=early.value, proof=early.proof)
    # Absence of an unknown id is proven too.
    absent = ledger.prove_status(b"\x42" * 32)
    assert absent.value is None
    statusmap.verify_status(root=cp.status_root, key=b"\x42" * 32, value=None, proof=absent.proof)
    report = ledger.audit()
    assert report.size == ledger.size() == 4 and report.certificates == 2 and report.keys == 1


def test_checkpoints_are_consistent(store: Store) -> None:
    ledger = new_ledger(store)
    notes = [ledger.issue(noc(), ISSUER) for _ in range(5)]
    for a, b in itertools.pairwise(notes):
        ca = open_checkpoint(a.checkpoint, origin=ORIGIN, log_key=LOG_KEY).checkpoint
        cb = open_checkpoint(b.checkpoint, origin=ORIGIN, log_key=LOG_KEY).checkpoint
        assert cb.time >= ca.time
        merkle.verify_consistency(
            size1=ca.size,
            size2=cb.size,
            proof=ledger.prove_consistency(ca.size, cb.size),
            root1=ca.root,
            root2=cb.root,
        )


def test_batch_issuance(store: Store) -> None:
    ledger = new_ledger(store)
    receipts = ledger.issue_batch([noc() for _ in range(50)], ISSUER)
    assert [r.index for r in receipts] == list(range(1, 51))
    assert len({r.checkpoint for r in receipts}) == 1
    _verify_receipt(ledger, 50, receipts[-1].checkpoint, receipts[-1].size)
    ledger.audit()


def test_audit_detects_tampering(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    ledger = new_ledger(store)
    cert = noc()
    ledger.issue(cert, ISSUER)
    ledger.audit()
    with store.transaction() as tx:
        # Someone edits the derived state behind the ledger's back.
        tx.put("cert", cert.id, CertStatus(CertState.REVOKED, 0, 0, 1, 0).to_cbor())
    with pytest.raises(StorageError, match="differ"):
        ledger.audit()
    store.close()


def test_reopen_continues(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = SqliteStore(path)
    ledger = new_ledger(store)
    ledger.issue(noc(), ISSUER)
    store.close()
    store = SqliteStore(path)
    ledger = new_ledger(store)
    receipt = ledger.issue(noc(), ISSUER)
    assert receipt.index == 2
    ledger.audit()
    store.close()


def test_submit_checks_the_payload_not_the_certificate_object_it_is_given(store: Store) -> None:
    """``submit(certificates=...)`` may skip decoding only when the object's encoding is the
    payload byte for byte (logstate._apply_certificate): a payload that differs from the
    object handed in is decoded and checked in full, so a well-behaved object cannot carry
    an out-of-scope payload past the log's rules."""
    ledger = new_ledger(store)
    innocent = noc()
    saudi = dataclasses.replace(
        sample_licence(),
        edges=(),
        scope=Scope((Grant("va.custody", ("retail",), Territory(("SA",))),)),
    )
    entry = sign_certificate(saudi, ISSUER)
    with pytest.raises(ScopeError):
        ledger.submit([entry], certificates=[innocent])
    assert ledger.size() == 1
    # The same object with its own entry is accepted, and what is recorded is the entry's
    # certificate (its id is the payload's hash, not the object's).
    good = noc()
    [receipt] = ledger.submit([sign_certificate(good, ISSUER)], certificates=[innocent])
    assert receipt.id == good.id != innocent.id
    assert ledger.status(good.id) is not None
    assert ledger.status(innocent.id) is None
    with pytest.raises(ValueError, match="one item per entry"):
        ledger.submit([entry, entry], certificates=[innocent])


def test_find_ids_by_prefix(store: Store) -> None:
    ledger = new_ledger(store)
    receipts = ledger.issue_batch([noc() for _ in range(200)], ISSUER)
    ids = sorted(r.id for r in receipts)
    target = ids[57]
    text = target.hex()
    for prefix in (text, text[:9], text[:8].upper(), text[:3]):
        found = ledger.find_ids(prefix, limit=len(ids))
        expected = [i for i in ids if i.hex().startswith(prefix.lower())]
        assert found == expected and target in found
    # A prefix of one hex digit matches about 1/16 of them; the limit stops the scan.
    assert len(ledger.find_ids(text[:1], limit=2)) == 2
    # Every id matches the empty prefix: certificates first (in id order), then keys.
    everything = ledger.find_ids("", limit=1000)
    assert everything[:200] == ids and ISSUER.key_id in everything[200:]
    assert ledger.find_ids(ISSUER.key_id.hex()[:10]) == [ISSUER.key_id]
    assert ledger.find_ids("ffffffffffffffffffff") == []  # one chance in 2^80 of a match
    for bad in ("xyz", "12 34"):
        with pytest.raises(ValueError, match="hex digits"):
            ledger.find_ids(bad)
    with pytest.raises(ValueError, match="positive"):
        ledger.find_ids("ab", limit=0)


def _replace_checkpoint(path: Path, size: int, note: bytes) -> None:
    # Behind the store's back, as an intruder with file access would.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (note, size))


@pytest.mark.parametrize(
    ("change", "signer", "message"),
    [
        ({"status_root": b"\x07" * 32}, LOG, "checkpoint at size 3: status root differs"),
        ({"root": b"\x07" * 32}, LOG, "checkpoint at size 3"),
        ({}, ISSUER, "checkpoint at size 3"),  # the right roots, signed by another key
    ],
)
def test_audit_checks_every_stored_checkpoint(
    tmp_path: Path, change: dict[str, Any], signer: signing.Signer, message: str
) -> None:
    path = tmp_path / "c.db"
    store = SqliteStore(path)
    ledger = new_ledger(store)
    ledger.issue_batch([noc(), noc()], ISSUER)  # size 3: the delegation and two NOCs
    ledger.issue(noc(), ISSUER)  # size 4
    report = ledger.audit()
    assert (report.size, report.certificates, report.keys) == (4, 3, 1)
    assert report.checkpoints == 3  # sizes 1, 3 and 4
    cp = dataclasses.replace(decode_checkpoint_note(ledger.checkpoint_at(3)), **change)
    _replace_checkpoint(path, 3, sign_checkpoint(cp, signer))
    with pytest.raises(StorageError, match=message):
        ledger.audit()
    store.close()
