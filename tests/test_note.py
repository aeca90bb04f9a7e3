"""Tests for noc_ledger.note (C2SP signed notes, spec/checkpoint.md §2).

1. The published examples: the C2SP signed-note verifier-key example and the
   golang.org/x/mod/sumdb/note documentation example must verify (and the Go one must be
   reproduced byte for byte by re-signing with its published example key); the C2SP
   examples without a published key must parse.
2. Round trips of verifier keys and notes.
3. Every malformed input is rejected with a typed error (DecodeError / SignatureError).
4. Properties (hypothesis): random and mutated notes raise only NocLedgerError subclasses,
   and a mutated note signed only by known keys never opens.

No interoperability test against the Go implementation runs here: this machine has no Go
toolchain (`which go` finds nothing), so the Go check is the byte-for-byte reproduction of
the Go documentation's example instead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger.errors import (
    DecodeError,
    EncodeError,
    ModelError,
    NocLedgerError,
    SignatureError,
)
from noc_ledger.note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    NoteSignature,
    Verifier,
    check_key_name,
    decode_base64,
    decode_note,
    decode_verifier_key,
    encode_signature_line,
    encode_verifier_key,
    note_key_id,
    open_note,
    sign_note,
)
from noc_ledger.signing import Ed25519Signer

DATA = Path(__file__).resolve().parent / "data"
C2SP = json.loads(
    (DATA / "c2sp-signed-note" / "signed-note-examples.json").read_text(encoding="utf-8")
)
GO = json.loads(
    (DATA / "golang-mod-sumdb-note" / "note-doc-example.json").read_text(encoding="utf-8")
)

ALICE = Ed25519Signer(hashlib.sha256(b"noc-ledger test key alice").digest())
BOB = Ed25519Signer(hashlib.sha256(b"noc-ledger test key bob").digest())
ALICE_NAME = "log.example/alice"
BOB_NAME = "log.example/bob"
ALICE_V = Verifier.for_key(ALICE_NAME, ALICE.public_key)
BOB_V = Verifier.for_key(BOB_NAME, BOB.public_key)
TEXT = "first line\nsecond line\n"
SIGNED = sign_note(TEXT, [(ALICE_NAME, ALICE)])
EM = "\u2014"


def _go_seed(signer_key: str) -> bytes:
    """The 32-byte seed of a Go ``PRIVATE+KEY+name+hash+base64(0x01||seed)`` example key."""
    prefix, key, name, key_hash, data = signer_key.split("+", 4)
    assert (prefix, key) == ("PRIVATE", "KEY")
    raw = base64.b64decode(data)
    assert raw[0] == SIG_TYPE_ED25519 and len(raw) == 33
    assert note_key_id(name, Ed25519Signer(raw[1:]).public_key).hex() == key_hash
    return raw[1:]


# --------------------------------------------------------------------------------------
# 1. Published examples


@pytest.mark.parametrize("example", C2SP["verified_examples"], ids=lambda e: e["name"][:40])
def test_c2sp_verified_example(example: dict[str, Any]) -> None:
    verifier = decode_verifier_key(example["verifier_key"])
    decoded = example["decoded"]
    assert verifier.name == decoded["key_name"]
    assert verifier.key_id.hex() == decoded["key_id_hex"]
    assert verifier.public_key.hex() == decoded["public_key_hex"]
    assert verifier.encode() == example["verifier_key"]
    opened = open_note(example["signed_note"].encode(), [verifier])
    assert opened.text == example["note_text"]
    assert opened.unverified == ()
    (sig,) = opened.verified
    assert (sig.name, sig.key_id.hex(), sig.signature.hex()) == (
        decoded["key_name"],
        decoded["key_id_hex"],
        decoded["signature_hex"],
    )


@pytest.mark.parametrize("example", C2SP["format_only_examples"], ids=lambda e: e["name"][:40])
def test_c2sp_format_only_examples_parse(example: dict[str, Any]) -> None:
    note = decode_note(example["signed_note"].encode())
    # The Quasimodo text contains an empty line: the split is at the last one.
    assert note.text == example["note_text"]
    (sig,) = note.signatures
    decoded = example["decoded"]
    assert (sig.name, sig.key_id.hex(), sig.signature.hex()) == (
        decoded["key_name"],
        decoded["key_id_hex"],
        decoded["signature_hex"],
    )
    assert encode_signature_line(sig) == example["signed_note"][len(example["note_text"]) + 1 :]
    # No key is published: with any other key the note does not open.
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_note(example["signed_note"].encode(), [ALICE_V])


def test_go_example_verifies_and_resigns_byte_for_byte() -> None:
    example = GO["verified_examples"][0]
    verifier = decode_verifier_key(example["verifier_key"])
    assert verifier.key_id.hex() == example["decoded"]["key_id_hex"]
    opened = open_note(example["signed_note"].encode(), [verifier])
    assert opened.text == example["note_text"]
    assert len(opened.verified) == 1 and opened.unverified == ()
    signer = Ed25519Signer(_go_seed(example["signer_key"]))
    assert signer.seed().hex() == example["decoded"]["seed_hex"]
    assert signer.public_key == verifier.public_key
    assert encode_verifier_key("PeterNeumann", signer.public_key) == example["verifier_key"]
    assert sign_note(example["note_text"], [("PeterNeumann", signer)]) == (
        example["signed_note"].encode()
    )


def test_go_doubly_signed_example_keeps_unknown_signature_unverified() -> None:
    example = GO["verified_examples"][1]
    verifier = decode_verifier_key(example["verifier_key"])
    opened = open_note(example["signed_note"].encode(), [verifier])
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [s.name for s in opened.unverified] == ["EnochRoot"]
    assert len(opened.unverified[0].signature) == 64
    # With no key for PeterNeumann, nothing is trusted.
    with pytest.raises(SignatureError):
        open_note(example["signed_note"].encode(), [ALICE_V])


def test_go_example_signature_by_known_key_that_fails_rejects_the_note() -> None:
    example = GO["verified_examples"][0]
    verifier = decode_verifier_key(example["verifier_key"])
    # Same name and key ID, different text: a known key's signature fails -> reject.
    tampered = example["signed_note"].replace("answer", "Answer").encode()
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(tampered, [verifier])


# --------------------------------------------------------------------------------------
# 2. Round trips and key IDs


def test_key_id_formula() -> None:
    pub = ALICE.public_key
    for sig_type in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1):
        expected = hashlib.sha256(ALICE_NAME.encode() + b"\n" + bytes([sig_type]) + pub)
        assert note_key_id(ALICE_NAME, pub, sig_type=sig_type) == expected.digest()[:4]
    assert note_key_id(ALICE_NAME, pub) != note_key_id(
        ALICE_NAME, pub, sig_type=SIG_TYPE_COSIGNATURE_V1
    )


@pytest.mark.parametrize("sig_type", [SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1])
def test_verifier_key_round_trip(sig_type: int) -> None:
    text = encode_verifier_key(ALICE_NAME, ALICE.public_key, sig_type=sig_type)
    name, key_id, data = text.split("+", 2)
    assert name == ALICE_NAME and key_id == key_id.lower() and len(key_id) == 8
    assert base64.b64decode(data) == bytes([sig_type]) + ALICE.public_key
    verifier = decode_verifier_key(text)
    assert verifier == Verifier.for_key(ALICE_NAME, ALICE.public_key, sig_type=sig_type)
    assert verifier.encode() == text


def test_note_round_trip_with_two_signers_and_empty_lines_in_text() -> None:
    text = "header\n\nbody after an empty line\n\n"
    data = sign_note(text, [(ALICE_NAME, ALICE), (BOB_NAME, BOB)])
    opened = open_note(data, [ALICE_V, BOB_V])
    assert opened.text == text
    assert [s.name for s in opened.verified] == [ALICE_NAME, BOB_NAME]
    only_bob = open_note(data, [BOB_V])
    assert [s.name for s in only_bob.verified] == [BOB_NAME]
    assert [s.name for s in only_bob.unverified] == [ALICE_NAME]


def test_signature_is_over_the_text_bytes_exactly() -> None:
    from noc_ledger.signing import verify_ed25519

    note = decode_note(SIGNED)
    verify_ed25519(ALICE.public_key, TEXT.encode(), note.signatures[0].signature)
    assert TEXT.encode() + b"\n" + encode_signature_line(note.signatures[0]).encode() == SIGNED


def test_unicode_text_round_trip() -> None:
    text = "naïve — ünïcödé ✓ 𝄞\n"
    assert open_note(sign_note(text, [(ALICE_NAME, ALICE)]), [ALICE_V]).text == text


def test_unknown_key_sharing_name_or_id_is_ignored_not_trusted() -> None:
    # Same name, other key: its key ID differs, so the signature is unknown.
    impostor = sign_note(TEXT, [(ALICE_NAME, BOB)])
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_note(impostor, [ALICE_V])
    # Alice's key ID under another name: unknown too.
    line = encode_signature_line(
        NoteSignature("other.example", ALICE_V.key_id, ALICE.sign(TEXT.encode()))
    )
    both = SIGNED + line.encode()
    opened = open_note(both, [ALICE_V])
    assert [s.name for s in opened.unverified] == ["other.example"]


def test_known_key_id_and_name_with_bad_signature_is_rejected() -> None:
    bad = NoteSignature(BOB_NAME, BOB_V.key_id, bytes(64))
    data = SIGNED + encode_signature_line(bad).encode()
    # Alice's signature verifies, but Bob's (known) fails: the note is rejected.
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(data, [ALICE_V, BOB_V])
    # Without Bob's key it is merely an unknown signature.
    assert open_note(data, [ALICE_V]).unverified == (bad,)


def test_known_key_signature_of_wrong_length_is_rejected() -> None:
    short = NoteSignature(BOB_NAME, BOB_V.key_id, bytes(10))
    with pytest.raises(SignatureError, match="64-byte"):
        open_note(SIGNED + encode_signature_line(short).encode(), [ALICE_V, BOB_V])


def test_max_signatures_accepted_and_one_more_rejected() -> None:
    lines = [
        encode_signature_line(NoteSignature(f"w{i}.example", b"\0\0\0\0", b"x"))
        for i in range(MAX_SIGNATURES - 1)
    ]
    full = SIGNED + "".join(lines).encode()
    opened = open_note(full, [ALICE_V])
    assert len(opened.unverified) == MAX_SIGNATURES - 1
    extra = encode_signature_line(NoteSignature("one-more.example", b"\0\0\0\0", b"x"))
    with pytest.raises(DecodeError, match="at most"):
        decode_note(full + extra.encode())


def test_size_limit() -> None:
    big = "a" * (MAX_NOTE_SIZE - 200) + "\n"
    data = sign_note(big, [(ALICE_NAME, ALICE)])
    assert len(data) <= MAX_NOTE_SIZE
    assert open_note(data, [ALICE_V]).text == big
    with pytest.raises(EncodeError, match="at most"):
        sign_note("a" * MAX_NOTE_SIZE + "\n", [(ALICE_NAME, ALICE)])
    with pytest.raises(DecodeError, match="at most"):
        decode_note(b"a" * MAX_NOTE_SIZE + b"\n\n" + SIGNED[len(TEXT) + 1 :])


# --------------------------------------------------------------------------------------
# 3. Malformed inputs, each with its typed error

SIG_LINE = SIGNED[len(TEXT) + 1 :].decode()
SIG_B64 = SIG_LINE.split(" ")[2].rstrip("\n")

MALFORMED_NOTES: dict[str, bytes] = {
    "empty": b"",
    "no blank line": TEXT.encode() + SIG_LINE.encode(),
    "no signature lines": TEXT.encode() + b"\n",
    "no final newline": SIGNED[:-1],
    "trailing blank line": SIGNED + b"\n",
    "trailing garbage": SIGNED + b"garbage",
    "trailing garbage line": SIGNED + b"garbage\n",
    "invalid utf-8": b"\xff\n\n" + SIG_LINE.encode(),
    "overlong utf-8": b"\xc0\xae\n\n" + SIG_LINE.encode(),
    "surrogate utf-8": b"\xed\xa0\x80\n\n" + SIG_LINE.encode(),
    "carriage return in text": b"a\r\n\n" + SIG_LINE.encode(),
    "crlf line endings": SIGNED.replace(b"\n", b"\r\n"),
    "tab in text": b"a\tb\n\n" + SIG_LINE.encode(),
    "nul in text": b"a\x00\n\n" + SIG_LINE.encode(),
    "hyphen instead of em dash": SIGNED.replace(EM.encode(), b"-"),
    "en dash instead of em dash": SIGNED.replace(EM.encode(), "\u2013".encode()),
    "no space after dash": SIGNED.replace(f"{EM} ".encode(), EM.encode()),
    "two spaces after dash": SIGNED.replace(f"{EM} ".encode(), f"{EM}  ".encode()),
    "no signature after name": (TEXT + "\n" + f"{EM} {ALICE_NAME}\n").encode(),
    "empty signature after name": (TEXT + "\n" + f"{EM} {ALICE_NAME} \n").encode(),
    "two spaces before signature": SIGNED.replace(
        f"{ALICE_NAME} ".encode(), f"{ALICE_NAME}  ".encode()
    ),
    "trailing space after signature": SIGNED[:-1] + b" \n",
    "base64 without padding": SIGNED.replace(b"=\n", b"\n"),
    "base64 url alphabet": (TEXT + "\n" + f"{EM} x {SIG_B64[:-4]}-_-=\n").encode(),
    "base64 with inner whitespace": (TEXT + "\n" + f"{EM} x AAAA AAAA\n").encode(),
    "base64 non-canonical bits": (TEXT + "\n" + f"{EM} x AAAAAB==\n").encode(),
    "signature of 4 bytes only": (TEXT + "\n" + f"{EM} x AAAAAA==\n").encode(),
    "plus in name": (TEXT + "\n" + f"{EM} a+b {SIG_B64}\n").encode(),
    "no-break space in name": (TEXT + "\n" + f"{EM} a\u00a0b {SIG_B64}\n").encode(),
    "ideographic space in name": (TEXT + "\n" + f"{EM} a\u3000b {SIG_B64}\n").encode(),
    "duplicate signature line": SIGNED + SIG_LINE.encode(),
    "duplicate name and key id": SIGNED
    + encode_signature_line(NoteSignature(ALICE_NAME, ALICE_V.key_id, b"\1" * 64)).encode(),
}


@pytest.mark.parametrize("data", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_malformed_note_is_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_note(data)
    with pytest.raises(DecodeError):
        open_note(data, [ALICE_V])


def test_note_must_be_bytes() -> None:
    for value in (SIGNED.decode(), bytearray(SIGNED), memoryview(SIGNED), None, 7):
        with pytest.raises(DecodeError):
            decode_note(value)  # type: ignore[arg-type]


def test_text_signature_split_is_at_the_last_blank_line() -> None:
    # An empty line inside the signature block moves the split: the earlier part becomes
    # text, so Alice's signature no longer matches.
    data = SIGNED + b"\n" + SIG_LINE.replace(ALICE_NAME, BOB_NAME).encode()
    note = decode_note(data)
    assert note.text == TEXT + "\n" + SIG_LINE
    with pytest.raises(SignatureError):
        open_note(data, [ALICE_V])


MALFORMED_VKEYS: dict[str, str] = {
    "empty": "",
    "two parts": "name+530d903a",
    "empty name": "+530d903a+" + ALICE_V.encode().split("+", 2)[2],
    "space in name": ALICE_V.encode().replace(ALICE_NAME, "a b"),
    "uppercase hex": ALICE_V.encode().replace(ALICE_V.key_id.hex(), ALICE_V.key_id.hex().upper()),
    "short hex": ALICE_V.encode().replace(ALICE_V.key_id.hex(), ALICE_V.key_id.hex()[:7]),
    "long hex": ALICE_V.encode().replace(ALICE_V.key_id.hex(), ALICE_V.key_id.hex() + "0"),
    "wrong key id": ALICE_V.encode().replace(ALICE_V.key_id.hex(), "00000000"),
    "key id of another name": "other.example+"
    + ALICE_V.key_id.hex()
    + "+"
    + ALICE_V.encode().split("+", 2)[2],
    "unsupported type 0x02": f"{ALICE_NAME}+"
    + note_key_id(ALICE_NAME, ALICE.public_key, sig_type=2).hex()
    + "+"
    + base64.b64encode(b"\x02" + ALICE.public_key).decode(),
    "short key": f"{ALICE_NAME}+00000000+" + base64.b64encode(b"\x01" + bytes(31)).decode(),
    "long key": f"{ALICE_NAME}+00000000+" + base64.b64encode(b"\x01" + bytes(33)).decode(),
    "truncated base64": ALICE_V.encode()[:-1],
    "base64 with padding appended": ALICE_V.encode() + "==",
    "trailing newline": ALICE_V.encode() + "\n",
    "leading space": " " + ALICE_V.encode(),
}


@pytest.mark.parametrize("text", MALFORMED_VKEYS.values(), ids=MALFORMED_VKEYS.keys())
def test_malformed_verifier_key_is_decode_error(text: str) -> None:
    with pytest.raises(DecodeError):
        decode_verifier_key(text)


def test_verifier_key_must_be_text() -> None:
    with pytest.raises(DecodeError):
        decode_verifier_key(ALICE_V.encode().encode())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a+b", "a\tb", "a\nb", "a\u2028b", "a\u00a0b", "a\u3000b", "a\x00", "\ud800"],
)
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(DecodeError):
        check_key_name(name)
    with pytest.raises(EncodeError):
        note_key_id(name, ALICE.public_key)
    with pytest.raises(EncodeError):
        sign_note(TEXT, [(name, ALICE)])
    with pytest.raises(ModelError):
        Verifier.for_key(name, ALICE.public_key)


@pytest.mark.parametrize(
    "name", ["a", "example.com/log42", "oid/1.3.6.1.4.1", "ünï—cödé", "a/b?c=d"]
)
def test_valid_key_names(name: str) -> None:
    assert check_key_name(name) == name
    assert open_note(sign_note(TEXT, [(name, ALICE)]), [Verifier.for_key(name, ALICE.public_key)])


def test_verifier_construction_is_checked() -> None:
    with pytest.raises(ModelError, match="key ID"):
        Verifier(ALICE_NAME, b"\0\0\0\0", ALICE.public_key)
    with pytest.raises(ModelError, match="signature type"):
        Verifier.for_key(ALICE_NAME, ALICE.public_key, sig_type=2)
    with pytest.raises(ModelError, match="signature type"):
        Verifier(ALICE_NAME, ALICE_V.key_id, ALICE.public_key, True)  # bool is not a type
    with pytest.raises(ModelError, match="32 bytes"):
        Verifier.for_key(ALICE_NAME, bytes(31))


@pytest.mark.parametrize(
    "text",
    ["", "no newline", "a\r\n", "tab\there\n", "nul\x00\n", "lone \ud800 surrogate\n"],
)
def test_unsignable_text(text: str) -> None:
    with pytest.raises(EncodeError):
        sign_note(text, [(ALICE_NAME, ALICE)])


def test_sign_note_rejects_bad_signer_lists() -> None:
    with pytest.raises(EncodeError):
        sign_note(TEXT, [])
    with pytest.raises(EncodeError, match="twice"):
        sign_note(TEXT, [(ALICE_NAME, ALICE), (ALICE_NAME, ALICE)])
    with pytest.raises(EncodeError):
        sign_note(TEXT, [ALICE_NAME])  # type: ignore[list-item]
    with pytest.raises(EncodeError):
        sign_note(TEXT, [(ALICE_NAME, ALICE)] * (MAX_SIGNATURES + 1))


class _BrokenSigner:
    """A signer (an HSM gone wrong) that returns a signature of other bytes."""

    public_key = ALICE.public_key
    key_id = ALICE.key_id

    def sign(self, message: bytes) -> bytes:
        return ALICE.sign(message + b"!")


def test_sign_note_checks_the_signers_output() -> None:
    with pytest.raises(SignatureError):
        sign_note(TEXT, [(ALICE_NAME, _BrokenSigner())])


def test_open_note_rejects_misused_verifiers() -> None:
    with pytest.raises(SignatureError, match="iterable"):
        open_note(SIGNED, ALICE_V)  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="iterable"):
        open_note(SIGNED, 5)  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="iterable"):
        open_note(SIGNED, [ALICE_V.encode()])  # type: ignore[list-item]
    witness = Verifier.for_key(ALICE_NAME, ALICE.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
    with pytest.raises(SignatureError, match="signature type"):
        open_note(SIGNED, [witness])
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_note(SIGNED, [])
    # The same verifier twice is harmless.
    assert open_note(SIGNED, [ALICE_V, ALICE_V]).text == TEXT


def test_decode_base64_is_canonical() -> None:
    assert decode_base64("AAEC") == b"\0\1\2"
    assert decode_base64("") == b""
    assert decode_base64("AAE=") == b"\0\1"
    for bad in ("AAE", "AAB=", "AAF=", "AA=", "A===", "AA==AA==", "AA\n==", "AA-_", "ＡＡＡＡ"):
        with pytest.raises(DecodeError):
            decode_base64(bad)


# --------------------------------------------------------------------------------------
# 4. Properties

PROPERTY = settings(max_examples=300, deadline=None, database=None)


def _mutate(data: bytes, source: st.DataObject) -> bytes:
    draw = source.draw
    kind = draw(st.sampled_from(["flip", "insert", "delete", "replace", "truncate", "dup"]))
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        bit = draw(st.integers(0, 7))
        return data[:pos] + bytes([data[pos] ^ (1 << bit)]) + data[pos + 1 :]
    if kind == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=4)) + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + draw(st.integers(1, 8)) :]
    if kind == "replace":
        new = draw(st.integers(0, 255))
        if new == data[pos]:
            new ^= 0x20
        return data[:pos] + bytes([new]) + data[pos + 1 :]
    if kind == "truncate":
        return data[:pos]
    end = draw(st.integers(pos + 1, len(data)))
    return data[:end] + data[pos:end] + data[end:]


@PROPERTY
@given(st.binary(max_size=300))
def test_random_bytes_give_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(NocLedgerError):
        decode_note(data)
    with pytest.raises(NocLedgerError):
        open_note(data, [ALICE_V])


@PROPERTY
@given(st.text(max_size=200))
def test_random_text_notes_give_only_typed_errors(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    with contextlib.suppress(NocLedgerError):
        decode_note(data)
    with contextlib.suppress(NocLedgerError):
        decode_verifier_key(text)


TWO_SIGNED = sign_note(TEXT, [(ALICE_NAME, ALICE), (BOB_NAME, BOB)])


@PROPERTY
@given(st.data())
def test_mutated_note_never_opens(data: st.DataObject) -> None:
    mutated = _mutate(SIGNED, data)
    if mutated == SIGNED:
        return
    # Signed by one known key: any change is malformed or unverifiable, never a success.
    with pytest.raises((DecodeError, SignatureError)):
        open_note(mutated, [ALICE_V])


@PROPERTY
@given(st.data())
def test_mutated_two_signature_note_never_gains_trust(data: st.DataObject) -> None:
    mutated = _mutate(TWO_SIGNED, data)
    if mutated == TWO_SIGNED:
        return
    original = open_note(TWO_SIGNED, [ALICE_V, BOB_V])
    try:
        opened = open_note(mutated, [ALICE_V, BOB_V])
    except (DecodeError, SignatureError):
        return
    # A mutation inside one signature line's name or key ID turns it into an unknown
    # signature; the other still verifies. A mutation that duplicates part of the
    # signature block can add an unknown signature line and keep both known ones. Either
    # way the text is unchanged and trust never grows.
    assert opened.text == TEXT
    assert set(opened.verified) <= set(original.verified)


@PROPERTY
@given(st.text(min_size=0, max_size=200).map(lambda t: t + "\n"))
def test_sign_open_round_trip(text: str) -> None:
    try:
        data = sign_note(text, [(ALICE_NAME, ALICE)])
    except EncodeError:
        return  # control characters or lone surrogates: refused at signing
    opened = open_note(data, [ALICE_V])
    assert opened.text == text
    assert decode_note(data).text == text
