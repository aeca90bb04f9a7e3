"""The verifier's trust policy (spec/policy.md, GUIDE D9): a small text file, and nothing else.

A policy names the authority root keys and the largest scope each may grant, the logs (by
origin) whose checkpoints are believed, the witnesses and the quorum of them that must have
cosigned a checkpoint (in the grammar of C2SP ``tlog-policy``), and the maximum age of a
checkpoint's signed time before the answer is "can't tell" (GUIDE D7). Nothing is trusted by
default: every directive a verifier depends on is required, and ``quorum none`` must be said.

Pure: text or bytes in, an immutable :class:`TrustPolicy` or a :class:`PolicyError` out. The
CLI reads the file; this module never does.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from noc_ledger import codec
from noc_ledger.errors import NocLedgerError, PolicyError
from noc_ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Verifier,
    check_key_name,
    decode_base64,
    decode_verifier_key,
)
from noc_ledger.scope import Scope

__all__ = [
    "MAX_AUTHORITY_LENGTH",
    "MAX_GROUPS",
    "MAX_LOGS",
    "MAX_POLICY_SIZE",
    "MAX_ROOTS",
    "MAX_STATUS_AGE",
    "MAX_WITNESSES",
    "POLICY_VERSION",
    "Group",
    "RootKey",
    "TrustPolicy",
    "encode_policy",
    "make_policy",
    "parse_policy",
]

#: spec/policy.md §3.1: the header line's version.
POLICY_VERSION: Final = 1
#: spec/policy.md §3.4: limits.
MAX_POLICY_SIZE: Final = 64 * 1024
MAX_ROOTS: Final = 16
MAX_LOGS: Final = 16
MAX_WITNESSES: Final = 64
MAX_GROUPS: Final = 64
MAX_AUTHORITY_LENGTH: Final = 256
#: spec/policy.md §4.9: the largest ``max-status-age`` (times are below 2**63,
#: certificate.md §2.1).
MAX_STATUS_AGE: Final = (1 << 63) - 1

_HEADER: Final = f"noc-ledger-policy {POLICY_VERSION}"
_ED25519_KEY_SIZE: Final = 32
#: spec/policy.md §4.2: names that are keywords of the quorum and group lines.
_RESERVED_NAMES: Final = frozenset({"none", "all", "any"})
#: spec/policy.md §3.2: characters refused anywhere in the file. C0 controls but LF, DEL and
#: C1 controls; Unicode White_Space other than SP and LF; bidi embeddings, overrides and
#: isolates, and U+FEFF. What a reader sees must be what the verifier parses: a bidi override
#: in a comment can make a directive look commented out (and the reverse).
_FORBIDDEN: Final = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202a-\u202f"
    "\u205f\u2066-\u2069\u3000\ufeff]"
)
#: spec/policy.md §2, §4.7, §4.9: a positive decimal integer without leading zeroes, at most
#: 19 digits (so that no huge digit string is ever converted).
_POSITIVE: Final = re.compile(r"[1-9][0-9]{0,18}")


def _show(text: str, limit: int = 48) -> str:
    """A short ``repr`` for error messages: input may be up to 64 KiB on one line."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


# ---------------------------------------------------------------------------------------
# Values


def _check_name(name: object, what: str) -> str:
    """spec/policy.md §4.2: a witness or group name is a key name that is not reserved.

    Raises:
        PolicyError: otherwise.
    """
    checked = _check_key_name(name, what)
    if checked in _RESERVED_NAMES:
        raise PolicyError(f"{what}: {checked!r} is reserved")
    return checked


def _check_key_name(name: object, what: str) -> str:
    """A key name (spec/checkpoint.md §2.1) that may appear in a policy file (§3.2).

    Key names may hold characters that §3.2 forbids (C1 controls, bidi controls, U+FEFF);
    refusing them in values too keeps every value writable and readable (§3.4, §6).

    Raises:
        PolicyError: otherwise.
    """
    try:
        checked = check_key_name(name)
    except NocLedgerError as exc:
        raise PolicyError(f"{what}: {exc}") from None
    if _FORBIDDEN.search(checked):
        raise PolicyError(f"{what}: {_show(checked)} holds a character a policy file forbids")
    return checked


