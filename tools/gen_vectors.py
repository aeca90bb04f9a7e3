"""Generate the language-neutral test vectors in vectors/ (see vectors/README.md).

Every vector comes from fixed keys and fixed times, so running this again produces the same
bytes; tests/test_vectors.py regenerates them and compares. Never edit vectors/ by hand:
change this script (and the spec) and re-run it::

    python tools/gen_vectors.py            # writes vectors/
    python tools/gen_vectors.py --out DIR  # writes elsewhere
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from noc_ledger import codec, merkle, signing, statusmap
from noc_ledger.bundle import Bundle, StatusEvidence
from noc_ledger.checkpoint import Checkpoint, cosign, sign_checkpoint
from noc_ledger.errors import NocLedgerError
from noc_ledger.events import (
    KeyEvent,
    KeyEventKind,
    ReasonCode,
    StatusEvent,
    StatusEventKind,
)
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.logstate import Authority, replay
from noc_ledger.model import (
    NOC_DISCLAIMER_CODE,
    NOC_DISCLAIMER_TEXT,
    Certificate,
    Edge,
    EdgeKind,
    Identifier,
    Instrument,
    Issuer,
    LegalNotice,
    Subject,
    sign_certificate,
    verify_certificate,
)
from noc_ledger.note import Verifier, sign_note
from noc_ledger.policy import Group, RootKey, encode_policy, make_policy
from noc_ledger.scope import Amount, Grant, Limit, Query, Scope, Territory, evaluate, is_within

REPO = Path(__file__).resolve().parent.parent
FORMAT = "noc-ledger-vectors/1"

AUTHORITY_SEED = hashlib.sha256(b"noc-ledger vectors: authority key").digest()
OTHER_SEED = hashlib.sha256(b"noc-ledger vectors: other key").digest()
HOLDER_SEED = hashlib.sha256(b"noc-ledger vectors: holder key").digest()
AUTHORITY = signing.Ed25519Signer(AUTHORITY_SEED)
OTHER = signing.Ed25519Signer(OTHER_SEED)
HOLDER = signing.Ed25519Signer(HOLDER_SEED)
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
L = 2**252 + 27742317777372353535851937790883648493
CT_CERT = signing.CONTENT_TYPES["certificate"]

Vectors = dict[str, dict[str, Any]]


# ---------------------------------------------------------------------------------------
# Helpers


def diagnostic(value: Any) -> str:
    """RFC 8949 §8 diagnostic notation of a decoded value."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return f"h'{value.hex()}'"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(diagnostic(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{diagnostic(k)}: {diagnostic(v)}" for k, v in value.items()) + "}"
    if isinstance(value, codec.Tag):
        return f"{value.number}({diagnostic(value.value)})"
    raise TypeError(type(value))


def raw_sign1(
    signer: signing.Ed25519Signer,
    protected: dict[int, Any] | bytes,
    payload: bytes,
    *,
    unprotected: dict[int, Any] | None = None,
    tag: int | None = codec.COSE_SIGN1_TAG,
) -> bytes:
    """A COSE_Sign1 signed correctly over whatever (possibly non-profile) header it has."""
    prot = protected if isinstance(protected, bytes) else codec.encode(protected)
    sig = signer.sign(codec.encode(["Signature1", prot, b"", payload]))
    body = [prot, unprotected or {}, payload, sig]
    return codec.encode(body if tag is None else codec.Tag(tag, body))


def header(**overrides: Any) -> dict[int, Any]:
    h: dict[int, Any] = {1: signing.ALG_ED25519, 3: CT_CERT, 4: AUTHORITY.key_id}
    for k, v in overrides.items():
        label = int(k.lstrip("_"))
        if v is None:
            h.pop(label, None)
        else:
            h[label] = v
    return h


UAE = Territory(("AE",))
ALL = ("institutional", "professional", "retail")


def sample_noc(**changes: Any) -> Certificate:
    base = Certificate(
        instrument=Instrument.NOC,
        number="VARA/NOC/2026/0001",
        issuer=Issuer("Virtual Assets Regulatory Authority", "AE-DU"),
        subject=Subject(
            legal_name="Example Exchange FZE",
            lei="529900T8BM49AURSDO55",
            identifiers=(Identifier("ae-ded-licence", "1234567"),),
            trading_names=("Example Exchange",),
            domains=("example-exchange.ae",),
            holder_keys=(HOLDER.public_key,),
        ),
        issued_at=T0,
        valid_from=T0,
        valid_until=T0 + 180 * DAY,
        scope=Scope(
            (
                Grant("prep.aml_registration", ALL, UAE),
                Grant("prep.local_incorporation", ALL, UAE),
                Grant("prep.licence_application", ALL, UAE),
            )
        ),
        conditions=("Report progress to the authority every month.",),
        legal_notices=(LegalNotice(NOC_DISCLAIMER_CODE, NOC_DISCLAIMER_TEXT),),
    )
    return dataclasses.replace(base, **changes)


def sample_licence() -> Certificate:
    return sample_noc(
        instrument=Instrument.LICENCE,
        number="VARA/LIC/2026/0001",
        valid_from=T0 + 90 * DAY,
        valid_until=T0 + 455 * DAY,
        scope=Scope(
            (
                Grant(
                    "va.exchange",
                    ("professional", "retail"),
                    Territory(("AE",), ("AE-AZ",)),
                    products_denied=("category:privacy",),
                    limits=(Limit("per_transaction", "AED", 1_000_000),),
                    conditions_precedent=("Appoint a money-laundering reporting officer",),
                ),
                Grant("va.custody", ("institutional",), Territory(("AE-DU",))),
            )
        ),
        conditions=(),
        legal_notices=(),
        edges=(Edge(EdgeKind.UPGRADES, sample_noc().id),),
    )


# ---------------------------------------------------------------------------------------
# encoding/


def _nested(levels: int, inner: Any) -> Any:
    value = inner
    for _ in range(levels):
        value = [value]
    return value


