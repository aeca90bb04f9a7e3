"""spec/interop.md: the C2SP tlog-proof and RFC 9942 COSE receipt exports.

Our own verifiers accept what we export; every tampering is rejected with a typed error;
and independent implementations read the exports: Go's golang.org/x/mod/sumdb/note and
sumdb/tlog check the tlog-proof (tests/go/verify_tlog_proof.go), cbor2 decodes the receipt
field by field against RFC 9942, a recursive RFC 9162 reference written here recomputes its
root, and pycose verifies its signature over that detached root.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cbor2
import pytest
from pycose.keys.curves import Ed25519
from pycose.keys.okp import OKPKey
from pycose.messages.sign1message import Sign1Message

from noc_ledger import codec, merkle, signing
from noc_ledger.bundle import Bundle, LoggedEntry, StatusEvidence
from noc_ledger.checkpoint import Checkpoint, cosign, open_checkpoint, sign_checkpoint
from noc_ledger.errors import (
    DecodeError,
    EncodeError,
    InclusionError,
    NocLedgerError,
    SignatureError,
)
from noc_ledger.interop import (
    MAX_TLOG_PROOF_SIZE,
    TLOG_PROOF_HEADER,
    TlogProof,
    encode_tlog_proof,
    export_cose_receipt,
    export_tlog_proof,
    import_tlog_proof,
    verify_cose_receipt,
    verify_tlog_proof,
)
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.note import Verifier
from noc_ledger.statusmap import StatusProof
from tests.independent_cose import Ed25519Fully
from tests.ledger_story import ISSUER, LOG, ORIGIN, new_ledger, noc

LOG_KEY = Verifier.for_key(ORIGIN, LOG.public_key)
WITNESS = signing.Ed25519Signer(hashlib.sha256(b"interop: witness").digest())
WITNESS_KEY = Verifier.for_key("witness.example", WITNESS.public_key, sig_type=0x04)
STRANGER = signing.Ed25519Signer(hashlib.sha256(b"interop: stranger").digest())

SPEC = Path(__file__).resolve().parent.parent / "spec" / "interop.md"
GO_SOURCE = Path(__file__).parent / "go" / "verify_tlog_proof.go"
GOPATH = Path("/usr/share/gocode")

assert Ed25519Fully.identifier == -19  # registers alg -19 with pycose (RFC 9864 §2.2)


# ---------------------------------------------------------------------------------------
# Fixtures and helpers


@dataclasses.dataclass(frozen=True)
class World:
    bundle: bytes
    decoded: Bundle
    entry: bytes
    other_entry: bytes
    checkpoint: Checkpoint


@pytest.fixture(scope="module")
def world() -> World:
    """A ledger with a delegation and four certificates; the bundle of the second one
    (index 2 in a tree of 5)."""
    ledger = new_ledger(MemoryStore())
    receipts = [ledger.issue(noc(), ISSUER) for _ in range(4)]
    data = ledger.bundle(receipts[1].id)
    decoded = Bundle.from_cbor(data)
    other = Bundle.from_cbor(ledger.bundle(receipts[2].id)).certificate.entry
    opened = open_checkpoint(decoded.checkpoint, origin=ORIGIN, log_key=LOG_KEY)
    assert decoded.certificate.index == 2 and opened.checkpoint.size == 5
    return World(data, decoded, decoded.certificate.entry, other, opened.checkpoint)


def _with_checkpoint(world: World, checkpoint: bytes) -> bytes:
    return dataclasses.replace(world.decoded, checkpoint=checkpoint).to_cbor()


def _synthetic_bundle(
    entries: list[bytes],
    index: int,
    *,
    signer: signing.Ed25519Signer,
    origin: str,
    time: int,
    status_root: bytes,
    witness: tuple[str, signing.Ed25519Signer, int] | None = None,
) -> bytes:
    """A bundle around a tree of arbitrary entries: only its certificate entry and
    checkpoint matter to the exports (the status evidence is a placeholder)."""
    store = merkle.MemoryHashStore()
    for entry in entries:
        store.append(entry)
    size = len(entries)
    checkpoint = Checkpoint(origin, size, merkle.root_from_reader(size, store), time, status_root)
    note = sign_checkpoint(checkpoint, signer)
    if witness is not None:
        name, witness_signer, when = witness
        note = cosign(note, name, witness_signer, time=when)
    placeholder = StatusEvidence(None, StatusProof(()))
    return Bundle(
        LoggedEntry(index, entries[index], tuple(merkle.prove_inclusion(index, size, store))),
        (LoggedEntry(0, entries[0], tuple(merkle.prove_inclusion(0, size, store))),),
        note,
        placeholder,
        placeholder,
    ).to_cbor()


def _leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _reference_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.1 read backwards, recursively: PATH(m, D[n]) is PATH of the half
    holding m followed by the MTH of the other half, so the last element is the sibling of
    the top split. Independent of noc_ledger.merkle (hashlib only)."""
    if size == 1:
        assert not path, "proof too long"
        return leaf
    assert path, "proof too short"
    k = 1 << ((size - 1).bit_length() - 1)  # largest power of two < size
    if index < k:
        return _node(_reference_root(index, k, leaf, path[:-1]), path[-1])
    return _node(path[-1], _reference_root(index - k, size - k, leaf, path[:-1]))


