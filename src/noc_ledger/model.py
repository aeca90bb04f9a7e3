"""Certificates (spec/certificate.md, GUIDE D4, D10): frozen values with a deterministic
CBOR form, their identifiers, and signing/verifying them as COSE_Sign1.

``to_cbor`` and ``from_cbor`` are exact inverses: ``from_cbor`` accepts only the one
encoding ``to_cbor`` would produce for the value it returns (spec/certificate.md §3).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Final, TypeVar, cast

from noc_ledger import _fields as f
from noc_ledger import codec, signing
from noc_ledger.codec import CborValue
from noc_ledger.errors import DecodeError, EncodeError, ModelError
from noc_ledger.scope import Scope

__all__ = [
    "CERTIFICATE_VERSION",
    "NOC_DISCLAIMER_CODE",
    "NOC_DISCLAIMER_TEXT",
    "Certificate",
    "Edge",
    "EdgeKind",
    "Identifier",
    "Instrument",
    "Issuer",
    "LegalNotice",
    "Subject",
    "VerifiedCertificate",
    "certificate_id",
    "check_lei",
    "sign_certificate",
    "verify_certificate",
]

#: spec/certificate.md §3: the format version marker, key 0 of every certificate.
CERTIFICATE_VERSION: Final = 1
#: spec/certificate.md §3.7: the legal notice every NOC carries.
NOC_DISCLAIMER_CODE: Final = "not-an-operating-licence"
NOC_DISCLAIMER_TEXT: Final = (
    "This No Objection Certificate permits only the preparatory activities listed in its "
    "scope. It does not constitute a full operating licence and does not permit carrying on "
    "any virtual-asset activity."
)
#: spec/certificate.md §3: the largest certificate payload accepted.
MAX_CERTIFICATE_SIZE: Final = 60_000

_LEI_RE: Final = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")
_DOMAIN_LABEL_RE: Final = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_JURISDICTION_RE: Final = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


class Instrument(StrEnum):
    """Kinds of certificate (spec §3.2), in the order a firm usually meets them."""

    NOC = "noc"
    IN_PRINCIPLE_APPROVAL = "in_principle_approval"
    PROVISIONAL_LICENCE = "provisional_licence"
    LICENCE = "licence"
    REGISTRATION = "registration"


class EdgeKind(StrEnum):
    """Typed links to earlier certificates (spec §3.8)."""

    #: this certificate replaces a staged instrument by a higher one (NOC → licence).
    UPGRADES = "upgrades"
    #: this certificate is a varied, renewed or corrected version of the target.
    SUPERSEDES = "supersedes"


def check_lei(lei: str) -> None:
    """Check an ISO 17442 LEI: 20 characters, the last two being ISO 7064 MOD 97-10
    check digits (spec §3.4).

    Raises:
        ModelError: wrong form or check digits.
    """
    if not isinstance(lei, str) or not _LEI_RE.match(lei):
        raise ModelError(f"LEI {lei!r}: 18 upper-case letters or digits and 2 check digits")
    # ISO 7064 MOD 97-10: letters become 10..35, the whole number mod 97 must be 1.
    digits = "".join(str(int(c, 36)) for c in lei)
    if int(digits) % 97 != 1:
        raise ModelError(f"LEI {lei!r}: check digits do not verify (ISO 7064 MOD 97-10)")


def _domain(value: CborValue) -> str:
    if not isinstance(value, str):
        raise DecodeError("domain: expected a text string")
    labels = value.split(".")
    if (
        len(value) > 253
        or len(labels) < 2
        or not all(_DOMAIN_LABEL_RE.match(label) for label in labels)
    ):
        raise ModelError(f"domain {value!r}: lowercase DNS name (A-labels for IDNs)")
    return value


@dataclass(frozen=True, slots=True)
class Issuer:
    """The authority (spec §3.3). ``jurisdiction`` is an ISO 3166-1/-2 code."""

    name: str
    jurisdiction: str

    def __post_init__(self) -> None:
        f.text(self.name, "issuer name")
        if not isinstance(self.jurisdiction, str) or not _JURISDICTION_RE.match(self.jurisdiction):
            raise ModelError(f"issuer jurisdiction {self.jurisdiction!r}: ISO 3166 code")

    def to_item(self) -> CborValue:
        return {0: self.name, 1: self.jurisdiction}

    @classmethod
    def from_item(cls, value: CborValue) -> Issuer:
        m = f.fields(value, "issuer", (0, 1))
        if not isinstance(m[1], str):
            raise DecodeError("issuer jurisdiction: expected a text string")
        return cls(f.text(m[0], "issuer name"), m[1])


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """A registry identifier other than the LEI, e.g. ``Identifier("ae-ded-trade-licence",
    "1234567")`` (spec §3.4)."""

    scheme: str
    value: str

    def __post_init__(self) -> None:
        f.token(self.scheme, "identifier scheme")
        f.text(self.value, "identifier value", max_len=128)

    def to_item(self) -> CborValue:
        return {0: self.scheme, 1: self.value}

    @classmethod
    def from_item(cls, value: CborValue) -> Identifier:
        m = f.fields(value, "identifier", (0, 1))
        return cls(f.token(m[0], "identifier scheme"), f.text(m[1], "identifier value"))


@dataclass(frozen=True, slots=True)
class Subject:
    """The firm a certificate is about (spec §3.4). Sets are stored sorted.

    ``holder_keys`` are Ed25519 public keys with which the holder may sign
    presentations of this certificate.

    Raises (on construction):
        ModelError: an invalid LEI, domain, key, or text field; duplicates in a set.
    """

    legal_name: str
    lei: str | None = None
    identifiers: tuple[Identifier, ...] = ()
    trading_names: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    holder_keys: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        f.text(self.legal_name, "legal name")
        if self.lei is not None:
            check_lei(self.lei)
        if any(not isinstance(i, Identifier) for i in self.identifiers):
            raise ModelError("subject identifiers: expected Identifier values")
        idents = tuple(sorted(self.identifiers))
        if len(set(idents)) != len(idents):
            raise ModelError("subject identifiers: duplicate entries")
        names = f.sorted_set((f.text(n, "trading name") for n in self.trading_names), "names")
        domains = f.sorted_set((_domain(d) for d in self.domains), "domains")
        for key in self.holder_keys:
            if not isinstance(key, bytes) or len(key) != signing.PUBLIC_KEY_SIZE:
                raise ModelError("holder key: an Ed25519 public key is 32 bytes")
        keys = tuple(sorted(self.holder_keys))
        if len(set(keys)) != len(keys):
            raise ModelError("holder keys: duplicate entries")
        object.__setattr__(self, "identifiers", idents)
        object.__setattr__(self, "trading_names", names)
        object.__setattr__(self, "domains", domains)
        object.__setattr__(self, "holder_keys", keys)

    def to_item(self) -> CborValue:
        item: dict[int, CborValue] = {0: self.legal_name}
        if self.lei is not None:
            item[1] = self.lei
        if self.identifiers:
            item[2] = [i.to_item() for i in self.identifiers]
        if self.trading_names:
            item[3] = list(self.trading_names)
        if self.domains:
            item[4] = list(self.domains)
        if self.holder_keys:
            item[5] = list(self.holder_keys)
        return item

    @classmethod
    def from_item(cls, value: CborValue) -> Subject:
        m = f.fields(value, "subject", (0,), (1, 2, 3, 4, 5))
        lei = m.get(1)
        if lei is not None and not isinstance(lei, str):
            raise DecodeError("LEI: expected a text string")
        return cls(
            legal_name=f.text(m[0], "legal name"),
            lei=lei,
            identifiers=tuple(Identifier.from_item(i) for i in f.array(m[2], "identifiers"))
            if 2 in m
            else (),
            trading_names=tuple(f.text(n, "trading name") for n in f.array(m[3], "trading names"))
            if 3 in m
            else (),
            domains=tuple(_domain(d) for d in f.array(m[4], "domains")) if 4 in m else (),
            holder_keys=tuple(_bytes(k, "holder key") for k in f.array(m[5], "holder keys"))
            if 5 in m
            else (),
        )


def _bytes(value: CborValue, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what}: expected a byte string")
    return value


@dataclass(frozen=True, slots=True)
class LegalNotice:
    """A legal statement (spec §3.7): a machine-readable ``code`` and the human text."""

    code: str
    text: str

    def __post_init__(self) -> None:
        f.token(self.code, "legal notice code")
        f.text(self.text, "legal notice text", max_len=4096, multiline=True)

    def to_item(self) -> CborValue:
        return {0: self.code, 1: self.text}

    @classmethod
    def from_item(cls, value: CborValue) -> LegalNotice:
        m = f.fields(value, "legal notice", (0, 1))
        return cls(
            f.token(m[0], "legal notice code"),
            f.text(m[1], "legal notice", max_len=4096, multiline=True),
        )


@dataclass(frozen=True, slots=True)
class Edge:
    """A typed link to another certificate by its id (spec §3.8)."""

    kind: EdgeKind
    target: bytes

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", EdgeKind(self.kind))
        except ValueError:
            raise ModelError(
                f"edge kind {self.kind!r} is not one of upgrades, supersedes"
            ) from None
        if not isinstance(self.target, bytes) or len(self.target) != 32:
            raise ModelError("edge target: a certificate id is 32 bytes")

    def to_item(self) -> CborValue:
        return {0: str(self.kind), 1: self.target}

    @classmethod
    def from_item(cls, value: CborValue) -> Edge:
        m = f.fields(value, "edge", (0, 1))
        if not isinstance(m[0], str):
            raise DecodeError("edge kind: expected a text string")
        try:
            kind = EdgeKind(m[0])
        except ValueError:
            raise ModelError(f"edge kind {m[0]!r} is not one of upgrades, supersedes") from None
        return cls(kind, _bytes(m[1], "edge target"))


@dataclass(frozen=True, slots=True)
class Certificate:
    """A certificate payload (spec/certificate.md §3): what the authority signs.

    Times are whole seconds since 1970-01-01T00:00:00Z (spec §3.5); ``valid_until`` is
    exclusive.

    Raises (on construction):
        ModelError: any field invalid, or a rule of spec §3.9 broken: ``valid_until`` not
            after ``valid_from``; a NOC granting a non-preparatory activity or lacking its
            disclaimer; a NOC with an ``upgrades`` edge; more than one edge of a kind.
    """

    instrument: Instrument
    number: str
    issuer: Issuer
    subject: Subject
    issued_at: int
    valid_from: int
    scope: Scope
    valid_until: int | None = None
    conditions: tuple[str, ...] = ()
    legal_notices: tuple[LegalNotice, ...] = ()
    edges: tuple[Edge, ...] = ()
    # The payload, encoded once: the value is immutable, and the id, signing and the
    # canonical check all need the same bytes.
    _cbor: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "instrument", Instrument(self.instrument))
        except ValueError:
            raise ModelError(f"unknown instrument {self.instrument!r}") from None
        f.text(self.number, "certificate number", max_len=64)
        for name, kind in (("issuer", Issuer), ("subject", Subject), ("scope", Scope)):
            if not isinstance(getattr(self, name), kind):
                raise ModelError(f"{name}: expected a {kind.__name__}")
        f.check_uint(self.issued_at, "issued at")
        f.check_uint(self.valid_from, "valid from")
        if self.valid_until is not None:
            f.check_uint(self.valid_until, "valid until")
            if self.valid_until <= self.valid_from:
                raise ModelError("valid until must be after valid from")
        for c in self.conditions:
            f.text(c, "condition", max_len=4096, multiline=True)
        if any(not isinstance(n, LegalNotice) for n in self.legal_notices):
            raise ModelError("legal notices: expected LegalNotice values")
        codes = [n.code for n in self.legal_notices]
        if len(set(codes)) != len(codes):
            raise ModelError("legal notices: a code appears twice")
        if any(not isinstance(e, Edge) for e in self.edges):
            raise ModelError("edges: expected Edge values")
        kinds = [e.kind for e in self.edges]
        if len(set(kinds)) != len(kinds):
            raise ModelError("edges: at most one edge of each kind")
        object.__setattr__(self, "edges", tuple(sorted(self.edges, key=lambda e: e.kind)))
        if self.instrument is Instrument.NOC:
            # spec §3.9: a NOC grants preparatory activities only, and says so.
            vocabulary = self.scope.vocabulary
            operating = sorted(
                a for a in self.scope.activities() if not vocabulary.is_preparatory(a)
            )
            if operating:
                raise ModelError(f"a NOC may grant only preparatory activities, not {operating}")
            if NOC_DISCLAIMER_CODE not in codes:
                raise ModelError(f"a NOC must carry the {NOC_DISCLAIMER_CODE!r} legal notice")
            if EdgeKind.UPGRADES in kinds:
                raise ModelError("a NOC cannot upgrade another certificate")

    # -- encoding (spec §3) ------------------------------------------------------------

    def to_item(self) -> CborValue:
        item: dict[int, CborValue] = {
            0: CERTIFICATE_VERSION,
            1: str(self.instrument),
            2: self.number,
            3: self.issuer.to_item(),
            4: self.subject.to_item(),
            5: self.issued_at,
            6: self.valid_from,
            8: self.scope.to_item(),
        }
        if self.valid_until is not None:
            item[7] = self.valid_until
        if self.conditions:
            item[9] = list(self.conditions)
        if self.legal_notices:
            item[10] = [n.to_item() for n in self.legal_notices]
        if self.edges:
            item[11] = [e.to_item() for e in self.edges]
        return item

    def to_cbor(self) -> bytes:
        """The deterministic payload (spec §3).

        Raises:
            EncodeError: the payload would exceed the size limit of spec §3.
        """
        if self._cbor is not None:
            return self._cbor
        data = self._encode({})
        object.__setattr__(self, "_cbor", data)
        return data

    def _encode(self, proven: dict[int, bytes]) -> bytes:
        """The payload, taking the encoding of member ``k`` from ``proven[k]`` where given
        (the caller knows those bytes are that member's encoding).

        Raises:
            EncodeError: the payload would exceed the size limit of spec §3.
        """
        # The same bytes as ``codec.encode(self.to_item())`` (the test vectors pin them),
        # assembled from the encodings of the members: a map of at most 12 pairs whose
        # keys 0-11 each encode as the one byte of their value, so the RFC 8949 §4.2.1
        # order of encoded keys is their numeric order. Issuer, scope and legal notices
        # repeat across an authority's certificates and are encoded once per value.
        parts: dict[int, bytes] = {
            0: codec.encode(CERTIFICATE_VERSION),
            1: codec.encode(str(self.instrument)),
            2: codec.encode(self.number),
            5: codec.encode(self.issued_at),
            6: codec.encode(self.valid_from),
        }
        get = proven.get
        parts[3] = get(3) or _encoded_issuer(self.issuer)
        parts[4] = get(4) or codec.encode(self.subject.to_item())
        parts[8] = get(8) or _encoded_scope(self.scope)
        if self.valid_until is not None:
            parts[7] = codec.encode(self.valid_until)
        if self.conditions:
            parts[9] = get(9) or codec.encode(list(self.conditions))
        if self.legal_notices:
            parts[10] = get(10) or _encoded_notices(self.legal_notices)
        if self.edges:
            parts[11] = codec.encode([e.to_item() for e in self.edges])
        data = bytes((0xA0 | len(parts),)) + b"".join(
            bytes((key,)) + parts[key] for key in sorted(parts)
        )
        if len(data) > MAX_CERTIFICATE_SIZE:
            raise EncodeError(f"certificate of {len(data)} bytes exceeds {MAX_CERTIFICATE_SIZE}")
        return data

    @classmethod
    def from_cbor(cls, data: bytes) -> Certificate:
        """Decode a certificate payload.

        Raises:
            DecodeError: not canonical CBOR, an unknown or missing key, a wrong type, an
                unsupported version, or not the canonical form of the value (e.g. an
                unsorted set).
            ModelError: a value breaks a rule of the model (bad LEI, NOC without
                disclaimer, unknown activity, …).
        """
        spans, m = codec.decode_map_spans(data, max_size=MAX_CERTIFICATE_SIZE, known=_PARTS.known)
        f.fields(spans, "certificate", (0, 1, 2, 3, 4, 5, 6, 8), (7, 9, 10, 11))
        # Members whose exact bytes were decoded and checked before are taken from the
        # memo (spans not in ``m`` were stepped over by the decoder); the others are
        # decoded and checked here, and remembered once the whole payload passed.
        shared: dict[int, object] = {}
        fresh: list[int] = []
        for key in _MEMO_KEYS:
            if key in spans:
                hit = _PARTS.get(key, spans[key])
                if hit is not None:
                    shared[key] = hit
                    continue
                fresh.append(key)
                if key not in m:  # evicted between the decoder's look and this one
                    m[key] = codec.decode(spans[key], max_depth=codec.DEFAULT_MAX_DEPTH - 1)
        if m[0] != CERTIFICATE_VERSION or type(m[0]) is not int:
            raise DecodeError(f"certificate version {m[0]!r} is not supported")
        if not isinstance(m[1], str):
            raise DecodeError("instrument: expected a text string")
        try:
            instrument = Instrument(m[1])
        except ValueError:
            raise ModelError(f"unknown instrument {m[1]!r}") from None

        def member(key: int, parse: Callable[[CborValue], _T]) -> _T:
            if key in shared:
                return cast(_T, shared[key])
            return parse(m[key])

        cert = cls(
            instrument=instrument,
            number=f.text(m[2], "certificate number", max_len=64),
            issuer=member(3, Issuer.from_item),
            subject=member(4, Subject.from_item),
            issued_at=f.uint(m[5], "issued at"),
            valid_from=f.uint(m[6], "valid from"),
            valid_until=f.uint(m[7], "valid until") if 7 in m else None,
            scope=member(8, Scope.from_item),
            conditions=member(9, _conditions_from_item) if 9 in spans else (),
            legal_notices=member(10, _notices_from_item) if 10 in spans else (),
            edges=tuple(Edge.from_item(e) for e in f.array(m[11], "edges")) if 11 in m else (),
        )
        # spec §3.1: sets are sorted and grants ordered; a value has one encoding only.
        # Members from the memo are known to encode to their bytes (they were checked the
        # same way when first seen), so only the others are encoded again.
        encoded = cert._encode({key: spans[key] for key in shared})
        if encoded != data:
            raise DecodeError("certificate is not in canonical form (unsorted set or order)")
        object.__setattr__(cert, "_cbor", encoded)
        # The whole payload re-encodes to its bytes, and every member's encoding is
        # self-delimiting, so each member's bytes are exactly its encoding: safe to share.
        values = {3: cert.issuer, 4: cert.subject, 8: cert.scope}
        values[9] = cert.conditions
        values[10] = cert.legal_notices
        for key in fresh:
            _PARTS.put(key, spans[key], values[key])
        return cert

    @property
    def id(self) -> bytes:
        """:func:`certificate_id` of :meth:`to_cbor`."""
        return certificate_id(self.to_cbor())

    def legal_notice(self, code: str) -> LegalNotice | None:
        """The legal notice with ``code``, if any."""
        return next((n for n in self.legal_notices if n.code == code), None)

    def is_valid_at(self, at: int) -> bool:
        """True iff ``valid_from <= at < valid_until`` (spec §3.5)."""
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


# Encodings of values shared by many certificates, by value (these types are frozen, so
# equal values have equal encodings; lru_cache keys on equality and bounds the memory).
@lru_cache(maxsize=256)
def _encoded_scope(scope: Scope) -> bytes:
    return codec.encode(scope.to_item())


@lru_cache(maxsize=256)
def _encoded_issuer(issuer: Issuer) -> bytes:
    return codec.encode(issuer.to_item())


@lru_cache(maxsize=256)
def _encoded_notices(notices: tuple[LegalNotice, ...]) -> bytes:
    return codec.encode([n.to_item() for n in notices])


def _conditions_from_item(item: CborValue) -> tuple[str, ...]:
    return tuple(
        f.text(c, "condition", max_len=4096, multiline=True) for c in f.array(item, "conditions")
    )


def _notices_from_item(item: CborValue) -> tuple[LegalNotice, ...]:
    return tuple(LegalNotice.from_item(n) for n in f.array(item, "legal notices"))


_T = TypeVar("_T")
#: Certificate members that repeat across an authority's certificates (issuer, subject,
#: scope, conditions, legal notices): the members :class:`_PartMemo` remembers.
_MEMO_KEYS: Final = (3, 4, 8, 9, 10)


class _PartMemo:
    """Decoded certificate members by their exact bytes, so that a verifier reading many
    certificates of one authority decodes and checks a shared scope or issuer once.

    Only members of a payload that passed every check of :meth:`Certificate.from_cbor` are
    put here, under their full bytes; a look-up compares those bytes in full. The values
    are immutable, so sharing them between certificates is safe. Bounded: at most
    :attr:`LIMIT` entries per member key, the oldest dropped first.
    """

    LIMIT: Final = 64
    #: Bytes shorter than this are cheap to decode and not remembered; longer ones are
    #: indexed by their first PREFIX bytes (many share a prefix: each is compared in full).
    PREFIX: Final = 16

    def __init__(self) -> None:
        # Per member key: (bytes -> value, oldest first; prefix -> the bytes with it). A
        # pair is never changed once stored: put builds a new one and stores it with one
        # assignment, so a reader in another thread sees the old pair or the new one whole
        # (no lock: the core stays free of threading; a put lost to a concurrent one only
        # costs a later decode).
        self._tables: dict[int, tuple[dict[bytes, object], dict[bytes, tuple[bytes, ...]]]] = {
            k: ({}, {}) for k in _MEMO_KEYS
        }

    def known(self, key: object, data: bytes, pos: int) -> int:
        """codec.KnownItem: the end of the member at ``pos`` if its bytes are remembered."""
        table = self._tables.get(key) if type(key) is int else None
        if table is None:
            return -1
        for raw in table[1].get(data[pos : pos + self.PREFIX], ()):
            # No encoded item is a proper prefix of another (each is self-delimiting),
            # so at most one remembered member matches here.
            if data.startswith(raw, pos):
                return pos + len(raw)
        return -1

    def get(self, key: int, raw: bytes) -> object | None:
        return self._tables[key][0].get(raw)

    def put(self, key: int, raw: bytes, value: object) -> None:
        if len(raw) < self.PREFIX:
            return
        values, index = self._tables[key]
        if raw in values:
            return
        # Copies (C-speed for 64 entries), changed, then stored whole (see __init__).
        values = {**values, raw: value}
        index = dict(index)
        prefix = raw[: self.PREFIX]
        index[prefix] = (*index.get(prefix, ()), raw)
        while len(values) > self.LIMIT:
            old = next(iter(values))
            del values[old]
            rest = tuple(r for r in index[old[: self.PREFIX]] if r != old)
            if rest:
                index[old[: self.PREFIX]] = rest
            else:
                del index[old[: self.PREFIX]]
        self._tables[key] = (values, index)


_PARTS: Final = _PartMemo()


def certificate_id(payload: bytes) -> bytes:
    """A certificate's id: SHA-256 over its payload bytes (spec §3.10, GUIDE D4), never
    over a signature, so re-signing cannot mint a second identity."""
    return hashlib.sha256(payload).digest()


@dataclass(frozen=True, slots=True)
class VerifiedCertificate:
    """A certificate whose signature has been checked against ``key_id``'s key."""

    certificate: Certificate
    id: bytes
    key_id: bytes
    signed: bytes


def sign_certificate(certificate: Certificate, signer: signing.Signer) -> bytes:
    """Sign a certificate as a COSE_Sign1 of content type ``certificate`` (spec §7).

    Raises:
        EncodeError: the result would exceed the size limits.
        SignatureError: the signer produced an invalid signature.
    """
    return signing.sign1(
        signer, content_type=signing.CONTENT_TYPES["certificate"], payload=certificate.to_cbor()
    )


def verify_certificate(data: bytes, *, public_key: bytes) -> VerifiedCertificate:
    """Verify a signed certificate's signature, then decode it (spec §7).

    The signature is checked over the bytes received before the payload is parsed. This
    checks authenticity only: whether ``public_key`` may issue this scope at this time,
    and the certificate's status, are the log's and the verifier's business.

    Raises:
        DecodeError: the envelope or the payload is not canonical or not well-formed.
        SignatureError: the envelope breaks the COSE profile, is not a certificate, is
            not by ``public_key``, or the signature does not verify.
        ModelError: the payload breaks a rule of the model.
    """
    envelope = signing.verify_sign1(
        data, content_type=signing.CONTENT_TYPES["certificate"], public_key=public_key
    )
    cert = Certificate.from_cbor(envelope.payload)
    return VerifiedCertificate(cert, certificate_id(envelope.payload), envelope.key_id, data)
