"""A regulator's ledger directory: the files `noc-ledger init` creates and the admin
commands read, and the JSON/TOML forms of times and scopes they share.

Layout (format ``noc-ledger-dir/1``)::

    DIR/
      ledger.json              configuration, public (mode 0644), see below
      ledger.db                the log: SQLite store (WAL; ledger.db-wal and -shm beside it),
                               absent when ledger.json names a PostgreSQL store ("store")
      keys/                    mode 0700
        root.pem               authority root key: signs key events only
        log.pem                log key: signs checkpoints (note key name = origin)
        issuing-<KID16>.pem    delegated issuing keys, one file per key, named by the
                               first 16 hex digits of the key id (RFC 9679 thumbprint)

Every key file is PKCS#8 PEM, passphrase-encrypted (``ENCRYPTED PRIVATE KEY``) and written
atomically with mode 0600. One passphrase protects all the keys of a directory; it comes
from ``$NOC_LEDGER_PASSPHRASE`` or a prompt. A directory made with
``init --unsafe-no-passphrase`` holds unencrypted keys and says so in ``ledger.json``
(``"encrypted": false``); an unencrypted key file in a directory that says ``true`` is
refused, so a key cannot be silently downgraded.

Keys may instead live in a PKCS#11 token (an HSM): ``init --pkcs11-module PATH
--token-label LABEL`` generates the root and issuing keys (and with ``--pkcs11-keys`` the log
key) inside the token, where they stay; the directory then records only where they are —
the module's path, the token's label and each key's label — never the key, and the token's
user PIN comes from ``$NOC_LEDGER_PKCS11_PIN`` or a prompt. A key in a token is opened by its
label *and* its key id, so another key given the same label cannot stand in for it.

``ledger.json`` holds only public values::

    {
      "format": "noc-ledger-dir/1",
      "origin": "vara.example/noc-ledger",          log origin (checkpoint key name)
      "authority": "Virtual Assets Regulatory Authority",
      "jurisdiction": "AE-DU",                      ISO 3166-1/-2: the issuer of certificates
      "encrypted": true,                            key files are passphrase-encrypted
      "root_public_key": "<base64>",                authority root key (trust policy root)
      "log_public_key": "<base64>",                 log key
      "root_scope": {"vocabulary": ..., "grants": [...]},   the root's largest scope
      "issuing_key": "<hex key id>" | null,         the key `issue` and events sign with
      "keys": [                                     every issuing key delegated from here
        {"key_id": "<hex>", "public_key": "<base64>", "file": "keys/issuing-….pem",
         "label": "...", "valid_from": 1767225600, "valid_until": 1830297600}
      ],                                            (a key in the token has "pkcs11_label"
                                                    instead of "file")
      "pkcs11": {                                   optional: keys in a PKCS#11 token
        "module": "/usr/lib/softhsm/libsofthsm2.so",
        "token_label": "vara-keys",
        "root_key_label": "<label>" | null,         null: the key file keys/root.pem
        "log_key_label": "<label>" | null           null: the key file keys/log.pem
      }
    }

The log in ``ledger.db`` is the authority on what happened (which keys are delegated or
revoked, every certificate's status); ``ledger.json`` says where the keys are and which one
is current. Changing ``root_scope`` or a public key by hand makes the log's own entries fail
its rules; don't.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import re
import secrets
import tomllib
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from noc_ledger import signing
from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError
from noc_ledger.errors import KeyFileError, NocLedgerError, TokenError
from noc_ledger.events import KeyEvent, KeyEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.ledger.store import Store
from noc_ledger.logstate import Authority
from noc_ledger.model import Issuer
from noc_ledger.note import check_key_name
from noc_ledger.scope import Grant, Limit, Scope, Territory
from noc_ledger.vocabulary import DEFAULT_VOCABULARY_ID, load_vocabulary

if TYPE_CHECKING:
    from noc_ledger.hsm import Pkcs11Signer

__all__ = [
    "CONFIG",
    "DATABASE",
    "FORMAT",
    "KEYS",
    "MIN_ID_PREFIX",
    "Config",
    "FieldError",
    "KeyInfo",
    "LedgerDir",
    "Obj",
    "Pkcs11Config",
    "default_root_scope",
    "format_time",
    "issuing_key_file",
    "load_document",
    "load_scope",
    "parse_scope",
    "parse_time",
    "resolve_id",
    "scope_to_json",
]

FORMAT: Final = "noc-ledger-dir/1"
CONFIG: Final = "ledger.json"
DATABASE: Final = "ledger.db"
KEYS: Final = "keys"
ROOT_KEY_FILE: Final = "keys/root.pem"
LOG_KEY_FILE: Final = "keys/log.pem"
#: Largest TOML or JSON document read whole (a request, a scope, the configuration).
MAX_DOCUMENT: Final = 1 << 20

_ENCRYPTED_PEM: Final = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
_PLAIN_PEM: Final = b"-----BEGIN PRIVATE KEY-----"
_MAX_TIME: Final = (1 << 63) - 1
_RFC3339_UTC: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:Z|z|\+00:00)"
)


def token_key_label(origin: str, role: str) -> str:
    """A fresh CKA_LABEL for a key generated in a token: the origin and role say whose key
    it is to whoever lists the token; the random suffix keeps labels unique, so a second
    ledger (or a retried init) on one token never collides with an earlier key."""
    return f"noc-ledger {origin} {role} {secrets.token_hex(4)}"


def issuing_key_file(key_id: bytes) -> str:
    """The file (relative to the directory) of a delegated issuing key."""
    return f"{KEYS}/issuing-{key_id.hex()[:16]}.pem"


# ---------------------------------------------------------------------------------------
# Field-by-field reading of JSON/TOML documents, with errors that name the field


class FieldError(CommandError):
    """A document field is missing, of the wrong type, or has a bad value. The message is
    ``path: problem``, e.g. ``subject.lei: check digits do not verify``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@contextmanager
