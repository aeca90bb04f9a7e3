"""spec/signing.md: the COSE_Sign1 profile, key ids, signers and key files."""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2
import pytest

from noc_ledger import codec, signing
from noc_ledger.errors import DecodeError, EncodeError, KeyFileError, SignatureError
from tests.independent_cose import pycose_verify

SEED = hashlib.sha256(b"signing tests").digest()
SIGNER = signing.Ed25519Signer(SEED)
CT = signing.CONTENT_TYPES["certificate"]


def test_key_id_is_rfc9679_thumbprint() -> None:
    # RFC 8032 TEST 1 public key; the thumbprint input is {1: 1, -1: 6, -2: x} (RFC 9679 §4).
    x = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    expected_input = bytes.fromhex("a301012006215820") + x
    assert codec.encode({1: 1, -1: 6, -2: x}) == expected_input
    # Cross-check with cbor2's RFC 8949 deterministic ordering for these integer keys.
    assert cbor2.dumps({1: 1, -1: 6, -2: x}, canonical=True) == expected_input
    assert signing.key_id(x) == hashlib.sha256(expected_input).digest()


def test_sign_verify_and_independent_verifier() -> None:
    data = signing.sign1(SIGNER, content_type=CT, payload=b"\xa0")
    envelope = signing.verify_sign1(data, content_type=CT, public_key=SIGNER.public_key)
    assert envelope.payload == b"\xa0" and envelope.key_id == SIGNER.key_id
    assert pycose_verify(data, SIGNER.public_key) == b"\xa0"


def test_decode_layout() -> None:
    data = signing.sign1(SIGNER, content_type=CT, payload=b"x")
    item = cbor2.loads(data)
    assert item.tag == 18
    protected, unprotected, payload, signature = item.value
    assert cbor2.loads(protected) == {1: -19, 3: CT, 4: SIGNER.key_id}
    assert unprotected == {} and payload == b"x" and len(signature) == 64


def _reassemble(
    protected: Any,
    unprotected: Any = None,
    payload: Any = b"x",
    sig: Any = None,
    *,
    sign: bool = True,
    tag: int = 18,
) -> bytes:
    """Build a COSE_Sign1 by hand, signed correctly over whatever header it carries."""
    prot_bytes = protected if isinstance(protected, bytes) else codec.encode(protected)
    if sig is None:
        tbs = codec.encode(
            ["Signature1", prot_bytes, b"", payload if isinstance(payload, bytes) else b""]
        )
        sig = SIGNER.sign(tbs) if sign else b"\x00" * 64
    return codec.encode(
        codec.Tag(tag, [prot_bytes, {} if unprotected is None else unprotected, payload, sig])
    )


GOOD_HEADER = {1: -19, 3: CT, 4: SIGNER.key_id}


