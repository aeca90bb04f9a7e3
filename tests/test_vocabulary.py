"""Tests of the activity vocabulary (GUIDE D10): the shipped data, the hierarchy, covered(),
the mappings, and the strict parser (one test per kind of malformed input)."""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger.errors import ModelError
from noc_ledger.vocabulary import (
    DEFAULT_VOCABULARY_ID,
    FATF_POINTS,
    KIND_OPERATING,
    KIND_PREPARATORY,
    MAX_VOCABULARY_SIZE,
    MICA_POINTS,
    VARA_ACTIVITIES,
    Activity,
    Vocabulary,
    load_vocabulary,
    parse_vocabulary,
)

REQUIRED_IDS = {
    "prep",
    "prep.aml_registration",
    "prep.local_incorporation",
    "prep.licence_application",
    "prep.office_setup",
    "prep.hiring",
    "prep.banking_relationship",
    "prep.systems_testing",
    "va",
    "va.exchange",
    "va.exchange.fiat",
    "va.exchange.crypto",
    "va.trading_platform",
    "va.broker_dealer",
    "va.broker_dealer.order_execution",
    "va.broker_dealer.reception_transmission",
    "va.custody",
    "va.transfer",
    "va.advisory",
    "va.portfolio_management",
    "va.placing",
    "va.lending_borrowing",
    "va.issuance",
}


def shipped_bytes() -> bytes:
    return (
        importlib.resources.files("noc_ledger.vocabulary")
        .joinpath("activities-1.json")
        .read_bytes()
    )


def shipped_doc() -> dict[str, Any]:
    doc = json.loads(shipped_bytes())
    assert isinstance(doc, dict)
    return doc


def encode(doc: object) -> bytes:
    return json.dumps(doc).encode("utf-8")


def activity_obj(doc: dict[str, Any], activity_id: str) -> dict[str, Any]:
    for item in doc["activities"]:
        if item["id"] == activity_id:
            assert isinstance(item, dict)
            return item
    raise AssertionError(activity_id)


def new_activity(activity_id: str, kind: str = KIND_OPERATING) -> dict[str, Any]:
    return {
        "id": activity_id,
        "label": "Test activity",
        "description": "An activity added by a test.",
        "kind": kind,
        "mappings": {"mica": [], "vara": [], "fatf": []},
    }


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return load_vocabulary(DEFAULT_VOCABULARY_ID)


# --- The shipped file --------------------------------------------------------------------


def test_shipped_vocabulary_loads(vocab: Vocabulary) -> None:
    assert vocab.id == DEFAULT_VOCABULARY_ID == "noc-ledger-activities/1"
    assert vocab.version == 1
    assert vocab.customer_types == frozenset({"retail", "professional", "institutional"})
    assert set(vocab.activities) >= REQUIRED_IDS


def test_load_is_cached(vocab: Vocabulary) -> None:
    assert load_vocabulary(DEFAULT_VOCABULARY_ID) is vocab


def test_load_equals_parse_of_shipped_bytes(vocab: Vocabulary) -> None:
    parsed = parse_vocabulary(shipped_bytes())
    assert parsed == vocab
    assert hash(parsed) == hash(vocab)


@pytest.mark.parametrize(
    "vocabulary_id",
    ["noc-ledger-activities/2", "noc-ledger-activities/01", "", "activities-1.json", 1, None],
)
def test_load_unknown_vocabulary_raises(vocabulary_id: Any) -> None:
    with pytest.raises(ModelError):
        load_vocabulary(vocabulary_id)


def test_activities_are_read_only(vocab: Vocabulary) -> None:
    with pytest.raises(TypeError):
        vocab.activities["va.new"] = vocab.get("va")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        vocab.get("va").label = "changed"  # type: ignore[misc]


def test_vocabulary_copies_the_mapping_it_is_given(vocab: Vocabulary) -> None:
    activities = dict(vocab.activities)
    copy_ = Vocabulary(vocab.id, vocab.version, activities, vocab.customer_types)
    activities.pop("va.issuance")
    assert "va.issuance" in copy_.activities


def test_no_marketing_activity(vocab: Vocabulary) -> None:
    # A NOC permits no marketing to the public; a prohibition is not a grantable activity.
    assert not any("marketing" in activity_id for activity_id in vocab.activities)