def at_field(path: str) -> Iterator[None]:
    """Report a library error raised while building the value at ``path`` as a
    :class:`FieldError` for that field."""
    try:
        yield
    except FieldError:
        raise
    except NocLedgerError as exc:
        message = str(exc)
        # "territory: …" at scope.grants[0].territory: say the field's name once.
        last = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1]).replace("_", " ")
        if last and message.startswith(f"{last}: "):
            message = message[len(last) + 2 :]
        raise FieldError(path, message) from None


class Obj:
    """A table (TOML) or object (JSON) read field by field. ``fields`` are the names it
    may have: any other is an error, reported before anything else (a misspelt field
    reads better as "unknown" than as the field it was meant to be "missing")."""

    def __init__(self, value: object, path: str, fields: Iterable[str]) -> None:
        if not isinstance(value, dict):
            raise FieldError(path, "expected a table (an object)")
        self.value: dict[str, object] = value
        self.path = path
        self._fields = frozenset(fields)
        unknown = sorted(set(value) - self._fields)
        if unknown:
            raise FieldError(self.at(unknown[0]), "unknown field")

    def at(self, name: str) -> str:
        return _join(self.path, name)

    def get(self, name: str) -> object | None:
        assert name in self._fields, name
        return self.value.get(name)

    def need(self, name: str) -> object:
        assert name in self._fields, name
        if name not in self.value:
            raise FieldError(self.at(name), "required field is missing")
        return self.value[name]

    def text(self, name: str) -> str:
        """A required string."""
        value = self.need(name)
        if not isinstance(value, str):
            raise FieldError(self.at(name), "expected a string")
        return value

    def opt_text(self, name: str) -> str | None:
        """An optional string."""
        if self.get(name) is None:
            return None
        return self.text(name)

    def texts(self, name: str) -> tuple[str, ...]:
        """An optional list of strings (absent or empty: no items)."""
        return string_list(self.get(name), self.at(name))

    def items(self, name: str) -> list[object]:
        """An optional list (absent: empty)."""
        value = self.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise FieldError(self.at(name), "expected a list")
        return value

    def integer(self, name: str) -> int:
        value = self.need(name)
        if type(value) is not int:
            raise FieldError(self.at(name), "expected an integer")
        if not 0 <= value <= _MAX_TIME:
            raise FieldError(self.at(name), "must be an integer in [0, 2**63)")
        return value

    def time(self, name: str) -> int:
        """A required time (:func:`parse_time`)."""
        return parse_time(self.need(name), self.at(name))

    def opt_time(self, name: str) -> int | None:
        """An optional time."""
        value = self.get(name)
        return None if value is None else parse_time(value, self.at(name))


