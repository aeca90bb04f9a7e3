"""Tests for noc_ledger.checkpoint (spec/checkpoint.md §3-§5).

The complete example of spec/checkpoint.md §7 is read from the spec and verified; bodies
round-trip; malformed bodies, wrong keys and wrong origins fail with typed errors; unknown
signatures are kept unverified; cosignatures round-trip and every tampering (time, body,
witness key) fails; mutated notes never verify (hypothesis).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger.checkpoint import (
    MAX_TIME,
    MIN_TIME,
    Checkpoint,
    Cosignature,
    VerifiedCheckpoint,
    cosign,
    cosignature_message,
    decode_checkpoint,
    decode_checkpoint_note,
    encode_checkpoint,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignatures,
)
from noc_ledger.errors import (
    DecodeError,
    EncodeError,
    ModelError,
    NocLedgerError,
    SignatureError,
)
from noc_ledger.merkle import EMPTY_ROOT
from noc_ledger.note import (
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    NoteSignature,
    Verifier,
    decode_note,
    decode_verifier_key,
    encode_signature_line,
    note_key_id,
    open_note,
    sign_note,
)
from noc_ledger.signing import Ed25519Signer, verify_ed25519

SPEC = Path(__file__).resolve().parent.parent / "spec" / "checkpoint.md"

ORIGIN = "log.noc-ledger.test"
LOG = Ed25519Signer(hashlib.sha256(b"noc-ledger test log key").digest())
OTHER = Ed25519Signer(hashlib.sha256(b"noc-ledger test other key").digest())
W1 = Ed25519Signer(hashlib.sha256(b"noc-ledger test witness 1").digest())
W2 = Ed25519Signer(hashlib.sha256(b"noc-ledger test witness 2").digest())
W1_NAME = "witness.test/w1"
W2_NAME = "witness.test/w2"
LOG_V = Verifier.for_key(ORIGIN, LOG.public_key)
W1_V = Verifier.for_key(W1_NAME, W1.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
W2_V = Verifier.for_key(W2_NAME, W2.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)

ROOT = hashlib.sha256(b"root").digest()
STATUS = hashlib.sha256(b"status").digest()
CP = Checkpoint(ORIGIN, 42, ROOT, 1_767_225_600, STATUS)
BODY = encode_checkpoint(CP)
NOTE = sign_checkpoint(CP, LOG)
T1 = 1_767_225_601
COSIGNED = cosign(cosign(NOTE, W1_NAME, W1, time=T1), W2_NAME, W2, time=T1 + 1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------------------
# The spec's example (spec/checkpoint.md §7)


def _spec_example() -> bytes:
    text = SPEC.read_text(encoding="utf-8")
    match = re.search(r"<!-- example:begin -->\n```\n(.*?)```\n<!-- example:end -->", text, re.S)
    assert match, "spec/checkpoint.md §7 example block not found"
    return match.group(1).encode()


def _spec_keys() -> dict[str, str]:
    text = SPEC.read_text(encoding="utf-8")
    return dict(re.findall(r"\| (log|witness) \| .*? \| `([^`]+)` \|", text))


def test_spec_example_verifies() -> None:
    keys = _spec_keys()
    log_key = decode_verifier_key(keys["log"])
    witness_key = decode_verifier_key(keys["witness"])
    assert witness_key.sig_type == SIG_TYPE_COSIGNATURE_V1
    # The seeds stated in the spec give these keys.
    log_signer = Ed25519Signer(hashlib.sha256(b"noc-ledger example log key").digest())
    witness_signer = Ed25519Signer(hashlib.sha256(b"noc-ledger example witness key").digest())
    assert log_key.public_key == log_signer.public_key
    assert witness_key.public_key == witness_signer.public_key
    data = _spec_example()
    verified = open_checkpoint(data, origin="log.noc-ledger.example", log_key=log_key)
    cp = verified.checkpoint
    assert cp == Checkpoint(
        "log.noc-ledger.example",
        1234,
        hashlib.sha256(b"noc-ledger example root").digest(),
        1767225600,
        hashlib.sha256(b"noc-ledger example status root").digest(),
    )
    (cosig,) = verify_cosignatures(verified, [witness_key])
    assert cosig.time == 1767225605 and cosig.key_id.hex() == "6b38b6a7"
    # Deterministic Ed25519: the example is exactly what the code produces.
    resigned = sign_checkpoint(cp, log_signer)
    assert cosign(resigned, "witness.example/w1", witness_signer, time=1767225605) == data


# The C2SP tlog-cosignature example (c2sp.org/tlog-cosignature, the introductory example;
# CC BY 4.0, The C2SP Authors). No key is published, so it is parsed only; the spec's
# "Ed25519 signed message" example gives its timestamp as 1679315147.
C2SP_COSIGNED = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrD"
    "JsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_c2sp_cosignature_example_parses_with_its_timestamp() -> None:
    note = decode_note(C2SP_COSIGNED.encode())
    log_sig, witness_sig = note.signatures
    assert log_sig.key_id.hex() == "033de0ae"
    assert witness_sig.name == "witness.example.com/w1"
    assert len(witness_sig.signature) == 8 + 64
    assert int.from_bytes(witness_sig.signature[:8], "big") == 1679315147
    # It is a plain tlog-checkpoint: without our extension lines it is not a version-1 body.
    with pytest.raises(DecodeError, match="noc-ledger-time"):
        decode_checkpoint(note.text)


# --------------------------------------------------------------------------------------
# Bodies


def test_body_layout() -> None:
    expected = f"{ORIGIN}\n42\n{_b64(ROOT)}\nnoc-ledger-time 1767225600\n"
    assert expected + f"noc-ledger-status {_b64(STATUS)}\n" == BODY
    assert decode_checkpoint(BODY) == CP


def test_extensions_are_preserved_in_order() -> None:
    cp = Checkpoint(ORIGIN, 1, ROOT, -5, STATUS, ("zeta 1", "alpha", "noc-ledger-future x"))
    body = encode_checkpoint(cp)
    assert body.endswith(
        "noc-ledger-status " + _b64(STATUS) + "\nzeta 1\nalpha\nnoc-ledger-future x\n"
    )
    assert decode_checkpoint(body) == cp
    verified = open_checkpoint(sign_checkpoint(cp, LOG), origin=ORIGIN, log_key=LOG_V)
    assert verified.checkpoint.extensions == ("zeta 1", "alpha", "noc-ledger-future x")


def test_empty_tree_and_extreme_values() -> None:
    for cp in (
        Checkpoint(ORIGIN, 0, EMPTY_ROOT, 0, STATUS),
        Checkpoint(ORIGIN, 2**63 - 1, ROOT, MAX_TIME, STATUS),
        Checkpoint(ORIGIN, 1, ROOT, MIN_TIME, STATUS),
    ):
        assert decode_checkpoint(encode_checkpoint(cp)) == cp


names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="+\x85"
    ),
    min_size=1,
    max_size=30,
).filter(lambda s: not any(c.isspace() for c in s))
extension_lines = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda s: s.split(" ", 1)[0] not in {"noc-ledger-time", "noc-ledger-status"})


@st.composite
def checkpoints(draw: Any) -> Checkpoint:
    size = draw(st.integers(0, 2**63 - 1))
    root = EMPTY_ROOT if size == 0 else draw(st.binary(min_size=32, max_size=32))
    return Checkpoint(
        origin=draw(names),
        size=size,
        root=root,
        time=draw(st.integers(MIN_TIME, MAX_TIME)),
        status_root=draw(st.binary(min_size=32, max_size=32)),
        extensions=tuple(draw(st.lists(extension_lines, max_size=4))),
    )


PROPERTY = settings(max_examples=200, deadline=None, database=None)


@PROPERTY
@given(checkpoints())
def test_body_round_trip(cp: Checkpoint) -> None:
    body = encode_checkpoint(cp)
    assert decode_checkpoint(body) == cp
    assert encode_checkpoint(decode_checkpoint(body)) == body


def _with_line(index: int, value: str) -> str:
    lines = BODY.split("\n")
    lines[index] = value
    return "\n".join(lines)


EMPTY_B64 = _b64(EMPTY_ROOT)
MALFORMED_BODIES: dict[str, str] = {
    "empty": "",
    "no final newline": BODY[:-1],
    "extra final newline": BODY + "\n",
    "empty extension line": BODY + "\n\n",
    "crlf": BODY.replace("\n", "\r\n"),
    "tab in extension": BODY + "a\tb\n",
    "three lines only": "\n".join(BODY.split("\n")[:3]) + "\n",
    "four lines only": "\n".join(BODY.split("\n")[:4]) + "\n",
    "origin with space": _with_line(0, "log noc"),
    "origin with plus": _with_line(0, "log+noc"),
    "size leading zero": _with_line(1, "042"),
    "size plus sign": _with_line(1, "+42"),
    "size negative": _with_line(1, "-42"),
    "size hex": _with_line(1, "0x2a"),
    "size with space": _with_line(1, "42 "),
    "size unicode digits": _with_line(1, "٤٢"),
    "size too large": _with_line(1, str(2**63)),
    "size huge": _with_line(1, "9" * 5000),
    "root short": _with_line(2, _b64(ROOT[:31])),
    "root long": _with_line(2, _b64(ROOT + b"\0")),
    "root unpadded": _with_line(2, _b64(ROOT).rstrip("=")),
    "root non-canonical bits": _with_line(2, _b64(ROOT)[:42] + "B="),
    "root hex": _with_line(2, ROOT.hex()),
    "time missing keyword": _with_line(3, "1767225600"),
    "time other keyword": _with_line(3, "time 1767225600"),
    "time two spaces": _with_line(3, "noc-ledger-time  1767225600"),
    "time leading zero": _with_line(3, "noc-ledger-time 01767225600"),
    "time minus zero": _with_line(3, "noc-ledger-time -0"),
    "time plus": _with_line(3, "noc-ledger-time +1"),
    "time fraction": _with_line(3, "noc-ledger-time 1767225600.5"),
    "time too large": _with_line(3, f"noc-ledger-time {2**63}"),
    "time too small": _with_line(3, f"noc-ledger-time {-(2**63) - 1}"),
    "time empty": _with_line(3, "noc-ledger-time "),
    "status missing keyword": _with_line(4, _b64(STATUS)),
    "status short": _with_line(4, "noc-ledger-status " + _b64(STATUS[:16])),
    "status unpadded": _with_line(4, "noc-ledger-status " + _b64(STATUS).rstrip("=")),
    "lines swapped": "\n".join(
        [*BODY.split("\n")[:3], BODY.split("\n")[4], BODY.split("\n")[3], ""]
    ),
    "second time line": BODY + "noc-ledger-time 5\n",
    "second status line": BODY + f"noc-ledger-status {_b64(STATUS)}\n",
    "second time keyword alone": BODY + "noc-ledger-time\n",
    "empty tree with other root": _with_line(1, "0"),
    "nul": BODY + "\x00\n",
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_malformed_body_is_decode_error(body: str) -> None:
    with pytest.raises(DecodeError):
        decode_checkpoint(body)


def test_body_must_be_text() -> None:
    with pytest.raises(DecodeError):
        decode_checkpoint(BODY.encode())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"origin": ""},
        {"origin": "a b"},
        {"size": -1},
        {"size": 2**63},
        {"size": True},
        {"size": 0},  # with a root other than the empty root
        {"root": ROOT[:31]},
        {"root": bytearray(ROOT)},
        {"time": MAX_TIME + 1},
        {"time": MIN_TIME - 1},
        {"time": 1.5},
        {"status_root": b""},
        {"extensions": ["a"]},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
        {"extensions": ("noc-ledger-time 1",)},
        {"extensions": ("noc-ledger-status",)},
    ],
    ids=str,
)
def test_invalid_checkpoint_values(fields: dict[str, Any]) -> None:
    values: dict[str, Any] = {
        "origin": ORIGIN,
        "size": 42,
        "root": ROOT,
        "time": 0,
        "status_root": STATUS,
        "extensions": (),
    }
    values.update(fields)
    with pytest.raises(ModelError):
        Checkpoint(**values)


def test_encode_checkpoint_takes_a_checkpoint() -> None:
    with pytest.raises(EncodeError):
        encode_checkpoint(BODY)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# The log's signature


def test_sign_open_round_trip() -> None:
    verified = open_checkpoint(NOTE, origin=ORIGIN, log_key=LOG_V)
    assert verified.checkpoint == CP
    assert verified.text == BODY
    assert verified.note == NOTE
    assert verified.log_signature.name == ORIGIN
    assert verified.log_signature.key_id == LOG_V.key_id
    assert verified.unverified_signatures == ()
    # Any signed-note reader verifies it: the log signs the body as a plain note.
    assert open_note(NOTE, [LOG_V]).text == BODY


def test_checkpoint_signed_by_the_wrong_key_fails() -> None:
    forged = sign_note(BODY, [(ORIGIN, OTHER)])
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_checkpoint(forged, origin=ORIGIN, log_key=LOG_V)


def test_log_key_named_other_than_origin_fails() -> None:
    other_name = Verifier.for_key("log.other.test", LOG.public_key)
    with pytest.raises(SignatureError, match="not the origin"):
        open_checkpoint(NOTE, origin=ORIGIN, log_key=other_name)
    with pytest.raises(SignatureError, match="not the origin"):
        open_checkpoint(NOTE, origin="log.other.test", log_key=LOG_V)


def test_signature_under_another_key_name_fails() -> None:
    # The log's key, but the signature line names something other than the origin.
    renamed = sign_note(BODY, [("log.other.test", LOG)])
    with pytest.raises(SignatureError):
        open_checkpoint(renamed, origin=ORIGIN, log_key=LOG_V)


def test_body_origin_must_be_the_expected_origin() -> None:
    # A log key named ORIGIN signing a body for another origin is not a checkpoint of ORIGIN.
    other = Checkpoint("log.other.test", 42, ROOT, 0, STATUS)
    data = sign_note(encode_checkpoint(other), [(ORIGIN, LOG)])
    with pytest.raises(SignatureError, match="checkpoint origin"):
        open_checkpoint(data, origin=ORIGIN, log_key=LOG_V)


def test_witness_key_cannot_open_a_checkpoint() -> None:
    as_witness = Verifier.for_key(ORIGIN, LOG.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
    with pytest.raises(SignatureError, match="type 0x01"):
        open_checkpoint(NOTE, origin=ORIGIN, log_key=as_witness)
    with pytest.raises(SignatureError):
        open_checkpoint(NOTE, origin=ORIGIN, log_key=LOG_V.encode())  # type: ignore[arg-type]


def test_signed_note_that_is_not_a_checkpoint_is_decode_error() -> None:
    data = sign_note("hello\n", [(ORIGIN, LOG)])
    with pytest.raises(DecodeError):
        open_checkpoint(data, origin=ORIGIN, log_key=LOG_V)


def test_decode_checkpoint_note_checks_no_signature() -> None:
    assert decode_checkpoint_note(NOTE) == CP
    assert decode_checkpoint_note(sign_note(BODY, [(ORIGIN, OTHER)])) == CP  # any key
    with pytest.raises(DecodeError):
        decode_checkpoint_note(NOTE[:-1])
    with pytest.raises(DecodeError):
        decode_checkpoint_note(sign_note("hello\n", [(ORIGIN, LOG)]))


def test_unknown_signatures_are_kept_unverified() -> None:
    stranger = NoteSignature("stranger.test", b"\1\2\3\4", b"\0" * 70)
    data = NOTE + encode_signature_line(stranger).encode()
    verified = open_checkpoint(data, origin=ORIGIN, log_key=LOG_V)
    assert verified.unverified_signatures == (stranger,)
    assert verified.note == data


def test_rotated_log_key_signature_is_unknown() -> None:
    # A second log key under the same origin (rotation): with only the new key trusted, the
    # old key's signature is an unknown one and the new one verifies.
    data = sign_note(BODY, [(ORIGIN, LOG), (ORIGIN, OTHER)])
    new_key = Verifier.for_key(ORIGIN, OTHER.public_key)
    verified = open_checkpoint(data, origin=ORIGIN, log_key=new_key)
    assert [s.key_id for s in verified.unverified_signatures] == [LOG_V.key_id]


# --------------------------------------------------------------------------------------
# Cosignatures


def test_cosignature_round_trip() -> None:
    verified = open_checkpoint(COSIGNED, origin=ORIGIN, log_key=LOG_V)
    assert verified.checkpoint == CP
    assert [s.name for s in verified.unverified_signatures] == [W1_NAME, W2_NAME]
    cosigs = verify_cosignatures(verified, [W2_V, W1_V])
    assert [(c.name, c.time) for c in cosigs] == [(W1_NAME, T1), (W2_NAME, T1 + 1)]
    assert all(isinstance(c, Cosignature) and len(c.signature) == 64 for c in cosigs)
    assert cosigs[0].key_id == W1_V.key_id
    # Only the configured witnesses count.
    assert [c.name for c in verify_cosignatures(verified, [W2_V])] == [W2_NAME]
    assert verify_cosignatures(verified, []) == ()


def test_cosignature_bytes_follow_tlog_cosignature() -> None:
    line = COSIGNED[len(NOTE) :].decode().split("\n")[0]
    assert line.startswith(f"— {W1_NAME} ")
    raw = base64.b64decode(line.split(" ")[2], validate=True)
    assert raw[:4] == note_key_id(W1_NAME, W1.public_key, sig_type=0x04)
    assert raw[4:12] == T1.to_bytes(8, "big")
    message = b"cosignature/v1\ntime " + str(T1).encode() + b"\n" + BODY.encode()
    assert cosignature_message(BODY, T1) == message
    verify_ed25519(W1.public_key, message, raw[12:])


def _replace_cosignature(data: bytes, name: str, payload: bytes) -> bytes:
    note = decode_note(data)
    out = note.text + "\n"
    for sig in note.signatures:
        new = NoteSignature(sig.name, sig.key_id, payload) if sig.name == name else sig
        out += encode_signature_line(new)
    return out.encode()


def _w1_payload() -> bytes:
    (sig,) = [s for s in decode_note(COSIGNED).signatures if s.name == W1_NAME]
    return sig.signature


def test_changed_cosignature_time_fails() -> None:
    payload = _w1_payload()
    changed = (T1 + 1).to_bytes(8, "big") + payload[8:]
    tampered = open_checkpoint(
        _replace_cosignature(COSIGNED, W1_NAME, changed), origin=ORIGIN, log_key=LOG_V
    )
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignatures(tampered, [W1_V])


def test_cosignature_on_another_body_fails() -> None:
    # Move W1's cosignature onto a different checkpoint the log really signed.
    other = sign_checkpoint(Checkpoint(ORIGIN, 43, ROOT, CP.time, STATUS), LOG)
    line = COSIGNED[len(NOTE) :].decode().split("\n")[0] + "\n"
    transplanted = open_checkpoint(other + line.encode(), origin=ORIGIN, log_key=LOG_V)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignatures(transplanted, [W1_V])
    # Changing only an extension line also breaks it: the cosigned message is the whole body.
    extended = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT, CP.time, STATUS, ("x",)), LOG)
    moved = open_checkpoint(extended + line.encode(), origin=ORIGIN, log_key=LOG_V)
    with pytest.raises(SignatureError):
        verify_cosignatures(moved, [W1_V])


def test_other_witness_key_does_not_count() -> None:
    verified = open_checkpoint(COSIGNED, origin=ORIGIN, log_key=LOG_V)
    # Another key under W1's name: different key ID, so W1's line is not its cosignature.
    impostor = Verifier.for_key(W1_NAME, OTHER.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
    assert verify_cosignatures(verified, [impostor]) == ()
    # W1's key under another name: not a match either (name and key ID must both match).
    renamed = Verifier.for_key("witness.test/w9", W1.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
    assert verify_cosignatures(verified, [renamed]) == ()
    # A line forged with W1's name and key ID but another key's signature fails outright.
    forged_note = cosign(NOTE, W1_NAME, OTHER, time=T1)
    forged_line = decode_note(forged_note).signatures[-1]
    forged = (
        NOTE
        + encode_signature_line(NoteSignature(W1_NAME, W1_V.key_id, forged_line.signature)).encode()
    )
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignatures(open_checkpoint(forged, origin=ORIGIN, log_key=LOG_V), [W1_V])


def test_log_signature_is_not_a_cosignature() -> None:
    # The log's key configured as a witness: its type-0x01 line has another key ID.
    as_witness = Verifier.for_key(ORIGIN, LOG.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
    verified = open_checkpoint(NOTE, origin=ORIGIN, log_key=LOG_V)
    assert verify_cosignatures(verified, [as_witness]) == ()


@pytest.mark.parametrize(
    "payload",
    [
        b"\0" * 71,
        b"\0" * 73,
        (2**63).to_bytes(8, "big") + b"\0" * 64,
        (2**64 - 1).to_bytes(8, "big") + b"\0" * 64,
    ],
    ids=["71 bytes", "73 bytes", "timestamp 2^63", "timestamp 2^64-1"],
)
def test_malformed_cosignature_by_known_witness_fails(payload: bytes) -> None:
    data = NOTE + encode_signature_line(NoteSignature(W1_NAME, W1_V.key_id, payload)).encode()
    verified = open_checkpoint(data, origin=ORIGIN, log_key=LOG_V)
    with pytest.raises(SignatureError):
        verify_cosignatures(verified, [W1_V])
    # For a verifier that does not know W1 the line is just ignored.
    assert verify_cosignatures(verified, [W2_V]) == ()


def test_verify_cosignatures_rejects_misuse() -> None:
    verified = open_checkpoint(COSIGNED, origin=ORIGIN, log_key=LOG_V)
    with pytest.raises(SignatureError, match="type"):
        verify_cosignatures(verified, [LOG_V])
    with pytest.raises(SignatureError):
        verify_cosignatures(verified, W1_V)  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="VerifiedCheckpoint"):
        verify_cosignatures(COSIGNED, [W1_V])  # type: ignore[arg-type]
    clash = Verifier(W1_NAME, W1_V.key_id, W1.public_key, SIG_TYPE_COSIGNATURE_V1)
    assert verify_cosignatures(verified, [W1_V, clash])  # identical duplicates are fine


def test_cosign_rejects_bad_input() -> None:
    for time in (-1, 2**63, True, 1.0):
        with pytest.raises(EncodeError):
            cosign(NOTE, W1_NAME, W1, time=time)  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        cosign(NOTE, "bad name", W1, time=T1)
    with pytest.raises(EncodeError, match="already"):
        cosign(COSIGNED, W1_NAME, W1, time=T1 + 10)
    with pytest.raises(DecodeError):
        cosign(NOTE[:-1], W1_NAME, W1, time=T1)
    with pytest.raises(DecodeError):
        cosign(sign_note("not a checkpoint\n", [(ORIGIN, LOG)]), W1_NAME, W1, time=T1)


def test_cosign_respects_the_signature_limit() -> None:
    data = NOTE
    for i in range(MAX_SIGNATURES - 1):
        data += encode_signature_line(NoteSignature(f"w{i}.test", b"\0\0\0\0", b"x")).encode()
    with pytest.raises(EncodeError, match="at most"):
        cosign(data, W1_NAME, W1, time=T1)


def test_cosignature_message_rejects_bad_input() -> None:
    with pytest.raises(EncodeError):
        cosignature_message(BODY, -1)
    with pytest.raises(EncodeError):
        cosignature_message(BODY[:-1], 0)


def test_verified_checkpoint_keeps_verbatim_note() -> None:
    verified = open_checkpoint(COSIGNED, origin=ORIGIN, log_key=LOG_V)
    assert isinstance(verified, VerifiedCheckpoint)
    assert verified.note == COSIGNED


# --------------------------------------------------------------------------------------
# Properties: mutations never verify; random input only typed errors


def _mutate(data: bytes, source: st.DataObject) -> bytes:
    draw = source.draw
    kind = draw(st.sampled_from(["flip", "insert", "delete", "replace", "truncate"]))
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ (1 << draw(st.integers(0, 7)))]) + data[pos + 1 :]
    if kind == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=4)) + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + draw(st.integers(1, 8)) :]
    if kind == "replace":
        new = draw(st.integers(0, 255))
        return data[:pos] + bytes([new if new != data[pos] else new ^ 0x20]) + data[pos + 1 :]
    return data[:pos]


@PROPERTY
@given(st.data())
def test_mutated_checkpoint_never_opens(data: st.DataObject) -> None:
    mutated = _mutate(NOTE, data)
    if mutated == NOTE:
        return
    with pytest.raises((DecodeError, SignatureError)):
        open_checkpoint(mutated, origin=ORIGIN, log_key=LOG_V)


ORIGINAL_COSIGS = verify_cosignatures(
    open_checkpoint(COSIGNED, origin=ORIGIN, log_key=LOG_V), [W1_V, W2_V]
)


@PROPERTY
@given(st.data())
def test_mutated_cosigned_checkpoint_never_gains_trust(data: st.DataObject) -> None:
    mutated = _mutate(COSIGNED, data)
    if mutated == COSIGNED:
        return
    try:
        verified = open_checkpoint(mutated, origin=ORIGIN, log_key=LOG_V)
        cosigs = verify_cosignatures(verified, [W1_V, W2_V])
    except (DecodeError, SignatureError):
        return
    # A mutation that left the log's signature intact can only have turned a cosignature
    # line into an unknown one: same checkpoint, strictly fewer valid cosignatures.
    assert verified.checkpoint == CP
    assert set(cosigs) < set(ORIGINAL_COSIGS)


@PROPERTY
@given(st.text(max_size=300))
def test_random_bodies_give_only_decode_errors(body: str) -> None:
    with contextlib.suppress(DecodeError):
        decode_checkpoint(body)


@PROPERTY
@given(st.binary(max_size=400))
def test_random_notes_give_only_typed_errors(data: bytes) -> None:
    with pytest.raises(NocLedgerError):
        open_checkpoint(data, origin=ORIGIN, log_key=LOG_V)
    with contextlib.suppress(NocLedgerError):
        cosign(data, W1_NAME, W1, time=T1)


@PROPERTY
@given(
    st.lists(st.sampled_from([*BODY.split("\n")[:-1], "x", "noc-ledger-time 1", ""]), max_size=8)
)
def test_shuffled_body_lines_are_typed(lines: list[str]) -> None:
    body = "\n".join(lines) + "\n"
    try:
        cp = decode_checkpoint(body)
    except DecodeError:
        return
    assert encode_checkpoint(cp) == body
