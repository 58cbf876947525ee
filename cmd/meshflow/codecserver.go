package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/meshflow/meshflow/internal/temporal/codec"
)

// runCodecServer serves the payload codec for the Temporal UI's remote codec
// endpoint, so people with the keys see decrypted inputs, results and failures.
func runCodecServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("codec-server", stderr)
	listen := fs.String("listen", envOr("MESHFLOW_CODEC_LISTEN", "127.0.0.1:8234"), "address to listen on (keep it on loopback beside the browser, or put an authenticating TLS proxy in front)")
	keyFile := fs.String("key-file", os.Getenv("MESHFLOW_CODEC_KEY_FILE"), "file of base64 AES-256 keys, primary first (default: $MESHFLOW_CODEC_KEY)")
	hosts := fs.String("allowed-host", os.Getenv("MESHFLOW_CODEC_ALLOWED_HOST"), "comma-separated extra names (name or name:port) the Host header may give, beyond the listen address and localhost/127.0.0.1 with its port; others get 421 (DNS rebinding)")
	origins := fs.String("cors-origin", envOr("MESHFLOW_CODEC_CORS_ORIGIN", "http://localhost:8233"), "comma-separated origins of the Temporal UI allowed to call it from a browser")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow codec-server [flags]\n\nServes POST /decode and /encode with meshflow's payload keys for the Temporal UI: set its\n\"Codec Server\" endpoint (or TEMPORAL_CODEC_ENDPOINT of the UI server) to this address.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("meshflow codec-server takes no arguments (got %s)", strings.Join(fs.Args(), " "))
	}
	cd, err := codec.Load(*keyFile, os.Getenv("MESHFLOW_CODEC_KEY"))
	if err != nil {
		return err
	}
	if cd == nil {
		return errors.New("no codec key: pass --key-file or set MESHFLOW_CODEC_KEY")
	}
	var allowed []string
	for o := range strings.SplitSeq(*origins, ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			allowed = append(allowed, o)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s for the codec server: %w", *listen, err)
	}
	fmt.Fprintf(stdout, "meshflow codec-server on http://%s (primary key %s; UI origins %s). Ctrl-C stops it.\n", ln.Addr(), cd.PrimaryKeyID(), strings.Join(allowed, ", "))
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil && !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(stderr, "meshflow codec-server: listening beyond this machine: anyone who reaches it can decrypt payloads; put an authenticating TLS proxy in front")
	}
	return serveAPI(ctx, ln, codec.HandlerWithHosts(cd, allowed, strings.Split(*hosts, ",")))
}
