package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/meshflow/meshflow/internal/signing"
)

// runKeys makes meshflow serve's signing key.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys", stderr)
	out := fs.String("out", "", "file to write the private key to (mode 0600; refused if it exists)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: meshflow keys new --out serve.key

Makes the Ed25519 key meshflow serve signs every forwarded action with (refresh
requests, approvals, access decisions). Give the private key file to serve
(--signing-key-file) only; give the public key it prints to meshflow apply
(--signing-public-key), which puts it in the mesh revision that workers trust.`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 1 || fs.Arg(0) != "new" || *out == "" {
		fs.Usage()
		return exitError{2}
	}
	s, err := signing.NewSigner()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the signing key: %w", err)
	}
	if _, err := f.WriteString(s.MarshalPrivate()); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the private key to %s (keep it secret: only meshflow serve reads it)\npublic key (pass to meshflow apply --signing-public-key, or set MESHFLOW_SIGNING_PUBLIC_KEY):\n  %s\n", *out, s.PublicKey())
	return nil
}

// publicKeys parses a comma-separated list of public keys: the current key and,
// while serve's key rotates, the previous one.
func publicKeys(list string) ([]signing.PublicKey, error) {
	var keys []signing.PublicKey
	for part := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, err := signing.ParsePublicKey(part)
		if err != nil {
			return nil, fmt.Errorf("--signing-public-key: %w", err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("--signing-public-key is required: the mesh revision holds the key that proves who approved (make one with meshflow keys new --out serve.key)")
	}
	return keys, nil
}

// loadSigner reads serve's signing key from --signing-key-file.
func loadSigner(file string) (*signing.Signer, error) {
	if file == "" {
		return nil, errors.New("--signing-key-file is required: meshflow serve signs every action it forwards, and workers refuse unsigned ones (make a key with meshflow keys new --out serve.key)")
	}
	return signing.LoadSigner(file)
}