def encoding_vectors() -> Vectors:
    out: Vectors = {}
    valid: list[tuple[str, str, Any]] = [
        ("uint-0", "smallest integer", 0),
        ("uint-24", "first one-byte argument", 24),
        ("uint-max", "2**64 - 1", 2**64 - 1),
        ("nint-min", "-2**64", -(2**64)),
        ("text-utf8", "multi-byte UTF-8", "Zürich – 東京"),
        ("map-mixed-keys", 'bytewise key order: 1, 24, -1, "a"', {1: 0, 24: 0, -1: 0, "a": 0}),
        ("map-text-keys", "shorter text key first", {"b": 1, "aa": 2}),
        (
            "cose-key",
            "the RFC 9679 thumbprint input of an OKP key",
            {1: 1, -1: 6, -2: b"\x00" * 32},
        ),
        ("nested", "arrays and maps", [True, False, None, b"", "", [], {}]),
        ("depth-16", "16 nested arrays around an integer (depth 16)", _nested(16, 0)),
        ("depth-16-empty", "16 nested arrays around an empty array (depth 16)", _nested(16, [])),
    ]
    for name, desc, value in valid:
        data = codec.encode(value)
        out[f"encoding/valid-{name}.json"] = {
            "description": desc,
            "input": data.hex(),
            "diagnostic": diagnostic(value),
            "expect": "valid",
        }
    invalid = [
        ("non-shortest-uint", "24 written with a one-byte argument of 23", "1817"),
        (
            "non-shortest-uint64",
            "2**32-1 written with an eight-byte argument",
            "1b00000000ffffffff",
        ),
        ("non-shortest-length", "byte string length in long form", "5801ff"),
        ("indefinite-bytes", "indefinite-length byte string", "5f4100ff"),
        ("indefinite-array", "indefinite-length array", "9f00ff"),
        ("indefinite-map", "indefinite-length map", "bf0000ff"),
        ("half-float", "float16 1.0", "f93c00"),
        ("double-float", "float64 1.0", "fb3ff0000000000000"),
        ("undefined", "the undefined simple value", "f7"),
        ("simple-16", "unassigned simple value", "f0"),
        ("bignum", "tag 2 bignum", "c249010000000000000000"),
        ("tag-not-allowed", "tag 18 where no tag is allowed", "d280"),
        ("reserved-ai", "additional information 28", "1c"),
        ("unsorted-keys", "keys 2 then 1", "a202000100"),
        (
            "length-first-order",
            "-1 before 24 (RFC 7049 order, not RFC 8949 §4.2.1)",
            "a220001818" + "00",
        ),
        ("duplicate-keys", "key 1 twice", "a201000100"),
        ("bytes-key", "byte-string map key", "a1410000"),
        ("invalid-utf8", "text with an invalid UTF-8 sequence", "62c328"),
        ("utf8-surrogate", "text encoding a UTF-16 surrogate", "63eda080"),
        ("trailing-bytes", "two items", "0000"),
        ("truncated", "array of 3 with 2 items", "830102"),
        ("huge-array-claim", "array header claiming 2**32-1 items, nothing after", "9affffffff"),
        ("huge-map-claim", "map header claiming 2**32-1 entries, nothing after", "baffffffff"),
        (
            "too-deep",
            "17 nested arrays around an integer: the integer has depth 17",
            "81" * 17 + "00",
        ),
        ("empty", "no bytes at all", ""),
    ]
    for name, desc, hex_ in invalid:
        out[f"encoding/invalid-{name}.json"] = {
            "description": desc,
            "input": hex_,
            "expect": "DecodeError",
        }
    return out


# ---------------------------------------------------------------------------------------
# certificate/


def _cert_vector(description: str, signed: bytes, expect: str, key: bytes) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "description": description,
        "content_type": CT_CERT,
        "public_key": key.hex(),
        "signed": signed.hex(),
        "expect": expect,
    }
    if expect == "valid":
        verified = verify_certificate(signed, public_key=key)
        envelope = signing.decode_sign1(signed)
        vector["payload"] = envelope.payload.hex()
        vector["payload_diagnostic"] = diagnostic(codec.decode(envelope.payload))
        vector["certificate_id"] = verified.id.hex()
        vector["key_id"] = verified.key_id.hex()
    return vector


def _payload_with(mutate: Callable[[dict[int, Any]], None]) -> bytes:
    item = sample_noc().to_item()
    mutate(item)
    return codec.encode(item)


def _licence_payload_with(mutate: Callable[[dict[int, Any]], None]) -> bytes:
    item = sample_licence().to_item()
    mutate(item)
    return codec.encode(item)


