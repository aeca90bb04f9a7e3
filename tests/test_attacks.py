"""A catalogue of attacks from the transparency-log world, each against a real bundle
(spec/verification.md §3). Every one must end in a typed error naming the failing step,
never in a valid verdict."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from noc_ledger import logstate, signing
from noc_ledger.bundle import Bundle, LoggedEntry
from noc_ledger.checkpoint import sign_checkpoint
from noc_ledger.errors import (
    InclusionError,
    KeyChainError,
    SignatureError,
    StatusProofError,
)
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.model import sign_certificate
from noc_ledger.note import Verifier
from noc_ledger.policy import RootKey, TrustPolicy, make_policy
from noc_ledger.scope import Grant, Scope, Territory
from noc_ledger.verify import verify_bundle
from tests.ledger_story import AUTHORITY, ISSUER, LOG, ORIGIN, ROOT, ROOT_SCOPE, delegation, noc
from tools.gen_vectors import T0, sample_licence, sample_noc

AT = T0 + 60


def policy(**changes: object) -> TrustPolicy:
    args: dict[str, object] = {
        "roots": [RootKey(ROOT.public_key, ROOT_SCOPE)],
        "logs": [Verifier.for_key(ORIGIN, LOG.public_key)],
        "quorum": None,
        "max_status_age": 86_400,
    }
    args.update(changes)
    return make_policy(**args)  # type: ignore[arg-type]


def new_ledger(origin: str = ORIGIN, log: signing.Ed25519Signer = LOG) -> Ledger:
    ledger = Ledger(
        MemoryStore(), origin=origin, authority=AUTHORITY, log_signer=log, clock=lambda: T0
    )
    ledger.record_key_event(delegation(ISSUER), ROOT)
    return ledger


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    ledger = new_ledger()
    ledger.issue(sample_noc(), ISSUER)
    ledger.issue(noc(9001), ISSUER)
    yield ledger


def test_a_valid_entry_for_another_certificate(ledger: Ledger) -> None:
    mine = Bundle.from_cbor(ledger.bundle(sample_noc().id))
    other = Bundle.from_cbor(ledger.bundle(noc(9001).id))
    # The other certificate's entry and proof, with my status evidence: the status proof
    # is for another id.
    swapped = dataclasses.replace(mine, certificate=other.certificate)
    with pytest.raises(StatusProofError):
        verify_bundle(swapped.to_cbor(), policy(), at=AT)
    # Swapping everything just yields a valid bundle *for the other certificate*, and the
    # result says so: a relying party sees whose it is.
    result = verify_bundle(other.to_cbor(), policy(), at=AT)
    assert result.certificate_id == noc(9001).id != sample_noc().id


@pytest.mark.parametrize("change", ["index+1", "index-1", "proof-from-other-size"])
def test_proof_for_another_index_or_size(ledger: Ledger, change: str) -> None:
    bundle = Bundle.from_cbor(ledger.bundle(sample_noc().id))
    entry = bundle.certificate
    if change == "index+1":
        bad = dataclasses.replace(entry, index=entry.index + 1)
    elif change == "index-1":
        bad = dataclasses.replace(entry, index=entry.index - 1)
    else:
        bad = dataclasses.replace(entry, proof=tuple(ledger.prove_inclusion(entry.index, 2)))
    with pytest.raises((InclusionError, KeyChainError, StatusProofError)):
        verify_bundle(dataclasses.replace(bundle, certificate=bad).to_cbor(), policy(), at=AT)


def test_checkpoint_from_another_origin_or_unknown_key(ledger: Ledger) -> None:
    bundle = Bundle.from_cbor(ledger.bundle(sample_noc().id))
    elsewhere = new_ledger(origin="elsewhere.example/log")
    elsewhere.issue(sample_noc(), ISSUER)
    foreign = dataclasses.replace(bundle, checkpoint=elsewhere.checkpoint())
    with pytest.raises(SignatureError, match="not a log of the trust policy"):
        verify_bundle(foreign.to_cbor(), policy(), at=AT)
    impostor = signing.Ed25519Signer(b"\x0e" * 32)
    cp = ledger.checkpoint()
    from noc_ledger.checkpoint import decode_checkpoint_note

    forged = sign_checkpoint(decode_checkpoint_note(cp), impostor)
    with pytest.raises(SignatureError):
        verify_bundle(dataclasses.replace(bundle, checkpoint=forged).to_cbor(), policy(), at=AT)


def test_key_used_outside_its_delegated_scope(ledger: Ledger) -> None:
    # The verifier's policy grants the root less than the log's authority: a licence's
    # scope is outside what this verifier accepts from that root.
    lic_ledger = new_ledger()
    lic_ledger.issue(sample_noc(), ISSUER)
    lic = lic_ledger.issue(sample_licence(), ISSUER)
    narrow = Scope(
        (Grant("prep", ("institutional", "professional", "retail"), Territory(("AE",))),)
    )
    with pytest.raises(KeyChainError):
        verify_bundle(
            lic_ledger.bundle(lic.id), policy(roots=[RootKey(ROOT.public_key, narrow)]), at=AT
        )


def test_key_used_outside_its_validity(monkeypatch: pytest.MonkeyPatch) -> None:
    # A dishonest log skips its own window check (simulated by disabling it): the
    # verifier still refuses the certificate.
    monkeypatch.setattr(logstate, "_in_window", lambda *args: None)
    ledger = new_ledger()
    late = dataclasses.replace(sample_noc(), issued_at=T0 + 10 * 365 * 86_400)
    receipt = ledger.issue(late, ISSUER)
    with pytest.raises(KeyChainError, match="validity window"):
        verify_bundle(ledger.bundle(receipt.id), policy(), at=AT)


def test_certificate_by_an_undelegated_key_in_a_dishonest_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The log accepts a certificate signed by a key that is not the delegated one; the
    # bundle still names the real delegation, and the certificate's kid does not match it.
    ledger = new_ledger()
    ledger.issue(sample_noc(), ISSUER)
    bundle = Bundle.from_cbor(ledger.bundle(sample_noc().id))
    stranger = signing.Ed25519Signer(b"\x0f" * 32)
    forged_entry = sign_certificate(sample_noc(), stranger)
    forged = dataclasses.replace(
        bundle,
        certificate=LoggedEntry(bundle.certificate.index, forged_entry, bundle.certificate.proof),
    )
    with pytest.raises(InclusionError):  # the forged bytes are not what the log committed to
        verify_bundle(forged.to_cbor(), policy(), at=AT)


def test_status_proof_against_a_different_root(ledger: Ledger) -> None:
    old = Bundle.from_cbor(ledger.bundle(sample_noc().id, size=2))
    new = Bundle.from_cbor(ledger.bundle(sample_noc().id))
    # Status evidence from the older checkpoint inside a bundle tied to the newer one.
    mixed = dataclasses.replace(
        new, certificate_status=old.certificate_status, key_status=old.key_status
    )
    assert old.checkpoint != new.checkpoint
    with pytest.raises(StatusProofError):
        verify_bundle(mixed.to_cbor(), policy(), at=AT)


def test_algorithm_confusion_and_critical_headers_are_refused_at_signing_level() -> None:
    # The envelope-level attacks (alg -8/-7, crit, unknown labels, re-encoded headers) are
    # covered vector by vector in vectors/certificate/ and tests/test_signing.py; here we
    # check that a bundle whose certificate entry carries such an envelope fails too.
    from noc_ledger import codec
    from tools.gen_vectors import header, raw_sign1

    ledger = new_ledger()
    ledger.issue(sample_noc(), ISSUER)
    bundle = Bundle.from_cbor(ledger.bundle(sample_noc().id))
    for bad_header in ({**header(), 1: -8}, {**header(), 2: [99], 99: 1}):
        bad_header[4] = ISSUER.key_id
        entry = raw_sign1(ISSUER, bad_header, sample_noc().to_cbor())
        forged = dataclasses.replace(
            bundle, certificate=dataclasses.replace(bundle.certificate, entry=entry)
        )
        with pytest.raises((InclusionError, SignatureError)):
            verify_bundle(forged.to_cbor(), policy(), at=AT)
    assert codec.decode(bundle.to_cbor()) is not None