def test_get(vocab: Vocabulary) -> None:
    activity = vocab.get("va.exchange.fiat")
    assert activity.id == "va.exchange.fiat"
    assert activity.kind == KIND_OPERATING
    assert activity.mica == ("Art. 3(1)(16)(c)",)
    assert activity.fatf == ("VASP (i)",)


@pytest.mark.parametrize("activity_id", ["va.unknown", "VA", "va.", "", "va.exchange.fiat.x", 3])
def test_get_unknown_raises(vocab: Vocabulary, activity_id: Any) -> None:
    with pytest.raises(ModelError):
        vocab.get(activity_id)


# --- Hierarchy ---------------------------------------------------------------------------


def test_parent() -> None:
    vocab = load_vocabulary(DEFAULT_VOCABULARY_ID)
    assert vocab.get("va.exchange.fiat").parent == "va.exchange"
    assert vocab.get("va.exchange").parent == "va"
    assert vocab.get("va").parent is None
    assert vocab.get("prep").parent is None


def test_every_parent_is_listed(vocab: Vocabulary) -> None:
    for activity in vocab.activities.values():
        if activity.parent is not None:
            assert activity.parent in vocab.activities


def test_roots_decide_kind(vocab: Vocabulary) -> None:
    roots = {a.id for a in vocab.activities.values() if a.parent is None}
    assert roots == {"prep", "va"}
    for activity_id in vocab.activities:
        assert vocab.is_preparatory(activity_id) == vocab.is_within(activity_id, "prep")
        expected = KIND_PREPARATORY if activity_id.startswith("prep") else KIND_OPERATING
        assert vocab.get(activity_id).kind == expected


def test_is_within(vocab: Vocabulary) -> None:
    assert vocab.is_within("va.exchange.fiat", "va.exchange.fiat")
    assert vocab.is_within("va.exchange.fiat", "va.exchange")
    assert vocab.is_within("va.exchange.fiat", "va")
    assert not vocab.is_within("va.exchange", "va.exchange.fiat")
    assert not vocab.is_within("va.exchange.fiat", "va.custody")
    assert not vocab.is_within("prep.hiring", "va")
    assert not vocab.is_within("va", "prep")


def test_is_within_unknown_raises(vocab: Vocabulary) -> None:
    with pytest.raises(ModelError):
        vocab.is_within("va.unknown", "va")
    with pytest.raises(ModelError):
        vocab.is_within("va.custody", "vax")


def test_descendants_or_self(vocab: Vocabulary) -> None:
    assert vocab.descendants_or_self("va.exchange") == {
        "va.exchange",
        "va.exchange.fiat",
        "va.exchange.crypto",
    }
    assert vocab.descendants_or_self("va.custody") == {"va.custody"}
    assert vocab.descendants_or_self("prep") == {a for a in vocab.activities if a[:4] == "prep"}
    with pytest.raises(ModelError):
        vocab.descendants_or_self("va.nope")


def test_prefix_is_not_ancestry() -> None:
    # "va.exchange_otc" starts with "va.exchange" but is its sibling, not its child.
    doc = shipped_doc()
    doc["activities"].append(new_activity("va.exchange_otc"))
    vocab = parse_vocabulary(encode(doc))
    assert not vocab.is_within("va.exchange_otc", "va.exchange")
    assert "va.exchange_otc" not in vocab.descendants_or_self("va.exchange")
    assert "va.exchange_otc" not in vocab.covered("va.exchange", [])


def test_staking_is_not_within_custody(vocab: Vocabulary) -> None:
    # VARA authorises staking from custody only expressly, so a custody grant excludes it.
    assert "va.staking" in vocab.activities
    assert not vocab.is_within("va.staking", "va.custody")


# --- covered() ---------------------------------------------------------------------------


def test_covered_without_exclusions(vocab: Vocabulary) -> None:
    for activity_id in vocab.activities:
        assert vocab.covered(activity_id, []) == vocab.descendants_or_self(activity_id)
        assert vocab.covered(activity_id, ()) == vocab.covered(activity_id, iter([]))


