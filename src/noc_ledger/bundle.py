"""The offline bundle (spec/bundle.md, GUIDE D8): everything a verifier needs, in one CBOR
item, tied to one checkpoint. This module encodes and decodes; it verifies nothing
(:mod:`noc_ledger.verify` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from noc_ledger import _fields as f
from noc_ledger import codec
from noc_ledger.codec import CborValue
from noc_ledger.errors import DecodeError, ModelError
from noc_ledger.statusmap import StatusProof

__all__ = ["BUNDLE_VERSION", "MAX_BUNDLE_SIZE", "Bundle", "LoggedEntry", "StatusEvidence"]

#: spec/bundle.md §2: the format version, key 0.
BUNDLE_VERSION: Final = 1
#: spec/bundle.md §2: the largest bundle a decoder reads.
MAX_BUNDLE_SIZE: Final = 1 << 20
_MAX_PROOF: Final = 64
_MAX_CHAIN: Final = 8


@dataclass(frozen=True, slots=True)
class LoggedEntry:
    """An entry as logged, with its index and an inclusion proof for the bundle's
    checkpoint (spec/bundle.md §2.1). ``entry`` is the signed document verbatim."""

    index: int
    entry: bytes
    proof: tuple[bytes, ...]

    def to_item(self) -> CborValue:
        return [self.index, self.entry, list(self.proof)]

    @classmethod
    def from_item(cls, value: CborValue, what: str) -> LoggedEntry:
        if not isinstance(value, list) or len(value) != 3:
            raise DecodeError(f"{what}: expected [index, entry, proof]")
        index, entry, proof = value
        f.uint(index, f"{what} index")
        if not isinstance(entry, bytes):
            raise DecodeError(f"{what}: entry must be a byte string")
        if not isinstance(proof, list) or len(proof) > _MAX_PROOF:
            raise DecodeError(f"{what}: proof must be an array of at most {_MAX_PROOF} hashes")
        if not all(isinstance(h, bytes) for h in proof):
            raise DecodeError(f"{what}: proof hashes must be byte strings")
        return cls(index, entry, tuple(proof))


@dataclass(frozen=True, slots=True)
class StatusEvidence:
    """A status-map proof for one id: ``value`` is the record (None: absent) and
    ``proof`` the compressed proof (spec/revocation.md §3.3)."""

    value: bytes | None
    proof: StatusProof

    def to_item(self) -> CborValue:
        return [self.value, self.proof.to_item()]

    @classmethod
    def from_item(cls, value: CborValue, what: str) -> StatusEvidence:
        if not isinstance(value, list) or len(value) != 2:
            raise DecodeError(f"{what}: expected [value, proof]")
        record, proof = value
        if record is not None and not isinstance(record, bytes):
            raise DecodeError(f"{what}: value must be a byte string or null")
        return cls(record, StatusProof.from_item(proof))


@dataclass(frozen=True, slots=True)
class Bundle:
    """An offline bundle (spec/bundle.md §2).

    ``certificate`` is the certificate's issuance entry; ``key_chain`` the delegation
    entries from a trusted root to the issuing key (one link in version 1);
    ``checkpoint`` the signed checkpoint note verbatim (with any cosignatures);
    ``certificate_status`` and ``key_status`` the status-map proofs for the certificate
    id and the issuing key id at that checkpoint. Nothing here is trusted until
    :func:`noc_ledger.verify.verify_bundle` has checked it.
    """

    certificate: LoggedEntry
    key_chain: tuple[LoggedEntry, ...]
    checkpoint: bytes
    certificate_status: StatusEvidence
    key_status: StatusEvidence

    def to_item(self) -> CborValue:
        return {
            0: BUNDLE_VERSION,
            1: self.certificate.to_item(),
            2: [link.to_item() for link in self.key_chain],
            3: self.checkpoint,
            4: self.certificate_status.to_item(),
            5: self.key_status.to_item(),
        }

    def to_cbor(self) -> bytes:
        return codec.encode(self.to_item())

    @classmethod
    def from_cbor(cls, data: bytes) -> Bundle:
        """Decode a bundle (spec/bundle.md §3).

        Raises:
            DecodeError: not canonical CBOR, over 1 MiB, an unknown version, or not the
                structure of spec/bundle.md §2.
        """
        m = f.fields(codec.decode(data, max_size=MAX_BUNDLE_SIZE), "bundle", (0, 1, 2, 3, 4, 5))
        if type(m[0]) is not int or m[0] != BUNDLE_VERSION:
            raise DecodeError(f"bundle version {m[0]!r} is not supported")
        chain = m[2]
        if not isinstance(chain, list) or not 1 <= len(chain) <= _MAX_CHAIN:
            raise DecodeError(f"bundle key chain: 1 to {_MAX_CHAIN} links")
        if not isinstance(m[3], bytes):
            raise DecodeError("bundle checkpoint: expected a byte string")
        try:
            return cls(
                LoggedEntry.from_item(m[1], "bundle certificate"),
                tuple(LoggedEntry.from_item(x, "bundle key chain link") for x in chain),
                m[3],
                StatusEvidence.from_item(m[4], "bundle certificate status"),
                StatusEvidence.from_item(m[5], "bundle key status"),
            )
        except ModelError as exc:
            # A value out of range inside the structure (an index of 2**63 or more).
            raise DecodeError(str(exc)) from None
