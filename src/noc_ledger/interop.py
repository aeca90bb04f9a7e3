"""Exports of a bundle's inclusion evidence to other ecosystems' formats (spec/interop.md,
GUIDE D8).

Two forms of the same fact, "the certificate's entry is in the log's tree":

- the C2SP ``tlog-proof@v1`` text (c2sp.org/tlog-proof): the entry's index, its RFC 9162
  inclusion proof and the checkpoint note verbatim, with any witness cosignatures. Anyone
  can produce it from a bundle; any signed-note implementation can check the checkpoint.
- an RFC 9942 COSE Receipt of inclusion: a COSE_Sign1 by the **log's** key over the tree
  root (a detached payload), with the proof in the unprotected header. It is a second
  signature by the log over a root it already signed in a checkpoint, so only the log
  operator, who holds the log's private key, can produce one.

Neither export carries the key chain or the status proof: they prove that the certificate
was logged, not that it is valid. Only a bundle (spec/verification.md) says that.

Pure: no file, clock, network or printing. COSE handling is done here with :mod:`codec` and
:func:`noc_ledger.signing.verify_ed25519`, because a receipt is outside the signed-document
profile of :mod:`noc_ledger.signing` (a non-empty unprotected header, a detached payload).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from noc_ledger import codec, merkle, signing
from noc_ledger.bundle import Bundle
from noc_ledger.checkpoint import (
    Cosignature,
    VerifiedCheckpoint,
    decode_checkpoint_note,
    open_checkpoint,
    verify_cosignatures,
)
from noc_ledger.errors import (
    DecodeError,
    EncodeError,
    InclusionError,
    ModelError,
    SignatureError,
)
from noc_ledger.note import Verifier, decode_base64
from noc_ledger.signing import Signer

__all__ = [
    "MAX_RECEIPT_SIZE",
    "MAX_TLOG_PROOF_SIZE",
    "RECEIPT_HEADER_VDP",
    "RECEIPT_HEADER_VDS",
    "RECEIPT_PROOF_INCLUSION",
    "TLOG_PROOF_HEADER",
    "VDS_RFC9162_SHA256",
    "TlogProof",
    "VerifiedReceipt",
    "VerifiedTlogProof",
    "encode_tlog_proof",
    "export_cose_receipt",
    "export_tlog_proof",
    "import_tlog_proof",
    "verify_cose_receipt",
    "verify_tlog_proof",
]

# ---------------------------------------------------------------------------------------
# Constants

#: c2sp.org/tlog-proof "Format": the first line of every proof.
TLOG_PROOF_HEADER: Final = "c2sp.org/tlog-proof@v1"
#: spec/interop.md §2.3: the largest proof text read, in UTF-8 bytes (the checkpoint note
#: inside it is further bounded by :data:`noc_ledger.note.MAX_NOTE_SIZE`).
MAX_TLOG_PROOF_SIZE: Final = 2 << 20
#: spec/bundle.md §2: an inclusion proof has at most 64 hashes.
_MAX_PROOF: Final = 64
_MAX_U63: Final = (1 << 63) - 1
_INDEX: Final = re.compile(r"0|[1-9][0-9]{0,18}")
#: Every ASCII control character except LF (c2sp.org/signed-note forbids them in notes; the
#: proof lines above the note are base64, decimal and keywords, which contain none either).
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")

#: RFC 9942 §2: COSE header parameter "vds" (verifiable data structure), label 395.
RECEIPT_HEADER_VDS: Final = 395
#: RFC 9942 §2: COSE header parameter "vdp" (verifiable data structure proofs), label 396.
RECEIPT_HEADER_VDP: Final = 396
#: RFC 9942 §5.1: the VDS identifier of RFC9162_SHA256.
VDS_RFC9162_SHA256: Final = 1
#: RFC 9942 §5.2.1: the proof-type label of inclusion proofs inside "vdp".
RECEIPT_PROOF_INCLUSION: Final = -1
#: spec/interop.md §3.2: a receipt is at most this long (the signed-document limit).
MAX_RECEIPT_SIZE: Final = 65_535

_HDR_ALG: Final = 1
_HDR_KID: Final = 4
_RECEIPT_PROTECTED_LABELS: Final = frozenset({_HDR_ALG, _HDR_KID, RECEIPT_HEADER_VDS})
_RECEIPT_TAGS: Final = frozenset({codec.COSE_SIGN1_TAG})


# ---------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed ``tlog-proof@v1`` (spec/interop.md §2), *nothing verified*.

    ``index`` and ``proof`` are the entry's position and RFC 9162 inclusion proof (leaf side
    first); ``checkpoint`` the checkpoint note bytes verbatim, cosignatures included;
    ``extra`` the optional opaque extra data, which is never authenticated and which
    noc_ledger neither writes nor interprets.
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None


@dataclass(frozen=True, slots=True)
class VerifiedTlogProof:
    """A tlog-proof whose checkpoint verified under the caller's log key and whose inclusion
    proof verified for the caller's entry.

    ``checkpoint`` is the opened checkpoint (size, root, time, status root, the note
    verbatim); ``cosignatures`` the valid cosignatures of the witnesses the caller named
    (possibly none: whether they reach a quorum is the caller's policy).
    """

    index: int
    checkpoint: VerifiedCheckpoint
    cosignatures: tuple[Cosignature, ...]


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    """A COSE receipt that verified for the caller's entry and log key (spec §3.4).

    ``root`` is authenticated: the log signed it. ``size`` and ``index`` are read from the
    unprotected proof; they are consistent with ``root`` but not signed, so a caller that
    relies on them compares ``root`` and ``size`` with a checkpoint it verified.
    """

    size: int
    index: int
    root: bytes


# ---------------------------------------------------------------------------------------
# C2SP tlog-proof (c2sp.org/tlog-proof, spec/interop.md §2)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_tlog_proof(
    index: int, proof: Sequence[bytes], checkpoint: bytes, *, extra: bytes | None = None
) -> str:
    """Write a ``tlog-proof@v1`` text: the header line, an optional ``extra`` line, the
    ``index`` line, one base64 hash per line, an empty line and the checkpoint verbatim.

    The inverse of :func:`import_tlog_proof`. It checks the form of each part (the
    checkpoint is parsed, not verified) but nothing about their consistency.

    Raises:
        EncodeError: ``index`` is not an int in [0, 2^63 - 1]; ``proof`` has more than 64
            elements or one that is not 32 bytes; ``extra`` is given but not non-empty
            bytes; or ``checkpoint`` is not a well-formed checkpoint note.
    """
    if type(index) is not int or not 0 <= index <= _MAX_U63:
        raise EncodeError("index is an int in [0, 2^63 - 1]")
    if isinstance(proof, bytes | bytearray | str) or not isinstance(proof, Sequence):
        raise EncodeError("proof is a sequence of hashes")
    if len(proof) > _MAX_PROOF:
        raise EncodeError(f"an inclusion proof has at most {_MAX_PROOF} hashes")
    if not all(isinstance(h, bytes) and len(h) == merkle.HASH_SIZE for h in proof):
        raise EncodeError(f"every proof element is a {merkle.HASH_SIZE}-byte hash")
    if extra is not None and (not isinstance(extra, bytes) or not extra):
        raise EncodeError("extra data is non-empty bytes (omit it otherwise)")
    try:
        decode_checkpoint_note(checkpoint)
    except DecodeError as exc:
        raise EncodeError(f"not a checkpoint note: {exc}") from None
    lines = [TLOG_PROOF_HEADER]
    if extra is not None:
        lines.append(f"extra {_b64(extra)}")
    lines.append(f"index {index}")
    lines.extend(_b64(h) for h in proof)
    # tlog-proof "Format": after the proof lines, an empty line, then the checkpoint.
    return "".join(line + "\n" for line in lines) + "\n" + checkpoint.decode("utf-8")


def export_tlog_proof(bundle: bytes) -> str:
    """The certificate entry's inclusion evidence of a bundle as a ``tlog-proof@v1``.

    No extra data is written: the leaf hash is SHA-256(0x00 || entry) of the certificate's
    signed bytes, which the consumer holds, so nothing else is needed to reconstruct it
    (spec/interop.md §2.2). Before writing, the proof is checked against the root of the
    bundle's checkpoint (its signature is not checked: whoever verifies the export does).

    Raises:
        DecodeError: ``bundle`` is not a bundle (:meth:`Bundle.from_cbor`) or its checkpoint
            is malformed.
        InclusionError: the bundle's inclusion proof does not lead to its checkpoint's root.
    """
    decoded = Bundle.from_cbor(bundle)
    checkpoint = decode_checkpoint_note(decoded.checkpoint)
    certificate = decoded.certificate
    merkle.verify_inclusion(
        index=certificate.index,
        size=checkpoint.size,
        leaf_hash=merkle.leaf_hash(certificate.entry),
        proof=certificate.proof,
        root=checkpoint.root,
    )
    return encode_tlog_proof(certificate.index, certificate.proof, decoded.checkpoint)


def _proof_text(text: str | bytes) -> str:
    if isinstance(text, bytes):
        if len(text) > MAX_TLOG_PROOF_SIZE:
            raise DecodeError(f"a tlog-proof is at most {MAX_TLOG_PROOF_SIZE} bytes")
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("a tlog-proof is valid UTF-8") from None
    if not isinstance(text, str):
        raise DecodeError("a tlog-proof is text (str, or UTF-8 bytes)")
    if len(text) > MAX_TLOG_PROOF_SIZE:  # a cheap bound before encoding
        raise DecodeError(f"a tlog-proof is at most {MAX_TLOG_PROOF_SIZE} bytes")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise DecodeError("a tlog-proof is valid Unicode (no lone surrogates)") from None
    if size > MAX_TLOG_PROOF_SIZE:
        raise DecodeError(f"a tlog-proof is at most {MAX_TLOG_PROOF_SIZE} bytes")
    return text


def import_tlog_proof(text: str | bytes) -> TlogProof:
    """Parse a ``tlog-proof@v1`` strictly (spec/interop.md §2.3). Nothing is verified.

    Raises:
        DecodeError: not text (or not UTF-8 bytes); over :data:`MAX_TLOG_PROOF_SIZE`; a
            control character other than LF; no empty line; a first line other than
            ``c2sp.org/tlog-proof@v1``; an ``extra`` line whose data is empty or not
            canonical base64; no ``index`` line or an index that is not canonical decimal
            in [0, 2^63 - 1]; a proof line that is not canonical base64 of 32 bytes; more
            than 64 proof lines; or a checkpoint that is not a well-formed checkpoint note
            (:func:`~noc_ledger.checkpoint.decode_checkpoint_note`).
    """
    decoded = _proof_text(text)
    if _CONTROL.search(decoded):
        raise DecodeError("a tlog-proof contains no control character other than newline")
    # The lines above the checkpoint are never empty, so the first empty line is the one
    # that separates them from the checkpoint (which has an empty line of its own).
    split = decoded.find("\n\n")
    if split < 0:
        raise DecodeError("a tlog-proof has an empty line before its checkpoint")
    head, note_text = decoded[:split].split("\n"), decoded[split + 2 :]
    if head[0] != TLOG_PROOF_HEADER:
        raise DecodeError(f"a tlog-proof starts with the line {TLOG_PROOF_HEADER!r}")
    position = 1
    extra: bytes | None = None
    if position < len(head) and head[position].startswith("extra "):
        extra = decode_base64(head[position][len("extra ") :])
        if not extra:
            # tlog-proof "Format": without extra data the line is omitted.
            raise DecodeError("a tlog-proof extra line carries data")
        position += 1
    if position >= len(head) or not head[position].startswith("index "):
        raise DecodeError("a tlog-proof has an 'index' line after its header (and extra)")
    index_text = head[position][len("index ") :]
    if not _INDEX.fullmatch(index_text) or int(index_text) > _MAX_U63:
        raise DecodeError(f"index {index_text!r} is not canonical decimal in [0, 2^63 - 1]")
    hash_lines = head[position + 1 :]
    if len(hash_lines) > _MAX_PROOF:
        raise DecodeError(f"a tlog-proof has at most {_MAX_PROOF} proof hashes")
    proof: list[bytes] = []
    for number, line in enumerate(hash_lines):
        raw = decode_base64(line)
        if len(raw) != merkle.HASH_SIZE:
            raise DecodeError(f"proof line {number} is not a {merkle.HASH_SIZE}-byte hash")
        proof.append(raw)
    checkpoint = note_text.encode("utf-8")
    decode_checkpoint_note(checkpoint)
    return TlogProof(int(index_text), tuple(proof), checkpoint, extra)


def verify_tlog_proof(
    text: str | bytes,
    *,
    entry: bytes,
    origin: str,
    log_key: Verifier,
    witnesses: Iterable[Verifier] = (),
) -> VerifiedTlogProof:
    """Verify a ``tlog-proof@v1`` for ``entry`` (spec/interop.md §2.4).

    ``entry`` (the certificate's signed bytes), ``origin``, ``log_key`` and ``witnesses``
    come from the caller; the size and root come only from the checkpoint once its
    signature verified. The extra data, if any, is ignored.

    Raises:
        DecodeError: as :func:`import_tlog_proof`, or a malformed checkpoint body.
        SignatureError: the checkpoint is not signed by ``log_key`` under ``origin``
            (:func:`~noc_ledger.checkpoint.open_checkpoint`), or a named witness's
            cosignature fails (:func:`~noc_ledger.checkpoint.verify_cosignatures`).
        InclusionError: ``entry`` is not bytes; the index is not below the checkpoint's
            size; or the proof does not lead from the entry's leaf hash to its root.
    """
    parsed = import_tlog_proof(text)
    opened = open_checkpoint(parsed.checkpoint, origin=origin, log_key=log_key)
    if not isinstance(entry, bytes):
        raise InclusionError("entry is the bytes of a log entry")
    merkle.verify_inclusion(
        index=parsed.index,
        size=opened.checkpoint.size,
        leaf_hash=merkle.leaf_hash(entry),
        proof=parsed.proof,
        root=opened.checkpoint.root,
    )
    cosignatures = verify_cosignatures(opened, witnesses)
    return VerifiedTlogProof(parsed.index, opened, cosignatures)


# ---------------------------------------------------------------------------------------
# RFC 9942 COSE Receipt of inclusion, RFC9162_SHA256 (spec/interop.md §3)


def _sig_structure(protected: bytes, root: bytes) -> bytes:
    # RFC 9052 §4.4 with the detached payload put back: the root (RFC 9942 §5.2.1).
    return codec.encode(["Signature1", protected, b"", root])


def export_cose_receipt(bundle: bytes, log_signer: Signer) -> bytes:
    """An RFC 9942 receipt of inclusion for the bundle's certificate entry, signed by the log.

    For the log operator only: it needs the log's private key. It signs nothing new about
    the tree: the bundle's checkpoint must already carry a valid signature by this same key
    (so the receipt's root is one the log committed to in a checkpoint, spec/checkpoint.md
    §3.4), and the bundle's proof must lead from the entry to that root.

    Raises:
        DecodeError: ``bundle`` is not a bundle, or its checkpoint is malformed.
        SignatureError: the checkpoint is not signed by ``log_signer``'s key under its
            origin; or the signer returned a signature that does not verify.
        InclusionError: the bundle's proof does not lead to the checkpoint's root.
        EncodeError: the proof is empty (a tree of one entry), which RFC 9942's
            ``inclusion-path: [+ bstr]`` cannot express.
    """
    decoded = Bundle.from_cbor(bundle)
    origin = decode_checkpoint_note(decoded.checkpoint).origin
    public_key = log_signer.public_key
    try:
        log_key = Verifier.for_key(origin, public_key)
    except ModelError as exc:  # a key that is not 32 bytes
        raise SignatureError(f"log signer: {exc}") from None
    checkpoint = open_checkpoint(decoded.checkpoint, origin=origin, log_key=log_key).checkpoint
    certificate = decoded.certificate
    merkle.verify_inclusion(
        index=certificate.index,
        size=checkpoint.size,
        leaf_hash=merkle.leaf_hash(certificate.entry),
        proof=certificate.proof,
        root=checkpoint.root,
    )
    if not certificate.proof:
        raise EncodeError("RFC 9942 inclusion paths are non-empty: no receipt for a size-1 tree")
    protected = codec.encode(
        {
            _HDR_ALG: signing.ALG_ED25519,
            _HDR_KID: signing.key_id(public_key),
            RECEIPT_HEADER_VDS: VDS_RFC9162_SHA256,
        }
    )
    tbs = _sig_structure(protected, checkpoint.root)
    signature = log_signer.sign(tbs)
    # spec/signing.md §3 step 4: a signer's output is checked before it is released.
    signing.verify_ed25519(public_key, tbs, signature)
    proof = codec.encode([checkpoint.size, certificate.index, list(certificate.proof)])
    unprotected = {RECEIPT_HEADER_VDP: {RECEIPT_PROOF_INCLUSION: [proof]}}
    # RFC 9942 §4.4: the payload (the root) is detached, so the verifier must recompute it.
    return codec.encode(codec.Tag(codec.COSE_SIGN1_TAG, [protected, unprotected, None, signature]))


def _root_from_inclusion_path(
    index: int, size: int, leaf_hash: bytes, path: Sequence[bytes]
) -> bytes:
    """The root an inclusion path leads to (RFC 9162 §2.1.3.2 steps 2-4).

    Raises:
        InclusionError: ``index >= size``, or the path is longer or shorter than the one
            for (index, size).
    """
    if index >= size:
        raise InclusionError(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            raise InclusionError("inclusion path is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = merkle.node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = merkle.node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionError("inclusion path is shorter than the path to the root")
    return r


def _decode_receipt(receipt: bytes) -> tuple[bytes, dict[object, object], bytes]:
    """Shape of a receipt: tag 18 around [protected bstr, unprotected map, nil, sig bstr]."""
    item = codec.decode(receipt, max_size=MAX_RECEIPT_SIZE, tags=_RECEIPT_TAGS)
    if not isinstance(item, codec.Tag) or item.number != codec.COSE_SIGN1_TAG:
        raise DecodeError("COSE receipt: expected a COSE_Sign1 (tag 18)")
    parts = item.value
    if not isinstance(parts, list) or len(parts) != 4:
        raise DecodeError("COSE receipt: expected an array of 4 elements")
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes):
        raise DecodeError("COSE receipt: protected header must be a byte string")
    if not isinstance(unprotected, dict):
        raise DecodeError("COSE receipt: unprotected header must be a map")
    if payload is not None:
        raise DecodeError("COSE receipt: the payload (the root) must be detached (nil)")
    if not isinstance(signature, bytes):
        raise DecodeError("COSE receipt: signature must be a byte string")
    return protected, unprotected, signature


def _receipt_proof(unprotected: dict[object, object]) -> tuple[int, int, list[bytes]]:
    """The one inclusion proof of the unprotected header: (tree-size, leaf-index, path)."""
    if set(unprotected) != {RECEIPT_HEADER_VDP}:
        raise SignatureError("COSE receipt: the unprotected header holds exactly vdp (396)")
    vdp = unprotected[RECEIPT_HEADER_VDP]
    if not isinstance(vdp, dict) or set(vdp) != {RECEIPT_PROOF_INCLUSION}:
        raise DecodeError("COSE receipt: vdp is a map holding exactly inclusion proofs (-1)")
    proofs = vdp[RECEIPT_PROOF_INCLUSION]
    if not isinstance(proofs, list) or len(proofs) != 1 or not isinstance(proofs[0], bytes):
        raise DecodeError("COSE receipt: exactly one inclusion proof, a byte string")
    content = codec.decode(proofs[0], max_size=MAX_RECEIPT_SIZE, max_depth=2)
    if not isinstance(content, list) or len(content) != 3:
        raise DecodeError("COSE receipt: an inclusion proof is [tree-size, leaf-index, path]")
    size, index, path = content
    for value, what in ((size, "tree-size"), (index, "leaf-index")):
        if type(value) is not int or not 0 <= value <= _MAX_U63:
            raise DecodeError(f"COSE receipt: {what} is an unsigned integer below 2^63")
    if not isinstance(path, list) or not 1 <= len(path) <= _MAX_PROOF:
        # RFC 9942 §5.2: inclusion-path is [+ bstr]; spec/bundle.md bounds it at 64.
        raise DecodeError(f"COSE receipt: the inclusion path has 1 to {_MAX_PROOF} hashes")
    if not all(isinstance(h, bytes) for h in path):
        raise DecodeError("COSE receipt: the inclusion path holds byte strings")
    return size, index, path


def verify_cose_receipt(receipt: bytes, *, entry: bytes, log_public_key: bytes) -> VerifiedReceipt:
    """Verify an RFC 9942 receipt of inclusion for ``entry`` under the log's key (spec §3.4).

    In RFC 9942's order: recompute the root from the entry's leaf hash and the proof, then
    verify the log's signature with that root as the detached payload. ``entry`` and
    ``log_public_key`` come from the caller; the root is trusted only because the signature
    over it verifies.

    Raises:
        DecodeError: not canonical CBOR; over :data:`MAX_RECEIPT_SIZE`; not a tagged
            COSE_Sign1 with a detached payload; a protected header that is not a map; or a
            vdp that is not exactly one inclusion proof ``[tree-size, leaf-index, path]``
            with 1 to 64 byte strings.
        SignatureError: the protected header is not exactly alg -19 (Ed25519), kid and
            vds 1 (RFC9162_SHA256); the kid is not the key id of ``log_public_key``; the
            unprotected header holds anything but vdp; the signature is not 64 bytes or
            does not verify over the recomputed root.
        InclusionError: ``entry`` is not bytes; the leaf index is not below the tree size;
            a path element is not 32 bytes; or the path has the wrong length.
    """
    protected, unprotected, signature = _decode_receipt(receipt)
    if len(signature) != signing.SIGNATURE_SIZE:
        raise SignatureError("COSE receipt: an Ed25519 signature is 64 bytes")
    header = codec.decode(protected, max_size=1024, max_depth=4)
    if not isinstance(header, dict):
        raise DecodeError("COSE receipt: the protected header must encode a map")
    if set(header) != _RECEIPT_PROTECTED_LABELS:
        # A closed set, as for signed documents (spec/signing.md §2 item 2): an unknown
        # label may be critical to whoever added it.
        raise SignatureError("COSE receipt: the protected header is exactly alg, kid and vds")
    alg = header[_HDR_ALG]
    if type(alg) is not int or alg != signing.ALG_ED25519:
        raise SignatureError(f"COSE receipt: alg must be {signing.ALG_ED25519}, got {alg!r}")
    vds = header[RECEIPT_HEADER_VDS]
    if type(vds) is not int or vds != VDS_RFC9162_SHA256:
        raise SignatureError(f"COSE receipt: vds must be {VDS_RFC9162_SHA256}, got {vds!r}")
    if header[_HDR_KID] != signing.key_id(log_public_key):
        raise SignatureError("COSE receipt: kid does not name the log's key")
    size, index, path = _receipt_proof(unprotected)
    if not isinstance(entry, bytes):
        raise InclusionError("entry is the bytes of a log entry")
    leaf = merkle.leaf_hash(entry)
    if not all(len(h) == merkle.HASH_SIZE for h in path):
        raise InclusionError(f"every inclusion path element is a {merkle.HASH_SIZE}-byte hash")
    # RFC 9942 §5.2.1 step 1: the proof applied to the entry gives the candidate root...
    root = _root_from_inclusion_path(index, size, leaf, path)
    # ...(and the project's verifier, with its exact-length rule, agrees on it)...
    merkle.verify_inclusion(index=index, size=size, leaf_hash=leaf, proof=path, root=root)
    # ...step 2: the log's signature over that root as the detached payload.
    signing.verify_ed25519(log_public_key, _sig_structure(protected, root), signature)
    return VerifiedReceipt(size, index, root)
