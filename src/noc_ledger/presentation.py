"""Holder-bound presentations (spec/bundle.md §4).

A bundle is public evidence: anyone who holds a copy can hand it on. A presentation binds
one showing of a bundle to the firm the certificate names: a holder key listed in the
certificate (spec/certificate.md §3.4) signs the bundle's SHA-256 together with the
verifier's identifier (the audience), a nonce the verifier chose, and the time. What
travels is a *presentation file*, ``[bundle, presentation]``, both parts verbatim.

:func:`present` makes a presentation file; :func:`verify_presentation` runs the numbered
steps of spec/bundle.md §4.5 and returns a :class:`VerifiedPresentation` or raises the
error class of the first step that fails.

Everything is pure: the caller brings the bytes, the trust policy, the time and what it
expects (audience, nonce, maximum age).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from noc_ledger import _fields as f
from noc_ledger import codec, signing
from noc_ledger.bundle import MAX_BUNDLE_SIZE, Bundle
from noc_ledger.codec import CborValue
from noc_ledger.errors import (
    DecodeError,
    EncodeError,
    ModelError,
    NocLedgerError,
    PresentationError,
    SignatureError,
)
from noc_ledger.model import Certificate
from noc_ledger.policy import TrustPolicy
from noc_ledger.scope import Query
from noc_ledger.verify import VerifiedBundle, bundle_digest, verify_bundle

__all__ = [
    "FUTURE_ALLOWANCE",
    "MAX_AUDIENCE_LENGTH",
    "MAX_NONCE_SIZE",
    "MAX_PRESENTATION_FILE_SIZE",
    "MIN_NONCE_SIZE",
    "PRESENTATION_VERSION",
    "Presentation",
    "PresentationFile",
    "VerifiedPresentation",
    "present",
    "verify_presentation",
]

#: spec/bundle.md §4.1: the format version, key 0 of the payload.
PRESENTATION_VERSION: Final = 1
#: spec/bundle.md §4.1: the nonce is 16 to 64 bytes (at least 128 bits of the verifier's
#: randomness; at most what a verifier may reasonably want to bind, e.g. a session hash).
MIN_NONCE_SIZE: Final = 16
MAX_NONCE_SIZE: Final = 64
#: spec/bundle.md §4.1: the audience is text (certificate.md §2.3) of at most this many
#: code points.
MAX_AUDIENCE_LENGTH: Final = 256
#: spec/bundle.md §4.5 step 11: how far in the future (seconds) a presentation's time may
#: be, to absorb clock skew between holder and verifier. Fixed, not a caller parameter.
FUTURE_ALLOWANCE: Final = 300
#: spec/bundle.md §4.2: a maximal bundle and a maximal signed presentation with their CBOR
#: heads (1 for the array, 5 and 3 for the two byte strings).
MAX_PRESENTATION_FILE_SIZE: Final = MAX_BUNDLE_SIZE + signing.MAX_SIGN1_SIZE + 9

_CONTENT_TYPE: Final = signing.CONTENT_TYPES["presentation"]
_DIGEST_SIZE: Final = 32
_TIME_LIMIT: Final = 1 << 63


# ---------------------------------------------------------------------------------------
# The payload (spec/bundle.md §4.1)


@dataclass(frozen=True, slots=True)
class Presentation:
    """The payload a holder signs (spec/bundle.md §4.1).

    ``bundle_digest`` is SHA-256 of the bundle bytes as carried; ``audience`` the
    verifier's identifier (e.g. its domain); ``nonce`` the verifier's challenge;
    ``presented_at`` the holder's time, POSIX seconds.

    Raises (on construction):
        ModelError: a digest that is not 32 bytes, an audience that is not text per
            spec/certificate.md §2.3 (1 to 256 code points), a nonce not of 16 to 64
            bytes, or a time outside [0, 2**63).
    """

    bundle_digest: bytes
    audience: str
    nonce: bytes
    presented_at: int

    def __post_init__(self) -> None:
        if not isinstance(self.bundle_digest, bytes) or len(self.bundle_digest) != _DIGEST_SIZE:
            raise ModelError("presentation bundle digest: a SHA-256 digest is 32 bytes")
        if not isinstance(self.audience, str):
            raise ModelError("presentation audience: expected a text string")
        f.text(self.audience, "presentation audience", max_len=MAX_AUDIENCE_LENGTH)
        if (
            not isinstance(self.nonce, bytes)
            or not MIN_NONCE_SIZE <= len(self.nonce) <= MAX_NONCE_SIZE
        ):
            raise ModelError(f"presentation nonce: {MIN_NONCE_SIZE} to {MAX_NONCE_SIZE} bytes")
        f.check_uint(self.presented_at, "presented at")

    def to_item(self) -> CborValue:
        return {
            0: PRESENTATION_VERSION,
            1: self.bundle_digest,
            2: self.audience,
            3: self.nonce,
            4: self.presented_at,
        }

    def to_cbor(self) -> bytes:
        """The deterministic payload (spec/bundle.md §4.1)."""
        return codec.encode(self.to_item())

    @classmethod
    def from_cbor(cls, data: bytes) -> Presentation:
        """Decode a presentation payload strictly (spec/bundle.md §4.1).

        Raises:
            DecodeError: not canonical CBOR, not the closed map of §4.1 (a missing or
                unknown key, a wrong type, an unsupported version), or a value that breaks
                a rule of §4.1 (digest size, audience text, nonce size, time range). Every
                fault of the payload is a DecodeError: it is one step of §4.5.
        """
        m = f.fields(
            codec.decode(data, max_size=signing.MAX_SIGN1_SIZE, max_depth=1),
            "presentation",
            (0, 1, 2, 3, 4),
        )
        if type(m[0]) is not int or m[0] != PRESENTATION_VERSION:
            raise DecodeError(f"presentation version {m[0]!r} is not supported")
        if not isinstance(m[1], bytes):
            raise DecodeError("presentation bundle digest: expected a byte string")
        if not isinstance(m[2], str):
            raise DecodeError("presentation audience: expected a text string")
        if not isinstance(m[3], bytes):
            raise DecodeError("presentation nonce: expected a byte string")
        try:
            value = cls(m[1], m[2], m[3], f.uint(m[4], "presented at"))
        except ModelError as exc:
            raise DecodeError(str(exc)) from None
        # The codec already refuses every non-canonical encoding while reading; comparing
        # with the re-encoding keeps "one value, one encoding" true by construction
        # (spec/encoding.md §5).
        if value.to_cbor() != data:
            raise DecodeError("presentation: not the canonical encoding of its value")
        return value


# ---------------------------------------------------------------------------------------
# What travels (spec/bundle.md §4.2)


@dataclass(frozen=True, slots=True)
class PresentationFile:
    """The two parts a holder hands over, each verbatim: the bundle bytes and the signed
    presentation (a COSE_Sign1) — spec/bundle.md §4.2. Nothing in it is trusted until
    :func:`verify_presentation` has checked it."""

    bundle: bytes
    presentation: bytes

    def to_cbor(self) -> bytes:
        """Encode ``[bundle, presentation]``.

        Raises:
            EncodeError: a part is not bytes, the bundle exceeds 1 MiB or the presentation
                65,535 bytes.
        """
        if not isinstance(self.bundle, bytes) or not isinstance(self.presentation, bytes):
            raise EncodeError("presentation file: both parts are byte strings")
        if len(self.bundle) > MAX_BUNDLE_SIZE:
            raise EncodeError(f"presentation file: bundle exceeds {MAX_BUNDLE_SIZE} bytes")
        if len(self.presentation) > signing.MAX_SIGN1_SIZE:
            raise EncodeError(
                f"presentation file: presentation exceeds {signing.MAX_SIGN1_SIZE} bytes"
            )
        return codec.encode([self.bundle, self.presentation])

    @classmethod
    def from_cbor(cls, data: bytes) -> PresentationFile:
        """Decode a presentation file (spec/bundle.md §4.2). Neither part is decoded here.

        Raises:
            DecodeError: not canonical CBOR, over :data:`MAX_PRESENTATION_FILE_SIZE`, not
                an array of exactly two byte strings, a bundle over 1 MiB or a presentation
                over 65,535 bytes.
        """
        item = codec.decode(data, max_size=MAX_PRESENTATION_FILE_SIZE, max_depth=1)
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, bytes) for part in item)
        ):
            raise DecodeError("presentation file: expected [bundle: bstr, presentation: bstr]")
        bundle, presentation = item
        if len(bundle) > MAX_BUNDLE_SIZE:
            raise DecodeError(f"presentation file: bundle exceeds {MAX_BUNDLE_SIZE} bytes")
        if len(presentation) > signing.MAX_SIGN1_SIZE:
            raise DecodeError(
                f"presentation file: presentation exceeds {signing.MAX_SIGN1_SIZE} bytes"
            )
        return cls(bundle, presentation)


# ---------------------------------------------------------------------------------------
# Producing (spec/bundle.md §4.4)


def _unverified_certificate(bundle: bytes) -> Certificate:
    # The holder's own sanity check reads the certificate without a trust policy: it only
    # spares the holder a presentation every verifier would refuse. Verifiers never rely on
    # this path; they read the holder keys from the certificate verify_bundle returns.
    entry = Bundle.from_cbor(bundle).certificate.entry
    envelope = signing.decode_sign1(entry)
    if envelope.content_type != signing.CONTENT_TYPES["certificate"]:
        raise DecodeError("the bundle's certificate entry is not a certificate")
    return Certificate.from_cbor(envelope.payload)


def present(
    bundle: bytes, holder: signing.Signer, *, audience: str, nonce: bytes, at: int
) -> bytes:
    """Sign a presentation of ``bundle`` for one verifier and return the presentation
    file (spec/bundle.md §4.4).

    Args:
        bundle: the bundle bytes, exactly as they will be carried.
        holder: a signer whose public key is one of the certificate's holder keys.
        audience: the verifier's identifier, as the verifier will expect it.
        nonce: the verifier's challenge for this exchange (16 to 64 bytes).
        at: the time of presentation, POSIX seconds.

    Raises:
        DecodeError: ``bundle`` is not a bundle, or its certificate entry does not decode.
        ModelError: the certificate payload breaks a model rule; ``audience``, ``nonce`` or
            ``at`` breaks a rule of spec/bundle.md §4.1.
        PresentationError: the holder's key is not listed in the certificate, or the
            signer's key id is not the key id of its public key.
        SignatureError: the signer returned a signature that does not verify.
        EncodeError: the result would exceed a size limit.
    """
    payload = Presentation(bundle_digest(bundle), audience, nonce, at).to_cbor()
    certificate = _unverified_certificate(bundle)
    if holder.key_id != signing.key_id(holder.public_key):
        raise PresentationError("the holder's key id is not the key id of its public key")
    if holder.public_key not in certificate.subject.holder_keys:
        raise PresentationError("the holder's key is not a holder key of the certificate")
    signed = signing.sign1(holder, content_type=_CONTENT_TYPE, payload=payload)
    return PresentationFile(bundle, signed).to_cbor()


# ---------------------------------------------------------------------------------------
# Verifying (spec/bundle.md §4.5)


@dataclass(frozen=True, slots=True)
class VerifiedPresentation:
    """A presentation that passed every step of spec/bundle.md §4.5: the verified bundle,
    the holder key that signed it (and its key id), and the time it was presented at."""

    bundle: VerifiedBundle
    holder_key: bytes
    holder_key_id: bytes
    presented_at: int


def _check_expectations(*, at: int, audience: str, nonce: bytes, max_age: int) -> None:
    # §4.5 step 0: expectations no presentation could meet are refused before anything is
    # read, rather than reported later as a mismatch.
    if type(at) is not int or not 0 <= at < _TIME_LIMIT:
        raise PresentationError("at: must be an integer in [0, 2**63)")
    if type(max_age) is not int or not 0 <= max_age < _TIME_LIMIT:
        raise PresentationError("max_age: must be an integer in [0, 2**63) (seconds)")
    if not isinstance(nonce, bytes) or not MIN_NONCE_SIZE <= len(nonce) <= MAX_NONCE_SIZE:
        raise PresentationError(f"expected nonce: {MIN_NONCE_SIZE} to {MAX_NONCE_SIZE} bytes")
    if not isinstance(audience, str):
        raise PresentationError("expected audience: must be a text string")
    try:
        f.text(audience, "expected audience", max_len=MAX_AUDIENCE_LENGTH)
    except NocLedgerError as exc:
        raise PresentationError(str(exc)) from None


def verify_presentation(
    data: bytes,
    policy: TrustPolicy,
    *,
    at: int,
    audience: str,
    nonce: bytes,
    max_age: int,
    query: Query | None = None,
) -> VerifiedPresentation:
    """Verify a presentation file (spec/bundle.md §4.5) at time ``at``.

    Args:
        data: the presentation file as received.
        policy: the verifier's trust policy, for the bundle.
        at: the time the verifier asks about, POSIX seconds (its "now").
        audience: the verifier's own identifier; the presentation must name exactly it.
        nonce: the nonce the verifier issued for this exchange.
        max_age: how old (seconds) the presentation may be at ``at``. No default: the
            verifier decides how long it remembers its nonces.
        query: optionally, the scope question for the bundle (verification.md §3 step 14).

    Raises:
        PresentationError: the expectations are malformed (step 0); or the presentation is
            not a valid COSE_Sign1 of the presentation kind, is not signed by a holder key
            of the certificate, is over another bundle, names another audience or nonce,
            or is older than ``max_age`` or more than :data:`FUTURE_ALLOWANCE` seconds in
            the future.
        DecodeError: the file or the presentation's envelope or payload does not decode.
        VerificationError: any error class of :func:`noc_ledger.verify.verify_bundle`,
            unchanged: the bundle's verdict stands (e.g. RevokedError, StaleError).
    """
    _check_expectations(at=at, audience=audience, nonce=nonce, max_age=max_age)
    # Step 1: DecodeError.
    received = PresentationFile.from_cbor(data)
    # Step 2: the bundle's own verdict, whatever the presentation says. It also yields the
    # authenticated certificate, the only source of holder keys (house rule 2).
    verified = verify_bundle(received.bundle, policy, at=at, query=query)
    # Step 3: the envelope (signing.md §4 steps 1-5). Malformed CBOR stays a DecodeError;
    # a profile violation is this document's PresentationError.
    try:
        envelope = signing.decode_sign1(received.presentation)
    except SignatureError as exc:
        raise PresentationError(f"presentation envelope: {exc}") from None
    # Step 4: the document kind (signing.md §1): a holder's signature over anything else
    # is never a presentation.
    if envelope.content_type != _CONTENT_TYPE:
        raise PresentationError(f"not a presentation: content type {envelope.content_type!r}")
    # Step 5: the kid names one of the certificate's holder keys (certificate.md §3.4).
    holder_keys = verified.certificate.subject.holder_keys
    if not holder_keys:
        raise PresentationError("the certificate lists no holder keys: it cannot be presented")
    holder_key = next((k for k in holder_keys if signing.key_id(k) == envelope.key_id), None)
    if holder_key is None:
        raise PresentationError("the presentation is not signed by a holder key of the certificate")
    # Step 6: the signature over the bytes as received (signing.md §2.1, §4.1).
    try:
        signing.verify_ed25519(holder_key, envelope.to_be_signed(), envelope.signature)
    except SignatureError as exc:
        raise PresentationError(f"presentation signature: {exc}") from None
    # Step 7: only now is the payload read. DecodeError.
    payload = Presentation.from_cbor(envelope.payload)
    # Step 8: over exactly these bundle bytes.
    if not hmac.compare_digest(payload.bundle_digest, bundle_digest(received.bundle)):
        raise PresentationError("the presentation is over another bundle")
    # Step 9: for this verifier (no case folding or normalisation: code points compare).
    if payload.audience != audience:
        raise PresentationError(f"the presentation is for {payload.audience!r}, not {audience!r}")
    # Step 10: for this exchange. Constant time, so that a guesser learns nothing from
    # timing about how much of the nonce matched.
    if not hmac.compare_digest(payload.nonce, nonce):
        raise PresentationError("the presentation answers another nonce")
    # Step 11: recent, and not from further in the future than clock skew explains.
    age = at - payload.presented_at
    if age > max_age:
        raise PresentationError(
            f"the presentation is {age} s old at the time asked; at most {max_age} s allowed"
        )
    if age < -FUTURE_ALLOWANCE:
        raise PresentationError(
            f"the presentation is dated {-age} s after the time asked; "
            f"at most {FUTURE_ALLOWANCE} s allowed"
        )
    return VerifiedPresentation(verified, holder_key, envelope.key_id, payload.presented_at)
