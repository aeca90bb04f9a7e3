"""An HTTP witness: C2SP tlog-witness ``add-checkpoint`` over the standard library's
threading HTTP server, with its state in SQLite (spec/witness.md §4-§6).

The decision is :func:`noc_ledger.witness.decide` (pure); this edge adds what it cannot
have: the network (bounded bodies, socket timeouts, a bound on concurrent requests), the
clock, and durable state. The check of the stored size and the update to the new one run
in one ``BEGIN IMMEDIATE`` transaction, committed with ``synchronous=FULL`` before the
response is written (c2sp.org/tlog-witness: "The witness MUST persist the new checkpoint
before responding" and the check and the update "must be performed atomically"). Requests
for one state file serialise on SQLite's write lock, across threads and processes.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

from noc_ledger.errors import DecodeError, NocLedgerError, StorageError
from noc_ledger.note import SIG_TYPE_ED25519, Verifier
from noc_ledger.witness import (
    MAX_REQUEST_SIZE,
    SIZE_CONTENT_TYPE,
    Cosigned,
    Refusal,
    WitnessedState,
    WitnessKey,
    decide,
    decode_add_checkpoint,
    request_origin,
)

__all__ = [
    "ADD_CHECKPOINT_PATH",
    "STATE_FILE",
    "WitnessHTTPServer",
    "WitnessStateStore",
    "make_witness_server",
]

#: c2sp.org/tlog-witness: the one endpoint, under the submission prefix (here the root).
ADD_CHECKPOINT_PATH: Final = "/add-checkpoint"
#: The state file inside a witness's state directory (spec/witness.md §6).
STATE_FILE: Final = "witness.db"
#: Seconds a connection may sit idle or stall mid-request before it is closed.
SOCKET_TIMEOUT: Final = 10.0
#: Seconds a request waits for another request's transaction on the same state file.
BUSY_TIMEOUT: Final = 10.0
#: Requests handled at once; more get 503 at once rather than queueing without bound.
MAX_CONCURRENT: Final = 32

_TEXT: Final = "text/plain; charset=utf-8"
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS logs ("
    " origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,"
    " time INTEGER NOT NULL, checkpoint BLOB NOT NULL)",
)


class WitnessStateStore:
    """The witness's durable state: one row per origin (spec/witness.md §6).

    The file is pinned to one witness identity (its verifier key) when first created: a
    state that says what one key cosigned must never be continued by another key.

    Raises (on construction):
        StorageError: the file cannot be opened or created, or it belongs to another
            witness key.
    """

    def __init__(self, path: str | Path, *, identity: Verifier) -> None:
        self.path = Path(path)
        self._identity = identity.encode()
        try:
            with closing(self._connect()) as db:
                db.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    db.execute(statement)
                row = db.execute("SELECT value FROM meta WHERE key = 'vkey'").fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES ('vkey', ?)", (self._identity,)
                    )
                elif row[0] != self._identity:
                    db.execute("ROLLBACK")
                    raise StorageError(
                        f"{self.path} is the state of witness {row[0]}, not {self._identity}"
                    )
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the witness state {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        # D12: durable commits. WAL lets readers run beside the one writer; FULL syncs the
        # WAL on every commit, so a 200 is only sent for a state that survives a crash.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    @staticmethod
    def _row(origin: str, row: tuple[int, bytes, int, bytes] | None) -> WitnessedState | None:
        if row is None:
            return None
        return WitnessedState(origin, int(row[0]), bytes(row[1]), int(row[2]), bytes(row[3]))

    def get(self, origin: str) -> WitnessedState | None:
        """The stored state for ``origin``, or None.

        Raises:
            StorageError: the file cannot be read.
        """
        try:
            with closing(self._connect()) as db:
                row = db.execute(
                    "SELECT size, root, time, checkpoint FROM logs WHERE origin = ?", (origin,)
                ).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the witness state: {exc}") from None
        return self._row(origin, row)

    def check_and_update(
        self, origin: str, decision: Callable[[WitnessedState | None], Cosigned | Refusal]
    ) -> Cosigned | Refusal:
        """Read ``origin``'s state, run ``decision`` on it and, if it cosigns, store the new
        state — all in one IMMEDIATE transaction committed before this returns.

        Raises:
            StorageError: the file cannot be read or written (nothing was cosigned then:
                the caller must not send the cosignature).
        """
        try:
            with closing(self._connect()) as db:
                db.execute("BEGIN IMMEDIATE")
                try:
                    row = db.execute(
                        "SELECT size, root, time, checkpoint FROM logs WHERE origin = ?",
                        (origin,),
                    ).fetchone()
                    outcome = decision(self._row(origin, row))
                    if isinstance(outcome, Cosigned):
                        s = outcome.state
                        db.execute(
                            "INSERT OR REPLACE INTO logs (origin, size, root, time, checkpoint)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (origin, s.size, s.root, s.time, s.checkpoint),
                        )
                        db.execute("COMMIT")
                    else:
                        db.execute("ROLLBACK")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StorageError(f"cannot update the witness state: {exc}") from None
        return outcome


class WitnessHTTPServer(ThreadingHTTPServer):
    """The HTTP witness. Build it with :func:`make_witness_server`."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        witness: WitnessKey,
        logs: Mapping[str, Sequence[Verifier]],
        store: WitnessStateStore,
        clock: Callable[[], int],
        quiet: bool,
    ) -> None:
        self.witness = witness
        self.logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self.store = store
        self.clock = clock
        self.quiet = quiet
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away or stalled is not an error worth a traceback; anything
        else is reported in one line (the request got no cosignature)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        sys.stderr.write(f"witness: request from {client_address} failed: {exc!r}\n")

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: WitnessHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as c2sp.org/tlog-witness recommends
    timeout = SOCKET_TIMEOUT
    server_version = "noc-ledger-witness/1"

    def log_message(self, format: str, *args: object) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, reason: str, *, close: bool = False) -> None:
        if close:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        body = (reason + "\n").encode("utf-8")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _not_allowed(self) -> None:
        self.close_connection = True
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed  # noqa: N815

    def do_POST(self) -> None:
        if not self.server.slots.acquire(blocking=False):
            self._refuse(503, "too many requests at once", close=True)
            return
        try:
            self._add_checkpoint()
        finally:
            self.server.slots.release()

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding") is not None:
            self._refuse(411, "a Content-Length is required (no chunked bodies)", close=True)
            return None
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit() or len(length_text) > 12:
            self._refuse(411, "a valid Content-Length is required", close=True)
            return None
        length = int(length_text)
        if length > MAX_REQUEST_SIZE:
            self._refuse(413, f"the body is at most {MAX_REQUEST_SIZE} bytes", close=True)
            return None
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            return None
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    def _add_checkpoint(self) -> None:
        if self.path != ADD_CHECKPOINT_PATH:
            self._refuse(404, "only POST /add-checkpoint is served", close=True)
            return
        body = self._read_body()
        if body is None:
            return
        try:
            request = decode_add_checkpoint(body)
            origin = request_origin(request)
        except DecodeError as exc:
            self._refuse(400, f"bad request: {exc}")
            return
        server = self.server
        keys = server.logs.get(origin, ())

        def decision(stored: WitnessedState | None) -> Cosigned | Refusal:
            return decide(
                request, log_keys=keys, stored=stored, witness=server.witness, time=server.clock()
            )

        try:
            outcome = server.store.check_and_update(origin, decision)
        except NocLedgerError as exc:
            # Nothing was committed, so nothing is cosigned: fail closed.
            self.log_error("add-checkpoint failed: %s", exc)
            self._refuse(500, "the witness could not record the checkpoint", close=True)
            return
        if isinstance(outcome, Cosigned):
            self._send(200, outcome.body)
        elif outcome.size is not None:
            self._send(int(outcome.status), outcome.body, SIZE_CONTENT_TYPE)
        else:
            self._send(int(outcome.status), outcome.body)