def certificate_vectors() -> Vectors:
    pk = AUTHORITY.public_key
    noc_payload = sample_noc().to_cbor()
    good = raw_sign1(AUTHORITY, header(), noc_payload)
    cases: list[tuple[str, str, bytes, str, bytes]] = [
        ("valid-noc", "a NOC for preparatory activities with its disclaimer", good, "valid", pk),
        (
            "valid-licence",
            "a licence upgrading the NOC, with limits, exclusions and a deny-list",
            raw_sign1(AUTHORITY, header(), sample_licence().to_cbor()),
            "valid",
            pk,
        ),
        (
            "valid-minimal",
            "a registration with only the required fields",
            raw_sign1(
                AUTHORITY,
                header(),
                Certificate(
                    instrument=Instrument.REGISTRATION,
                    number="R-1",
                    issuer=Issuer("Authority", "AE"),
                    subject=Subject("Firm Ltd"),
                    issued_at=T0,
                    valid_from=T0,
                    scope=Scope((Grant("va.transfer", ("retail",), UAE),)),
                ).to_cbor(),
            ),
            "valid",
            pk,
        ),
    ]
    sig_flip = bytearray(good)
    sig_flip[-1] ^= 0x01
    cases.append(
        ("bad-signature", "last signature byte flipped", bytes(sig_flip), "SignatureError", pk)
    )
    cases.append(
        (
            "wrong-key",
            "valid, but checked against another key",
            good,
            "SignatureError",
            OTHER.public_key,
        )
    )
    # S + L: same signature value modulo L, rejected by the S < L rule (malleability).
    parts = codec.decode(good, tags=frozenset({18})).value
    s_int = int.from_bytes(parts[3][32:], "little") + L
    if s_int < 2**256:
        malleable = parts[3][:32] + s_int.to_bytes(32, "little")
        cases.append(
            (
                "signature-s-plus-l",
                "S replaced by S + L (a malleated signature)",
                codec.encode(codec.Tag(18, [parts[0], {}, parts[2], malleable])),
                "SignatureError",
                pk,
            )
        )
    cases += [
        (
            "wrong-content-type",
            "a certificate payload signed as a status event",
            raw_sign1(AUTHORITY, header(_3=signing.CONTENT_TYPES["status-event"]), noc_payload),
            "SignatureError",
            pk,
        ),
        (
            "unknown-content-type",
            "content type application/cbor",
            raw_sign1(AUTHORITY, header(_3="application/cbor"), noc_payload),
            "SignatureError",
            pk,
        ),
        (
            "unknown-header",
            "protected header label 99 (closed allow-list)",
            raw_sign1(AUTHORITY, header(_99="x"), noc_payload),
            "SignatureError",
            pk,
        ),
        (
            "crit-header",
            "protected crit header naming label 99",
            raw_sign1(AUTHORITY, header(_2=[99], _99="x"), noc_payload),
            "SignatureError",
            pk,
        ),
        (
            "alg-eddsa",
            "alg -8 (polymorphic EdDSA) instead of -19",
            raw_sign1(AUTHORITY, header(_1=-8), noc_payload),
            "SignatureError",
            pk,
        ),
        (
            "alg-es256",
            "alg -7 (ES256): algorithm confusion",
            raw_sign1(AUTHORITY, header(_1=-7), noc_payload),
            "SignatureError",
            pk,
        ),
        (
            "no-kid",
            "protected header without kid",
            raw_sign1(AUTHORITY, header(_4=None), noc_payload),
            "SignatureError",
            pk,
        ),
        (
            "unprotected-header",
            "kid in the unprotected header",
            raw_sign1(AUTHORITY, header(), noc_payload, unprotected={4: AUTHORITY.key_id}),
            "SignatureError",
            pk,
        ),
        (
            "untagged",
            "COSE_Sign1 without tag 18",
            raw_sign1(AUTHORITY, header(), noc_payload, tag=None),
            "DecodeError",
            pk,
        ),
        (
            "cose-sign-tag",
            "tag 98 (COSE_Sign) instead of 18",
            raw_sign1(AUTHORITY, header(), noc_payload, tag=98),
            "DecodeError",
            pk,
        ),
        (
            "non-canonical-protected",
            "alg -19 written as 38 12 (non-shortest) inside the signed protected header",
            raw_sign1(
                AUTHORITY,
                bytes.fromhex("a3013812")
                + b"\x03"
                + codec.encode(CT_CERT)
                + b"\x04"
                + codec.encode(AUTHORITY.key_id),
                noc_payload,
            ),
            "DecodeError",
            pk,
        ),
        (
            "non-canonical-payload",
            "payload map length in long form, correctly signed",
            raw_sign1(AUTHORITY, header(), bytes([0xB8, noc_payload[0] & 0x1F]) + noc_payload[1:]),
            "DecodeError",
            pk,
        ),
        (
            "trailing-bytes",
            "a valid signed certificate followed by one byte",
            good + b"\x00",
            "DecodeError",
            pk,
        ),
        (
            "unsorted-set",
            "trading names not sorted, correctly signed",
            raw_sign1(
                AUTHORITY, header(), _payload_with(lambda m: m[4].__setitem__(3, ["Zeta", "Alpha"]))
            ),
            "DecodeError",
            pk,
        ),
        (
            "unknown-version",
            "format version 2",
            raw_sign1(AUTHORITY, header(), _payload_with(lambda m: m.__setitem__(0, 2))),
            "DecodeError",
            pk,
        ),
        (
            "unknown-payload-key",
            "payload key 99",
            raw_sign1(AUTHORITY, header(), _payload_with(lambda m: m.__setitem__(99, 0))),
            "DecodeError",
            pk,
        ),
        (
            "valid-two-edges",
            "a corrected licence: supersedes a licence and upgrades a NOC (edges sorted by kind)",
            raw_sign1(
                AUTHORITY,
                header(),
                dataclasses.replace(
                    sample_licence(),
                    edges=(
                        Edge(EdgeKind.UPGRADES, sample_noc().id),
                        Edge(EdgeKind.SUPERSEDES, sample_licence().id),
                    ),
                ).to_cbor(),
            ),
            "valid",
            pk,
        ),
        (
            "edges-out-of-order",
            "upgrades written before supersedes, correctly signed",
            raw_sign1(
                AUTHORITY,
                header(),
                _licence_payload_with(
                    lambda m: m.__setitem__(
                        11,
                        [
                            {0: "upgrades", 1: sample_noc().id},
                            {0: "supersedes", 1: sample_licence().id},
                        ],
                    )
                ),
            ),
            "DecodeError",
            pk,
        ),
        (
            "duplicate-edge-kind",
            "two supersedes edges, correctly signed",
            raw_sign1(
                AUTHORITY,
                header(),
                _licence_payload_with(
                    lambda m: m.__setitem__(
                        11,
                        [
                            {0: "supersedes", 1: sample_noc().id},
                            {0: "supersedes", 1: sample_licence().id},
                        ],
                    )
                ),
            ),
            "ModelError",
            pk,
        ),
        (
            "empty-set",
            "trading names present as an empty array, correctly signed",
            raw_sign1(AUTHORITY, header(), _payload_with(lambda m: m[4].__setitem__(3, []))),
            "ModelError",
            pk,
        ),
        (
            "bad-lei",
            "LEI whose MOD 97-10 check digits fail",
            raw_sign1(
                AUTHORITY,
                header(),
                _payload_with(lambda m: m[4].__setitem__(1, "529900T8BM49AURSDO56")),
            ),
            "ModelError",
            pk,
        ),
        (
            "noc-without-disclaimer",
            "a NOC without the not-an-operating-licence notice",
            raw_sign1(AUTHORITY, header(), _payload_with(lambda m: m.pop(10))),
            "ModelError",
            pk,
        ),
        (
            "noc-operating-activity",
            "a NOC granting va.exchange.fiat",
            raw_sign1(
                AUTHORITY,
                header(),
                _payload_with(lambda m: m[8][1][0].__setitem__(0, "va.exchange.fiat")),
            ),
            "ModelError",
            pk,
        ),
        (
            "unknown-activity",
            "an activity the vocabulary does not define",
            raw_sign1(
                AUTHORITY,
                header(),
                _payload_with(lambda m: m[8][1][0].__setitem__(0, "prep.lobbying")),
            ),
            "ModelError",
            pk,
        ),
    ]
    out: Vectors = {}
    for name, desc, signed, expect, key in cases:
        out[f"certificate/{name}.json"] = _cert_vector(desc, signed, expect, key)
    return out


# ---------------------------------------------------------------------------------------
# keys/


def key_vectors() -> Vectors:
    out: Vectors = {}
    for name, signer, seed in (
        ("authority", AUTHORITY, AUTHORITY_SEED),
        ("other", OTHER, OTHER_SEED),
        ("holder", HOLDER, HOLDER_SEED),
        ("root", ROOT, ROOT_SEED),
        ("log", LOG, LOG_SEED),
        ("witness", WITNESS, WITNESS_SEED),
    ):
        out[f"keys/{name}.json"] = {
            "description": f"the {name} test key (RFC 8032 seed, public key, RFC 9679 key id)",
            "seed": seed.hex(),
            "public_key": signer.public_key.hex(),
            "key_id": signer.key_id.hex(),
            "thumbprint_input": codec.encode({1: 1, -1: 6, -2: signer.public_key}).hex(),
            "expect": "valid",
        }
    return out


# ---------------------------------------------------------------------------------------
# merkle/


