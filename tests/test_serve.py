"""Serving tiles over HTTP (noc_ledger.server.tiles_http, spec/tiles.md §7), the HTTP
LogSource reading them, and the `noc-ledger tiles` / `serve` commands."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from noc_ledger import merkle
from noc_ledger.checkpoint import decode_checkpoint_note
from noc_ledger.cli import main
from noc_ledger.client.source import (
    DirectorySource,
    HttpSource,
    open_source,
    prove_consistency,
    prove_inclusion,
    root_at,
)
from noc_ledger.errors import FetchError
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.ledger.tiles_export import export_tiles
from noc_ledger.server.tiles_http import (
    CACHE_CHECKPOINT,
    CACHE_IMMUTABLE,
    CACHE_PARTIAL,
    MAX_REQUEST_HEAD,
    TilesServer,
    make_server,
)
from tests.ledger_story import ISSUER, new_ledger, noc


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ledger, Path]:
    ledger = new_ledger(MemoryStore())
    ledger.issue_batch([noc() for _ in range(299)], ISSUER)
    out = tmp_path_factory.mktemp("tiles")
    export_tiles(ledger, out, checkpoint=ledger.checkpoint())
    (tmp_path_factory.getbasetemp() / "secret.txt").write_text("secret")
    return ledger, out


def _start(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return thread


@pytest.fixture
def server(published: tuple[Ledger, Path]) -> Iterator[TilesServer]:
    srv = make_server(published[1])
    thread = _start(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def _request(
    server: TilesServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, dict(response.getheaders()), body
    finally:
        conn.close()


def _raw(server: TilesServer, data: bytes) -> bytes:
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# -- the server --------------------------------------------------------------------------


def test_resources_and_their_headers(server: TilesServer, published: tuple[Ledger, Path]) -> None:
    _, root = published
    cases = [
        ("/checkpoint", "text/plain; charset=utf-8", CACHE_CHECKPOINT),
        ("/tile/0/000", "application/octet-stream", CACHE_IMMUTABLE),
        ("/tile/0/001.p/44", "application/octet-stream", CACHE_PARTIAL),
        ("/tile/1/000.p/1", "application/octet-stream", CACHE_PARTIAL),
        ("/tile/entries/000", "application/octet-stream", CACHE_IMMUTABLE),
        ("/tile/entries/001.p/44", "application/octet-stream", CACHE_PARTIAL),
    ]
    for path, content_type, cache in cases:
        status, headers, body = _request(server, "GET", path)
        assert status == 200, path
        assert body == (root / path[1:]).read_bytes()
        assert headers["Content-Type"] == content_type
        assert headers["Cache-Control"] == cache
        assert headers["Content-Length"] == str(len(body))
        status, head_headers, head_body = _request(server, "HEAD", path)
        assert (status, head_body) == (200, b"")
        assert head_headers["Content-Length"] == str(len(body))
        assert head_headers["Cache-Control"] == cache
    # A query string does not change the resource.
    assert _request(server, "GET", "/checkpoint?x=1")[2] == (root / "checkpoint").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/002",  # in the grammar, not published
        "/tile/entries/005.p/3",
        "/",
        "/secret.txt",
        "/../secret.txt",
        "/tile/../checkpoint",
        "/tile/0/../../checkpoint",
        "/tile/0/%2e%2e/%2e%2e/checkpoint",
        "/%2e%2e/secret.txt",
        "/checkpoint/",
        "/tile/0/000/",
        "/tile/0/x000/000",
        "/tile/0/0",
        "/tile/0/000.p/256",
        "/TILE/0/000",
        "/tile/0/000%00",
        "tile/0/000",
        "http://example.org/checkpoint",
    ],
)
def test_everything_else_is_404(server: TilesServer, path: str) -> None:
    status, _headers, body = _request(server, "GET", path)
    assert status == 404
    assert b"secret" not in body


def test_symlinks_are_not_followed(published: tuple[Ledger, Path], tmp_path: Path) -> None:
    (tmp_path / "tile/0").mkdir(parents=True)
    (tmp_path / "target").write_bytes(b"\x00" * 32)
    (tmp_path / "tile/0/000.p/1").parent.mkdir()
    (tmp_path / "tile/0/000.p/1").symlink_to(tmp_path / "target")
    (tmp_path / "checkpoint").symlink_to(published[1] / "checkpoint")
    srv = make_server(tmp_path)
    thread = _start(srv)
    try:
        assert _request(srv, "GET", "/tile/0/000.p/1")[0] == 404
        assert _request(srv, "GET", "/checkpoint")[0] == 404
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def test_other_methods_and_bodies_are_refused(server: TilesServer) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "TRACE"):
        status, headers, _ = _request(server, method, "/checkpoint")
        assert status == 405
        assert headers["Allow"] == "GET, HEAD"
    reply = _raw(server, b"GET /checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert reply.startswith(b"HTTP/1.1 400")


def test_request_heads_are_bounded(server: TilesServer) -> None:
    reply = _raw(server, b"GET /" + b"a" * (MAX_REQUEST_HEAD + 10) + b" HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 414")
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(200))
    reply = _raw(server, b"GET /checkpoint HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431")
    # The server still answers afterwards.
    assert _request(server, "GET", "/checkpoint")[0] == 200


def test_keep_alive_serves_several_requests(server: TilesServer) -> None:
    reply = _raw(
        server,
        b"HEAD /checkpoint HTTP/1.1\r\nHost: x\r\n\r\nHEAD /tile/0/000 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert reply.count(b"HTTP/1.1 200") == 2


# -- the HTTP source reads the same log as the directory source ----------------------------


def test_http_source_matches_directory_source(
    server: TilesServer, published: tuple[Ledger, Path]
) -> None:
    ledger, root = published
    web = open_source(server.url)
    assert isinstance(web, HttpSource)
    local = DirectorySource(root)
    note = web.read_checkpoint()
    assert note == local.read_checkpoint()
    cp = decode_checkpoint_note(note)
    assert cp.size == 300
    assert web.read_entries(0, 300, size=300) == local.read_entries(0, 300, size=300)
    assert web.read_entries(0, 300, size=300) == ledger.entries(0, 300)
    indexes = list(range(merkle.stored_hash_count(300)))
    assert web.read_hashes(indexes, size=300) == local.read_hashes(indexes, size=300)
    assert root_at(web, 300) == cp.root
    for index in (0, 255, 256, 299):
        proof = prove_inclusion(web, index, 300)
        assert proof == prove_inclusion(local, index, 300)
        merkle.verify_inclusion(
            index=index,
            size=300,
            leaf_hash=merkle.leaf_hash(ledger.entries(index, index + 1)[0]),
            proof=proof,
            root=cp.root,
        )
    for size1 in (1, 100, 256):
        assert prove_consistency(web, size1, 300) == ledger.prove_consistency(size1, 300)
    # An older tree (size 100): its partial tiles were never published; the full level-0
    # tile and bundle serve it.
    assert web.read_entries(0, 100, size=100) == ledger.entries(0, 100)
    assert root_at(web, 100) == merkle.root_of(
        [merkle.leaf_hash(e) for e in ledger.entries(0, 100)]
    )
    with pytest.raises(FetchError):
        web.read_entries(0, 400, size=400)


class _Rogue(BaseHTTPRequestHandler):
    """A misbehaving log server: oversized, redirected, gzip-bombed or failing answers."""

    def do_GET(self) -> None:
        import gzip

        if self.path.endswith("/checkpoint"):
            body = b"x" * (64 << 10 | 1)
            self.send_response(200)
        elif self.path.endswith("/tile/0/000"):
            self.send_response(302)
            self.send_header("Location", "http://example.org/tile/0/000")
            body = b""
        elif self.path.endswith("/tile/0/001"):
            body = gzip.compress(b"\x00" * (1 << 20))
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
        elif self.path.endswith("/tile/0/002"):
            body = gzip.compress(b"\x07" * 8192)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
        else:
            body = b"oops"
            self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def rogue() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Rogue)
    thread = _start(srv)
    yield f"http://127.0.0.1:{srv.server_address[1]}/log"
    srv.shutdown()
    srv.server_close()
    thread.join()


def test_http_source_bounds(rogue: str) -> None:
    source = HttpSource(rogue, timeout=5)
    with pytest.raises(FetchError, match="over"):
        source.read_checkpoint()
    with pytest.raises(FetchError, match="302"):
        source.read_hashes([0], size=256)  # tile/0/000: redirect not followed
    with pytest.raises(FetchError, match="over"):
        source.read_hashes([merkle.stored_hash_index(0, 256)], size=512)  # gzip bomb
    # A well-formed gzip body is decompressed.
    assert source.read_hashes([merkle.stored_hash_index(0, 512)], size=768) == [b"\x07" * 32]
    with pytest.raises(FetchError, match="500"):
        source.read_entries(0, 1, size=1)


def test_http_source_times_out() -> None:
    # A server that accepts and never answers.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        source = HttpSource(f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.3)
        with pytest.raises(FetchError):
            source.read_checkpoint()
    finally:
        listener.close()


@pytest.mark.parametrize(
    "location", ["ftp://x/", "http://", "http://host/log?x=1", "https://host/#f", "file:///etc"]
)
def test_bad_locations(location: str) -> None:
    with pytest.raises(FetchError):
        open_source(location)


# -- the commands ------------------------------------------------------------------------


@pytest.fixture
def ledger_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NOC_LEDGER_PASSPHRASE", "correct horse battery")
    path = tmp_path / "ledger"
    args = [
        "init",
        str(path),
        "--origin",
        "vara.example/noc-ledger",
        "--authority",
        "Virtual Assets Regulatory Authority",
        "--jurisdiction",
        "AE-DU",
        "--issuing-valid-from",
        "2025-01-01T00:00:00Z",
        "--issuing-valid-until",
        "2040-01-01T00:00:00Z",
    ]
    assert main(args) == 0
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tiles_command(ledger_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, err = _cli(capsys, "tiles", str(ledger_dir), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["size"] == 1
    assert result["dir"] == str(ledger_dir / "tiles")
    source = DirectorySource(ledger_dir / "tiles")
    cp = decode_checkpoint_note(source.read_checkpoint())
    assert root_at(source, cp.size) == cp.root
    code, out, err = _cli(capsys, "tiles", str(ledger_dir))
    assert code == 0 and "already at size 1" in out
    # A checkpoint of another log is refused: one line, exit 1.
    other = ledger_dir.parent / "other.checkpoint"
    other.write_bytes(b"not a checkpoint")
    code, out, err = _cli(capsys, "tiles", str(ledger_dir), "--checkpoint", str(other))
    assert code == 1 and "Traceback" not in err and len(err.splitlines()) == 1


def test_serve_command_refuses_a_directory_without_tiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = _cli(capsys, "serve", str(tmp_path), "--port", "0")
    assert code == 1
    assert err.splitlines() == [
        f"noc-ledger: {tmp_path} has no checkpoint: run `noc-ledger tiles` first"
    ]
