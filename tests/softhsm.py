"""A throwaway SoftHSM2 token for the tests (Debian package softhsm2; .ci/run installs it).

SoftHSM reads its configuration file, named by ``SOFTHSM2_CONF``, when the module is
initialised (C_Initialize), and python-pkcs11 initialises a module once per process and
never again; SoftHSM also does not notice tokens created after that. So one process has one
SoftHSM configuration: :func:`shared_token` makes it (a token directory under a temporary
directory, and one initialised token in it) on first use, sets ``SOFTHSM2_CONF`` for the
rest of the process, and hands the same token to every later caller.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Where distributions put the module: Debian and Ubuntu first (the CI machine).
MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/*-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
UTIL = "softhsm2-util"

TOKEN_LABEL = "noc-ledger-test"
#: Throwaway PINs of a throwaway token.
USER_PIN = "user-pin-0417"
SO_PIN = "so-pin-0417"


def find_module() -> Path | None:
    """The SoftHSM2 PKCS#11 module, or None if it is not installed."""
    for pattern in MODULE_PATHS:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                return Path(path)
    return None


def available() -> bool:
    """SoftHSM2's module and its softhsm2-util are installed."""
    return find_module() is not None and shutil.which(UTIL) is not None


@dataclass(frozen=True)
class SoftHsmToken:
    module: Path
    label: str
    pin: str
    so_pin: str
    conf: Path
    token_dir: Path


def create_token(directory: Path, *, label: str = TOKEN_LABEL) -> SoftHsmToken:
    """Write a SoftHSM2 configuration under ``directory`` and initialise one token in
    its (empty) token directory. Does not touch this process's environment.

    Raises:
        RuntimeError: SoftHSM2 is not installed, or softhsm2-util failed.
    """
    module = find_module()
    util = shutil.which(UTIL)
    if module is None or util is None:
        raise RuntimeError(
            "SoftHSM2 is not installed (Debian: apt-get install softhsm2); "
            f"looked for the module in {', '.join(MODULE_PATHS)} and for {UTIL} on PATH"
        )
    token_dir = directory / "tokens"
    token_dir.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{UTIL} --init-token failed: {result.stderr.strip() or result.stdout}")
    return SoftHsmToken(module, label, USER_PIN, SO_PIN, conf, token_dir)


_shared: SoftHsmToken | None = None


def shared_token(directory: Path) -> SoftHsmToken:
    """This process's SoftHSM2 token, created under ``directory`` on the first call (later
    calls ignore ``directory``), with ``SOFTHSM2_CONF`` set for the rest of the process.

    Raises:
        RuntimeError: as :func:`create_token`.
    """
    global _shared  # noqa: PLW0603 - one SoftHSM configuration per process (see above)
    if _shared is None:
        _shared = create_token(directory)
        os.environ["SOFTHSM2_CONF"] = str(_shared.conf)
    return _shared