def _entries(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def _store(n: int) -> merkle.MemoryHashStore:
    store = merkle.MemoryHashStore()
    for e in _entries(n):
        store.append(e)
    return store


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


def merkle_vectors() -> Vectors:
    out: Vectors = {}
    entries = _entries(21)
    out["merkle/roots.json"] = {
        "description": "roots of the trees of the first n entries 'entry 0', … for n = 0..21",
        "entries": [e.hex() for e in entries],
        "leaf_hashes": [merkle.leaf_hash(e).hex() for e in entries],
        "roots": [
            merkle.root_of([merkle.leaf_hash(e) for e in entries[:n]]).hex() for n in range(22)
        ],
        "expect": "valid",
    }
    store = _store(21)

    def incl(
        name: str,
        desc: str,
        index: int,
        size: int,
        leaf: bytes,
        proof: list[bytes],
        root: bytes,
        expect: str,
    ) -> None:
        out[f"merkle/inclusion-{name}.json"] = {
            "description": desc,
            "index": index,
            "size": size,
            "leaf_hash": leaf.hex(),
            "proof": [p.hex() for p in proof],
            "root": root.hex(),
            "expect": expect,
        }

    def root(n: int) -> bytes:
        return merkle.root_from_reader(n, store)

    for index, size in ((0, 1), (0, 2), (5, 8), (12, 13), (20, 21), (7, 21)):
        proof = merkle.prove_inclusion(index, size, store)
        incl(
            f"valid-{index}-of-{size}",
            f"entry {index} in the tree of size {size}",
            index,
            size,
            merkle.leaf_hash(entries[index]),
            proof,
            root(size),
            "valid",
        )
    proof = merkle.prove_inclusion(5, 13, store)
    leaf = merkle.leaf_hash(entries[5])
    incl(
        "wrong-index",
        "proof for index 5 checked at index 6",
        6,
        13,
        leaf,
        proof,
        root(13),
        "InclusionError",
    )
    incl(
        "wrong-size",
        "proof for size 13 checked at size 14",
        5,
        14,
        leaf,
        proof,
        root(14),
        "InclusionError",
    )
    incl("wrong-root", "root of size 12", 5, 13, leaf, proof, root(12), "InclusionError")
    incl(
        "flipped-element",
        "one proof hash with a flipped bit",
        5,
        13,
        leaf,
        [proof[0], _flip(proof[1]), *proof[2:]],
        root(13),
        "InclusionError",
    )
    incl(
        "extra-element",
        "one hash appended to the proof",
        5,
        13,
        leaf,
        [*proof, proof[0]],
        root(13),
        "InclusionError",
    )
    incl(
        "missing-element",
        "last proof hash removed",
        5,
        13,
        leaf,
        proof[:-1],
        root(13),
        "InclusionError",
    )
    incl(
        "short-hash",
        "a 31-byte proof element",
        5,
        13,
        leaf,
        [proof[0][:31], *proof[1:]],
        root(13),
        "InclusionError",
    )
    incl(
        "index-equals-size",
        "index 13 in a tree of size 13",
        13,
        13,
        leaf,
        proof,
        root(13),
        "InclusionError",
    )
    incl(
        "leaf-as-node",
        "the node hash of two leaves presented as a leaf",
        0,
        13,
        merkle.node_hash(merkle.leaf_hash(entries[0]), merkle.leaf_hash(entries[1])),
        merkle.prove_inclusion(0, 13, store)[1:],
        root(13),
        "InclusionError",
    )

    def cons(
        name: str,
        desc: str,
        size1: int,
        size2: int,
        proof: list[bytes],
        root1: bytes,
        root2: bytes,
        expect: str,
    ) -> None:
        out[f"merkle/consistency-{name}.json"] = {
            "description": desc,
            "size1": size1,
            "size2": size2,
            "proof": [p.hex() for p in proof],
            "root1": root1.hex(),
            "root2": root2.hex(),
            "expect": expect,
        }

    for size1, size2 in ((1, 2), (3, 7), (4, 8), (6, 13), (13, 21), (20, 21)):
        cons(
            f"valid-{size1}-to-{size2}",
            f"size {size1} to size {size2}",
            size1,
            size2,
            merkle.prove_consistency(size1, size2, store),
            root(size1),
            root(size2),
            "valid",
        )
    cons(
        "valid-equal-sizes",
        "equal sizes, empty proof, equal roots",
        13,
        13,
        [],
        root(13),
        root(13),
        "valid",
    )
    cons(
        "equal-sizes-different-roots",
        "equal sizes, empty proof, different roots",
        13,
        13,
        [],
        root(13),
        _flip(root(13)),
        "ConsistencyError",
    )
    cons(
        "from-empty",
        "size1 = 0 is always rejected",
        0,
        13,
        [],
        merkle.EMPTY_ROOT,
        root(13),
        "ConsistencyError",
    )
    p = merkle.prove_consistency(6, 13, store)
    cons(
        "swapped-roots", "root1 and root2 swapped", 6, 13, p, root(13), root(6), "ConsistencyError"
    )
    cons(
        "flipped-element",
        "one proof hash with a flipped bit",
        6,
        13,
        [_flip(p[0]), *p[1:]],
        root(6),
        root(13),
        "ConsistencyError",
    )
    cons(
        "extra-element",
        "one hash appended to the proof",
        6,
        13,
        [*p, p[0]],
        root(6),
        root(13),
        "ConsistencyError",
    )
    cons(
        "wrong-size2",
        "proof for 6..13 checked as 6..14",
        6,
        14,
        p,
        root(6),
        root(14),
        "ConsistencyError",
    )
    cons("size1-greater", "size1 > size2", 13, 6, p, root(13), root(6), "ConsistencyError")
    return out


# ---------------------------------------------------------------------------------------
# scope/


def _query_json(q: Query) -> dict[str, Any]:
    j: dict[str, Any] = {
        "activity": q.activity,
        "customer_type": q.customer_type,
        "territory": q.territory,
    }
    if q.product is not None:
        j["product"] = q.product
    if q.amount is not None:
        j["amount"] = {"value": q.amount.value, "unit": q.amount.unit, "metric": q.amount.metric}
    return j


def scope_vectors() -> Vectors:
    out: Vectors = {}
    licence = sample_licence().scope
    noc = sample_noc().scope
    queries: list[tuple[str, str, Scope, Query]] = [
        (
            "noc-aml",
            "NOC permits AML registration",
            noc,
            Query("prep.aml_registration", "retail", "AE"),
        ),
        (
            "noc-fiat",
            "NOC does not permit a fiat exchange",
            noc,
            Query("va.exchange.fiat", "retail", "AE"),
        ),
        (
            "noc-other-country",
            "NOC is for AE only",
            noc,
            Query("prep.aml_registration", "retail", "SA"),
        ),
        (
            "noc-subdivision",
            "a subdivision of an included country",
            noc,
            Query("prep.aml_registration", "retail", "AE-DU"),
        ),
        (
            "licence-child",
            "va.exchange covers va.exchange.fiat",
            licence,
            Query("va.exchange.fiat", "retail", "AE-DU", "asset:btc", Amount(1_000_000, "AED")),
        ),
        (
            "licence-over-limit",
            "amount above the per-transaction limit",
            licence,
            Query("va.exchange.fiat", "retail", "AE-DU", "asset:btc", Amount(1_000_001, "AED")),
        ),
        (
            "licence-other-unit",
            "a limit in AED cannot be compared with USD",
            licence,
            Query("va.exchange.fiat", "retail", "AE-DU", "asset:btc", Amount(1, "USD")),
        ),
        (
            "licence-denied-product",
            "a denied product",
            licence,
            Query("va.exchange.crypto", "retail", "AE-DU", "category:privacy"),
        ),
        (
            "licence-excluded-subdivision",
            "AE-AZ is excluded",
            licence,
            Query("va.exchange.fiat", "retail", "AE-AZ"),
        ),
        (
            "licence-whole-country",
            "all of AE is not permitted when AE-AZ is excluded",
            licence,
            Query("va.exchange.fiat", "retail", "AE"),
        ),
        (
            "licence-customer-type",
            "institutional customers are not in the exchange grant",
            licence,
            Query("va.exchange.fiat", "institutional", "AE-DU"),
        ),
        (
            "licence-custody-dubai",
            "custody for institutions in Dubai",
            licence,
            Query("va.custody", "institutional", "AE-DU"),
        ),
        (
            "licence-parent-query",
            "a query for va (all operating activities) is not permitted",
            licence,
            Query("va", "institutional", "AE-DU"),
        ),
        (
            "unknown-customer-type",
            "a customer type the vocabulary does not define is an error, not a no",
            licence,
            Query("va.exchange.fiat", "pensioners", "AE-DU"),
        ),
        (
            "unknown-activity",
            "an activity the vocabulary does not define is an error, not a no",
            licence,
            Query("va.exchange.otc", "retail", "AE"),
        ),
    ]
    for name, desc, s, q in queries:
        vector: dict[str, Any] = {
            "description": desc,
            "scope": codec.encode(s.to_item()).hex(),
            "scope_diagnostic": diagnostic(s.to_item()),
            "query": _query_json(q),
        }
        try:
            result = evaluate(s, q)
        except NocLedgerError as exc:
            vector["expect"] = type(exc).__name__
        else:
            vector["expect"] = "permitted" if result.permitted else "not-permitted"
            vector["conditions_precedent"] = list(result.conditions_precedent)
        out[f"scope/query-{name}.json"] = vector

    def scope_of(*grants: Grant) -> Scope:
        return Scope(grants)

    authority_root = scope_of(
        Grant("prep", ALL, Territory(("AE",))), Grant("va", ALL, Territory(("AE",)))
    )
    subsets: list[tuple[str, str, Scope, Scope]] = [
        ("noc-within-root", "the NOC scope within an authority-wide scope", noc, authority_root),
        (
            "licence-within-root",
            "the licence scope within an authority-wide scope",
            licence,
            authority_root,
        ),
        ("root-not-within-noc", "the wider scope is not within the narrower", authority_root, noc),
        (
            "licence-not-within-noc",
            "operating activities are not within preparatory ones",
            licence,
            noc,
        ),
        (
            "other-territory",
            "SA is not within AE",
            scope_of(Grant("prep.hiring", ALL, Territory(("SA",)))),
            noc,
        ),
        (
            "excluded-child-not-within",
            "a grant of va.exchange is not within a grant excluding va.exchange.crypto",
            scope_of(Grant("va.exchange", ALL, UAE)),
            scope_of(Grant("va.exchange", ALL, UAE, excluded_activities=("va.exchange.crypto",))),
        ),
        (
            "higher-limit-not-within",
            "a higher limit is not within a lower one",
            scope_of(Grant("va.custody", ALL, UAE, limits=(Limit("per_transaction", "AED", 10),))),
            scope_of(Grant("va.custody", ALL, UAE, limits=(Limit("per_transaction", "AED", 5),))),
        ),
        (
            "fewer-conditions-not-within",
            "dropping a condition precedent widens a grant",
            scope_of(Grant("va.custody", ALL, UAE)),
            scope_of(Grant("va.custody", ALL, UAE, conditions_precedent=("Capital paid in",))),
        ),
        (
            "union-not-enough",
            "a grant covered only by the union of two grants is not within (sound, not complete)",
            scope_of(Grant("va.exchange", ("retail",), UAE)),
            scope_of(
                Grant("va.exchange.fiat", ("retail",), UAE),
                Grant("va.exchange.crypto", ("retail",), UAE),
            ),
        ),
    ]
    for name, desc, inner, outer in subsets:
        out[f"scope/subset-{name}.json"] = {
            "description": desc,
            "inner": codec.encode(inner.to_item()).hex(),
            "outer": codec.encode(outer.to_item()).hex(),
            "expect": "within" if is_within(inner, outer) else "not-within",
        }
    return out


# ---------------------------------------------------------------------------------------
# events/ (spec/events.md §2, §3)

ROOT_SEED = hashlib.sha256(b"noc-ledger vectors: authority root key").digest()
LOG_SEED = hashlib.sha256(b"noc-ledger vectors: log key").digest()
WITNESS_SEED = hashlib.sha256(b"noc-ledger vectors: witness key").digest()
ROOT = signing.Ed25519Signer(ROOT_SEED)
LOG = signing.Ed25519Signer(LOG_SEED)
WITNESS = signing.Ed25519Signer(WITNESS_SEED)
ORIGIN = "authority.example/noc-ledger"
WITNESS_NAME = "witness.example"
ROOT_SCOPE = Scope(
    (
        Grant("prep", ALL, Territory(("AE",))),
        Grant("va", ALL, Territory(("AE",))),
    )
)


def _delegation() -> KeyEvent:
    return KeyEvent(
        KeyEventKind.DELEGATE,
        AUTHORITY.public_key,
        T0 - DAY,
        T0 - DAY,
        "issuing key 2026-A",
        T0 + 730 * DAY,
        ROOT_SCOPE,
    )


def _event_vector(
    description: str, signed: bytes, content_type: str, key: bytes, expect: str
) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "description": description,
        "content_type": content_type,
        "public_key": key.hex(),
        "signed": signed.hex(),
        "expect": expect,
    }
    if expect == "valid":
        payload = signing.verify_sign1(signed, content_type=content_type, public_key=key).payload
        vector["payload"] = payload.hex()
        vector["payload_diagnostic"] = diagnostic(codec.decode(payload))
    return vector