def test_covered_excludes_subtree(vocab: Vocabulary) -> None:
    covered = vocab.covered("va", ["va.exchange"])
    assert "va" in covered
    assert not {"va.exchange", "va.exchange.fiat", "va.exchange.crypto"} & covered
    assert covered == vocab.descendants_or_self("va") - vocab.descendants_or_self("va.exchange")


def test_covered_excludes_leaf_keeps_parent_and_sibling(vocab: Vocabulary) -> None:
    covered = vocab.covered("va.exchange", ["va.exchange.fiat"])
    assert covered == {"va.exchange", "va.exchange.crypto"}


def test_covered_several_exclusions(vocab: Vocabulary) -> None:
    covered = vocab.covered(
        "va", ["va.broker_dealer.order_execution", "va.custody", "va.exchange.crypto"]
    )
    assert "va.broker_dealer" in covered
    assert "va.broker_dealer.reception_transmission" in covered
    assert "va.exchange.fiat" in covered
    assert not {"va.broker_dealer.order_execution", "va.custody", "va.exchange.crypto"} & covered


def test_covered_repeated_and_nested_exclusions_are_harmless(vocab: Vocabulary) -> None:
    once = vocab.covered("va", ["va.exchange"])
    assert vocab.covered("va", ["va.exchange", "va.exchange"]) == once
    assert vocab.covered("va", ["va.exchange", "va.exchange.fiat"]) == once


def test_covered_is_monotone_under_attenuation(vocab: Vocabulary) -> None:
    # The subset rule of scopes compares covered sets; a narrower grant is a subset.
    assert vocab.covered("va.exchange", []) <= vocab.covered("va", ["va.custody"])
    assert not vocab.covered("va.exchange", []) <= vocab.covered("va", ["va.exchange.fiat"])


@pytest.mark.parametrize(
    ("activity_id", "excluded"),
    [
        ("va.exchange", ["va.exchange"]),  # itself
        ("va.exchange", ["va"]),  # an ancestor
        ("va.exchange", ["va.custody"]),  # outside the subtree
        ("va.exchange.fiat", ["va.exchange.crypto"]),  # a sibling
        ("va", ["prep.hiring"]),  # another root
        ("va", ["va.unknown"]),  # not in the vocabulary
        ("va.unknown", []),  # granted activity not in the vocabulary
        ("va", "va.exchange"),  # a single string, not an iterable of ids
        ("va", [None]),  # not a string
        ("va", None),  # not iterable
    ],
)
def test_covered_rejects_bad_exclusions(vocab: Vocabulary, activity_id: str, excluded: Any) -> None:
    with pytest.raises(ModelError):
        vocab.covered(activity_id, excluded)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_covered_properties(data: st.DataObject) -> None:
    vocab = load_vocabulary(DEFAULT_VOCABULARY_ID)
    activity_id = data.draw(st.sampled_from(sorted(vocab.activities)))
    strict = sorted(vocab.descendants_or_self(activity_id) - {activity_id})
    excluded = data.draw(st.lists(st.sampled_from(strict), max_size=4)) if strict else []
    covered = vocab.covered(activity_id, excluded)
    assert activity_id in covered
    assert covered <= vocab.descendants_or_self(activity_id)
    for covered_id in covered:
        assert not any(vocab.is_within(covered_id, e) for e in excluded)
    for candidate in vocab.descendants_or_self(activity_id) - covered:
        assert any(vocab.is_within(candidate, e) for e in excluded)


# --- Mappings ----------------------------------------------------------------------------


def non_root_operating(vocab: Vocabulary) -> list[Activity]:
    return [a for a in vocab.activities.values() if a.kind == KIND_OPERATING and a.parent]


@pytest.mark.parametrize("point", MICA_POINTS)
def test_every_mica_point_is_mapped(vocab: Vocabulary, point: str) -> None:
    assert any(point in a.mica for a in non_root_operating(vocab))


@pytest.mark.parametrize("point", FATF_POINTS)
def test_every_fatf_point_is_mapped(vocab: Vocabulary, point: str) -> None:
    assert any(point in a.fatf for a in non_root_operating(vocab))