def _now() -> int:
    return int(time.time())


def make_witness_server(
    host: str,
    port: int,
    *,
    witness: WitnessKey,
    logs: Mapping[str, Sequence[Verifier]],
    state_dir: str | Path,
    clock: Callable[[], int] = _now,
    quiet: bool = False,
) -> WitnessHTTPServer:
    """A witness listening on ``host:port`` (port 0: an ephemeral port; see ``.url``).

    ``logs`` maps each known origin to the type-0x01 keys trusted for it. The state lives in
    ``state_dir/witness.db``, pinned to ``witness``'s key. Call ``serve_forever()`` to run
    it and ``shutdown()`` then ``server_close()`` to stop it.

    Raises:
        StorageError: the state cannot be opened or belongs to another witness key.
        DecodeError: a log key is not a type-0x01 verifier or an origin is invalid.
        OSError: the address cannot be bound.
    """
    for origin, keys in logs.items():
        if not keys or any(
            not isinstance(k, Verifier) or k.sig_type != SIG_TYPE_ED25519 for k in keys
        ):
            raise DecodeError(f"log {origin!r}: keys are Ed25519 (type 0x01) verifier keys")
    directory = Path(state_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {directory}: {exc.strerror or exc}") from None
    store = WitnessStateStore(directory / STATE_FILE, identity=witness.verifier)
    return WitnessHTTPServer(
        (host, port), witness=witness, logs=logs, store=store, clock=clock, quiet=quiet
    )