def event_vectors() -> Vectors:
    ct_status = signing.CONTENT_TYPES["status-event"]
    ct_key = signing.CONTENT_TYPES["key-event"]
    noc_id = sample_noc().id
    suspend = StatusEvent(
        StatusEventKind.SUSPEND,
        noc_id,
        T0 + 30 * DAY,
        T0 + 29 * DAY,
        ReasonCode.AML_CFT_FAILURE,
        "Suspended pending the outcome of an AML/CFT inspection.",
    )
    partial = StatusEvent(
        StatusEventKind.SUSPEND,
        noc_id,
        T0 + 30 * DAY,
        T0 + 30 * DAY,
        ReasonCode.CONDITIONS_NOT_MET,
        activities=("prep.licence_application",),
    )
    revoke = StatusEvent(
        StatusEventKind.REVOKE, noc_id, T0 + 60 * DAY, T0 + 60 * DAY, ReasonCode.FALSE_INFORMATION
    )
    revoke_key = KeyEvent(
        KeyEventKind.REVOKE_KEY,
        AUTHORITY.public_key,
        T0 + 90 * DAY,
        T0 + 90 * DAY,
        reason=ReasonCode.KEY_COMPROMISE,
        invalidate_from=7,
    )

    def signed_payload(item: dict[int, Any], ct: str, signer: signing.Ed25519Signer) -> bytes:
        return raw_sign1(signer, header(_3=ct, _4=signer.key_id), codec.encode(item))

    cases: list[tuple[str, str, bytes, str, bytes, str]] = [
        (
            "status-suspend",
            "a whole-certificate suspension with reason",
            suspend.sign(AUTHORITY),
            ct_status,
            AUTHORITY.public_key,
            "valid",
        ),
        (
            "status-suspend-grant",
            "suspension of one grant",
            partial.sign(AUTHORITY),
            ct_status,
            AUTHORITY.public_key,
            "valid",
        ),
        (
            "status-revoke",
            "a revocation",
            revoke.sign(AUTHORITY),
            ct_status,
            AUTHORITY.public_key,
            "valid",
        ),
        (
            "key-delegate",
            "the root delegates an issuing key with a scope",
            _delegation().sign(ROOT),
            ct_key,
            ROOT.public_key,
            "valid",
        ),
        (
            "key-revoke",
            "the root revokes a key from log index 7",
            revoke_key.sign(ROOT),
            ct_key,
            ROOT.public_key,
            "valid",
        ),
        (
            "status-revoke-without-reason",
            "a revocation must carry a reason code",
            signed_payload(
                {k: v for k, v in revoke.to_item().items() if k != 5}, ct_status, AUTHORITY
            ),
            ct_status,
            AUTHORITY.public_key,
            "ModelError",
        ),
        (
            "status-unknown-kind",
            "event kind 'cancel'",
            signed_payload({**revoke.to_item(), 1: "cancel"}, ct_status, AUTHORITY),
            ct_status,
            AUTHORITY.public_key,
            "ModelError",
        ),
        (
            "status-grants-on-revoke",
            "activities are only for suspend and reinstate",
            signed_payload({**revoke.to_item(), 7: ["prep.hiring"]}, ct_status, AUTHORITY),
            ct_status,
            AUTHORITY.public_key,
            "ModelError",
        ),
        (
            "key-delegate-without-scope",
            "a delegation must carry a scope",
            signed_payload(
                {k: v for k, v in _delegation().to_item().items() if k != 7}, ct_key, ROOT
            ),
            ct_key,
            ROOT.public_key,
            "ModelError",
        ),
        (
            "key-event-as-status-event",
            "a key event's payload signed with the status-event content type",
            signed_payload(_delegation().to_item(), ct_status, ROOT),
            ct_status,
            ROOT.public_key,
            "DecodeError",
        ),
    ]
    out: Vectors = {}
    for name, desc, signed, ct, key, expect in cases:
        out[f"events/{name}.json"] = _event_vector(desc, signed, ct, key, expect)
    return out


