"""Keys in a PKCS#11 token from the command line: `init --pkcs11-module --token-label`
generates the authority root and issuing keys (and on request the log key) inside a
SoftHSM2 token; the ledger directory records only where they are; `issue`, the lifecycle
and key commands sign through the token; token errors are one line, never a traceback.

Everything runs through the installed console script (tests/test_cli_console.py), against
a throwaway SoftHSM2 token (tests/softhsm.py) that only the child processes load. Needs
the softhsm2 package and python-pkcs11; skipped without them unless
NOC_LEDGER_REQUIRE_SOFTHSM=1 (CI), in which case they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import softhsm
from tests.test_cli_console import (
    AT_IN_FORCE,
    EXIT,
    INIT,
    PASSPHRASE,
    TIMEOUT,
    cli,
    error,
    noc,
    ok_json,
    on_terminal,
    write_json,
)

_REQUIRED = os.environ.get("NOC_LEDGER_REQUIRE_SOFTHSM") == "1"
_BINDING = importlib.util.find_spec("pkcs11") is not None

pytestmark = pytest.mark.skipif(
    not (softhsm.available() and _BINDING) and not _REQUIRED,
    reason="SoftHSM2 or python-pkcs11 (the 'hsm' extra) not installed (CI installs them)",
)

#: Lists the labels of the private keys in the token, from a separate process (this one
#: never loads the module: SoftHSM reads its configuration once per process).
_LIST_KEYS = """
import json, sys
import pkcs11
from pkcs11 import Attribute, ObjectClass
token = pkcs11.lib(sys.argv[1]).get_token(token_label=sys.argv[2])
with token.open(user_pin=sys.argv[3]) as session:
    keys = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
    print(json.dumps(sorted(str(k[Attribute.LABEL]) for k in keys)))
"""


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> softhsm.SoftHsmToken:
    return softhsm.create_token(tmp_path_factory.mktemp("softhsm"))


def token_env(token: softhsm.SoftHsmToken, pin: str | None = None) -> dict[str, str]:
    return {"SOFTHSM2_CONF": str(token.conf), "NOC_LEDGER_PKCS11_PIN": pin or token.pin}


def hsm_flags(token: softhsm.SoftHsmToken) -> list[str]:
    return ["--pkcs11-module", str(token.module), "--token-label", token.label]


def token_keys(token: softhsm.SoftHsmToken) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _LIST_KEYS, str(token.module), token.label, token.pin],
        env={**os.environ, "SOFTHSM2_CONF": str(token.conf)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    keys = json.loads(done.stdout)
    assert isinstance(keys, list)
    return [str(k) for k in keys]


def config(directory: Path) -> dict[str, Any]:
    value = json.loads((directory / "ledger.json").read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


@pytest.fixture(scope="module")
def hsm_ledger(
    token: softhsm.SoftHsmToken, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A ledger whose root and issuing keys are in the token (the log key is a file
    encrypted with the passphrase), with one NOC issued through the token."""
    root = tmp_path_factory.mktemp("hsm-ledger")
    directory = root / "ledger"
    env = token_env(token)
    init = ok_json("init", directory, *INIT, *hsm_flags(token), passphrase=PASSPHRASE, env=env)
    request = write_json(root / "noc.json", noc(1))
    # No passphrase given: issuing signs in the token and the checkpoint with the log key
    # file, so the passphrase IS needed — given here as users would.
    issued = ok_json("issue", directory, request, passphrase=PASSPHRASE, env=env)
    return {"root": root, "dir": directory, "init": init, "issued": issued, "env": env}


def test_init_puts_root_and_issuing_keys_in_the_token(
    token: softhsm.SoftHsmToken, hsm_ledger: dict[str, Any]
) -> None:
    init, directory = hsm_ledger["init"], hsm_ledger["dir"]
    pkcs11 = init["pkcs11"]
    assert pkcs11["module"] == str(token.module) and pkcs11["token_label"] == token.label
    assert pkcs11["root_key_label"] and pkcs11["log_key_label"] is None
    assert init["issuing_key_location"].startswith("PKCS#11 token key ")
    # The directory holds only the log key file; ledger.json names the token's keys.
    assert sorted(p.name for p in (directory / "keys").iterdir()) == ["log.pem"]
    saved = config(directory)
    assert saved["pkcs11"] == pkcs11
    (issuing,) = saved["keys"]
    assert "file" not in issuing and issuing["pkcs11_label"] in token_keys(token)
    assert pkcs11["root_key_label"] in token_keys(token)
    assert "PRIVATE KEY" not in (directory / "ledger.json").read_text(encoding="utf-8")


