package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/meshcheck"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/codec"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

// connFlags are the flags of every command that talks to Temporal.
type connFlags struct {
	address   string
	namespace string
	tls       bool
	apiKey    string
	// mTLS and server verification; any of them implies TLS.
	tlsCert, tlsKey, tlsCA, tlsServerName string
	// codecKeyFile holds the payload encryption keys (see package codec);
	// without it, $MESHFLOW_CODEC_KEY does.
	codecKeyFile string
	// metrics, when set, receives the Temporal SDK's metrics.
	metrics client.MetricsHandler
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.address, "temporal-address", envOr("MESHFLOW_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port")
	fs.StringVar(&c.namespace, "namespace", envOr("MESHFLOW_NAMESPACE", "default"), "Temporal namespace")
	fs.BoolVar(&c.tls, "tls", os.Getenv("MESHFLOW_TEMPORAL_TLS") == "true", "connect to Temporal over TLS (Temporal Cloud, production clusters)")
	fs.StringVar(&c.apiKey, "api-key", os.Getenv("MESHFLOW_TEMPORAL_API_KEY"), "Temporal API key (implies --tls); default $MESHFLOW_TEMPORAL_API_KEY")
	fs.StringVar(&c.tlsCert, "tls-cert", os.Getenv("MESHFLOW_TEMPORAL_TLS_CERT"), "PEM client certificate for mTLS to Temporal (with --tls-key; implies --tls)")
	fs.StringVar(&c.tlsKey, "tls-key", os.Getenv("MESHFLOW_TEMPORAL_TLS_KEY"), "PEM private key of --tls-cert")
	fs.StringVar(&c.tlsCA, "tls-ca", os.Getenv("MESHFLOW_TEMPORAL_TLS_CA"), "PEM CA bundle that signed Temporal's server certificate (default: the system's roots; implies --tls)")
	fs.StringVar(&c.tlsServerName, "tls-server-name", os.Getenv("MESHFLOW_TEMPORAL_TLS_SERVER_NAME"), "name expected in Temporal's server certificate (default: the host of --temporal-address; implies --tls)")
	fs.StringVar(&c.codecKeyFile, "codec-key-file", os.Getenv("MESHFLOW_CODEC_KEY_FILE"), "file of base64 AES-256 keys that encrypt workflow payloads, primary first, then decrypt-only old keys (default: $MESHFLOW_CODEC_KEY); every worker and client of a namespace needs the same keys")
}

// tlsConfig returns the TLS configuration the flags ask for, nil for plain text.
func (c *connFlags) tlsConfig() (*tls.Config, error) {
	if !c.tls && c.apiKey == "" && c.tlsCert == "" && c.tlsKey == "" && c.tlsCA == "" && c.tlsServerName == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.tlsServerName}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together (the client certificate for mTLS and its key)")
	}
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load Temporal client certificate %s: %w", c.tlsCert, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if c.tlsCA != "" {
		pem, err := os.ReadFile(c.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("read Temporal CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read Temporal CA bundle %s: no PEM certificate in it", c.tlsCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func (c *connFlags) dial(logger *slog.Logger) (client.Client, error) {
	opts := client.Options{HostPort: c.address, Namespace: c.namespace, Logger: sdklog.NewStructuredLogger(logger), MetricsHandler: c.metrics}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	opts.ConnectionOptions.TLS = tlsCfg
	if c.apiKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.apiKey)
	}
	cd, err := codec.Load(c.codecKeyFile, os.Getenv("MESHFLOW_CODEC_KEY"))
	if err != nil {
		return nil, err
	}
	if cd != nil {
		opts.DataConverter = converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), cd)
		// Failure messages and stack traces go into the encrypted attributes too:
		// a rule's failure message can quote the rows it failed on.
		opts.FailureConverter = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: opts.DataConverter, EncodeCommonAttributes: true})
	}
	cl, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (start one with `meshflow dev`, or pass --temporal-address): %w", c.address, err)
	}
	return cl, nil
}