@pytest.mark.parametrize("term", VARA_ACTIVITIES)
def test_every_vara_activity_is_mapped(vocab: Vocabulary, term: str) -> None:
    assert any(term in a.vara for a in non_root_operating(vocab))


def test_mica_points_are_one_to_one_with_leaves(vocab: Vocabulary) -> None:
    # Each MiCA service names exactly one leaf activity, so a grant can say which one.
    leaves = [
        a for a in non_root_operating(vocab) if vocab.descendants_or_self(a.id) == frozenset({a.id})
    ]
    for point in MICA_POINTS:
        assert len([a for a in leaves if point in a.mica]) == 1, point


def test_reference_lists() -> None:
    assert tuple(f"Art. 3(1)(16)({c})" for c in "abcdefghij") == MICA_POINTS
    assert FATF_POINTS == ("VASP (i)", "VASP (ii)", "VASP (iii)", "VASP (iv)", "VASP (v)")
    assert len(VARA_ACTIVITIES) == len(set(VARA_ACTIVITIES)) == 8


def test_preparatory_activities_map_to_nothing(vocab: Vocabulary) -> None:
    for activity in vocab.activities.values():
        if activity.kind == KIND_PREPARATORY:
            assert activity.mica == activity.vara == activity.fatf == ()


def test_parent_mappings_include_children(vocab: Vocabulary) -> None:
    for activity in vocab.activities.values():
        if activity.parent is not None:
            parent = vocab.get(activity.parent)
            assert set(activity.mica) <= set(parent.mica)
            assert set(activity.vara) <= set(parent.vara)
            assert set(activity.fatf) <= set(parent.fatf)


# --- parse_vocabulary rejects malformed input --------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: tuple[Any, ...], value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _act(activity_id: str, key: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        activity_obj(doc, activity_id)[key] = value

    return mutate