def _check_authority(name: object) -> str:
    """spec/policy.md §4.3: the authority's display name.

    Raises:
        PolicyError: not 1 to :data:`MAX_AUTHORITY_LENGTH` characters that may appear on a
            directive line (§3.2, §3.3), or not valid Unicode.
    """
    if not isinstance(name, str) or not name:
        raise PolicyError("authority: a non-empty name")
    if len(name) > MAX_AUTHORITY_LENGTH:
        raise PolicyError(f"authority: at most {MAX_AUTHORITY_LENGTH} characters")
    if "\n" in name or _FORBIDDEN.search(name):
        raise PolicyError("authority: contains a control, bidi or white-space character")
    if name != name.strip(" ") or "  " in name:
        raise PolicyError("authority: leading, trailing or consecutive spaces")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise PolicyError("authority: not valid Unicode") from None
    return name


@dataclass(frozen=True, slots=True)
class RootKey:
    """An authority root key and the largest scope it may grant (spec/policy.md §4.4).

    Certificates and delegated keys under this root must lie within ``scope`` by the subset
    rule of spec/certificate.md §5.

    Raises (on construction):
        PolicyError: ``public_key`` is not 32 bytes or ``scope`` is not a :class:`Scope`.
    """

    public_key: bytes
    scope: Scope

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != _ED25519_KEY_SIZE:
            raise PolicyError("root: an Ed25519 public key is 32 bytes")
        if not isinstance(self.scope, Scope):
            raise PolicyError("root: the scope must be a Scope")


@dataclass(frozen=True, slots=True)
class Group:
    """A k-of-n group over witnesses and other groups (spec/policy.md §4.7).

    The group has witnessed a checkpoint iff at least ``threshold`` of its ``members`` have.
    Members are stored sorted (their order carries no meaning).

    Raises (on construction):
        PolicyError: an invalid or reserved name, no member, a member named twice, or a
            threshold that is not an integer from 1 to the number of members.
    """

    name: str
    threshold: int
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_name(self.name, "group name")
        if isinstance(self.members, str) or not isinstance(self.members, Iterable):
            raise PolicyError(f"group {self.name}: members must be a sequence of names")
        members = tuple(self.members)
        for m in members:
            _check_name(m, f"group {self.name} member")
        if not members:
            raise PolicyError(f"group {self.name}: at least one member (an empty group)")
        if len(set(members)) != len(members):
            raise PolicyError(f"group {self.name}: a member is listed twice")
        if type(self.threshold) is not int or not 1 <= self.threshold <= len(members):
            raise PolicyError(
                f"group {self.name}: threshold {self.threshold!r} is not between 1 and "
                f"{len(members)}"
            )
        object.__setattr__(self, "members", tuple(sorted(members)))


