"""Witnesses (spec/witness.md): the add-checkpoint wire format, the witness's decision, the
HTTP witness with its SQLite state, and the log side collecting a quorum of cosignatures —
end to end with witness processes on loopback, one of them down and one lying."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_ledger import signing
from noc_ledger.bundle import Bundle
from noc_ledger.checkpoint import (
    Checkpoint,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignatures,
)
from noc_ledger.cli import main
from noc_ledger.client.source import open_source
from noc_ledger.errors import DecodeError, EncodeError, QuorumError, StorageError, WitnessError
from noc_ledger.ledger.ledger import Ledger
from noc_ledger.ledger.memory import MemoryStore
from noc_ledger.ledger.witnessing import (
    Cosigned as LogCosigned,
)
from noc_ledger.ledger.witnessing import (
    QuorumNotMetError,
    Threshold,
    WitnessEndpoint,
    collect_cosignatures,
    publish,
    with_checkpoint,
)
from noc_ledger.merkle import EMPTY_ROOT, MemoryHashStore, prove_consistency, root_from_reader
from noc_ledger.note import SIG_TYPE_COSIGNATURE_V1, NoteSignature, Verifier, decode_verifier_key
from noc_ledger.policy import Group, RootKey, TrustPolicy, make_policy
from noc_ledger.server.witness_http import STATE_FILE, WitnessStateStore, make_witness_server
from noc_ledger.verify import verify_bundle
from noc_ledger.witness import (
    MAX_PROOF_LINES,
    MAX_REQUEST_SIZE,
    MAX_RESPONSE_SIZE,
    AddCheckpointRequest,
    Cosigned,
    Refusal,
    Status,
    WitnessedState,
    WitnessKey,
    decide,
    decode_add_checkpoint,
    decode_cosignature_response,
    decode_size_response,
    encode_add_checkpoint,
    encode_cosignature_response,
    encode_size_response,
    request_origin,
)
from tests.ledger_story import AUTHORITY, ISSUER, LOG, ORIGIN, ROOT, ROOT_SCOPE, delegation, noc
from tools.gen_vectors import T0

REPO = Path(__file__).resolve().parent.parent
PASSPHRASE = "witness test passphrase"
AT = T0 + 60


def key(label: str) -> signing.Ed25519Signer:
    return signing.Ed25519Signer(hashlib.sha256(label.encode()).digest())


W1 = WitnessKey("w1.example", key("witness 1"))


class Log:
    """A log for the witness tests: a Merkle tree and its signed checkpoints."""

    def __init__(self, origin: str = "log.example/a", signer: signing.Ed25519Signer | None = None):
        self.origin = origin
        self.signer = signer or key(f"log {origin}")
        self.tree = MemoryHashStore()

    @property
    def verifier(self) -> Verifier:
        return Verifier.for_key(self.origin, self.signer.public_key)

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.tree.append(f"{self.origin} entry {self.tree.size}".encode())

    def note(self, size: int | None = None, *, root: bytes | None = None) -> bytes:
        size = self.tree.size if size is None else size
        cp = Checkpoint(
            self.origin,
            size,
            root or root_from_reader(size, self.tree),
            T0,
            hashlib.sha256(b"status").digest(),
        )
        return sign_checkpoint(cp, self.signer)

    def proof(self, old: int, new: int) -> tuple[bytes, ...]:
        if old in (0, new):
            return ()
        return tuple(prove_consistency(old, new, self.tree))

    def request(self, old: int, size: int | None = None) -> AddCheckpointRequest:
        size = self.tree.size if size is None else size
        return AddCheckpointRequest(old, self.proof(old, size), self.note(size))


def state_of(result: Cosigned | Refusal) -> WitnessedState:
    assert isinstance(result, Cosigned), result
    return result.state


def run_decide(
    log: Log, request: AddCheckpointRequest, stored: WitnessedState | None, time: int = T0 + 5
) -> Cosigned | Refusal:
    return decide(request, log_keys=[log.verifier], stored=stored, witness=W1, time=time)


# ---------------------------------------------------------------------------------------
# Wire formats


def test_request_round_trip_and_the_c2sp_layout() -> None:
    log = Log()
    log.grow(7)
    request = log.request(3)
    body = encode_add_checkpoint(request)
    lines = body.split(b"\n")
    assert lines[0] == b"old 3"
    assert [base64.b64decode(x) for x in lines[1 : 1 + len(request.proof)]] == list(request.proof)
    assert lines[1 + len(request.proof)] == b""
    assert body.endswith(b"\n\n" + request.checkpoint) or body.endswith(request.checkpoint)
    assert decode_add_checkpoint(body) == request
    assert request_origin(request) == log.origin


@settings(max_examples=60, deadline=None)
@given(
    old=st.integers(0, (1 << 63) - 1),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_PROOF_LINES),
    note=st.binary(min_size=1, max_size=200),
)
def test_request_round_trip_property(old: int, proof: list[bytes], note: bytes) -> None:
    request = AddCheckpointRequest(old, tuple(proof), note)
    assert decode_add_checkpoint(encode_add_checkpoint(request)) == request


HASH = base64.b64encode(b"\x01" * 32)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1",
        b"old 01\n\nnote",
        b"old -1\n\nnote",
        b"old  1\n\nnote",
        b"Old 1\n\nnote",
        b"old 1 \n\nnote",
        b"old 9223372036854775808\n\nnote",
        b"old 99999999999999999999\n\nnote",
        b"old 0x1\n\nnote",
        b"old 1\n" + HASH + b"\nnote-without-blank-line",
        b"old 1\n" + HASH[:-1] + b"\n\nnote",
        b"old 1\n" + base64.b64encode(b"\x01" * 31) + b"\n\nnote",
        b"old 1\n" + HASH + b" \n\nnote",
        b"old 1\n" + (HASH + b"\n") * (MAX_PROOF_LINES + 1) + b"\nnote",
        b"old 1\n\n",
        b"old 1\n" + "é".encode() + b"\n\nnote",
    ],
)
def test_request_decoding_refuses(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_add_checkpoint(body)


def test_request_size_limits() -> None:
    with pytest.raises(DecodeError):
        decode_add_checkpoint(b"old 0\n\n" + b"x" * MAX_REQUEST_SIZE)
    with pytest.raises(EncodeError):
        encode_add_checkpoint(AddCheckpointRequest(0, (), b"x" * MAX_REQUEST_SIZE))
    with pytest.raises(EncodeError):
        AddCheckpointRequest(0, (b"\x00" * 32,) * (MAX_PROOF_LINES + 1), b"n")
    with pytest.raises(EncodeError):
        AddCheckpointRequest(-1, (), b"n")
    with pytest.raises(EncodeError):
        AddCheckpointRequest(0, (b"short",), b"n")


def test_size_response() -> None:
    for size in (0, 1, 20852014, (1 << 63) - 1):
        assert decode_size_response(encode_size_response(size)) == size
    for bad in (b"", b"1", b"01\n", b"1\n\n", b" 1\n", b"-1\n", b"9223372036854775808\n"):
        with pytest.raises(DecodeError):
            decode_size_response(bad)
    with pytest.raises(EncodeError):
        encode_size_response(-1)


def test_cosignature_response() -> None:
    sig = NoteSignature("w1.example", b"\x01\x02\x03\x04", b"\x00" * 72)
    other = NoteSignature("w2.example", b"\x05\x06\x07\x08", b"\x01" * 72)
    body = encode_cosignature_response([sig, other])
    assert decode_cosignature_response(body) == (sig, other)
    line = encode_cosignature_response([sig])
    for bad in (b"", b"\n" + line, line + b"\n" + line, line[:-1], b"- w1 AAAA\n", b"x" * 10):
        with pytest.raises(DecodeError):
            decode_cosignature_response(bad)
    with pytest.raises(DecodeError):
        decode_cosignature_response(line * (MAX_RESPONSE_SIZE // len(line) + 1))
    with pytest.raises(EncodeError):
        encode_cosignature_response([])


# ---------------------------------------------------------------------------------------
# The decision (spec/witness.md §4)


def cosignature_verifies(note: bytes, result: Cosigned | Refusal, log: Log) -> bool:
    assert isinstance(result, Cosigned)
    opened = open_checkpoint(note + result.body, origin=log.origin, log_key=log.verifier)
    found = verify_cosignatures(opened, [W1.verifier])
    return [c.name for c in found] == [W1.name]


def test_first_cosignature_and_state() -> None:
    log = Log()
    log.grow(5)
    request = log.request(0)
    result = run_decide(log, request, None, time=T0 + 7)
    assert isinstance(result, Cosigned) and result.status == Status.OK
    assert cosignature_verifies(request.checkpoint, result, log)
    assert result.state == WitnessedState(
        log.origin, 5, root_from_reader(5, log.tree), T0 + 7, request.checkpoint
    )
    assert int.from_bytes(result.cosignature.signature[:8], "big") == T0 + 7


def test_consistent_growth_and_resubmission() -> None:
    log = Log()
    log.grow(3)
    state = state_of(run_decide(log, log.request(0), None))
    for grow in (1, 4, 17, 100):
        log.grow(grow)
        result = run_decide(log, log.request(state.size), state)
        assert cosignature_verifies(log.note(), result, log)
        state = state_of(result)
    # The same checkpoint again (old size = its size, empty proof): cosigned again.
    again = run_decide(log, log.request(state.size), state)
    assert state_of(again).size == state.size


def test_refusals_map_to_their_http_status() -> None:
    log = Log()
    log.grow(8)
    state = state_of(run_decide(log, log.request(0, 4), None))
    other_log = Log("log.example/other")
    other_log.grow(8)

    def refused(request: AddCheckpointRequest, stored: WitnessedState | None = state) -> Refusal:
        result = run_decide(log, request, stored)
        assert isinstance(result, Refusal), result
        return result

    # 404: a log the witness does not know.
    unknown = decide(log.request(4), log_keys=[], stored=state, witness=W1, time=T0)
    assert isinstance(unknown, Refusal) and unknown.status == Status.NOT_FOUND
    # 403: signed by another key under the log's name; the real key's signature missing.
    forged = Log(log.origin, key("a forger"))
    forged.grow(8)
    assert refused(AddCheckpointRequest(4, log.proof(4, 8), forged.note())).status == 403
    # 400: malformed note; old size above the checkpoint's.
    assert refused(AddCheckpointRequest(4, (), b"not a note")).status == Status.BAD_REQUEST
    assert refused(AddCheckpointRequest(6, (), log.note(5))).status == Status.BAD_REQUEST
    # 409: old size is not the stored one; the body is the stored size.
    conflict = refused(log.request(3))
    assert conflict.status == Status.CONFLICT and conflict.size == 4
    assert conflict.body == b"4\n"
    assert refused(log.request(0)).size == 4
    # 422: a proof that does not verify; a proof where none is allowed.
    bad_proof = list(log.proof(4, 8))
    bad_proof[0] = bytes(32)
    assert refused(AddCheckpointRequest(4, tuple(bad_proof), log.note())).status == 422
    assert refused(AddCheckpointRequest(4, log.proof(4, 8)[:-1], log.note())).status == 422
    assert refused(AddCheckpointRequest(4, (bytes(32),), log.note(4))).status == 422
    fresh = refused(AddCheckpointRequest(0, (bytes(32),), log.note()), stored=None)
    assert fresh.status == Status.UNPROCESSABLE
    # A checkpoint of another tree that the proof does not link to the stored root: 422.
    fork = Log(log.origin, log.signer)
    fork.tree.append(b"a different first entry")
    fork.grow(7)
    assert refused(AddCheckpointRequest(4, fork.proof(4, 8), fork.note())).status == 422
    # 409: the same size with another root (a fork at the witnessed size).
    same_size = refused(AddCheckpointRequest(4, (), log.note(4, root=hashlib.sha256().digest())))
    assert same_size.status == Status.CONFLICT and same_size.size is None


def test_extra_signatures_by_unknown_keys_are_ignored() -> None:
    log = Log()
    log.grow(2)
    note = log.note()
    extra = (
        "\u2014 someone.else "
        + base64.b64encode(b"\x00\x01\x02\x03" + b"\x09" * 64).decode()
        + "\n"
    ).encode()
    result = run_decide(log, AddCheckpointRequest(0, (), note + extra), None)
    assert isinstance(result, Cosigned)


def test_a_rollback_is_never_cosigned() -> None:
    log = Log()
    log.grow(10)
    state = state_of(run_decide(log, log.request(0), None))
    # Old size 10 with the smaller checkpoint: 400. The smaller size as old size: 409.
    assert run_decide(log, AddCheckpointRequest(10, (), log.note(6)), state).status == 400
    assert run_decide(log, AddCheckpointRequest(6, (), log.note(6)), state).status == 409


def test_timestamps_never_go_backwards() -> None:
    log = Log()
    log.grow(2)
    state = state_of(run_decide(log, log.request(0), None, time=T0 + 100))
    log.grow(1)
    later = run_decide(log, log.request(2), state, time=T0 + 50)  # the clock went back
    assert isinstance(later, Cosigned)
    assert later.state.time == T0 + 100
    assert int.from_bytes(later.cosignature.signature[:8], "big") == T0 + 100
    assert cosignature_verifies(log.note(), later, log)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_mutation_of_the_checkpoint_is_refused(data: st.DataObject) -> None:
    log = Log()
    log.grow(9)
    state = state_of(run_decide(log, log.request(0, 5), None))
    request = log.request(5)
    text_end = request.checkpoint.index(b"\n\n")
    position = data.draw(st.integers(0, text_end - 1))
    flipped = bytearray(request.checkpoint)
    flipped[position] ^= data.draw(st.integers(1, 255))
    mutated = AddCheckpointRequest(5, request.proof, bytes(flipped))
    # As the server does: the (unverified) origin picks the log's keys and stored state.
    try:
        origin = request_origin(mutated)
    except DecodeError:
        return  # the server answers 400 before deciding
    known = origin == log.origin
    result = decide(
        mutated,
        log_keys=[log.verifier] if known else [],
        stored=state if known else None,
        witness=W1,
        time=T0,
    )
    assert isinstance(result, Refusal)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 40)), min_size=1, max_size=12))
def test_stored_size_is_monotonic_and_every_cosigned_tree_consistent(
    steps: list[tuple[int, int]],
) -> None:
    log = Log()
    log.grow(40)
    stored: WitnessedState | None = None
    for grow_from, size in steps:
        old = stored.size if stored is not None and grow_from else grow_from
        proof = log.proof(old, size) if old <= size else ()
        result = run_decide(log, AddCheckpointRequest(old, proof, log.note(size)), stored)
        if isinstance(result, Cosigned):
            previous = 0 if stored is None else stored.size
            assert result.state.size >= previous
            assert result.state.root == root_from_reader(result.state.size, log.tree)
            stored = result.state
        else:
            assert result.status in (400, 409, 422)


def test_decide_refuses_caller_bugs() -> None:
    log = Log()
    log.grow(1)
    with pytest.raises(EncodeError):
        run_decide(log, log.request(0), None, time=-1)
    other = WitnessedState("log.example/other", 0, EMPTY_ROOT, 0, b"")
    with pytest.raises(EncodeError):
        run_decide(log, log.request(0), other)


# ---------------------------------------------------------------------------------------
# The HTTP witness in this process (state, concurrency); processes further below


def post(url: str, body: bytes, *, timeout: float = 10) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url + "/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Log, Log, Path]]:
    a, b = Log("log.example/a"), Log("log.example/b")
    server = make_witness_server(
        "127.0.0.1",
        0,
        witness=W1,
        logs={a.origin: [a.verifier], b.origin: [b.verifier]},
        state_dir=tmp_path / "state",
        clock=lambda: T0 + 1,
        quiet=True,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url, a, b, tmp_path / "state"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_http_statuses_and_content_types(served: tuple[str, Log, Log, Path]) -> None:
    url, a, _, _ = served
    a.grow(3)
    status, _, body = post(url, encode_add_checkpoint(a.request(0)))
    assert status == 200
    assert decode_cosignature_response(body)[0].name == W1.name
    status, content_type, body = post(url, encode_add_checkpoint(a.request(0)))
    assert (status, content_type, body) == (409, "text/x.tlog.size", b"3\n")
    assert post(url, b"old 1\n")[0] == 400
    unknown = Log("log.example/unknown")
    unknown.grow(1)
    assert post(url, encode_add_checkpoint(unknown.request(0)))[0] == 404
    # Only POST /add-checkpoint.
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url + "/add-checkpoint", timeout=10)
    assert info.value.code == 405
    info.value.close()
    request = urllib.request.Request(url + "/other", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 404
    info.value.close()


def test_http_body_limits(served: tuple[str, Log, Log, Path]) -> None:
    url, _, _, _ = served
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {MAX_REQUEST_SIZE + 1}\r\n\r\n".encode()
        )
        assert b" 413 " in s.recv(100)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert b" 411 " in s.recv(100)


def test_two_logs_interleaved(served: tuple[str, Log, Log, Path]) -> None:
    url, a, b, state_dir = served
    sizes = {a.origin: 0, b.origin: 0}
    errors: list[str] = []
    lock = threading.Lock()

    def client(log: Log) -> None:
        # Each log's own requests go in order; the two logs run at the same time.
        for _ in range(8):
            with lock:
                log.grow(3)
                request = log.request(sizes[log.origin])
            status, _, _ = post(url, encode_add_checkpoint(request))
            if status != 200:
                errors.append(f"{log.origin}: {status}")
            sizes[log.origin] = request_size = int(request.checkpoint.split(b"\n")[1])
            assert request_size

    threads = [threading.Thread(target=client, args=(log,)) for log in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    store = WitnessStateStore(state_dir / STATE_FILE, identity=W1.verifier)
    for log in (a, b):
        stored = store.get(log.origin)
        assert stored is not None and stored.size == 24
        assert stored.root == root_from_reader(24, log.tree)


def test_same_old_size_at_once_exactly_one_wins(served: tuple[str, Log, Log, Path]) -> None:
    url, a, b, state_dir = served
    for log in (a, b):
        log.grow(4)
        assert post(url, encode_add_checkpoint(log.request(0)))[0] == 200
        log.grow(6)
        # Two newer checkpoints, both consistent with size 4, both sent with old size 4.
        bodies = [
            encode_add_checkpoint(AddCheckpointRequest(4, log.proof(4, size), log.note(size)))
            for size in (7, 10)
        ]
        barrier = threading.Barrier(2)
        results: list[tuple[int, str, bytes]] = []

        def send(
            body: bytes,
            barrier: threading.Barrier = barrier,
            results: list[tuple[int, str, bytes]] = results,
        ) -> None:
            barrier.wait()
            results.append(post(url, body))

        threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(r[0] for r in results) == [200, 409], results
        conflict = next(r for r in results if r[0] == 409)
        assert conflict[1] == "text/x.tlog.size"
        stored = WitnessStateStore(state_dir / STATE_FILE, identity=W1.verifier).get(log.origin)
        assert stored is not None and stored.size in (7, 10)
        # The 409 reports the size the winner stored: the check and the update were one step.
        assert decode_size_response(conflict[2]) == stored.size


def test_state_is_pinned_to_the_witness_key(tmp_path: Path) -> None:
    WitnessStateStore(tmp_path / STATE_FILE, identity=W1.verifier)
    other = WitnessKey("w1.example", key("another witness key"))
    with pytest.raises(StorageError):
        WitnessStateStore(tmp_path / STATE_FILE, identity=other.verifier)


# ---------------------------------------------------------------------------------------
# Processes on loopback


def env() -> dict[str, str]:
    result = dict(os.environ)
    result["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src"), str(REPO), result.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    result["NOC_LEDGER_PASSPHRASE"] = PASSPHRASE
    return result


def read_json(proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    """The first JSON object a process prints (possibly over several lines)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    found: list[dict[str, Any]] = []
    text: list[str] = []

    def reader() -> None:
        while True:
            line = stdout.readline()
            if not line:
                return
            text.append(line)
            try:
                value = json.loads("".join(text))
            except json.JSONDecodeError:
                continue
            found.append(value)
            return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        raise AssertionError(f"no JSON from the process ({proc.poll()}): {''.join(text)!r}")
    return found[0]


