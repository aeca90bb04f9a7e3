"""spec/verification.md: every verdict, from bundles a real ledger produced."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from noc_ledger import codec, signing
from noc_ledger.bundle import Bundle
from noc_ledger.checkpoint import cosign
from noc_ledger.errors import (
    ExpiredError,
    KeyChainError,
    NocLedgerError,
    NotCoveredError,
    NotYetValidError,
    OutOfScopeError,
    QuorumError,
    RevokedError,
    SignatureError,
    StaleError,
    SupersededError,
    SuspendedError,
)
from noc_ledger.events import KeyEvent, KeyEventKind, ReasonCode, StatusEvent, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.note import Verifier
from noc_ledger.policy import Group, RootKey, TrustPolicy, make_policy
from noc_ledger.scope import Query
from noc_ledger.verify import BundleVerifier, Verdict, explain_bundle, verify_bundle
from tests.ledger_story import AUTHORITY, ISSUER, LOG, ORIGIN, ROOT, ROOT_SCOPE, delegation
from tools.gen_vectors import DAY, T0, sample_licence, sample_noc

DAY_AGE = 2 * DAY
WITNESS = signing.Ed25519Signer(b"\x0b" * 32)
WITNESS_KEY = Verifier.for_key("witness.example", WITNESS.public_key, sig_type=0x04)


def policy(**changes: Any) -> TrustPolicy:
    args: dict[str, Any] = {
        "roots": [RootKey(ROOT.public_key, ROOT_SCOPE)],
        "logs": [Verifier.for_key(ORIGIN, LOG.public_key)],
        "quorum": None,
        "max_status_age": DAY_AGE,
        "authority": "Virtual Assets Regulatory Authority",
    }
    args.update(changes)
    return make_policy(**args)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def world() -> tuple[Ledger, Clock]:
    clock = Clock()
    ledger = Ledger(MemoryStore(), origin=ORIGIN, authority=AUTHORITY, log_signer=LOG, clock=clock)
    ledger.record_key_event(delegation(ISSUER), ROOT)
    ledger.issue(sample_noc(), ISSUER)
    return ledger, clock


AML = Query("prep.aml_registration", "retail", "AE")
FIAT = Query("va.exchange.fiat", "retail", "AE")


def test_valid_noc_and_its_limits(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    data = ledger.bundle(sample_noc().id)
    result = verify_bundle(data, policy(), at=T0 + 60, query=AML)
    assert result.certificate == sample_noc() and result.index == 1
    assert [g.activity for g in result.grants] == ["prep.aml_registration"]
    assert any(n.code == "not-an-operating-licence" for n in result.legal_notices)
    with pytest.raises(OutOfScopeError):
        verify_bundle(data, policy(), at=T0 + 60, query=FIAT)
    explained = explain_bundle(data, policy(), at=T0 + 60, query=FIAT)
    assert explained.verdict is Verdict.OUT_OF_SCOPE and explained.steps[-1].ok is False
    assert all(step.ok for step in explained.steps[:-1]) and len(explained.steps) == 14


def test_upgrade_supersedes_the_noc(world: tuple[Ledger, Clock]) -> None:
    ledger, clock = world
    clock.now = T0 + 91 * DAY
    licence = ledger.issue(sample_licence(), ISSUER)
    at = T0 + 91 * DAY + 10
    result = verify_bundle(
        ledger.bundle(licence.id),
        policy(),
        at=at,
        query=Query("va.exchange.fiat", "retail", "AE-DU"),
    )
    assert result.certificate.instrument == "licence"
    with pytest.raises(SupersededError) as caught:
        verify_bundle(ledger.bundle(sample_noc().id), policy(), at=at, query=AML)
    assert caught.value.details["successor"] == licence.id.hex()
    # The old bundle, at the time it was issued, still shows what was true then.
    old = ledger.bundle(sample_noc().id, size=2)
    verify_bundle(old, policy(), at=T0 + 60, query=AML)


def test_suspension_then_revocation(world: tuple[Ledger, Clock]) -> None:
    ledger, clock = world
    noc_id = sample_noc().id
    clock.now = T0 + 10 * DAY
    ledger.record(
        StatusEvent(
            StatusEventKind.SUSPEND, noc_id, clock.now, clock.now, ReasonCode.AML_CFT_FAILURE
        ),
        ISSUER,
    )
    with pytest.raises(SuspendedError):
        verify_bundle(ledger.bundle(noc_id), policy(), at=clock.now + 1)
    clock.now = T0 + 20 * DAY
    ledger.record(
        StatusEvent(
            StatusEventKind.REVOKE, noc_id, clock.now, clock.now, ReasonCode.FALSE_INFORMATION
        ),
        ISSUER,
    )
    bundle = ledger.bundle(noc_id)
    with pytest.raises(RevokedError) as caught:
        verify_bundle(bundle, policy(), at=clock.now + 1)
    assert caught.value.details["reason"] == "false-information"
    assert caught.value.details["since"] == clock.now
    # Evaluated at a past time, the same (fresh) bundle says what was true then.
    verify_bundle(bundle, policy(), at=T0 + 5 * DAY, query=AML)  # the checkpoint is newer
    with pytest.raises(SuspendedError):
        verify_bundle(bundle, policy(), at=T0 + 15 * DAY)


def test_grant_suspension(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    noc_id = sample_noc().id
    ledger.record(
        StatusEvent(
            StatusEventKind.SUSPEND,
            noc_id,
            T0 + 1,
            T0 + 1,
            ReasonCode.CONDITIONS_NOT_MET,
            activities=("prep.aml_registration",),
        ),
        ISSUER,
    )
    data = ledger.bundle(noc_id)
    with pytest.raises(SuspendedError):
        verify_bundle(data, policy(), at=T0 + 2, query=AML)
    verify_bundle(
        data, policy(), at=T0 + 2, query=Query("prep.licence_application", "retail", "AE")
    )


def test_stale_and_window(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    data = ledger.bundle(sample_noc().id)
    with pytest.raises(StaleError):
        verify_bundle(data, policy(), at=T0 + DAY_AGE + 1)
    with pytest.raises(NotYetValidError):
        verify_bundle(data, policy(), at=T0 - 1)
    long_policy = policy(max_status_age=400 * DAY)
    with pytest.raises(ExpiredError):
        verify_bundle(data, long_policy, at=sample_noc().valid_until or 0)


def test_not_covered(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    bundle = Bundle.from_cbor(ledger.bundle(sample_noc().id))
    older = dataclasses.replace(bundle, checkpoint=ledger.checkpoint_at(1))
    with pytest.raises(NotCoveredError):
        verify_bundle(older.to_cbor(), policy(), at=T0 + 60)


def test_untrusted_log_and_quorum(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    data = ledger.bundle(sample_noc().id)
    stranger = signing.Ed25519Signer(b"\x0c" * 32)
    with pytest.raises(SignatureError):
        verify_bundle(
            data, policy(logs=[Verifier.for_key(ORIGIN, stranger.public_key)]), at=T0 + 60
        )
    needs_witness = policy(
        witnesses=[WITNESS_KEY], groups=[Group("w", 1, ("witness.example",))], quorum="w"
    )
    with pytest.raises(QuorumError):
        verify_bundle(data, needs_witness, at=T0 + 60)
    bundle = Bundle.from_cbor(data)
    cosigned = dataclasses.replace(
        bundle, checkpoint=cosign(bundle.checkpoint, "witness.example", WITNESS, time=T0 + 30)
    )
    result = verify_bundle(cosigned.to_cbor(), needs_witness, at=T0 + 60)
    assert result.witnesses == ("witness.example",)


def test_wrong_root_and_revoked_key(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    data = ledger.bundle(sample_noc().id)
    other_root = signing.Ed25519Signer(b"\x0d" * 32)
    with pytest.raises(KeyChainError):
        verify_bundle(data, policy(roots=[RootKey(other_root.public_key, ROOT_SCOPE)]), at=T0 + 60)
    ledger.record_key_event(
        KeyEvent(
            KeyEventKind.REVOKE_KEY,
            ISSUER.public_key,
            T0 + 1,
            T0 + 1,
            reason=ReasonCode.KEY_COMPROMISE,
            invalidate_from=1,
        ),
        ROOT,
    )
    with pytest.raises(KeyChainError, match="revoked"):
        verify_bundle(ledger.bundle(sample_noc().id), policy(), at=T0 + 60)


def test_cached_verifier_checks_checkpoint_once(
    world: tuple[Ledger, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, _ = world
    data = ledger.bundle(sample_noc().id)
    verifier = BundleVerifier(policy())
    verifier.verify(data, at=T0 + 60)
    import noc_ledger.verify as v

    calls: list[bytes] = []
    real: Callable[..., Any] = v.open_checkpoint  # type: ignore[attr-defined]

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(v, "open_checkpoint", counting)
    for _ in range(5):
        verifier.verify(data, at=T0 + 60)
    assert calls == []


def test_every_byte_change_of_a_bundle_is_rejected(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    data = ledger.bundle(sample_noc().id)
    p = policy()
    verify_bundle(data, p, at=T0 + 60)
    bad = 0
    for pos in range(len(data)):
        mutated = data[:pos] + bytes([data[pos] ^ (1 << (pos % 8))]) + data[pos + 1 :]
        with pytest.raises(NocLedgerError):
            verify_bundle(mutated, p, at=T0 + 60)
        bad += 1
    for cut in range(0, len(data), 7):
        with pytest.raises(NocLedgerError):
            verify_bundle(data[:cut], p, at=T0 + 60)
    with pytest.raises(NocLedgerError):
        verify_bundle(data + b"\x00", p, at=T0 + 60)
    assert bad == len(data)
    # and the canonical encoding is checked before anything else
    assert codec.decode(data) is not None


def test_ledger_exports_its_own_policy(world: tuple[Ledger, Clock]) -> None:
    from noc_ledger.policy import parse_policy

    ledger, _ = world
    text = ledger.trust_policy(
        max_status_age=DAY_AGE, authority_name="Virtual Assets Regulatory Authority"
    )
    published = parse_policy(text)
    assert published == policy()
    verify_bundle(ledger.bundle(sample_noc().id), published, at=T0 + 60, query=AML)
