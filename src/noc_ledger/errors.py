"""The one exception hierarchy of noc_ledger (GUIDE §2).

Every failure the library reports is a :class:`NocLedgerError`; callers catch that, or a
subclass when they care which step failed. No exception from a third-party library
(cbor2, PyNaCl, cryptography) escapes the public API: the modules that touch them
translate at the boundary.
"""

from __future__ import annotations

__all__ = [
    "ConsistencyError",
    "DecodeError",
    "EncodeError",
    "InclusionError",
    "KeyFileError",
    "ModelError",
    "NocLedgerError",
    "OutOfRangeError",
    "PolicyError",
    "ScopeError",
    "SignatureError",
    "StatusMapError",
    "StatusProofError",
    "StorageError",
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


class PolicyError(NocLedgerError):
    """A trust policy is malformed or internally inconsistent."""


class VerificationError(NocLedgerError):
    """A check of authenticity, integrity or authority failed."""


class SignatureError(VerificationError):
    """A signature, or the COSE_Sign1 envelope around it, does not verify
    (spec/signing.md)."""


class StatusProofError(VerificationError):
    """A status-map proof does not verify (spec/revocation.md §3.4)."""


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


class StorageError(NocLedgerError):
    """The ledger's store failed or holds data that contradicts itself."""