class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
        proc = subprocess.Popen(
            [sys.executable, *argv], stdout=subprocess.PIPE, text=True, env=env()
        )
        self.procs.append(proc)
        return proc, read_json(proc)

    def stop(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)


@pytest.fixture
def processes() -> Iterator[Processes]:
    p = Processes()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOC_LEDGER_PASSPHRASE", PASSPHRASE)


def init_witness(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    key_file = tmp_path / f"{name}.pem"
    assert main(["witness", "init", "--key", str(key_file), "--name", name, "--json"]) == 0
    vkey = json.loads(capsys.readouterr().out)["vkey"]
    assert decode_verifier_key(vkey).sig_type == SIG_TYPE_COSIGNATURE_V1
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    return key_file, vkey


def serve_argv(state: Path, key_file: Path, name: str, logs: list[str]) -> list[str]:
    argv = ["-m", "noc_ledger", "witness", "serve", "--state", str(state), "--key", str(key_file)]
    argv += ["--name", name, "--json", "--quiet"]
    for log in logs:
        argv += ["--log", log]
    return argv


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connections are refused, and no other
    process can take the port while the test runs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def new_ledger() -> Ledger:
    ledger = Ledger(
        MemoryStore(), origin=ORIGIN, authority=AUTHORITY, log_signer=LOG, clock=lambda: T0
    )
    ledger.record_key_event(delegation(ISSUER), ROOT)
    return ledger


def k_of_n_policy(witnesses: list[Verifier], k: int) -> TrustPolicy:
    return make_policy(
        roots=[RootKey(ROOT.public_key, ROOT_SCOPE)],
        logs=[Verifier.for_key(ORIGIN, LOG.public_key)],
        witnesses=witnesses,
        groups=[Group("quorum-group", k, tuple(w.name for w in witnesses))],
        quorum="quorum-group",
        max_status_age=86_400,
    )


@pytest.mark.usefixtures("passphrase")
def test_end_to_end_quorum_with_a_witness_down_and_one_lying(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], processes: Processes, closed_port: int
) -> None:
    ledger = new_ledger()
    log_vkey = Verifier.for_key(ORIGIN, LOG.public_key)
    log_flag = f"{ORIGIN} {log_vkey.encode()}"
    honest: dict[str, tuple[subprocess.Popen[str], WitnessEndpoint]] = {}
    for name in ("w1.example", "w2.example"):
        key_file, vkey = init_witness(tmp_path, name, capsys)
        proc, ready = processes.start(serve_argv(tmp_path / name, key_file, name, [log_flag]))
        assert ready["vkey"] == vkey
        honest[name] = (proc, WitnessEndpoint(ready["url"], decode_verifier_key(vkey)))
    _, down_vkey = init_witness(tmp_path, "w3.example", capsys)
    down = WitnessEndpoint(f"http://127.0.0.1:{closed_port}", decode_verifier_key(down_vkey))
    liar_key = key("the liar's real key")
    liar_vkey = WitnessKey("w4.example", liar_key).verifier
    _, liar_ready = processes.start(
        [str(REPO / "tests" / "witness_liar.py"), "w4.example", liar_key.seed().hex(), "wrong-key"]
    )
    liar = WitnessEndpoint(liar_ready["url"], liar_vkey)
    endpoints = [honest["w1.example"][1], honest["w2.example"][1], down, liar]
    policy = k_of_n_policy([e.verifier for e in endpoints], 2)

    cert = noc(4242)
    ledger.issue(cert, ISSUER)
    note = ledger.checkpoint()
    result = collect_cosignatures(note, endpoints, ledger, policy, log_key=log_vkey, timeout=5)
    assert result.witnesses == ("w1.example", "w2.example")
    by_name = {o.name: o for o in result.outcomes}
    assert by_name["w1.example"].ok and by_name["w2.example"].ok
    assert not by_name["w3.example"].ok and "unreachable" in by_name["w3.example"].reason
    assert not by_name["w4.example"].ok and "invalid cosignature" in by_name["w4.example"].reason
    assert result.note.startswith(note)

    # The relying party: the bundle with the cosigned checkpoint meets 2-of-4; the bundle as
    # the ledger hands it out (no cosignature) does not.
    bundle = ledger.bundle(cert.id)
    cosigned_bundle = with_checkpoint(bundle, result.note)
    verified = verify_bundle(cosigned_bundle, policy, at=AT)
    assert verified.witnesses == ("w1.example", "w2.example")
    with pytest.raises(QuorumError):
        verify_bundle(bundle, policy, at=AT)
    published = publish(result, tmp_path / "public", ledger=ledger, log_key=log_vkey)
    assert published.read_bytes() == result.note
    source = open_source(str(tmp_path / "public"))
    assert source.read_checkpoint() == result.note
    assert source.read_entries(0, result.size, size=result.size) == ledger.entries(0, result.size)

    # One more witness down: the quorum fails, nothing is published, and a bundle carrying
    # the one cosignature that was made is below quorum.
    processes.stop(honest["w2.example"][0])
    ledger.issue(noc(4243), ISSUER)
    newer = ledger.checkpoint()
    with pytest.raises(QuorumNotMetError) as info:
        collect_cosignatures(
            newer,
            endpoints,
            ledger,
            policy,
            log_key=log_vkey,
            timeout=5,
            known_sizes={"w1.example": result.size},
        )
    assert isinstance(info.value, WitnessError)
    outcomes = {o.name: o for o in info.value.outcomes}
    assert outcomes["w1.example"].ok and not outcomes["w2.example"].ok
    assert "w2.example" in str(info.value) and "w3.example" in str(info.value)
    assert published.read_bytes() == result.note  # unchanged
    line = outcomes["w1.example"].cosignature
    assert line is not None
    one = newer + encode_cosignature_response([line])
    with pytest.raises(QuorumError):
        verify_bundle(with_checkpoint(ledger.bundle(noc(4243).id), one), policy, at=AT)
    with pytest.raises(WitnessError):
        publish("not cosigned", tmp_path / "public")  # type: ignore[arg-type]
    # Without a ledger, the checkpoint file alone, written atomically.
    assert publish(result, tmp_path / "bare").read_bytes() == result.note
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == ["checkpoint"]


