"""A regulator's ledger directory: the files `noc-ledger init` creates and the admin
commands read, and the JSON/TOML forms of times and scopes they share.

Layout (format ``noc-ledger-dir/1``)::

    DIR/
      ledger.json              configuration, public (mode 0644), see below
      ledger.db                the log: SQLite store (WAL; ledger.db-wal and -shm beside it)
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
      ]
    }

The log in ``ledger.db`` is the authority on what happened (which keys are delegated or
revoked, every certificate's status); ``ledger.json`` says where the keys are and which one
is current. Changing ``root_scope`` or a public key by hand makes the log's own entries fail
its rules; don't.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from noc_ledger import signing
from noc_ledger.cli import common
from noc_ledger.cli.common import CommandError
from noc_ledger.errors import KeyFileError, NocLedgerError
from noc_ledger.events import KeyEvent, KeyEventKind
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.sqlite import SqliteStore
from noc_ledger.logstate import Authority
from noc_ledger.model import Issuer
from noc_ledger.note import check_key_name
from noc_ledger.scope import Grant, Limit, Scope, Territory
from noc_ledger.vocabulary import DEFAULT_VOCABULARY_ID, load_vocabulary

__all__ = [
    "CONFIG",
    "DATABASE",
    "FORMAT",
    "KEYS",
    "Config",
    "FieldError",
    "KeyInfo",
    "LedgerDir",
    "Obj",
    "default_root_scope",
    "format_time",
    "issuing_key_file",
    "load_document",
    "load_scope",
    "parse_scope",
    "parse_time",
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


_KEY_FIELDS: Final = ("key_id", "public_key", "file", "label", "valid_from", "valid_until")
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
)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An issuing key this directory delegated, and the file that holds it."""

    key_id: bytes
    public_key: bytes
    file: str
    label: str | None
    valid_from: int
    valid_until: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id.hex(),
            "public_key": _b64(self.public_key),
            "file": self.file,
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
        file = o.text("file")
        if not re.fullmatch(r"keys/[A-Za-z0-9._-]+\.pem", file):
            raise FieldError(o.at("file"), "expected keys/<name>.pem")
        label = o.opt_text("label")
        info = cls(
            key_id, public_key, file, label, o.integer("valid_from"), o.integer("valid_until")
        )
        return info


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
            )
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

    def __init__(self, public_key: bytes, load: Callable[[], signing.Ed25519Signer]) -> None:
        self._public_key = public_key
        self._key_id = signing.key_id(public_key)
        self._load = load
        self._signer: signing.Ed25519Signer | None = None

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
        self._store: SqliteStore | None = None
        self._ledger: Ledger | None = None
        self._signers: dict[str, signing.Ed25519Signer] = {}

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
        if not (p / DATABASE).is_file():
            raise CommandError(f"{p / DATABASE} is missing")
        config = Config.from_json(
            common.read_bytes(config_path, what="configuration", limit=MAX_DOCUMENT),
            str(config_path),
        )
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

    # -- keys --------------------------------------------------------------------------

    def passphrase(self) -> bytes | None:
        """The directory's passphrase (None for an unencrypted directory)."""
        if not self.config.encrypted:
            return None
        if self._passphrase is None:
            self._passphrase = get_passphrase(f"passphrase for the keys in {self.path}: ")
        return self._passphrase

    def load_key(self, file: str, public_key: bytes, what: str) -> signing.Ed25519Signer:
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

    def root_signer(self) -> signing.Ed25519Signer:
        return self.load_key(ROOT_KEY_FILE, self.config.root_public_key, "authority root")

    def log_signer(self) -> signing.Ed25519Signer:
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

    def issuing_signer(self) -> signing.Ed25519Signer:
        info = self.issuing_info()
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
                self._store = SqliteStore(self.path / DATABASE)
            self._ledger = Ledger(
                self._store,
                origin=self.config.origin,
                authority=Authority(self.config.root_public_key, self.config.root_scope),
                log_signer=log_signer,
                clock=common.now,
            )
        return self._ledger


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
) -> LedgerDir:
    """Make a new ledger directory (see the module docstring): three new keys, the log
    with the delegation of the issuing key as entry 0 and its first checkpoint, and
    ``ledger.json`` last — a directory without it is not a ledger. On failure, whatever
    was created is removed again.

    ``passphrase`` None writes unencrypted key files (``--unsafe-no-passphrase``).

    Raises:
        CommandError: ``path`` is not an empty directory (or absent), or cannot be written.
        NocLedgerError: a value breaks a rule of the library (origin, names, scope, times).
    """
    p = Path(path)
    make_dir = _check_empty(p)
    with at_field("--origin"):
        check_key_name(origin)
    with at_field("--authority/--jurisdiction"):
        Issuer(authority, jurisdiction)
    root, log, issuing = (signing.Ed25519Signer.generate() for _ in range(3))
    delegation = KeyEvent(
        KeyEventKind.DELEGATE,
        issuing.public_key,
        effective_at=issuing_valid_from,
        decided_at=now,
        label=issuing_label,
        valid_until=issuing_valid_until,
        scope=root_scope,
    )
    issuing_file = issuing_key_file(issuing.key_id)
    # Encode every key before writing anything: a short passphrase fails here.
    files = {
        ROOT_KEY_FILE: encode_key(root, passphrase),
        LOG_KEY_FILE: encode_key(log, passphrase),
        issuing_file: encode_key(issuing, passphrase),
    }
    config = Config(
        origin=origin,
        authority=authority,
        jurisdiction=jurisdiction,
        encrypted=passphrase is not None,
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
            )
        ],
    )
    created: list[Path] = []
    directory = LedgerDir(p, config)
    try:
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
        for name, signer in ((ROOT_KEY_FILE, root), (LOG_KEY_FILE, log), (issuing_file, issuing)):
            directory._signers[name] = signer
        created += [p / DATABASE, p / f"{DATABASE}-wal", p / f"{DATABASE}-shm"]
        ledger = directory.ledger(sign=True)
        # The published policy must be writable for this authority name (spec/policy.md §4.3).
        ledger.trust_policy(max_status_age=86_400, authority_name=authority)
        ledger.record_key_event(delegation, root)
        directory.save()
    except BaseException:
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