def string_list(value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError(path, "expected a list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise FieldError(f"{path}[{i}]", "expected a string")
    return tuple(str(item) for item in value)


# ---------------------------------------------------------------------------------------
# Times: POSIX seconds, or RFC 3339 in UTC


def parse_time(value: object, path: str) -> int:
    """A time as POSIX seconds: an integer, a string of digits, an RFC 3339 timestamp in
    UTC with whole seconds (``2026-01-01T00:00:00Z``), or a TOML offset date-time in UTC.

    Raises:
        FieldError: anything else (local times, other offsets, fractions, out of range).
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() != dt.timedelta(0):
            raise FieldError(path, "a date-time must be in UTC (end with Z)")
        if value.microsecond:
            raise FieldError(path, "times are whole seconds")
        return parse_time(int(value.timestamp()), path)
    if isinstance(value, dt.date | dt.time):
        raise FieldError(path, "expected a date and time in UTC, e.g. 2026-01-01T00:00:00Z")
    if type(value) is int:
        if not 0 <= value <= _MAX_TIME:
            raise FieldError(path, "a time is in [0, 2**63): not before 1970")
        return value
    if not isinstance(value, str):
        raise FieldError(path, "expected an RFC 3339 UTC timestamp or an integer")
    if value.isascii() and value.isdigit():
        return parse_time(int(value), path)
    m = _RFC3339_UTC.fullmatch(value)
    if m is None:
        raise FieldError(
            path, f"{value!r} is not an RFC 3339 UTC timestamp like 2026-01-01T00:00:00Z"
        )
    year, month, day, hour, minute, second = (int(g) for g in m.groups())
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError as exc:
        raise FieldError(path, f"{value!r}: {exc}") from None
    return parse_time(int(moment.timestamp()), path)


def format_time(seconds: int | None) -> str:
    """RFC 3339 UTC for people (the integer itself if it is beyond year 9999)."""
    if seconds is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return str(seconds)


# ---------------------------------------------------------------------------------------
# Scopes in JSON/TOML form (spec/requests.md §4)


_GRANT_FIELDS: Final = (
    "activity",
    "customer_types",
    "territory",
    "excluded_activities",
    "products_allowed",
    "products_denied",
    "limits",
    "conditions_precedent",
)


def _limit(value: object, path: str) -> Limit:
    o = Obj(value, path, ("metric", "unit", "maximum"))
    metric = o.text("metric")
    unit = o.text("unit")
    maximum = o.integer("maximum")
    with at_field(path):
        return Limit(metric, unit, maximum)


def _grant(value: object, path: str) -> Grant:
    o = Obj(value, path, _GRANT_FIELDS)
    activity = o.text("activity")
    customer_types = o.texts("customer_types")
    t = Obj(o.need("territory"), o.at("territory"), ("include", "exclude"))
    include = t.texts("include")
    exclude = t.texts("exclude")
    with at_field(t.path):
        territory = Territory(include, exclude)
    excluded = o.texts("excluded_activities")
    allowed = o.texts("products_allowed")
    denied = o.texts("products_denied")
    limits = tuple(_limit(x, f"{o.at('limits')}[{i}]") for i, x in enumerate(o.items("limits")))
    conditions = o.texts("conditions_precedent")
    with at_field(path):
        return Grant(
            activity=activity,
            customer_types=customer_types,
            territory=territory,
            excluded_activities=excluded,
            products_allowed=allowed,
            products_denied=denied,
            limits=limits,
            conditions_precedent=conditions,
        )


def parse_scope(value: object, path: str = "scope") -> Scope:
    """A scope from its JSON/TOML form ``{vocabulary?, grants: [...]}``.

    Raises:
        FieldError: naming the first field at fault.
    """
    o = Obj(value, path, ("vocabulary", "grants"))
    vocabulary_id = o.opt_text("vocabulary") or DEFAULT_VOCABULARY_ID
    with at_field(o.at("vocabulary")):
        vocabulary = load_vocabulary(vocabulary_id)
    raw = o.items("grants")
    if not raw:
        raise FieldError(o.at("grants"), "at least one grant")
    if len(raw) > 64:
        raise FieldError(o.at("grants"), "at most 64 grants")
    grants = []
    for i, item in enumerate(raw):
        where = f"{o.at('grants')}[{i}]"
        grant = _grant(item, where)
        with at_field(where):
            grant.check_vocabulary(vocabulary)
        grants.append(grant)
    with at_field(path):
        return Scope(tuple(grants), vocabulary_id)


def scope_to_json(scope: Scope) -> dict[str, Any]:
    """The JSON form of ``scope`` (:func:`parse_scope` reads it back to an equal scope)."""
    grants: list[dict[str, Any]] = []
    for g in scope.grants:
        territory: dict[str, Any] = {"include": list(g.territory.include)}
        if g.territory.exclude:
            territory["exclude"] = list(g.territory.exclude)
        item: dict[str, Any] = {
            "activity": g.activity,
            "customer_types": list(g.customer_types),
            "territory": territory,
        }
        optional: dict[str, Sequence[object]] = {
            "excluded_activities": g.excluded_activities,
            "products_allowed": g.products_allowed,
            "products_denied": g.products_denied,
            "limits": [
                {"metric": x.metric, "unit": x.unit, "maximum": x.maximum} for x in g.limits
            ],
            "conditions_precedent": g.conditions_precedent,
        }
        item.update((k, list(v)) for k, v in optional.items() if v)
        grants.append(item)
    return {"vocabulary": scope.vocabulary_id, "grants": grants}


def default_root_scope(jurisdiction: str, vocabulary_id: str = DEFAULT_VOCABULARY_ID) -> Scope:
    """Everything in the vocabulary for the jurisdiction's country: one grant per top-level
    activity (``prep``, ``va``) for every customer type, territory = the country."""
    vocabulary = load_vocabulary(vocabulary_id)
    country = jurisdiction[:2]
    tops = sorted(a for a in vocabulary.activities if "." not in a)
    customers = tuple(sorted(vocabulary.customer_types))
    return Scope(tuple(Grant(a, customers, Territory((country,))) for a in tops), vocabulary.id)


# ---------------------------------------------------------------------------------------
# Reading TOML and JSON


def _no_float(text: str) -> object:
    raise ValueError(f"{text}: numbers are integers here (no fractions or exponents)")


def _no_constant(text: str) -> object:
    raise ValueError(f"{text} is not allowed")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(text: str, where: str) -> object:
    """Strict JSON: no duplicate keys, no fractions, no NaN/Infinity.

    Raises:
        CommandError: naming ``where`` and the position.
    """
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise CommandError(f"{where}: invalid JSON: {exc}") from None


def parse_toml(text: str, where: str) -> dict[str, object]:
    """TOML 1.0 via :mod:`tomllib`; floats are refused where they would be read.

    Raises:
        CommandError: a syntax error, naming ``where``.
    """
    try:
        return tomllib.loads(text, parse_float=_no_float)
    except tomllib.TOMLDecodeError as exc:
        raise CommandError(f"{where}: invalid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise CommandError(f"{where}: invalid TOML: {exc}") from None


def decode_text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{where}: not UTF-8 text (byte {exc.start})") from None


def load_scope(path: str | Path, *, what: str) -> Scope:
    """A scope file (spec/requests.md §4: the scope form is the whole document).

    Raises:
        CommandError: unreadable, a syntax error, or a field at fault (naming the file).
    """
    document = load_document(path, what=what)
    try:
        return parse_scope(document, "")
    except FieldError as exc:
        raise CommandError(f"{path}: {exc}") from None


def load_document(path: str | Path, *, what: str) -> object:
    """A ``.toml`` or ``.json`` file (by suffix; other names: JSON if it starts with ``{``,
    else TOML).

    Raises:
        CommandError: unreadable, too large, not UTF-8, or a syntax error.
    """
    p = Path(path)
    if p.is_dir():
        raise CommandError(f"{what} {p} is a directory, not a file")
    text = decode_text(common.read_bytes(p, what=what, limit=MAX_DOCUMENT), str(p))
    suffix = p.suffix.lower()
    if suffix == ".json" or (suffix != ".toml" and text.lstrip().startswith("{")):
        return parse_json(text, str(p))
    return parse_toml(text, str(p))


# ---------------------------------------------------------------------------------------
# The configuration file


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, path: str, size: int) -> bytes:
    if not isinstance(value, str):
        raise FieldError(path, "expected base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(path, "not valid base64") from None
    if len(raw) != size:
        raise FieldError(path, f"expected {size} bytes")
    return raw


def _unhex(value: object, path: str, size: int) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(rf"[0-9a-f]{{{2 * size}}}", value):
        raise FieldError(path, f"expected {2 * size} lowercase hex digits")
    return bytes.fromhex(value)


_KEY_FIELDS: Final = (
    "key_id",
    "public_key",
    "file",
    "pkcs11_label",
    "label",
    "valid_from",
    "valid_until",
)
_PKCS11_FIELDS: Final = ("module", "token_label", "root_key_label", "log_key_label")
_CONFIG_FIELDS: Final = (
    "format",
    "origin",
    "authority",
    "jurisdiction",
    "encrypted",
    "root_public_key",
    "log_public_key",
    "root_scope",
    "issuing_key",
    "keys",
    "pkcs11",
    "store",
)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An issuing key this directory delegated, and where it is: the key file ``file``,
    or the key labelled ``pkcs11_label`` in the directory's token (exactly one is set)."""

    key_id: bytes
    public_key: bytes
    file: str | None
    label: str | None
    valid_from: int
    valid_until: int
    pkcs11_label: str | None = None

    @property
    def location(self) -> str:
        """Where the key is, for people: the file, or ``PKCS#11 token key '<label>'``."""
        if self.file is not None:
            return self.file
        return f"PKCS#11 token key {self.pkcs11_label!r}"

    def to_json(self) -> dict[str, Any]:
        where = {"file": self.file} if self.file is not None else {}
        if self.pkcs11_label is not None:
            where["pkcs11_label"] = self.pkcs11_label
        return {
            "key_id": self.key_id.hex(),
            "public_key": _b64(self.public_key),
            **where,
            "label": self.label,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }

    @classmethod
    def from_json(cls, value: object, path: str) -> KeyInfo:
        o = Obj(value, path, _KEY_FIELDS)
        public_key = _unb64(o.need("public_key"), o.at("public_key"), 32)
        key_id = _unhex(o.need("key_id"), o.at("key_id"), 32)
        if key_id != signing.key_id(public_key):
            raise FieldError(o.at("key_id"), "does not match the public key")
        file = o.opt_text("file")
        token_label = o.opt_text("pkcs11_label")
        if (file is None) == (token_label is None):
            raise FieldError(path, "give exactly one of file and pkcs11_label")
        if file is not None and not re.fullmatch(r"keys/[A-Za-z0-9._-]+\.pem", file):
            raise FieldError(o.at("file"), "expected keys/<name>.pem")
        if token_label == "":
            raise FieldError(o.at("pkcs11_label"), "expected a non-empty label")
        label = o.opt_text("label")
        info = cls(
            key_id,
            public_key,
            file,
            label,
            o.integer("valid_from"),
            o.integer("valid_until"),
            token_label,
        )
        return info


@dataclass(frozen=True, slots=True)
class Pkcs11Config:
    """The PKCS#11 token that holds some of this directory's keys: the module (a shared
    library path), the token's label, and the labels of the root and log keys if they are
    in it (None: that key is a file). Issuing keys say for themselves (KeyInfo)."""

    module: str
    token_label: str
    root_key_label: str | None = None
    log_key_label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "token_label": self.token_label,
            "root_key_label": self.root_key_label,
            "log_key_label": self.log_key_label,
        }

    @classmethod
    def from_json(cls, value: object, path: str) -> Pkcs11Config:
        o = Obj(value, path, _PKCS11_FIELDS)
        config = cls(
            o.text("module"),
            o.text("token_label"),
            o.opt_text("root_key_label"),
            o.opt_text("log_key_label"),
        )
        for name in _PKCS11_FIELDS:
            if getattr(config, name) == "":
                raise FieldError(o.at(name), "expected a non-empty string")
        return config


@dataclass(slots=True)
class Config:
    """The contents of ``ledger.json`` (see the module docstring)."""

    origin: str
    authority: str
    jurisdiction: str
    encrypted: bool
    root_public_key: bytes
    log_public_key: bytes
    root_scope: Scope
    issuing_key: bytes | None
    keys: list[KeyInfo] = field(default_factory=list)
    pkcs11: Pkcs11Config | None = None
    #: A PostgreSQL DSN (docs/postgres.md) holding the log instead of ledger.db; never a
    #: password (libpq reads $PGPASSWORD or ~/.pgpass).
    store: str | None = None

    def to_json(self) -> bytes:
        obj = {
            "format": FORMAT,
            "origin": self.origin,
            "authority": self.authority,
            "jurisdiction": self.jurisdiction,
            "encrypted": self.encrypted,
            "root_public_key": _b64(self.root_public_key),
            "log_public_key": _b64(self.log_public_key),
            "root_scope": scope_to_json(self.root_scope),
            "issuing_key": None if self.issuing_key is None else self.issuing_key.hex(),
            "keys": [k.to_json() for k in self.keys],
        }
        if self.pkcs11 is not None:
            obj["pkcs11"] = self.pkcs11.to_json()
        if self.store is not None:
            obj["store"] = self.store
        return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Config:
        """Raises: CommandError naming ``where`` and the field."""
        try:
            o = Obj(parse_json(decode_text(data, where), where), "", _CONFIG_FIELDS)
            if o.need("format") != FORMAT:
                raise FieldError("format", f"expected {FORMAT!r}")
            encrypted = o.need("encrypted")
            if not isinstance(encrypted, bool):
                raise FieldError("encrypted", "expected true or false")
            issuing = o.need("issuing_key")
            keys = [KeyInfo.from_json(k, f"keys[{i}]") for i, k in enumerate(o.items("keys"))]
            raw_pkcs11 = o.get("pkcs11")
            pkcs11 = None if raw_pkcs11 is None else Pkcs11Config.from_json(raw_pkcs11, "pkcs11")
            store = o.opt_text("store")
            if store is not None:
                check_store_dsn(store, "store")
            config = cls(
                origin=o.text("origin"),
                authority=o.text("authority"),
                jurisdiction=o.text("jurisdiction"),
                encrypted=encrypted,
                root_public_key=_unb64(o.need("root_public_key"), "root_public_key", 32),
                log_public_key=_unb64(o.need("log_public_key"), "log_public_key", 32),
                root_scope=parse_scope(o.need("root_scope"), "root_scope"),
                issuing_key=None if issuing is None else _unhex(issuing, "issuing_key", 32),
                keys=keys,
                pkcs11=pkcs11,
                store=store,
            )
            if pkcs11 is None and any(k.pkcs11_label is not None for k in keys):
                raise FieldError("pkcs11", "keys in a token, but no token is configured")
        except CommandError as exc:
            raise CommandError(f"{where}: {exc}") from None
        if config.issuing_key is not None and config.key(config.issuing_key) is None:
            raise CommandError(f"{where}: issuing_key is not one of keys")
        return config

    def key(self, key_id: bytes) -> KeyInfo | None:
        return next((k for k in self.keys if k.key_id == key_id), None)

    def find_key(self, text: str) -> KeyInfo:
        """A delegated key by its hex key id or a unique prefix of at least 8 digits.

        Raises:
            CommandError: no such key, or the prefix is ambiguous.
        """
        wanted = text.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{8,64}", wanted):
            raise CommandError(f"KEY_ID {text!r}: expected 8 to 64 hex digits of a key id")
        found = [k for k in self.keys if k.key_id.hex().startswith(wanted)]
        if not found:
            raise CommandError(f"no issuing key {wanted} in this ledger directory")
        if len(found) > 1:
            raise CommandError(f"key id prefix {wanted} is ambiguous: give more digits")
        return found[0]


# ---------------------------------------------------------------------------------------
# Signers


class _LazySigner:
    """A signer whose private key is read (asking for the passphrase) only when it first
    signs: read-only commands never need the passphrase."""

    def __init__(self, public_key: bytes, load: Callable[[], signing.Signer]) -> None:
        self._public_key = public_key
        self._key_id = signing.key_id(public_key)
        self._load = load
        self._signer: signing.Signer | None = None

    @property
    def public_key(self) -> bytes:
        return self._public_key

    @property
    def key_id(self) -> bytes:
        return self._key_id

    def sign(self, message: bytes) -> bytes:
        if self._signer is None:
            self._signer = self._load()
        return self._signer.sign(message)


def encode_key(signer: signing.Ed25519Signer, passphrase: bytes | None) -> bytes:
    """A key file's bytes: encrypted with ``passphrase``, or unencrypted if it is None."""
    if passphrase is None:
        return signing.encode_private_key_unsafe_unencrypted(signer)
    return signing.encode_private_key(signer, passphrase)


def get_passphrase(prompt: str, *, confirm: bool = False) -> bytes:
    """:func:`common.read_passphrase`, with end of input reported as an error."""
    try:
        return common.read_passphrase(prompt, confirm=confirm)
    except EOFError:
        raise CommandError("no passphrase given") from None


# ---------------------------------------------------------------------------------------
# The directory


class LedgerDir:
    """An open ledger directory: its configuration, keys and store.

    Use as a context manager so the store is closed. Keys are read on demand; the
    passphrase is asked for at most once.
    """

    def __init__(self, path: Path, config: Config) -> None:
        self.path = path
        self.config = config
        self._passphrase: bytes | None = None
        self._pin: str | None = None
        self._store: Store | None = None
        self._ledger: Ledger | None = None
        self._signers: dict[str, signing.Signer] = {}
        # Signers holding a session on the token: closed (and logged out) by close().
        self._token_signers: list[Pkcs11Signer] = []

    @classmethod
    def open(cls, path: str | Path) -> LedgerDir:
        """Open an existing directory.

        Raises:
            CommandError: not a ledger directory, or its configuration is invalid.
        """
        p = Path(path)
        if not p.is_dir():
            raise CommandError(f"{p} is not a directory")
        config_path = p / CONFIG
        if not config_path.is_file():
            raise CommandError(
                f"{p} is not a ledger directory (no {CONFIG}): create one with `noc-ledger init`"
            )
        config = Config.from_json(
            common.read_bytes(config_path, what="configuration", limit=MAX_DOCUMENT),
            str(config_path),
        )
        if config.store is None and not (p / DATABASE).is_file():
            raise CommandError(f"{p / DATABASE} is missing")
        return cls(p, config)

    def __enter__(self) -> LedgerDir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
            self._ledger = None
        while self._token_signers:
            # Logging out cannot undo what was signed; a failure to is not worth an error
            # that would hide the command's outcome.
            with contextlib.suppress(TokenError):
                self._token_signers.pop().close()

    # -- keys --------------------------------------------------------------------------

    def passphrase(self) -> bytes | None:
        """The directory's passphrase (None for an unencrypted directory)."""
        if not self.config.encrypted:
            return None
        if self._passphrase is None:
            self._passphrase = get_passphrase(f"passphrase for the keys in {self.path}: ")
        return self._passphrase

    def pin(self) -> str:
        """The user PIN of the directory's token, asked for at most once."""
        if self._pin is None:
            token = self.token().token_label
            self._pin = common.read_pin(f"user PIN of the PKCS#11 token {token!r}: ")
        return self._pin

    def token(self) -> Pkcs11Config:
        """The directory's PKCS#11 token.

        Raises:
            CommandError: the directory has none.
        """
        if self.config.pkcs11 is None:
            raise CommandError(
                f"{self.path} keeps no key in a PKCS#11 token (it was not made with "
                "init --pkcs11-module)"
            )
        return self.config.pkcs11

    def load_token_key(self, label: str, public_key: bytes, what: str) -> signing.Signer:
        """Open the key labelled ``label`` in the directory's token, by its label and the
        key id of ``public_key`` (so that no other key can stand in for it).

        Raises:
            TokenError: module, token, PIN or key not found or unusable.
        """
        name = f"pkcs11:{label}"
        cached = self._signers.get(name)
        if cached is not None:
            return cached
        from noc_ledger.hsm import Pkcs11Signer  # noqa: PLC0415 - python-pkcs11 is optional

        token = self.token()
        try:
            signer = Pkcs11Signer(
                token.module,
                token_label=token.token_label,
                pin=self.pin(),
                label=label,
                key_id=signing.key_id(public_key),
            )
        except TokenError as exc:
            raise TokenError(f"{what} key: {exc}") from None
        self._token_signers.append(signer)
        self._signers[name] = signer
        return signer

    def generate_token_key(self, label: str) -> Pkcs11Signer:
        """Generate a key pair labelled ``label`` in the directory's token (non-extractable,
        spec/signing.md §3) and keep it open.

        Raises:
            TokenError: as :func:`noc_ledger.hsm.generate_ed25519_key`.
        """
        from noc_ledger.hsm import generate_ed25519_key  # noqa: PLC0415 - optional binding

        token = self.token()
        signer = generate_ed25519_key(
            token.module, token_label=token.token_label, pin=self.pin(), key_label=label
        )
        self._token_signers.append(signer)
        self._signers[f"pkcs11:{label}"] = signer
        return signer

    def load_key(self, file: str, public_key: bytes, what: str) -> signing.Signer:
        """Read a key file and check it holds the key the configuration names.

        Raises:
            CommandError: missing, unreadable, wrong passphrase, or another key.
        """
        cached = self._signers.get(file)
        if cached is not None:
            return cached
        path = self.path / file
        data = common.read_bytes(path, what=f"{what} key file", limit=64 * 1024)
        if data.lstrip().startswith(_ENCRYPTED_PEM):
            passphrase = self.passphrase()
            if passphrase is None:
                raise CommandError(f"{path} is encrypted but {CONFIG} says keys are not")
            try:
                signer = signing.decode_private_key(data, passphrase)
            except KeyFileError:
                raise CommandError(
                    f"cannot open {path}: wrong passphrase (or a damaged key file)"
                ) from None
        elif data.lstrip().startswith(_PLAIN_PEM):
            if self.config.encrypted:
                raise CommandError(
                    f"{path} is not encrypted but {CONFIG} says keys are: refusing it"
                )
            try:
                signer = signing.decode_private_key_unsafe_unencrypted(data)
            except KeyFileError as exc:
                raise CommandError(f"cannot open {path}: {exc}") from None
        else:
            raise CommandError(f"{path} is not a PKCS#8 PEM key file")
        if signer.public_key != public_key:
            raise CommandError(f"{path} does not hold the {what} key named in {CONFIG}")
        self._signers[file] = signer
        return signer

    def root_signer(self) -> signing.Signer:
        token = self.config.pkcs11
        if token is not None and token.root_key_label is not None:
            return self.load_token_key(
                token.root_key_label, self.config.root_public_key, "authority root"
            )
        return self.load_key(ROOT_KEY_FILE, self.config.root_public_key, "authority root")

    def log_signer(self) -> signing.Signer:
        token = self.config.pkcs11
        if token is not None and token.log_key_label is not None:
            return self.load_token_key(token.log_key_label, self.config.log_public_key, "log")
        return self.load_key(LOG_KEY_FILE, self.config.log_public_key, "log")

    def issuing_info(self) -> KeyInfo:
        """The current issuing key's entry.

        Raises:
            CommandError: there is none (it was revoked), or the log says it is revoked.
        """
        if self.config.issuing_key is None:
            raise CommandError(
                "this ledger has no current issuing key: run `noc-ledger key rotate`"
            )
        info = self.config.key(self.config.issuing_key)
        assert info is not None  # Config.from_json checks it
        record = self.ledger().key_status(info.key_id)
        if record is None:
            raise CommandError(f"the issuing key {info.key_id.hex()[:16]} is not in the log")
        if record.revoked_index is not None:
            raise CommandError(
                f"the issuing key {info.key_id.hex()[:16]} is revoked: run `noc-ledger key rotate`"
            )
        return info

    def issuing_signer(self) -> signing.Signer:
        info = self.issuing_info()
        if info.pkcs11_label is not None:
            return self.load_token_key(info.pkcs11_label, info.public_key, "issuing")
        assert info.file is not None  # KeyInfo.from_json: exactly one of the two
        return self.load_key(info.file, info.public_key, "issuing")

    def write_key(self, file: str, signer: signing.Ed25519Signer) -> None:
        """Write a new key file (mode 0600) in the directory's mode (encrypted or not)."""
        data = encode_key(signer, self.passphrase())
        common.write_private(self.path / file, data)
        self._signers[file] = signer

    def save(self) -> None:
        """Write ``ledger.json`` atomically."""
        common.write_public(self.path / CONFIG, self.config.to_json())

    # -- the log -----------------------------------------------------------------------

    def ledger(self, *, sign: bool = False) -> Ledger:
        """The ledger on this directory's store. With ``sign``, the log key is read now
        (before any transaction starts); otherwise only if a checkpoint must be signed."""
        log_signer: signing.Signer
        if sign:
            log_signer = self.log_signer()
        else:
            log_signer = _LazySigner(self.config.log_public_key, self.log_signer)
        if self._ledger is None or sign:
            if self._store is None:
                self._store = self._open_store()
            self._ledger = Ledger(
                self._store,
                origin=self.config.origin,
                authority=Authority(self.config.root_public_key, self.config.root_scope),
                log_signer=log_signer,
                clock=common.now,
            )
        return self._ledger

    def _open_store(self) -> Store:
        """``ledger.db``, or the PostgreSQL store ``ledger.json`` names.

        Raises:
            CommandError: psycopg (the ``postgres`` extra) is not installed.
            StorageError: the database cannot be opened or reached.
        """
        if self.config.store is None:
            return SqliteStore(self.path / DATABASE)
        try:
            from noc_ledger.ledger.postgres import PostgresStore  # noqa: PLC0415
        except ImportError:
            raise CommandError(
                "this ledger's log is in PostgreSQL: install the driver with "
                "pip install 'noc-ledger[postgres]'"
            ) from None
        return PostgresStore(self.config.store)


def check_store_dsn(dsn: str, path: str) -> None:
    """A ``--store`` / ``store`` value: a ``postgresql://`` or ``postgres://`` URI without a
    password (``ledger.json`` is public).

    Raises:
        FieldError: anything else.
    """
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise FieldError(path, "expected a postgresql://user@host/dbname URI")
    try:
        parsed = urllib.parse.urlsplit(dsn)
        query = urllib.parse.parse_qs(parsed.query)
    except ValueError as exc:
        raise FieldError(path, f"not a URI: {exc}") from None
    if parsed.password is not None or "password" in query:
        raise FieldError(
            path, "no password in the URI (ledger.json is public): use $PGPASSWORD or ~/.pgpass"
        )


# ---------------------------------------------------------------------------------------
# Creating a directory


def _check_empty(path: Path) -> bool:
    """True if ``path`` must be created; refuses a non-empty directory or a file."""
    if not path.exists():
        return True
    if not path.is_dir():
        raise CommandError(f"{path} exists and is not a directory")
    try:
        if any(path.iterdir()):
            raise CommandError(
                f"{path} is not empty: init makes a new ledger in an empty directory"
            )
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    return False


#: The keys `init --pkcs11-keys` may put in the token.
TOKEN_ROLES: Final = ("root", "log", "issuing")


def create(
    path: str | Path,
    *,
    origin: str,
    authority: str,
    jurisdiction: str,
    root_scope: Scope,
    passphrase: bytes | None,
    issuing_label: str | None,
    issuing_valid_from: int,
    issuing_valid_until: int,
    now: int,
    encrypted: bool | None = None,
    pkcs11: tuple[str, str] | None = None,
    token_roles: Sequence[str] = ("root", "issuing"),
    store: str | None = None,
) -> LedgerDir:
    """Make a new ledger directory (see the module docstring): three new keys, the log
    with the delegation of the issuing key as entry 0 and its first checkpoint, and
    ``ledger.json`` last — a directory without it is not a ledger. On failure, whatever
    was created is removed again (keys generated in a token are destroyed).

    ``passphrase`` None writes unencrypted key files (``--unsafe-no-passphrase``), unless
    ``encrypted`` says key files are encrypted (every key is in a token now; a key file
    written later asks for a passphrase then).
    ``pkcs11`` (module path, token label) generates the keys named in ``token_roles``
    (:data:`TOKEN_ROLES`) in that PKCS#11 token (the PIN from ``$NOC_LEDGER_PKCS11_PIN``
    or a prompt).
    ``store`` (a PostgreSQL URI, :func:`check_store_dsn`) puts the log there instead of in
    ``ledger.db``; its schema must hold no entries yet. A failure after the log was written
    there leaves that log behind (drop the schema by hand before trying again).

    Raises:
        CommandError: ``path`` is not an empty directory (or absent), or cannot be written;
            ``store`` is not a password-free PostgreSQL URI or already holds a log.
        TokenError: the module, token or PIN is not right, or the token cannot make keys.
        NocLedgerError: a value breaks a rule of the library (origin, names, scope, times).
    """
    p = Path(path)
    if encrypted is None:
        encrypted = passphrase is not None
    if encrypted and passphrase is None and (pkcs11 is None or len(set(token_roles)) < 3):
        raise CommandError("a passphrase is needed for the key files")
    if store is not None:
        check_store_dsn(store, "--store")
    make_dir = _check_empty(p)
    with at_field("--origin"):
        check_key_name(origin)
    with at_field("--authority/--jurisdiction"):
        Issuer(authority, jurisdiction)
    labels: dict[str, str] = {}
    token: Pkcs11Config | None = None
    if pkcs11 is not None:
        unknown = sorted(set(token_roles) - set(TOKEN_ROLES))
        if unknown or not token_roles:
            raise CommandError(
                f"--pkcs11-keys: {', '.join(unknown) or 'nothing'}: name keys among "
                f"{', '.join(TOKEN_ROLES)}"
            )
        labels = {
            role: token_key_label(origin, role) for role in TOKEN_ROLES if role in token_roles
        }
        token = Pkcs11Config(pkcs11[0], pkcs11[1], labels.get("root"), labels.get("log"))
    # A placeholder configuration until the public keys are known: the directory object
    # is what opens the token (PIN asked once) and closes it.
    directory = LedgerDir(
        p,
        Config(origin, authority, jurisdiction, encrypted, b"", b"", root_scope, None),
    )
    directory.config.pkcs11 = token
    generated: list[Pkcs11Signer] = []
    keys: dict[str, signing.Signer] = {}
    created: list[Path] = []
    try:
        for role in TOKEN_ROLES:
            if role in labels:
                signer = directory.generate_token_key(labels[role])
                generated.append(signer)
                keys[role] = signer
            else:
                keys[role] = signing.Ed25519Signer.generate()
        root, log, issuing = keys["root"], keys["log"], keys["issuing"]
        delegation = KeyEvent(
            KeyEventKind.DELEGATE,
            issuing.public_key,
            effective_at=issuing_valid_from,
            decided_at=now,
            label=issuing_label,
            valid_until=issuing_valid_until,
            scope=root_scope,
        )
        issuing_file = None if "issuing" in labels else issuing_key_file(issuing.key_id)
        # Encode every key file before writing anything: a short passphrase fails here.
        files = {
            name: encode_key(signer, passphrase)
            for name, signer in (
                (ROOT_KEY_FILE, root),
                (LOG_KEY_FILE, log),
                (issuing_file, issuing),
            )
            if name is not None and isinstance(signer, signing.Ed25519Signer)
        }
        directory.config = Config(
            origin=origin,
            authority=authority,
            jurisdiction=jurisdiction,
            encrypted=encrypted,
            root_public_key=root.public_key,
            log_public_key=log.public_key,
            root_scope=root_scope,
            issuing_key=issuing.key_id,
            keys=[
                KeyInfo(
                    issuing.key_id,
                    issuing.public_key,
                    issuing_file,
                    issuing_label,
                    issuing_valid_from,
                    issuing_valid_until,
                    labels.get("issuing"),
                )
            ],
            pkcs11=token,
            store=store,
        )
        try:
            if make_dir:
                p.mkdir(parents=True)
                created.append(p)
            (p / KEYS).mkdir(mode=0o700)
            created.append(p / KEYS)
            (p / KEYS).chmod(0o700)  # whatever the umask
        except OSError as exc:
            raise CommandError(f"cannot create {p}: {exc.strerror or exc}") from None
        for name, data in files.items():
            common.write_private(p / name, data)
            created.append(p / name)
        for file, key in ((ROOT_KEY_FILE, root), (LOG_KEY_FILE, log), (issuing_file, issuing)):
            if file is not None and file in files:
                directory._signers[file] = key
        if store is None:
            created += [p / DATABASE, p / f"{DATABASE}-wal", p / f"{DATABASE}-shm"]
        ledger = directory.ledger(sign=True)
        if ledger.size() != 0:
            raise CommandError(
                f"--store: the database already holds a log of {ledger.size()} entries"
            )
        # The published policy must be writable for this authority name (spec/policy.md §4.3).
        ledger.trust_policy(max_status_age=86_400, authority_name=authority)
        ledger.record_key_event(delegation, root)
        directory.save()
    except BaseException:
        for signer in generated:
            # Keys of a ledger that was never made must not linger in the token.
            with contextlib.suppress(TokenError):
                signer.destroy()
        directory.close()
        for item in reversed(created):
            try:
                if item.is_dir():
                    item.rmdir()
                else:
                    item.unlink(missing_ok=True)
            except OSError:
                pass
        raise
    return directory


_HEX_ID_RE: Final = re.compile(r"[0-9a-fA-F]{64}")
_HEX_PREFIX_RE: Final = re.compile(r"[0-9a-fA-F]{8,63}")


#: The shortest id prefix a read-only command accepts (as git does, but longer: 8 hex
#: digits leave one chance in 4 billion that another id shares them).
MIN_ID_PREFIX: Final = 8


def resolve_id(ledger: Ledger, text: str, what: str) -> bytes:
    """A certificate or key id of ``ledger`` written in full or as a unique prefix of at
    least :data:`MIN_ID_PREFIX` hex digits. Only for commands that read: the commands that
    sign an event about a certificate take its full id (parse_id), so that what is signed
    is exactly what was typed.

    Raises:
        CommandError: not hex, too short, or a prefix that no id or several ids start with.
    """
    value = text.strip()
    if _HEX_ID_RE.fullmatch(value):
        return bytes.fromhex(value)
    if not _HEX_PREFIX_RE.fullmatch(value):
        raise CommandError(
            f"{what} {text!r}: expected 64 hex digits, or the first {MIN_ID_PREFIX} or more"
        )
    found = ledger.find_ids(value, limit=2)
    if not found:
        raise CommandError(f"{what} {value}: no certificate or key id in this ledger starts so")
    if len(found) > 1:
        raise CommandError(f"{what} {value}: several ids start so; give more digits")
    return found[0]