@pytest.mark.usefixtures("passphrase")
def test_a_witness_cosigning_another_checkpoint_is_ignored(
    tmp_path: Path, processes: Processes
) -> None:
    ledger = new_ledger()
    log_vkey = Verifier.for_key(ORIGIN, LOG.public_key)
    liar_key = key("liar two")
    _, ready = processes.start(
        [str(REPO / "tests" / "witness_liar.py"), "w5.example", liar_key.seed().hex(), "other"]
    )
    liar = WitnessEndpoint(ready["url"], WitnessKey("w5.example", liar_key).verifier)
    with pytest.raises(QuorumNotMetError) as info:
        collect_cosignatures(ledger.checkpoint(), [liar], ledger, Threshold(1), log_key=log_vkey)
    assert "invalid cosignature" in info.value.outcomes[0].reason


@pytest.mark.usefixtures("passphrase")
def test_state_survives_a_restart_and_409_retry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], processes: Processes
) -> None:
    ledger = new_ledger()
    log_vkey = Verifier.for_key(ORIGIN, LOG.public_key)
    key_file, vkey = init_witness(tmp_path, "w1.example", capsys)
    argv = serve_argv(tmp_path / "state", key_file, "w1.example", [log_vkey.encode()])
    proc, ready = processes.start(argv)
    endpoint = WitnessEndpoint(ready["url"], decode_verifier_key(vkey))
    ledger.issue(noc(1), ISSUER)
    first = collect_cosignatures(
        ledger.checkpoint(), [endpoint], ledger, Threshold(1), log_key=log_vkey
    )
    processes.stop(proc)
    assert proc.returncode == 0  # SIGTERM: a clean stop, the state file closed
    proc, ready = processes.start(argv)
    # The restarted witness remembers the size: a stale old size gets 409 and its size.
    status, content_type, body = post(
        ready["url"], encode_add_checkpoint(AddCheckpointRequest(0, (), ledger.checkpoint()))
    )
    assert (status, content_type, body) == (409, "text/x.tlog.size", f"{first.size}\n".encode())
    # The log side, told nothing, starts from 0, is corrected by the 409 and retries once.
    ledger.issue(noc(2), ISSUER)
    endpoint = WitnessEndpoint(ready["url"], endpoint.verifier)
    second = collect_cosignatures(
        ledger.checkpoint(), [endpoint], ledger, Threshold(1), log_key=log_vkey
    )
    assert second.size == first.size + 1
    assert second.outcomes[0].size == second.size