def _topological(
    groups: Mapping[str, Group], witnesses: Mapping[str, Verifier]
) -> dict[str, Group]:
    """Order groups so that each follows its members (spec/policy.md §6), smallest name
    first among those that are ready: one order per policy.

    Raises:
        PolicyError: a member that is neither a witness nor a group, or a cycle.
    """
    for group in groups.values():
        for m in group.members:
            if m not in witnesses and m not in groups:
                raise PolicyError(f"group {group.name}: member {m!r} is not defined")
    done: dict[str, Group] = {}
    pending = dict(groups)
    while pending:
        ready = sorted(
            name
            for name, g in pending.items()
            if all(m in witnesses or m in done for m in g.members)
        )
        if not ready:
            raise PolicyError(f"groups {sorted(pending)} form a cycle")
        done[ready[0]] = pending.pop(ready[0])
    return done


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """A verifier's trust policy (spec/policy.md). Immutable; equal policies have equal
    canonical encodings (:func:`encode_policy`).

    Fields:
        authority: the authority's display name, or ``None``; informative only.
        roots: the authority root keys, sorted by public key.
        logs: the logs' type-0x01 verifiers, by origin (= key name).
        witnesses: the witnesses' type-0x04 verifiers, by name (= key name).
        groups: the groups by name, each after its member groups (spec §6).
        quorum: the witness or group whose witnessing a checkpoint needs, or ``None`` for an
            explicit ``quorum none``.
        max_status_age: seconds a checkpoint's signed time may lie before the verifier's
            ``at`` before its status is "can't tell" (GUIDE D7).

    Construction checks every rule of spec/policy.md §3.4 and §4 that does not depend on line
    order (in a value, groups may be given in any order; cycles are still refused) and normalizes
    the fields. Prefer :func:`make_policy` or :func:`parse_policy`.

    Raises (on construction):
        PolicyError: any rule broken.
    """

    authority: str | None
    roots: tuple[RootKey, ...]
    logs: Mapping[str, Verifier]
    witnesses: Mapping[str, Verifier]
    groups: Mapping[str, Group]
    quorum: str | None
    max_status_age: int

    def __post_init__(self) -> None:
        if self.authority is not None:
            _check_authority(self.authority)
        # Roots (§4.4).
        roots: list[RootKey] = []
        for r in _as_tuple(self.roots, "roots"):
            if not isinstance(r, RootKey):
                raise PolicyError("roots must be RootKey values")
            roots.append(r)
        if not roots:
            raise PolicyError("at least one root")
        if len(roots) > MAX_ROOTS:
            raise PolicyError(f"at most {MAX_ROOTS} roots")
        # Logs (§4.5): keyed by origin, which is the key name.
        logs = _verifier_map(self.logs, SIG_TYPE_ED25519, "log")
        if not logs:
            raise PolicyError("at least one log")
        if len(logs) > MAX_LOGS:
            raise PolicyError(f"at most {MAX_LOGS} logs")
        # Witnesses (§4.6): keyed by name, which is the key name.
        witnesses = _verifier_map(self.witnesses, SIG_TYPE_COSIGNATURE_V1, "witness")
        if len(witnesses) > MAX_WITNESSES:
            raise PolicyError(f"at most {MAX_WITNESSES} witnesses")
        for name in witnesses:
            _check_name(name, "witness name")
        # One role per key, and no key twice in a role (§4.1 rule 3).
        keys = [r.public_key for r in roots] + [v.public_key for v in logs.values()]
        keys += [v.public_key for v in witnesses.values()]
        if len(set(keys)) != len(keys):
            raise PolicyError("a public key appears twice (as two roots, logs or witnesses)")
        # Groups (§4.7).
        groups: dict[str, Group] = {}
        for name, g in _as_mapping(self.groups, "groups").items():
            if not isinstance(g, Group) or g.name != name:
                raise PolicyError(f"group {_show(name)}: not a Group of that name")
            if name in witnesses:
                raise PolicyError(f"group {name}: a witness has this name")
            groups[name] = g
        if len(groups) > MAX_GROUPS:
            raise PolicyError(f"at most {MAX_GROUPS} groups")
        ordered = _topological(groups, witnesses)
        # §4.7 rule 5: a name is a member of at most one group, so that each witness counts
        # towards the quorum in one way only.
        member_of: dict[str, str] = {}
        for g in ordered.values():
            for m in g.members:
                if m in member_of:
                    raise PolicyError(
                        f"group {g.name}: {m} is already a member of group {member_of[m]} "
                        "(a name may be a member of one group only)"
                    )
                member_of[m] = g.name
        # Quorum (§4.8).
        if self.quorum is not None:
            if not isinstance(self.quorum, str):
                raise PolicyError("quorum: a name, or None for an explicit 'quorum none'")
            if self.quorum not in witnesses and self.quorum not in groups:
                raise PolicyError(f"quorum: {_show(self.quorum)} is not a witness or group")
        # Maximum status age (§4.9).
        age = self.max_status_age
        if type(age) is not int or not 1 <= age <= MAX_STATUS_AGE:
            raise PolicyError(f"max-status-age: {age!r} is not between 1 and {MAX_STATUS_AGE}")
        object.__setattr__(self, "roots", tuple(sorted(roots, key=lambda r: r.public_key)))
        object.__setattr__(self, "logs", MappingProxyType(dict(sorted(logs.items()))))
        object.__setattr__(self, "witnesses", MappingProxyType(dict(sorted(witnesses.items()))))
        object.__setattr__(self, "groups", MappingProxyType(ordered))
        # Every value has an encoding the parser accepts (§3.4).
        if len(encode_policy(self)) > MAX_POLICY_SIZE:
            raise PolicyError(f"the policy's encoding exceeds {MAX_POLICY_SIZE} bytes")

    def __hash__(self) -> int:
        return hash(
            (
                self.authority,
                self.roots,
                tuple(self.logs.items()),
                tuple(self.witnesses.items()),
                tuple(self.groups.items()),
                self.quorum,
                self.max_status_age,
            )
        )

    def root_for(self, public_key: bytes) -> RootKey | None:
        """The root with this 32-byte Ed25519 public key, or ``None`` if the policy does not
        trust it (spec/policy.md §7.1)."""
        for root in self.roots:
            if root.public_key == public_key:
                return root
        return None

    def log_for(self, origin: str) -> Verifier | None:
        """The type-0x01 verifier of the log with this origin, or ``None``
        (spec/policy.md §7.2)."""
        if not isinstance(origin, str):
            return None
        return self.logs.get(origin)

    def quorum_satisfied(self, witness_names: Iterable[str]) -> bool:
        """Whether witnesses of these names reach the quorum (spec/policy.md §7.3).

        ``witness_names`` are the names of the witnesses whose cosignatures the caller has
        verified under this policy's witness keys (spec/checkpoint.md §5.2). Names that are not
        witnesses of this policy, group names included, count for nothing. With ``quorum
        none`` the answer is always true.

        Raises:
            PolicyError: ``witness_names`` is a single string or holds a non-string (a caller
                bug that would otherwise count letters as witnesses).
        """
        if isinstance(witness_names, str | bytes) or not isinstance(witness_names, Iterable):
            raise PolicyError("witness_names must be an iterable of names, not a string")
        names = list(witness_names)
        if any(not isinstance(n, str) for n in names):
            raise PolicyError("witness_names must hold strings")
        if self.quorum is None:
            return True
        witnessed = {n for n in names if n in self.witnesses}
        # Groups are stored members first (§6), so one pass decides each of them.
        for group in self.groups.values():
            if sum(m in witnessed for m in group.members) >= group.threshold:
                witnessed.add(group.name)
        return self.quorum in witnessed


