"""Key custody: Ed25519 keys generated in a PKCS#11 token sign the authority's delegations,
certificates, status events and checkpoints, and the result verifies like any other
(noc_ledger.hsm, spec/signing.md §3).

Runs for real against a throwaway SoftHSM2 token (tests/softhsm.py). Needs the softhsm2
package and the ``hsm`` extra (python-pkcs11); .ci/run installs both and sets
NOC_LEDGER_REQUIRE_SOFTHSM=1, so in CI these tests cannot be skipped.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from noc_ledger import signing
from noc_ledger.errors import KeyFileError, SignatureError, SuspendedError, TokenError
from noc_ledger.events import KeyEvent, KeyEventKind, StatusEventKind
from noc_ledger.hsm import Pkcs11Signer, generate_ed25519_key
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.logstate import Authority
from noc_ledger.model import verify_certificate
from noc_ledger.policy import parse_policy
from noc_ledger.verify import verify_bundle
from tests import softhsm
from tests.ledger_story import ORIGIN, ROOT_SCOPE, YEAR, clock, event, noc
from tools.gen_vectors import DAY, T0

_REQUIRED = os.environ.get("NOC_LEDGER_REQUIRE_SOFTHSM") == "1"
_BINDING = importlib.util.find_spec("pkcs11") is not None

pytestmark = pytest.mark.skipif(
    not (softhsm.available() and _BINDING) and not _REQUIRED,
    reason="SoftHSM2 or python-pkcs11 (the 'hsm' extra) not installed (CI installs them)",
)

ROOT_LABEL = "authority-root"
ISSUER_LABEL = "issuing-2026"
LOG_LABEL = "log"


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> softhsm.SoftHsmToken:
    return softhsm.shared_token(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="module")
def key_ids(token: softhsm.SoftHsmToken) -> dict[str, bytes]:
    """Generate the root, issuing and log keys in the token, once; closed again at once,
    so that each test opens what it needs (and starts logged out)."""
    ids = {}
    for label in (ROOT_LABEL, ISSUER_LABEL, LOG_LABEL):
        with generate_ed25519_key(
            token.module, token_label=token.label, pin=token.pin, key_label=label
        ) as signer:
            assert signer.label == label
            ids[label] = signer.key_id
    return ids


def _open(
    token: softhsm.SoftHsmToken, label: str, *, pin: str | None = None, key_id: bytes | None = None
) -> Pkcs11Signer:
    return Pkcs11Signer(
        token.module,
        token_label=token.label,
        pin=token.pin if pin is None else pin,
        label=label,
        key_id=key_id,
    )


@pytest.fixture
def hsm_keys(
    token: softhsm.SoftHsmToken, key_ids: dict[str, bytes]
) -> Iterator[tuple[Pkcs11Signer, Pkcs11Signer, Pkcs11Signer]]:
    with (
        _open(token, ROOT_LABEL) as root,
        _open(token, ISSUER_LABEL) as issuer,
        _open(token, LOG_LABEL) as log,
    ):
        yield root, issuer, log


def _one_line(exc: pytest.ExceptionInfo[KeyFileError]) -> str:
    # A typed error with one line of its own, not a PKCS#11 library traceback.
    message = str(exc.value)
    assert message and "\n" not in message
    shown = exc.value.__cause__ or (
        None if exc.value.__suppress_context__ else exc.value.__context__
    )
    assert shown is None, f"a chained {type(shown).__name__} would be printed"
    return message


# -- the authority's keys in the token ------------------------------------------------


def test_issuance_signed_in_the_token_verifies(
    hsm_keys: tuple[Pkcs11Signer, Pkcs11Signer, Pkcs11Signer],
) -> None:
    root, issuer, log = hsm_keys
    assert all(isinstance(key, signing.Signer) for key in hsm_keys)
    ledger = Ledger(
        MemoryStore(),
        origin=ORIGIN,
        authority=Authority(root.public_key, ROOT_SCOPE),
        log_signer=log,
        clock=clock,
    )
    # The root key, in the token, delegates to the issuing key, in the token.
    ledger.record_key_event(
        KeyEvent(
            KeyEventKind.DELEGATE,
            issuer.public_key,
            T0 - 1,
            T0 - 1,
            "issuing",
            T0 + 5 * YEAR,
            ROOT_SCOPE,
        ),
        root,
    )
    certificate = noc()
    receipt = ledger.issue(certificate, issuer)
    policy = parse_policy(ledger.trust_policy(max_status_age=2 * DAY))

    result = verify_bundle(ledger.bundle(receipt.id), policy, at=T0 + 60)
    assert result.certificate == certificate
    assert result.issuing_key_id == issuer.key_id
    entry = ledger.entries(receipt.index, receipt.index + 1)[0]
    assert verify_certificate(entry, public_key=issuer.public_key).certificate == certificate
    ledger.audit()

    # A status event signed in the token takes effect like any other.
    ledger.record(event(StatusEventKind.SUSPEND, receipt.id, at=T0 + 20), issuer)
    with pytest.raises(SuspendedError):
        verify_bundle(ledger.bundle(receipt.id), policy, at=T0 + 60)


def test_public_key_read_from_the_token_matches_its_signatures(
    hsm_keys: tuple[Pkcs11Signer, Pkcs11Signer, Pkcs11Signer],
    key_ids: dict[str, bytes],
) -> None:
    root, issuer, _ = hsm_keys
    message = b"noc-ledger: an arbitrary message"
    signature = root.sign(message)
    assert len(signature) == signing.SIGNATURE_SIZE
    signing.verify_ed25519(root.public_key, message, signature)
    # The second implementation agrees (GUIDE D3).
    Ed25519PublicKey.from_public_bytes(root.public_key).verify(signature, message)
    # Pure Ed25519 (CKM_EDDSA without parameters) is deterministic: no prehash, no nonce.
    assert root.sign(message) == signature
    assert root.key_id == signing.key_id(root.public_key) == key_ids[ROOT_LABEL]
    assert root.public_key != issuer.public_key
    with pytest.raises(SignatureError):
        signing.verify_ed25519(issuer.public_key, message, signature)


def test_private_keys_are_made_in_the_token_and_never_leave_it(
    token: softhsm.SoftHsmToken,
    hsm_keys: tuple[Pkcs11Signer, Pkcs11Signer, Pkcs11Signer],
) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    # A session of our own, without logging in again: PKCS#11 login state is per token
    # and application, and the signers hold it (so the private objects are visible).
    library = pkcs11.lib(str(token.module))
    with library.get_token(token_label=token.label).open() as session:
        for signer in hsm_keys:
            objects = list(
                session.get_objects(
                    {
                        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                        Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
                        Attribute.LABEL: signer.label,
                    }
                )
            )
            assert len(objects) == 1
            private = objects[0]
            assert private[Attribute.TOKEN] is True
            assert private[Attribute.PRIVATE] is True
            assert private[Attribute.LOCAL] is True  # generated in the token
            assert private[Attribute.SENSITIVE] is True
            assert private[Attribute.ALWAYS_SENSITIVE] is True
            assert private[Attribute.EXTRACTABLE] is False
            assert private[Attribute.NEVER_EXTRACTABLE] is True
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                private[Attribute.VALUE]
            public = session.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC_EDWARDS, label=signer.label)
            # CKA_EC_POINT is a DER OCTET STRING around the 32-byte key.
            assert public[Attribute.EC_POINT] == b"\x04\x20" + signer.public_key


# -- opening keys ---------------------------------------------------------------------


def test_open_by_key_id(token: softhsm.SoftHsmToken, key_ids: dict[str, bytes]) -> None:
    with Pkcs11Signer(
        token.module, token_label=token.label, pin=token.pin, key_id=key_ids[ISSUER_LABEL]
    ) as signer:
        assert signer.label == ISSUER_LABEL
        assert signer.token_label == token.label
        assert signer.key_id == key_ids[ISSUER_LABEL]
        assert "Pkcs11Signer(" in repr(signer)
    with pytest.raises(KeyFileError) as exc:
        _open(token, ROOT_LABEL, key_id=key_ids[ISSUER_LABEL])
    assert "no Ed25519 public key labelled" in _one_line(exc)
    with pytest.raises(KeyFileError) as exc:
        _open(token, ROOT_LABEL, key_id=b"\x00" * 32)
    assert "with key id 0000" in _one_line(exc)


def test_signers_on_one_token_share_its_login(
    token: softhsm.SoftHsmToken, key_ids: dict[str, bytes]
) -> None:
    # PKCS#11 allows one login per token and application: opening a second key must not
    # fail for "already logged in", and closing one must not log the other out.
    first = _open(token, ROOT_LABEL)
    with _open(token, ISSUER_LABEL) as second:
        first.close()
        first.close()  # closing twice does nothing
        signing.verify_ed25519(second.public_key, b"m", second.sign(b"m"))
    with pytest.raises(KeyFileError) as exc:
        first.sign(b"m")
    assert "closed" in _one_line(exc)
    # Every signer closed: the token is logged out, and a new signer logs in again.
    with _open(token, ROOT_LABEL) as again:
        signing.verify_ed25519(again.public_key, b"m", again.sign(b"m"))


# -- failures are typed, one line ------------------------------------------------------


def test_wrong_pin(token: softhsm.SoftHsmToken, key_ids: dict[str, bytes]) -> None:
    # Logged out: the token itself refuses the PIN (C_Login).
    with pytest.raises(KeyFileError) as exc:
        _open(token, ROOT_LABEL, pin="not-the-pin")
    assert "wrong PIN" in _one_line(exc)
    # Logged in by another signer: the PIN is still checked, against the one that did.
    with _open(token, ISSUER_LABEL), pytest.raises(KeyFileError) as exc:
        _open(token, ROOT_LABEL, pin="not-the-pin")
    assert "wrong PIN" in _one_line(exc)
    with pytest.raises(KeyFileError) as exc:
        generate_ed25519_key(
            token.module, token_label=token.label, pin="not-the-pin", key_label="other"
        )
    assert "wrong PIN" in _one_line(exc)


def test_token_errors_are_token_errors(token: softhsm.SoftHsmToken) -> None:
    # TokenError is a KeyFileError: code that handles key files handles tokens too.
    with pytest.raises(TokenError):
        _open(token, ROOT_LABEL, pin="not-the-pin")
    assert issubclass(TokenError, KeyFileError)


def test_destroy_removes_the_pair_from_the_token(
    token: softhsm.SoftHsmToken, key_ids: dict[str, bytes]
) -> None:
    # What the CLI does with a key generated for a delegation the log then refused.
    signer = generate_ed25519_key(
        token.module, token_label=token.label, pin=token.pin, key_label="to-destroy"
    )
    key_id = signer.key_id
    with _open(token, ROOT_LABEL) as root:  # another signer on the token stays usable
        signer.destroy()
        signing.verify_ed25519(root.public_key, b"m", root.sign(b"m"))
    with pytest.raises(TokenError, match="the signer is closed"):
        signer.sign(b"m")
    with pytest.raises(TokenError, match="the signer is closed"):
        signer.destroy()
    for label, wanted in (("to-destroy", None), (None, key_id)):
        with pytest.raises(TokenError, match="no Ed25519 public key"):
            Pkcs11Signer(
                token.module, token_label=token.label, pin=token.pin, label=label, key_id=wanted
            )
    # The label is free again, and the other keys are still there.
    with generate_ed25519_key(
        token.module, token_label=token.label, pin=token.pin, key_label="to-destroy"
    ) as again:
        assert again.key_id != key_id
        again.destroy()
    for label, known in key_ids.items():
        with _open(token, label) as kept:
            assert kept.key_id == known


def test_missing_key_label(token: softhsm.SoftHsmToken, key_ids: dict[str, bytes]) -> None:
    with pytest.raises(KeyFileError) as exc:
        _open(token, "no-such-key")
    assert _one_line(exc) == (
        f"PKCS#11 token {token.label!r}: no Ed25519 public key labelled 'no-such-key'"
    )


def test_missing_token_and_module(token: softhsm.SoftHsmToken, tmp_path: Path) -> None:
    with pytest.raises(KeyFileError) as exc:
        Pkcs11Signer(token.module, token_label="no-such-token", pin=token.pin, label=ROOT_LABEL)
    assert "'no-such-token' not found" in _one_line(exc)
    with pytest.raises(KeyFileError) as exc:
        Pkcs11Signer(
            tmp_path / "libmissing.so", token_label=token.label, pin=token.pin, label=ROOT_LABEL
        )
    assert "not found" in _one_line(exc)
    not_a_library = tmp_path / "libnot.so"
    not_a_library.write_bytes(b"not a shared object")
    with pytest.raises(KeyFileError) as exc:
        Pkcs11Signer(not_a_library, token_label=token.label, pin=token.pin, label=ROOT_LABEL)
    assert "cannot load PKCS#11 module" in _one_line(exc)


def test_bad_arguments(token: softhsm.SoftHsmToken) -> None:
    with pytest.raises(KeyFileError, match="by its label or key id"):
        Pkcs11Signer(token.module, token_label=token.label, pin=token.pin)
    with pytest.raises(KeyFileError, match="32-byte"):
        Pkcs11Signer(token.module, token_label=token.label, pin=token.pin, key_id=b"short")
    with pytest.raises(KeyFileError, match="user PIN"):
        Pkcs11Signer(token.module, token_label=token.label, pin="", label=ROOT_LABEL)


def test_generate_refuses_an_existing_label(
    token: softhsm.SoftHsmToken, key_ids: dict[str, bytes]
) -> None:
    with pytest.raises(KeyFileError) as exc:
        generate_ed25519_key(
            token.module, token_label=token.label, pin=token.pin, key_label=ROOT_LABEL
        )
    assert f"an object labelled {ROOT_LABEL!r} exists" in _one_line(exc)
    # The root key is unchanged, and still the only one with its label.
    with _open(token, ROOT_LABEL) as root:
        assert root.key_id == key_ids[ROOT_LABEL]


def test_a_module_named_by_two_paths(token: softhsm.SoftHsmToken, tmp_path: Path) -> None:
    # python-pkcs11 initialises a module once per path string; a second path to the same
    # file is reported, not a library traceback.
    alias = tmp_path / "libsofthsm2-alias.so"
    alias.symlink_to(token.module)
    with pytest.raises(KeyFileError) as exc:
        Pkcs11Signer(alias, token_label=token.label, pin=token.pin, label=ROOT_LABEL)
    assert "loaded it by another path" in _one_line(exc)


def test_a_token_whose_signature_does_not_match_its_public_key(
    token: softhsm.SoftHsmToken,
    hsm_keys: tuple[Pkcs11Signer, Pkcs11Signer, Pkcs11Signer],
) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    root, issuer, _ = hsm_keys
    # A public key object that claims to pair (by CKA_ID) with the root's private key but
    # holds the issuing key: the token signs with the root key, and the signer must refuse
    # to hand out a signature that does not verify under the public key it reports.
    with pkcs11.lib(str(token.module)).get_token(token_label=token.label).open(rw=True) as s:
        root_public = s.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC_EDWARDS, label=root.label)
        fake = s.create_object(
            {
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
                Attribute.TOKEN: False,
                Attribute.LABEL: "mismatched",
                Attribute.ID: root_public[Attribute.ID],
                Attribute.EC_PARAMS: bytes.fromhex("06032b6570"),
                # The bare 32 bytes, as some tokens store CKA_EC_POINT.
                Attribute.EC_POINT: issuer.public_key,
            }
        )
        try:
            with _open(token, "mismatched") as liar:
                assert liar.public_key == issuer.public_key
                with pytest.raises(SignatureError):
                    liar.sign(b"m")
                with pytest.raises(SignatureError):
                    signing.sign1(
                        liar, content_type=signing.CONTENT_TYPES["certificate"], payload=b""
                    )
        finally:
            fake.destroy()
