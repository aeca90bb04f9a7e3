"""Offline verification of a bundle against a trust policy (spec/verification.md).

:func:`verify_bundle` runs the numbered steps of spec/verification.md §3 in order; each step
raises exactly one error class, so the exception *is* the verdict. :func:`explain_bundle`
runs the same steps without raising and reports each one, for tools and the CLI.
:class:`BundleVerifier` does the same with a cache, so that many bundles relying on one
checkpoint check its signatures once.

Everything is pure: the caller brings the bundle bytes, the trust policy and the time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from noc_ledger import merkle, signing, statusmap
from noc_ledger.bundle import Bundle, LoggedEntry, StatusEvidence
from noc_ledger.checkpoint import (
    Checkpoint,
    decode_checkpoint_note,
    open_checkpoint,
    verify_cosignatures,
)
from noc_ledger.errors import (
    EndedError,
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
    StatusProofError,
    SupersededError,
    SuspendedError,
    VerificationError,
)
from noc_ledger.events import CertState, CertStatus, KeyEvent, KeyEventKind, KeyStatus
from noc_ledger.model import Certificate, LegalNotice, certificate_id
from noc_ledger.policy import TrustPolicy
from noc_ledger.scope import Evaluation, Grant, Query, check_within, evaluate

__all__ = [
    "BundleVerifier",
    "Explanation",
    "Step",
    "Verdict",
    "VerifiedBundle",
    "explain_bundle",
    "verify_bundle",
]


class Verdict(StrEnum):
    """What a relying party is told (spec/verification.md §2)."""

    VALID = "valid"
    OUT_OF_SCOPE = "out-of-scope"
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    ENDED = "ended"
    STALE = "stale"
    NOT_COVERED = "not-covered"
    INVALID = "invalid"


_VERDICT_OF: dict[type[NocLedgerError], Verdict] = {
    OutOfScopeError: Verdict.OUT_OF_SCOPE,
    NotYetValidError: Verdict.NOT_YET_VALID,
    ExpiredError: Verdict.EXPIRED,
    SuspendedError: Verdict.SUSPENDED,
    RevokedError: Verdict.REVOKED,
    SupersededError: Verdict.SUPERSEDED,
    EndedError: Verdict.ENDED,
    StaleError: Verdict.STALE,
    NotCoveredError: Verdict.NOT_COVERED,
}


def verdict_of(error: NocLedgerError) -> Verdict:
    """The verdict an error stands for: its class's, or ``invalid``."""
    for cls in type(error).__mro__:
        if cls in _VERDICT_OF:
            return _VERDICT_OF[cls]
    return Verdict.INVALID


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """A bundle that passed every step: what the relying party may rely on."""

    certificate: Certificate
    certificate_id: bytes
    index: int
    checkpoint: Checkpoint
    status: CertStatus
    issuing_key_id: bytes
    evaluation: Evaluation | None
    witnesses: tuple[str, ...]

    @property
    def legal_notices(self) -> tuple[LegalNotice, ...]:
        return self.certificate.legal_notices

    @property
    def grants(self) -> tuple[Grant, ...]:
        """The grants that permit the query (all grants if there was no query)."""
        if self.evaluation is None:
            return self.certificate.scope.grants
        return self.evaluation.grants