def test_collect_refuses_a_checkpoint_not_signed_by_the_log() -> None:
    ledger = new_ledger()
    with pytest.raises(Exception) as info:
        collect_cosignatures(
            ledger.checkpoint(),
            [],
            ledger,
            Threshold(1),
            log_key=Verifier.for_key(ORIGIN, key("not the log").public_key),
        )
    assert type(info.value).__name__ == "SignatureError"


def test_with_checkpoint_needs_the_same_checkpoint() -> None:
    ledger = new_ledger()
    cert = noc(7)
    ledger.issue(cert, ISSUER)
    bundle = ledger.bundle(cert.id)
    note = Bundle.from_cbor(bundle).checkpoint
    ledger.issue(noc(8), ISSUER)
    with pytest.raises(DecodeError):
        with_checkpoint(bundle, ledger.checkpoint())
    assert Bundle.from_cbor(with_checkpoint(bundle, note)).checkpoint == note


def test_threshold_and_endpoint_values() -> None:
    with pytest.raises(WitnessError):
        Threshold(0)
    with pytest.raises(WitnessError):
        WitnessEndpoint("file:///etc/passwd", W1.verifier)
    with pytest.raises(WitnessError):
        WitnessEndpoint("http://x", Verifier.for_key("x", W1.signer.public_key))
    assert Threshold(2).quorum_satisfied(["a", "b", "b"])
    assert not Threshold(2).quorum_satisfied(["a", "a"])
    assert isinstance(LogCosigned, type)


