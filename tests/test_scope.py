"""spec/certificate.md §4–§6: the scope language, the subset rule and query evaluation."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from noc_ledger.errors import ModelError, ScopeError
from noc_ledger.scope import (
    Amount,
    Grant,
    Limit,
    Query,
    Scope,
    Territory,
    check_within,
    evaluate,
    is_within,
)
from noc_ledger.vocabulary import DEFAULT_VOCABULARY_ID, load_vocabulary

VOCAB = load_vocabulary(DEFAULT_VOCABULARY_ID)
ACTIVITIES = sorted(VOCAB.activities)
CUSTOMERS = sorted(VOCAB.customer_types)
COUNTRIES = ["AE", "SA", "BH"]
SUBDIVISIONS = ["AE-DU", "AE-AZ", "AE-SH", "SA-01"]
REGIONS = COUNTRIES + SUBDIVISIONS
PRODUCTS = ["asset:btc", "asset:eth", "category:stablecoin", "category:privacy"]
UNITS = ["AED", "USD"]
METRICS = ["per_transaction", "per_client_daily"]
CONDITIONS = ["Appoint an MLRO", "Capital of AED 1m paid in"]

UAE = Territory(("AE",))


def grant(activity: str, **kw: object) -> Grant:
    kw.setdefault("customer_types", ("retail", "professional", "institutional"))
    kw.setdefault("territory", UAE)
    return Grant(activity, **kw)  # type: ignore[arg-type]


def scope(*grants: Grant) -> Scope:
    return Scope(grants)


# --- evaluation, by example (spec §6) -------------------------------------------------

NOC = scope(
    grant("prep.aml_registration"),
    grant("prep.local_incorporation"),
    grant("prep.licence_application"),
)


def test_noc_permits_preparation_not_operation() -> None:
    ok = evaluate(NOC, Query("prep.aml_registration", "retail", "AE"))
    assert ok.permitted and ok.grants[0].activity == "prep.aml_registration"
    assert not evaluate(NOC, Query("va.exchange.fiat", "retail", "AE")).permitted
    assert not evaluate(NOC, Query("prep.aml_registration", "retail", "SA")).permitted


def test_parent_grants_children_unless_excluded() -> None:
    s = scope(grant("va.exchange", excluded_activities=("va.exchange.crypto",)))
    assert evaluate(s, Query("va.exchange.fiat", "retail", "AE")).permitted
    assert not evaluate(s, Query("va.exchange.crypto", "retail", "AE")).permitted
    # The parent as a whole is not: part of it is excluded (spec §6 step 1).
    assert not evaluate(s, Query("va.exchange", "retail", "AE")).permitted
    assert evaluate(scope(grant("va.exchange")), Query("va.exchange", "retail", "AE")).permitted


def test_territory_subdivisions() -> None:
    t = Territory(("AE",), ("AE-DU",))
    s = scope(grant("va.custody", territory=t))
    assert evaluate(s, Query("va.custody", "retail", "AE-AZ")).permitted
    assert not evaluate(s, Query("va.custody", "retail", "AE-DU")).permitted
    # All of AE is not permitted when part of it is excluded.
    assert not evaluate(s, Query("va.custody", "retail", "AE")).permitted
    only_dubai = scope(grant("va.custody", territory=Territory(("AE-DU",))))
    assert evaluate(only_dubai, Query("va.custody", "retail", "AE-DU")).permitted
    assert not evaluate(only_dubai, Query("va.custody", "retail", "AE")).permitted


def test_products_and_amounts() -> None:
    s = scope(
        grant(
            "va.exchange.fiat",
            customer_types=("retail",),
            products_denied=("category:privacy",),
            limits=(Limit("per_transaction", "AED", 50_000),),
            conditions_precedent=("Appoint an MLRO",),
        )
    )
    q = Query("va.exchange.fiat", "retail", "AE", "asset:btc", Amount(50_000, "AED"))
    result = evaluate(s, q)
    assert result.permitted and result.conditions_precedent == ("Appoint an MLRO",)
    assert not evaluate(s, Query("va.exchange.fiat", "retail", "AE", "category:privacy")).permitted
    over = Query("va.exchange.fiat", "retail", "AE", "asset:btc", Amount(50_001, "AED"))
    assert not evaluate(s, over).permitted
    # Another unit cannot be compared: not permitted.
    usd = Query("va.exchange.fiat", "retail", "AE", "asset:btc", Amount(1, "USD"))
    assert not evaluate(s, usd).permitted
    # Another metric is not limited.
    daily = Amount(10**9, "AED", "per_client_daily")
    assert evaluate(s, Query("va.exchange.fiat", "retail", "AE", None, daily)).permitted
    assert not evaluate(s, Query("va.exchange.fiat", "professional", "AE")).permitted


def test_query_with_unknown_terms_is_an_error_not_a_no() -> None:
    with pytest.raises(ModelError):
        evaluate(NOC, Query("va.exchange.fiats", "retail", "AE"))
    with pytest.raises(ModelError):
        evaluate(NOC, Query("prep.aml_registration", "retailer", "AE"))
    with pytest.raises(ModelError):
        Query("prep.aml_registration", "retail", "UAE")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Territory(()),
        lambda: Territory(("AE", "AE")),
        lambda: Territory(("AE", "AE-DU")),
        lambda: Territory(("AE",), ("SA-01",)),
        lambda: Territory(("AE",), ("AE",)),
        lambda: Territory(("ae",)),
        lambda: scope(grant("va.exchange", excluded_activities=("va.custody",))),
        lambda: scope(grant("va.exchange", excluded_activities=("va.exchange",))),
        lambda: scope(grant("va.nothing")),
        lambda: scope(grant("va.custody", customer_types=("pensioners",))),
        lambda: grant("va.custody", customer_types=()),
        lambda: grant("va.custody", products_allowed=("a",), products_denied=("b",)),
        lambda: grant("va.custody", products_allowed=("Bad Token",)),
        lambda: grant(
            "va.custody",
            limits=(Limit("per_transaction", "AED", 1), Limit("per_transaction", "AED", 2)),
        ),
        lambda: Limit("per_transaction", "aed!", 1),
        lambda: Limit("per_transacton", "AED", 1),  # misspelt metric: closed list
        lambda: Amount(5, "AED", "per_transacton"),
        lambda: Limit("per_transaction", "AED", -1),
        scope,
        lambda: scope(grant("va.custody"), grant("va.custody")),
        lambda: Scope((grant("va.custody"),), vocabulary_id="noc-ledger-activities/99"),
        lambda: grant("va.custody", conditions_precedent=("line\nbreak",)),
    ],
)
def test_invalid_scopes_raise_model_error(build: object) -> None:
    with pytest.raises(ModelError):
        build()  # type: ignore[operator]


def test_check_within_names_the_offending_grant() -> None:
    outer = scope(grant("prep"))
    check_within(NOC, outer)
    with pytest.raises(ScopeError, match=r"va\.custody"):
        check_within(scope(grant("va.custody")), outer)


def test_sets_are_normalised() -> None:
    a = grant("va.custody", customer_types=("retail", "institutional"))
    b = grant("va.custody", customer_types=("institutional", "retail"))
    assert a == b and Scope((a, grant("va.advisory"))) == Scope((grant("va.advisory"), b))


# --- properties (spec §5, §6) ---------------------------------------------------------


def _try(build: object) -> object:
    try:
        return build()  # type: ignore[operator]
    except ModelError:
        return None


_INC = st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3, unique=True)
_EXC = st.lists(st.sampled_from(SUBDIVISIONS), max_size=2, unique=True)
_PRODUCTS = st.lists(st.sampled_from(PRODUCTS), max_size=2, unique=True)
_CUSTOMERS = st.lists(st.sampled_from(CUSTOMERS), min_size=1, unique=True)
_CONDITIONS = st.lists(st.sampled_from(CONDITIONS), max_size=2, unique=True)
_LIMITS = st.lists(
    st.builds(
        Limit, st.sampled_from(METRICS), st.sampled_from(UNITS), st.sampled_from([100, 1000])
    ),
    max_size=2,
    unique_by=lambda lim: (lim.metric, lim.unit),
)
_BELOW = {a: sorted(VOCAB.descendants_or_self(a) - {a}) for a in ACTIVITIES}
_EXCLUSIONS = {
    a: st.lists(st.sampled_from(below), max_size=2, unique=True) if below else st.just([])
    for a, below in _BELOW.items()
}


@st.composite
def territories(draw: st.DrawFn) -> Territory:
    inc, exc = draw(_INC), draw(_EXC)
    t = _try(lambda: Territory(tuple(inc), tuple(exc)))
    assume(t is not None)
    return t  # type: ignore[return-value]


@st.composite
def grants(draw: st.DrawFn) -> Grant:
    activity = draw(st.sampled_from(ACTIVITIES))
    excl = draw(_EXCLUSIONS[activity])
    products = draw(_PRODUCTS)
    which = draw(st.sampled_from(["none", "allow", "deny"]))
    customers, territory, limits, conds = (
        draw(_CUSTOMERS),
        draw(territories()),
        draw(_LIMITS),
        draw(_CONDITIONS),
    )
    g = _try(
        lambda: Grant(
            activity,
            tuple(customers),
            territory,
            excluded_activities=tuple(excl),
            products_allowed=tuple(products) if which == "allow" and products else (),
            products_denied=tuple(products) if which == "deny" else (),
            limits=tuple(limits),
            conditions_precedent=tuple(conds),
        )
    )
    assume(g is not None)
    return g  # type: ignore[return-value]


@st.composite
def narrower(draw: st.DrawFn, g: Grant) -> Grant:
    """A grant within ``g`` by construction: each dimension narrowed or kept."""
    covered = sorted(VOCAB.covered(g.activity, g.excluded_activities))
    activity = draw(st.sampled_from(covered))
    # Keep the outer exclusions that fall under the new activity.
    excl = {e for e in g.excluded_activities if VOCAB.is_within(e, activity) and e != activity}
    customers = draw(st.lists(st.sampled_from(g.customer_types), min_size=1, unique=True))
    inc: list[str] = []
    exc = set(g.territory.exclude)
    for r in g.territory.include:
        if draw(st.booleans()) or not inc:
            inc.append(r)
    exc = {e for e in exc if e[:2] in inc}
    if draw(st.booleans()):
        more = [s for s in SUBDIVISIONS if s[:2] in inc and s not in exc]
        if more:
            exc.add(draw(st.sampled_from(more)))
    allowed = set(g.products_allowed)
    denied = set(g.products_denied)
    if draw(st.booleans()):
        if allowed:
            allowed = set(draw(st.lists(st.sampled_from(sorted(allowed)), min_size=1, unique=True)))
        else:
            denied |= set(draw(st.lists(st.sampled_from(PRODUCTS), max_size=2, unique=True)))
    limits = [Limit(lim.metric, lim.unit, draw(st.integers(0, lim.maximum))) for lim in g.limits]
    conds = set(g.conditions_precedent) | set(
        draw(st.lists(st.sampled_from(CONDITIONS), max_size=1))
    )
    return Grant(
        activity,
        tuple(customers),
        Territory(tuple(inc), tuple(sorted(exc))),
        excluded_activities=tuple(sorted(excl)),
        products_allowed=tuple(sorted(allowed)),
        products_denied=() if allowed else tuple(sorted(denied)),
        limits=tuple(limits),
        conditions_precedent=tuple(sorted(conds)),
    )


scopes = st.lists(grants(), min_size=1, max_size=3, unique=True).map(lambda gs: Scope(tuple(gs)))


@st.composite
def narrower_scope(draw: st.DrawFn, s: Scope) -> Scope:
    chosen = draw(st.lists(st.sampled_from(s.grants), min_size=1, max_size=3))
    narrowed = {draw(narrower(g)) for g in chosen}
    return Scope(tuple(narrowed))


queries = st.builds(
    Query,
    st.sampled_from(ACTIVITIES),
    st.sampled_from(CUSTOMERS),
    st.sampled_from(REGIONS),
    st.one_of(st.none(), st.sampled_from(PRODUCTS)),
    st.one_of(
        st.none(),
        st.builds(
            Amount,
            st.sampled_from([50, 100, 500, 1000, 5000]),
            st.sampled_from(UNITS),
            st.sampled_from(METRICS),
        ),
    ),
)


@given(scopes)
def test_subset_is_reflexive(s: Scope) -> None:
    assert is_within(s, s)


@settings(max_examples=200)
@given(st.data())
def test_subset_is_transitive_and_narrowing_is_within(data: st.DataObject) -> None:
    c = data.draw(scopes)
    b = data.draw(narrower_scope(c))
    a = data.draw(narrower_scope(b))
    assert is_within(b, c) and is_within(a, b)
    assert is_within(a, c)


@settings(max_examples=100)
@given(scopes, scopes, scopes)
def test_subset_transitive_on_random_triples(a: Scope, b: Scope, c: Scope) -> None:
    if is_within(a, b) and is_within(b, c):
        assert is_within(a, c)


@settings(max_examples=300)
@given(st.data())
def test_query_permitted_by_subset_is_permitted_by_superset(data: st.DataObject) -> None:
    outer = data.draw(scopes)
    inner = data.draw(st.one_of(narrower_scope(outer), scopes))
    assume(is_within(inner, outer))
    for _ in range(10):
        q = data.draw(queries)
        if evaluate(inner, q).permitted:
            assert evaluate(outer, q).permitted, (inner, outer, q)


@settings(max_examples=300)
@given(scopes, st.lists(queries, min_size=5, max_size=5))
def test_adding_a_grant_never_removes_a_permission(s: Scope, qs: list[Query]) -> None:
    for q in qs:
        if evaluate(s, q).permitted:
            wider = Scope((*s.grants, grant("va")))
            assert evaluate(wider, q).permitted