def _map(activity_id: str, framework: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        activity_obj(doc, activity_id)["mappings"][framework] = value

    return mutate


def _delete(*path: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _append_activity(activity: dict[str, Any]) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["activities"].append(activity)

    return mutate


def _remove_activity(activity_id: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["activities"] = [a for a in doc["activities"] if a["id"] != activity_id]

    return mutate


def _duplicate_activity(doc: dict[str, Any]) -> None:
    doc["activities"].append(copy.deepcopy(activity_obj(doc, "va.custody")))


def _duplicate_customer_type(doc: dict[str, Any]) -> None:
    doc["customer_types"].append(copy.deepcopy(doc["customer_types"][0]))


def _drop_fatf_source(doc: dict[str, Any]) -> None:
    doc["sources"] = [s for s in doc["sources"] if s["id"] != "fatf"]


def _activity_not_object(doc: dict[str, Any]) -> None:
    doc["activities"].append("va.new")


def _duplicate_source(doc: dict[str, Any]) -> None:
    doc["sources"].append(copy.deepcopy(doc["sources"][0]))


MUTATIONS: dict[str, Mutation] = {
    # top level
    "top_unknown_field": _set(("comment",), "x"),
    "top_missing_id": _delete("id"),
    "top_missing_version": _delete("version"),
    "top_missing_sources": _delete("sources"),
    "top_missing_customer_types": _delete("customer_types"),
    "top_missing_activities": _delete("activities"),
    "id_not_string": _set(("id",), 1),
    "id_wrong_family": _set(("id",), "other-activities/1"),
    "id_version_mismatch": _set(("id",), "noc-ledger-activities/2"),
    "id_leading_zero": _set(("id",), "noc-ledger-activities/01"),
    "version_zero": _set(("version",), 0),
    "version_negative": _set(("version",), -1),
    "version_bool": _set(("version",), True),
    "version_string": _set(("version",), "1"),
    # sources
    "sources_not_list": _set(("sources",), {}),
    "sources_empty": _set(("sources",), []),
    "source_missing_framework": _drop_fatf_source,
    "source_duplicate": _duplicate_source,
    "source_unknown_field": _set(("sources", 0, "note"), "x"),
    "source_missing_url": _delete("sources", 0, "url"),
    "source_url_not_https": _set(("sources", 0, "url"), "http://example.org/"),
    "source_unknown_id": _set(("sources", 0, "id"), "esma"),
    "source_title_empty": _set(("sources", 0, "title"), ""),
    # customer types
    "customer_types_empty": _set(("customer_types",), []),
    "customer_types_not_list": _set(("customer_types",), "retail"),
    "customer_type_not_object": _set(("customer_types", 0), "retail"),
    "customer_type_duplicate": _duplicate_customer_type,
    "customer_type_bad_id": _set(("customer_types", 0, "id"), "Retail"),
    "customer_type_missing_label": _delete("customer_types", 0, "label"),
    "customer_type_unknown_field": _set(("customer_types", 0, "order"), 1),
    # activities list
    "activities_not_list": _set(("activities",), {}),
    "activities_empty": _set(("activities",), []),
    "activity_not_object": _activity_not_object,
    "activity_unknown_field": _act("va.custody", "note", "x"),
    "activity_missing_label": _delete("activities", 0, "label"),
    "activity_missing_mappings": _delete("activities", 0, "mappings"),
    "activity_duplicate_id": _duplicate_activity,
    # activity ids
    "id_uppercase": _append_activity(new_activity("va.Custody2")),
    "id_leading_digit": _append_activity(new_activity("va.2custody")),
    "id_trailing_dot": _append_activity(new_activity("va.custody.")),
    "id_double_dot": _append_activity(new_activity("va..custody")),
    "id_hyphen": _append_activity(new_activity("va.custody-x")),
    "id_non_ascii": _append_activity(new_activity("va.cust\u00f6dy")),
    "id_trailing_newline": _append_activity(new_activity("va.custodyx\n")),
    "id_empty": _append_activity(new_activity("")),
    "id_number": _act("va.custody", "id", 7),
    # hierarchy
    "missing_parent": _append_activity(new_activity("va.options.call")),
    "parent_removed": _remove_activity("va.exchange"),
    "unknown_root": _append_activity(new_activity("misc", KIND_OPERATING)),
    "prep_kind_operating": _act("prep.hiring", "kind", KIND_OPERATING),
    "va_kind_preparatory": _act("va.advisory", "kind", KIND_PREPARATORY),
    "prep_child_operating": _append_activity(new_activity("prep.trial_trading")),
    "kind_unknown": _act("va.advisory", "kind", "licensed"),
    "kind_not_string": _act("va.advisory", "kind", None),
    # text fields
    "label_empty": _act("va.custody", "label", ""),
    "label_padded": _act("va.custody", "label", " Custody"),
    "label_not_string": _act("va.custody", "label", ["Custody"]),
    "description_control_char": _act("va.custody", "description", "Safe\u0007keeping."),
    "description_lone_surrogate": _act("va.custody", "description", "Safe\ud800keeping."),
    # mappings
    "mappings_not_object": _act("va.custody", "mappings", []),
    "mappings_unknown_framework": _map("va.custody", "esma", []),
    "mappings_missing_framework": _delete("activities", 0, "mappings", "fatf"),
    "mapping_not_list": _map("va.custody", "mica", "Art. 3(1)(16)(a)"),
    "mapping_element_not_string": _map("va.custody", "fatf", [4]),
    "mapping_unknown_mica_point": _map("va.custody", "mica", ["Art. 3(1)(16)(k)"]),
    "mapping_mica_wrong_spelling": _map("va.custody", "mica", ["Art. 3(1)(16)(A)"]),
    "mapping_unknown_vara_term": _map("va.custody", "vara", ["Custodian Services"]),
    "mapping_unknown_fatf_point": _map("va.custody", "fatf", ["VASP (vi)"]),
    "mapping_duplicate": _map("va.exchange.fiat", "fatf", ["VASP (i)", "VASP (i)"]),
    "mapping_not_canonical_order": _map("va.exchange", "fatf", ["VASP (ii)", "VASP (i)"]),
    "preparatory_with_mapping": _map("prep", "fatf", ["VASP (i)"]),
    "parent_lacks_child_mapping": _map("va.exchange", "fatf", ["VASP (i)"]),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS.values()), ids=list(MUTATIONS))
def test_parse_rejects_mutation(mutation: Mutation) -> None:
    doc = shipped_doc()
    mutation(doc)
    data = json.dumps(doc).encode("utf-8")
    with pytest.raises(ModelError) as excinfo:
        parse_vocabulary(data)
    assert excinfo.type is ModelError


def _with_raw(old: bytes, new: bytes) -> bytes:
    data = shipped_bytes()
    assert old in data
    return data.replace(old, new, 1)


RAW_INPUTS: dict[str, Any] = {
    "not_bytes_str": shipped_bytes().decode("utf-8"),
    "not_bytes_bytearray": bytearray(shipped_bytes()),
    "empty": b"",
    "not_json": b"{activities",
    "not_utf8": _with_raw(b"Custody and administration", b"Custody \xff administration"),
    "utf8_bom": b"\xef\xbb\xbf" + shipped_bytes(),
    "utf16": shipped_bytes().decode("utf-8").encode("utf-16"),
    "top_level_array": b"[]",
    "top_level_null": b"null",
    "trailing_garbage": shipped_bytes() + b"x",
    "duplicate_top_key": _with_raw(b'"version": 1,', b'"version": 1, "version": 1,'),
    "duplicate_activity_key": _with_raw(
        b'"kind": "preparatory",', b'"kind": "x", "kind": "preparatory",'
    ),
    "float_version": _with_raw(b'"version": 1,', b'"version": 1.0,'),
    "exponent_version": _with_raw(b'"version": 1,', b'"version": 1e0,'),
    "nan_version": _with_raw(b'"version": 1,', b'"version": NaN,'),
    "infinity_version": _with_raw(b'"version": 1,', b'"version": Infinity,'),
    "huge_integer": _with_raw(b'"version": 1,', b'"version": 1' + b"0" * 5000 + b","),
    "deep_nesting": b"[" * 200_000 + b"]" * 200_000,
    "oversize": b" " * (MAX_VOCABULARY_SIZE + 1) + shipped_bytes(),
}


@pytest.mark.parametrize("data", list(RAW_INPUTS.values()), ids=list(RAW_INPUTS))
def test_parse_rejects_raw_input(data: Any) -> None:
    with pytest.raises(ModelError) as excinfo:
        parse_vocabulary(data)
    assert excinfo.type is ModelError


def test_parse_accepts_shipped_bytes_with_whitespace() -> None:
    # Insignificant JSON whitespace is not a change of content.
    assert parse_vocabulary(b"\n" + shipped_bytes() + b"\n") == parse_vocabulary(shipped_bytes())


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_byte_mutations_give_vocabulary_or_model_error(data: st.DataObject) -> None:
    original = shipped_bytes()
    buffer = bytearray(original)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        index = data.draw(st.integers(min_value=0, max_value=len(buffer) - 1))
        buffer[index] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        result = parse_vocabulary(bytes(buffer))
    except ModelError:
        return
    assert isinstance(result, Vocabulary)


# --- Direct construction is validated too ------------------------------------------------


def test_activity_rejects_bad_values() -> None:
    good: dict[str, Any] = {
        "id": "va.custody",
        "label": "Custody",
        "description": "Safekeeping.",
        "kind": KIND_OPERATING,
        "mica": ("Art. 3(1)(16)(a)",),
        "vara": ("Custody Services",),
        "fatf": ("VASP (iv)",),
    }
    Activity(**good)
    for key, value in [
        ("id", "Va"),
        ("kind", "other"),
        ("mica", ["Art. 3(1)(16)(a)"]),
        ("vara", ("Custody",)),
        ("fatf", ("VASP (iv)", "VASP (iv)")),
        ("label", ""),
    ]:
        with pytest.raises(ModelError):
            Activity(**{**good, key: value})


def test_vocabulary_rejects_key_mismatch(vocab: Vocabulary) -> None:
    activities = dict(vocab.activities)
    activities["va.other"] = activities.pop("va.issuance")
    with pytest.raises(ModelError):
        Vocabulary(vocab.id, vocab.version, activities, vocab.customer_types)


def test_vocabulary_rejects_bad_customer_types(vocab: Vocabulary) -> None:
    with pytest.raises(ModelError):
        Vocabulary(vocab.id, vocab.version, vocab.activities, frozenset())
    with pytest.raises(ModelError):
        Vocabulary(vocab.id, vocab.version, vocab.activities, frozenset({"Retail"}))
