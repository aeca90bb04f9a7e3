// verify_tlog_proof checks a c2sp.org/tlog-proof@v1 file independently of noc_ledger: it
// parses the text itself, opens the checkpoint with golang.org/x/mod/sumdb/note and checks
// the inclusion proof with golang.org/x/mod/sumdb/tlog (RFC 6962 record proofs).
//
// Usage: verify_tlog_proof VERIFIER_KEY PROOF_FILE ENTRY_FILE
//
// Exit status 0: verified (prints "index I size S origin O"); 1: the proof does not verify;
// 2: usage or I/O error.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func hash(b64 string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return h, err
	}
	if len(raw) != len(h) {
		return h, fmt.Errorf("hash of %d bytes", len(raw))
	}
	copy(h[:], raw)
	return h, nil
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: verify_tlog_proof VERIFIER_KEY PROOF_FILE ENTRY_FILE")
		os.Exit(2)
	}
	verifier, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "verifier:", err)
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "read:", err)
		os.Exit(2)
	}
	entry, err := os.ReadFile(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "read:", err)
		os.Exit(2)
	}

	// The proof lines end at the first empty line; the checkpoint follows verbatim.
	split := bytes.Index(data, []byte("\n\n"))
	if split < 0 {
		fail("parse: no empty line")
	}
	head := strings.Split(string(data[:split]), "\n")
	checkpoint := data[split+2:]
	if head[0] != "c2sp.org/tlog-proof@v1" {
		fail("parse: header %q", head[0])
	}
	i := 1
	if i < len(head) && strings.HasPrefix(head[i], "extra ") {
		i++
	}
	if i >= len(head) || !strings.HasPrefix(head[i], "index ") {
		fail("parse: no index line")
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(head[i], "index "), 10, 64)
	if err != nil || index < 0 {
		fail("parse: index: %v", err)
	}
	var proof tlog.RecordProof
	for _, line := range head[i+1:] {
		h, err := hash(line)
		if err != nil {
			fail("parse: proof hash: %v", err)
		}
		proof = append(proof, h)
	}

	n, err := note.Open(checkpoint, note.VerifierList(verifier))
	if err != nil {
		fail("open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint: origin is not %q", verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint: size: %v", err)
	}
	root, err := hash(lines[2])
	if err != nil {
		fail("checkpoint: root: %v", err)
	}
	if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(entry)); err != nil {
		fail("inclusion: %v", err)
	}
	fmt.Printf("index %d size %d origin %s\n", index, size, lines[0])
	fmt.Fprintf(os.Stderr, "verified by %d, unverified %d\n", len(n.Sigs), len(n.UnverifiedSigs))
}
