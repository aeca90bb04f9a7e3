"""A lying witness for tests/test_witness.py: answers every add-checkpoint with 200 and a
cosignature line that must not be accepted.

Usage: python tests/witness_liar.py NAME SEED_HEX MODE
  MODE wrong-key: the line carries NAME and the key ID of the real witness key (from
                  SEED_HEX) but is signed by another key.
  MODE other-checkpoint: signed by the real key, over a checkpoint with another root.
Prints {"url": ...} on one line once listening on an ephemeral loopback port.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from noc_ledger import signing
from noc_ledger.checkpoint import cosignature_message
from noc_ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    NoteSignature,
    decode_note,
    encode_signature_line,
    note_key_id,
)
from noc_ledger.witness import decode_add_checkpoint

NAME, SEED, MODE = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3]
REAL = signing.Ed25519Signer(SEED)
OTHER = signing.Ed25519Signer(hashlib.sha256(b"liar: other key").digest())
TIME = 1_767_225_700


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = decode_add_checkpoint(self.rfile.read(min(length, 2 << 20)))
        text = decode_note(request.checkpoint).text
        if MODE == "wrong-key":
            signer, message = OTHER, cosignature_message(text, TIME)
        else:
            lines = text.split("\n")
            lines[2] = base64.b64encode(hashlib.sha256(b"another tree").digest()).decode()
            signer, message = REAL, cosignature_message("\n".join(lines), TIME)
        key_id = note_key_id(NAME, REAL.public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)
        line = NoteSignature(NAME, key_id, TIME.to_bytes(8, "big") + signer.sign(message))
        body = encode_signature_line(line).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
