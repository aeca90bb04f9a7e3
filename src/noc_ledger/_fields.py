"""Shared checks used when turning decoded CBOR into model objects (spec/certificate.md §2).

Private to the package. Every function raises :class:`DecodeError` for a structural problem
(wrong type, unknown or missing key) and :class:`ModelError` for a value that is well-typed
but breaks a rule of the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from noc_ledger.codec import CborValue
from noc_ledger.errors import DecodeError, ModelError

#: Characters refused in any text field: C0 and C1 controls, and the Unicode bidi
#: overrides that can make a displayed name read differently from its bytes
#: (spec/certificate.md §2.3). Line feed is allowed only where a field says so.
_FORBIDDEN_TEXT: Final = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TOKEN_RE: Final = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")


def fields(
    value: CborValue, what: str, required: Iterable[int], optional: Iterable[int] = ()
) -> dict[int, CborValue]:
    """Narrow to a map whose keys are exactly the ``required`` ones plus any ``optional``.

    Raises:
        DecodeError: not a map, a missing required key, or a key the spec does not define.
    """
    if not isinstance(value, dict):
        raise DecodeError(f"{what}: expected a map")
    req = set(required)
    missing = req - value.keys()
    if missing:
        raise DecodeError(f"{what}: missing keys {sorted(missing)}")
    unknown = value.keys() - req - set(optional)
    if unknown:
        raise DecodeError(f"{what}: unknown keys {sorted(unknown, key=str)}")
    return value


def text(value: CborValue, what: str, *, max_len: int = 256, multiline: bool = False) -> str:
    """A non-empty text string of at most ``max_len`` characters without control characters.

    Raises:
        DecodeError: not a text string.
        ModelError: empty, too long, leading/trailing white space, or a forbidden character.
    """
    if not isinstance(value, str):
        raise DecodeError(f"{what}: expected a text string")
    if not value or len(value) > max_len:
        raise ModelError(f"{what}: must be 1 to {max_len} characters")
    if value != value.strip():
        raise ModelError(f"{what}: leading or trailing white space")
    if _FORBIDDEN_TEXT.search(value) or (not multiline and "\n" in value):
        raise ModelError(f"{what}: contains a control or bidi-override character")
    return value


def token(value: CborValue, what: str) -> str:
    """A lowercase token such as a product or metric name (spec/certificate.md §2.3)."""
    if not isinstance(value, str):
        raise DecodeError(f"{what}: expected a text string")
    if not TOKEN_RE.match(value):
        raise ModelError(f"{what}: {value!r} is not a token ([a-z0-9][a-z0-9._:-]*, <= 64)")
    return value


def uint(value: CborValue, what: str) -> int:
    """A decoded ``uint .lt 2**63`` (times, amounts, indexes).

    Raises:
        DecodeError: not an unsigned integer (a negative integer is another CBOR major
            type, spec/certificate.md §2.4).
        ModelError: not below 2**63.
    """
    if type(value) is not int or value < 0:
        raise DecodeError(f"{what}: expected an unsigned integer")
    if value >= (1 << 63):
        raise ModelError(f"{what}: must be below 2**63")
    return value


def check_uint(value: object, what: str) -> int:
    """The same range check for a value given through the Python API.

    Raises:
        ModelError: not an int in [0, 2**63).
    """
    if type(value) is not int or not 0 <= value < (1 << 63):
        raise ModelError(f"{what}: must be an integer in [0, 2**63)")
    return value


def array(value: CborValue, what: str, *, max_items: int = 256) -> list[CborValue]:
    """A non-empty array of at most ``max_items`` items (empty arrays are written as an
    absent key, spec/certificate.md §2.2, so that each value has one encoding)."""
    if not isinstance(value, list):
        raise DecodeError(f"{what}: expected an array")
    if not value or len(value) > max_items:
        raise ModelError(f"{what}: must hold 1 to {max_items} items")
    return value


def sorted_set(items: Iterable[str], what: str) -> tuple[str, ...]:
    """A canonical set of strings: sorted, no duplicates (spec/certificate.md §2.2)."""
    result = tuple(sorted(items))
    if len(set(result)) != len(result):
        raise ModelError(f"{what}: duplicate entries")
    return result
