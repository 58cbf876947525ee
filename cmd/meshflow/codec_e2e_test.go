package main

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/temporal/codec"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// TestDialEncryptsPayloads starts a workflow through a client dialled with
// --codec-key-file and reads its history with a plain client: Temporal stores
// only ciphertext, which the same keys decrypt.
func TestDialEncryptsPayloads(t *testing.T) {
	srv, plain := devservertest.Start(t, nil)
	raw := make([]byte, codec.KeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "codec-keys")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MESHFLOW_CODEC_KEY", "")
	conn := connFlags{address: srv.FrontendAddress(), namespace: srv.Namespace(), codecKeyFile: keyFile}
	cl, err := conn.dial(newLogger(&strings.Builder{}, false))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const secret = "li.wei@acme.example failed rule email-is-valid"
	run, err := cl.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: "codec-test", TaskQueue: "nobody-polls"}, "ProductRefresh", secret)
	if err != nil {
		t.Fatal(err)
	}
	it := plain.GetWorkflowHistory(t.Context(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	payloads := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(payloads) != 1 {
		t.Fatalf("first event %v has %d input payloads", ev.GetEventType(), len(payloads))
	}
	p := payloads[0]
	if enc := string(p.Metadata[converter.MetadataEncoding]); enc != codec.Encoding || strings.Contains(string(p.Data), "li.wei") {
		t.Fatalf("Temporal stored the input as %q: %q", enc, p.Data)
	}
	cd, err := codec.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := cd.Decode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &got); err != nil || got != secret {
		t.Errorf("decrypted input %q, %v; want %q", got, err, secret)
	}
	// A bad key file stops the client before it connects.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.dial(newLogger(&strings.Builder{}, false)); err == nil || !strings.Contains(err.Error(), "codec key") {
		t.Errorf("dial with a bad key file: %v", err)
	}
}