def _thaw(value: Any) -> Any:
    """cbor2 6.x returns immutable maps and tuples; pycose wants dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _pycose_verify(receipt: bytes, public_key: bytes, root: bytes) -> bool:
    item = cbor2.loads(receipt)
    protected, unprotected, payload, signature = item.value
    message: Any = Sign1Message.from_cose_obj(
        [protected, _thaw(unprotected), payload, signature], True
    )
    message.key = OKPKey(crv=Ed25519, x=public_key)
    message.payload = root  # RFC 9942 §4.4: the detached payload is the recomputed root
    return bool(message.verify_signature())


def _resign(
    protected: dict[int, Any],
    unprotected: dict[int, Any],
    root: bytes,
    *,
    payload: bytes | None = None,
    signer: signing.Ed25519Signer = LOG,
) -> bytes:
    """A receipt with the given headers and a *valid* signature, so that only the field
    under test is wrong."""
    encoded = codec.encode(protected)
    signature = signer.sign(codec.encode(["Signature1", encoded, b"", root]))
    return codec.encode(codec.Tag(18, [encoded, unprotected, payload, signature]))


def _receipt_parts(receipt: bytes) -> tuple[dict[int, Any], dict[int, Any], list[Any]]:
    item = codec.decode(receipt, tags=frozenset({18}))
    protected = codec.decode(item.value[0])
    unprotected = item.value[1]
    content = codec.decode(unprotected[396][-1][0])
    return protected, unprotected, content


# ---------------------------------------------------------------------------------------
# tlog-proof: round trip through our verifier


def test_tlog_proof_round_trip(world: World) -> None:
    text = export_tlog_proof(world.bundle)
    proof = world.decoded.certificate.proof
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" == TLOG_PROOF_HEADER
    assert lines[1] == "index 2"
    assert lines[2 : 2 + len(proof)] == [base64.b64encode(h).decode() for h in proof]
    assert lines[2 + len(proof)] == ""
    # The checkpoint is carried byte for byte.
    assert text.encode().endswith(world.decoded.checkpoint)
    assert text == "\n".join(lines[: 3 + len(proof)]) + "\n" + world.decoded.checkpoint.decode()

    parsed = import_tlog_proof(text)
    assert parsed == TlogProof(2, proof, world.decoded.checkpoint, None)
    assert import_tlog_proof(text.encode()) == parsed
    assert encode_tlog_proof(parsed.index, parsed.proof, parsed.checkpoint) == text

    verified = verify_tlog_proof(text, entry=world.entry, origin=ORIGIN, log_key=LOG_KEY)
    assert verified.index == 2
    assert verified.checkpoint.checkpoint == world.checkpoint
    assert verified.checkpoint.note == world.decoded.checkpoint
    assert verified.cosignatures == ()


def test_tlog_proof_carries_cosignatures(world: World) -> None:
    cosigned = cosign(world.decoded.checkpoint, "witness.example", WITNESS, time=1_767_225_700)
    text = export_tlog_proof(_with_checkpoint(world, cosigned))
    assert text.encode().endswith(cosigned)
    verified = verify_tlog_proof(
        text, entry=world.entry, origin=ORIGIN, log_key=LOG_KEY, witnesses=[WITNESS_KEY]
    )
    assert [(c.name, c.time) for c in verified.cosignatures] == [("witness.example", 1_767_225_700)]
    # Without witnesses the cosignature is an unknown signature: kept, never trusted.
    plain = verify_tlog_proof(text, entry=world.entry, origin=ORIGIN, log_key=LOG_KEY)
    assert plain.cosignatures == () and len(plain.checkpoint.unverified_signatures) == 1
    # A known witness whose cosignature is bad fails the whole check.
    body, _, line = cosigned.decode().rpartition("\n\u2014 witness.example ")
    raw = bytearray(base64.b64decode(line))
    raw[-1] ^= 1  # the last byte of the Ed25519 signature; key ID and time unchanged
    broken = f"{body}\n\u2014 witness.example {base64.b64encode(raw).decode()}\n".encode()
    with pytest.raises(SignatureError):
        verify_tlog_proof(
            export_tlog_proof(_with_checkpoint(world, broken)),
            entry=world.entry,
            origin=ORIGIN,
            log_key=LOG_KEY,
            witnesses=[WITNESS_KEY],
        )


def test_tlog_proof_wrong_trust_inputs(world: World) -> None:
    text = export_tlog_proof(world.bundle)
    with pytest.raises(InclusionError):
        verify_tlog_proof(text, entry=world.other_entry, origin=ORIGIN, log_key=LOG_KEY)
    with pytest.raises(InclusionError):
        verify_tlog_proof(text, entry=world.entry + b"\x00", origin=ORIGIN, log_key=LOG_KEY)
    with pytest.raises(InclusionError):
        verify_tlog_proof(text, entry="text", origin=ORIGIN, log_key=LOG_KEY)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        verify_tlog_proof(
            text,
            entry=world.entry,
            origin=ORIGIN,
            log_key=Verifier.for_key(ORIGIN, STRANGER.public_key),
        )
    with pytest.raises(SignatureError):
        verify_tlog_proof(
            text,
            entry=world.entry,
            origin="other.example",
            log_key=Verifier.for_key("other.example", LOG.public_key),
        )


def test_tlog_proof_index_and_hash_tampering(world: World) -> None:
    text = export_tlog_proof(world.bundle)
    for index in (1, 3, 4, 5, 99):
        with pytest.raises(InclusionError):
            verify_tlog_proof(
                text.replace("index 2\n", f"index {index}\n", 1),
                entry=world.entry,
                origin=ORIGIN,
                log_key=LOG_KEY,
            )
    parsed = import_tlog_proof(text)
    for position in range(len(parsed.proof)):
        proof = list(parsed.proof)
        proof[position] = bytes(32)
        with pytest.raises(InclusionError):
            verify_tlog_proof(
                encode_tlog_proof(parsed.index, proof, parsed.checkpoint),
                entry=world.entry,
                origin=ORIGIN,
                log_key=LOG_KEY,
            )
    # Dropping, repeating or reordering hashes.
    variants = [parsed.proof[:-1], parsed.proof + parsed.proof[-1:], parsed.proof[::-1]]
    for variant in variants:
        with pytest.raises(InclusionError):
            verify_tlog_proof(
                encode_tlog_proof(parsed.index, variant, parsed.checkpoint),
                entry=world.entry,
                origin=ORIGIN,
                log_key=LOG_KEY,
            )


def test_tlog_proof_every_character_mutation_fails(world: World) -> None:
    """Any one-character change to the proof lines, the checkpoint body or the log's
    signature line gives a typed error, never success."""
    text = export_tlog_proof(world.bundle)
    end = text.index("\n", text.index("\u2014 ")) + 1  # end of the log signature line
    for position in range(end):
        replacement = "A" if text[position] != "A" else "B"
        mutated = text[:position] + replacement + text[position + 1 :]
        with pytest.raises(NocLedgerError):
            verify_tlog_proof(mutated, entry=world.entry, origin=ORIGIN, log_key=LOG_KEY)
    for cut in range(0, len(text), 7):  # truncations
        with pytest.raises(NocLedgerError):
            verify_tlog_proof(text[:cut], entry=world.entry, origin=ORIGIN, log_key=LOG_KEY)


def _malformed(text: str) -> list[tuple[str, str | bytes]]:
    checkpoint_start = text.index("\n\n") + 2
    head, note = text[:checkpoint_start], text[checkpoint_start:]
    first_hash = head.split("\n")[2]
    bad_bits = first_hash[:42] + chr(ord(first_hash[42]) + 1) + "="  # non-zero unused bits
    return [
        ("crlf", text.replace("\n", "\r\n")),
        ("tab", text.replace("index ", "index\t", 1)),
        ("header v2", text.replace("tlog-proof@v1", "tlog-proof@v2", 1)),
        ("header missing", text.split("\n", 1)[1]),
        ("leading blank line", "\n" + text),
        ("index missing", text.replace("index 2\n", "", 1)),
        ("index leading zero", text.replace("index 2\n", "index 02\n", 1)),
        ("index negative", text.replace("index 2\n", "index -2\n", 1)),
        ("index plus", text.replace("index 2\n", "index +2\n", 1)),
        ("index too big", text.replace("index 2\n", f"index {1 << 63}\n", 1)),
        ("index two spaces", text.replace("index 2\n", "index  2\n", 1)),
        ("index keyword case", text.replace("index 2\n", "Index 2\n", 1)),
        ("hash bad bits", text.replace(first_hash, bad_bits, 1)),
        ("hash unpadded", text.replace(first_hash, first_hash.rstrip("="), 1)),
        ("hash short", text.replace(first_hash, base64.b64encode(bytes(31)).decode(), 1)),
        ("hash long", text.replace(first_hash, base64.b64encode(bytes(33)).decode(), 1)),
        ("hash space", text.replace(first_hash, " " + first_hash, 1)),
        ("65 hashes", head.replace(first_hash + "\n", (first_hash + "\n") * 65, 1) + note),
        ("extra empty", text.replace("index", "extra \nindex", 1)),
        ("extra not base64", text.replace("index", "extra !!!!\nindex", 1)),
        ("extra after index", text.replace("index 2\n", "index 2\nextra AA==\n", 1)),
        ("no empty line", text.replace("\n\n", "\n")),
        ("no checkpoint", head),
        ("checkpoint body not ours", head + note.replace("noc-ledger-time", "time", 1)),
        ("trailing text", text + "x"),
        ("trailing line", text + "more\n"),
        ("lone surrogate", text.replace("index", "\ud800index", 1)),
        ("bytes not utf-8", b"\xff" + text.encode()),
        ("too large", text + "\u2014" * MAX_TLOG_PROOF_SIZE),
    ]


def test_tlog_proof_parser_is_strict(world: World) -> None:
    text = export_tlog_proof(world.bundle)
    for name, bad in _malformed(text):
        with pytest.raises(DecodeError):
            import_tlog_proof(bad)
            pytest.fail(f"accepted: {name}")
        with pytest.raises(DecodeError):
            verify_tlog_proof(bad, entry=world.entry, origin=ORIGIN, log_key=LOG_KEY)
    with pytest.raises(DecodeError):
        import_tlog_proof(None)  # type: ignore[arg-type]


def test_tlog_proof_extra_is_parsed_and_never_trusted(world: World) -> None:
    text = export_tlog_proof(world.bundle)
    with_extra = text.replace("index", "extra bm9jLWxlZGdlcg==\nindex", 1)
    parsed = import_tlog_proof(with_extra)
    assert parsed.extra == b"noc-ledger" and parsed.index == 2
    assert (
        encode_tlog_proof(parsed.index, parsed.proof, parsed.checkpoint, extra=parsed.extra)
        == with_extra
    )
    verified = verify_tlog_proof(with_extra, entry=world.entry, origin=ORIGIN, log_key=LOG_KEY)
    assert verified.index == 2
    with pytest.raises(EncodeError):
        encode_tlog_proof(parsed.index, parsed.proof, parsed.checkpoint, extra=b"")


def test_encode_tlog_proof_checks_its_parts(world: World) -> None:
    proof = world.decoded.certificate.proof
    checkpoint = world.decoded.checkpoint
    for index, hashes, note in [
        (-1, proof, checkpoint),
        (1 << 63, proof, checkpoint),
        (True, proof, checkpoint),
        (2, (b"\x00" * 31,), checkpoint),
        (2, proof[0], checkpoint),
        (2, (bytes(32),) * 65, checkpoint),
        (2, proof, checkpoint + b"x"),
        (2, proof, b"not a note"),
    ]:
        with pytest.raises(EncodeError):
            encode_tlog_proof(index, hashes, note)  # type: ignore[arg-type]


def test_export_checks_the_bundle(world: World) -> None:
    with pytest.raises(DecodeError):
        export_tlog_proof(b"\xa0")
    with pytest.raises(DecodeError):
        export_cose_receipt(b"\xa0", LOG)
    # A proof that does not lead to the checkpoint's root is never exported.
    certificate = world.decoded.certificate
    wrong = dataclasses.replace(
        world.decoded,
        certificate=dataclasses.replace(certificate, proof=(bytes(32), *certificate.proof[1:])),
    ).to_cbor()
    with pytest.raises(InclusionError):
        export_tlog_proof(wrong)
    with pytest.raises(InclusionError):
        export_cose_receipt(wrong, LOG)


def test_tree_of_one_entry() -> None:
    """A one-entry tree: the tlog-proof has no hash lines; RFC 9942 cannot express it."""
    data = _synthetic_bundle(
        [b"only entry"],
        0,
        signer=LOG,
        origin=ORIGIN,
        time=1_767_225_600,
        status_root=bytes(32),
    )
    text = export_tlog_proof(data)
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 0\n\n")
    verified = verify_tlog_proof(text, entry=b"only entry", origin=ORIGIN, log_key=LOG_KEY)
    assert verified.checkpoint.checkpoint.size == 1
    with pytest.raises(EncodeError):
        export_cose_receipt(data, LOG)


# ---------------------------------------------------------------------------------------
# tlog-proof: Go's sumdb/note and sumdb/tlog read it


def _go_available() -> bool:
    return shutil.which("go") is not None and (GOPATH / "src/golang.org/x/mod/sumdb/note").is_dir()


requires_go = pytest.mark.skipif(
    not _go_available() and os.environ.get("NOC_LEDGER_REQUIRE_GO") != "1",
    reason="Go toolchain or golang.org/x/mod sources not installed (CI installs them)",
)


@pytest.fixture(scope="module")
def go_verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("go") / "verify_tlog_proof"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out.parent / "cache"),
        "GOFLAGS": "",
    }
    subprocess.run(
        ["go", "build", "-o", str(out), str(GO_SOURCE)], check=True, env=env, timeout=300
    )
    return out


def _go_check(
    binary: Path, text: str, entry: bytes, tmp_path: Path, vkey: str = LOG_KEY.encode()
) -> subprocess.CompletedProcess[str]:
    proof_file = tmp_path / "entry.tlog-proof"
    entry_file = tmp_path / "entry.bin"
    proof_file.write_bytes(text.encode("utf-8"))
    entry_file.write_bytes(entry)
    return subprocess.run(
        [str(binary), vkey, str(proof_file), str(entry_file)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@requires_go
def test_go_verifies_exported_tlog_proof(go_verifier: Path, world: World, tmp_path: Path) -> None:
    text = export_tlog_proof(world.bundle)
    result = _go_check(go_verifier, text, world.entry, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"index 2 size 5 origin {ORIGIN}\n"
    assert "verified by 1, unverified 0" in result.stderr
    # With a witness cosignature: an unknown signature to the plain note verifier.
    cosigned = cosign(world.decoded.checkpoint, "witness.example", WITNESS, time=1_767_225_700)
    result = _go_check(
        go_verifier, export_tlog_proof(_with_checkpoint(world, cosigned)), world.entry, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "unverified 1" in result.stderr


@requires_go
def test_go_rejects_what_we_reject(go_verifier: Path, world: World, tmp_path: Path) -> None:
    text = export_tlog_proof(world.bundle)
    result = _go_check(go_verifier, text, world.other_entry, tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("inclusion:"), result.stderr
    result = _go_check(go_verifier, text.replace("index 2\n", "index 3\n"), world.entry, tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("inclusion:"), result.stderr
    tampered = text.replace("\n5\n", "\n6\n", 1)  # the checkpoint's size line
    result = _go_check(go_verifier, tampered, world.entry, tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("open:"), result.stderr
    stranger = Verifier.for_key(ORIGIN, STRANGER.public_key).encode()
    result = _go_check(go_verifier, text, world.entry, tmp_path, vkey=stranger)
    assert result.returncode == 1 and result.stderr.startswith("open:"), result.stderr


# ---------------------------------------------------------------------------------------
# COSE receipt: round trip through our verifier


def test_receipt_round_trip(world: World) -> None:
    receipt = export_cose_receipt(world.bundle, LOG)
    verified = verify_cose_receipt(receipt, entry=world.entry, log_public_key=LOG.public_key)
    assert (verified.size, verified.index, verified.root) == (5, 2, world.checkpoint.root)
    # Deterministic: Ed25519 and the canonical encoding give the same bytes again.
    assert export_cose_receipt(world.bundle, LOG) == receipt
    # The receipt binds to the checkpoint through the root, which both sign.
    cosigned = cosign(world.decoded.checkpoint, "witness.example", WITNESS, time=1_767_225_700)
    assert export_cose_receipt(_with_checkpoint(world, cosigned), LOG) == receipt


def test_receipt_matches_rfc9942_field_by_field(world: World) -> None:
    receipt = export_cose_receipt(world.bundle, LOG)
    item = cbor2.loads(receipt)
    assert isinstance(item, cbor2.CBORTag) and item.tag == 18  # RFC 9942 §4.3: tagged Sign1
    assert len(item.value) == 4
    protected, unprotected, payload, signature = item.value
    # Protected header (RFC 9942 §5.2.1 Figure 4): alg, and vds 395 = 1 (RFC9162_SHA256).
    assert isinstance(protected, bytes)
    assert dict(cbor2.loads(protected)) == {1: -19, 4: LOG.key_id, 395: 1}
    assert protected == bytes.fromhex("a30132045820") + LOG.key_id + bytes.fromhex("19018b01")
    # Unprotected header (Figure 5): vdp 396 => {-1 (inclusion-proof): [bstr .cbor proof]}.
    assert set(unprotected) == {396}
    assert set(unprotected[396]) == {-1}
    proofs = unprotected[396][-1]
    assert len(proofs) == 1 and isinstance(proofs[0], bytes)
    # Figure 3: [tree-size, leaf-index, inclusion-path].
    size, index, path = cbor2.loads(proofs[0])
    assert (size, index) == (5, 2)
    assert list(path) == list(world.decoded.certificate.proof)
    assert payload is None  # §4.4: detached; the verifier recomputes the root
    assert isinstance(signature, bytes) and len(signature) == 64


def test_receipt_verifies_independently(world: World) -> None:
    receipt = export_cose_receipt(world.bundle, LOG)
    item = cbor2.loads(receipt)
    size, index, path = cbor2.loads(item.value[1][396][-1][0])
    # An RFC 9162 root recomputation that shares no code with noc_ledger.merkle...
    root = _reference_root(index, size, _leaf(world.entry), list(path))
    assert root == world.checkpoint.root
    # ...and pycose's COSE_Sign1 verification with that root as the detached payload.
    assert _pycose_verify(receipt, LOG.public_key, root)
    assert not _pycose_verify(receipt, LOG.public_key, _leaf(world.entry))
    assert not _pycose_verify(receipt, STRANGER.public_key, root)
    other_root = _reference_root(index, size, _leaf(world.other_entry), list(path))
    assert not _pycose_verify(receipt, LOG.public_key, other_root)


def test_receipt_for_every_index() -> None:
    entries = [f"entry {i}".encode() for i in range(13)]
    for index in range(1, 13):
        data = _synthetic_bundle(
            entries, index, signer=LOG, origin=ORIGIN, time=0, status_root=bytes(32)
        )
        receipt = export_cose_receipt(data, LOG)
        verified = verify_cose_receipt(receipt, entry=entries[index], log_public_key=LOG.public_key)
        assert (verified.size, verified.index) == (13, index)
        size, leaf_index, path = cbor2.loads(cbor2.loads(receipt).value[1][396][-1][0])
        assert _reference_root(leaf_index, size, _leaf(entries[index]), list(path)) == verified.root
        assert _pycose_verify(receipt, LOG.public_key, verified.root)
        assert (
            verify_tlog_proof(
                export_tlog_proof(data), entry=entries[index], origin=ORIGIN, log_key=LOG_KEY
            ).checkpoint.checkpoint.root
            == verified.root
        )


# ---------------------------------------------------------------------------------------
# COSE receipt: tampering


def test_receipt_wrong_entry_or_key(world: World) -> None:
    receipt = export_cose_receipt(world.bundle, LOG)
    for entry in (world.other_entry, world.entry + b"\x00", b""):
        with pytest.raises(SignatureError):
            verify_cose_receipt(receipt, entry=entry, log_public_key=LOG.public_key)
    with pytest.raises(InclusionError):
        verify_cose_receipt(receipt, entry=None, log_public_key=LOG.public_key)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):  # the kid does not name this key
        verify_cose_receipt(receipt, entry=world.entry, log_public_key=STRANGER.public_key)
    with pytest.raises(SignatureError):
        verify_cose_receipt(receipt, entry=world.entry, log_public_key=b"short")


def test_receipt_every_bit_flip_fails(world: World) -> None:
    receipt = export_cose_receipt(world.bundle, LOG)
    for position in range(len(receipt)):
        for bit in (0x01, 0x80):
            mutated = bytearray(receipt)
            mutated[position] ^= bit
            with pytest.raises(NocLedgerError):
                verify_cose_receipt(
                    bytes(mutated), entry=world.entry, log_public_key=LOG.public_key
                )
    for cut in range(len(receipt)):
        with pytest.raises(DecodeError):
            verify_cose_receipt(receipt[:cut], entry=world.entry, log_public_key=LOG.public_key)
    with pytest.raises(DecodeError):
        verify_cose_receipt(receipt + b"\x00", entry=world.entry, log_public_key=LOG.public_key)


def test_receipt_header_profile(world: World) -> None:
    """Each variant carries a valid signature by the log, so only the field under test is
    wrong."""
    receipt = export_cose_receipt(world.bundle, LOG)
    protected, unprotected, content = _receipt_parts(receipt)
    root = world.checkpoint.root

    def check(error: type[NocLedgerError], data: bytes) -> None:
        with pytest.raises(error):
            verify_cose_receipt(data, entry=world.entry, log_public_key=LOG.public_key)

    # The unchanged headers re-signed verify: the helper itself is sound.
    assert (
        verify_cose_receipt(
            _resign(protected, unprotected, root), entry=world.entry, log_public_key=LOG.public_key
        ).root
        == root
    )
    # Protected header: a closed set, alg -19, vds 1, kid of the log key.
    check(SignatureError, _resign({**protected, 3: "application/cbor"}, unprotected, root))
    check(SignatureError, _resign({**protected, 2: [395]}, unprotected, root))
    check(
        SignatureError, _resign({k: v for k, v in protected.items() if k != 4}, unprotected, root)
    )
    check(
        SignatureError, _resign({k: v for k, v in protected.items() if k != 395}, unprotected, root)
    )
    check(SignatureError, _resign({**protected, 1: -8}, unprotected, root))
    check(SignatureError, _resign({**protected, 1: -7}, unprotected, root))
    check(SignatureError, _resign({**protected, 395: 2}, unprotected, root))
    check(SignatureError, _resign({**protected, 395: "1"}, unprotected, root))
    check(SignatureError, _resign({**protected, 4: STRANGER.key_id}, unprotected, root))
    check(DecodeError, _resign([1, -19], unprotected, root))  # type: ignore[arg-type]
    # Signed by another key under the log's kid.
    check(SignatureError, _resign(protected, unprotected, root, signer=STRANGER))
    # Unprotected header: exactly vdp; exactly one inclusion proof.
    check(SignatureError, _resign(protected, {**unprotected, 4: b"x"}, root))
    check(SignatureError, _resign(protected, {}, root))
    proof = unprotected[396][-1][0]
    check(DecodeError, _resign(protected, {396: {-1: [proof, proof]}}, root))
    check(DecodeError, _resign(protected, {396: {-1: []}}, root))
    check(DecodeError, _resign(protected, {396: {-1: proof}}, root))
    check(DecodeError, _resign(protected, {396: {-1: [proof], -2: [proof]}}, root))
    check(DecodeError, _resign(protected, {396: {-2: [proof]}}, root))
    check(DecodeError, _resign(protected, {396: [proof]}, root))
    # The proof content.
    size, index, path = content

    def with_content(value: Any) -> bytes:
        return _resign(protected, {396: {-1: [codec.encode(value)]}}, root)

    check(DecodeError, with_content([size, index]))
    check(DecodeError, with_content([size, index, path, 0]))
    check(DecodeError, with_content([size, index, []]))  # RFC 9942: [+ bstr]
    check(DecodeError, with_content([size, -1, path]))
    check(DecodeError, with_content([1 << 63, index, path]))
    check(DecodeError, with_content([size, index, [*path[:-1], "text"]]))
    check(DecodeError, with_content([size, index, [bytes(32)] * 65]))
    check(DecodeError, with_content({0: size}))
    check(InclusionError, with_content([size, size, path]))  # leaf-index >= tree-size
    check(InclusionError, with_content([size, index, [*path[:-1], bytes(31)]]))
    check(InclusionError, with_content([size, index, path[:-1]]))  # wrong length
    check(InclusionError, with_content([size, index, [*path, bytes(32)]]))
    check(SignatureError, with_content([size, index, [bytes(32), *path[1:]]]))
    check(SignatureError, with_content([size, index - 1, path]))
    # An attached payload, even the right root, is refused: the root must be recomputed.
    check(DecodeError, _resign(protected, unprotected, root, payload=root))
    # Non-canonical encodings: the protected map in insertion order (cbor2 keeps it), and
    # the label 396 written with a 4-byte argument where 2 bytes suffice.
    unsorted = cbor2.dumps({395: 1, 1: -19, 4: LOG.key_id})
    check(DecodeError, cbor2.dumps(cbor2.CBORTag(18, [unsorted, unprotected, None, bytes(64)])))
    assert receipt.count(bytes.fromhex("a119018c")) == 1
    check(DecodeError, receipt.replace(bytes.fromhex("a119018c"), bytes.fromhex("a11a0000018c")))
    # Not a COSE_Sign1 at all.
    check(DecodeError, codec.encode([1, 2, 3, 4]))
    check(DecodeError, cbor2.dumps(cbor2.CBORTag(17, [b"", {}, None, b""])))
    check(SignatureError, codec.encode(codec.Tag(18, [codec.encode(protected), {}, None, b""])))


def test_receipt_size_is_bound_only_through_the_root() -> None:
    """spec/interop.md §3.4: tree-size and leaf-index are not signed. A proof for index 0
    in a tree of 4 also leads to the same root as "index 0 of 3"; only a comparison with
    a verified checkpoint catches the changed size."""
    entries = [f"entry {i}".encode() for i in range(4)]
    data = _synthetic_bundle(entries, 0, signer=LOG, origin=ORIGIN, time=0, status_root=bytes(32))
    receipt = export_cose_receipt(data, LOG)
    item = codec.decode(receipt, tags=frozenset({18}))
    protected, unprotected, payload, signature = item.value
    size, index, path = codec.decode(unprotected[396][-1][0])
    assert (size, index) == (4, 0)
    relabelled = codec.encode(
        codec.Tag(18, [protected, {396: {-1: [codec.encode([3, 0, path])]}}, payload, signature])
    )
    verified = verify_cose_receipt(relabelled, entry=entries[0], log_public_key=LOG.public_key)
    checkpoint = open_checkpoint(Bundle.from_cbor(data).checkpoint, origin=ORIGIN, log_key=LOG_KEY)
    assert verified.root == checkpoint.checkpoint.root
    assert verified.size != checkpoint.checkpoint.size  # what a careful caller checks


def test_receipt_export_needs_the_checkpoint_key(world: World) -> None:
    with pytest.raises(SignatureError):
        export_cose_receipt(world.bundle, STRANGER)
    # A checkpoint signed by another key under our origin: our log key may not sign a
    # receipt for a root it never signed; only that checkpoint's own key may.
    foreign = _synthetic_bundle(
        [b"a", b"b"], 1, signer=STRANGER, origin=ORIGIN, time=0, status_root=bytes(32)
    )
    with pytest.raises(SignatureError):
        export_cose_receipt(foreign, LOG)
    assert export_cose_receipt(foreign, STRANGER)


# ---------------------------------------------------------------------------------------
# spec/interop.md §5: the examples are what the code produces


EXAMPLE_LOG = signing.Ed25519Signer(hashlib.sha256(b"noc-ledger example log key").digest())
EXAMPLE_WITNESS = signing.Ed25519Signer(hashlib.sha256(b"noc-ledger example witness key").digest())
EXAMPLE_ORIGIN = "log.noc-ledger.example"
EXAMPLE_ENTRIES = [f"noc-ledger example entry {i}".encode() for i in range(5)]


def _example_bundle() -> bytes:
    return _synthetic_bundle(
        EXAMPLE_ENTRIES,
        3,
        signer=EXAMPLE_LOG,
        origin=EXAMPLE_ORIGIN,
        time=1_767_225_600,
        status_root=hashlib.sha256(b"noc-ledger example status root").digest(),
        witness=("witness.example/w1", EXAMPLE_WITNESS, 1_767_225_605),
    )


def _spec_block(name: str) -> str:
    text = SPEC.read_text(encoding="utf-8")
    pattern = rf"<!-- {name}:begin -->\n```\n(.*?)```\n<!-- {name}:end -->"
    match = re.search(pattern, text, re.S)
    assert match, f"spec/interop.md: block {name} not found"
    return match.group(1)


def test_spec_examples() -> None:
    data = _example_bundle()
    text = export_tlog_proof(data)
    assert _spec_block("tlog-proof-example") == text
    receipt = export_cose_receipt(data, EXAMPLE_LOG)
    assert "".join(_spec_block("receipt-example").split()) == receipt.hex()
    spec = SPEC.read_text(encoding="utf-8")
    log_key = Verifier.for_key(EXAMPLE_ORIGIN, EXAMPLE_LOG.public_key)
    assert log_key.encode() in spec
    entry = EXAMPLE_ENTRIES[3]
    verified = verify_tlog_proof(
        text,
        entry=entry,
        origin=EXAMPLE_ORIGIN,
        log_key=log_key,
        witnesses=[
            Verifier.for_key("witness.example/w1", EXAMPLE_WITNESS.public_key, sig_type=0x04)
        ],
    )
    root = verified.checkpoint.checkpoint.root
    assert len(verified.cosignatures) == 1
    assert root.hex() in spec and _leaf(entry).hex() in spec and EXAMPLE_LOG.key_id.hex() in spec
    assert verify_cose_receipt(
        receipt, entry=entry, log_public_key=EXAMPLE_LOG.public_key
    ).root == (root)
    assert f"{len(receipt)} bytes" in spec
