"""Our checkpoints verify with Go's golang.org/x/mod/sumdb/note (GUIDE D6, spec/checkpoint.md).

Needs the Go toolchain and the golang.org/x/mod sources (Debian: golang-go,
golang-golang-x-mod-dev; .ci/run installs them and sets NOC_LEDGER_REQUIRE_GO=1, so in CI
this test cannot be skipped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from noc_ledger import signing
from noc_ledger.checkpoint import cosign
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.note import Verifier
from tests.ledger_story import ISSUER, LOG, ORIGIN, new_ledger, noc

GO_SOURCE = Path(__file__).parent / "go" / "verify_note.go"
GOPATH = Path("/usr/share/gocode")


def _go_available() -> bool:
    return shutil.which("go") is not None and (GOPATH / "src/golang.org/x/mod/sumdb/note").is_dir()


pytestmark = pytest.mark.skipif(
    not _go_available() and os.environ.get("NOC_LEDGER_REQUIRE_GO") != "1",
    reason="Go toolchain or golang.org/x/mod sources not installed (CI installs them)",
)


@pytest.fixture(scope="module")
def verifier_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("go") / "verify_note"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out.parent / "cache"),
        "GOFLAGS": "",
    }
    subprocess.run(
        ["go", "build", "-o", str(out), str(GO_SOURCE)], check=True, env=env, timeout=300
    )
    return out


def _go_open(
    binary: Path, vkey: str, note: bytes, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "note.txt"
    path.write_bytes(note)
    return subprocess.run(
        [str(binary), vkey, str(path)], check=False, capture_output=True, text=True, timeout=60
    )


def test_go_verifies_our_checkpoint(verifier_binary: Path, tmp_path: Path) -> None:
    ledger = new_ledger(MemoryStore())
    receipt = ledger.issue(noc(), ISSUER)
    vkey = Verifier.for_key(ORIGIN, LOG.public_key).encode()
    result = _go_open(verifier_binary, vkey, receipt.checkpoint, tmp_path)
    assert result.returncode == 0, result.stderr
    assert receipt.checkpoint.decode().startswith(result.stdout)
    assert result.stdout.splitlines()[:2] == [ORIGIN, str(receipt.size)]
    # A witness cosignature (type 0x04) is an unknown signature to the plain note
    # verifier: it must still accept the log's signature and ignore the cosignature.
    witness = signing.Ed25519Signer(b"\x09" * 32)
    cosigned = cosign(receipt.checkpoint, "witness.example", witness, time=1_767_225_700)
    result = _go_open(verifier_binary, vkey, cosigned, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unverified 1" in result.stderr


def test_go_rejects_tampered_checkpoint(verifier_binary: Path, tmp_path: Path) -> None:
    ledger = new_ledger(MemoryStore())
    receipt = ledger.issue(noc(), ISSUER)
    vkey = Verifier.for_key(ORIGIN, LOG.public_key).encode()
    tampered = receipt.checkpoint.replace(
        f"\n{receipt.size}\n".encode(), f"\n{receipt.size + 1}\n".encode(), 1
    )
    result = _go_open(verifier_binary, vkey, tampered, tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("open:")
