"""The closed, versioned, hierarchical activity vocabulary (GUIDE D10), shipped as data.

A grant in a certificate's scope names one activity from a vocabulary. Activity ids are
dotted paths: the parent of ``va.exchange.fiat`` is ``va.exchange``, whose parent is ``va``.
A grant of an activity covers the activity and all its descendants, minus the subtrees it
explicitly excludes (:meth:`Vocabulary.covered`). Two roots exist: ``prep`` (preparatory
activities, the only ones a NOC may grant) and ``va`` (operating activities, which need a
licence).

Each vocabulary version is one JSON file in this package (see ``README.md`` beside it). A
change of meaning is a new version in a new file, never an edit, because signed certificates
refer to activities by ``(vocabulary id, activity id)`` for ever.

This module is pure: the only I/O is reading the packaged JSON on first use.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, NoReturn

from noc_ledger.errors import ModelError

__all__ = [
    "DEFAULT_VOCABULARY_ID",
    "FATF_POINTS",
    "KIND_OPERATING",
    "KIND_PREPARATORY",
    "MAX_VOCABULARY_SIZE",
    "MICA_POINTS",
    "VARA_ACTIVITIES",
    "Activity",
    "Vocabulary",
    "load_vocabulary",
    "parse_vocabulary",
]

DEFAULT_VOCABULARY_ID: Final = "noc-ledger-activities/1"

KIND_PREPARATORY: Final = "preparatory"
KIND_OPERATING: Final = "operating"

# The kind every activity under each root must have. A NOC may grant only preparatory
# activities (GUIDE D10), so the root decides the kind and the data must agree with it.
_ROOT_KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {"prep": KIND_PREPARATORY, "va": KIND_OPERATING}
)

# Closed lists of the external references a mapping may name, in canonical order; a
# mapping list must follow this order.
# MiCA, Regulation (EU) 2023/1114, Art. 3(1)(16): the ten crypto-asset services.
MICA_POINTS: Final[tuple[str, ...]] = (
    "Art. 3(1)(16)(a)",  # custody and administration of crypto-assets on behalf of clients
    "Art. 3(1)(16)(b)",  # operation of a trading platform for crypto-assets
    "Art. 3(1)(16)(c)",  # exchange of crypto-assets for funds
    "Art. 3(1)(16)(d)",  # exchange of crypto-assets for other crypto-assets
    "Art. 3(1)(16)(e)",  # execution of orders for crypto-assets on behalf of clients
    "Art. 3(1)(16)(f)",  # placing of crypto-assets
    "Art. 3(1)(16)(g)",  # reception and transmission of orders on behalf of clients
    "Art. 3(1)(16)(h)",  # providing advice on crypto-assets
    "Art. 3(1)(16)(i)",  # providing portfolio management on crypto-assets
    "Art. 3(1)(16)(j)",  # providing transfer services on behalf of clients
)
# Dubai VARA, Virtual Assets and Related Activities Regulations 2023, Schedule 1, plus
# VA Issuance (VA Issuance Rulebook).
VARA_ACTIVITIES: Final[tuple[str, ...]] = (
    "Advisory Services",
    "Broker-Dealer Services",
    "Custody Services",
    "Exchange Services",
    "Lending and Borrowing Services",
    "VA Management and Investment Services",
    "VA Transfer and Settlement Services",
    "VA Issuance",
)
# FATF General Glossary, "virtual asset service provider", points (i) to (v).
FATF_POINTS: Final[tuple[str, ...]] = (
    "VASP (i)",  # exchange between virtual assets and fiat currencies
    "VASP (ii)",  # exchange between one or more forms of virtual assets
    "VASP (iii)",  # transfer of virtual assets
    "VASP (iv)",  # safekeeping and/or administration of virtual assets
    "VASP (v)",  # financial services related to an issuer's offer and/or sale
)
_MAPPING_VALUES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"mica": MICA_POINTS, "vara": VARA_ACTIVITIES, "fatf": FATF_POINTS}
)

# The largest vocabulary file parse_vocabulary accepts; the shipped one is a few kB.
MAX_VOCABULARY_SIZE: Final = 1 << 20

_ACTIVITY_ID_RE: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_CUSTOMER_TYPE_RE: Final = re.compile(r"[a-z][a-z0-9_]*")
_VOCABULARY_ID_RE: Final = re.compile(r"noc-ledger-activities/([1-9][0-9]{0,8})")

# Vocabulary id -> packaged file. Adding a version adds a line; no line is ever changed.
_PACKAGED_FILES: Final[Mapping[str, str]] = MappingProxyType(
    {"noc-ledger-activities/1": "activities-1.json"}
)


def _fail(message: str) -> NoReturn:
    raise ModelError(message)


def _check_text(value: object, where: str) -> str:
    """Return *value* if it is a non-empty, trimmed, printable UTF-8 string."""
    if not isinstance(value, str):
        _fail(f"{where}: expected a string, got {type(value).__name__}")
    if not value or value != value.strip():
        _fail(f"{where}: must be non-empty without leading or trailing whitespace")
    # isprintable() is also False for lone surrogates, which JSON escapes can produce.
    if not value.isprintable():
        _fail(f"{where}: must not contain control characters or lone surrogates")
    return value


def _check_mapping(values: object, framework: str, where: str) -> tuple[str, ...]:
    """Return *values* if it is a tuple of known references of *framework*, in canonical
    order and without duplicates."""
    allowed = _MAPPING_VALUES[framework]
    if not isinstance(values, tuple):
        _fail(f"{where}: {framework} mapping must be a tuple")
    positions: list[int] = []
    for value in values:
        if not isinstance(value, str) or value not in allowed:
            _fail(f"{where}: {value!r} is not a {framework} reference this vocabulary knows")
        positions.append(allowed.index(value))
    # Strictly increasing positions: no duplicates, and one canonical order for each set.
    if any(a >= b for a, b in itertools.pairwise(positions)):
        _fail(f"{where}: {framework} mapping has duplicates or is not in canonical order")
    return values


@dataclass(frozen=True, slots=True)
class Activity:
    """One activity of a vocabulary, with its mapping to MiCA, VARA and FATF terms.

    ``mica``, ``vara`` and ``fatf`` name the references (from :data:`MICA_POINTS`,
    :data:`VARA_ACTIVITIES`, :data:`FATF_POINTS`, in that order) that the activity itself
    falls within; preparatory activities map to nothing.

    Raises:
        ModelError: on construction, if a field has the wrong type, the id is not a dotted
            lowercase ASCII path, the kind is unknown, or a mapping names an unknown
            reference, repeats one, or is not in canonical order.
    """

    id: str
    label: str
    description: str
    kind: str
    mica: tuple[str, ...]
    vara: tuple[str, ...]
    fatf: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or _ACTIVITY_ID_RE.fullmatch(self.id) is None:
            _fail(f"activity id {self.id!r} is not a dotted lowercase ASCII path")
        _check_text(self.label, f"activity {self.id}: label")
        _check_text(self.description, f"activity {self.id}: description")
        if self.kind not in (KIND_PREPARATORY, KIND_OPERATING):
            _fail(f"activity {self.id}: unknown kind {self.kind!r}")
        _check_mapping(self.mica, "mica", f"activity {self.id}")
        _check_mapping(self.vara, "vara", f"activity {self.id}")
        _check_mapping(self.fatf, "fatf", f"activity {self.id}")

    @property
    def parent(self) -> str | None:
        """The id of the parent activity, or ``None`` for a root."""
        parent, dot, _ = self.id.rpartition(".")
        return parent if dot else None


@dataclass(frozen=True)
class Vocabulary:
    """A whole vocabulary: its id and version, its activities by id, its customer types.

    ``activities`` is a read-only mapping (a copy of what was passed in).

    Raises:
        ModelError: on construction, if the id is not ``noc-ledger-activities/<version>``,
            the mapping's keys differ from the activities' ids, an activity's parent is
            missing, an activity lies outside the roots ``prep`` and ``va`` or has the wrong
            kind for its root, a preparatory activity has mappings, a parent's mappings do
            not include its children's, or the customer types are empty or malformed.
    """

    id: str
    version: int
    activities: Mapping[str, Activity] = field(hash=False)
    customer_types: frozenset[str]
    # Answers of descendants_or_self/covered, which scope checks ask again and again; the
    # vocabulary is immutable, so they never go stale.
    _memo: dict[object, frozenset[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.version, int) or isinstance(self.version, bool):
            _fail(f"vocabulary version must be an integer, got {self.version!r}")
        match = _VOCABULARY_ID_RE.fullmatch(self.id) if isinstance(self.id, str) else None
        if match is None or int(match.group(1)) != self.version:
            _fail(f"vocabulary id {self.id!r} is not noc-ledger-activities/{self.version}")
        if not isinstance(self.activities, Mapping) or not self.activities:
            _fail("a vocabulary must have at least one activity")
        activities = dict(self.activities)
        for key, activity in activities.items():
            if not isinstance(activity, Activity) or key != activity.id:
                _fail(f"activities[{key!r}] is not the Activity with that id")
        for activity in activities.values():
            self._check_place(activity, activities)
        if not isinstance(self.customer_types, frozenset) or not self.customer_types:
            _fail("customer_types must be a non-empty frozenset")
        for customer_type in self.customer_types:
            if not isinstance(customer_type, str) or not _CUSTOMER_TYPE_RE.fullmatch(customer_type):
                _fail(f"customer type {customer_type!r} is not a lowercase ASCII name")
        # Frozen: the copy is stored behind a read-only view so no caller can change it.
        object.__setattr__(self, "activities", MappingProxyType(activities))

    @staticmethod
    def _check_place(activity: Activity, activities: Mapping[str, Activity]) -> None:
        """Check one activity against the hierarchy rules of the vocabulary."""
        root = activity.id.partition(".")[0]
        expected_kind = _ROOT_KINDS.get(root)
        if expected_kind is None:
            _fail(f"activity {activity.id}: root {root!r} is not one of {sorted(_ROOT_KINDS)}")
        if activity.kind != expected_kind:
            _fail(f"activity {activity.id}: kind {activity.kind!r}, but {root} is {expected_kind}")
        if activity.kind == KIND_PREPARATORY and (activity.mica or activity.vara or activity.fatf):
            _fail(f"activity {activity.id}: a preparatory activity maps to no regulated term")
        parent_id = activity.parent
        if parent_id is None:
            return
        parent = activities.get(parent_id)
        if parent is None:
            _fail(f"activity {activity.id}: parent {parent_id} is not in the vocabulary")
        # A grant of the parent covers the child, so whatever the child is recognised as,
        # the parent is too.
        for framework in ("mica", "vara", "fatf"):
            missing = set(getattr(activity, framework)) - set(getattr(parent, framework))
            if missing:
                _fail(
                    f"activity {parent_id}: {framework} mapping lacks {sorted(missing)} "
                    f"of its child {activity.id}"
                )

    def get(self, activity_id: str) -> Activity:
        """Return the activity with id *activity_id*.

        Raises:
            ModelError: if the vocabulary has no such activity.
        """
        activity = self.activities.get(activity_id) if isinstance(activity_id, str) else None
        if activity is None:
            _fail(f"unknown activity {activity_id!r} in vocabulary {self.id}")
        return activity

    def is_within(self, activity_id: str, ancestor_id: str) -> bool:
        """Whether *activity_id* is *ancestor_id* or one of its descendants.

        Raises:
            ModelError: if either id is not in the vocabulary.
        """
        self.get(activity_id)
        self.get(ancestor_id)
        # The dot matters: va.exchange_x is not within va.exchange.
        return activity_id == ancestor_id or activity_id.startswith(ancestor_id + ".")

    def descendants_or_self(self, activity_id: str) -> frozenset[str]:
        """The ids of *activity_id* and of all its descendants.

        Raises:
            ModelError: if *activity_id* is not in the vocabulary.
        """
        found = self._memo.get(activity_id)
        if found is not None:
            return found
        self.get(activity_id)
        prefix = activity_id + "."
        found = frozenset(a for a in self.activities if a == activity_id or a.startswith(prefix))
        self._memo[activity_id] = found
        return found

    def covered(self, activity_id: str, excluded: Iterable[str]) -> frozenset[str]:
        """The activity ids a grant of *activity_id* with exclusions *excluded* covers.

        That is ``descendants_or_self(activity_id)`` minus ``descendants_or_self(e)`` for
        each ``e`` in *excluded*. Repeated or nested exclusions change nothing; whether a
        grant may carry them is for the model to decide.

        Raises:
            ModelError: if *activity_id* or an excluded id is not in the vocabulary, an
                excluded id is not a strict descendant of *activity_id*, or *excluded* is a
                single string or not iterable.
        """
        if isinstance(excluded, str | bytes):
            _fail("excluded must be an iterable of activity ids, not a single string")
        try:
            exclusions = list(excluded)
        except TypeError:
            _fail(f"excluded must be an iterable of activity ids, not {type(excluded).__name__}")
        memo_key = (
            (activity_id, *exclusions) if all(isinstance(e, str) for e in exclusions) else None
        )
        if memo_key is not None and memo_key in self._memo:
            return self._memo[memo_key]
        result = set(self.descendants_or_self(activity_id))
        for excluded_id in exclusions:
            if excluded_id == activity_id or not self.is_within(excluded_id, activity_id):
                _fail(
                    f"excluded activity {excluded_id!r} is not a strict descendant of {activity_id}"
                )
            result -= self.descendants_or_self(excluded_id)
        found = frozenset(result)
        if memo_key is not None:
            self._memo[memo_key] = found
        return found

    def is_preparatory(self, activity_id: str) -> bool:
        """Whether *activity_id* is a preparatory activity (one a NOC may grant).

        Raises:
            ModelError: if *activity_id* is not in the vocabulary.
        """
        return self.get(activity_id).kind == KIND_PREPARATORY


# --- Parsing -----------------------------------------------------------------------------


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            _fail(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def _reject_float(text: str) -> NoReturn:
    _fail(f"JSON number {text} is not an integer")


def _reject_constant(text: str) -> NoReturn:
    _fail(f"JSON does not allow {text}")


def _object(value: object, where: str, fields: frozenset[str]) -> dict[str, Any]:
    """Return *value* if it is a JSON object with exactly the keys *fields*."""
    if not isinstance(value, dict):
        _fail(f"{where}: expected an object")
    missing = fields - value.keys()
    if missing:
        _fail(f"{where}: missing field(s) {sorted(missing)}")
    unknown = value.keys() - fields
    if unknown:
        _fail(f"{where}: unknown field(s) {sorted(unknown)}")
    return value


def _list(value: object, where: str, *, non_empty: bool) -> list[Any]:
    if not isinstance(value, list):
        _fail(f"{where}: expected an array")
    if non_empty and not value:
        _fail(f"{where}: must not be empty")
    return value


def _unique_ids(items: Iterable[Mapping[str, Any]], where: str) -> list[str]:
    ids: list[str] = []
    for item in items:
        if item["id"] in ids:
            _fail(f"{where}: duplicate id {item['id']!r}")
        ids.append(item["id"])
    return ids


_TOP_FIELDS: Final = frozenset({"id", "version", "sources", "customer_types", "activities"})
_SOURCE_FIELDS: Final = frozenset({"id", "title", "reference", "url"})
_CUSTOMER_TYPE_FIELDS: Final = frozenset({"id", "label", "description"})
_ACTIVITY_FIELDS: Final = frozenset({"id", "label", "description", "kind", "mappings"})
_MAPPING_FIELDS: Final = frozenset(_MAPPING_VALUES)


def _parse_sources(value: object) -> None:
    sources = [
        _object(s, f"sources[{i}]", _SOURCE_FIELDS)
        for i, s in enumerate(_list(value, "sources", non_empty=True))
    ]
    for i, source in enumerate(sources):
        for name in sorted(_SOURCE_FIELDS):
            _check_text(source[name], f"sources[{i}].{name}")
        if not source["url"].startswith("https://"):
            _fail(f"sources[{i}].url: must be an https URL")
    ids = _unique_ids(sources, "sources")
    # Every mapping framework has exactly one source document, and nothing else does.
    if set(ids) != set(_MAPPING_VALUES):
        _fail(f"sources: ids must be exactly {sorted(_MAPPING_VALUES)}, got {sorted(ids)}")


def _parse_customer_types(value: object) -> frozenset[str]:
    types = [
        _object(t, f"customer_types[{i}]", _CUSTOMER_TYPE_FIELDS)
        for i, t in enumerate(_list(value, "customer_types", non_empty=True))
    ]
    for i, customer_type in enumerate(types):
        for name in sorted(_CUSTOMER_TYPE_FIELDS):
            _check_text(customer_type[name], f"customer_types[{i}].{name}")
        if _CUSTOMER_TYPE_RE.fullmatch(customer_type["id"]) is None:
            _fail(f"customer_types[{i}].id: {customer_type['id']!r} is not a lowercase name")
    return frozenset(_unique_ids(types, "customer_types"))


def _parse_activity(value: object, where: str) -> Activity:
    obj = _object(value, where, _ACTIVITY_FIELDS)
    mappings = _object(obj["mappings"], f"{where}.mappings", _MAPPING_FIELDS)
    lists = {
        framework: tuple(
            _list(mappings[framework], f"{where}.mappings.{framework}", non_empty=False)
        )
        for framework in sorted(_MAPPING_FIELDS)
    }
    for name in ("id", "label", "description", "kind"):
        if not isinstance(obj[name], str):
            _fail(f"{where}.{name}: expected a string")
    return Activity(
        id=obj["id"],
        label=obj["label"],
        description=obj["description"],
        kind=obj["kind"],
        mica=lists["mica"],
        vara=lists["vara"],
        fatf=lists["fatf"],
    )


def parse_vocabulary(data: bytes) -> Vocabulary:
    """Parse and strictly validate a vocabulary file (the format of ``activities-*.json``).

    The bytes must be UTF-8 JSON (no byte-order mark, no duplicate keys, no floats, NaN or
    Infinity) holding exactly the fields the README names, and the result must satisfy every
    rule of :class:`Activity` and :class:`Vocabulary`.

    Raises:
        ModelError: for anything else: not bytes, over :data:`MAX_VOCABULARY_SIZE`, not
            UTF-8, not JSON, a missing or unknown field, a wrong type, a bad or duplicate
            id, a missing parent, a kind that disagrees with its root, or a bad mapping.
    """
    if not isinstance(data, bytes):
        _fail(f"a vocabulary is parsed from bytes, not {type(data).__name__}")
    if len(data) > MAX_VOCABULARY_SIZE:
        _fail(f"vocabulary is {len(data)} bytes, over the limit of {MAX_VOCABULARY_SIZE}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"vocabulary is not UTF-8: {exc}") from exc
    try:
        document = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    # ValueError: malformed JSON, a BOM, or an integer too long to convert; RecursionError:
    # nesting deeper than the decoder can follow.
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"vocabulary is not valid JSON: {exc}") from exc

    top = _object(document, "vocabulary", _TOP_FIELDS)
    version = top["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _fail(f"version: expected a positive integer, got {version!r}")
    if not isinstance(top["id"], str):
        _fail("id: expected a string")
    _parse_sources(top["sources"])
    customer_types = _parse_customer_types(top["customer_types"])
    activities: dict[str, Activity] = {}
    for i, item in enumerate(_list(top["activities"], "activities", non_empty=True)):
        activity = _parse_activity(item, f"activities[{i}]")
        if activity.id in activities:
            _fail(f"activities[{i}]: duplicate activity id {activity.id!r}")
        activities[activity.id] = activity
    return Vocabulary(
        id=top["id"], version=version, activities=activities, customer_types=customer_types
    )


# --- Loading the packaged files ----------------------------------------------------------


@functools.cache
def _load_packaged(vocabulary_id: str) -> Vocabulary:
    resource = importlib.resources.files(__name__).joinpath(_PACKAGED_FILES[vocabulary_id])
    try:
        data = resource.read_bytes()
    except OSError as exc:
        raise ModelError(f"packaged vocabulary {vocabulary_id} cannot be read: {exc}") from exc
    vocabulary = parse_vocabulary(data)
    if vocabulary.id != vocabulary_id:
        _fail(f"packaged file for {vocabulary_id} holds vocabulary {vocabulary.id}")
    return vocabulary


def load_vocabulary(vocabulary_id: str) -> Vocabulary:
    """Return the packaged vocabulary *vocabulary_id* (e.g. :data:`DEFAULT_VOCABULARY_ID`).

    The file is read and validated on first use and the result cached, so repeated calls
    return the same object.

    Raises:
        ModelError: if no vocabulary with that id is shipped, or its file is unreadable or
            invalid.
    """
    if not isinstance(vocabulary_id, str) or vocabulary_id not in _PACKAGED_FILES:
        _fail(f"unknown vocabulary {vocabulary_id!r}; known: {sorted(_PACKAGED_FILES)}")
    return _load_packaged(vocabulary_id)
