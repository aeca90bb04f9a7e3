"""Ed25519 signatures and the COSE_Sign1 profile of spec/signing.md (GUIDE D2, D3, D4).

This is the only module that imports the cryptography libraries: PyNaCl (libsodium) for
signing and for the strict verification on the hot path, pyca/cryptography for PKCS#8 key
files. Everything here is pure: key files are passed in and out as bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

import nacl.bindings
import nacl.exceptions
import nacl.signing
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from noc_ledger import codec
from noc_ledger.errors import DecodeError, EncodeError, KeyFileError, SignatureError

__all__ = [
    "ALG_ED25519",
    "CONTENT_TYPES",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "Ed25519Signer",
    "Sign1",
    "Signer",
    "decode_private_key",
    "decode_private_key_unsafe_unencrypted",
    "decode_sign1",
    "encode_private_key",
    "encode_private_key_unsafe_unencrypted",
    "key_id",
    "sign1",
    "verify_ed25519",
    "verify_sign1",
]

#: RFC 9864 §2.2: the fully-specified algorithm identifier for Ed25519.
ALG_ED25519: Final = -19
PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
SEED_SIZE: Final = 32
#: spec/signing.md §2: a COSE_Sign1 (entry, certificate, event) is at most this long.
MAX_SIGN1_SIZE: Final = 65_535

# RFC 9052 §3.1 header labels; the protected header holds exactly these (spec §2.2).
_HDR_ALG: Final = 1
_HDR_CONTENT_TYPE: Final = 3
_HDR_KID: Final = 4

#: spec/signing.md §3: one content type per document kind, so that a signature over one
#: kind can never be taken for another (the content type is inside the signed bytes).
CONTENT_TYPES: Final[Mapping[str, str]] = {
    "certificate": "application/vnd.noc-ledger.certificate+cbor",
    "status-event": "application/vnd.noc-ledger.status-event+cbor",
    "key-event": "application/vnd.noc-ledger.key-event+cbor",
    "presentation": "application/vnd.noc-ledger.presentation+cbor",
}
_KNOWN_CONTENT_TYPES: Final = frozenset(CONTENT_TYPES.values())


def key_id(public_key: bytes) -> bytes:
    """The key id of an Ed25519 public key: its RFC 9679 COSE Key thumbprint (spec §5).

    SHA-256 over the deterministic encoding of ``{1: 1, -1: 6, -2: public_key}`` (kty OKP,
    crv Ed25519, x), the required members of an OKP key (RFC 9679 §4).

    Raises:
        SignatureError: ``public_key`` is not 32 bytes.
    """
    _check_public_key(public_key)
    return hashlib.sha256(_THUMBPRINT_PREFIX + public_key).digest()


#: ``codec.encode({1: 1, -1: 6, -2: x})`` up to ``x``: map(3), 1 => 1, -1 => 6, -2 => bstr(32),
#: keys in the bytewise order of their encodings (0x01, 0x20, 0x21). A constant because
#: every bundle check asks for key ids; tests compare it with the encoder's output.
_THUMBPRINT_PREFIX: Final = bytes.fromhex("a301012006215820")


def _check_public_key(public_key: bytes) -> None:
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise SignatureError("an Ed25519 public key is 32 bytes")


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature under the strict rule of spec/signing.md §4.

    The rule is libsodium's: reject S >= L, a non-canonical encoding of A or R, and A or
    R of small order; then check the cofactorless equation [S]B = R + [k]A.

    Raises:
        SignatureError: the key or signature has the wrong length or type, or the
            signature does not verify.
    """
    _check_public_key(public_key)
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        raise SignatureError("an Ed25519 signature is 64 bytes")
    if not isinstance(message, bytes):
        raise SignatureError("the signed message must be bytes")
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except nacl.exceptions.BadSignatureError:
        raise SignatureError("Ed25519 signature does not verify") from None
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise SignatureError(f"Ed25519 verification failed: {exc}") from None


@runtime_checkable
class Signer(Protocol):
    """Anything that can make Ed25519 signatures: an in-process key, or an HSM.

    Implementations must return a 64-byte RFC 8032 Ed25519 signature of exactly the bytes
    given, and must raise a :class:`noc_ledger.errors.NocLedgerError` subclass on failure.
    """

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        ...

    @property
    def key_id(self) -> bytes:
        """:func:`key_id` of :attr:`public_key`."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``; return the 64-byte signature."""
        ...