def test_hand_built_good_message_verifies() -> None:
    signing.verify_sign1(_reassemble(GOOD_HEADER), content_type=CT, public_key=SIGNER.public_key)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: _reassemble({**GOOD_HEADER, 1: -8}), SignatureError),  # EdDSA polymorphic
        (lambda: _reassemble({**GOOD_HEADER, 1: -7}), SignatureError),  # ES256: alg confusion
        (lambda: _reassemble({**GOOD_HEADER, 2: [99]}), SignatureError),  # crit
        (lambda: _reassemble({**GOOD_HEADER, 99: 1}), SignatureError),  # unknown label
        (lambda: _reassemble({1: -19, 4: SIGNER.key_id}), SignatureError),  # no content type
        (lambda: _reassemble({**GOOD_HEADER, 3: "application/cbor"}), SignatureError),
        (lambda: _reassemble({**GOOD_HEADER, 3: 60}), SignatureError),  # CoAP numeric ctype
        (lambda: _reassemble({**GOOD_HEADER, 4: b"short"}), SignatureError),
        (lambda: _reassemble({**GOOD_HEADER, 4: b"\x00" * 32}), SignatureError),  # other kid
        (lambda: _reassemble(GOOD_HEADER, unprotected={4: SIGNER.key_id}), SignatureError),
        (lambda: _reassemble(GOOD_HEADER, sign=False), SignatureError),
        (lambda: _reassemble(GOOD_HEADER, sig=b"\x00" * 63), SignatureError),
        (lambda: _reassemble(GOOD_HEADER, payload=None), DecodeError),  # detached
        (lambda: _reassemble(GOOD_HEADER, tag=98), DecodeError),  # COSE_Sign tag
        (lambda: _reassemble(b"\xa0"), SignatureError),  # empty protected map
        (lambda: _reassemble(b""), DecodeError),  # empty protected bytes
        (lambda: _reassemble(bytes.fromhex("a301381204") + b""), DecodeError),  # not canonical
        (lambda: codec.encode([codec.encode(GOOD_HEADER), {}, b"x", b"\x00" * 64]), DecodeError),
        (
            lambda: cbor2.dumps(cbor2.CBORTag(18, [codec.encode(GOOD_HEADER), {}, b"x", 1.5])),
            DecodeError,
        ),
    ],
)
def test_profile_violations(build: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        signing.verify_sign1(build(), content_type=CT, public_key=SIGNER.public_key)


def test_signature_over_received_not_reencoded_header() -> None:
    # The same header map, written with a non-shortest integer: a verifier that re-encoded
    # the header before checking would compute a different Sig_structure. We refuse the
    # non-canonical header outright (spec §2 rule 1, §4 step 4).
    prot = bytes.fromhex("a3") + bytes.fromhex("01") + bytes.fromhex("3812")  # -19 as 38 12
    prot += (
        bytes.fromhex("03") + codec.encode(CT) + bytes.fromhex("04") + codec.encode(SIGNER.key_id)
    )
    with pytest.raises(DecodeError):
        signing.verify_sign1(_reassemble(prot), content_type=CT, public_key=SIGNER.public_key)


def test_content_type_binds_kind() -> None:
    data = signing.sign1(SIGNER, content_type=signing.CONTENT_TYPES["key-event"], payload=b"x")
    with pytest.raises(SignatureError, match="expected"):
        signing.verify_sign1(data, content_type=CT, public_key=SIGNER.public_key)


def test_sign_refuses_unknown_content_type_and_oversize() -> None:
    with pytest.raises(EncodeError):
        signing.sign1(SIGNER, content_type="text/plain", payload=b"x")
    with pytest.raises(EncodeError):
        signing.sign1(SIGNER, content_type=CT, payload=b"x" * 70_000)


class LyingSigner:
    """A signer (think faulty HSM) that returns garbage."""

    public_key = SIGNER.public_key
    key_id = SIGNER.key_id

    def sign(self, message: bytes) -> bytes:
        return b"\x01" * 64


def test_signer_output_is_checked() -> None:
    assert isinstance(LyingSigner(), signing.Signer)
    with pytest.raises(SignatureError):
        signing.sign1(LyingSigner(), content_type=CT, payload=b"x")


def test_key_files_round_trip() -> None:
    pem = signing.encode_private_key(SIGNER, b"correct horse")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert signing.decode_private_key(pem, b"correct horse").public_key == SIGNER.public_key
    plain = signing.encode_private_key_unsafe_unencrypted(SIGNER)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert signing.decode_private_key_unsafe_unencrypted(plain).public_key == SIGNER.public_key


@pytest.mark.parametrize(
    "attempt",
    [
        lambda pem, plain: signing.decode_private_key(pem, b"wrong horse"),
        lambda pem, plain: signing.decode_private_key(pem, b""),
        lambda pem, plain: signing.decode_private_key(plain, b"correct horse"),
        lambda pem, plain: signing.decode_private_key_unsafe_unencrypted(pem),
        lambda pem, plain: signing.decode_private_key(pem[:-40], b"correct horse"),
        lambda pem, plain: signing.decode_private_key(b"not a key", b"correct horse"),
        lambda pem, plain: signing.decode_private_key_unsafe_unencrypted(_ec_key_pem()),
        lambda pem, plain: signing.encode_private_key(SIGNER, b"short"),
        lambda pem, plain: signing.Ed25519Signer(b"\x00" * 31),
    ],
)
def test_key_file_errors(attempt: Any) -> None:
    pem = signing.encode_private_key(SIGNER, b"correct horse")
    plain = signing.encode_private_key_unsafe_unencrypted(SIGNER)
    with pytest.raises(KeyFileError):
        attempt(pem, plain)


def _ec_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_signer_repr_hides_key() -> None:
    assert SEED.hex() not in repr(SIGNER) and SEED.hex()[:8] not in repr(SIGNER)


def test_verify_ed25519_input_types() -> None:
    sig = SIGNER.sign(b"m")
    signing.verify_ed25519(SIGNER.public_key, b"m", sig)
    for args in [
        (SIGNER.public_key[:31], b"m", sig),
        (SIGNER.public_key, b"m", sig[:63]),
        (SIGNER.public_key, "m", sig),
        (None, b"m", sig),
    ]:
        with pytest.raises(SignatureError):
            signing.verify_ed25519(*args)  # type: ignore[arg-type]


def test_independent_verifier_is_not_vacuous() -> None:
    data = signing.sign1(SIGNER, content_type=CT, payload=b"\xa0")
    with pytest.raises(AssertionError):
        pycose_verify(data, signing.Ed25519Signer(b"\x07" * 32).public_key)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(AssertionError):
        pycose_verify(tampered, SIGNER.public_key)
