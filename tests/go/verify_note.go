// verify_note opens a signed note with golang.org/x/mod/sumdb/note, the reference
// signed-note implementation, and prints the verified text.
//
// Usage: verify_note VERIFIER_KEY NOTE_FILE
package main

import (
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	verifier, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "verifier:", err)
		os.Exit(2)
	}
	msg, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "read:", err)
		os.Exit(2)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	fmt.Print(n.Text)
	fmt.Fprintf(os.Stderr, "verified by %d, unverified %d\n", len(n.Sigs), len(n.UnverifiedSigs))
}