# ---------------------------------------------------------------------------------------
# checkpoint/ (spec/checkpoint.md)


def checkpoint_vectors() -> Vectors:
    log_vkey = Verifier.for_key(ORIGIN, LOG.public_key)
    witness_vkey = Verifier.for_key(WITNESS_NAME, WITNESS.public_key, sig_type=0x04)
    store = _store(13)
    cp = Checkpoint(
        origin=ORIGIN,
        size=13,
        root=merkle.root_from_reader(13, store),
        time=T0 + 3600,
        status_root=hashlib.sha256(b"example status root").digest(),
    )
    note = sign_checkpoint(cp, LOG)
    cosigned = cosign(note, WITNESS_NAME, WITNESS, time=T0 + 3700)
    text, _, sigs = note.decode().rpartition("\n\n")
    body_lines = text.split("\n")

    def resign(lines: list[str]) -> bytes:
        return sign_note("\n".join(lines) + "\n", [(ORIGIN, LOG)])

    def vector(desc: str, data: bytes, expect: str, **extra: Any) -> dict[str, Any]:
        v: dict[str, Any] = {
            "description": desc,
            "origin": ORIGIN,
            "log_key": log_vkey.encode(),
            "note": data.decode("utf-8", errors="replace"),
            "expect": expect,
        }
        v.update(extra)
        return v

    out: Vectors = {
        "checkpoint/valid.json": vector(
            "a checkpoint of size 13 with time and status-root lines",
            note,
            "valid",
            size=13,
            root=cp.root.hex(),
            time=cp.time,
            status_root=cp.status_root.hex(),
        ),
        "checkpoint/valid-cosigned.json": vector(
            "the same checkpoint with a tlog-cosignature/v1 by a witness",
            cosigned,
            "valid",
            witness_key=witness_vkey.encode(),
            cosignature_time=T0 + 3700,
            size=13,
            root=cp.root.hex(),
            time=cp.time,
            status_root=cp.status_root.hex(),
        ),
        "checkpoint/tampered-size.json": vector(
            "size changed after signing", note.replace(b"\n13\n", b"\n14\n", 1), "SignatureError"
        ),
        "checkpoint/other-origin.json": vector(
            "signed by the right key under another origin",
            sign_note(
                note.decode().rpartition("\n\n")[0].replace(ORIGIN, "other.example/log", 1) + "\n",
                [("other.example/log", LOG)],
            ),
            "SignatureError",
        ),
        "checkpoint/unknown-key.json": vector(
            "signed under the origin by a key the verifier does not know",
            sign_note(text + "\n", [(ORIGIN, OTHER)]),
            "SignatureError",
        ),
        "checkpoint/missing-status-line.json": vector(
            "no noc-ledger-status line, correctly signed",
            resign(body_lines[:4]),
            "DecodeError",
        ),
        "checkpoint/lines-swapped.json": vector(
            "status line before time line, correctly signed",
            resign([*body_lines[:3], body_lines[4], body_lines[3]]),
            "DecodeError",
        ),
        "checkpoint/non-canonical-size.json": vector(
            "size written with a leading zero, correctly signed",
            resign([body_lines[0], "013", *body_lines[2:]]),
            "DecodeError",
        ),
    }
    assert sigs
    return out


# ---------------------------------------------------------------------------------------
# statusmap/ (spec/revocation.md)


def statusmap_vectors() -> Vectors:
    nodes = statusmap.MemoryNodeStore()
    items = {hashlib.sha256(f"key {i}".encode()).digest(): f"value {i}".encode() for i in range(20)}
    # Two keys sharing their first 31 bytes: a deep branch.
    twin = bytearray(next(iter(items)))
    twin[31] ^= 0x01
    items[bytes(twin)] = b"twin"
    root = statusmap.update(statusmap.EMPTY_ROOT, items, nodes)
    assert root == statusmap.root_of(items)
    out: Vectors = {
        "statusmap/root.json": {
            "description": "a map of 21 entries, two differing only in the last bit, and its root",
            "items": [[k.hex(), v.hex()] for k, v in sorted(items.items())],
            "root": root.hex(),
            "expect": "valid",
        }
    }

    def proof_vector(
        desc: str, key: bytes, value: bytes | None, proof: Any, expect: str, r: bytes = root
    ) -> dict[str, Any]:
        return {
            "description": desc,
            "root": r.hex(),
            "key": key.hex(),
            "value": None if value is None else value.hex(),
            "proof": proof.to_cbor().hex(),
            "proof_diagnostic": diagnostic(codec.decode(proof.to_cbor())),
            "expect": expect,
        }

    present = sorted(items)[3]
    deep = bytes(twin)
    absent_empty = next(
        k
        for k in (hashlib.sha256(f"absent {i}".encode()).digest() for i in range(100))
        if statusmap.prove_status(root, k, nodes).other_key is None
    )
    absent_leaf = next(
        k
        for k in (hashlib.sha256(f"absent {i}".encode()).digest() for i in range(100))
        if statusmap.prove_status(root, k, nodes).other_key is not None
    )
    p_present = statusmap.prove_status(root, present, nodes)
    out["statusmap/present.json"] = proof_vector(
        "presence of a key with its value", present, items[present], p_present, "valid"
    )
    out["statusmap/present-deep.json"] = proof_vector(
        "presence of a key at depth 256",
        deep,
        items[deep],
        statusmap.prove_status(root, deep, nodes),
        "valid",
    )
    out["statusmap/absent-empty.json"] = proof_vector(
        "absence: the path ends at an empty subtree",
        absent_empty,
        None,
        statusmap.prove_status(root, absent_empty, nodes),
        "valid",
    )
    out["statusmap/absent-other-leaf.json"] = proof_vector(
        "absence: the path ends at another key's leaf",
        absent_leaf,
        None,
        statusmap.prove_status(root, absent_leaf, nodes),
        "valid",
    )
    out["statusmap/wrong-value.json"] = proof_vector(
        "presence proof checked with another value",
        present,
        b"revoked",
        p_present,
        "StatusProofError",
    )
    out["statusmap/present-claimed-absent.json"] = proof_vector(
        "a present key claimed absent", present, None, p_present, "StatusProofError"
    )
    out["statusmap/wrong-root.json"] = proof_vector(
        "a valid proof against another root",
        present,
        items[present],
        p_present,
        "StatusProofError",
        r=hashlib.sha256(b"x").digest(),
    )
    flipped = statusmap.StatusProof(
        tuple(
            _flip(h) if i == len(p_present.siblings) - 1 and h != statusmap.EMPTY_ROOT else h
            for i, h in enumerate(p_present.siblings)
        ),
        p_present.other_key,
        p_present.other_value_hash,
    )
    out["statusmap/flipped-sibling.json"] = proof_vector(
        "the deepest sibling hash with a flipped bit",
        present,
        items[present],
        flipped,
        "StatusProofError",
    )
    empty_root_proof = statusmap.prove_status(
        statusmap.EMPTY_ROOT, present, statusmap.MemoryNodeStore()
    )
    out["statusmap/empty-map.json"] = proof_vector(
        "absence in the empty map", present, None, empty_root_proof, "valid", r=statusmap.EMPTY_ROOT
    )
    return out