@dataclass(frozen=True, slots=True)
class Step:
    """One step of spec/verification.md §3 as :func:`explain_bundle` reports it."""

    number: int
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Every step run, the verdict, and the result if valid (never raises)."""

    verdict: Verdict
    steps: tuple[Step, ...]
    error: NocLedgerError | None
    result: VerifiedBundle | None


_T = TypeVar("_T")


@dataclass
class _Context:
    data: bytes
    policy: TrustPolicy
    at: int
    query: Query | None
    cache: dict[bytes, tuple[Checkpoint, tuple[str, ...]]] | None
    links: dict[bytes, KeyEvent] | None = None
    bundle: Bundle | None = None
    checkpoint: Checkpoint | None = None
    witnesses: tuple[str, ...] = ()
    delegation: KeyEvent | None = None
    certificate: Certificate | None = None
    cert_id: bytes = b""
    key_id: bytes = b""
    status: CertStatus | None = None
    evaluation: Evaluation | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def need(self, value: _T | None) -> _T:
        if value is None:
            raise VerificationError("internal: a step ran before the one it depends on")
        return value


# ---------------------------------------------------------------------------------------
# The steps of spec/verification.md §3. Each raises exactly one error class.


def _step_decode(c: _Context) -> str:
    # §3 step 1: DecodeError.
    c.bundle = Bundle.from_cbor(c.data)
    return f"bundle of {len(c.data)} bytes, certificate at index {c.bundle.certificate.index}"


def _step_checkpoint(c: _Context) -> str:
    # §3 step 2: SignatureError (DecodeError for a malformed note). The origin and key come
    # from the policy, never from the bundle.
    bundle = c.need(c.bundle)
    if c.cache is not None and bundle.checkpoint in c.cache:
        c.checkpoint, c.witnesses = c.cache[bundle.checkpoint]
        return f"checkpoint {c.checkpoint.origin} size {c.checkpoint.size} (cached)"
    origin = decode_checkpoint_note(bundle.checkpoint).origin
    log_key = c.policy.log_for(origin)
    if log_key is None:
        raise SignatureError(f"checkpoint origin {origin!r} is not a log of the trust policy")
    opened = open_checkpoint(bundle.checkpoint, origin=origin, log_key=log_key)
    c.checkpoint = opened.checkpoint
    c.extra["opened"] = opened
    return f"checkpoint {origin} size {opened.checkpoint.size} signed by the log"


def _step_quorum(c: _Context) -> str:
    # §3 step 3: QuorumError.
    bundle = c.need(c.bundle)
    if c.cache is not None and bundle.checkpoint in c.cache:
        return f"witnesses {', '.join(c.witnesses) or 'none required'} (cached)"
    opened = c.extra["opened"]
    try:
        cosigned = verify_cosignatures(opened, list(c.policy.witnesses.values()))  # type: ignore[arg-type]
    except NocLedgerError as exc:
        raise QuorumError(f"a witness cosignature does not verify: {exc}") from None
    names = tuple(sorted({w.name for w in cosigned}))
    if not c.policy.quorum_satisfied(names):
        raise QuorumError(f"witness quorum not met (cosigned by: {', '.join(names) or 'none'})")
    c.witnesses = names
    if c.cache is not None:
        c.cache[bundle.checkpoint] = (c.need(c.checkpoint), names)
    return f"witness quorum met ({', '.join(names) or 'none required'})"


def _step_fresh(c: _Context) -> str:
    # §3 step 4: StaleError. Status is only as fresh as the checkpoint's signed time.
    cp = c.need(c.checkpoint)
    age = c.at - cp.time
    if age > c.policy.max_status_age:
        raise StaleError(
            f"can't tell: the status data is {age} s old at the time asked, "
            f"the policy allows {c.policy.max_status_age} s"
        )
    return f"checkpoint time {cp.time}, age {age} s (policy: at most {c.policy.max_status_age} s)"


def _step_covered(c: _Context) -> str:
    # §3 step 5: NotCoveredError.
    bundle, cp = c.need(c.bundle), c.need(c.checkpoint)
    for logged in (bundle.certificate, *bundle.key_chain):
        if logged.index >= cp.size:
            raise NotCoveredError(
                f"can't tell: the checkpoint (size {cp.size}) predates entry {logged.index}"
            )
    return f"entries {bundle.certificate.index} and the key chain lie below size {cp.size}"


def _check_inclusion(logged: LoggedEntry, cp: Checkpoint) -> None:
    merkle.verify_inclusion(
        index=logged.index,
        size=cp.size,
        leaf_hash=merkle.leaf_hash(logged.entry),
        proof=logged.proof,
        root=cp.root,
    )


def _step_inclusion(c: _Context) -> str:
    # §3 step 6: InclusionError.
    bundle, cp = c.need(c.bundle), c.need(c.checkpoint)
    for logged in (bundle.certificate, *bundle.key_chain):
        _check_inclusion(logged, cp)
    return f"{1 + len(bundle.key_chain)} entries included in the checkpoint's tree"


def _step_key_chain(c: _Context) -> str:
    # §3 step 7: KeyChainError (and SignatureError/ScopeError for the delegation itself).
    bundle = c.need(c.bundle)
    if len(bundle.key_chain) != 1:
        raise KeyChainError("version 1 key chains have exactly one link (root → issuing key)")
    link = bundle.key_chain[0]
    if c.links is not None and link.entry in c.links:
        # §4: a delegation already verified against this policy (same bytes).
        c.delegation = c.links[link.entry]
        return f"issuing key {c.delegation.key_id.hex()[:16]}… delegated by a trusted root (cached)"
    envelope = signing.decode_sign1(link.entry)
    if envelope.content_type != signing.CONTENT_TYPES["key-event"]:
        raise KeyChainError("the key chain link is not a key event")
    root = next(
        (r for r in c.policy.roots if signing.key_id(r.public_key) == envelope.key_id), None
    )
    if root is None:
        raise KeyChainError("the delegation is not signed by a root key of the trust policy")
    try:
        signing.verify_sign1(
            link.entry, content_type=envelope.content_type, public_key=root.public_key
        )
        event = KeyEvent.from_cbor(envelope.payload)
    except NocLedgerError as exc:
        raise KeyChainError(f"the delegation does not verify: {exc}") from None
    if event.kind is not KeyEventKind.DELEGATE or event.scope is None:
        raise KeyChainError("the key chain link is not a delegation")
    try:
        check_within(event.scope, root.scope, what="delegated scope")
    except NocLedgerError as exc:
        raise KeyChainError(str(exc)) from None
    c.delegation = event
    if c.links is not None:
        c.links[link.entry] = event
    return (
        f"issuing key {event.key_id.hex()[:16]}… delegated by a trusted root at index {link.index}"
    )


def _step_certificate(c: _Context) -> str:
    # §3 step 8: SignatureError (DecodeError/ModelError for the payload).
    bundle, delegation = c.need(c.bundle), c.need(c.delegation)
    verified = signing.verify_sign1(
        bundle.certificate.entry,
        content_type=signing.CONTENT_TYPES["certificate"],
        public_key=delegation.public_key,
    )
    c.certificate = Certificate.from_cbor(verified.payload)
    c.cert_id = certificate_id(verified.payload)
    c.key_id = verified.key_id
    return f"certificate {c.certificate.number} signed by the delegated key"


def _step_authority(c: _Context) -> str:
    # §3 step 9: KeyChainError — the key signed within its delegation.
    bundle, delegation, cert = c.need(c.bundle), c.need(c.delegation), c.need(c.certificate)
    link = bundle.key_chain[0]
    if bundle.certificate.index <= link.index:
        raise KeyChainError("the certificate is logged before its key's delegation")
    assert delegation.valid_until is not None
    if not delegation.effective_at <= cert.issued_at < delegation.valid_until:
        raise KeyChainError("the certificate was issued outside its key's validity window")
    assert delegation.scope is not None
    try:
        check_within(cert.scope, delegation.scope, what="certificate scope")
    except NocLedgerError as exc:
        raise KeyChainError(str(exc)) from None
    return "issued within the key's validity window and delegated scope"


def _verify_evidence(evidence: StatusEvidence, key: bytes, cp: Checkpoint, what: str) -> bytes:
    statusmap.verify_status(
        root=cp.status_root, key=key, value=evidence.value, proof=evidence.proof
    )
    if evidence.value is None:
        # revocation.md §5: an id logged below the checkpoint's size is always present.
        raise StatusProofError(f"the status map has no record of the {what}")
    return evidence.value


def _step_key_status(c: _Context) -> str:
    # §3 step 10: StatusProofError for the proof, KeyChainError for a revoked key.
    bundle, cp = c.need(c.bundle), c.need(c.checkpoint)
    value = _verify_evidence(bundle.key_status, c.key_id, cp, "issuing key")
    try:
        record = KeyStatus.from_cbor(value)
    except NocLedgerError as exc:
        raise StatusProofError(f"the key record is malformed: {exc}") from None
    if record.delegated_index != bundle.key_chain[0].index:
        raise StatusProofError("the key record names another delegation")
    if not record.may_sign_at(bundle.certificate.index):
        raise KeyChainError(
            f"the issuing key was revoked; its certificates from index {record.invalidate_from} "
            "on are invalid"
        )
    return f"issuing key {record.state} at the checkpoint"


def _step_cert_status(c: _Context) -> str:
    # §3 step 11: StatusProofError.
    bundle, cp = c.need(c.bundle), c.need(c.checkpoint)
    value = _verify_evidence(bundle.certificate_status, c.cert_id, cp, "certificate")
    try:
        record = CertStatus.from_cbor(value)
    except NocLedgerError as exc:
        raise StatusProofError(f"the status record is malformed: {exc}") from None
    if record.issued_index != bundle.certificate.index:
        raise StatusProofError("the status record is for another issuance")
    c.status = record
    return f"status at the checkpoint: {record.state} since {record.since}"


def _step_validity(c: _Context) -> str:
    # §3 step 12: NotYetValidError / ExpiredError (the certificate's own window).
    cert = c.need(c.certificate)
    if c.at < cert.issued_at:
        raise NotYetValidError(
            f"not yet issued: issued at {cert.issued_at}", details={"issued_at": cert.issued_at}
        )
    if c.at < cert.valid_from:
        raise NotYetValidError(
            f"not yet valid: valid from {cert.valid_from}", details={"valid_from": cert.valid_from}
        )
    if cert.valid_until is not None and c.at >= cert.valid_until:
        raise ExpiredError(
            f"expired at {cert.valid_until}", details={"valid_until": cert.valid_until}
        )
    return f"within its validity window at {c.at}"


def _step_state(c: _Context) -> str:
    # §3 step 13: the status at ``at`` (events.md §4.4).
    record = c.need(c.status)
    state = record.state_at(c.at)
    details: dict[str, object] = {"state": str(state), "since": record.since, "index": record.index}
    if record.reason is not None:
        details["reason"] = str(record.reason)
    if state is None:
        raise StaleError("can't tell: the status record does not reach back to the time asked")
    if state is CertState.ACTIVE:
        return "active at the time asked"
    if state is CertState.SUSPENDED:
        raise SuspendedError(f"suspended ({record.reason})", details=details)
    if state is CertState.REVOKED:
        raise RevokedError(
            f"revoked ({record.reason}) with effect from {record.since}", details=details
        )
    if state is CertState.SUPERSEDED:
        successor = record.successor.hex() if record.successor else "?"
        details["successor"] = successor
        raise SupersededError(f"superseded by certificate {successor}", details=details)
    if state is CertState.EXPIRED:
        raise ExpiredError(f"expired with effect from {record.since}", details=details)
    raise EndedError(f"ended: {state}", details=details)


def _step_query(c: _Context) -> str:
    # §3 step 14: OutOfScopeError / SuspendedError (a suspended grant).
    if c.query is None:
        return "no query: the certificate is in force"
    cert, record = c.need(c.certificate), c.need(c.status)
    evaluation = evaluate(cert.scope, c.query)
    if not evaluation.permitted:
        raise OutOfScopeError(f"the certificate does not permit {c.query.activity} as asked")
    # The suspended list is the current record's: it speaks for times from its ``since``
    # on (spec/verification.md §3 step 14).
    suspended = record.suspended if c.at >= record.since else ()
    usable = tuple(g for g in evaluation.grants if g.activity not in suspended)
    if not usable:
        raise SuspendedError(
            "every grant that would permit this is suspended",
            details={"suspended": list(suspended)},
        )
    conditions = tuple(sorted({x for g in usable for x in g.conditions_precedent}))
    c.evaluation = Evaluation(True, usable, conditions)
    return f"permitted by {len(usable)} grant(s)"


_STEPS: tuple[tuple[str, Callable[[_Context], str]], ...] = (
    ("decode the bundle", _step_decode),
    ("open the checkpoint", _step_checkpoint),
    ("witness quorum", _step_quorum),
    ("freshness", _step_fresh),
    ("coverage", _step_covered),
    ("inclusion", _step_inclusion),
    ("key chain", _step_key_chain),
    ("certificate signature", _step_certificate),
    ("issuing authority", _step_authority),
    ("issuing key status", _step_key_status),
    ("certificate status", _step_cert_status),
    ("validity window", _step_validity),
    ("status at the time asked", _step_state),
    ("scope query", _step_query),
)


def _result(c: _Context) -> VerifiedBundle:
    return VerifiedBundle(
        certificate=c.need(c.certificate),
        certificate_id=c.cert_id,
        index=c.need(c.bundle).certificate.index,
        checkpoint=c.need(c.checkpoint),
        status=c.need(c.status),
        issuing_key_id=c.key_id,
        evaluation=c.evaluation,
        witnesses=c.witnesses,
    )


def _run(c: _Context) -> VerifiedBundle:
    for _name, step in _STEPS:
        step(c)
    return _result(c)


def verify_bundle(
    data: bytes, policy: TrustPolicy, *, at: int, query: Query | None = None
) -> VerifiedBundle:
    """Verify a bundle offline (spec/verification.md §3) at time ``at``.

    Raises:
        DecodeError, SignatureError, QuorumError, InclusionError, KeyChainError,
            StatusProofError, ModelError: the bundle is invalid (verdict ``invalid``).
        StaleError, NotCoveredError: can't tell.
        NotYetValidError, ExpiredError, SuspendedError, RevokedError, SupersededError,
            EndedError, OutOfScopeError: authentic, and not to be relied on for this.
    """
    return _run(_Context(data, policy, at, query, None))


def explain_bundle(
    data: bytes, policy: TrustPolicy, *, at: int, query: Query | None = None
) -> Explanation:
    """Run the steps of :func:`verify_bundle`, reporting each; never raises for bad input."""
    c = _Context(data, policy, at, query, None)
    steps: list[Step] = []
    for number, (name, step) in enumerate(_STEPS, start=1):
        try:
            detail = step(c)
        except NocLedgerError as exc:
            steps.append(Step(number, name, False, str(exc)))
            return Explanation(verdict_of(exc), tuple(steps), exc, None)
        steps.append(Step(number, name, True, detail))
    return Explanation(Verdict.VALID, tuple(steps), None, _result(c))


class BundleVerifier:
    """Verifies many bundles against one policy, checking each distinct checkpoint's log
    signature and witness quorum, and each distinct delegation, once
    (spec/verification.md §4)."""

    def __init__(self, policy: TrustPolicy, *, max_cached: int = 1024) -> None:
        self.policy = policy
        self._cache: dict[bytes, tuple[Checkpoint, tuple[str, ...]]] = {}
        self._links: dict[bytes, KeyEvent] = {}
        self._max = max_cached

    def verify(self, data: bytes, *, at: int, query: Query | None = None) -> VerifiedBundle:
        """As :func:`verify_bundle`."""
        if len(self._cache) >= self._max:
            self._cache.clear()
        if len(self._links) >= self._max:
            self._links.clear()
        return _run(_Context(data, self.policy, at, query, self._cache, self._links))


def bundle_digest(data: bytes) -> bytes:
    """SHA-256 of a bundle's bytes, as a presentation binds it (spec/bundle.md §4)."""
    return hashlib.sha256(data).digest()