# ---------------------------------------------------------------------------------------
# The CLI: a ledger directory, witness processes, a k-of-n policy, `verify`


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("passphrase")
def test_cli_cosign_bundle_trust_and_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], processes: Processes
) -> None:
    from tests.test_cli_admin import INIT, T_VERIFY, noc_toml

    ledger = tmp_path / "ledger"
    assert cli(capsys, "init", ledger, *INIT)[0] == 0
    request = tmp_path / "noc.toml"
    request.write_text(noc_toml(1), encoding="utf-8")
    code, out, err = cli(capsys, "issue", ledger, request, "--json")
    assert code == 0, err
    cert_id = json.loads(out)["id"]
    config = json.loads((ledger / "ledger.json").read_text())
    log_vkey = Verifier.for_key(config["origin"], base64.b64decode(config["log_public_key"]))

    procs, flags, vkeys = [], [], []
    for name in ("w1.example", "w2.example", "w3.example"):
        key_file, vkey = init_witness(tmp_path, name, capsys)
        proc, ready = processes.start(
            serve_argv(tmp_path / name, key_file, name, [log_vkey.encode()])
        )
        procs.append(proc)
        flags += ["--witness", f"{ready['url']}={vkey}"]
        vkeys += ["--witness", vkey]
    policy = tmp_path / "policy.txt"
    code, _, err = cli(capsys, "witness", "trust", ledger, "-o", policy, *vkeys, "--threshold", 2)
    assert code == 0, err
    assert b"group witnesses 2 w1.example w2.example w3.example" in policy.read_bytes()

    public = tmp_path / "public"
    code, out, err = cli(
        capsys, "witness", "cosign", ledger, *flags, "--quorum", 2, "--publish", public, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["cosigned_by"] == ["w1.example", "w2.example", "w3.example"]
    cosigned = (ledger / "checkpoint.cosigned").read_bytes()
    assert (public / "checkpoint").read_bytes() == cosigned == result["note"].encode()
    sizes = json.loads((ledger / "witness-sizes.json").read_text())
    assert sizes == dict.fromkeys(("w1.example", "w2.example", "w3.example"), result["size"])

    cosigned_bundle, plain_bundle = tmp_path / "cosigned.cbor", tmp_path / "plain.cbor"
    assert cli(capsys, "witness", "bundle", ledger, cert_id, "-o", cosigned_bundle)[0] == 0
    assert cli(capsys, "bundle", ledger, cert_id, "-o", plain_bundle)[0] == 0
    code, _, err = cli(capsys, "verify", cosigned_bundle, "--trust", policy, "--at", T_VERIFY)
    assert code == 0, err
    code, out, err = cli(capsys, "verify", plain_bundle, "--trust", policy, "--at", T_VERIFY)
    assert code == 30 and "quorum" in (out + err).lower()

    # Two witnesses down: below quorum, one line, exit 1, nothing new written or published.
    processes.stop(procs[1])
    processes.stop(procs[2])
    request.write_text(noc_toml(2), encoding="utf-8")
    assert cli(capsys, "issue", ledger, request)[0] == 0
    code, out, err = cli(capsys, "witness", "cosign", ledger, *flags, "--quorum", 2)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "quorum not met" in err
    assert (ledger / "checkpoint.cosigned").read_bytes() == cosigned
    assert (public / "checkpoint").read_bytes() == cosigned
    # The policy file as the quorum: the same refusal.
    code, _, err = cli(capsys, "witness", "cosign", ledger, *flags, "--policy", policy)
    assert code == 1 and "quorum not met" in err


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        ["witness", "serve", "--state", tmp_path, "--key", tmp_path / "none.pem", "--name", "w"],
        ["witness", "cosign", tmp_path, "--witness", "nonsense", "--quorum", "1"],
        ["witness", "cosign", tmp_path, "--witness", f"ftp://x={W1.verifier.encode()}"],
        ["witness", "init", "--key", tmp_path / "k.pem", "--name", "bad name"],
        ["witness", "bundle", tmp_path, "00" * 32, "-o", tmp_path / "b"],
    ]
    for argv in cases:
        code, _, err = cli(capsys, *argv)
        assert code == 1, argv
        assert len(err.strip().splitlines()) == 1 and err.startswith("noc-ledger: "), err


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_decoders_raise_only_decode_error(data: bytes) -> None:
    for decoder in (decode_add_checkpoint, decode_cosignature_response, decode_size_response):
        with contextlib.suppress(DecodeError):
            decoder(data)