class Ed25519Signer:
    """An Ed25519 private key held in this process (PyNaCl)."""

    __slots__ = ("_key", "_key_id", "_public_key")

    def __init__(self, seed: bytes) -> None:
        """Make a signer from a 32-byte RFC 8032 private key (seed).

        Raises:
            KeyFileError: ``seed`` is not 32 bytes.
        """
        if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
            raise KeyFileError("an Ed25519 private key (seed) is 32 bytes")
        self._key = nacl.signing.SigningKey(seed)
        self._public_key = bytes(self._key.verify_key)
        self._key_id = key_id(self._public_key)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """A new key from the operating system's random source."""
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def public_key(self) -> bytes:
        return self._public_key

    @property
    def key_id(self) -> bytes:
        return self._key_id

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature

    def seed(self) -> bytes:
        """The 32-byte private key. Handle with care."""
        return bytes(self._key)

    def __repr__(self) -> str:
        # Never print key material.
        return f"Ed25519Signer(key_id={self._key_id.hex()[:16]}…)"


# ---------------------------------------------------------------------------------------
# Key files (spec/signing.md §6): PEM PKCS#8, encrypted with a passphrase.

_MIN_PASSPHRASE: Final = 8


def encode_private_key(signer: Ed25519Signer, passphrase: bytes) -> bytes:
    """A passphrase-encrypted PKCS#8 PEM file holding ``signer``'s key.

    Raises:
        KeyFileError: the passphrase is shorter than 8 bytes.
    """
    if not isinstance(passphrase, bytes) or len(passphrase) < _MIN_PASSPHRASE:
        raise KeyFileError(f"a passphrase must be at least {_MIN_PASSPHRASE} bytes")
    key = Ed25519PrivateKey.from_private_bytes(signer.seed())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def encode_private_key_unsafe_unencrypted(signer: Ed25519Signer) -> bytes:
    """An *unencrypted* PKCS#8 PEM file: for demos and tests only."""
    key = Ed25519PrivateKey.from_private_bytes(signer.seed())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_pem(data: bytes, password: bytes | None) -> Ed25519Signer:
    if not isinstance(data, bytes):
        raise KeyFileError("a key file is bytes")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        # cryptography raises TypeError for "password given but not encrypted" and the
        # reverse; both are the caller's mismatch, reported as such.
        raise KeyFileError(f"key file encryption does not match: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"not a readable PKCS#8 key file (or wrong passphrase): {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError("key file does not hold an Ed25519 key")
    return Ed25519Signer(
        key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    )


def decode_private_key(data: bytes, passphrase: bytes) -> Ed25519Signer:
    """Read a passphrase-encrypted PKCS#8 PEM Ed25519 key.

    Raises:
        KeyFileError: not PEM PKCS#8, not encrypted, wrong passphrase, or not Ed25519.
    """
    if not isinstance(passphrase, bytes) or not passphrase:
        raise KeyFileError("a passphrase is required")
    return _load_pem(data, passphrase)


def decode_private_key_unsafe_unencrypted(data: bytes) -> Ed25519Signer:
    """Read an *unencrypted* PKCS#8 PEM Ed25519 key: for demos and tests only.

    Raises:
        KeyFileError: not PEM PKCS#8, encrypted, or not Ed25519.
    """
    return _load_pem(data, None)


# ---------------------------------------------------------------------------------------
# COSE_Sign1 (RFC 9052 §4.2), profile of spec/signing.md §2.


@dataclass(frozen=True, slots=True)
class Sign1:
    """The parts of a COSE_Sign1 as received. ``payload`` is the exact signed bytes.

    An instance from :func:`decode_sign1` is *unverified*; one from :func:`verify_sign1`
    has had its signature checked against the key given there.
    """

    protected: bytes
    content_type: str
    key_id: bytes
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        """The RFC 9052 §4.4 Sig_structure over the received protected header and payload,
        with empty external AAD."""
        return _sig_structure(self.protected, self.payload)


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return codec.encode(["Signature1", protected, b"", payload])


def _protected_header(content_type: str, kid: bytes) -> bytes:
    return codec.encode({_HDR_ALG: ALG_ED25519, _HDR_CONTENT_TYPE: content_type, _HDR_KID: kid})


def sign1(signer: Signer, *, content_type: str, payload: bytes) -> bytes:
    """Sign ``payload`` as a tagged COSE_Sign1 with the profile's protected header.

    Raises:
        EncodeError: ``content_type`` is not one of :data:`CONTENT_TYPES`, ``payload`` is
            not bytes, or the result would exceed the 65,535-byte limit.
        SignatureError: the signer returned something that is not a valid signature by
            its own public key.
    """
    if content_type not in _KNOWN_CONTENT_TYPES:
        raise EncodeError(f"unknown content type {content_type!r}")
    if not isinstance(payload, bytes):
        raise EncodeError("a payload is bytes")
    protected = _protected_header(content_type, signer.key_id)
    tbs = _sig_structure(protected, payload)
    signature = signer.sign(tbs)
    # A signer (HSM, remote) that returns a bad signature must not produce a document
    # that verifiers would later reject: check before handing it out (spec §3 step 4).
    # The in-process libsodium signer is exempt: it computes the signature itself from
    # the key whose public half it reports, so the check could only repeat its work.
    if type(signer) is not Ed25519Signer:
        verify_ed25519(signer.public_key, tbs, signature)
    data = codec.encode(codec.Tag(codec.COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    if len(data) > MAX_SIGN1_SIZE:
        raise EncodeError(f"signed document of {len(data)} bytes exceeds {MAX_SIGN1_SIZE}")
    return data


def decode_sign1(data: bytes) -> Sign1:
    """Parse a COSE_Sign1 and check its header profile, *without* verifying the signature.

    Use it to learn the key id before looking the key up; trust nothing in the result
    until :func:`verify_sign1` has checked it.

    Raises:
        DecodeError: not a canonical tagged COSE_Sign1 of four elements of the right
            types, or longer than 65,535 bytes.
        SignatureError: the protected header breaks the profile of spec/signing.md §2.2
            (a label other than alg, content type and kid; alg other than -19; unknown
            content type; kid not 32 bytes) or the unprotected header is not empty.
    """
    item = codec.decode(data, max_size=MAX_SIGN1_SIZE, tags=frozenset({codec.COSE_SIGN1_TAG}))
    if not isinstance(item, codec.Tag) or item.number != codec.COSE_SIGN1_TAG:
        raise DecodeError("COSE_Sign1: expected tag 18")
    parts = item.value
    if not isinstance(parts, list) or len(parts) != 4:
        raise DecodeError("COSE_Sign1: expected an array of 4 elements")
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes):
        raise DecodeError("COSE_Sign1: protected header must be a byte string")
    if not isinstance(unprotected, dict):
        raise DecodeError("COSE_Sign1: unprotected header must be a map")
    if not isinstance(payload, bytes):
        raise DecodeError("COSE_Sign1: payload must be a byte string (no detached payload)")
    if not isinstance(signature, bytes):
        raise DecodeError("COSE_Sign1: signature must be a byte string")
    if unprotected:
        raise SignatureError("COSE_Sign1: unprotected header must be empty")
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError("COSE_Sign1: an Ed25519 signature is 64 bytes")
    header = codec.decode(protected, max_size=1024, max_depth=4)
    if not isinstance(header, dict):
        raise DecodeError("COSE_Sign1: protected header must encode a map")
    unknown = set(header) - {_HDR_ALG, _HDR_CONTENT_TYPE, _HDR_KID}
    if unknown:
        # Closed allow-list (spec §2.2): an unknown label may be critical to its sender,
        # so it is refused rather than ignored.
        raise SignatureError(f"COSE_Sign1: header labels not allowed: {sorted(unknown, key=str)}")
    alg = header.get(_HDR_ALG)
    if alg != ALG_ED25519 or type(alg) is not int:
        raise SignatureError(f"COSE_Sign1: alg must be {ALG_ED25519} (Ed25519), got {alg!r}")
    ctype = header.get(_HDR_CONTENT_TYPE)
    if not isinstance(ctype, str) or ctype not in _KNOWN_CONTENT_TYPES:
        raise SignatureError(f"COSE_Sign1: unknown content type {ctype!r}")
    kid = header.get(_HDR_KID)
    if not isinstance(kid, bytes) or len(kid) != 32:
        raise SignatureError("COSE_Sign1: kid must be a 32-byte key thumbprint")
    return Sign1(protected, ctype, kid, payload, signature)


def verify_sign1(data: bytes, *, content_type: str, public_key: bytes) -> Sign1:
    """Verify a COSE_Sign1 over the exact bytes received (spec/signing.md §2.4).

    The caller names the document kind it expects (``content_type``) and the key it
    trusts; the kid in the header must be that key's :func:`key_id`. The payload is not
    decoded here: callers decode it only after this returns.

    Raises:
        DecodeError: as :func:`decode_sign1`.
        SignatureError: as :func:`decode_sign1`; or the content type is not the one
            expected; or the kid does not name ``public_key``; or the signature does not
            verify.
    """
    envelope = decode_sign1(data)
    if envelope.content_type != content_type:
        raise SignatureError(
            f"COSE_Sign1: content type is {envelope.content_type!r}, expected {content_type!r}"
        )
    if envelope.key_id != key_id(public_key):
        raise SignatureError("COSE_Sign1: kid does not match the verification key")
    verify_ed25519(public_key, envelope.to_be_signed(), envelope.signature)
    return envelope