# ---------------------------------------------------------------------------------------
# log/ (spec/events.md §5, spec/revocation.md §6): whole logs to replay


def _log_story() -> list[bytes]:
    noc = sample_noc()
    licence = sample_licence()
    return [
        _delegation().sign(ROOT),
        sign_certificate(noc, AUTHORITY),
        sign_certificate(licence, AUTHORITY),
        StatusEvent(
            StatusEventKind.SUSPEND,
            licence.id,
            T0 + 120 * DAY,
            T0 + 120 * DAY,
            ReasonCode.AML_CFT_FAILURE,
        ).sign(AUTHORITY),
        StatusEvent(
            StatusEventKind.REVOKE,
            licence.id,
            T0 + 150 * DAY,
            T0 + 150 * DAY,
            ReasonCode.AML_CFT_FAILURE,
        ).sign(AUTHORITY),
    ]


def log_vectors() -> Vectors:
    authority = Authority(ROOT.public_key, ROOT_SCOPE)
    entries = _log_story()

    def expected(prefix: list[bytes]) -> dict[str, Any]:
        state = replay(prefix, authority)
        return {
            "tree_root": merkle.root_of([merkle.leaf_hash(e) for e in prefix]).hex(),
            "status_root": statusmap.root_of(state.status_items()).hex(),
            "records": {k.hex(): v.hex() for k, v in sorted(state.status_items().items())},
        }

    common = {
        "root_public_key": ROOT.public_key.hex(),
        "root_scope": codec.encode(ROOT_SCOPE.to_item()).hex(),
    }
    out: Vectors = {
        "log/story.json": {
            "description": "delegation, NOC, licence upgrading it, licence suspended then revoked",
            **common,
            "entries": [e.hex() for e in entries],
            "after": [expected(entries[: n + 1]) for n in range(len(entries))],
            "expect": "valid",
        }
    }
    after_terminal = [
        *entries,
        StatusEvent(
            StatusEventKind.REINSTATE, sample_licence().id, T0 + 160 * DAY, T0 + 160 * DAY
        ).sign(AUTHORITY),
    ]
    unknown_key = [entries[0], sign_certificate(sample_noc(), OTHER)]
    over_scope = [
        entries[0],
        sign_certificate(
            dataclasses.replace(
                sample_noc(), scope=Scope((Grant("prep.hiring", ALL, Territory(("SA",))),))
            ),
            AUTHORITY,
        ),
    ]
    cases = [
        (
            "event-after-terminal",
            "reinstating a revoked licence",
            after_terminal,
            "TransitionError",
        ),
        (
            "undelegated-key",
            "a certificate by a key never delegated",
            unknown_key,
            "SignatureError",
        ),
        (
            "scope-beyond-delegation",
            "a NOC for SA from a key delegated for AE",
            over_scope,
            "ScopeError",
        ),
        (
            "duplicate-certificate",
            "the same certificate logged twice",
            [*entries[:2], entries[1]],
            "TransitionError",
        ),
    ]
    for name, desc, log, expect in cases:
        out[f"log/{name}.json"] = {
            "description": desc,
            **common,
            "entries": [e.hex() for e in log],
            "failing_index": len(log) - 1,
            "expect": expect,
        }
    return out


# ---------------------------------------------------------------------------------------
# verify/ (spec/verification.md): one scenario per verdict


def _query_or_none(q: Query | None) -> dict[str, Any] | None:
    return None if q is None else _query_json(q)


