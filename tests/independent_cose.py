"""An independent COSE_Sign1 verifier (pycose + cbor2 + OpenSSL), used to show that what
noc_ledger signs is ordinary RFC 9052 COSE that other implementations verify.

pycose 1.x predates RFC 9864 and knows Ed25519 only as the polymorphic EdDSA (-8); we
register the fully-specified Ed25519 identifier (-19) as the same algorithm, which is
exactly what RFC 9864 §2.2 defines it to be.
"""

from __future__ import annotations

from typing import Any

import cbor2
from pycose.algorithms import CoseAlgorithm, EdDSA
from pycose.keys.curves import Ed25519
from pycose.keys.okp import OKPKey
from pycose.messages.sign1message import Sign1Message


@CoseAlgorithm.register_attribute()
class Ed25519Fully(EdDSA):
    """RFC 9864 §2.2: Ed25519, alg -19."""

    identifier = -19
    fullname = "ED25519"


def pycose_verify(data: bytes, public_key: bytes) -> bytes:
    """Decode and verify with pycose; return the payload. Raises AssertionError on failure."""
    # pycose 1.1's own decode() expects cbor2 5.x, which returns arrays as lists; cbor2 6.x
    # returns tuples (and immutable maps) inside tags. Decode the tag with cbor2 here and
    # hand pycose the four parts, so that header parsing, the Sig_structure and the
    # signature check are all pycose's.
    item = cbor2.loads(data)
    assert isinstance(item, cbor2.CBORTag) and item.tag == 18, "pycose: not a COSE_Sign1"
    protected, unprotected, body, signature = item.value
    parts = [protected, dict(unprotected), body, signature]
    message: Any = Sign1Message.from_cose_obj(parts, True)
    message.key = OKPKey(crv=Ed25519, x=public_key)
    assert message.verify_signature(), "pycose: signature does not verify"
    payload = message.payload
    assert isinstance(payload, bytes)
    return payload
