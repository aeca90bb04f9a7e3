"""A second, independent strict Ed25519 verifier, for tests only (GUIDE D3).

``noc_ledger.signing.verify_ed25519`` uses libsodium (PyNaCl). This module reaches the same
verdicts another way: pyca/cryptography (OpenSSL) checks the equation, and the checks
OpenSSL does not make are written here in pure Python from the curve definition
(RFC 8032 §5.1).

What OpenSSL does on its own: it rejects S >= L, hashes the received bytes of R and A, and
compares the *encoding* of [S]B - [k]A with the received R (cofactorless; a non-canonical R
can never match a canonical re-encoding). It accepts A and R of small order, and accepts a
non-canonical A (its decoder reduces y mod p). What this module adds: the rejection of a
non-canonical A (and, redundantly, R) and of an A or R of small order.

How this matches libsodium (``crypto_sign_ed25519_verify_detached``, ref10 ``open.c``;
PyNaCl 1.6.2 bundles libsodium 1.0.20-stable):

* S: ``(sig[63] & 240) && !sc25519_is_canonical(S)`` rejects exactly S >= L (a top nibble of
  0 means S < 2**252 < L).
* A: ``ge25519_is_canonical(pk)`` rejects only y >= p, i.e. the 19 values of the low 255 bits
  in [p, 2**255), whatever the sign bit. It does *not* reject x = 0 with the sign bit set
  (``0100..80``, ``ecff..ff``); libsodium's decoder accepts those as (0, 1) and (0, -1), and
  its small-order check then rejects them. RFC 8032 §5.1.3 step 4 (used here) rejects them
  at decoding instead: the x = 0 points are both of small order, so the verdict is the same.
* R: libsodium makes no canonicity check of R as such. It rejects the 14 encodings of the 8
  small-order points (canonical or not: a blocklist compared with the sign bit masked, or,
  in newer code, a small-order test of the decoded point); any other non-canonical R either
  does not decode or fails the final byte comparison, as in OpenSSL. Rejecting y >= p and
  x = 0 with the sign bit here is therefore redundant but changes no verdict.
* Of the 38 encodings with y >= p, 20 (y - p in {3, 4, 5, 6, 9, 10, 14, 15, 16, 18}, either
  sign) read mod p as ordinary points, not of small order: only the canonicity check
  rejects them as A. No vector can show it: a signature under such an A needs the discrete
  log of a point nobody chose. Every non-canonical encoding in the vectors is of a
  small-order point.
* Small order: libsodium tests membership of the 8-point torsion subgroup (blocklist or
  coordinates); here it is [8]P == identity on the decoded point, which is the definition.
  Mixed-order points (a prime-order part plus torsion) are not rejected, as by libsodium.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "L",
    "P",
    "cofactorless_equation_holds",
    "has_small_order",
    "is_on_curve",
    "small_order_encodings",
    "strict_point_ok",
    "verify_strict_reference",
]

#: The field prime and the order of the prime-order subgroup (RFC 8032 §5.1).
P: Final = 2**255 - 19
L: Final = 2**252 + 27742317777372353535851937790883648493
_D: Final = -121665 * pow(121666, -1, P) % P
_SQRT_M1: Final = pow(2, (P - 1) // 4, P)

#: Extended homogeneous coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z (§5.1.4).
_Point = tuple[int, int, int, int]
_IDENTITY: Final[_Point] = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    # RFC 8032 §5.1.4, complete addition formulas (also valid for doubling).
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * _D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _neg(p: _Point) -> _Point:
    x, y, z, t = p
    return (-x % P, y, z, -t % P)


def _mul(n: int, p: _Point) -> _Point:
    r = _IDENTITY
    while n:
        if n & 1:
            r = _add(r, p)
        p = _add(p, p)
        n >>= 1
    return r


def _equal(p: _Point, q: _Point) -> bool:
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _affine(p: _Point) -> tuple[int, int]:
    zi = pow(p[2], -1, P)
    return p[0] * zi % P, p[1] * zi % P


@functools.lru_cache(maxsize=4096)
def _decode(encoding: bytes, *, strict: bool = True) -> _Point | None:
    """RFC 8032 §5.1.3 point decoding, or None if it fails.

    ``strict=False`` reads a non-canonical encoding as libsodium's and OpenSSL's decoders
    do (y taken mod p, the sign bit of x = 0 ignored); only used to evaluate equations.
    """
    n = int.from_bytes(encoding, "little")
    sign, y = n >> 255, n & (2**255 - 1)
    if y >= P:  # step 1
        if strict:
            return None
        y -= P
    u, v = (y * y - 1) % P, (_D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P  # step 2
    if v * x * x % P == (-u) % P:  # step 3
        x = x * _SQRT_M1 % P
    if v * x * x % P != u:
        return None
    if x == 0 and sign and strict:  # step 4
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _small(point: _Point) -> bool:
    # [8]P = identity: three doublings, so cheap enough for every vector.
    return _equal(_mul(8, point), _IDENTITY)


def is_on_curve(encoding: bytes, *, strict: bool) -> bool:
    """Whether ``encoding`` decodes: per RFC 8032 §5.1.3 (``strict``), or leniently."""
    return _decode(encoding, strict=strict) is not None


def has_small_order(encoding: bytes) -> bool:
    """Whether ``encoding`` decodes (leniently) to a point with [8]P = identity."""
    point = _decode(encoding, strict=False)
    return point is not None and _small(point)


def _base() -> _Point:
    # RFC 8032 §5.1: B is the point with y = 4/5 and x positive (even).
    point = _decode((4 * pow(5, -1, P)).to_bytes(32, "little"))
    if point is None:  # pragma: no cover - a bug in _decode
        raise AssertionError("cannot decode the base point")
    return point


_BASE: Final = _base()


def _doublings(point: _Point, count: int) -> tuple[_Point, ...]:
    out = [point]
    for _ in range(count - 1):
        out.append(_add(out[-1], out[-1]))
    return tuple(out)


_BASE_DOUBLINGS: Final = _doublings(_BASE, 253)  # [2**i]B for i < 253; L < 2**253


def _mul_base(n: int) -> _Point:
    # [n]B for 0 <= n < L from the table of doublings: about twice as fast as _mul.
    r = _IDENTITY
    for i in range(n.bit_length()):
        if n >> i & 1:
            r = _add(r, _BASE_DOUBLINGS[i])
    return r


@functools.cache
def small_order_encodings() -> frozenset[bytes]:
    """Every 32-byte string that a lenient decoder reads as a point of small order.

    Computed from the curve, not transcribed: [L]Q lies in the torsion subgroup for any
    point Q; a Q is searched for whose [L]Q has order 8, and its multiples are the 8 torsion
    points. Each point's encodings are y or y + p (if below 2**255) with the sign bit of x,
    or either sign bit when x = 0.
    """
    y = 2
    while True:
        q = _decode(y.to_bytes(32, "little"))
        if q is not None:
            t = _mul(L, q)
            if not _equal(_mul(4, t), _IDENTITY):  # order 8
                break
        y += 1
    encodings = set()
    for i in range(8):
        x, y = _affine(_mul(i, t))
        for y_enc in (y, y + P):
            for sign in (0, 1):
                if y_enc < 2**255 and (x == 0 or x & 1 == sign):
                    encodings.add((y_enc | sign << 255).to_bytes(32, "little"))
    return frozenset(encodings)


def _k(r_enc: bytes, a_enc: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r_enc + a_enc + message).digest(), "little") % L


def cofactorless_equation_holds(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """[S]B = R + [k]A over the points that A and R decode to (leniently), S < L, and k
    hashed over the received bytes (RFC 8032 §5.1.7 step 3, without the factor 8).

    No check of canonicity or order: used to derive the vectors' expected verdicts
    independently of both libraries, not by :func:`verify_strict_reference`.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(public_key, strict=False)
    r = _decode(signature[:32], strict=False)
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = _k(signature[:32], public_key, message)
    return _equal(_add(_mul_base(s), _neg(_mul(k, a))), r)


def strict_point_ok(encoding: bytes) -> bool:
    """Canonical (y < p and, per RFC 8032 §5.1.3, no x = 0 with the sign bit set), on the
    curve, and not of small order. See the module docstring for libsodium's equivalent."""
    point = _decode(encoding)
    return point is not None and not _small(point)


def verify_strict_reference(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """The strict rule of GUIDE D3 (libsodium's), by an implementation other than libsodium.

    Returns False, never raises, on any input, including wrong types and lengths.
    """
    if not (
        isinstance(public_key, bytes)
        and isinstance(message, bytes)
        and isinstance(signature, bytes)
        and len(public_key) == 32
        and len(signature) == 64
    ):
        return False
    if int.from_bytes(signature[32:], "little") >= L:
        return False  # OpenSSL also rejects this; explicit to mirror libsodium's order.
    if not (strict_point_ok(public_key) and strict_point_ok(signature[:32])):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
