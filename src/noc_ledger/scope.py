"""The scope language of spec/certificate.md §4–§6 (GUIDE D10): grants, the subset rule and
query evaluation.

A :class:`Scope` is a set of :class:`Grant` values; each grant is activity × customer types
× territory × products × limits × conditions precedent. Activities come from a versioned
vocabulary (:mod:`noc_ledger.vocabulary`). Two operations are defined once, here, and used
both at issuance and at verification:

* :func:`evaluate` — does this scope permit a :class:`Query`? (§6)
* :func:`is_within` / :func:`check_within` — is every query one scope permits also
  permitted by another? (§5, the subset rule)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from noc_ledger import _fields as f
from noc_ledger import codec
from noc_ledger.codec import CborValue
from noc_ledger.errors import DecodeError, ModelError, ScopeError
from noc_ledger.vocabulary import Vocabulary, load_vocabulary

__all__ = [
    "Amount",
    "Evaluation",
    "Grant",
    "Limit",
    "Query",
    "Scope",
    "Territory",
    "check_within",
    "evaluate",
    "is_within",
]

#: spec/certificate.md §4.3: ISO 3166-1 alpha-2 country, or ISO 3166-2 subdivision.
_COUNTRY_RE: Final = re.compile(r"^[A-Z]{2}$")
_SUBDIVISION_RE: Final = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
_UNIT_RE: Final = re.compile(r"^([A-Z]{3}|[a-z][a-z0-9_]{0,31})$")
#: spec/certificate.md §4.5: the closed list of limit metrics of version 1. Closed so that a
#: misspelt metric in a query is refused rather than silently matching no limit.
METRICS: Final = frozenset(
    {
        "per_transaction",
        "per_client_daily",
        "per_client_monthly",
        "client_assets_total",
        "client_count",
    }
)


def _metric(value: CborValue, what: str) -> str:
    f.token(value, what)
    if value not in METRICS:
        raise ModelError(f"{what}: {value!r} is not one of {sorted(METRICS)}")
    return str(value)


def _region(value: CborValue, what: str) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"{what}: expected a text string")
    if not (_COUNTRY_RE.match(value) or _SUBDIVISION_RE.match(value)):
        raise ModelError(f"{what}: {value!r} is not an ISO 3166-1 alpha-2 or 3166-2 code")
    return value


def _country(region: str) -> str:
    return region[:2]


def _is_country(region: str) -> bool:
    return len(region) == 2


@dataclass(frozen=True, slots=True)
class Territory:
    """Where a grant applies (spec §4.3): included regions minus excluded subdivisions.

    Raises (on construction):
        ModelError: no included region; a malformed code; a region included twice or
            both as a country and as one of its subdivisions; an exclusion that is not a
            subdivision of an included country.
    """

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        inc = f.sorted_set((_region(r, "territory include") for r in self.include), "include")
        exc = f.sorted_set((_region(r, "territory exclude") for r in self.exclude), "exclude")
        if not inc:
            raise ModelError("territory: at least one included region")
        countries = {r for r in inc if _is_country(r)}
        for r in inc:
            if not _is_country(r) and _country(r) in countries:
                raise ModelError(f"territory: {r} is already included by {_country(r)}")
        for r in exc:
            if _is_country(r) or _country(r) not in countries:
                raise ModelError(
                    f"territory: exclusion {r} must be a subdivision of an included country"
                )
        object.__setattr__(self, "include", inc)
        object.__setattr__(self, "exclude", exc)

    def permits(self, region: str) -> bool:
        """spec §6 step 3. A country is permitted only if all of it is (no subdivision of
        it excluded); a subdivision if it or its country is included and neither is
        excluded."""
        if region in self.exclude:
            return False
        if _is_country(region):
            return region in self.include and not any(_country(e) == region for e in self.exclude)
        return region in self.include or _country(region) in self.include

    def is_within(self, other: Territory) -> bool:
        """spec §5.3: every region this permits, ``other`` permits."""
        for r in self.include:
            if r in other.exclude or _country(r) in other.exclude:
                return False
            if r not in other.include and _country(r) not in other.include:
                return False
            if _is_country(r) and any(
                _country(e) == r and e not in self.exclude for e in other.exclude
            ):
                return False
        return True

    def to_item(self) -> CborValue:
        item: dict[int, CborValue] = {0: list(self.include)}
        if self.exclude:
            item[1] = list(self.exclude)
        return item

    @classmethod
    def from_item(cls, value: CborValue) -> Territory:
        m = f.fields(value, "territory", (0,), (1,))
        return cls(
            tuple(f.array(m[0], "territory include")),
            tuple(f.array(m[1], "territory exclude")) if 1 in m else (),
        )


@dataclass(frozen=True, slots=True)
class Limit:
    """A quantitative ceiling (spec §4.5), e.g. ``Limit("per_transaction", "AED", 55000)``.

    ``unit`` is an ISO 4217 currency code or a lowercase unit token such as ``count``.
    """

    metric: str
    unit: str
    maximum: int

    def __post_init__(self) -> None:
        _metric(self.metric, "limit metric")
        if not isinstance(self.unit, str) or not _UNIT_RE.match(self.unit):
            raise ModelError(f"limit unit {self.unit!r}: ISO 4217 code or lowercase token")
        f.check_uint(self.maximum, "limit maximum")

    def to_item(self) -> CborValue:
        return {0: self.metric, 1: self.unit, 2: self.maximum}

    @classmethod
    def from_item(cls, value: CborValue) -> Limit:
        m = f.fields(value, "limit", (0, 1, 2))
        if not isinstance(m[1], str):
            raise DecodeError("limit unit: expected a text string")
        return cls(_metric(m[0], "limit metric"), m[1], f.uint(m[2], "limit maximum"))


@dataclass(frozen=True, slots=True)
class Grant:
    """One permission (spec §4.1). Construct with any order of set members; they are
    stored sorted, as they are encoded.

    ``products_allowed`` empty means "all products" unless ``products_denied`` removes
    some; at most one of the two may be given (spec §4.4).

    Raises (on construction):
        ModelError: a malformed field, or a rule of spec §4 broken.
    """

    activity: str
    customer_types: tuple[str, ...]
    territory: Territory
    excluded_activities: tuple[str, ...] = ()
    products_allowed: tuple[str, ...] = ()
    products_denied: tuple[str, ...] = ()
    limits: tuple[Limit, ...] = ()
    conditions_precedent: tuple[str, ...] = ()
    # The grant's encoding, kept once computed: scopes sort grants by it.
    _encoded: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.activity, str):
            raise ModelError("grant activity: expected a text string")
        if not isinstance(self.territory, Territory):
            raise ModelError("grant territory: expected a Territory")
        cts = f.sorted_set(self.customer_types, "customer types")
        if not cts:
            raise ModelError("grant: at least one customer type")
        excl = f.sorted_set(self.excluded_activities, "excluded activities")
        allowed = f.sorted_set(
            (f.token(p, "product") for p in self.products_allowed), "products allowed"
        )
        denied = f.sorted_set(
            (f.token(p, "product") for p in self.products_denied), "products denied"
        )
        if allowed and denied:
            raise ModelError("grant: give products allowed or products denied, not both")
        limits = tuple(sorted(self.limits, key=lambda lim: (lim.metric, lim.unit)))
        if any(not isinstance(lim, Limit) for lim in limits):
            raise ModelError("grant limits: expected Limit values")
        keys = [(lim.metric, lim.unit) for lim in limits]
        if len(set(keys)) != len(keys):
            raise ModelError("grant: two limits with the same metric and unit")
        conds = f.sorted_set(
            (f.text(c, "condition precedent", max_len=1024) for c in self.conditions_precedent),
            "conditions precedent",
        )
        object.__setattr__(self, "customer_types", cts)
        object.__setattr__(self, "excluded_activities", excl)
        object.__setattr__(self, "products_allowed", allowed)
        object.__setattr__(self, "products_denied", denied)
        object.__setattr__(self, "limits", limits)
        object.__setattr__(self, "conditions_precedent", conds)

    def check_vocabulary(self, vocabulary: Vocabulary) -> None:
        """spec §4.2: the activity, exclusions and customer types exist in the vocabulary,
        and each exclusion is a strict descendant of the activity.

        Raises:
            ModelError: as above.
        """
        vocabulary.get(self.activity)
        vocabulary.covered(self.activity, self.excluded_activities)
        unknown = set(self.customer_types) - vocabulary.customer_types
        if unknown:
            raise ModelError(f"grant: unknown customer types {sorted(unknown)}")

    def permits(self, query: Query, vocabulary: Vocabulary) -> bool:
        """spec §6: this one grant permits ``query``."""
        # spec §6 step 1: a query for a parent asks for all of it, as a country query asks
        # for the whole country.
        wanted = vocabulary.descendants_or_self(query.activity)
        if not wanted <= vocabulary.covered(self.activity, self.excluded_activities):
            return False
        if query.customer_type not in self.customer_types:
            return False
        if not self.territory.permits(query.territory):
            return False
        if query.product is not None:
            if self.products_allowed and query.product not in self.products_allowed:
                return False
            if query.product in self.products_denied:
                return False
        if query.amount is not None:
            for lim in self.limits:
                if lim.metric != query.amount.metric:
                    continue
                # A limit in another unit cannot be compared without an exchange rate the
                # verifier does not have: not permitted (spec §6 step 5).
                if lim.unit != query.amount.unit or query.amount.value > lim.maximum:
                    return False
        return True

    def is_within(self, other: Grant, vocabulary: Vocabulary) -> bool:
        """spec §5.2: every query this grant permits, ``other`` permits."""
        mine = vocabulary.covered(self.activity, self.excluded_activities)
        if not mine <= vocabulary.covered(other.activity, other.excluded_activities):
            return False
        if not set(self.customer_types) <= set(other.customer_types):
            return False
        if not self.territory.is_within(other.territory):
            return False
        if other.products_allowed:
            if not self.products_allowed or not set(self.products_allowed) <= set(
                other.products_allowed
            ):
                return False
        elif other.products_denied:
            if self.products_allowed:
                if set(self.products_allowed) & set(other.products_denied):
                    return False
            elif not set(other.products_denied) <= set(self.products_denied):
                return False
        mine_limits = {(lim.metric, lim.unit): lim.maximum for lim in self.limits}
        for lim in other.limits:
            ceiling = mine_limits.get((lim.metric, lim.unit))
            if ceiling is None or ceiling > lim.maximum:
                return False
        return set(other.conditions_precedent) <= set(self.conditions_precedent)

    def to_item(self) -> CborValue:
        item: dict[int, CborValue] = {
            0: self.activity,
            2: list(self.customer_types),
            3: self.territory.to_item(),
        }
        if self.excluded_activities:
            item[1] = list(self.excluded_activities)
        if self.products_allowed:
            item[4] = list(self.products_allowed)
        if self.products_denied:
            item[5] = list(self.products_denied)
        if self.limits:
            item[6] = [lim.to_item() for lim in self.limits]
        if self.conditions_precedent:
            item[7] = list(self.conditions_precedent)
        return item

    @classmethod
    def from_item(cls, value: CborValue) -> Grant:
        m = f.fields(value, "grant", (0, 2, 3), (1, 4, 5, 6, 7))

        def strings(key: int, what: str) -> tuple[str, ...]:
            if key not in m:
                return ()
            items = f.array(m[key], what)
            if not all(isinstance(s, str) for s in items):
                raise DecodeError(f"{what}: expected text strings")
            return tuple(items)

        if not isinstance(m[0], str):
            raise DecodeError("grant activity: expected a text string")
        return cls(
            activity=m[0],
            excluded_activities=strings(1, "excluded activities"),
            customer_types=strings(2, "customer types"),
            territory=Territory.from_item(m[3]),
            products_allowed=strings(4, "products allowed"),
            products_denied=strings(5, "products denied"),
            limits=tuple(Limit.from_item(x) for x in f.array(m[6], "limits")) if 6 in m else (),
            conditions_precedent=strings(7, "conditions precedent"),
        )


def _grant_sort_key(grant: Grant) -> bytes:
    if grant._encoded is None:
        object.__setattr__(grant, "_encoded", codec.encode(grant.to_item()))
    assert grant._encoded is not None
    return grant._encoded


@dataclass(frozen=True, slots=True)
class Scope:
    """A set of grants under one vocabulary (spec §4). Grants are stored sorted by their
    encoding, as they are encoded, so equal scopes have equal bytes.

    Raises (on construction):
        ModelError: no grant, a duplicate grant, an unknown vocabulary, or a grant that
            does not fit the vocabulary.
    """

    grants: tuple[Grant, ...]
    vocabulary_id: str = field(default="noc-ledger-activities/1")

    def __post_init__(self) -> None:
        if not self.grants:
            raise ModelError("scope: at least one grant")
        if any(not isinstance(g, Grant) for g in self.grants):
            raise ModelError("scope: grants must be Grant values")
        vocabulary = load_vocabulary(self.vocabulary_id)
        for g in self.grants:
            g.check_vocabulary(vocabulary)
        ordered = tuple(sorted(self.grants, key=_grant_sort_key))
        if len(set(ordered)) != len(ordered):
            raise ModelError("scope: duplicate grant")
        object.__setattr__(self, "grants", ordered)

    @property
    def vocabulary(self) -> Vocabulary:
        return load_vocabulary(self.vocabulary_id)

    def activities(self) -> frozenset[str]:
        """Every activity id some grant covers."""
        v = self.vocabulary
        out: set[str] = set()
        for g in self.grants:
            out |= v.covered(g.activity, g.excluded_activities)
        return frozenset(out)

    def to_item(self) -> CborValue:
        return {0: self.vocabulary_id, 1: [g.to_item() for g in self.grants]}

    @classmethod
    def from_item(cls, value: CborValue) -> Scope:
        m = f.fields(value, "scope", (0, 1))
        if not isinstance(m[0], str):
            raise DecodeError("scope vocabulary: expected a text string")
        return cls(
            grants=tuple(Grant.from_item(g) for g in f.array(m[1], "grants", max_items=64)),
            vocabulary_id=m[0],
        )


@dataclass(frozen=True, slots=True)
class Amount:
    """An amount in a query, compared with limits of the same ``metric`` (spec §6)."""

    value: int
    unit: str
    metric: str = "per_transaction"

    def __post_init__(self) -> None:
        f.check_uint(self.value, "amount")
        if not isinstance(self.unit, str) or not _UNIT_RE.match(self.unit):
            raise ModelError(f"amount unit {self.unit!r}: ISO 4217 code or lowercase token")
        _metric(self.metric, "amount metric")


@dataclass(frozen=True, slots=True)
class Query:
    """What a relying party asks (spec §6): may the holder perform ``activity`` for a
    ``customer_type`` in ``territory``, optionally for ``product`` and ``amount``?

    Raises (on construction):
        ModelError: a malformed territory code or product token.
    """

    activity: str
    customer_type: str
    territory: str
    product: str | None = None
    amount: Amount | None = None

    def __post_init__(self) -> None:
        _region(self.territory, "query territory")
        if self.product is not None:
            f.token(self.product, "query product")


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The answer to a query (spec §6): the grants that permit it and the conditions
    precedent attached to them. ``permitted`` is true iff at least one grant matched."""

    permitted: bool
    grants: tuple[Grant, ...]
    conditions_precedent: tuple[str, ...]