def verify_vectors() -> Vectors:
    clock = [T0]
    ledger = Ledger(
        MemoryStore(),
        origin=ORIGIN,
        authority=Authority(ROOT.public_key, ROOT_SCOPE),
        log_signer=LOG,
        clock=lambda: clock[0],
    )
    ledger.record_key_event(_delegation(), ROOT)

    def noc_numbered(n: int) -> Certificate:
        return dataclasses.replace(sample_noc(), number=f"VARA/NOC/2026/{n:04d}")

    main, suspended, partial, revoked, surrendered = (noc_numbered(n) for n in (11, 12, 13, 14, 15))
    for cert in (main, suspended, partial, revoked, surrendered, sample_noc()):
        ledger.issue(cert, AUTHORITY)
    early_size = ledger.size()
    clock[0] = T0 + 10 * DAY
    at = clock[0] + 3600

    def event(kind: StatusEventKind, cert: Certificate, **kw: Any) -> None:
        ledger.record(StatusEvent(kind, cert.id, clock[0], clock[0], **kw), AUTHORITY)

    event(StatusEventKind.SUSPEND, suspended, reason=ReasonCode.AML_CFT_FAILURE)
    event(
        StatusEventKind.SUSPEND,
        partial,
        reason=ReasonCode.CONDITIONS_NOT_MET,
        activities=("prep.aml_registration",),
    )
    event(StatusEventKind.REVOKE, revoked, reason=ReasonCode.FALSE_INFORMATION)
    event(StatusEventKind.SURRENDER, surrendered)
    log_vkey = Verifier.for_key(ORIGIN, LOG.public_key)
    witness_vkey = Verifier.for_key(WITNESS_NAME, WITNESS.public_key, sig_type=0x04)

    def policy(**changes: Any) -> bytes:
        args: dict[str, Any] = {
            "roots": [RootKey(ROOT.public_key, ROOT_SCOPE)],
            "logs": [log_vkey],
            "quorum": None,
            "max_status_age": 2 * DAY,
            "authority": "Virtual Assets Regulatory Authority",
        }
        args.update(changes)
        return encode_policy(make_policy(**args))

    aml = Query("prep.aml_registration", "retail", "AE")
    fiat = Query("va.exchange.fiat", "retail", "AE")
    main_bundle = ledger.bundle(main.id)
    parsed = Bundle.from_cbor(main_bundle)

    def altered(**changes: Any) -> bytes:
        return dataclasses.replace(parsed, **changes).to_cbor()

    flipped_proof = dataclasses.replace(
        parsed.certificate,
        proof=(_flip(parsed.certificate.proof[0]), *parsed.certificate.proof[1:]),
    )
    bad_sig = bytearray(parsed.certificate.entry)
    bad_sig[-1] ^= 1
    flipped_status = StatusEvidence(
        parsed.certificate_status.value,
        statusmap.StatusProof(
            tuple(
                _flip(h) if i == len(parsed.certificate_status.proof.siblings) - 1 else h
                for i, h in enumerate(parsed.certificate_status.proof.siblings)
            ),
            parsed.certificate_status.proof.other_key,
            parsed.certificate_status.proof.other_value_hash,
        ),
    )
    other_root = signing.Ed25519Signer(hashlib.sha256(b"noc-ledger vectors: stranger").digest())
    cases: list[tuple[str, str, bytes, bytes, int, Query | None, str, str]] = [
        ("valid", "a NOC permits AML registration", main_bundle, policy(), at, aml, "valid", ""),
        (
            "valid-no-query",
            "a NOC in force, no query",
            main_bundle,
            policy(),
            at,
            None,
            "valid",
            "",
        ),
        (
            "out-of-scope",
            "a NOC does not permit a fiat exchange",
            main_bundle,
            policy(),
            at,
            fiat,
            "out-of-scope",
            "OutOfScopeError",
        ),
        (
            "not-yet-valid",
            "asked about a time before the NOC's validity",
            main_bundle,
            policy(max_status_age=30 * DAY),
            T0 - DAY,
            aml,
            "not-yet-valid",
            "NotYetValidError",
        ),
        (
            "expired",
            "asked about a time after the NOC's end date",
            main_bundle,
            policy(max_status_age=400 * DAY),
            (main.valid_until or 0) + 1,
            aml,
            "expired",
            "ExpiredError",
        ),
        (
            "suspended",
            "a suspended NOC",
            ledger.bundle(suspended.id),
            policy(),
            at,
            aml,
            "suspended",
            "SuspendedError",
        ),
        (
            "suspended-grant",
            "the only grant permitting the query is suspended",
            ledger.bundle(partial.id),
            policy(),
            at,
            aml,
            "suspended",
            "SuspendedError",
        ),
        (
            "partial-suspension-other-grant",
            "another grant of a partly suspended NOC is still usable",
            ledger.bundle(partial.id),
            policy(),
            at,
            Query("prep.licence_application", "retail", "AE"),
            "valid",
            "",
        ),
        (
            "revoked",
            "a revoked NOC (reason false-information)",
            ledger.bundle(revoked.id),
            policy(),
            at,
            aml,
            "revoked",
            "RevokedError",
        ),
        (
            "revoked-asked-before",
            "the revoked NOC, asked about a time before the revocation",
            ledger.bundle(revoked.id),
            policy(),
            T0 + DAY,
            aml,
            "valid",
            "",
        ),
        (
            "ended",
            "a surrendered NOC",
            ledger.bundle(surrendered.id),
            policy(),
            at,
            aml,
            "ended",
            "EndedError",
        ),
        (
            "stale",
            "status older than the policy's maximum age: can't tell",
            main_bundle,
            policy(),
            clock[0] + 2 * DAY + 1,
            aml,
            "stale",
            "StaleError",
        ),
        (
            "not-covered",
            "the checkpoint predates the certificate: can't tell",
            altered(checkpoint=ledger.checkpoint_at(1)),
            policy(),
            T0 + 60,
            aml,
            "not-covered",
            "NotCoveredError",
        ),
        (
            "tampered-certificate",
            "a byte of the certificate entry flipped: its leaf is no longer in the tree",
            altered(certificate=dataclasses.replace(parsed.certificate, entry=bytes(bad_sig))),
            policy(),
            at,
            aml,
            "invalid",
            "InclusionError",
        ),
        (
            "untrusted-log",
            "the policy trusts another log key for the origin",
            main_bundle,
            policy(logs=[Verifier.for_key(ORIGIN, other_root.public_key)]),
            at,
            aml,
            "invalid",
            "SignatureError",
        ),
        (
            "quorum",
            "the policy requires a witness cosignature the checkpoint lacks",
            main_bundle,
            policy(witnesses=[witness_vkey], groups=[Group("w", 1, (WITNESS_NAME,))], quorum="w"),
            at,
            aml,
            "invalid",
            "QuorumError",
        ),
        (
            "quorum-met",
            "the same checkpoint cosigned by the witness",
            altered(checkpoint=cosign(parsed.checkpoint, WITNESS_NAME, WITNESS, time=clock[0])),
            policy(witnesses=[witness_vkey], groups=[Group("w", 1, (WITNESS_NAME,))], quorum="w"),
            at,
            aml,
            "valid",
            "",
        ),
        (
            "inclusion",
            "a hash of the certificate's inclusion proof flipped",
            altered(certificate=flipped_proof),
            policy(),
            at,
            aml,
            "invalid",
            "InclusionError",
        ),
        (
            "untrusted-root",
            "the delegation is signed by a root the policy does not list",
            main_bundle,
            policy(roots=[RootKey(other_root.public_key, ROOT_SCOPE)]),
            at,
            aml,
            "invalid",
            "KeyChainError",
        ),
        (
            "status-proof",
            "a hash of the certificate's status proof flipped",
            altered(certificate_status=flipped_status),
            policy(),
            at,
            aml,
            "invalid",
            "StatusProofError",
        ),
        (
            "status-of-another-certificate",
            "the status evidence of another certificate",
            altered(
                certificate_status=Bundle.from_cbor(ledger.bundle(revoked.id)).certificate_status
            ),
            policy(),
            at,
            aml,
            "invalid",
            "StatusProofError",
        ),
    ]
    # Later: the base NOC is upgraded to the licence.
    clock[0] = T0 + 91 * DAY
    upgraded_at = clock[0] + 3600
    ledger.issue(sample_licence(), AUTHORITY)
    cases += [
        (
            "superseded",
            "a NOC upgraded to a licence ends superseded, naming its successor",
            ledger.bundle(sample_noc().id),
            policy(),
            upgraded_at,
            aml,
            "superseded",
            "SupersededError",
        ),
        (
            "licence-valid",
            "the licence permits exchange services for retail customers in Dubai",
            ledger.bundle(sample_licence().id),
            policy(),
            upgraded_at,
            Query("va.exchange.fiat", "retail", "AE-DU", "asset:btc", Amount(50_000, "AED")),
            "valid",
            "",
        ),
    ]
    assert early_size == 7
    out: Vectors = {}
    for name, desc, bundle, pol, when, query, verdict, error in cases:
        out[f"verify/{name}.json"] = {
            "description": desc,
            "bundle": bundle.hex(),
            "policy": pol.decode(),
            "at": when,
            "query": _query_or_none(query),
            "expect": verdict,
            "error": error or None,
        }
    return out


# ---------------------------------------------------------------------------------------


def build_all() -> Vectors:
    """Every vector, keyed by its path relative to vectors/."""
    vectors: Vectors = {}
    for part in (
        encoding_vectors,
        key_vectors,
        certificate_vectors,
        merkle_vectors,
        scope_vectors,
        event_vectors,
        checkpoint_vectors,
        statusmap_vectors,
        log_vectors,
        verify_vectors,
    ):
        vectors.update(part())
    for v in vectors.values():
        v["format"] = FORMAT
    return vectors


def render(vector: dict[str, Any]) -> bytes:
    return (json.dumps(vector, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def write(out_dir: Path) -> int:
    """Write all vectors under ``out_dir`` (its generated sub-folders are replaced)."""
    vectors = build_all()
    for sub in {p.split("/")[0] for p in vectors}:
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    for rel, vector in sorted(vectors.items()):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(vector))
    return len(vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "vectors")
    args = parser.parse_args()
    count = write(args.out)
    print(f"wrote {count} vectors to {args.out}")


if __name__ == "__main__":
    main()
