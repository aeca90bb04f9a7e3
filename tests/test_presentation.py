"""spec/bundle.md §4: holder-bound presentations, over bundles a real ledger produced."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from noc_ledger import codec, signing
from noc_ledger.errors import (
    DecodeError,
    ModelError,
    NocLedgerError,
    PresentationError,
    RevokedError,
    StaleError,
)
from noc_ledger.events import ReasonCode, StatusEvent, StatusEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.model import Certificate
from noc_ledger.note import Verifier
from noc_ledger.policy import RootKey, TrustPolicy, make_policy
from noc_ledger.presentation import (
    FUTURE_ALLOWANCE,
    MAX_PRESENTATION_FILE_SIZE,
    Presentation,
    PresentationFile,
    present,
    verify_presentation,
)
from noc_ledger.scope import Query
from noc_ledger.verify import bundle_digest
from tests.ledger_story import AUTHORITY, ISSUER, LOG, ORIGIN, ROOT, ROOT_SCOPE, delegation
from tools.gen_vectors import DAY, HOLDER, OTHER, T0, sample_noc

AUDIENCE = "bank.example"
NONCE = bytes(range(32))
MAX_AGE = 600
AT = T0 + 120
AML = Query("prep.aml_registration", "retail", "AE")
PRESENTATION_TYPE = signing.CONTENT_TYPES["presentation"]


def policy() -> TrustPolicy:
    return make_policy(
        roots=[RootKey(ROOT.public_key, ROOT_SCOPE)],
        logs=[Verifier.for_key(ORIGIN, LOG.public_key)],
        quorum=None,
        max_status_age=2 * DAY,
        authority="Virtual Assets Regulatory Authority",
    )


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


@pytest.fixture
def bundle(world: tuple[Ledger, Clock]) -> bytes:
    return world[0].bundle(sample_noc().id)


def verify(data: bytes, **changes: Any) -> Any:
    args: dict[str, Any] = {
        "at": AT,
        "audience": AUDIENCE,
        "nonce": NONCE,
        "max_age": MAX_AGE,
        "query": AML,
    }
    args.update(changes)
    return verify_presentation(data, policy(), **args)


def forge(
    signer: signing.Signer,
    payload: bytes,
    *,
    kid: bytes | None = None,
    content_type: str = PRESENTATION_TYPE,
) -> bytes:
    """A COSE_Sign1 built by hand, as an attacker would: any kid, any content type, no
    check that the signature matches the kid."""
    protected = codec.encode({1: -19, 3: content_type, 4: signer.key_id if kid is None else kid})
    signature = signer.sign(codec.encode(["Signature1", protected, b"", payload]))
    return codec.encode(codec.Tag(18, [protected, {}, payload, signature]))


def payload_for(bundle: bytes, *, at: int = T0 + 60, **changes: Any) -> bytes:
    value = Presentation(bundle_digest(bundle), AUDIENCE, NONCE, at)
    return dataclasses.replace(value, **changes).to_cbor()


def pack(bundle: bytes, presentation: bytes) -> bytes:
    return PresentationFile(bundle, presentation).to_cbor()


# -- the honest path -------------------------------------------------------------------


def test_holder_presents_and_verifier_accepts(bundle: bytes) -> None:
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    result = verify(data)
    assert result.bundle.certificate == sample_noc()
    assert [g.activity for g in result.bundle.grants] == ["prep.aml_registration"]
    assert result.holder_key == HOLDER.public_key
    assert result.holder_key_id == HOLDER.key_id
    assert result.presented_at == T0 + 60
    # The file is [bundle, presentation], both verbatim.
    parts = PresentationFile.from_cbor(data)
    assert parts.bundle == bundle
    envelope = signing.verify_sign1(
        parts.presentation, content_type=PRESENTATION_TYPE, public_key=HOLDER.public_key
    )
    assert Presentation.from_cbor(envelope.payload) == Presentation(
        bundle_digest(bundle), AUDIENCE, NONCE, T0 + 60
    )
    assert codec.decode(data) == [bundle, parts.presentation]


def test_any_listed_holder_key_may_present(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    second = signing.Ed25519Signer(b"\x21" * 32)
    base = sample_noc()
    cert = dataclasses.replace(
        base,
        number="VARA/NOC/2026/0002",
        subject=dataclasses.replace(
            base.subject, holder_keys=(HOLDER.public_key, second.public_key)
        ),
    )
    receipt = ledger.issue(cert, ISSUER)
    data = present(ledger.bundle(receipt.id), second, audience=AUDIENCE, nonce=NONCE, at=AT)
    result = verify(data)
    assert result.holder_key == second.public_key and result.holder_key_id == second.key_id


# -- someone else's presentation -------------------------------------------------------


def test_copied_bundle_presented_with_another_key(bundle: bytes) -> None:
    # The honest library refuses to sign with a key the certificate does not list …
    with pytest.raises(PresentationError):
        present(bundle, OTHER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    # … and a verifier refuses a presentation made anyway.
    stolen = pack(bundle, forge(OTHER, payload_for(bundle)))
    with pytest.raises(PresentationError, match="not signed by a holder key"):
        verify(stolen)


def test_holder_kid_with_another_signature(bundle: bytes) -> None:
    forged = pack(bundle, forge(OTHER, payload_for(bundle), kid=HOLDER.key_id))
    with pytest.raises(PresentationError, match="signature"):
        verify(forged)


def test_holder_signature_of_another_kind(bundle: bytes) -> None:
    # A holder's signature over some other document kind is never a presentation.
    other_kind = forge(
        HOLDER, payload_for(bundle), content_type=signing.CONTENT_TYPES["certificate"]
    )
    with pytest.raises(PresentationError, match="content type"):
        verify(pack(bundle, other_kind))


def test_envelope_profile_violation_is_a_presentation_error(bundle: bytes) -> None:
    payload = payload_for(bundle)
    protected = codec.encode({1: -8, 3: PRESENTATION_TYPE, 4: HOLDER.key_id})  # alg EdDSA
    signature = HOLDER.sign(codec.encode(["Signature1", protected, b"", payload]))
    envelope = codec.encode(codec.Tag(18, [protected, {}, payload, signature]))
    with pytest.raises(PresentationError, match="alg"):
        verify(pack(bundle, envelope))
    with pytest.raises(DecodeError):
        verify(pack(bundle, b"\xa0"))


def test_certificate_without_holder_keys(world: tuple[Ledger, Clock]) -> None:
    ledger, _ = world
    base = sample_noc()
    cert: Certificate = dataclasses.replace(
        base,
        number="VARA/NOC/2026/0003",
        subject=dataclasses.replace(base.subject, holder_keys=()),
    )
    bundle = ledger.bundle(ledger.issue(cert, ISSUER).id)
    with pytest.raises(PresentationError):
        present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=AT)
    with pytest.raises(PresentationError, match="no holder keys"):
        verify(pack(bundle, forge(HOLDER, payload_for(bundle))))


# -- the wrong exchange ----------------------------------------------------------------


def test_wrong_audience(bundle: bytes) -> None:
    data = present(bundle, HOLDER, audience="other-bank.example", nonce=NONCE, at=T0 + 60)
    with pytest.raises(PresentationError, match=r"other-bank\.example"):
        verify(data)
    # Code points compare: no case folding.
    data = present(bundle, HOLDER, audience="Bank.example", nonce=NONCE, at=T0 + 60)
    with pytest.raises(PresentationError):
        verify(data)


def test_wrong_nonce(bundle: bytes) -> None:
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    with pytest.raises(PresentationError, match="nonce"):
        verify(data, nonce=bytes(32))
    with pytest.raises(PresentationError, match="nonce"):
        verify(data, nonce=NONCE + b"\x00")


def test_replay_beyond_max_age(bundle: bytes) -> None:
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    verify(data, at=T0 + 60 + MAX_AGE)
    with pytest.raises(PresentationError, match="old"):
        verify(data, at=T0 + 60 + MAX_AGE + 1)
    # max_age 0: only a presentation dated exactly at (or within the future allowance).
    verify(data, at=T0 + 60, max_age=0)
    with pytest.raises(PresentationError):
        verify(data, at=T0 + 61, max_age=0)


def test_presentation_from_the_future(bundle: bytes) -> None:
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=AT + FUTURE_ALLOWANCE)
    verify(data)
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=AT + FUTURE_ALLOWANCE + 1)
    with pytest.raises(PresentationError, match="after the time asked"):
        verify(data)


def test_presentation_over_another_bundle(world: tuple[Ledger, Clock], bundle: bytes) -> None:
    ledger, clock = world
    # A refreshed bundle for the same certificate: valid in itself, other bytes.
    clock.now = T0 + 30
    ledger.issue(dataclasses.replace(sample_noc(), number="VARA/NOC/2026/0004"), ISSUER)
    refreshed = ledger.bundle(sample_noc().id)
    assert refreshed != bundle
    verify(present(refreshed, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60))
    signed = PresentationFile.from_cbor(
        present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    ).presentation
    with pytest.raises(PresentationError, match="another bundle"):
        verify(pack(refreshed, signed))


# -- the bundle's verdict stands ---------------------------------------------------------


def test_revoked_bundle_stays_revoked(world: tuple[Ledger, Clock]) -> None:
    ledger, clock = world
    noc_id = sample_noc().id
    clock.now = T0 + 10
    ledger.record(
        StatusEvent(
            StatusEventKind.REVOKE, noc_id, clock.now, clock.now, ReasonCode.FALSE_INFORMATION
        ),
        ISSUER,
    )
    bundle = ledger.bundle(noc_id)
    good = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    with pytest.raises(RevokedError):
        verify(good)
    # Even a presentation that is wrong in itself reports the bundle's verdict first.
    stolen = pack(bundle, forge(OTHER, payload_for(bundle)))
    with pytest.raises(RevokedError):
        verify(stolen)


def test_stale_bundle_stays_stale(bundle: bytes) -> None:
    late = T0 + 3 * DAY
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=late)
    with pytest.raises(StaleError):
        verify(data, at=late)


# -- tampering ---------------------------------------------------------------------------


def test_every_byte_flip_fails(bundle: bytes) -> None:
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    verify(data)
    seen: set[type[NocLedgerError]] = set()
    for i in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            mutated = bytearray(data)
            mutated[i] ^= mask
            with pytest.raises(NocLedgerError) as caught:
                verify(bytes(mutated))
            seen.add(type(caught.value))
    # Flips in the presentation part are caught by the presentation's own steps.
    assert PresentationError in seen and DecodeError in seen


def test_truncated_and_extended_files_fail(bundle: bytes) -> None:
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    for bad in (b"", data[:-1], data + b"\x00", data[1:]):
        with pytest.raises(DecodeError):
            verify(bad)


# -- formats -----------------------------------------------------------------------------


def test_presentation_file_format() -> None:
    assert PresentationFile(b"b", b"p").to_cbor() == bytes.fromhex("82 41 62 41 70")
    for bad in (
        codec.encode([b"b"]),
        codec.encode([b"b", b"p", b""]),
        codec.encode([b"b", "p"]),
        codec.encode({0: b"b", 1: b"p"}),
        codec.encode([b"b", [b"p"]]),
        bytes.fromhex("82 5a 00000001 62 41 70"),  # non-shortest length
        bytes.fromhex("9f 41 62 41 70 ff"),  # indefinite length
    ):
        with pytest.raises(DecodeError):
            PresentationFile.from_cbor(bad)
    with pytest.raises(DecodeError):
        PresentationFile.from_cbor(bytes(MAX_PRESENTATION_FILE_SIZE + 1))
    with pytest.raises(DecodeError):
        PresentationFile.from_cbor(codec.encode([b"b", bytes(signing.MAX_SIGN1_SIZE + 1)]))


def test_presentation_payload_decoding() -> None:
    value = Presentation(bytes(32), AUDIENCE, NONCE, T0)
    data = value.to_cbor()
    assert data.hex().startswith("a5000101582000")
    assert Presentation.from_cbor(data) == value
    item = value.to_item()
    for changes in (
        {0: 2},  # unknown version
        {5: 0},  # unknown key
        {1: bytes(31)},  # digest size
        {1: "digest"},
        {2: ""},  # audience text rules
        {2: "bank\u202e.example"},
        {2: "x" * 257},
        {2: b"bank.example"},
        {3: bytes(15)},  # nonce size
        {3: bytes(65)},
        {4: -1},
        {4: 1 << 63},
    ):
        with pytest.raises(DecodeError):
            Presentation.from_cbor(codec.encode({**item, **changes}))
    missing = dict(item)
    del missing[4]
    with pytest.raises(DecodeError):
        Presentation.from_cbor(codec.encode(missing))
    # Non-canonical: the time written with a longer argument than needed.
    with pytest.raises(DecodeError):
        Presentation.from_cbor(data[:-5] + b"\x1b" + bytes(4) + data[-4:])


def test_payload_fault_after_a_good_signature_is_a_decode_error(bundle: bytes) -> None:
    item = Presentation(bundle_digest(bundle), AUDIENCE, NONCE, T0 + 60).to_item()
    bad = codec.encode({**item, 0: 2})
    with pytest.raises(DecodeError, match="version"):
        verify(pack(bundle, forge(HOLDER, bad)))


def test_construction_rules() -> None:
    for args in (
        (bytes(31), AUDIENCE, NONCE, T0),
        (bytes(32), "", NONCE, T0),
        (bytes(32), " bank.example", NONCE, T0),
        (bytes(32), AUDIENCE, bytes(15), T0),
        (bytes(32), AUDIENCE, bytes(65), T0),
        (bytes(32), AUDIENCE, NONCE, -1),
        (bytes(32), AUDIENCE, NONCE, 1 << 63),
    ):
        with pytest.raises(ModelError):
            Presentation(*args)


def test_present_checks_its_inputs(bundle: bytes) -> None:
    with pytest.raises(ModelError):
        present(bundle, HOLDER, audience=AUDIENCE, nonce=bytes(8), at=T0)
    with pytest.raises(DecodeError):
        present(b"not a bundle", HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0)


def test_impossible_expectations_are_refused(bundle: bytes) -> None:
    data = present(bundle, HOLDER, audience=AUDIENCE, nonce=NONCE, at=T0 + 60)
    for changes in (
        {"nonce": bytes(15)},
        {"nonce": bytes(65)},
        {"audience": ""},
        {"audience": "bank.example\n"},
        {"max_age": -1},
        {"max_age": True},
        {"at": -1},
    ):
        with pytest.raises(PresentationError):
            verify(data, **changes)
    # Refused before anything is read: even an undecodable file.
    with pytest.raises(PresentationError):
        verify(b"", nonce=b"")


@given(
    digest=st.binary(min_size=32, max_size=32),
    audience=st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,60}[a-z0-9])?", fullmatch=True),
    nonce=st.binary(min_size=16, max_size=64),
    presented_at=st.integers(min_value=0, max_value=(1 << 63) - 1),
)
def test_payload_round_trip(digest: bytes, audience: str, nonce: bytes, presented_at: int) -> None:
    value = Presentation(digest, audience, nonce, presented_at)
    assert Presentation.from_cbor(value.to_cbor()) == value