func (c *connFlags) control(logger *slog.Logger) (*control.Client, func(), error) {
	cl, err := c.dial(logger)
	if err != nil {
		return nil, nil, err
	}
	return &control.Client{Temporal: cl, Namespace: c.namespace}, cl.Close, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultMesh is the mesh folder commands use when none is given: the current
// folder when it holds mesh.yaml, else the example mesh of a source checkout.
func defaultMesh() string {
	if v := os.Getenv("MESHFLOW_MESH"); v != "" {
		return v
	}
	if _, err := os.Stat("mesh.yaml"); err == nil {
		return "."
	}
	return filepath.Join("examples", "mesh")
}

// defaultStore is where `meshflow dev` keeps objects, and where other commands
// look when --store is not given.
func defaultStore() string { return envOr("MESHFLOW_STORE", filepath.Join(".meshflow", "objects")) }

// storeFlags select the object store and how inputs on S3 are read.
type storeFlags struct {
	uri string
	s3  storage.S3Config
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.uri, "store", defaultStore(), "object store for staging and published products: a folder, file:///dir or s3://bucket/prefix")
	fs.StringVar(&s.s3.Endpoint, "s3-endpoint", os.Getenv("MESHFLOW_S3_ENDPOINT"), "S3 endpoint for S3-compatible stores")
	fs.StringVar(&s.s3.Region, "s3-region", os.Getenv("MESHFLOW_S3_REGION"), "S3 region")
	fs.BoolVar(&s.s3.PathStyle, "s3-path-style", os.Getenv("MESHFLOW_S3_PATH_STYLE") == "true", "address buckets by path (most S3-compatible servers)")
	fs.StringVar(&s.s3.SSE, "s3-sse", os.Getenv("MESHFLOW_S3_SSE"), "server-side encryption of every object written: aws:kms (SSE-KMS), AES256 (SSE-S3), or empty for the bucket's default")
	fs.StringVar(&s.s3.KMSKeyID, "s3-kms-key-id", os.Getenv("MESHFLOW_S3_KMS_KEY_ID"), "KMS key ID, ARN or alias for --s3-sse aws:kms (default: the AWS-managed key for S3)")
}

func (s *storeFlags) open(ctx context.Context) (storage.Store, error) {
	if !strings.Contains(s.uri, "://") {
		if err := os.MkdirAll(s.uri, 0o755); err != nil {
			return nil, fmt.Errorf("create store folder: %w", err)
		}
	}
	st, err := storage.Open(ctx, s.uri, s.s3)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", s.uri, err)
	}
	return st, nil
}

// inputOpener opens the store of an s3:// input URI with the same S3 settings.
func (s *storeFlags) inputOpener() func(ctx context.Context, uri string) (storage.Store, string, error) {
	return func(ctx context.Context, uri string) (storage.Store, string, error) {
		scheme, bucket, prefix, err := storage.ParseURI(uri)
		if err != nil {
			return nil, "", err
		}
		if scheme != "s3" {
			return nil, "", fmt.Errorf("%s: only s3:// inputs are opened as stores", uri)
		}
		st, err := storage.Open(ctx, "s3://"+bucket, s.s3)
		return st, prefix, err
	}
}

func newActivities(st storage.Store, sf *storeFlags, scratch string, logger *slog.Logger) *activities.Activities {
	a := &activities.Activities{Store: st, Open: sf.inputOpener(), Scratch: scratch, Threads: 2, Logger: logger}
	// The PostgreSQL servers inputs may read, with the worker's credentials:
	// the operator's list, never the spec's.
	for _, h := range strings.Split(os.Getenv("MESHFLOW_POSTGRES_HOSTS"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			a.PostgresHosts = append(a.PostgresHosts, h)
		}
	}
	return a
}

// loadMesh validates the mesh and prints its problems; errors stop the command.
func loadMesh(ctx context.Context, dir string, stderr io.Writer) (*meshcheck.Result, error) {
	res := meshcheck.Check(ctx, dir)
	var problems []diag.Diagnostic
	for _, d := range res.Diagnostics.Items() {
		if d.Severity != diag.Info {
			problems = append(problems, d)
		}
	}
	if err := diag.WriteText(stderr, problems, nil); err != nil {
		return nil, err
	}
	if res.Diagnostics.HasErrors() {
		return nil, errors.New("the mesh has errors; fix them (meshflow validate " + dir + ") and try again")
	}
	return res, nil
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// oneArg returns the single positional argument of a command.
func oneArg(fs *flag.FlagSet, what string) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("give one %s (got %d arguments)", what, fs.NArg())
	}
	return fs.Arg(0), nil
}
