"""What every `noc-ledger` command shares: output (human or ``--json``), errors as one
line and a documented exit status, the clock, files, passphrases.

This package is the edge (GUIDE §2): the only place that reads files, the environment and
the clock, prints, and exits. The library below it does none of these.
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeAlias

from noc_ledger.errors import NocLedgerError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

__all__ = [
    "EXIT",
    "PASSPHRASE_ENV",
    "PIN_ENV",
    "CommandError",
    "Output",
    "Parser",
    "Subcommands",
    "now",
    "read_bytes",
    "read_passphrase",
    "read_pin",
    "write_private",
    "write_public",
]

#: Exit statuses (documented in `noc-ledger --help` and the README). ``verify`` exits 0 only
#: for a valid bundle, and with one status per verdict otherwise.
EXIT: Final[Mapping[str, int]] = {
    "ok": 0,
    "valid": 0,
    "error": 1,
    "usage": 2,
    "out-of-scope": 10,
    "not-yet-valid": 11,
    "expired": 12,
    "suspended": 13,
    "revoked": 14,
    "superseded": 15,
    "ended": 16,
    "stale": 20,
    "not-covered": 21,
    "invalid": 30,
}

#: The environment variable a passphrase may come from instead of a prompt.
PASSPHRASE_ENV: Final = "NOC_LEDGER_PASSPHRASE"  # noqa: S105 - a variable name, not a secret

#: The environment variable the user PIN of a PKCS#11 token may come from instead of a
#: prompt (keys in an HSM, ``init --pkcs11-module``).
PIN_ENV: Final = "NOC_LEDGER_PKCS11_PIN"

#: What each command module's ``register`` receives.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CommandError(Exception):
    """A problem the user can fix (bad flag value, missing file): one line, exit 1."""


def now() -> int:
    """The current POSIX time: the CLI is where the clock is read (GUIDE D11)."""
    return int(time.time())


def read_bytes(path: str | Path, *, what: str, limit: int = 16 << 20) -> bytes:
    """Read a file the user named, with a size limit and a clear error."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limit:
            raise CommandError(f"{what} {p} is {size} bytes, more than {limit}")
        # Read at most one byte past the limit: the size of a device or a pipe
        # (/dev/zero, /dev/stdin) is not what stat says.
        with p.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise CommandError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise CommandError(f"{what} {p} is more than {limit} bytes")
    return data


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: str | Path, data: bytes) -> None:
    """Write a secret (a key file) atomically with mode 0600."""
    try:
        _atomic_write(Path(path), data, 0o600)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_public(path: str | Path, data: bytes) -> None:
    """Write a public file (bundle, policy) atomically with mode 0644."""
    try:
        _atomic_write(Path(path), data, 0o644)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_passphrase(prompt: str, *, confirm: bool = False) -> bytes:
    """A passphrase from $NOC_LEDGER_PASSPHRASE, else from the terminal."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value.encode()
    if not sys.stdin.isatty():
        raise CommandError(f"no terminal to ask for a passphrase: set {PASSPHRASE_ENV}")
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("again: ") != first:
            raise CommandError("the passphrases differ")
    except EOFError:  # Ctrl-D at the prompt
        raise CommandError("no passphrase given") from None
    return first.encode()


def read_pin(prompt: str) -> str:
    """A PKCS#11 user PIN from $NOC_LEDGER_PKCS11_PIN, else from the terminal.

    Raises:
        CommandError: no variable and no terminal, or end of input.
    """
    value = os.environ.get(PIN_ENV)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise CommandError(f"no terminal to ask for the token's PIN: set {PIN_ENV}")
    try:
        return getpass.getpass(prompt)
    except EOFError:
        raise CommandError("no PIN given") from None


def _tolerant(stream: object) -> None:
    """Characters the stream's encoding lacks are written as escapes (\\u2014), not
    raised as UnicodeEncodeError."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="backslashreplace")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and status 2, like
    every other error of the command (argparse prints the whole usage block otherwise).
    Subcommand parsers inherit the class (argparse makes them of the parent's type)."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # --help has arrows and dashes: escaped on a terminal that cannot show them,
        # rather than a UnicodeEncodeError (this runs before run_guarded).
        _tolerant(file or sys.stdout)
        super()._print_message(message, file)

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("noc-ledger").strip()
        where = f"{command}: " if command else ""
        sys.stderr.write(f"noc-ledger: {where}{message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT["usage"])


def _stdout_gone() -> None:
    """The reader of stdout went away (``| head``): point stdout at /dev/null, so that the
    command finishes and exits with its own status (``verify``'s verdict), and the
    interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def write_stdout(text: str) -> None:
    """Print ``text`` and a newline; a closed pipe is not an error (see :func:`_stdout_gone`)."""
    try:
        print(text)
    except BrokenPipeError:
        _stdout_gone()


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_gone()


class Output:
    """Human output or one JSON object (``--json``)."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        #: A progress line is on the terminal without its newline yet.
        self.progress_open = False

    def line(self, text: str = "") -> None:
        if not self.json_mode:
            write_stdout(text)

    def result(self, obj: Mapping[str, Any], human: Callable[[], None] | None = None) -> None:
        if self.json_mode:
            write_stdout(json.dumps(obj, indent=2, sort_keys=True, default=str))
        elif human is not None:
            human()

    def progress(self, done: int, total: int, what: str) -> None:
        """A progress line on a terminal (stderr), nothing otherwise."""
        if self.json_mode or not sys.stderr.isatty():
            return
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{what}: {done}/{total}{end}")
        sys.stderr.flush()
        self.progress_open = not end

    def end_progress(self) -> None:
        """End an unfinished progress line, so that what follows starts a line of its own."""
        if self.progress_open:
            sys.stderr.write("\n")
            self.progress_open = False


def fail(out: Output, message: str, status: int) -> NoReturn:
    """One line on stderr (and a JSON object with ``--json``), then exit."""
    if out.json_mode:
        write_stdout(json.dumps({"error": message, "exit": status}))
        flush_stdout()
    # An error in the middle of a bulk run: not glued to its progress line.
    out.end_progress()
    print(f"noc-ledger: {message}", file=sys.stderr)
    raise SystemExit(status)


def run_guarded(out: Output, func: Callable[[], int]) -> int:
    """Run a command: library and user errors become one line and a status, never a
    traceback."""
    # Human output has dashes and arrows; a terminal whose encoding lacks them gets
    # escapes, not a UnicodeEncodeError halfway through a verdict. (JSON is ASCII.)
    _tolerant(sys.stdout)
    _tolerant(sys.stderr)
    try:
        status = func()
        # Flushed here, not at exit: a reader that went away must not turn the status into
        # the interpreter's own (120) or, worse, hide a verdict behind 0.
        flush_stdout()
        return status
    except CommandError as exc:
        fail(out, str(exc), EXIT["error"])
    except NocLedgerError as exc:
        fail(out, f"{type(exc).__name__}: {exc}", EXIT["error"])
    except KeyboardInterrupt:
        fail(out, "interrupted", 130)
    except EOFError:
        # End of input where a command asked for some (a prompt answered with Ctrl-D).
        fail(out, "no input given", EXIT["error"])
    except BrokenPipeError:
        # Printed by other means than Output: the command did not finish, so its status
        # is not known; not an error worth a traceback either.
        _stdout_gone()
        return EXIT["error"]