@settings(max_examples=100, deadline=None)
@given(
    old=st.integers(0, 50),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=6),
    tail=st.binary(max_size=300),
)
def test_decide_never_raises_for_a_bad_request(old: int, proof: list[bytes], tail: bytes) -> None:
    log = Log()
    log.grow(3)
    for note in (tail, log.note()[:40] + tail, log.note() + tail):
        result = run_decide(log, AddCheckpointRequest(old, tuple(proof), note), None)
        if isinstance(result, Cosigned):  # only the genuine note with old 0 and no proof
            assert old == 0 and not proof
            assert result.state.root == root_from_reader(3, log.tree)


def test_two_server_processes_on_one_state_serialise(tmp_path: Path) -> None:
    """Two witness servers sharing one state file (as after a careless restart, or two
    workers): the IMMEDIATE transaction still makes check-and-update atomic."""
    log = Log()
    servers = [
        make_witness_server(
            "127.0.0.1",
            0,
            witness=W1,
            logs={log.origin: [log.verifier]},
            state_dir=tmp_path,
            clock=lambda: T0,
            quiet=True,
        )
        for _ in range(2)
    ]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        log.grow(2)
        assert post(servers[0].url, encode_add_checkpoint(log.request(0)))[0] == 200
        for round_ in range(3):
            base = log.tree.size
            log.grow(5)
            bodies = [
                encode_add_checkpoint(
                    AddCheckpointRequest(base, log.proof(base, size), log.note(size))
                )
                for size in (base + 2, base + 5)
            ]
            barrier = threading.Barrier(2)
            results: list[int] = []

            def send(
                url: str,
                body: bytes,
                barrier: threading.Barrier = barrier,
                results: list[int] = results,
            ) -> None:
                barrier.wait()
                results.append(post(url, body)[0])

            senders = [
                threading.Thread(target=send, args=(s.url, b))
                for s, b in zip(servers, bodies, strict=True)
            ]
            for t in senders:
                t.start()
            for t in senders:
                t.join(30)
            assert sorted(results) == [200, 409], (round_, results)
            # Bring the witness to the log's size for the next round.
            stored = servers[0].store.get(log.origin)
            assert stored is not None
            if stored.size != log.tree.size:
                body = encode_add_checkpoint(log.request(stored.size))
                assert post(servers[1].url, body)[0] == 200
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        for t in threads:
            t.join(10)


