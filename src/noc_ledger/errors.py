"""The one exception hierarchy of noc_ledger (GUIDE §2).

Every failure the library reports is a :class:`NocLedgerError`; callers catch that, or a
subclass when they care which step failed. No exception from a third-party library
(cbor2, PyNaCl, cryptography) escapes the public API: the modules that touch them
translate at the boundary.
"""

from __future__ import annotations

__all__ = [
    "CertificateStatusError",
    "ConsistencyError",
    "DecodeError",
    "EncodeError",
    "EndedError",
    "ExpiredError",
    "InclusionError",
    "InconsistencyError",
    "KeyChainError",
    "KeyFileError",
    "ModelError",
    "NocLedgerError",
    "NotCoveredError",
    "NotYetValidError",
    "OutOfRangeError",
    "OutOfScopeError",
    "PolicyError",
    "PresentationError",
    "QuorumError",
    "RevokedError",
    "ScopeError",
    "SignatureError",
    "StaleError",
    "StatusMapError",
    "StatusProofError",
    "StatusRootError",
    "StorageError",
    "SupersededError",
    "SuspendedError",
    "TransitionError",
    "VerificationError",
]


class NocLedgerError(Exception):
    """Base class of every error raised by noc_ledger."""


class DecodeError(NocLedgerError):
    """Bytes are not a valid encoding: not canonical CBOR (spec/encoding.md), over a limit,
    or not of the structure the spec defines for that document kind."""


class EncodeError(NocLedgerError):
    """A value cannot be written in the CBOR profile of spec/encoding.md (a float, an
    integer out of range, a key of a forbidden type, a string that is not valid Unicode)."""


class ModelError(NocLedgerError):
    """A value is well-formed but violates a rule of the model (spec/certificate.md),
    e.g. an LEI whose check digits fail, or a NOC without its disclaimer."""


class KeyFileError(NocLedgerError):
    """A key file could not be read: wrong passphrase, not Ed25519, not PKCS#8, or not
    encrypted where encryption is required (spec/signing.md §6)."""


class TokenError(KeyFileError):
    """A key in a PKCS#11 token (an HSM) could not be used: module, token, PIN or key."""


class PolicyError(NocLedgerError):
    """A trust policy is malformed or internally inconsistent."""


class VerificationError(NocLedgerError):
    """A check of authenticity, integrity or authority failed."""


class SignatureError(VerificationError):
    """A signature, or the COSE_Sign1 envelope around it, does not verify
    (spec/signing.md)."""


class StatusProofError(VerificationError):
    """A status-map proof does not verify (spec/revocation.md §3.4)."""


class StatusRootError(VerificationError):
    """A checkpoint's status-root line is not the root of the status map derived from its
    entries (spec/revocation.md §6): the log committed to a wrong map (spec/audit.md)."""


class StatusMapError(NocLedgerError, ValueError):
    """A key, value or root given to the status map is outside its domain
    (spec/revocation.md §2.1): a key or root that is not 32 bytes, a value that is not 1 to
    1,024 bytes. A caller bug, hence also a ``ValueError``."""


class ScopeError(VerificationError):
    """A scope is not within the scope that must contain it (spec/certificate.md §5)."""


class InclusionError(VerificationError):
    """A Merkle inclusion proof does not verify (spec/log.md §4)."""


class ConsistencyError(VerificationError):
    """A Merkle consistency proof does not verify (spec/log.md §5)."""


class OutOfRangeError(NocLedgerError, ValueError):
    """An index or size names something outside the log or tree (for example a proof asked
    for an index not below the size). Also a ``ValueError``, which it is."""


class TransitionError(ModelError):
    """An event does not apply to the current state (spec/events.md §4): an event after a
    terminal state, a reinstatement of something not suspended, an effective time before
    the certificate's issuance, an unknown predecessor, …"""


class KeyChainError(VerificationError):
    """The issuing key is not delegated by a trusted root, or signed outside its
    delegation (validity window, log position, or a revocation that invalidates it)
    (spec/verification.md)."""


class QuorumError(VerificationError):
    """The checkpoint lacks the witness cosignatures the trust policy requires."""


class StaleError(VerificationError):
    """Can't tell: the status data is older than the trust policy allows, or the record
    cannot speak for the time asked about (spec/verification.md)."""


class NotCoveredError(VerificationError):
    """Can't tell: the checkpoint predates the certificate's entry."""


class CertificateStatusError(VerificationError):
    """The evidence is authentic and complete, and says the certificate may not be relied
    on for what was asked. The subclasses name why; ``details`` carries what a relying
    party needs (reason code, effective time, successor id, …)."""

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, object] = dict(details or {})


class NotYetValidError(CertificateStatusError):
    """The time asked about is before the certificate's validity starts."""


class ExpiredError(CertificateStatusError):
    """The certificate's validity had ended (its end date, or an expire event)."""


class SuspendedError(CertificateStatusError):
    """The certificate, or every grant that would permit the query, is suspended."""


class RevokedError(CertificateStatusError):
    """The certificate was revoked (final)."""


class SupersededError(CertificateStatusError):
    """The certificate was replaced by a successor (varied, renewed, corrected, upgraded)."""


class EndedError(CertificateStatusError):
    """The certificate ended by surrender or lapse."""


class OutOfScopeError(CertificateStatusError):
    """The certificate is in force but does not permit what was asked."""


class InconsistencyError(ConsistencyError):
    """Two checkpoints of one log that cannot both be honest (a split view or a rollback):
    ``first`` and ``second`` are the two signed notes, verbatim, as evidence."""

    def __init__(self, message: str, *, first: bytes = b"", second: bytes = b"") -> None:
        super().__init__(message)
        self.first = first
        self.second = second


class PresentationError(VerificationError):
    """A holder-bound presentation does not verify: wrong audience or nonce, too old, not
    signed by a holder key listed in the certificate, or not over this bundle."""


class StorageError(NocLedgerError):
    """The ledger's store failed or holds data that contradicts itself."""


class FetchError(NocLedgerError):
    """A published log (a tiles directory or an HTTP base URL) could not be read: missing
    file, HTTP error, timeout, or a response over its size limit (spec/tiles.md)."""


class WitnessError(NocLedgerError):
    """A witness refused or failed to cosign a checkpoint, or too few witnesses cosigned to
    meet the quorum needed to publish it (spec/witness.md)."""
