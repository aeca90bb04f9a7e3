"""spec/policy.md: the verifier's trust policy (GUIDE D9).

The complete example of spec/policy.md §9 is read from the spec and checked against its keys
and the canonical form, so the text cannot drift from the code. Each rule of §3-§5 has one
malformed file that must fail with PolicyError; quorum evaluation is compared with a brute-force
evaluator; random and mutated files give a policy or a PolicyError, never another exception.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import random
import re
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import codec
from noc_ledger.errors import ModelError, PolicyError
from noc_ledger.note import SIG_TYPE_COSIGNATURE_V1, Verifier
from noc_ledger.policy import (
    MAX_POLICY_SIZE,
    MAX_STATUS_AGE,
    Group,
    RootKey,
    TrustPolicy,
    encode_policy,
    make_policy,
    parse_policy,
)
from noc_ledger.scope import Grant, Scope, Territory
from noc_ledger.signing import Ed25519Signer
from tests.conftest import ROOT

PROPERTY = settings(max_examples=200, deadline=None, database=None)

CUSTOMERS = ("institutional", "professional", "retail")
AE = Territory(("AE",))


def _key(label: str) -> bytes:
    """A 32-byte public key for tests that never verify a signature with it."""
    return hashlib.sha256(label.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def log_key(name: str, label: str | None = None) -> Verifier:
    return Verifier.for_key(name, _key(label or "log " + name))


def witness_key(name: str, label: str | None = None) -> Verifier:
    return Verifier.for_key(
        name, _key(label or "witness " + name), sig_type=SIG_TYPE_COSIGNATURE_V1
    )


SCOPE_A = Scope((Grant("prep", CUSTOMERS, AE), Grant("va", CUSTOMERS, AE)))
SCOPE_B = Scope((Grant("va.custody", ("institutional",), Territory(("AE-DU",))),))
SCOPES = (SCOPE_A, SCOPE_B)


def scope_b64(scope: Scope) -> str:
    return _b64(codec.encode(scope.to_item()))


# ---------------------------------------------------------------------------------------
# The spec's example (spec/policy.md §9)


def _spec_example() -> bytes:
    text = (ROOT / "spec" / "policy.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example:begin -->\n```\n(.*?)```\n<!-- example:end -->", text, re.S)
    assert match, "spec/policy.md §9 example block not found"
    return match.group(1).encode("utf-8")


EXAMPLE = _spec_example()


def _seed_key(label: str) -> bytes:
    return Ed25519Signer(hashlib.sha256(label.encode()).digest()).public_key


W1, W2, W3 = (f"witness.example/w{i}" for i in (1, 2, 3))


def test_spec_example_parses_with_its_keys() -> None:
    policy = parse_policy(EXAMPLE)
    assert policy.authority == "Example Virtual Assets Regulatory Authority"
    root = policy.root_for(_seed_key("noc-ledger example root key"))
    assert root is not None and root.scope == SCOPE_A
    assert len(codec.encode(SCOPE_A.to_item())) == 126  # as the spec says
    log = policy.log_for("log.noc-ledger.example")
    assert log == Verifier.for_key(
        "log.noc-ledger.example", _seed_key("noc-ledger example log key")
    )
    seeds = (
        "noc-ledger example witness key",
        *(f"noc-ledger example witness key {i}" for i in (2, 3)),
    )
    for name, seed in zip((W1, W2, W3), seeds, strict=True):
        assert policy.witnesses[name] == Verifier.for_key(
            name, _seed_key(seed), sig_type=SIG_TYPE_COSIGNATURE_V1
        )
    assert policy.quorum == "witnessed"
    assert policy.max_status_age == 86400
    # The combinations the spec's prose names.
    assert policy.quorum_satisfied([W1, W3])
    assert not policy.quorum_satisfied([W2, W3])
    assert not policy.quorum_satisfied([W1])


def test_spec_example_keys_match_checkpoint_example() -> None:
    # spec/policy.md §9 says the log and w1 are those of spec/checkpoint.md §7.
    checkpoint = (ROOT / "spec" / "checkpoint.md").read_text(encoding="utf-8")
    policy = parse_policy(EXAMPLE)
    assert policy.logs["log.noc-ledger.example"].encode() in checkpoint
    assert policy.witnesses[W1].encode() in checkpoint


def test_spec_example_is_canonical_without_comments() -> None:
    stripped = b"".join(
        line + b"\n" for line in EXAMPLE.split(b"\n")[:-1] if line and not line.startswith(b"#")
    )
    assert encode_policy(parse_policy(EXAMPLE)) == stripped


def test_spec_example_equals_built_policy() -> None:
    built = make_policy(
        authority="Example Virtual Assets Regulatory Authority",
        roots=[RootKey(_seed_key("noc-ledger example root key"), SCOPE_A)],
        logs=[Verifier.for_key("log.noc-ledger.example", _seed_key("noc-ledger example log key"))],
        witnesses=[
            Verifier.for_key(n, _seed_key(s), sig_type=SIG_TYPE_COSIGNATURE_V1)
            for n, s in (
                (W3, "noc-ledger example witness key 3"),
                (W1, "noc-ledger example witness key"),
                (W2, "noc-ledger example witness key 2"),
            )
        ],
        # Any order in a value; canonical order in the encoding.
        groups=[Group("witnessed", 2, (W1, "outside")), Group("outside", 1, (W3, W2))],
        quorum="witnessed",
        max_status_age=86400,
    )
    assert built == parse_policy(EXAMPLE)
    assert hash(built) == hash(parse_policy(EXAMPLE))


def test_parse_accepts_str() -> None:
    assert parse_policy(EXAMPLE.decode("utf-8")) == parse_policy(EXAMPLE)
    with pytest.raises(PolicyError):
        parse_policy("noc-ledger-policy 1\n# \ud800\n")


# ---------------------------------------------------------------------------------------
# A small valid policy, and one malformed variant per rule (spec §3-§5)

ROOT_KEY = _key("root 0")
LOG = log_key("log.example")
WA, WB, WC = (witness_key(n) for n in ("wa", "wb", "wc"))


def base_lines() -> list[str]:
    return [
        "# a comment",
        "noc-ledger-policy 1",
        "",
        "authority Test Authority",
        f"root {_b64(ROOT_KEY)} {scope_b64(SCOPE_A)}",
        f"log {LOG.encode()}",
        f"witness wa {WA.encode()}",
        f"witness wb {WB.encode()}",
        f"witness wc {WC.encode()}",
        "group two 2 wa wb",
        "group top all two wc",
        "quorum top",
        "max-status-age 3600",
    ]


def render(lines: Iterable[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


BASE = render(base_lines())


def test_base_policy_parses() -> None:
    policy = parse_policy(BASE)
    assert policy.groups["top"] == Group("top", 2, ("two", "wc"))
    assert policy.quorum_satisfied(["wa", "wb", "wc"])
    assert not policy.quorum_satisfied(["wa", "wc"])


def _replace(prefix: str, *new: str) -> Callable[[list[str]], list[str]]:
    """Replace the first line starting with ``prefix`` by ``new`` (zero or more lines)."""

    def edit(lines: list[str]) -> list[str]:
        i = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        return lines[:i] + list(new) + lines[i + 1 :]

    return edit


def _insert_before(prefix: str, *new: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        i = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        return lines[:i] + list(new) + lines[i:]

    return edit


def _append(*new: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: lines + list(new)


ROOT_LINE = f"root {_b64(ROOT_KEY)} {scope_b64(SCOPE_A)}"
LOG_VKEY = LOG.encode()
# The witness key 'wa' wraps, as a type-0x01 log key (and the log's key as a witness key).
WA_AS_LOG = Verifier.for_key("wa", WA.public_key).encode()
LOG_AS_WITNESS = Verifier.for_key(
    "log.example", LOG.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1
).encode()
OTHER_WITNESS = witness_key("wd").encode()


SCOPE_A_CBOR = codec.encode(SCOPE_A.to_item())
#: A witness key that wraps the root key.
ROOT_AS_WITNESS = Verifier.for_key("wr", ROOT_KEY, sig_type=SIG_TYPE_COSIGNATURE_V1)


def _cbor_non_shortest_scope() -> str:
    raw = codec.encode(SCOPE_A.to_item())
    # The map header a2 (2 pairs) written with a one-byte argument: b8 02.
    assert raw[0] == 0xA2
    return _b64(b"\xb8\x02" + raw[1:])


def _grants_out_of_order_scope() -> str:
    item = SCOPE_A.to_item()
    item[1] = list(reversed(item[1]))
    raw = codec.encode(item)
    assert raw != codec.encode(SCOPE_A.to_item())
    return _b64(raw)


def _big_scope(size: int) -> Scope:
    conditions = tuple(f"condition {i:04d} " + "x" * 1000 for i in range(size))
    return Scope((Grant("prep", CUSTOMERS, AE, conditions_precedent=conditions),))


MALFORMED: dict[str, Callable[[list[str]], list[str]] | bytes] = {
    # §3: characters, lines, tokens, size
    "empty file": b"",
    "missing final LF": BASE[:-1],
    "oversize file": BASE + b"#" + b"x" * MAX_POLICY_SIZE + b"\n",
    "non-UTF-8 byte": BASE.replace(b"# a comment", b"# a \xff comment"),
    "overlong UTF-8": BASE.replace(b"# a comment", b"# a \xc0\xaf comment"),
    "UTF-8 surrogate": BASE.replace(b"# a comment", b"# a \xed\xa0\x80 comment"),
    "CRLF line endings": BASE.replace(b"\n", b"\r\n"),
    "CR alone": BASE.replace(b"quorum top\n", b"quorum top\r\n"),
    "tab between tokens": BASE.replace(b"quorum top", b"quorum\ttop"),
    "tab in comment": BASE.replace(b"# a comment", b"#\ta comment"),
    "double space": BASE.replace(b"quorum top", b"quorum  top"),
    "leading space": BASE.replace(b"quorum top", b" quorum top"),
    "trailing space": BASE.replace(b"quorum top", b"quorum top "),
    "blank line of spaces": BASE.replace(b"\n\n", b"\n \n"),
    "indented comment": BASE.replace(b"# a comment", b" # a comment"),
    "comment after directive": BASE.replace(b"quorum top", b"quorum top # the quorum"),
    "byte order mark": b"\xef\xbb\xbf" + BASE,
    "bidi override in comment": BASE.replace(b"# a comment", "# a \u202e comment".encode()),
    "NBSP in authority": BASE.replace(b"Test Authority", "Test\u00a0Authority".encode()),
    "line separator": BASE.replace(b"# a comment", "# a \u2028 comment".encode()),
    "NUL": BASE.replace(b"# a comment", b"# a \x00 comment"),
    # §3.1 / §5 step 6: the header
    "missing header": _replace("noc-ledger-policy"),
    "header not first": lambda ls: [*ls[:1], ls[3], ls[1], *ls[4:]],
    "unsupported version": _replace("noc-ledger-policy", "noc-ledger-policy 2"),
    "version not canonical": _replace("noc-ledger-policy", "noc-ledger-policy 01"),
    "header with extra token": _replace("noc-ledger-policy", "noc-ledger-policy 1 x"),
    "second header": _append("noc-ledger-policy 1"),
    "tlog-policy file without header": lambda ls: [f"log {LOG_VKEY}", "quorum none"],
    # §4.1 rule 4
    "unknown directive": _append("trust everything"),
    "keyword in capitals": _replace("quorum", "QUORUM top"),
    # §4.3 authority
    "authority twice": _append("authority Again"),
    "authority without name": _replace("authority", "authority"),
    "authority too long": _replace("authority", "authority " + "x" * 257),
    # §4.4 root
    "no root": _replace("root"),
    "root missing scope": _replace("root", f"root {_b64(ROOT_KEY)}"),
    "root extra token": _replace("root", ROOT_LINE + " x"),
    "root key bad base64": _replace("root", f"root {_b64(ROOT_KEY)[:-2]}!= {scope_b64(SCOPE_A)}"),
    "root key base64 non-zero padding bits": _replace(
        "root", f"root {_b64(ROOT_KEY)[:-2]}V= {scope_b64(SCOPE_A)}"
    ),
    "root key base64 without padding": _replace(
        "root", f"root {_b64(ROOT_KEY)[:-1]} {scope_b64(SCOPE_A)}"
    ),
    "root key 31 bytes": _replace("root", f"root {_b64(ROOT_KEY[:31])} {scope_b64(SCOPE_A)}"),
    "root scope bad base64": _replace("root", f"root {_b64(ROOT_KEY)} {scope_b64(SCOPE_A)[:-1]}"),
    "root scope non-canonical CBOR": _replace(
        "root", f"root {_b64(ROOT_KEY)} {_cbor_non_shortest_scope()}"
    ),
    "root scope grants out of order": _replace(
        "root", f"root {_b64(ROOT_KEY)} {_grants_out_of_order_scope()}"
    ),
    "root scope trailing bytes": _replace(
        "root", f"root {_b64(ROOT_KEY)} {_b64(SCOPE_A_CBOR + bytes(1))}"
    ),
    "root scope not a scope": _replace("root", f"root {_b64(ROOT_KEY)} {_b64(codec.encode(1))}"),
    "root scope unknown vocabulary": _replace(
        "root",
        f"root {_b64(ROOT_KEY)} "
        + _b64(codec.encode({0: "noc-ledger-activities/99", 1: SCOPE_A.to_item()[1]})),
    ),
    "duplicate root key": _append(f"root {_b64(ROOT_KEY)} {scope_b64(SCOPE_B)}"),
    "too many roots": _append(
        *(f"root {_b64(_key(f'root {i}'))} {scope_b64(SCOPE_B)}" for i in range(1, 17))
    ),
    # §4.5 log
    "no log": _replace("log "),
    "log with URL": _replace("log ", f"log {LOG_VKEY} https://log.example/"),
    "log vkey of type 0x04": _replace("log ", f"log {witness_key('log.example').encode()}"),
    "log vkey key id of 9 digits": _replace("log ", "log " + LOG_VKEY.replace("+", "+0", 1)),
    "log vkey without key id": _replace(
        "log ", "log " + LOG_VKEY.split("+")[0] + "+" + LOG_VKEY.split("+")[2]
    ),
    "log vkey key id mismatch": _replace(
        "log ", "log " + "log.example+00000000+" + LOG_VKEY.rsplit("+", 1)[1]
    ),
    "duplicate log origin": _append(f"log {log_key('log.example', 'another key').encode()}"),
    "duplicate log key": _append(
        f"log {Verifier.for_key('log2.example', LOG.public_key).encode()}"
    ),
    "too many logs": _append(*(f"log {log_key(f'log{i}.example').encode()}" for i in range(16))),
    # §4.6 witness
    "witness vkey of type 0x01": _append(f"witness wd {log_key('wd').encode()}"),
    "witness name differs from key name": _append(f"witness other {OTHER_WITNESS}"),
    "duplicate witness name": _append(f"witness wa {witness_key('wa', 'another key').encode()}"),
    "duplicate witness key": _append(
        "witness wd "
        + Verifier.for_key("wd", WA.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1).encode()
    ),
    "witness key is the log key": _append(f"witness log.example {LOG_AS_WITNESS}"),
    "log key is a witness key": _append(f"log {WA_AS_LOG}"),
    "witness key is the root key": _append(
        "witness wd " + Verifier.for_key("wd", ROOT_KEY, sig_type=SIG_TYPE_COSIGNATURE_V1).encode()
    ),
    "witness missing vkey": _append("witness wd"),
    "witness with URL": _append(f"witness wd {OTHER_WITNESS} https://wd.example/"),
    "witness named like a group": _append(f"witness two {witness_key('two').encode()}"),
    "witness named none": _insert_before(
        "group two", f"witness none {witness_key('none').encode()}"
    ),
    "too many witnesses": _append(
        *(f"witness x{i} {witness_key(f'x{i}').encode()}" for i in range(62))
    ),
    # §4.7 group
    "empty group (any)": _insert_before("quorum", "group g any"),
    "empty group (numeric)": _insert_before("quorum", "group g 1"),
    "group without threshold": _insert_before("quorum", "group g"),
    "k=0": _insert_before("quorum", "group g 0 wa wb"),
    "k>n": _insert_before("quorum", "group g 3 wa wb"),
    "k not canonical": _insert_before("quorum", "group g 02 wa wb"),
    "k with sign": _insert_before("quorum", "group g +1 wa wb"),
    "k negative": _insert_before("quorum", "group g -1 wa wb"),
    "k huge": _insert_before("quorum", "group g " + "9" * 5000 + " wa wb"),
    "k word": _insert_before("quorum", "group g most wa wb"),
    "undefined member": _insert_before("quorum", "group g any wa wz"),
    "member repeated": _insert_before("quorum", "group g any wa wa"),
    "member none": _insert_before("quorum", "group g any wa none"),
    "group forward reference": lambda ls: (
        [*_insert_before("group two", "group g any later")(ls), "group later any wa"]
    ),
    "group cycle (itself)": _insert_before("quorum", "group g any g"),
    "duplicate group name": _insert_before("quorum", "group two any wc"),
    "group named like a witness": _insert_before("quorum", "group wa any wb"),
    "group named any": _insert_before("quorum", "group any 1 wa"),
    "group named all": _insert_before("quorum", "group all 1 wa"),
    "group name with plus": _insert_before("quorum", "group a+b 1 wa"),
    "too many groups": _insert_before(
        "quorum", "group g0 any top", *(f"group g{i} any g{i - 1}" for i in range(1, 63))
    ),
    # §4.7 rule 5: a name is a member of one group only.
    "member of two groups": _insert_before("quorum", "group g any wa"),
    "group member of two groups": _insert_before("quorum", "group g any two"),
    # §4.8 quorum
    "quorum missing": _replace("quorum"),
    "two quorums": _append("quorum none"),
    "quorum empty": _replace("quorum", "quorum"),
    "quorum two names": _replace("quorum", "quorum two wc"),
    "quorum undefined": _replace("quorum", "quorum nobody"),
    "quorum forward reference": lambda ls: [
        *(line for line in ls if not line.startswith(("quorum", "max"))),
        "quorum later",
        "group later any wa",
        "max-status-age 3600",
    ],
    "quorum None spelled otherwise": _replace("quorum", "quorum None"),
    "quorum all": _replace("quorum", "quorum all"),
    # §4.9 max-status-age
    "max-status-age missing": _replace("max-status-age"),
    "max-status-age zero": _replace("max-status-age", "max-status-age 0"),
    "max-status-age leading zero": _replace("max-status-age", "max-status-age 03600"),
    "max-status-age sign": _replace("max-status-age", "max-status-age +3600"),
    "max-status-age negative": _replace("max-status-age", "max-status-age -1"),
    "max-status-age unit": _replace("max-status-age", "max-status-age 3600s"),
    "max-status-age 2^63": _replace("max-status-age", f"max-status-age {1 << 63}"),
    "max-status-age 20 digits": _replace("max-status-age", "max-status-age " + "1" * 20),
    "max-status-age twice": _append("max-status-age 60"),
    "max-status-age no value": _replace("max-status-age", "max-status-age"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_policy_is_rejected(case: str) -> None:
    edit = MALFORMED[case]
    data = edit if isinstance(edit, bytes) else render(edit(base_lines()))
    assert data != BASE
    with pytest.raises(PolicyError):
        parse_policy(data)


def test_limits_are_inclusive() -> None:
    # Exactly at each limit is accepted (the "too many" cases above go one beyond).
    lines = base_lines()
    lines += [f"root {_b64(_key(f'root {i}'))} {scope_b64(SCOPE_B)}" for i in range(1, 16)]
    lines += [f"log {log_key(f'log{i}.example').encode()}" for i in range(15)]
    lines += [f"witness x{i} {witness_key(f'x{i}').encode()}" for i in range(61)]
    # §4.7 rule 5: each name a member once, so the extra groups form a chain.
    lines += ["group g0 any x0"] + [f"group g{i} any g{i - 1}" for i in range(1, 62)]
    policy = parse_policy(render(lines))
    assert (len(policy.roots), len(policy.logs)) == (16, 16)
    assert (len(policy.witnesses), len(policy.groups)) == (64, 64)
    at_max = render(_replace("max-status-age", f"max-status-age {MAX_STATUS_AGE}")(base_lines()))
    assert parse_policy(at_max).max_status_age == MAX_STATUS_AGE
    assert parse_policy(render(_replace("authority", "authority " + "é" * 256)(base_lines())))


def test_file_of_exactly_the_size_limit() -> None:
    pad = MAX_POLICY_SIZE - len(BASE) - 2
    exact = BASE + b"#" + b"x" * pad + b"\n"
    assert len(exact) == MAX_POLICY_SIZE
    assert parse_policy(exact) == parse_policy(BASE)


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (_replace("quorum", "quorum nobody"), 12),
        (_append("trust everything"), 14),
        (_insert_before("quorum", "group g 0 wa"), 12),
    ],
)
def test_errors_name_the_line(edit: Callable[[list[str]], list[str]], line: int) -> None:
    with pytest.raises(PolicyError, match=rf"^line {line}: "):
        parse_policy(render(edit(base_lines())))


def test_quorum_none_and_no_witnesses() -> None:
    lines = [
        "noc-ledger-policy 1",
        ROOT_LINE,
        f"log {LOG_VKEY}",
        "quorum none",
        "max-status-age 60",
    ]
    policy = parse_policy(render(lines))
    assert policy.quorum is None and not policy.witnesses and policy.authority is None
    assert policy.quorum_satisfied([])
    assert encode_policy(policy) == render(lines)


def test_thresholds_any_all_and_numeric_are_one_value() -> None:
    def with_groups(two: str, top: str) -> TrustPolicy:
        edit = _replace("group two", two)
        return parse_policy(render(_replace("group top", top)(edit(base_lines()))))

    a = with_groups("group two all wa wb", "group top all two wc")
    b = with_groups("group two 2 wb wa", "group top 2 wc two")
    assert a == b and encode_policy(a) == encode_policy(b)
    assert b"group two 2 wa wb\n" in encode_policy(a)
    assert with_groups("group two any wa wb", "group top 2 two wc").groups["two"].threshold == 1


def test_whole_line_order_does_not_matter() -> None:
    lines = base_lines()
    shuffled = [
        lines[1],
        "max-status-age 3600",
        f"witness wc {WC.encode()}",
        f"log {LOG_VKEY}",
        f"witness wb {WB.encode()}",
        "# comment",
        ROOT_LINE,
        f"witness wa {WA.encode()}",
        "authority Test Authority",
        "group two 2 wa wb",
        "group top all two wc",
        "quorum top",
    ]
    assert parse_policy(render(shuffled)) == parse_policy(BASE)


# ---------------------------------------------------------------------------------------
# Values, the builder and immutability


def _policy(**overrides: object) -> TrustPolicy:
    args: dict[str, object] = {
        "roots": [RootKey(ROOT_KEY, SCOPE_A)],
        "logs": [LOG],
        "witnesses": [WA, WB, WC],
        "groups": [Group("two", 2, ("wa", "wb")), Group("top", 2, ("two", "wc"))],
        "quorum": "top",
        "max_status_age": 3600,
        "authority": "Test Authority",
    }
    args.update(overrides)
    return make_policy(**args)  # type: ignore[arg-type]


def test_make_policy_equals_parsed() -> None:
    assert _policy() == parse_policy(BASE)
    assert parse_policy(encode_policy(_policy())) == _policy()


@pytest.mark.parametrize(
    "overrides",
    [
        {"roots": []},
        {"roots": [RootKey(ROOT_KEY, SCOPE_A), RootKey(ROOT_KEY, SCOPE_B)]},
        {"roots": [(ROOT_KEY, SCOPE_A)]},
        {"roots": RootKey(ROOT_KEY, SCOPE_A)},
        {"logs": []},
        {"logs": [LOG, LOG]},
        {"logs": [WA]},
        {"logs": ["log.example+..."]},
        {"witnesses": [LOG]},
        {"witnesses": [WA, WA]},
        {"witnesses": [WA, WB, WC, witness_key("none")]},
        {"groups": [Group("two", 2, ("wa", "wb")), Group("two", 1, ("wc",))]},
        {"groups": [Group("a", 1, ("b",)), Group("b", 1, ("a",))], "quorum": "a"},
        {"groups": [Group("a", 1, ("wa", "nobody"))], "quorum": "a"},
        {"groups": [Group("wa", 1, ("wb",))], "quorum": "wa"},
        # §4.7 rule 5: w1 would count twice towards "b".
        {"groups": [Group("a", 1, ("wa", "wb")), Group("b", 2, ("wa", "a"))], "quorum": "b"},
        {"groups": [("two", 2, ("wa", "wb"))]},
        {"quorum": "none"},
        {"quorum": "nobody"},
        {"quorum": 1},
        {"max_status_age": 0},
        {"max_status_age": True},
        {"max_status_age": 1 << 63},
        {"max_status_age": "3600"},
        {"authority": ""},
        {"authority": " padded"},
        {"authority": "two  spaces"},
        {"authority": "line\nfeed"},
        {"authority": "bidi \u202e"},
        {"authority": "x" * 257},
        {"authority": "\ud800"},
        {"witnesses": [WA, WB, WC, ROOT_AS_WITNESS]},
        {"logs": [LOG, Verifier.for_key("log2.example", WA.public_key)]},
        {"roots": [RootKey(ROOT_KEY, _big_scope(70))]},
        # Key names that note.py accepts but a policy file cannot hold (spec §3.2, §4.2).
        {"witnesses": [WA, WB, WC, witness_key("w\u202e")]},
        {"logs": [log_key("log\ufeff.example")]},
        {"logs": [log_key("log\x9b.example")]},
    ],
    ids=lambda o: ",".join(f"{k}" for k in o),
)
def test_make_policy_rejects(overrides: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        _policy(**overrides)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Group("g", 0, ("a",)),
        lambda: Group("g", 2, ("a",)),
        lambda: Group("g", 1, ()),
        lambda: Group("g", 1, ("a", "a")),
        lambda: Group("g", 1, "ab"),  # type: ignore[arg-type]
        lambda: Group("g", True, ("a",)),
        lambda: Group("none", 1, ("a",)),
        lambda: Group("g", 1, ("a b",)),
        lambda: Group("g\u2066", 1, ("a",)),
        lambda: Group("g", 1, ("a\u202e",)),
        lambda: RootKey(b"\x00" * 31, SCOPE_A),
        lambda: RootKey(ROOT_KEY, SCOPE_A.to_item()),
        lambda: TrustPolicy(None, (RootKey(ROOT_KEY, SCOPE_A),), {"x": LOG}, {}, {}, None, 1),
        lambda: TrustPolicy(None, (RootKey(ROOT_KEY, SCOPE_A),), {}, {}, {}, None, 1),
        lambda: TrustPolicy(None, (RootKey(ROOT_KEY, SCOPE_A),), [LOG], {}, {}, None, 1),  # type: ignore[arg-type]
    ],
)
def test_values_check_their_rules(build: Callable[[], object]) -> None:
    with pytest.raises(PolicyError):
        build()


def test_group_members_are_sorted() -> None:
    assert Group("g", 1, ["b", "a"]).members == ("a", "b")  # type: ignore[arg-type]


def test_policy_is_immutable() -> None:
    policy = parse_policy(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.quorum = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.logs["evil.example"] = LOG  # type: ignore[index]
    with pytest.raises(TypeError):
        policy.witnesses["wz"] = WA  # type: ignore[index]
    assert isinstance(policy.roots, tuple) and isinstance(policy.roots[0].scope.grants, tuple)


def test_policy_does_not_alias_the_builder_arguments() -> None:
    logs = {"log.example": LOG}
    policy = TrustPolicy(None, (RootKey(ROOT_KEY, SCOPE_A),), logs, {}, {}, None, 60)
    logs["evil.example"] = log_key("evil.example")
    assert list(policy.logs) == ["log.example"]


def test_lookups() -> None:
    policy = parse_policy(EXAMPLE)
    assert policy.root_for(_key("not a root")) is None
    assert policy.root_for(b"") is None
    assert policy.log_for("other.example") is None
    assert policy.log_for(b"log.noc-ledger.example") is None  # type: ignore[arg-type]
    assert policy.log_for("log.noc-ledger.example") is not None


def test_encode_policy_rejects_other_values() -> None:
    with pytest.raises(PolicyError):
        encode_policy(BASE)  # type: ignore[arg-type]


def test_parse_policy_rejects_other_types() -> None:
    for value in (bytearray(BASE), memoryview(BASE), None, 1):
        with pytest.raises(PolicyError):
            parse_policy(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Quorum evaluation (spec §7.3)


def test_quorum_examples() -> None:
    policy = parse_policy(BASE)  # top = all(two = 2 of {wa, wb}, wc)
    assert policy.quorum_satisfied(iter(["wa", "wb", "wc"]))
    assert not policy.quorum_satisfied(["wa", "wb"])
    # Group names and unknown names count for nothing, nor do repeats.
    assert not policy.quorum_satisfied(["two", "wc"])
    assert not policy.quorum_satisfied(["top"])
    assert not policy.quorum_satisfied(["wa", "wa", "wc", "wd"])
    single = _policy(groups=[], quorum="wb")
    assert single.quorum_satisfied(["wb"]) and not single.quorum_satisfied(["wa", "wc"])
    assert _policy(quorum=None).quorum_satisfied([])


@pytest.mark.parametrize("bad", ["wa", b"wa", ["wa", 1], None, 5])
def test_quorum_rejects_a_string_or_non_strings(bad: object) -> None:
    with pytest.raises(PolicyError):
        parse_policy(BASE).quorum_satisfied(bad)  # type: ignore[arg-type]


def brute_force_quorum(policy: TrustPolicy, witnessed: set[str]) -> bool:
    """spec §7.3 read literally: a group has witnessed iff some k of its members all have."""

    def has_witnessed(name: str) -> bool:
        if name in policy.witnesses:
            return name in witnessed
        group = policy.groups[name]
        return any(
            all(has_witnessed(m) for m in chosen)
            for chosen in itertools.combinations(group.members, group.threshold)
        )

    return policy.quorum is None or has_witnessed(policy.quorum)


@st.composite
def policies(draw: st.DrawFn, *, max_witnesses: int = 7, max_groups: int = 6) -> TrustPolicy:
    n_roots = draw(st.integers(1, 3))
    roots = [RootKey(_key(f"root {i}"), draw(st.sampled_from(SCOPES))) for i in range(n_roots)]
    logs = [log_key(f"log{i}.example") for i in range(draw(st.integers(1, 3)))]
    witness_names = draw(
        st.lists(
            st.sampled_from(["w1", "w2", "w3", "w4", "w5", "w6", "w7", "wé", "example.com/w"]),
            max_size=max_witnesses,
            unique=True,
        )
    )
    witnesses = [witness_key(n) for n in witness_names]
    defined = list(witness_names)
    groups: list[Group] = []
    used: set[str] = set()
    if defined:
        for j in range(draw(st.integers(0, max_groups))):
            # §4.7 rule 5: only names not yet a member of a group.
            free = [d for d in defined if d not in used]
            if not free:
                break
            members = draw(st.lists(st.sampled_from(free), min_size=1, max_size=5, unique=True))
            used.update(members)
            k = draw(st.integers(1, len(members)))
            name = f"g{j}"
            groups.append(Group(name, k, tuple(members)))
            defined.append(name)
    quorum = draw(st.one_of(st.none(), st.sampled_from(defined))) if defined else None
    authority = draw(st.one_of(st.none(), st.sampled_from(["A", "Autorité émirienne", "x y z"])))
    order = draw(st.permutations(groups))
    return make_policy(
        roots=roots,
        logs=logs,
        witnesses=witnesses,
        groups=order,
        quorum=quorum,
        max_status_age=draw(st.integers(1, MAX_STATUS_AGE)),
        authority=authority,
    )


@PROPERTY
@given(st.data())
def test_quorum_matches_brute_force(data: st.DataObject) -> None:
    policy = data.draw(policies())
    witnessed = set(data.draw(st.lists(st.sampled_from([*policy.witnesses, "x", "g0"]))))
    expected = brute_force_quorum(policy, witnessed)
    assert policy.quorum_satisfied(witnessed) is expected
    # Monotone: more witnesses never lose the quorum.
    if expected:
        assert policy.quorum_satisfied(witnessed | set(policy.witnesses))


# ---------------------------------------------------------------------------------------
# Round trips (GUIDE §3 rule 6)


@PROPERTY
@given(policies())
def test_round_trip(policy: TrustPolicy) -> None:
    data = encode_policy(policy)
    again = parse_policy(data)
    assert again == policy and hash(again) == hash(policy)
    assert encode_policy(again) == data
    assert parse_policy(data.decode("utf-8")) == policy


@PROPERTY
@given(policies(), st.randoms(use_true_random=False))
def test_reordered_and_commented_files_parse_to_the_same_policy(
    policy: TrustPolicy, rnd: random.Random
) -> None:
    lines = encode_policy(policy).decode("utf-8").split("\n")[:-1]
    header, body = lines[0], lines[1:]
    free = [line for line in body if not line.startswith(("group ", "quorum "))]  # order-free lines
    ordered = [line for line in body if line.startswith(("group ", "quorum "))]
    rnd.shuffle(free)
    out = ["# leading comment", "", header]
    for line in free:
        out += [line] if rnd.random() < 0.7 else ["", "# c", line]
    for line in ordered:
        parts = line.split(" ")
        if parts[0] == "group":
            n = len(parts) - 3
            if parts[2] == "1":
                parts[2] = rnd.choice(["1", "any"] + (["all"] if n == 1 else []))
            elif parts[2] == str(n):
                parts[2] = rnd.choice([str(n), "all"])
            members = parts[3:]
            rnd.shuffle(members)
            out.append(" ".join(parts[:3] + members))
        else:
            out.append(line)
    assert parse_policy(render(out)) == policy


@PROPERTY
@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12), st.text(max_size=12))
def test_every_buildable_policy_round_trips(origin: str, name: str, authority: str) -> None:
    # Arbitrary Unicode in names and the display name: whatever make_policy accepts, the
    # parser reads back (spec §3.4), and whatever it refuses is a PolicyError.
    try:
        log = log_key(origin)
        witness = witness_key(name)
    except ModelError:
        return  # not a key name at all (spec/checkpoint.md §2.1)
    try:
        policy = make_policy(
            roots=[RootKey(ROOT_KEY, SCOPE_B)],
            logs=[log],
            witnesses=[witness],
            groups=[Group("g", 1, (name,))] if name not in ("g", "none", "all", "any") else [],
            quorum=None,
            max_status_age=1,
            authority=authority or None,
        )
    except PolicyError:
        return
    assert parse_policy(encode_policy(policy)) == policy


# ---------------------------------------------------------------------------------------
# Robustness: anything else is a PolicyError (GUIDE §3 rule 6)


def _parse_or_error(data: bytes) -> TrustPolicy | None:
    try:
        policy = parse_policy(data)
    except PolicyError:
        return None
    # Whatever parses re-encodes canonically.
    assert parse_policy(encode_policy(policy)) == policy
    return policy


@PROPERTY
@given(st.binary(max_size=512))
def test_random_bytes_give_policy_error(data: bytes) -> None:
    assert _parse_or_error(data) is None


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    source = draw(st.sampled_from([EXAMPLE, BASE]))
    lines = source.split(b"\n")[:-1]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "drop", "swap", "token"]))
        if not lines:
            lines = [b""]
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if op == "flip" and line:
            j = draw(st.integers(0, len(line) - 1))
            lines[i] = line[:j] + bytes([line[j] ^ draw(st.integers(1, 255))]) + line[j + 1 :]
        elif op == "insert":
            j = draw(st.integers(0, len(line)))
            lines[i] = line[:j] + draw(st.binary(min_size=1, max_size=3)) + line[j:]
        elif op == "delete" and line:
            j = draw(st.integers(0, len(line) - 1))
            lines[i] = line[:j] + line[j + 1 :]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "drop":
            del lines[i]
        elif op == "swap":
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        elif op == "token":
            tokens = line.split(b" ")
            t = draw(st.integers(0, len(tokens) - 1))
            tokens[t] = draw(
                st.sampled_from(
                    [
                        b"",
                        b"0",
                        b"1",
                        b"all",
                        b"any",
                        b"none",
                        b"wa",
                        b"outside",
                        b"witnessed",
                        b"root",
                        b"log",
                        b"group",
                        b"quorum",
                        b"witness",
                        b"x" * 300,
                    ]
                )
            )
            lines[i] = b" ".join(tokens)
    return b"".join(line + b"\n" for line in lines)


@PROPERTY
@given(mutated())
def test_mutated_policies_give_policy_or_policy_error(data: bytes) -> None:
    _parse_or_error(data)


@st.composite
def mutated_scope(draw: st.DrawFn) -> bytes:
    raw = bytearray(SCOPE_A_CBOR)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(raw) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "flip":
            raw[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            raw[i:i] = draw(st.binary(min_size=1, max_size=4))
        else:
            del raw[i]
    return bytes(raw)


@PROPERTY
@given(st.one_of(mutated_scope(), st.binary(max_size=64)))
def test_mutated_root_scopes_give_policy_or_policy_error(raw: bytes) -> None:
    _parse_or_error(render(_replace("root", f"root {_b64(ROOT_KEY)} {_b64(raw)}")(base_lines())))


def test_some_mutations_still_parse() -> None:
    # The mutation test above is not vacuous: harmless edits keep a valid policy.
    assert _parse_or_error(EXAMPLE.replace(b"# One day.", b"# A day.")) == parse_policy(EXAMPLE)


def test_invalid_utf8_names_its_line() -> None:
    with pytest.raises(PolicyError, match=r"^line 12: not valid UTF-8"):
        parse_policy(BASE.replace(b"quorum top", b"quorum t\xffop"))