def test_issue_bundle_verify_through_the_token(hsm_ledger: dict[str, Any]) -> None:
    directory, env, root = hsm_ledger["dir"], hsm_ledger["env"], hsm_ledger["root"]
    cert_id = hsm_ledger["issued"]["id"]
    # The certificate entry was signed by the issuing key in the token.
    entries = ok_json("log", directory)["entries"]
    assert entries[1]["id"] == cert_id
    assert entries[1]["signed_by"] == hsm_ledger["init"]["issuing_key_id"]
    assert entries[0]["signed_by"] == hsm_ledger["init"]["root_key_id"]
    bundle, policy = root / "noc.bundle", root / "policy.txt"
    ok_json("bundle", directory, cert_id, "-o", bundle)
    ok_json("trust", directory, "-o", policy)
    report = ok_json("verify", bundle, "--trust", policy, "--at", AT_IN_FORCE)
    assert report["verdict"] == "valid" and report["cert_id"] == cert_id
    # A status event signed in the token: the bundle made after it says suspended.
    ok_json(
        "suspend",
        directory,
        cert_id,
        "--reason",
        "other",
        "--effective",
        "2026-02-01T00:00:00Z",
        passphrase=PASSPHRASE,
        env=env,
    )
    ok_json("bundle", directory, cert_id, "-o", bundle)
    run = cli("verify", bundle, "--trust", policy, "--at", AT_IN_FORCE)
    assert run.code == EXIT["suspended"] and run.err == ""


def test_key_commands_through_the_token(
    token: softhsm.SoftHsmToken, hsm_ledger: dict[str, Any], tmp_path: Path
) -> None:
    directory, env = hsm_ledger["dir"], hsm_ledger["env"]
    before = set(token_keys(token))
    # The new key goes where the current one is: the token.
    rotated = ok_json(
        "key",
        "rotate",
        directory,
        "--revoke-old",
        "--valid-from",
        "2025-06-01T00:00:00Z",
        passphrase=PASSPHRASE,
        env=env,
    )
    assert rotated["file"] is None and rotated["pkcs11_label"] in token_keys(token)
    assert set(token_keys(token)) - before == {rotated["pkcs11_label"]}
    # Unless a file is asked for.
    filed = ok_json(
        "key", "delegate", directory, "--key-store", "file", passphrase=PASSPHRASE, env=env
    )
    assert filed["pkcs11_label"] is None and (directory / filed["file"]).is_file()
    # The rotated key issues.
    issued = ok_json(
        "issue", directory, write_json(tmp_path / "n.json", noc(2)), passphrase=PASSPHRASE, env=env
    )
    entries = ok_json("log", directory, "--start", str(issued["index"]))["entries"]
    assert entries[0]["signed_by"] == rotated["key_id"]


def test_wrong_pin_is_one_line_and_writes_nothing(
    token: softhsm.SoftHsmToken, hsm_ledger: dict[str, Any], tmp_path: Path
) -> None:
    directory = hsm_ledger["dir"]
    size = ok_json("log", directory)["size"]
    saved = (directory / "ledger.json").read_bytes()
    keys = token_keys(token)
    wrong = token_env(token, pin="0000")
    request = write_json(tmp_path / "n.json", noc(3))
    line = error("issue", directory, request, passphrase=PASSPHRASE, env=wrong)
    assert "TokenError" in line and "wrong PIN" in line and token.label in line
    for argv in (
        ["key", "rotate", directory],
        ["key", "delegate", directory, "--key-store", "file"],
        ["revoke", directory, hsm_ledger["issued"]["id"], "--reason", "other"],
    ):
        assert "wrong PIN" in error(*argv, passphrase=PASSPHRASE, env=wrong)
    # No PIN and no terminal to ask on: says where to give it.
    no_pin = {"SOFTHSM2_CONF": str(token.conf)}
    assert "NOC_LEDGER_PKCS11_PIN" in error(
        "issue", directory, request, passphrase=PASSPHRASE, env=no_pin
    )
    assert ok_json("log", directory)["size"] == size
    assert (directory / "ledger.json").read_bytes() == saved
    assert token_keys(token) == keys