def _as_tuple(value: object, what: str) -> tuple[object, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise PolicyError(f"{what} must be a sequence")
    return tuple(value)


def _as_mapping(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{what} must be a mapping")
    if any(not isinstance(k, str) for k in value):
        raise PolicyError(f"{what}: keys must be names")
    return dict(value)


def _verifier_map(value: object, sig_type: int, what: str) -> dict[str, Verifier]:
    out: dict[str, Verifier] = {}
    for name, item in _as_mapping(value, f"{what}s").items():
        v = _check_verifier(item, sig_type, what)
        if name != v.name:
            raise PolicyError(f"{what} {_show(name)}: keyed by other than its key name")
        _check_key_name(name, f"{what} key name")
        out[name] = v
    return out


def _check_verifier(v: object, sig_type: int, what: str) -> Verifier:
    if not isinstance(v, Verifier):
        raise PolicyError(f"{what}: expected a Verifier")
    if v.sig_type != sig_type:
        raise PolicyError(
            f"{what} {v.name}: verifier key of type 0x{v.sig_type:02x}, expected 0x{sig_type:02x}"
        )
    return v


# ---------------------------------------------------------------------------------------
# Building


def make_policy(
    *,
    roots: Iterable[RootKey],
    logs: Iterable[Verifier],
    witnesses: Iterable[Verifier] = (),
    groups: Iterable[Group] = (),
    quorum: str | None,
    max_status_age: int,
    authority: str | None = None,
) -> TrustPolicy:
    """Build a policy, for example for a ledger to publish its own (spec/policy.md §4, §6).

    ``quorum`` has no default: pass ``None`` to mean ``quorum none``, explicitly. Witnesses are
    named by their key names; groups may be given in any order (cycles are refused).

    Raises:
        PolicyError: any rule of spec/policy.md §4 broken, including duplicates in the
            arguments (which a mapping would otherwise silently drop).
    """
    log_list = list(_as_tuple(logs, "logs"))
    witness_list = list(_as_tuple(witnesses, "witnesses"))
    group_list = list(_as_tuple(groups, "groups"))
    log_map: dict[str, Verifier] = {}
    for item in log_list:
        v = _check_verifier(item, SIG_TYPE_ED25519, "log")
        if v.name in log_map:
            raise PolicyError(f"log {v.name}: origin given twice")
        log_map[v.name] = v
    witness_map: dict[str, Verifier] = {}
    for item in witness_list:
        v = _check_verifier(item, SIG_TYPE_COSIGNATURE_V1, "witness")
        if v.name in witness_map:
            raise PolicyError(f"witness {v.name}: name given twice")
        witness_map[v.name] = v
    group_map: dict[str, Group] = {}
    for g in group_list:
        if not isinstance(g, Group):
            raise PolicyError("groups must be Group values")
        if g.name in group_map:
            raise PolicyError(f"group {g.name}: name given twice")
        group_map[g.name] = g
    return TrustPolicy(
        authority=authority,
        roots=roots,  # type: ignore[arg-type]  # checked and normalized by TrustPolicy
        logs=log_map,
        witnesses=witness_map,
        groups=group_map,
        quorum=quorum,
        max_status_age=max_status_age,
    )


# ---------------------------------------------------------------------------------------
# Encoding (spec/policy.md §6)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_policy(policy: TrustPolicy) -> bytes:
    """The canonical text of ``policy`` (spec/policy.md §6), UTF-8 bytes.

    ``parse_policy(encode_policy(p)) == p`` for every policy ``p``. Comments are not kept.

    Raises:
        PolicyError: ``policy`` is not a :class:`TrustPolicy`.
    """
    if not isinstance(policy, TrustPolicy):
        raise PolicyError("expected a TrustPolicy")
    lines = [_HEADER]
    if policy.authority is not None:
        lines.append(f"authority {policy.authority}")
    lines += [
        f"root {_b64(r.public_key)} {_b64(codec.encode(r.scope.to_item()))}" for r in policy.roots
    ]
    lines += [f"log {v.encode()}" for v in policy.logs.values()]
    lines += [f"witness {name} {v.encode()}" for name, v in policy.witnesses.items()]
    lines += [f"group {g.name} {g.threshold} {' '.join(g.members)}" for g in policy.groups.values()]
    lines.append(f"quorum {'none' if policy.quorum is None else policy.quorum}")
    lines.append(f"max-status-age {policy.max_status_age}")
    return ("\n".join(lines) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------
# Parsing (spec/policy.md §5)


class _Parser:
    """State of the numbered procedure of spec/policy.md §5 (step 6 onwards)."""

    def __init__(self) -> None:
        self.authority: str | None = None
        self.roots: list[RootKey] = []
        self.logs: dict[str, Verifier] = {}
        self.witnesses: dict[str, Verifier] = {}
        self.groups: dict[str, Group] = {}
        self.member_of: dict[str, str] = {}
        self.keys: set[bytes] = set()
        self.quorum: str | None = None
        self.quorum_seen = False
        self.max_status_age: int | None = None

    def _arity(self, args: list[str], n: int, form: str) -> None:
        if len(args) != n:
            raise PolicyError(f"expected '{form}'")

    def _key(self, public_key: bytes) -> None:
        # §4.1 rule 3: one role per key, and no key twice in a role.
        if public_key in self.keys:
            raise PolicyError("this public key already appears in the policy")
        self.keys.add(public_key)

    def _defined(self, name: str) -> bool:
        return name in self.witnesses or name in self.groups

    def authority_line(self, rest: str | None) -> None:
        if self.authority is not None:
            raise PolicyError("a second authority line")
        if rest is None:
            raise PolicyError("expected 'authority NAME'")
        self.authority = _check_authority(rest)

    def root(self, args: list[str]) -> None:
        self._arity(args, 2, "root KEY SCOPE")
        try:
            public_key = decode_base64(args[0])
        except NocLedgerError:
            raise PolicyError("root key: not canonical base64") from None
        if len(public_key) != _ED25519_KEY_SIZE:
            raise PolicyError("root key: an Ed25519 public key is 32 bytes")
        try:
            raw = decode_base64(args[1])
        except NocLedgerError:
            raise PolicyError("root scope: not canonical base64") from None
        try:
            scope = Scope.from_item(codec.decode(raw))
        except NocLedgerError as exc:
            raise PolicyError(f"root scope: {exc}") from None
        # spec/certificate.md §2.2 rule 3: the one encoding of the value (the CBOR decoder is
        # strict; this also catches grants or set members out of order).
        if codec.encode(scope.to_item()) != raw:
            raise PolicyError("root scope: not the canonical encoding of its value")
        if len(self.roots) == MAX_ROOTS:
            raise PolicyError(f"more than {MAX_ROOTS} roots")
        self._key(public_key)
        self.roots.append(RootKey(public_key, scope))

    def log(self, args: list[str]) -> None:
        self._arity(args, 1, "log VKEY")
        v = _vkey(args[0], SIG_TYPE_ED25519, "log")
        if v.name in self.logs:
            raise PolicyError(f"log {v.name}: a second log with this origin")
        if len(self.logs) == MAX_LOGS:
            raise PolicyError(f"more than {MAX_LOGS} logs")
        self._key(v.public_key)
        self.logs[v.name] = v

    def witness(self, args: list[str]) -> None:
        self._arity(args, 2, "witness NAME VKEY")
        name = _check_name(args[0], "witness name")
        v = _vkey(args[1], SIG_TYPE_COSIGNATURE_V1, "witness")
        if v.name != name:
            raise PolicyError(f"witness {name}: the verifier key's name is {_show(v.name)}")
        if self._defined(name):
            raise PolicyError(f"witness {name}: the name is already defined")
        if len(self.witnesses) == MAX_WITNESSES:
            raise PolicyError(f"more than {MAX_WITNESSES} witnesses")
        self._key(v.public_key)
        self.witnesses[name] = v

    def group(self, args: list[str]) -> None:
        if len(args) < 2:
            raise PolicyError("expected 'group NAME K|all|any MEMBER...'")
        name = _check_name(args[0], "group name")
        members = args[2:]
        if self._defined(name):
            raise PolicyError(f"group {name}: the name is already defined")
        if not members:
            raise PolicyError(f"group {name}: at least one member (an empty group)")
        for m in members:
            _check_name(m, f"group {name} member")
            # §4.7: only names defined on earlier lines, which also rules out cycles.
            if not self._defined(m):
                raise PolicyError(f"group {name}: member {_show(m)} is not defined above")
            # §4.7 rule 5: one group per member name (checked before rule 3's "twice in
            # this group" by Group(), which reports a repeat within the line).
            if m in self.member_of:
                raise PolicyError(
                    f"group {name}: {_show(m)} is already a member of group {self.member_of[m]} "
                    "(a name may be a member of one group only)"
                )
        k_text = args[1]
        if k_text == "all":
            k = len(members)
        elif k_text == "any":
            k = 1
        elif _POSITIVE.fullmatch(k_text):
            k = int(k_text)
        else:
            raise PolicyError(f"group {name}: threshold {_show(k_text)} is not all, any or 1..n")
        if len(self.groups) == MAX_GROUPS:
            raise PolicyError(f"more than {MAX_GROUPS} groups")
        group = Group(name, k, tuple(members))
        for m in members:
            self.member_of[m] = name
        self.groups[name] = group

    def quorum_line(self, args: list[str]) -> None:
        self._arity(args, 1, "quorum NAME|none")
        if self.quorum_seen:
            raise PolicyError("a second quorum line")
        if args[0] != "none":
            if not self._defined(args[0]):
                raise PolicyError(f"quorum: {_show(args[0])} is not a witness or group above")
            self.quorum = args[0]
        self.quorum_seen = True

    def max_age(self, args: list[str]) -> None:
        self._arity(args, 1, "max-status-age SECONDS")
        if self.max_status_age is not None:
            raise PolicyError("a second max-status-age line")
        if not _POSITIVE.fullmatch(args[0]) or int(args[0]) > MAX_STATUS_AGE:
            raise PolicyError(
                f"max-status-age: {_show(args[0])} is not a decimal from 1 to {MAX_STATUS_AGE}"
            )
        self.max_status_age = int(args[0])


def _vkey(text: str, sig_type: int, what: str) -> Verifier:
    try:
        v = decode_verifier_key(text)
    except NocLedgerError as exc:
        raise PolicyError(f"{what} verifier key: {exc}") from None
    return _check_verifier(v, sig_type, what)


def parse_policy(data: bytes | str) -> TrustPolicy:
    """Parse a policy file strictly (spec/policy.md §5).

    ``data`` is the file's bytes; a ``str`` is taken as its UTF-8 encoding.

    Raises:
        PolicyError: the file breaks any rule of spec/policy.md §3-§5; the message names
            the line (1-based) where the procedure stopped.
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise PolicyError("the policy is not valid Unicode") from None
    if not isinstance(data, bytes):
        raise PolicyError(f"expected bytes, got {type(data).__name__}")
    # Steps 1-4: size, UTF-8, characters, line endings.
    if len(data) > MAX_POLICY_SIZE:
        raise PolicyError(f"the policy is {len(data)} bytes, more than {MAX_POLICY_SIZE}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = data.count(b"\n", 0, exc.start) + 1
        raise PolicyError(f"line {where}: not valid UTF-8 (at byte {exc.start})") from None
    bad = _FORBIDDEN.search(text)
    if bad:
        where = text.count("\n", 0, bad.start()) + 1
        raise PolicyError(f"line {where}: forbidden character U+{ord(bad.group()):04X}")
    if not text.endswith("\n"):
        raise PolicyError("the policy must be non-empty and end with a line feed")
    parser = _Parser()
    header_seen = False
    for number, line in enumerate(text[:-1].split("\n"), start=1):
        # Step 5: blank lines and comments are ignored.
        if not line or line.startswith("#"):
            continue
        try:
            if line != line.strip(" ") or "  " in line:
                raise PolicyError("leading, trailing or consecutive spaces")
            keyword, _, rest = line.partition(" ")
            args = rest.split(" ") if rest else []
            # Step 6: the header comes first, once.
            if not header_seen:
                if keyword != "noc-ledger-policy":
                    raise PolicyError(f"expected the header '{_HEADER}' first")
                if args != [str(POLICY_VERSION)]:
                    raise PolicyError(f"unsupported policy version {_show(rest)}")
                header_seen = True
                continue
            # Step 7: one directive per line.
            if keyword == "noc-ledger-policy":
                raise PolicyError("a second header line")
            if keyword == "authority":
                parser.authority_line(rest or None)
            elif keyword == "root":
                parser.root(args)
            elif keyword == "log":
                parser.log(args)
            elif keyword == "witness":
                parser.witness(args)
            elif keyword == "group":
                parser.group(args)
            elif keyword == "quorum":
                parser.quorum_line(args)
            elif keyword == "max-status-age":
                parser.max_age(args)
            else:
                raise PolicyError(f"unknown directive {_show(keyword)}")
        except PolicyError as exc:
            raise PolicyError(f"line {number}: {exc}") from None
    # Step 8: what must be present.
    if not header_seen:
        raise PolicyError(f"no header line '{_HEADER}'")
    if not parser.roots:
        raise PolicyError("no root line: at least one authority root is required")
    if not parser.logs:
        raise PolicyError("no log line: at least one log is required")
    if not parser.quorum_seen:
        raise PolicyError("no quorum line (write 'quorum none' to require no witness)")
    if parser.max_status_age is None:
        raise PolicyError("no max-status-age line")
    # Step 9: the value (whose own checks the steps above already imply).
    return TrustPolicy(
        authority=parser.authority,
        roots=tuple(parser.roots),
        logs=parser.logs,
        witnesses=parser.witnesses,
        groups=parser.groups,
        quorum=parser.quorum,
        max_status_age=parser.max_status_age,
    )