def evaluate(scope: Scope, query: Query) -> Evaluation:
    """Evaluate ``query`` against ``scope`` (spec §6).

    Raises:
        ModelError: the query names an activity or customer type the scope's vocabulary
            does not define (a typo must not read as "not permitted").
    """
    vocabulary = scope.vocabulary
    vocabulary.get(query.activity)
    if query.customer_type not in vocabulary.customer_types:
        raise ModelError(f"unknown customer type {query.customer_type!r}")
    matched = tuple(g for g in scope.grants if g.permits(query, vocabulary))
    conditions = sorted({c for g in matched for c in g.conditions_precedent})
    return Evaluation(bool(matched), matched, tuple(conditions))


def _uncovered(inner: Scope, outer: Scope) -> list[Grant]:
    if inner.vocabulary_id != outer.vocabulary_id:
        return list(inner.grants)
    vocabulary = inner.vocabulary
    return [g for g in inner.grants if not any(g.is_within(h, vocabulary) for h in outer.grants)]


def is_within(inner: Scope, outer: Scope) -> bool:
    """The subset rule of spec §5: every grant of ``inner`` lies within one grant of
    ``outer``, under the same vocabulary. Sound (if true, every query ``inner`` permits
    ``outer`` permits) but deliberately not complete: a grant covered only by the union of
    several outer grants is not within."""
    return not _uncovered(inner, outer)


def check_within(inner: Scope, outer: Scope, *, what: str = "scope") -> None:
    """Like :func:`is_within`, raising instead of returning false.

    Raises:
        ScopeError: naming the first grant of ``inner`` that no grant of ``outer``
            contains.
    """
    missing = _uncovered(inner, outer)
    if missing:
        if inner.vocabulary_id != outer.vocabulary_id:
            raise ScopeError(
                f"{what}: vocabulary {inner.vocabulary_id} differs from {outer.vocabulary_id}"
            )
        raise ScopeError(f"{what}: grant for {missing[0].activity!r} exceeds the permitted scope")