class _Misbehaving(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.mode == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:1/add-checkpoint")
            body = b""
        elif self.mode == "huge":
            self.send_response(200)
            body = b"\xe2\x80\x94 x AAAAAAAA\n" * (MAX_RESPONSE_SIZE // 10)
        elif self.mode == "409-garbage":
            self.send_response(409)
            self.send_header("Content-Type", "text/x.tlog.size")
            body = b"01\n"
        else:
            self.send_response(200)
            body = b"not a signature line\n"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("redirect", "HTTP 307"),
        ("huge", "no valid reply: the response is over"),
        ("409-garbage", "malformed size"),
        ("garbage", "malformed response"),
    ],
)
def test_misbehaving_witnesses_count_for_nothing(mode: str, reason: str) -> None:
    handler = type("Handler", (_Misbehaving,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ledger = new_ledger()
        endpoint = WitnessEndpoint(f"http://127.0.0.1:{server.server_address[1]}", W1.verifier)
        with pytest.raises(QuorumNotMetError) as info:
            collect_cosignatures(
                ledger.checkpoint(),
                [endpoint],
                ledger,
                Threshold(1),
                log_key=Verifier.for_key(ORIGIN, LOG.public_key),
                timeout=5,
            )
        assert reason in info.value.outcomes[0].reason
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
