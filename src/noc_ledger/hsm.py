"""Ed25519 keys held in a PKCS#11 token (an HSM), so that the authority root and issuing
keys can live there and never leave it (key custody, spec/signing.md §3).

An edge module (GUIDE §2): it loads a PKCS#11 library through python-pkcs11 (the optional
``hsm`` extra) and talks to a device. It reads no environment variable and no file other
than the module the caller names; the module path, token label and PIN are passed in (the
CLI reads them from its environment).

Mechanisms are those of PKCS#11 3.0 §2.3: keys are generated in the token with
``CKM_EC_EDWARDS_KEY_PAIR_GEN`` and sign with ``CKM_EDDSA`` without parameters, which is
pure Ed25519 (RFC 8032 §5.1: no prehash, no context), the only signature noc_ledger makes.

Every failure is a :class:`~noc_ledger.errors.TokenError` (a
:class:`~noc_ledger.errors.KeyFileError`) whose one-line message names
the token and what went wrong; no exception of the PKCS#11 library escapes. A signature
the device returns is verified against the token's public key before it is handed out, so
a faulty device raises :class:`~noc_ledger.errors.SignatureError` rather than produce a
document that verifiers would reject.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from noc_ledger import signing
from noc_ledger.errors import TokenError

try:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
    from pkcs11.exceptions import (
        MechanismInvalid,
        MultipleTokensReturned,
        NoSuchToken,
        PinExpired,
        PinIncorrect,
        PinInvalid,
        PinLenRange,
        PinLocked,
        PKCS11Error,
        UserAlreadyLoggedIn,
    )
    from pkcs11.types import Object, Session, SignMixin, Token

    _MISSING: str | None = None
except ImportError:  # the optional 'hsm' extra is not installed
    _MISSING = "PKCS#11 support needs the 'hsm' extra: pip install 'noc-ledger[hsm]'"

__all__ = ["Pkcs11Signer", "generate_ed25519_key"]

#: CKA_EC_PARAMS of an Ed25519 key (PKCS#11 3.0 §2.3.3): the DER OID id-Ed25519
#: (1.3.101.112, RFC 8410 §3), or the DER PrintableString "edwards25519".
_ED25519_OID: Final = bytes.fromhex("06032b6570")
_ED25519_PARAMS: Final = frozenset({_ED25519_OID, b"\x13\x0cedwards25519"})
#: DER OCTET STRING header of a 32-byte value: CKA_EC_POINT's usual form.
_OCTET_STRING_32: Final = b"\x04\x20"
#: Length of the random CKA_ID that pairs a generated public key with its private key.
_CKA_ID_SIZE: Final = 16

_LoginKey = tuple[str, int, bytes]


def _require_binding() -> None:
    if _MISSING is not None:
        raise TokenError(_MISSING)


def _describe(exc: BaseException) -> str:
    # python-pkcs11 raises one class per CKR_* code, mostly without a message: the class
    # name (PinIncorrect, MechanismInvalid, DeviceRemoved, …) is the useful part.
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TokenError(f"a PKCS#11 {what} is a non-empty string")
    return value


# ---------------------------------------------------------------------------------------
# Logins. PKCS#11 keeps one login state per application and token, shared by all of its
# sessions (PKCS#11 3.0 §5.6): a second C_Login fails with CKR_USER_ALREADY_LOGGED_IN, and
# one C_Logout logs every session out. So that several signers on one token (a root key and
# an issuing key) can be open at once, the token's login is held by one anchor session,
# counted, and ended when the last signer using it closes.


@dataclass(slots=True)
class _Login:
    session: Session
    salt: bytes
    pin_mac: bytes
    users: int


_LOGINS: dict[_LoginKey, _Login] = {}
_LOGINS_LOCK: Final = threading.Lock()


def _pin_mac(salt: bytes, pin: str) -> bytes:
    return hmac.new(salt, pin.encode("utf-8"), hashlib.sha256).digest()


def _acquire_login(path: str, token: Token, pin: str, where: str) -> _LoginKey:
    key: _LoginKey = (path, int(token.slot.slot_id), bytes(token.serial))
    with _LOGINS_LOCK:
        login = _LOGINS.get(key)
        if login is not None:
            # Already logged in: C_Login cannot check this PIN now, so compare it with the
            # one that logged in (a token has one user PIN).
            if not hmac.compare_digest(login.pin_mac, _pin_mac(login.salt, pin)):
                raise TokenError(f"{where}: wrong PIN")
            login.users += 1
            return key
        try:
            session = token.open(user_pin=pin)
        except (PinIncorrect, PinInvalid, PinLenRange):
            raise TokenError(f"{where}: wrong PIN") from None
        except PinLocked:
            raise TokenError(f"{where}: the user PIN is locked") from None
        except PinExpired:
            raise TokenError(f"{where}: the user PIN has expired") from None
        except UserAlreadyLoggedIn:
            raise TokenError(f"{where}: logged in by other code in this process") from None
        except PKCS11Error as exc:
            raise TokenError(f"{where}: cannot log in ({_describe(exc)})") from None
        salt = secrets.token_bytes(16)
        _LOGINS[key] = _Login(session, salt, _pin_mac(salt, pin), 1)
        return key


def _release_login(key: _LoginKey, where: str) -> None:
    with _LOGINS_LOCK:
        login = _LOGINS.get(key)
        if login is None:
            return
        login.users -= 1
        if login.users > 0:
            return
        del _LOGINS[key]
        try:
            login.session.close()  # C_Logout, then C_CloseSession
        except PKCS11Error as exc:
            raise TokenError(f"{where}: cannot log out ({_describe(exc)})") from None


# ---------------------------------------------------------------------------------------
# Finding a token and a key pair in it.


def _open_token(module: str | os.PathLike[str], token_label: str) -> tuple[str, Token, str]:
    """Load the PKCS#11 module (once per process) and find the token by label.

    Returns the module's path as given, the token, and the prefix of error messages
    naming it. python-pkcs11 keeps one library object per path string and C_Initializes
    it once: a process must name a module by one path (a second spelling of the same file
    fails with "already initialized"). The path is not canonicalised here, so that other
    users of python-pkcs11 in the process that name it the same way share it.
    """
    _require_binding()
    _check_text(token_label, "token label")
    try:
        path = os.fspath(module)
    except TypeError:
        raise TokenError("a PKCS#11 module is a file path") from None
    if not os.path.isfile(path):
        raise TokenError(f"PKCS#11 module {path} not found")
    where = f"PKCS#11 token {token_label!r}"
    try:
        library = pkcs11.lib(path)
    except PKCS11Error as exc:
        if "already initialized" in str(exc):  # CKR_CRYPTOKI_ALREADY_INITIALIZED
            raise TokenError(
                f"cannot load PKCS#11 module {path}: this process loaded it by another path"
            ) from None
        raise TokenError(f"cannot load PKCS#11 module {path}: {_describe(exc)}") from None
    try:
        token = library.get_token(token_label=token_label)
    except NoSuchToken:
        raise TokenError(f"{where} not found in {path}") from None
    except MultipleTokensReturned:
        raise TokenError(f"{where}: more than one token has this label") from None
    except PKCS11Error as exc:
        raise TokenError(f"{where}: {_describe(exc)}") from None
    return path, token, where


def _ed25519_public_key(obj: Object) -> bytes | None:
    """The 32-byte Ed25519 public key of a CKK_EC_EDWARDS public key object, or None if
    its curve is not Ed25519 (Ed448 shares the key type).

    CKA_EC_POINT is a DER OCTET STRING around the 32 bytes (PKCS#11 3.0 §2.3.5, what
    SoftHSM writes); some tokens store the bare 32 bytes. Both are accepted, nothing else.
    """
    if bytes(obj[Attribute.EC_PARAMS]) not in _ED25519_PARAMS:
        return None
    point = bytes(obj[Attribute.EC_POINT])
    if len(point) == len(_OCTET_STRING_32) + 32 and point.startswith(_OCTET_STRING_32):
        point = point[len(_OCTET_STRING_32) :]
    return point if len(point) == signing.PUBLIC_KEY_SIZE else None


@dataclass(frozen=True, slots=True)
class _PublicKey:
    public_key: bytes
    cka_id: bytes
    label: str


def _find_public(
    session: Session, label: str | None, key_id: bytes | None, where: str
) -> _PublicKey:
    attrs: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
    }
    if label is not None:
        attrs[Attribute.LABEL] = label
    found: list[_PublicKey] = []
    others = 0
    # Listed first: reading attributes while a search is active is legal but not
    # every token gets it right.
    for obj in list(session.get_objects(attrs)):
        public_key = _ed25519_public_key(obj)
        if public_key is None:
            others += 1
        elif key_id is None or signing.key_id(public_key) == key_id:
            found.append(
                _PublicKey(public_key, bytes(obj[Attribute.ID]), str(obj[Attribute.LABEL]))
            )
    wanted = " and ".join(
        ([f"labelled {label!r}"] if label is not None else [])
        + ([f"with key id {key_id.hex()}"] if key_id is not None else [])
    )
    if not found:
        if others and key_id is None:
            raise TokenError(f"{where}: the key {wanted} is not an Ed25519 key")
        raise TokenError(f"{where}: no Ed25519 public key {wanted}")
    if len(found) > 1:
        raise TokenError(f"{where}: {len(found)} Ed25519 public keys {wanted}; give a key id")
    return found[0]


def _find_private(session: Session, public: _PublicKey, where: str) -> SignMixin:
    # The private key paired with the public key by CKA_ID (PKCS#11 3.0 §4.4: CKA_ID
    # tells key pairs apart), or by label when the token gave the pair no CKA_ID.
    attrs: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
    }
    if public.cka_id:
        attrs[Attribute.ID] = public.cka_id
        what = f"with CKA_ID {public.cka_id.hex()}"
    else:
        attrs[Attribute.LABEL] = public.label
        what = f"labelled {public.label!r}"
    found = list(session.get_objects(attrs))
    if len(found) != 1:
        count = str(len(found)) if found else "no"
        raise TokenError(f"{where}: {count} Ed25519 private keys {what}")
    key = found[0]
    # python-pkcs11 gives an object the sign() method only if its CKA_SIGN is true.
    if not isinstance(key, SignMixin):
        raise TokenError(f"{where}: the private key {what} may not sign (CKA_SIGN false)")
    return key


# ---------------------------------------------------------------------------------------


class Pkcs11Signer:
    """An Ed25519 key pair in a PKCS#11 token, as a :class:`noc_ledger.signing.Signer`.

    Opening logs in to the token named ``token_label`` with the user ``pin`` and finds the
    pair by ``label`` (the CKA_LABEL of its public key object) and/or ``key_id`` (its
    :func:`noc_ledger.signing.key_id`, the RFC 9679 thumbprint used in kid headers and
    key events). The token must hold the public key as an object beside the private key;
    the two are paired by CKA_ID. The signer keeps a session open until :meth:`close` (use
    it as a context manager). Signers on one token share the token's login, so a root and
    an issuing key can be open together; the login ends when the last one closes.

    Raises:
        TokenError: the binding is not installed, the module cannot be loaded, the
            token is not found, the PIN is wrong, no key or more than one matches, the
            key is not Ed25519 or may not sign, or the device fails.
    """

    def __init__(
        self,
        module: str | os.PathLike[str],
        *,
        token_label: str,
        pin: str,
        label: str | None = None,
        key_id: bytes | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._login: _LoginKey | None = None
        self._where = "PKCS#11"
        if label is None and key_id is None:
            raise TokenError("name the PKCS#11 key by its label or key id")
        if label is not None:
            _check_text(label, "key label")
        if key_id is not None and (not isinstance(key_id, bytes) or len(key_id) != 32):
            raise TokenError("a key id is the 32-byte RFC 9679 thumbprint")
        _check_text(pin, "user PIN")
        path, token, self._where = _open_token(module, token_label)
        self._login = _acquire_login(path, token, pin, self._where)
        try:
            # A read-only session of the signer's own (a session serves one thread at a
            # time); it is logged in through the token's login.
            self._session = token.open()
            public = _find_public(self._session, label, key_id, self._where)
            self._private = _find_private(self._session, public, self._where)
        except PKCS11Error as exc:
            self._close_quietly()
            raise TokenError(f"{self._where}: cannot find the key ({_describe(exc)})") from None
        except BaseException:
            self._close_quietly()
            raise
        self._public_key = public.public_key
        self._key_id = signing.key_id(public.public_key)
        self._label = public.label
        self._token_label = token_label
        self._token = token
        self._cka_id = public.cka_id

    @property
    def public_key(self) -> bytes:
        return self._public_key

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def label(self) -> str:
        """The CKA_LABEL of the key's public key object."""
        return self._label

    @property
    def token_label(self) -> str:
        return self._token_label

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` in the token with CKM_EDDSA (pure Ed25519).

        Raises:
            TokenError: the signer is closed, or the device failed.
            SignatureError: the device returned something that is not a valid Ed25519
                signature of ``message`` by this key.
        """
        if not isinstance(message, bytes):
            raise TokenError("the message to sign is bytes")
        with self._lock:
            if self._session is None:
                raise TokenError(f"{self._where}: the signer is closed")
            try:
                signature = bytes(self._private.sign(message, mechanism=Mechanism.EDDSA))
            except MechanismInvalid:
                raise TokenError(
                    f"{self._where}: the token does not sign Ed25519 (CKM_EDDSA)"
                ) from None
            except PKCS11Error as exc:
                raise TokenError(f"{self._where}: signing failed ({_describe(exc)})") from None
        # spec/signing.md §3 step 4: a device's answer is checked, not trusted.
        signing.verify_ed25519(self._public_key, message, signature)
        return signature

    def destroy(self) -> None:
        """Destroy the key pair (private and public key objects) in the token, then close
        the signer. For undoing a key generated moments ago that could not be put to use
        (its delegation was refused): such a key must not linger in the token.

        Raises:
            TokenError: the signer is closed, or the token refused to destroy the objects
                (the signer is closed all the same).
        """
        failure = None
        with self._lock:
            if self._session is None:
                raise TokenError(f"{self._where}: the signer is closed")
            # The pair is found again as the signer found it: by CKA_ID, else by label.
            pair: dict[Attribute, Any] = (
                {Attribute.ID: self._cka_id} if self._cka_id else {Attribute.LABEL: self._label}
            )
            try:
                # A read-write session on the token's shared login (token objects are
                # destroyed only in one, PKCS#11 3.0 §5.7).
                with self._token.open(rw=True) as session:
                    for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                        for obj in list(session.get_objects({Attribute.CLASS: cls, **pair})):
                            obj.destroy()
            except PKCS11Error as exc:
                failure = f"{self._where}: cannot destroy the key ({_describe(exc)})"
        if failure is not None:
            self._close_quietly()
            raise TokenError(failure)
        self.close()

    def close(self) -> None:
        """Close the session, and log out of the token if no other signer uses it.
        Closing twice does nothing.

        Raises:
            TokenError: the device failed to close the session or to log out (the
                signer is closed all the same).
        """
        with self._lock:
            session, self._session = self._session, None
            login, self._login = self._login, None
        failure = None
        if session is not None:
            try:
                session.close()
            except PKCS11Error as exc:
                failure = f"{self._where}: cannot close the session ({_describe(exc)})"
        if login is not None:
            _release_login(login, self._where)
        if failure is not None:
            raise TokenError(failure)

    def _close_quietly(self) -> None:
        # The failure that made us close is the one to report.
        with contextlib.suppress(TokenError):
            self.close()

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._close_quietly()

    def __repr__(self) -> str:
        if not hasattr(self, "_key_id"):
            return "Pkcs11Signer(<not open>)"
        return (
            f"Pkcs11Signer(token={self._token_label!r}, label={self._label!r}, "
            f"key_id={self._key_id.hex()[:16]}…)"
        )


def generate_ed25519_key(
    module: str | os.PathLike[str], *, token_label: str, pin: str, key_label: str
) -> Pkcs11Signer:
    """Generate an Ed25519 key pair in the token and open it as a signer.

    The pair is made by the token (CKM_EC_EDWARDS_KEY_PAIR_GEN) as token objects: the
    private key is private, sensitive, not extractable and may only sign; the public key
    object carries the same label and a random CKA_ID that pairs the two. The token's
    result is checked: a private key that came out extractable or not sensitive is
    destroyed and reported.

    Raises:
        TokenError: as :class:`Pkcs11Signer`; or the token already holds an object
            labelled ``key_label``; or it cannot generate Ed25519 keys.
    """
    _check_text(key_label, "key label")
    _check_text(pin, "user PIN")
    path, token, where = _open_token(module, token_label)
    login = _acquire_login(path, token, pin, where)
    try:
        try:
            with token.open(rw=True) as session:
                if list(session.get_objects({Attribute.LABEL: key_label})):
                    raise TokenError(f"{where}: an object labelled {key_label!r} exists")
                public, private = session.generate_keypair(
                    KeyType.EC_EDWARDS,
                    store=True,
                    label=key_label,
                    id=secrets.token_bytes(_CKA_ID_SIZE),
                    mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template={Attribute.EC_PARAMS: _ED25519_OID, Attribute.PRIVATE: False},
                    private_template={
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                    },
                )
                public_key = _ed25519_public_key(public)
                if (
                    public_key is None
                    or private[Attribute.EXTRACTABLE]
                    or not private[Attribute.SENSITIVE]
                ):
                    private.destroy()
                    public.destroy()
                    raise TokenError(
                        f"{where}: the token did not make a non-extractable Ed25519 key"
                    )
        except MechanismInvalid:
            raise TokenError(
                f"{where}: the token cannot generate Ed25519 keys (CKM_EC_EDWARDS_KEY_PAIR_GEN)"
            ) from None
        except PKCS11Error as exc:
            raise TokenError(f"{where}: key generation failed ({_describe(exc)})") from None
        # Opened by key id too: the signer is exactly the pair just made.
        return Pkcs11Signer(
            path,
            token_label=token_label,
            pin=pin,
            label=key_label,
            key_id=signing.key_id(public_key),
        )
    finally:
        _release_login(login, where)