def test_failed_rotation_leaves_no_key_in_the_token(
    token: softhsm.SoftHsmToken, hsm_ledger: dict[str, Any], tmp_path: Path
) -> None:
    directory, env = hsm_ledger["dir"], hsm_ledger["env"]
    keys = token_keys(token)
    size = ok_json("log", directory)["size"]
    # Refused after the key was generated: a validity window that ends before it starts…
    line = error(
        "key",
        "rotate",
        directory,
        "--valid-from",
        "2030-01-01T00:00:00Z",
        "--valid-until",
        "2029-01-01T00:00:00Z",
        passphrase=PASSPHRASE,
        env=env,
    )
    assert "valid" in line
    # …and a scope the log refuses: wider than the root's (SA is not in its territory).
    scope = tmp_path / "scope.toml"
    scope.write_text(
        '[[grants]]\nactivity = "prep"\ncustomer_types = ["retail"]\n'
        'territory = { include = ["SA"] }\n',
        encoding="utf-8",
    )
    line = error("key", "rotate", directory, "--scope", scope, passphrase=PASSPHRASE, env=env)
    assert "ScopeError" in line or "scope" in line, line
    assert token_keys(token) == keys
    assert ok_json("log", directory)["size"] == size


def test_missing_token_or_module(token: softhsm.SoftHsmToken, tmp_path: Path) -> None:
    env = token_env(token)
    target = tmp_path / "ledger"
    line = error(
        "init",
        target,
        *INIT,
        "--pkcs11-module",
        str(token.module),
        "--token-label",
        "no-such-token",
        "--unsafe-no-passphrase",
        env=env,
    )
    assert "PKCS#11 token 'no-such-token' not found" in line
    line = error(
        "init",
        target,
        *INIT,
        "--pkcs11-module",
        str(tmp_path / "missing.so"),
        "--token-label",
        token.label,
        "--unsafe-no-passphrase",
        env=env,
    )
    assert "PKCS#11 module" in line and "not found" in line
    line = error("init", target, *INIT, "--token-label", token.label, "--unsafe-no-passphrase")
    assert "--pkcs11-module and --token-label go together" in line
    line = error(
        "init",
        target,
        *INIT,
        *hsm_flags(token),
        "--pkcs11-keys",
        "root,vault",
        "--unsafe-no-passphrase",
        env=env,
    )
    assert "--pkcs11-keys: vault" in line
    line = error(
        "init",
        target,
        *INIT,
        *hsm_flags(token),
        "--unsafe-no-passphrase",
        env=token_env(token, pin="0000"),
    )
    assert "wrong PIN" in line
    assert not target.exists()


def test_failed_init_destroys_the_keys_it_made(token: softhsm.SoftHsmToken, tmp_path: Path) -> None:
    keys = token_keys(token)
    # The directory cannot be made (a file where its parent should be) — found out only
    # after the keys were generated in the token.
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    line = error(
        "init",
        blocker / "ledger",
        *INIT,
        *hsm_flags(token),
        "--pkcs11-keys",
        "root,log,issuing",
        env=token_env(token),
    )
    assert "cannot create" in line
    assert token_keys(token) == keys


def test_every_key_in_the_token_needs_no_passphrase(
    token: softhsm.SoftHsmToken, tmp_path: Path
) -> None:
    directory = tmp_path / "ledger"
    env = token_env(token)
    init = ok_json(
        "init", directory, *INIT, *hsm_flags(token), "--pkcs11-keys", "root,log,issuing", env=env
    )
    assert init["encrypted"] is True  # a key file written later is encrypted
    assert init["pkcs11"]["log_key_label"] in token_keys(token)
    assert list((directory / "keys").iterdir()) == []
    # No passphrase anywhere: every signature is made in the token.
    issued = ok_json("issue", directory, write_json(tmp_path / "n.json", noc(4)), env=env)
    assert issued["index"] == 1
    cp = ok_json("checkpoint", directory)
    assert cp["size"] == 2
    # A key file asked for later needs the passphrase it is encrypted with.
    assert "NOC_LEDGER_PASSPHRASE" in error(
        "key", "delegate", directory, "--key-store", "file", env=env
    )
    assert ok_json("log", directory)["size"] == 2


def test_pin_typed_at_the_prompt(
    token: softhsm.SoftHsmToken, hsm_ledger: dict[str, Any], tmp_path: Path
) -> None:
    directory = hsm_ledger["dir"]
    env = {"SOFTHSM2_CONF": str(token.conf), "NOC_LEDGER_PASSPHRASE": PASSPHRASE}
    prompt = f"user PIN of the PKCS#11 token {token.label!r}: "
    request = write_json(tmp_path / "n.json", noc(5))
    code, shown = on_terminal(["issue", directory, request], [(prompt, b"\x04")], env=env)
    assert code == 1 and "noc-ledger: no PIN given" in shown, shown
    code, shown = on_terminal(
        ["issue", directory, request], [(prompt, token.pin.encode() + b"\n")], env=env
    )
    assert code == 0 and "CON/NOC/2026/0005" in shown, shown
