"""Serve a tiles directory read-only over HTTP (spec/tiles.md §7).

A :class:`TilesServer` is a standard-library :class:`~http.server.ThreadingHTTPServer` that
answers ``GET`` and ``HEAD`` for exactly the resources of the C2SP tlog-tiles grammar
(``checkpoint``, ``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]``). A request path is
matched against the grammar with :func:`noc_ledger.tiles.parse_tile_path` *before* it is
joined to the directory, so no request names a file outside it (no ``..``, no percent
decoding, no other file of the directory); symbolic links are not followed.

Bounds (spec/tiles.md §7.2): the request line and headers together at most
:data:`MAX_REQUEST_HEAD` bytes, no request body, a socket timeout per connection, at most
:data:`MAX_CONNECTIONS` connections served at once (more are closed at once), and every file
read with the size limit of its kind.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import io
import os
import socket
import stat
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

from noc_ledger.errors import DecodeError
from noc_ledger.tiles import (
    CHECKPOINT_PATH,
    MAX_BUNDLE_SIZE,
    MAX_CHECKPOINT_SIZE,
    MAX_HASH_TILE_SIZE,
    parse_tile_path,
)

__all__ = [
    "CACHE_CHECKPOINT",
    "CACHE_IMMUTABLE",
    "CACHE_PARTIAL",
    "MAX_CONNECTIONS",
    "MAX_REQUEST_HEAD",
    "TilesServer",
    "make_server",
]

#: Full tiles and full entry bundles never change (spec/tiles.md §7.1).
CACHE_IMMUTABLE: Final = "public, max-age=31536000, immutable"
#: A partial tile's bytes never change either, but it may be removed once its full tile
#: exists: cached briefly.
CACHE_PARTIAL: Final = "public, max-age=60"
#: The checkpoint changes with every export: revalidated on every use.
CACHE_CHECKPOINT: Final = "no-cache"
#: The request line and all header lines of one request, in bytes.
MAX_REQUEST_HEAD: Final = 8192
#: Connections served at once; more are closed without an answer.
MAX_CONNECTIONS: Final = 64
#: Seconds a connection may sit idle in a read or write.
TIMEOUT: Final = 10.0

_TEXT: Final = "text/plain; charset=utf-8"
_BINARY: Final = "application/octet-stream"


class _HeadBudget:
    """A readable stream that allows at most ``limit`` bytes per request head, so that a
    request line or header block cannot grow without bound."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self.remaining = MAX_REQUEST_HEAD

    def readline(self, limit: int = -1) -> bytes:
        if self.remaining <= 0:
            # Caught by BaseHTTPRequestHandler.parse_request: 431 for a header block.
            raise http.client.LineTooLong("request head")
        cap = self.remaining if limit < 0 else min(limit, self.remaining)
        line = self._raw.readline(cap)
        self.remaining -= len(line)
        if self.remaining <= 0 and not line.endswith(b"\n"):
            raise http.client.LineTooLong("request head")
        return line

    def read(self, n: int = -1) -> bytes:
        return b""  # requests have no body here

    def close(self) -> None:
        self._raw.close()


class _Handler(BaseHTTPRequestHandler):
    server: TilesServer
    protocol_version = "HTTP/1.1"
    server_version = "noc-ledger-tiles"
    sys_version = ""
    timeout = TIMEOUT

    def setup(self) -> None:
        super().setup()
        self._budget = _HeadBudget(self.rfile)
        self.rfile = self._budget  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        # The standard loop, with the request line bounded by the head budget and any method
        # other than GET and HEAD answered 405.
        self._budget.remaining = MAX_REQUEST_HEAD
        try:
            try:
                self.raw_requestline = self.rfile.readline(MAX_REQUEST_HEAD + 1)
            except http.client.LineTooLong:
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
                self.send_error(414)
                self._linger()
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                self._linger()
                return
            if self.headers.get("Content-Length", "0").strip() not in ("", "0") or (
                "Transfer-Encoding" in self.headers
            ):
                self.send_error(400, "a request here has no body")
                self._linger()
                return
            if self.command not in ("GET", "HEAD"):
                self.close_connection = True
                self.send_response(405)
                self.send_header("Allow", "GET, HEAD")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._serve(head=self.command == "HEAD")
            self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _linger(self) -> None:
        """After an error answer to a request that was not read to its end: send the answer,
        then read and discard (at most 64 KiB, at most ``TIMEOUT`` per read) what the client
        still sends, so that closing does not reset the connection before the client has
        read the answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            left = 64 << 10
            while left > 0:
                chunk = self.connection.recv(min(left, 8192))
                if not chunk:
                    break
                left -= len(chunk)

    def _serve(self, *, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        resource = _resource(path)
        if resource is None:
            self._send(404, b"not found\n", _TEXT, "no-store", head=head)
            return
        relative, limit, content_type, cache = resource
        data = _read(self.server.root, relative, limit)
        if data is None:
            self._send(404, b"not found\n", _TEXT, "no-store", head=head)
            return
        self._send(200, data, content_type, cache, head=head)

    def _send(self, code: int, body: bytes, content_type: str, cache: str, *, head: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(timestamp, usegmt=True)


def _resource(path: str) -> tuple[str, int, str, str] | None:
    """(relative path, size limit, Content-Type, Cache-Control) of a request path, or None
    if the path is not one of the grammar's (spec/tiles.md §7.1)."""
    if not path.startswith("/"):
        return None
    relative = path[1:]
    if relative == CHECKPOINT_PATH:
        return relative, MAX_CHECKPOINT_SIZE, _TEXT, CACHE_CHECKPOINT
    try:
        tile = parse_tile_path(relative)
    except DecodeError:
        return None
    limit = MAX_BUNDLE_SIZE if tile.is_entries else MAX_HASH_TILE_SIZE
    return relative, limit, _BINARY, CACHE_PARTIAL if tile.is_partial else CACHE_IMMUTABLE


def _read(root: Path, relative: str, limit: int) -> bytes | None:
    """The regular file ``root/relative`` if it exists and is within ``limit``; else None.
    Each path element is opened without following symbolic links."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    fds = [dir_fd]
    try:
        parts = relative.split("/")
        for part in parts[:-1]:
            fds.append(os.open(part, flags | os.O_DIRECTORY, dir_fd=fds[-1]))
        fd = os.open(parts[-1], flags, dir_fd=fds[-1])
        fds.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        for fd in reversed(fds):
            os.close(fd)


class TilesServer(ThreadingHTTPServer):
    """The read-only tiles server for ``root``; see the module docstring."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self,
        root: str | Path,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.log = log
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """The base URL (prefix) this server answers at."""
        host, port = self.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        if ":" in host_text:
            host_text = f"[{host_text}]"
        return f"http://{host_text}:{port}/"

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: object, client_address: object) -> None:
        # A connection's failure is the client's business; nothing is printed for it.
        with contextlib.suppress(Exception):
            if self.log is not None:
                self.log(f"{client_address}: connection error")


def make_server(
    root: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log: Callable[[str], None] | None = None,
) -> TilesServer:
    """A :class:`TilesServer` for the tiles directory ``root``, bound (port 0: any free
    port; see :attr:`TilesServer.url`) but not yet serving: call ``serve_forever()``, and
    ``shutdown()`` then ``server_close()`` to stop.

    Raises:
        OSError: the address cannot be bound.
    """
    return TilesServer(root, (host, port), log=log)
